"""The SQL suite runner against Great Expectations, and one answer whatever the path.

The suites are one declaration executed two ways; these tests hold the SQL translation to GX's
semantics row for row, and hold a whole run to the same outputs from CSV or Parquet, with either
runner, on 1 or 2 threads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.base.database import EngineSettings
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.engine.rules import load_pack
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.nightly.run import execute_run
from recordcheck.checks.validation.pipeline import load_extract
from recordcheck.checks.validation.runners import make_runner
from recordcheck.checks.validation.suite_sql import SUPPORTED_TYPES, compile_suite, failing_rows_predicate, render, transpile
from recordcheck.checks.validation.suites import load_suite
from tests.conftest import AS_OF, pack_of_only
from tests.corruption import corrupt_extract, corrupt_more

ALL_CHECKS = {
    "required_value",
    "duplicate_id",
    "unknown_value",
    "unknown_offence_code",
    "out_of_range",
    "after_as_of",
    "implausible_date",
    "order",
    "unresolved_crime",
    "unresolved_source",
}


@pytest.fixture(scope="module")
def corrupted(small_extract, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corrupted") / "extract"
    corrupt_extract(small_extract, folder)
    corrupt_more(folder)
    return folder


@pytest.fixture(scope="module")
def corrupted_parquet(corrupted, tmp_path_factory) -> Path:
    """The same bad extract as Parquet (all-text columns, so the bad values survive as they are)."""
    folder = tmp_path_factory.mktemp("corrupted-pq")
    for path in corrupted.glob("*.csv"):
        if path.name != "key.csv":
            pl.read_csv(path, infer_schema=False).write_parquet(folder / f"{path.stem}.parquet")
    return folder


def _quarantine(folder: Path, reference, runner: str) -> pl.DataFrame:
    return load_extract(folder, load_profile(), reference, AS_OF, make_runner(runner)).validation.quarantine


def test_every_expectation_type_in_the_suites_has_a_sql_translation():
    used = {
        e["type"]
        for t in ("referrals", "incidents", "crimes", "crime_links", "victim_contacts")
        for e in load_suite(t)["expectations"]
    }
    assert used <= set(SUPPORTED_TYPES), used - set(SUPPORTED_TYPES)


@pytest.mark.slow
def test_sql_and_great_expectations_quarantine_the_same_rows(corrupted, reference):
    sql = _quarantine(corrupted, reference, "sql")
    gx = _quarantine(corrupted, reference, "great-expectations")
    # the extract exercises every kind of check the suites make
    assert set(sql["check"]) >= ALL_CHECKS, ALL_CHECKS - set(sql["check"])
    assert sql.height > 20
    assert sql.to_dicts() == gx.to_dicts()


def test_a_row_failing_two_checks_is_quarantined_once_with_both_reasons(corrupted, reference):
    quarantine = _quarantine(corrupted, reference, "sql")
    row = quarantine.filter((pl.col("table") == "referrals") & (pl.col("row_number") == 8))
    assert sorted(row["check"]) == ["required_value", "unknown_value"]
    assert sorted(row["column"]) == ["district", "referrer_type"]


def _outputs(run_dir: Path) -> dict[str, object]:
    """A run's results without what legitimately differs: run id, timings, and the input file's
    suffix where a quarantined row names its file."""
    summary = json.loads((run_dir / "summary.json").read_text())
    summary.pop("run_id")
    for rule in summary["rules"]:
        rule.pop("seconds")
    register = pl.read_csv(run_dir / "exceptions.csv", infer_schema=False).drop("run_id")
    return {
        "register": [{k: _csv_named(v) for k, v in row.items()} for row in register.to_dicts()],
        "summary": summary,
        "quarantine": _csv_named((run_dir / "quarantine.csv").read_text()),
        "measures": json.loads((run_dir / "measures.json").read_text()),
    }


def _csv_named(text: str | None) -> str | None:
    return None if text is None else text.replace(".parquet", ".csv")


def _run(
    folder: Path,
    out: Path,
    pack,
    reference,
    validator: str = "sql",
    threads: int | None = None,
    memory_limit: str | None = None,
) -> dict[str, object]:
    config = RunConfig(engine=EngineSettings(threads=threads, memory_limit=memory_limit))
    outcome = execute_run(folder, out, load_profile(), reference, config, AS_OF, pack, validator=validator)
    return _outputs(outcome.run_dir)


RUNNER_RULES = ("DQ001", "DQ002", "DQ003", "DQ004", "REC001", "TIM001", "VIC001", "CAN001", "NAR001")
"""The pack the whole-run comparisons run: the data-quality rules, and one rule over each kind of
record and the narratives. What differs between the runs is how the extract is read and checked,
not the rules; the whole pack made each of the seven runs three times dearer."""


@pytest.fixture(scope="module")
def runner_pack(tmp_path_factory):
    return load_pack(pack_of_only(tmp_path_factory.mktemp("runner-pack") / "rules", RUNNER_RULES))


@pytest.mark.slow  # seven whole runs, one through Great Expectations
def test_same_answers_from_csv_or_parquet_with_either_runner_on_one_or_two_threads(
    corrupted, corrupted_parquet, tmp_path, runner_pack, reference, monkeypatch
):
    pack = runner_pack
    base = _run(corrupted, tmp_path / "a", pack, reference, threads=2)
    assert base["summary"]["findings"]["data_quality"] > 20  # type: ignore[index]
    assert _run(corrupted, tmp_path / "b", pack, reference, threads=1) == base
    assert _run(corrupted_parquet, tmp_path / "c", pack, reference, threads=2) == base
    assert _run(corrupted, tmp_path / "d", pack, reference, validator="great-expectations") == base
    # a memory limit far below the data's size: DuckDB spills, the answers do not change
    assert _run(corrupted, tmp_path / "e", pack, reference, threads=1, memory_limit="40MB") == base
    # small batches: rows split across batches (duplicates, links, clock changes) come out the same
    monkeypatch.setattr("recordcheck.checks.extract.reader.BATCH_ROWS", 97)
    assert _run(corrupted, tmp_path / "f", pack, reference) == base
    assert _run(corrupted_parquet, tmp_path / "g", pack, reference) == base


def test_compiled_sql_is_exact_and_quotes_identifiers():
    expectation = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "victim_count", "min_value": 1}}
    assert render(failing_rows_predicate(expectation, "incidents", {})) == (
        'NOT "victim_count" IS NULL AND NOT "victim_count" >= 1'
    )
    hostile = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": 'x" OR 1=1 --'}}
    assert render(failing_rows_predicate(hostile, "t", {})) == '"x"" OR 1=1 --" IS NULL'
    as_of = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "reported_at", "max_value": {"$PARAMETER": "as_of"}},
    }
    sql = render(failing_rows_predicate(as_of, "crimes", {"as_of": datetime(2026, 4, 1, tzinfo=UTC)}))
    assert sql == 'NOT "reported_at" IS NULL AND NOT "reported_at" <= CAST(\'2026-04-01T00:00:00+00:00\' AS TIMESTAMPTZ)'


def test_compiled_suite_transpiles_for_spark():
    params = {"as_of": AS_OF, "as_of_date": AS_OF, "offence_codes": None, "crime_ids": None, "source_refs": None}
    spark = transpile(render(compile_suite(load_suite("crime_links"), "crime_links", params)))
    assert "`crime_id` IS NULL" in spark and "param_source_refs" in spark


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        ({"type": "expect_column_values_to_match_regex", "kwargs": {"column": "a"}}, "has no SQL translation"),
        (
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a", "mostly": 0.9}},
            "does not support mostly",
        ),
        (
            {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "a", "value_set": {"$PARAMETER": "nope"}}},
            "'nope' was not supplied",
        ),
        ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "a"}}, "give min_value, max_value or both"),
    ],
)
def test_unsupported_or_incomplete_expectations_are_refused_by_name(expectation, message):
    with pytest.raises(ConfigError, match=message):
        failing_rows_predicate(expectation, "t", {})
