"""Mutation testing of the rule pack: do a rule's own cases pin down its SQL?

Each mutant changes one thing in a rule's `population` or `breaches` SQL: a comparison flipped
or loosened (`>` to `>=`, `=` to `<>`), `AND` for `OR`, a `NOT` dropped, `IS NULL` for `IS NOT
NULL`, a number moved by one, a boolean literal flipped, one item dropped from an `IN` list. The
rule's own cases then run against the mutant. A mutant that makes a case fail is killed; one that
passes every case survived, and shows a behaviour no case states. A mutant the SQL engine
refuses is counted apart (it says nothing about the cases).

The SQL is parsed and written back with SQLGlot in DuckDB's dialect, so a mutant is a syntax
tree edit, never a text substitution; the unmutated round trip must pass every case first.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from recordcheck.checks.base.refdata import ReferenceData
from recordcheck.checks.base.yamlfile import load_yaml
from recordcheck.checks.engine.rules import Rule, RulePack
from recordcheck.checks.rulechange.ruletest import run_case

DIALECT = "duckdb"

_FLIPS: dict[type[exp.Expression], list[type[exp.Expression]]] = {
    exp.GT: [exp.GTE, exp.LT],
    exp.GTE: [exp.GT, exp.LT],
    exp.LT: [exp.LTE, exp.GT],
    exp.LTE: [exp.LT, exp.GT],
    exp.EQ: [exp.NEQ],
    exp.NEQ: [exp.EQ],
    exp.And: [exp.Or],
    exp.Or: [exp.And],
}


@dataclass(frozen=True)
class Mutant:
    rule_id: str
    part: str
    """`population` or `breaches`."""
    description: str
    sql: str


@dataclass(frozen=True)
class MutantOutcome:
    mutant: Mutant
    status: str
    """`killed` (a case failed), `survived` (every case passed) or `invalid` (the SQL could not run)."""


def _label(node: exp.Expression) -> str:
    text = node.sql(dialect=DIALECT)
    return text if len(text) <= 70 else text[:67] + "..."


def _unwrapped(node: exp.Expression) -> exp.Expression:
    return node.this.copy()  # type: ignore[no-any-return]


def _negated(node: exp.Expression) -> exp.Expression:
    return exp.Not(this=node.copy())


def _flipped_boolean(node: exp.Expression) -> exp.Expression:
    return exp.Boolean(this=not node.this)


def _edits(node: Any) -> Iterator[tuple[str, Callable[[], exp.Expression]]]:
    """The single-step changes to one node: (what changes, a function building the new node)."""
    for target in _FLIPS.get(type(node), []):

        def flipped(node: exp.Expression = node, target: type[exp.Expression] = target) -> exp.Expression:
            # operands keep their grouping: `a OR b` inside `(a OR b) OR c` becomes `(a OR b) AND c`
            def grouped(side: exp.Expression) -> exp.Expression:
                return exp.Paren(this=side.copy()) if isinstance(side, exp.Connector) else side.copy()

            return target(this=grouped(node.this), expression=grouped(node.expression))

        yield f"{type(node).__name__} -> {target.__name__} in {_label(node)}", flipped
    if isinstance(node, exp.Not):
        yield f"NOT dropped in {_label(node)}", functools.partial(_unwrapped, node)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        yield f"IS NULL -> IS NOT NULL in {_label(node)}", functools.partial(_negated, node)
    if isinstance(node, exp.Literal) and not node.is_string:
        value = float(node.this)
        for moved in (value + 1, value - 1):
            text = str(int(moved)) if moved.is_integer() else str(moved)
            yield f"{node.this} -> {text}", functools.partial(exp.Literal.number, text)
    if isinstance(node, exp.Boolean):
        yield f"{_label(node)} -> {not node.this}", functools.partial(_flipped_boolean, node)
    if isinstance(node, exp.In) and len(node.expressions) > 1:
        for i, item in enumerate(node.expressions):

            def dropped(node: exp.Expression = node, i: int = i) -> exp.Expression:
                copy = node.copy()
                copy.set("expressions", [e for j, e in enumerate(copy.expressions) if j != i])
                return copy

            yield f"{_label(item)} dropped from {_label(node)}", dropped


def mutants_of(sql: str, rule_id: str, part: str) -> list[Mutant]:
    """Every single-step mutant of one query, each as DuckDB SQL."""
    tree = sqlglot.parse_one(sql, read=DIALECT)
    nodes = list(tree.walk())
    found: list[Mutant] = []
    for index, node in enumerate(nodes):
        for description, build in _edits(node):
            copy = tree.copy()
            target = list(copy.walk())[index]
            replacement = build()
            if target is copy:
                copy = replacement
            else:
                target.replace(replacement)
            found.append(Mutant(rule_id, part, description, copy.sql(dialect=DIALECT)))
    return found


def round_trip(rule: Rule) -> Rule:
    """The rule with its SQL parsed and written back unchanged (what every mutant starts from)."""
    return dataclasses.replace(
        rule,
        population=sqlglot.parse_one(rule.population, read=DIALECT).sql(dialect=DIALECT),
        breaches=sqlglot.parse_one(rule.breaches, read=DIALECT).sql(dialect=DIALECT),
    )


def _cases_pass(pack: RulePack, reference: ReferenceData, rule: Rule) -> tuple[bool, bool]:
    """(every case passed, no case failed by its verdict and some could not run at all). The
    first case that fails by its verdict kills the mutant: the rest are not run."""
    broken = False
    for case in rule.cases:
        outcome = run_case(pack, reference, rule, case)
        if not outcome.passed and not outcome.error:
            return False, False
        broken = broken or outcome.error
    return not broken, broken


def mutate_rule(pack: RulePack, reference: ReferenceData, rule: Rule, workers: int = 1) -> list[MutantOutcome]:
    """Run the rule's cases against each of its mutants, `workers` mutants side by side (each
    case in a database of its own), the outcomes in the mutants' order. Raises if the unmutated
    SQL, written back by SQLGlot, already fails a case (the mutants would then prove nothing)."""
    base = round_trip(rule)
    passed, _ = _cases_pass(pack, reference, base)
    if not passed:
        raise ValueError(f"{rule.id}: its cases fail on its own SQL written back by SQLGlot; fix that first")
    mutants = [mutant for part in ("population", "breaches") for mutant in mutants_of(getattr(base, part), rule.id, part)]

    def judged(mutant: Mutant) -> MutantOutcome:
        mutated = (
            dataclasses.replace(base, population=mutant.sql)
            if mutant.part == "population"
            else dataclasses.replace(base, breaches=mutant.sql)
        )
        passed, broken = _cases_pass(pack, reference, mutated)
        return MutantOutcome(mutant, "survived" if passed else "invalid" if broken else "killed")

    if workers <= 1:
        return [judged(mutant) for mutant in mutants]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(judged, mutants))


@dataclass(frozen=True)
class RuleScore:
    rule_id: str
    killed: int
    survived: list[Mutant]
    invalid: int

    @property
    def valid(self) -> int:
        return self.killed + len(self.survived)

    @property
    def kill_rate(self) -> float | None:
        return self.killed / self.valid if self.valid else None


def score(rule_id: str, outcomes: list[MutantOutcome]) -> RuleScore:
    return RuleScore(
        rule_id,
        killed=sum(o.status == "killed" for o in outcomes),
        survived=[o.mutant for o in outcomes if o.status == "survived"],
        invalid=sum(o.status == "invalid" for o in outcomes),
    )


MUTANTS_FILE = "mutants.yaml"


def explained_survivors(pack_dir: Path) -> dict[str, dict[str, str]]:
    """rule id -> {"part: mutant description": why it survives}, from the pack's mutants.yaml:
    a surviving mutant is either killed by a new case or explained there (an equivalent change,
    or a behaviour the rule deliberately leaves open)."""
    path = pack_dir / MUTANTS_FILE
    if not path.exists():
        return {}
    data = load_yaml(path) or {}
    return {str(rule): {str(k): str(v) for k, v in (items or {}).items()} for rule, items in data.items()}
