"""Shared fixtures: the pack, reference data and small generated extracts (made once a session)."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.base.refdata import ReferenceData, load_reference
from recordcheck.checks.base.resources import RULES_ENV
from recordcheck.checks.engine.engine import EngineResult, run_pack
from recordcheck.checks.engine.headline import headline_figures
from recordcheck.checks.engine.rules import RuleCase, RulePack, load_pack
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.generate import generate, write_extract
from recordcheck.checks.generate.force_shape import write_force_export
from recordcheck.checks.nightly.run import execute_run
from recordcheck.checks.rulechange.ruletest import case_tables
from recordcheck.reports.render import render_run

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
AS_OF_TEXT = "2026-04-01T00:00:00Z"

FROZEN = ROOT / "tests" / "frozen"
TEST_PACK = FROZEN / "rules"
"""The engine's tests run on this frozen copy of the pack, never on the shipped rules/: a force
that edits rules/ in place (a wider window, its own codes) changes what its pack finds, and only
the pack's own cases, mutants, documents and snapshot (tests/test_shipped_pack.py) should notice.
`make frozen-pack` refreshes it when the project changes what its engine tests expect."""
TEST_REFERENCE = TEST_PACK / "reference"
TEST_SNAPSHOT = FROZEN / "expected"
"""The sample's findings under the frozen pack (the shipped snapshot when the copy was made)."""
os.environ[RULES_ENV] = str(TEST_PACK)  # every command a test invokes reads the frozen pack by default

_duckdb_connect = duckdb.connect


def _one_thread(*args: Any, config: dict[str, Any] | None = None, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """A DuckDB opened in a test runs on one thread unless the test asks for more: the suite's two
    workers share two cores, and a pool of two threads in each cost 8% more CPU for nothing on
    tables of a few thousand rows (604 against 560 CPU-seconds). The tests that hold a run's
    answers equal on one thread and two set their threads themselves."""
    return _duckdb_connect(*args, config={"threads": 1, **(config or {})}, **kwargs)


duckdb.connect = _one_thread


FILE_SECONDS = FROZEN.parent / "file_seconds.json"
"""Each test file's seconds in the last measured `make test` (`python -m tests.file_seconds`
rewrites it from a run's JUnit XML): the order files start in, never a pass or a fail."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fail-on-skip",
        action="store_true",
        help="a skipped test fails the run (make test-spark: a Spark test skipped for want of Java tested nothing)",
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With --fail-on-skip, a run that skipped anything ends TESTS_FAILED, never green: the Spark
    tests run in CI as their own target, and all of them skipping would otherwise pass it."""
    if not session.config.getoption("--fail-on-skip") or exitstatus != pytest.ExitCode.OK:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped:
        reporter.write("\n")
        reporter.write_line(f"--fail-on-skip: {skipped} test(s) or file(s) skipped (the summary below says why)", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest test files first, so both workers of `make test` (whole files each, started in
    this order: --no-loadscope-reorder) finish together. Ordered by test count, as xdist does by
    default, a long file of few tests starts last and runs alone at the end (the Spark file, seven
    tests and two minutes, did so for the final 77 s of a 376 s suite when make test held it). A
    file not yet measured counts 3 s a slow test."""
    measured: dict[str, float] = json.loads(FILE_SECONDS.read_text(encoding="utf-8"))
    guessed: dict[str, float] = {}
    for item in items:
        guessed[item.path.name] = guessed.get(item.path.name, 0.0) + 3.0 * (item.get_closest_marker("slow") is not None)
    items.sort(key=lambda item: -measured.get(item.path.name, guessed[item.path.name]))


def pack_of_only(folder: Path, rules: tuple[str, ...]) -> Path:
    """A copy of the test pack in `folder` with only these rules (its reference data, macros,
    views and measures whole): a force's small pack, or a test's that is about the path around
    the rules, not the rules."""
    shutil.copytree(TEST_PACK, folder, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    for rule_file in folder.glob("*/[A-Z]*[0-9].yaml"):
        if rule_file.stem not in rules:
            rule_file.unlink()
    return folder


AROUND_RULES = ("REC001", "CAN001", "CNT001", "TIM001", "VIC001", "REC006")
"""The small pack for files that test what is around the rules (the command line, the nights and
their store, decisions): six rules that find on the sample (REC001 and CAN001 high, TIM001
medium), REC006 listing due items. A night of them costs a quarter of the whole pack's."""


def reading_pack(tmp_path_factory: pytest.TempPathFactory, rules: tuple[str, ...] = AROUND_RULES) -> Iterator[Path]:
    """For a module fixture: every run in the module (in process or a child) reads a copy of the
    test pack with only these rules, where the module tests what is around the rules."""
    folder = pack_of_only(tmp_path_factory.mktemp("small-pack") / "rules", rules)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(RULES_ENV, str(folder))
        yield folder


@pytest.fixture
def whole_pack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole test pack again, in a module that runs a small one, for a test that states the
    sample's figures (75 findings, the recording rate) or a generated night's answer key."""
    monkeypatch.setenv(RULES_ENV, str(TEST_PACK))


@pytest.fixture(scope="session")
def pack():
    return load_pack(TEST_PACK)


@pytest.fixture(scope="session")
def reference():
    return load_reference(TEST_REFERENCE)


@pytest.fixture(scope="session")
def small_generated():
    """The generated data (scale 0.02, seed 11) behind small_extract and force_export."""
    return generate(seed=11, scale=0.02, as_of=AS_OF)


@pytest.fixture(scope="session")
def small_extract(tmp_path_factory, small_generated) -> Path:
    """A generated extract (scale 0.02, seed 11) in CSV, with key.csv beside the tables."""
    out = tmp_path_factory.mktemp("extract")
    write_extract(small_generated, out)
    return out


@pytest.fixture(scope="session")
def force_export(tmp_path_factory, small_generated) -> Path:
    """The same data as a force's systems export it, with its profile.yaml (generate --shape force)."""
    out = tmp_path_factory.mktemp("force")
    write_force_export(small_generated, out)
    return out


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory, pack, reference) -> Path:
    """One full run of the bundled sample (validate, rules, report), shared by the tests that only read its outputs."""
    return run_with_report(ROOT / "sample_data" / "extract", tmp_path_factory.mktemp("run"), pack, reference)


def run_sample_cli(out: Path, *extra: str) -> Any:
    """`recordcheck run` through the command line on the bundled sample at its as-of: the click result."""
    from click.testing import CliRunner

    from recordcheck.cli import cli

    return CliRunner().invoke(
        cli, ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", AS_OF_TEXT, *extra]
    )


def run_with_report(extract: Path, out: Path, pack, reference, config: RunConfig | None = None) -> Path:
    """A full run (validate, rules, report) of an extract; returns the run folder."""
    config = config or RunConfig()
    outcome = execute_run(
        extract,
        out,
        load_profile(),
        reference,
        config,
        AS_OF,
        pack,
        render=lambda run_dir, _m, _released=None: render_run(run_dir, config.report),
    )
    return outcome.run_dir


@pytest.fixture(scope="module")
def spark():
    """A quiet local[2] Spark session for one test file (the files marked `spark` skip first where
    pyspark or Java is missing), with the rule cases' small-data settings for every session of it
    (a suite's own session too): the tests' tables are a few hundred rows."""
    from recordcheck.checks.spark.engine import CASE_SETTINGS
    from recordcheck.checks.spark.session import spark_session

    # the JVM lives for this file and runs each small query once: the client compiler alone (as
    # the cluster test's JVMs use) spends less CPU compiling what it will not run again
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=128m")
        session = spark_session("local[2]", extra=CASE_SETTINGS)
    yield session
    session.stop()


def night_of(
    pack: RulePack, reference: ReferenceData, given: dict[str, list[dict[str, object]]], name: str = "night"
) -> tuple[EngineResult, dict[str, Any]]:
    """The pack run on hand-built tables (a rule case's shape, its defaults filled in), and the
    headline figures a run would compute from it: (engine result, headline)."""
    result = run_pack(pack, reference, AS_OF, case_tables(RuleCase(name, given, (), ()), pack.case_defaults), "t")
    rules = [
        {"status": r.status, "finding": r.rule.finding, "population": r.population, "breaches": r.breaches}
        for r in result.results
    ]
    return result, headline_figures(rules, result.register, result.measures)


def make_unreadable(monkeypatch: pytest.MonkeyPatch, blocked: Path) -> None:
    """Make one file fail to open as a permission error would (as root, permissions stop nothing)."""
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == blocked:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
