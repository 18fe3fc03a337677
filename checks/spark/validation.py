"""Validation on Spark: the suite runner's SQL, transpiled, run by Spark over each force's parsed
tables.

A force's front end runs on an executor, where there is no Spark session, so validation on Spark
takes three steps, each behind the one `SuiteRunner` seam:

1. on an executor, `SuiteExport` stands in for the runner: for each table it writes the relation
   the suite reads (the parsed rows, with their row numbers) and the suite's list parameters as
   Parquet, and the suite's one query rendered by SQLGlot in Spark's dialect;
2. on the driver, `run_exported_suites` has Spark run each query over those files; the executors
   write the failures, (expectation, row) pairs, as Parquet: the driver sees none of them;
3. on an executor again, `RecordedFailures` hands each table's failures to the same validation
   code a single-force run uses, which quarantines the rows with their reasons.

The query is the one `runner_sql` runs in DuckDB (`suite_sql.compile_suite`), rendered for Spark
instead; a test holds the quarantine to the DuckDB runner's on an extract with every kind of bad row.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.extract.reader import ROW
from recordcheck.checks.validation.seam import FAILURE_SCHEMA, CheckedTable, ListParameter, suite_columns
from recordcheck.checks.validation.suite_sql import compile_suite, param_table, render

EXPORT_BATCH_ROWS = 500_000
QUERY = "suite.json"
"""Per table: the Spark SQL and the views it reads."""


class SuiteExport:
    """Step 1 (executor): writes what each suite needs to run elsewhere, and fails no row."""

    name = "spark_sql"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def run(self, table: str, source: CheckedTable, suite: dict[str, Any], parameters: dict[str, Any]) -> pl.DataFrame:
        target = self.folder / table
        target.mkdir(parents=True, exist_ok=True)
        # only the columns the suite reads: free text and the rest never leave the task
        read = ", ".join(f'"{column}"' for column in [ROW, *suite_columns(suite)])
        views = [source.relation]
        _write_parquet(source.con.sql(f'SELECT {read} FROM "{source.relation}"'), target / f"{source.relation}.parquet")
        for parameter in parameters.values():
            if isinstance(parameter, ListParameter):
                name = param_table(parameter.name)
                views.append(name)
                _write_parquet(source.con.sql(f'SELECT value FROM "{name}"'), target / f"{name}.parquet")
        sql = render(compile_suite(suite, source.relation, parameters), dialect="spark")
        (target / QUERY).write_text(json.dumps({"sql": sql, "views": views}), encoding="utf-8")
        return pl.DataFrame(schema=FAILURE_SCHEMA)


def _write_parquet(relation: Any, path: Path) -> None:
    """A relation streamed to Parquet in batches (the run's database has no file access of its own)."""
    import pyarrow.parquet as pq

    reader = relation.to_arrow_reader(EXPORT_BATCH_ROWS)
    with pq.ParquetWriter(path, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def run_exported_suites(spark: Any, folder: Path) -> None:
    """Step 2 (driver): each exported table's suite query on Spark; failures written by executors
    into <table>/failures/. A query Spark cannot run stops the run, naming the table."""
    from pyspark.errors import PySparkException

    from recordcheck.checks.base.errors import ConfigError
    from recordcheck.checks.spark.session import own_session

    for query_file in sorted(folder.glob(f"*/{QUERY}")):
        table_dir = query_file.parent
        query = json.loads(query_file.read_text(encoding="utf-8"))
        session = own_session(spark)  # the views' names repeat across tables and forces
        for view in query["views"]:
            session.read.parquet(str(table_dir / f"{view}.parquet")).createOrReplaceTempView(view)
        try:
            session.sql(query["sql"]).write.mode("overwrite").parquet(str(table_dir / "failures"))
        except PySparkException as exc:
            raise ConfigError(f"the {table_dir.name} suite on Spark: {str(exc).splitlines()[0]}") from None


class RecordedFailures:
    """Step 3 (executor): each table's failures as Spark found them."""

    name = "spark_sql"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def run(self, table: str, source: CheckedTable, suite: dict[str, Any], parameters: dict[str, Any]) -> pl.DataFrame:
        results = self.folder / table / "failures"
        if not (results / "_SUCCESS").exists():
            raise FileNotFoundError(f"no Spark suite results for {table} in {self.folder}")
        parts = [pl.read_parquet(part) for part in sorted(results.glob("part-*.parquet"))]
        if not parts:
            return pl.DataFrame(schema=FAILURE_SCHEMA)
        return pl.concat(parts).cast(FAILURE_SCHEMA).sort("expectation", ROW)  # type: ignore[arg-type]
