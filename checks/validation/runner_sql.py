"""The default suite runner: each suite compiled to one SQL query and run in DuckDB.

The parsed table is already in the run's database, and so are the list-valued parameters
(`param_<name>` tables); the suite becomes one query over them and only the failures come back,
as one small frame. It gives the same rows as the Great Expectations runner (a parity test holds
them to it) at plain-SQL speed.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import polars as pl

from recordcheck.checks.validation.seam import FAILURE_SCHEMA, CheckedTable
from recordcheck.checks.validation.suite_sql import compile_suite, render


@functools.lru_cache(maxsize=64)
def _suite_sql(suite: str, relation: str, parameters: tuple[tuple[str, Any], ...]) -> str:
    """A suite's query, built once per suite, table and parameters in a process (building it with
    SQLGlot costs a sixth of a small run, and every night asks for the same five)."""
    return render(compile_suite(json.loads(suite), relation, dict(parameters)))


class DuckDBSuiteRunner:
    """Runs suites as SQL in the run's DuckDB database (instants compared in UTC)."""

    name = "duckdb_sql"

    def run(self, table: str, source: CheckedTable, suite: dict[str, Any], parameters: dict[str, Any]) -> pl.DataFrame:
        sql = _suite_sql(json.dumps(suite, sort_keys=True), source.relation, tuple(sorted(parameters.items())))
        failures = pl.from_arrow(source.con.sql(sql).to_arrow_table())
        assert isinstance(failures, pl.DataFrame)
        return failures.cast(FAILURE_SCHEMA)  # type: ignore[arg-type]
