"""Mutation testing of the statistics helpers (`make mutate`; not part of `make test`).

Usage: python -m tests.mutation MODULE_FILE::PYTEST_TARGET [...]

Each mutant changes one thing in the module's code: a comparison flipped or loosened, `+` for
`-` and `*` for `/`, `and` for `or`, a `not` dropped, a number moved by one, `max` for `min`.
The module is rewritten in place for the mutant, the target tests run, and the original is put
back whatever happens. A mutant that makes a test fail is killed; one that passes every test
survived, and is printed with its line. The rule pack's own SQL is mutated by `recordcheck
rules mutate`, against each rule's cases.
"""

from __future__ import annotations

import ast
import copy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

FLIPS: dict[type, list[type]] = {
    ast.Lt: [ast.LtE, ast.Gt],
    ast.LtE: [ast.Lt, ast.Gt],
    ast.Gt: [ast.GtE, ast.Lt],
    ast.GtE: [ast.Gt, ast.Lt],
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Add: [ast.Sub],
    ast.Sub: [ast.Add],
    ast.Mult: [ast.Div],
    ast.Div: [ast.Mult],
    ast.And: [ast.Or],
    ast.Or: [ast.And],
}
SWAPPED_CALLS = {"max": "min", "min": "max"}
EXPLAINED = {
    "checks/base/stats.py": {
        "line 44: 1000 -> 999": "equivalent: a rate below 1 with 999 tenths of a percent is set to 999, which it is already",
    },
    "checks/national/funnel.py": {
        "line 51: 1 -> 2": "the loop returns by r = n: the distribution function reaches every q < 1 there",
        "line 54: GtE -> Gt": (
            "equivalent: where F(r) equals q exactly, r - 0 and (r + 1) - P(X = r + 1) / P(X = r + 1) are the same limit"
        ),
        "line 56: 1.0 -> 2.0": "unreachable: the loop returns by r = n (q < 1)",
        "line 56: 1.0 -> 0.0": "unreachable: the loop returns by r = n (q < 1)",
        "line 89: Lt -> LtE": "a count whose tail probability equals 0.001 or 0.025 to the last bit does not occur",
        "line 91: Lt -> LtE": "a count whose tail probability equals 0.001 or 0.025 to the last bit does not occur",
    },
}
"""Surviving mutants that cannot change a result, with the reason (equivalent mutants)."""


def mutants(tree: ast.Module) -> Iterator[tuple[str, ast.Module]]:
    """(description with line, mutated tree) for every single change, docstrings left alone."""
    nodes = list(ast.walk(tree))
    docstrings = {
        id(node.body[0].value)
        for node in nodes
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for index, node in enumerate(nodes):
        line = getattr(node, "lineno", "?")
        edits: list[tuple[str, object]] = []
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                edits += [(f"{type(op).__name__} -> {new.__name__}", ("ops", i, new())) for new in FLIPS.get(type(op), [])]
        elif isinstance(node, ast.BinOp | ast.BoolOp):
            edits += [
                (f"{type(node.op).__name__} -> {new.__name__}", ("op", None, new())) for new in FLIPS.get(type(node.op), [])
            ]
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            edits.append(("not dropped", ("unwrap", None, None)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
            if id(node) not in docstrings:
                edits += [(f"{node.value} -> {node.value + d}", ("value", None, node.value + d)) for d in (1, -1)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in SWAPPED_CALLS:
            edits.append((f"{node.func.id} -> {SWAPPED_CALLS[node.func.id]}", ("call", None, SWAPPED_CALLS[node.func.id])))
        for description, (kind, position, value) in edits:
            mutated = copy.deepcopy(tree)
            target = list(ast.walk(mutated))[index]
            if kind == "ops":
                target.ops[position] = value  # type: ignore[attr-defined]
            elif kind == "op":
                target.op = value  # type: ignore[attr-defined]
            elif kind == "value":
                target.value = value  # type: ignore[attr-defined]
            elif kind == "call":
                target.func.id = value  # type: ignore[attr-defined]
            elif kind == "unwrap":
                parent = next(p for p in ast.walk(mutated) for c in ast.iter_child_nodes(p) if c is target)
                for field, old in ast.iter_fields(parent):
                    if old is target:
                        setattr(parent, field, target.operand)  # type: ignore[attr-defined]
                    elif isinstance(old, list):
                        setattr(parent, field, [target.operand if c is target else c for c in old])  # type: ignore[attr-defined]
            yield f"line {line}: {description}", ast.fix_missing_locations(mutated)


def run(module: Path, target: str) -> tuple[int, list[str]]:
    """Killed count and the survivors' descriptions for one module against one pytest target."""
    original = module.read_text()
    tree = ast.parse(original)
    killed, survived = 0, []
    try:
        for description, mutated in mutants(tree):
            module.write_text(ast.unparse(mutated) + "\n")
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-p", "no:xdist", *target.split()],
                capture_output=True,
            )
            if result.returncode == 0:
                survived.append(description)
            else:
                killed += 1
    finally:
        module.write_text(original)
    return killed, survived


def main(argv: list[str]) -> int:
    unexplained = 0
    for spec in argv:
        module, target = spec.split("::", 1)
        killed, survived = run(Path(module), target)
        total = killed + len(survived)
        print(f"{module}: {killed} of {total} mutants killed ({killed / total:.0%})" if total else f"{module}: no mutants")
        for description in survived:
            why = EXPLAINED.get(module, {}).get(description)
            print(f"  survived  {description}" + (f" (explained: {why})" if why else ""))
            unexplained += why is None
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
