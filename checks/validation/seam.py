"""The validation seam: what a suite runner is given and what it returns.

Runners (`runner_sql`, `runner_gx`, `checks.spark.validation`) implement `SuiteRunner` over a
`CheckedTable` and return `FAILURE_SCHEMA` frames; `validate` quarantines from those frames. Both
sides import this module and never each other, so the runners and their callers form no circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import duckdb
import polars as pl

from recordcheck.checks.extract.reader import ROW
from recordcheck.checks.validation.suite_sql import param_table

FAILURE_SCHEMA = {"expectation": pl.Int64, ROW: pl.Int64}
"""What a runner returns: one row per (expectation index in the suite, failing row number)."""


def parsed_table(name: str) -> str:
    return f"parsed_{name}"


def accepted_table(name: str) -> str:
    return f"acc_{name}"


@dataclass(frozen=True)
class ListParameter:
    """A list-valued suite parameter, held in the database as `param_<name>(value)`."""

    name: str

    def values(self, con: duckdb.DuckDBPyConnection) -> list[Any]:
        return [row[0] for row in con.execute(f'SELECT value FROM "{param_table(self.name)}"').fetchall()]


@dataclass(frozen=True)
class CheckedTable:
    """The relation a suite runs over: a parsed table (with derived columns) in the run's database."""

    con: duckdb.DuckDBPyConnection
    relation: str

    def frame(self, columns: list[str]) -> pl.DataFrame:
        """The row numbers and these columns as a Polars frame, in row order (for in-memory runners)."""
        selected = ", ".join(f'"{c}"' for c in [ROW, *columns])
        frame = pl.from_arrow(self.con.sql(f'SELECT {selected} FROM "{self.relation}" ORDER BY "{ROW}"').to_arrow_table())
        assert isinstance(frame, pl.DataFrame)
        return frame


class SuiteRunner(Protocol):
    """Executes one suite on one table and returns every (expectation, failing row) pair.

    Parameters hold scalars (instants) and `ListParameter`s, whose values are in the database.
    """

    name: str

    def run(self, table: str, source: CheckedTable, suite: dict[str, Any], parameters: dict[str, Any]) -> pl.DataFrame: ...


def suite_columns(suite: dict[str, Any]) -> list[str]:
    """The columns a suite's expectations read, in a stable order."""
    return sorted(
        {v for e in suite["expectations"] for k, v in e["kwargs"].items() if k in ("column", "column_A", "column_B")}
    )
