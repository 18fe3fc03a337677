"""Validate parsed tables against their expectation suites and quarantine the rows that fail.

The suites are data (`rules/expectations/`); how they are executed is behind `SuiteRunner`, so
the execution path can change without changing a suite. The default runner compiles each suite to
SQL and runs it in DuckDB (`checks.runner_sql`); Great Expectations on pandas
(`checks.runner_gx`) stays selectable for cross-checking. Whatever the runner, every row read ends
up either accepted or in the quarantine with a reason: rows read = rows accepted + rows
quarantined, per table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from checks.contract import TABLES
from checks.database import EngineSettings
from checks.errors import ConfigError
from checks.parse import PROBLEM_SCHEMA
from checks.reader import ORIGIN, ROW
from checks.suites import load_suite

FAILURE_SCHEMA = {"expectation": pl.Int64, ROW: pl.Int64}
"""What a runner returns: one row per (expectation index in the suite, failing row number)."""

RUNNERS = ("sql", "great-expectations")
DEFAULT_RUNNER = "sql"


class SuiteRunner(Protocol):
    """Executes one suite on one table and returns every (expectation, failing row) pair.

    Parameters hold scalars (instants) and list-valued parameters as Polars Series.
    """

    name: str

    def run(
        self, table: str, frame: pl.DataFrame, suite: dict[str, Any], parameters: dict[str, Any]
    ) -> pl.DataFrame: ...


def suite_columns(suite: dict[str, Any]) -> list[str]:
    """The columns a suite's expectations read, in a stable order."""
    return sorted(
        {
            v
            for e in suite["expectations"]
            for k, v in e["kwargs"].items()
            if k in ("column", "column_A", "column_B")
        }
    )


def make_runner(name: str = DEFAULT_RUNNER, settings: EngineSettings | None = None) -> SuiteRunner:
    """The named runner; GX (and pandas) are imported only when asked for."""
    if name == "sql":
        from checks.runner_sql import DuckDBSuiteRunner

        return DuckDBSuiteRunner(settings)
    if name == "great-expectations":
        return _gx_runner()
    raise ConfigError(f"unknown validator {name!r}; known: {', '.join(RUNNERS)}")


_GX_RUNNER: Any = None


def _gx_runner() -> SuiteRunner:
    """One GX context per process: creating it costs seconds, reusing it costs nothing."""
    global _GX_RUNNER
    if _GX_RUNNER is None:
        from checks.runner_gx import GxPandasRunner

        _GX_RUNNER = GxPandasRunner()
    return _GX_RUNNER  # type: ignore[no-any-return]


@dataclass
class TableCounts:
    read: int
    accepted: int
    quarantined: int
    by_check: dict[str, int] = field(default_factory=dict)


@dataclass
class ValidationResult:
    accepted: dict[str, pl.DataFrame]
    """Rule inputs: per table, only the rows that passed, typed, ROW kept."""
    quarantine: pl.DataFrame
    """One row per failed check per row: table, row_number, origin, record_id, check, column, reason."""
    counts: dict[str, TableCounts]
    runner: str


def _derive(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    if table == "crime_links":
        return frame.with_columns(
            pl.concat_str([pl.col("source_type"), pl.col("source_id")], separator=":").alias("source_ref")
        )
    return frame


def _column_of(expectation: dict[str, Any]) -> str:
    kwargs = expectation["kwargs"]
    return str(kwargs.get("column") or kwargs.get("column_A") or "")


def validate(
    typed: dict[str, pl.DataFrame],
    parse_problems: dict[str, pl.DataFrame],
    file_names: dict[str, str],
    parameters: dict[str, Any],
    runner: SuiteRunner,
) -> ValidationResult:
    """Run each table's suite; quarantine failing rows; return accepted tables and counts."""
    empty = pl.Series("value", [], dtype=pl.String)
    crime_ids = typed["crimes"]["crime_id"].drop_nulls().unique() if "crimes" in typed else empty
    refs = [empty]
    for source_table, source_type in (("referrals", "referral"), ("incidents", "incident")):
        if source_table in typed:
            id_col = TABLES[source_table].id_column
            ids = typed[source_table].select(pl.col(id_col).drop_nulls().unique())
            refs.append(ids.select(pl.lit(f"{source_type}:") + pl.col(id_col)).to_series())
    params = {**parameters, "crime_ids": crime_ids, "source_refs": pl.concat(refs).alias("value")}

    accepted: dict[str, pl.DataFrame] = {}
    counts: dict[str, TableCounts] = {}
    quarantine_parts = []
    for name, frame in typed.items():
        contract = TABLES[name]
        suite = load_suite(name)
        derived = _derive(name, frame)
        failures = (
            runner.run(name, derived, suite, params) if frame.height else pl.DataFrame(schema=FAILURE_SCHEMA)
        )
        id_col = contract.id_column or "crime_id"
        parsed = parse_problems.get(name, pl.DataFrame(schema=PROBLEM_SCHEMA))
        problems = [parsed]
        origin = pl.col(ORIGIN) if ORIGIN in frame.columns else pl.lit(file_names.get(name, name))
        for index, rows in failures.sort("expectation", ROW).group_by("expectation", maintain_order=True):
            exp = suite["expectations"][int(index[0])]  # type: ignore[call-overload]
            hit = frame.join(rows.select(ROW), on=ROW, how="semi")
            if exp["meta"].get("keep_first"):
                column = exp["kwargs"]["column"]
                first = hit.group_by(column).agg(pl.col(ROW).min().alias("_first"))
                hit = hit.join(first, on=column).filter(pl.col(ROW) != pl.col("_first")).drop("_first")
            column = _column_of(exp)
            if exp["meta"]["check"] == "required_value":
                # A value that did not parse is already quarantined with the sharper reason.
                unparsed = parsed.filter(pl.col("column") == column).select(pl.col("row_number").alias(ROW))
                hit = hit.join(unparsed, on=ROW, how="anti")
            problems.append(
                hit.select(
                    pl.lit(name).alias("table"),
                    pl.col(ROW).alias("row_number"),
                    origin.alias("origin"),
                    pl.col(id_col).cast(pl.String).alias("record_id"),
                    pl.lit(exp["meta"]["check"]).alias("check"),
                    pl.lit(column).alias("column"),
                    pl.lit(exp["meta"]["reason"]).alias("reason"),
                ).cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
            )
        table_problems = pl.concat(problems).unique(maintain_order=True)
        bad_rows = table_problems.select(pl.col("row_number").alias(ROW)).unique()
        # nothing quarantined (the usual night): the parsed frame is the rule input, not a copy
        accepted[name] = frame.join(bad_rows, on=ROW, how="anti") if bad_rows.height else frame
        by_check = dict(table_problems.group_by("check").agg(pl.col("row_number").n_unique()).iter_rows())
        counts[name] = TableCounts(
            read=frame.height,
            accepted=accepted[name].height,
            quarantined=bad_rows.height,
            by_check={k: int(v) for k, v in sorted(by_check.items())},
        )
        assert counts[name].read == counts[name].accepted + counts[name].quarantined
        quarantine_parts.append(table_problems)
    quarantine = (
        pl.concat(quarantine_parts).sort(["table", "row_number", "check", "column", "origin"], maintain_order=True)
        if quarantine_parts
        else pl.DataFrame(schema=PROBLEM_SCHEMA)
    )
    return ValidationResult(accepted, quarantine, counts, runner.name)
