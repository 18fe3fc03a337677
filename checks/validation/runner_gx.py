"""The Great Expectations suite runner (pandas execution engine), kept for cross-checking.

Selected with `--validator great-expectations`. GX and pandas are imported only when this runner
is built: they cost seconds and hundreds of MB, and the default SQL runner needs neither.

Facts this relies on (GX 1.x): result_format COMPLETE returns every unexpected index, not a
capped sample; most column expectations skip nulls, so required values have their own not-null
expectations; a failure inside GX shows as `exception_info`, not an exception, so we turn it
into one.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import polars as pl

from recordcheck.checks.extract.reader import ROW
from recordcheck.checks.validation.seam import FAILURE_SCHEMA, CheckedTable, ListParameter, suite_columns


@contextmanager
def _without_spark_connect() -> Iterator[None]:
    """Import GX with Spark Connect out of reach. GX probes pyspark's Connect module when pyspark
    is installed (the `spark` extra), and that module exits the process (sys.exit(0), "Skipping
    doctests") under an interpreter whose __main__ has no file, such as a pytest-xdist worker.
    GX runs on pandas here and never needs it; its probe treats the ImportError as "absent"."""
    name = "pyspark.sql.connect"
    if name in sys.modules:
        yield
        return
    sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    try:
        yield
    finally:
        if sys.modules.get(name) is None:
            del sys.modules[name]


class GxPandasRunner:
    """Runs a suite with Great Expectations' pandas execution engine."""

    name = "great_expectations"

    def __init__(self) -> None:
        os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
        with _without_spark_connect():
            import great_expectations as gx
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

    def run(self, table: str, source: CheckedTable, suite: dict[str, Any], parameters: dict[str, Any]) -> pl.DataFrame:
        import pandas as pd

        expectations = suite["expectations"]
        # dates go to GX as UTC midnights so they compare with the as-of parameters like for like
        selected = source.frame(suite_columns(suite))
        selected = selected.with_columns(
            [pl.col(c).cast(pl.Datetime("us", "UTC")) for c, t in selected.schema.items() if t == pl.Date]
        )
        pdf = selected.to_pandas().set_index(ROW)
        gx_suite = self._suite_cls(
            name=suite["name"],
            # GX may return results in another order: each carries its suite position in meta
            expectations=[
                self._config_cls(type=e["type"], kwargs=e["kwargs"], meta={"index": i}) for i, e in enumerate(expectations)
            ],
        )
        params = {}
        for key, value in parameters.items():
            if isinstance(value, ListParameter):
                value = value.values(source.con)
            elif isinstance(value, datetime):
                value = pd.Timestamp(value)
            params[key] = value
        # A fresh datasource per call: GX keys loaded batches and metrics by batch id, and a
        # reused batch definition would answer a later table with an earlier table's results.
        self._calls += 1
        source_name = f"recordcheck-{table}-{self._calls}"
        datasource = self._context.data_sources.add_pandas(source_name)
        try:
            definition = datasource.add_dataframe_asset(table).add_batch_definition_whole_dataframe(table)
            batch = definition.get_batch(batch_parameters={"dataframe": pdf})
            # GX's own deprecation warnings must not become errors inside its metrics (where they
            # would be swallowed into an empty result) whatever the caller's warning filters are.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", UserWarning)
                result = batch.validate(gx_suite, expectation_parameters=params, result_format={"result_format": "COMPLETE"})
        finally:
            self._context.data_sources.delete(source_name)
        indexes: list[int] = []
        rows: list[int] = []
        for res in result.results:
            if res.expectation_config is None:
                raise RuntimeError(f"validation of {table}: Great Expectations returned a result without its expectation")
            i = int(res.expectation_config.meta["index"])
            problem = _gx_exception(res.exception_info or {})
            if problem:
                raise RuntimeError(f"validation of {table} could not run {expectations[i]['type']} ({problem})")
            if not res.success:
                # with a named index GX reports {index_name: value}; otherwise the bare value
                hit = [int(r[ROW]) if isinstance(r, dict) else int(r) for r in res.result.get("unexpected_index_list") or []]
                indexes += [i] * len(hit)
                rows += hit
        return pl.DataFrame({"expectation": indexes, ROW: rows}, schema=FAILURE_SCHEMA)


def _gx_exception(info: dict[str, Any]) -> str | None:
    """GX reports a failed metric as success=false plus exception_info, flat or keyed by metric."""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "unknown error")
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or value.get("exception_traceback")):
            trace = str(value.get("exception_message") or value.get("exception_traceback") or "")
            return trace.strip().splitlines()[-1] if trace.strip() else "unknown error"
    return None
