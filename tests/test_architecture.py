"""Layering from ARCHITECTURE.md: checks never imports cli or reports; reports never reads extracts;
the suites kept in the repo are the ones the contract generates."""

from __future__ import annotations

import ast
from pathlib import Path

from recordcheck.checks.contract import TABLES
from recordcheck.checks.suites import build_suite, load_suite

ROOT = Path(__file__).resolve().parent.parent


def _imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


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
    assert {n for n in _imports_of(ROOT / "cli.py") if n.startswith("recordcheck")} == {"recordcheck.commands"}
    for path, names in _imports(ROOT / "commands").items():
        assert "recordcheck.cli" not in names, f"{path} imports cli.py (the wiring depends on the commands, not back)"


def test_reports_reads_results_not_extracts():
    forbidden = {
        "recordcheck.checks.reader",
        "recordcheck.checks.parse",
        "recordcheck.checks.pipeline",
        "recordcheck.checks.validate",
        "recordcheck.checks.engine",
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
    for name, table in TABLES.items():
        assert load_suite(name) == build_suite(table), (
            f"rules/expectations/{name}.json is stale: run recordcheck suites --write"
        )
