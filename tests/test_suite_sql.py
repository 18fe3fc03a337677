"""The SQL helpers: each expectation kind compiles to the exact predicate, a suite to one UNION ALL
query, and that query transpiles to Spark; an unknown kind is refused by name (as SQLMesh's
tests assert exact SQL and exact messages)."""

from __future__ import annotations

import pytest

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.validation.suite_sql import compile_suite, failing_rows_predicate, render, transpile
from tests.conftest import TEST_PACK


def _exp(kind: str, **kwargs):
    return {"type": kind, "kwargs": kwargs, "meta": {}}


@pytest.mark.parametrize(
    ("expectation", "sql"),
    [
        (_exp("expect_column_values_to_not_be_null", column="crime_id"), '"crime_id" IS NULL'),
        (
            _exp("expect_column_values_to_be_in_set", column="status", value_set=["recorded", "cancelled"]),
            """NOT "status" IS NULL AND NOT "status" IN ('recorded', 'cancelled')""",
        ),
        (
            _exp("expect_column_values_to_be_between", column="victim_count", min_value=1, max_value=1000),
            'NOT "victim_count" IS NULL AND NOT ("victim_count" >= 1 AND "victim_count" <= 1000)',
        ),
        (
            _exp("expect_column_values_to_be_unique", column="crime_id"),
            '"crime_id" IN (SELECT "crime_id" FROM "t" WHERE NOT "crime_id" IS NULL GROUP BY "crime_id" HAVING COUNT(*) > 1)',
        ),
        (
            _exp("expect_column_values_to_be_in_set", column="name", value_set=["O'Brien"]),
            """NOT "name" IS NULL AND NOT "name" IN ('O''Brien')""",
        ),
    ],
)
def test_each_kind_compiles_to_its_exact_predicate(expectation, sql):
    assert failing_rows_predicate(expectation, "t", {}).sql("duckdb") == sql


def test_a_suite_is_one_query_that_transpiles_to_spark():
    suite = {
        "name": "s",
        "expectations": [
            _exp("expect_column_values_to_be_in_set", column="status", value_set=["recorded"]),
            _exp("expect_column_values_to_not_be_null", column="crime_id"),
        ],
    }
    duckdb_sql = render(compile_suite(suite, "parsed_crimes", {}))
    assert duckdb_sql == (
        'SELECT 0 AS expectation, "__row" FROM "parsed_crimes" WHERE NOT "status" IS NULL AND NOT "status" IN '
        """('recorded') UNION ALL SELECT 1 AS expectation, "__row" FROM "parsed_crimes" WHERE "crime_id" IS NULL"""
    )
    assert transpile(duckdb_sql) == (
        "SELECT 0 AS expectation, `__row` FROM `parsed_crimes` WHERE NOT `status` IS NULL AND NOT `status` IN "
        "('recorded') UNION ALL SELECT 1 AS expectation, `__row` FROM `parsed_crimes` WHERE `crime_id` IS NULL"
    )


def test_an_unknown_kind_or_an_empty_suite_is_refused_by_name():
    with pytest.raises(
        ConfigError, match=r"^expectation type 'expect_table_row_count_to_equal' has no SQL translation \(supported: "
    ):
        failing_rows_predicate(_exp("expect_table_row_count_to_equal", value=3), "t", {})
    with pytest.raises(ConfigError, match=r"suite 'empty' has no expectations"):
        compile_suite({"name": "empty", "expectations": []}, "t", {})


def test_a_hostile_suite_is_refused_before_any_sql_is_built(tmp_path):
    """A suite's column name carrying SQL ended in a DuckDB binder error and exit 5; now the suite
    is refused by file and expectation, exit 2, before a query is built."""
    import json
    import shutil

    from click.testing import CliRunner

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT, ROOT

    rules = tmp_path / "rules"
    shutil.copytree(TEST_PACK, rules)
    suite = rules / "expectations" / "crimes.json"
    document = json.loads(suite.read_text())
    document["expectations"][0]["kwargs"]["column"] = 'crime_id" IS NULL OR 1=1 --'
    suite.write_text(json.dumps(document))
    result = CliRunner().invoke(
        cli,
        ["validate", str(ROOT / "sample_data" / "extract"), "--rules", str(rules), "--as-of", AS_OF_TEXT]
        + ["--quarantine", str(tmp_path / "q.csv")],
    )
    assert result.exit_code == ExitCode.USAGE_ERROR, result.output
    assert "crimes.json: expectation 1 (expect_column_values_to_not_be_null) names 1 column(s)" in result.output
    assert "1=1" not in result.output
    suite.write_text("{not json")
    result = CliRunner().invoke(
        cli,
        ["validate", str(ROOT / "sample_data" / "extract"), "--rules", str(rules), "--as-of", AS_OF_TEXT]
        + ["--quarantine", str(tmp_path / "q.csv")],
    )
    assert result.exit_code == ExitCode.USAGE_ERROR and "not a readable suite" in result.output
