"""Layering from ARCHITECTURE.md: checks never imports cli or reports; reports never reads extracts;
inside checks, each stage imports only the stages before it; no module imports itself back
through others; the suites kept in the repo are the ones the contract generates."""

from __future__ import annotations

import ast
from pathlib import Path

from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.validation.suites import build_suite, load_suite

ROOT = Path(__file__).resolve().parent.parent


def _imports_of(path: Path) -> set[str]:
    """Every module name imported anywhere in the file (inside functions too: a lazy import is
    still a dependency). `from pkg import module` counts as importing `pkg.module`."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["recordcheck", *parts])


def _package_graph() -> dict[str, set[str]]:
    """recordcheck module -> the recordcheck modules it imports (names that are not modules, such
    as functions imported from a module, are dropped)."""
    paths = [p for folder in ("checks", "commands", "reports") for p in (ROOT / folder).rglob("*.py")]
    paths += [ROOT / "cli.py", ROOT / "spark_submit.py"]
    modules = {_module_name(p): p for p in paths}
    return {name: {n for n in _imports_of(path) if n in modules and n != name} for name, path in modules.items()}


STAGES = {
    # stage sub-package of checks: the stages it may import (ARCHITECTURE.md, "Layers")
    "base": set(),
    "extract": {"base"},
    "validation": {"base", "extract"},
    "narrative": {"base", "extract"},
    "engine": {"base", "extract", "validation", "narrative"},
    "generate": {"base", "extract"},
    "rulechange": {"base", "extract", "validation", "engine", "narrative"},
    "audit": {"base", "extract", "validation"},
    "nightly": {"base", "extract", "validation", "engine", "audit"},
    "spark": {"base", "extract", "validation", "engine", "narrative"},
    "adoption": {"base", "extract", "validation", "engine", "nightly"},
    "national": {"base", "extract", "validation", "engine", "nightly", "spark", "narrative"},
}


def _imports(folder: Path) -> dict[Path, set[str]]:
    return {path: _imports_of(path) for path in folder.rglob("*.py")}


def _command_line(name: str) -> bool:
    return name == "recordcheck.cli" or name.startswith("recordcheck.commands")


def test_checks_does_not_import_the_command_line_or_reports():
    for path, names in _imports(ROOT / "checks").items():
        bad = {n for n in names if _command_line(n) or n.startswith("recordcheck.reports")}
        assert not bad, f"{path} imports {bad}"


def test_cli_only_wires_the_commands():
    """cli.py holds the group and nothing else: each command lives in a `commands` module."""
    source = (ROOT / "cli.py").read_text()
    assert "@click.command" not in source and ".command(" not in source
    assert {n.split(".")[1] for n in _imports_of(ROOT / "cli.py") if n.startswith("recordcheck.")} == {"commands"}
    for path, names in _imports(ROOT / "commands").items():
        assert "recordcheck.cli" not in names, f"{path} imports cli.py (the wiring depends on the commands, not back)"


def test_reports_reads_results_not_extracts():
    forbidden = {
        "recordcheck.checks.extract.reader",
        "recordcheck.checks.extract.parse",
        "recordcheck.checks.validation.pipeline",
        "recordcheck.checks.validation.validate",
        "recordcheck.checks.engine.engine",
        "recordcheck.cli",
    }
    for path, names in _imports(ROOT / "reports").items():
        assert not (names & forbidden), f"{path} imports {names & forbidden}"
        assert not {n for n in names if _command_line(n)}, f"{path} imports the command line"


def test_everything_imports_through_the_one_namespace():
    """Installed, the code lives only under `recordcheck`; a bare `import checks` would work in the
    source tree and fail (or import someone else's `checks`) once installed."""
    bare = {"checks", "commands", "reports", "cli", "rules"}
    for folder in ("checks", "commands", "reports", "tests", "benchmarks"):
        for path, names in _imports(ROOT / folder).items():
            assert not {n for n in names if n.split(".")[0] in bare}, f"{path} imports {names}"
    cli_imports = _imports_of(ROOT / "cli.py")
    assert not {n for n in cli_imports if n.split(".")[0] in bare}


def test_committed_suites_match_the_contract():
    """The suites are the contract's, not the pack's policy: the frozen test pack's copy must follow
    it too (`make frozen-pack` copies them)."""
    from tests.conftest import TEST_PACK

    for name, table in TABLES.items():
        assert load_suite(name) == build_suite(table), (
            f"rules/expectations/{name}.json is stale: run recordcheck suites --write"
        )
        assert load_suite(name, TEST_PACK / "expectations") == build_suite(table), (
            f"tests/frozen/rules/expectations/{name}.json is stale: run make frozen-pack"
        )


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "checks" else None


def test_every_checks_module_sits_in_a_stage():
    """checks/ holds stage folders only (and its __init__ with the version)."""
    loose = [p.name for p in (ROOT / "checks").glob("*.py") if p.name != "__init__.py"]
    assert not loose, f"modules directly under checks/: {loose}; put each in its stage"
    folders = {p.name for p in (ROOT / "checks").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(STAGES), f"stages in checks/ {sorted(folders)} differ from STAGES {sorted(STAGES)}"
    for folder in folders:
        doc = ast.get_docstring(ast.parse((ROOT / "checks" / folder / "__init__.py").read_text())) or ""
        assert "May import" in doc, f"checks/{folder}/__init__.py must say its job and what it may import"


def test_stages_import_only_earlier_stages():
    for module, imported in _package_graph().items():
        stage = _stage(module)
        if stage is None:
            continue
        for other in imported:
            target = _stage(other)
            if target is None or target == stage:
                continue
            assert target in STAGES[stage], (
                f"{module} ({stage}) imports {other} ({target}); {stage} may import {sorted(STAGES[stage])}"
            )


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of modules round it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_circles():
    graph = _package_graph()
    # a package's __init__ importing its own modules is not a dependency of those modules on it
    assert (found := _cycle(graph)) is None, "import circle: " + " -> ".join(found or [])


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_generated_docs_are_current():
    """The README's synopsis and docs/rules.md's table equal what the code generates (make docs)."""
    from tests.docgen import generated

    for path, text in generated(ROOT).items():
        assert path.exists() and path.read_text(encoding="utf-8") == text, f"{path.name} is stale: run make docs"
