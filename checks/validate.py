"""Validate parsed tables against their expectation suites and quarantine the rows that fail.

The suites are data (`rules/expectations/`); how they are executed is behind `SuiteRunner`, so
the execution path can change (for scale) without changing a suite. The default runner is
Great Expectations on pandas. Whatever the runner, every row read ends up either accepted or in
the quarantine with a reason: rows read = rows accepted + rows quarantined, per table.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import polars as pl

from checks.contract import TABLES
from checks.parse import PROBLEM_SCHEMA
from checks.reader import ORIGIN, ROW
from checks.suites import load_suite


@dataclass(frozen=True)
class ExpectationFailure:
    """One expectation that failed on some rows (identified by their ROW numbers)."""

    index: int
    """Position of the expectation in its suite."""
    rows: list[int]


class SuiteRunner(Protocol):
    """Executes one suite on one table and returns, per failed expectation, the failing rows."""

    name: str

    def run(
        self, table: str, frame: pl.DataFrame, suite: dict[str, Any], parameters: dict[str, Any]
    ) -> list[ExpectationFailure]: ...


class GxPandasRunner:
    """Runs a suite with Great Expectations' pandas execution engine.

    Facts this relies on (GX 1.x): result_format COMPLETE returns every unexpected index, not a
    capped sample; most column expectations skip nulls, so required values have their own
    not-null expectations; a failure inside GX shows as `exception_info`, not an exception, so we
    turn it into one.
    """

    name = "great_expectations"

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        import great_expectations as gx  # imported here: it costs seconds and hundreds of MB
        from great_expectations.core.expectation_suite import ExpectationSuite
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.expectations.expectation_configuration import (
            ExpectationConfiguration,
        )

        self._suite_cls = ExpectationSuite
        self._config_cls = ExpectationConfiguration
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._calls = 0

    def run(
        self, table: str, frame: pl.DataFrame, suite: dict[str, Any], parameters: dict[str, Any]
    ) -> list[ExpectationFailure]:
        import pandas as pd

        expectations = suite["expectations"]
        columns = sorted(
            {
                v
                for e in expectations
                for k, v in e["kwargs"].items()
                if k in ("column", "column_A", "column_B")
            }
        )
        # dates go to GX as UTC midnights so they compare with the as-of parameters like for like
        selected = frame.select([ROW, *columns])
        selected = selected.with_columns(
            [pl.col(c).cast(pl.Datetime("us", "UTC")) for c, t in selected.schema.items() if t == pl.Date]
        )
        pdf = selected.to_pandas().set_index(ROW)
        gx_suite = self._suite_cls(
            name=suite["name"],
            # GX may return results in another order: each carries its suite position in meta
            expectations=[
                self._config_cls(type=e["type"], kwargs=e["kwargs"], meta={"index": i})
                for i, e in enumerate(expectations)
            ],
        )
        params = {k: (pd.Timestamp(v) if isinstance(v, datetime) else v) for k, v in parameters.items()}
        # A fresh datasource per call: GX keys loaded batches and metrics by batch id, and a
        # reused batch definition would answer a later table with an earlier table's results.
        self._calls += 1
        source_name = f"recordcheck-{table}-{self._calls}"
        source = self._context.data_sources.add_pandas(source_name)
        try:
            definition = source.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
            batch = definition.get_batch(batch_parameters={"dataframe": pdf})
            # GX's own deprecation warnings must not become errors inside its metrics (where they
            # would be swallowed into an empty result) whatever the caller's warning filters are.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", UserWarning)
                result = batch.validate(
                    gx_suite, expectation_parameters=params, result_format={"result_format": "COMPLETE"}
                )
        finally:
            self._context.data_sources.delete(source_name)
        failures = []
        for res in result.results:
            i = int(res.expectation_config.meta["index"])
            problem = _gx_exception(res.exception_info or {})
            if problem:
                raise RuntimeError(
                    f"validation of {table} could not run {expectations[i]['type']} ({problem})"
                )
            if not res.success:
                rows = res.result.get("unexpected_index_list") or []
                # with a named index GX reports {index_name: value}; otherwise the bare value
                failures.append(
                    ExpectationFailure(i, [int(r[ROW]) if isinstance(r, dict) else int(r) for r in rows])
                )
        return failures


_DEFAULT_RUNNER: GxPandasRunner | None = None


def default_runner() -> GxPandasRunner:
    """One GX context per process: creating it costs seconds, reusing it costs nothing."""
    global _DEFAULT_RUNNER
    if _DEFAULT_RUNNER is None:
        _DEFAULT_RUNNER = GxPandasRunner()
    return _DEFAULT_RUNNER


def _gx_exception(info: dict[str, Any]) -> str | None:
    """GX reports a failed metric as success=false plus exception_info, flat or keyed by metric."""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or value.get("exception_traceback")):
            trace = str(value.get("exception_message") or value.get("exception_traceback") or "")
            return trace.strip().splitlines()[-1] if trace.strip() else "unknown error"
    return None


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
    crime_ids = typed["crimes"]["crime_id"].drop_nulls().unique().to_list() if "crimes" in typed else []
    source_refs: list[str] = []
    for source_table, source_type in (("referrals", "referral"), ("incidents", "incident")):
        if source_table in typed:
            id_col = TABLES[source_table].id_column
            ids = typed[source_table].select(pl.col(id_col).drop_nulls().unique())
            source_refs += ids.select(pl.lit(f"{source_type}:") + pl.col(id_col)).to_series().to_list()
    params = {**parameters, "crime_ids": crime_ids, "source_refs": source_refs}

    accepted: dict[str, pl.DataFrame] = {}
    counts: dict[str, TableCounts] = {}
    quarantine_parts = []
    for name, frame in typed.items():
        contract = TABLES[name]
        suite = load_suite(name)
        derived = _derive(name, frame)
        failures = runner.run(name, derived, suite, params) if frame.height else []
        id_col = contract.id_column or "crime_id"
        parsed = parse_problems.get(name, pl.DataFrame(schema=PROBLEM_SCHEMA))
        problems = [parsed]
        origin = pl.col(ORIGIN) if ORIGIN in frame.columns else pl.lit(file_names.get(name, name))
        for failure in failures:
            exp = suite["expectations"][failure.index]
            rows = pl.DataFrame({ROW: failure.rows}, schema={ROW: pl.Int64})
            hit = frame.join(rows, on=ROW, how="semi")
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
        accepted[name] = frame.join(bad_rows, on=ROW, how="anti")
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
        pl.concat(quarantine_parts).sort(["table", "row_number", "check"])
        if quarantine_parts
        else pl.DataFrame(schema=PROBLEM_SCHEMA)
    )
    return ValidationResult(accepted, quarantine, counts, runner.name)
