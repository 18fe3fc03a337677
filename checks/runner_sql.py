"""The default suite runner: each suite compiled to one SQL query and run in DuckDB.

The parsed table goes into DuckDB through Arrow (no copy, no Python objects per row), list-valued
parameters go in the same way as `param_<name>` tables, and the failures come back as one small
frame. It gives the same rows as the Great Expectations runner (a parity test holds them to it)
at plain-SQL speed.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from checks.database import EngineSettings, connect
from checks.reader import ROW
from checks.suite_sql import compile_suite, param_table, render
from checks.validate import FAILURE_SCHEMA, suite_columns


class DuckDBSuiteRunner:
    """Runs suites as SQL in an in-memory DuckDB connection (instants compared in UTC)."""

    name = "duckdb_sql"

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = settings

    def run(self, table: str, frame: pl.DataFrame, suite: dict[str, Any], parameters: dict[str, Any]) -> pl.DataFrame:
        lists = {
            k: v if isinstance(v, pl.Series) else pl.Series("value", sorted(v), dtype=pl.String)
            for k, v in parameters.items()
            if isinstance(v, pl.Series | list | tuple | set | frozenset)
        }
        scalars = {k: v for k, v in parameters.items() if k not in lists}
        sql = render(compile_suite(suite, table, {**scalars, **{k: None for k in lists}}))
        with connect(self.settings) as con:
            con.register(table, frame.select([ROW, *suite_columns(suite)]).to_arrow())
            for name, values in lists.items():
                con.register(param_table(name), pl.DataFrame({"value": values.drop_nulls()}).to_arrow())
            failures = pl.from_arrow(con.sql(sql).to_arrow_table())
        assert isinstance(failures, pl.DataFrame)
        return failures.cast(FAILURE_SCHEMA)  # type: ignore[arg-type]
