"""Layering from ARCHITECTURE.md: checks never imports cli or reports; reports never reads extracts;
the suites kept in the repo are the ones the contract generates."""

from __future__ import annotations

import ast
from pathlib import Path

from checks.contract import TABLES
from checks.suites import build_suite, load_suite

ROOT = Path(__file__).resolve().parent.parent


def _imports(folder: Path) -> dict[Path, set[str]]:
    found = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
        found[path] = names
    return found


def test_checks_does_not_import_cli_or_reports():
    for path, names in _imports(ROOT / "checks").items():
        bad = {n for n in names if n == "cli" or n.split(".")[0] == "reports"}
        assert not bad, f"{path} imports {bad}"


def test_reports_reads_results_not_extracts():
    forbidden = {
        "checks.reader",
        "checks.parse",
        "checks.pipeline",
        "checks.validate",
        "checks.engine",
        "cli",
    }
    for path, names in _imports(ROOT / "reports").items():
        assert not (names & forbidden), f"{path} imports {names & forbidden}"


def test_committed_suites_match_the_contract():
    for name, table in TABLES.items():
        assert load_suite(name) == build_suite(table), (
            f"rules/expectations/{name}.json is stale: run recordcheck suites --write"
        )
