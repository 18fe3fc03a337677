"""The rule engine on Spark: RuleEngine's SQL, translated, with Spark's own primitives.

Only the primitives differ from the DuckDB engine (checks/engine/engine.py): how a relation is created,
dropped, counted and described. Every query the engine and the pack run is the same DuckDB text,
translated by checks/spark/sql.py. Materialised views are checkpointed on the executors; the
driver receives counts, strata and capped aggregates, never a per-record table.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from recordcheck.checks.base.database import EngineSettings
from recordcheck.checks.base.refdata import ReferenceData, reference_tables
from recordcheck.checks.engine.engine import FINDING_COLUMNS, QueryTimeout, RuleEngine, RuleError
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.spark.session import is_connect, own_session
from recordcheck.checks.spark.sql import SparkTranslator

SPARK_TYPES = {"string": "STRING", "int": "BIGINT", "bool": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMP"}
"""The Spark type of each contract column type (TIMESTAMP is an instant, shown in the session's UTC)."""

SPARK_CASE_WORKERS = 4
"""Rule cases run side by side on Spark: each waits mostly on the scheduler, not on the cores."""
CASE_SETTINGS = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}
"""A rule case's session: a handful of rows cost less to interpret than to compile into Java, and
one partition is all they fill (measured on 27 cases, one at a time: 74 s with the run's
settings, 53 s with these). A force's night keeps the run's settings."""

_AS_DUCKDB = {"timestamp": "TIMESTAMP WITH TIME ZONE", "date": "DATE", "double": "DOUBLE", "float": "FLOAT"}


def contract_schema(table: str) -> str:
    return ", ".join(f"`{c.name}` {SPARK_TYPES[c.type]}" for c in TABLES[table].columns)


SCREEN_SCHEMAS = {
    "narrative_hit": "record_type STRING, record_id STRING, place STRING, entry_no INT, entry_at TIMESTAMP, "
    "offence_group STRING, cue_id STRING, assertion STRING",
    "narrative_note": "record_type STRING, record_id STRING, place STRING, entry_no INT, chars BIGINT",
    "narrative_cue": "offence_group STRING, cue_id STRING, terms STRING",
    "narrative_group": "offence_group STRING, title STRING, codes ARRAY<STRING>",
}
"""The narrative screen's tables on Spark (checks/narrative/screen.py writes them in DuckDB)."""


class SparkRuleEngine(RuleEngine):
    """One extract's tables as Spark temporary views, and the pack's views over them."""

    def __init__(
        self,
        pack: RulePack,
        reference: ReferenceData,
        as_of: datetime,
        tables: Mapping[str, Any],
        spark: Any,
        districts: list[str] | None = None,
        keep_views: bool = True,
        query_seconds: float | None = EngineSettings.query_seconds,
        translator: SparkTranslator | None = None,
        batches: tuple[str, ...] = (),
    ) -> None:
        self.spark = spark
        self.keep_views = keep_views
        """False: the pack's views stay plain views (a rule case's few rows cost less to recompute
        than the job that would keep them; its population and breaches are kept: 3 cases took
        54 s with them recomputed by each later query, 32 s kept)."""
        self.translator = translator or SparkTranslator(pack.macros, pack.spark_macros)
        self._views: list[str] = []
        self._judged: list[Any] = []
        super().__init__(pack, reference, as_of, tables, districts=districts, query_seconds=query_seconds, batches=batches)

    lists_due = False
    """The due list is the nightly (and daytime) DuckDB run's: a national Spark run audits after the fact."""

    @contextmanager
    def _time_limit(self) -> Iterator[None]:
        """Spark's job timeout: the rule's jobs carry a tag of their own, and past query_seconds
        every job with it is cancelled (its running tasks interrupted); the rule is then reported
        not run with its reason, as on DuckDB, and the next rule starts clean."""
        seconds = self.query_seconds
        if not seconds:
            yield
            return
        tag = f"recordcheck-rule-{uuid.uuid4().hex[:12]}"
        add, interrupt, remove = _tagging(self.spark)
        add(tag)
        fired, done = threading.Event(), threading.Event()

        def cancel() -> None:
            # a rule's query is several jobs, started one after another: past the limit every one
            # that starts is cancelled too, until the rule gives up
            if done.wait(seconds):
                return
            fired.set()
            while True:
                interrupt(tag)
                if done.wait(0.5):
                    return

        watchdog = threading.Thread(target=cancel, name=f"{tag}-watchdog", daemon=True)
        watchdog.start()
        try:
            yield
        except Exception:
            if fired.is_set():  # the cancelled job surfaces as Spark's error (or a RuleError quoting it)
                raise QueryTimeout(f"over {seconds:g} s") from None
            raise
        finally:
            done.set()
            watchdog.join()
            remove(tag)

    def _connect(self, con: Any, threads: int | None) -> None:
        self.con = None  # type: ignore[assignment]  # Spark has no DuckDB connection

    def _view(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def _keep_judged(self, measure: str, population: str) -> None:
        """The population's records, as a lazy frame over its checkpointed rows (dropping the
        rule's view does not undo it), for `judged_record`."""
        from pyspark.sql import functions as F  # noqa: N812

        frame = self.spark.table(population).select(
            F.lit(measure).alias("measure"), "record_type", F.col("record_id").cast("string").alias("record_id")
        )
        self._judged.append(self._kept_past_views(frame, "judged records"))

    def _expose_judged(self) -> None:
        frame = self.spark.createDataFrame([], "measure STRING, record_type STRING, record_id STRING")
        for part in self._judged:
            frame = frame.unionByName(part)
        self._view("judged_record", frame)

    def _rows_view(self, name: str, register: Any) -> None:
        """The register rows (a lazy Spark DataFrame, on the executors) as a temporary view."""
        self._view(name, register.select(*FINDING_COLUMNS))

    def _load_tables(self, tables: Mapping[str, Any], districts: list[str] | None) -> None:
        from pyspark.sql import DataFrame
        from pyspark.sql import functions as F  # noqa: N812

        for name, contract in TABLES.items():
            given = tables.get(name)
            if isinstance(given, DataFrame):
                frame = given
            elif given is not None and given.height:
                frame = self.spark.createDataFrame(given.to_arrow())
            else:  # absent or empty: the contract's schema (Spark Connect infers none from no rows)
                frame = self.spark.createDataFrame([], contract_schema(name))
            frame = frame.select(*contract.column_names)
            if districts:  # a value outside the force's list is no district: never its own stratum
                frame = frame.withColumn("district", F.when(F.col("district").isin(districts), F.col("district")))
            self._view(name, frame)

    def _load_reference(self, reference: ReferenceData, as_of: datetime) -> None:
        self._view("offence_catalogue", self.spark.createDataFrame(reference.offence_catalogue.to_arrow()))
        for view, columns, rows in reference_tables(reference):
            self._view(view, self.spark.createDataFrame(rows, columns))
        moment = as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        self._view("run_settings", self.spark.sql(f"SELECT 'as_of' AS name, TIMESTAMP '{moment}' AS value_ts"))

    def _screen_narratives(self, tables: Mapping[str, Any]) -> None:
        """The screen is DuckDB SQL. A national run's front end screens each force and stages the
        screen's tables beside its accepted ones; a rule case's frames are screened here, in a
        DuckDB of their own. Either way Spark reads the same hits DuckDB would."""
        import polars as pl

        from recordcheck.checks.narrative.screen import DEFAULT_MAX_CHARS, SCREEN_TABLES, screen_frames

        if not self.pack.screens or self.pack.lexicons is None:
            return  # no rule reads the screen's tables
        if all(name in tables for name in SCREEN_TABLES):
            for name in SCREEN_TABLES:
                self._view(name, tables[name])
            return
        if not all(isinstance(frame, pl.DataFrame) for frame in tables.values()):
            self.unscreened = "the narrative screen's tables were not staged for this force"
            frames: dict[str, Any] = {}
        else:
            frames = screen_frames(
                tables, self.pack.lexicons, int(self.limits.get("narrative_max_chars", DEFAULT_MAX_CHARS))
            )
        for name, schema in SCREEN_SCHEMAS.items():
            frame = frames.get(name)
            rows = frame if frame is not None and frame.num_rows else []
            self._view(name, self.spark.createDataFrame(rows, schema))

    def _create_pack_objects(self) -> None:
        for name, sql in self.pack.views.items():  # macros are expanded where they are called
            keep = self.keep_views and name not in self.pack.inline_views
            self._create(name, sql, f"pack view {name}", materialise=keep)

    def _sql(self, sql: str, what: str) -> Any:
        from pyspark.errors import PySparkException

        text = self.translator.translate(sql, what)
        try:
            return self.spark.sql(text)
        except PySparkException as exc:
            raise RuleError(f"{what}: {str(exc).splitlines()[0]}") from None

    def _create(self, name: str, sql: str, what: str, materialise: bool = True, temporary: bool = False) -> None:
        frame = self._sql(sql, what)
        if materialise:
            frame = self._checkpoint(frame, what)
        self._view(name, frame)

    def _checkpoint(self, frame: Any, what: str) -> Any:
        """Computed now and kept on the executors (memory, then disk), as DuckDB materialises a
        table: later queries start from it instead of recomputing its plan."""
        from pyspark.errors import PySparkException

        try:
            return frame.localCheckpoint(eager=True)
        except PySparkException as exc:
            raise RuleError(f"{what}: {str(exc).splitlines()[0]}") from None

    def _drop(self, *names: str) -> None:
        for name in names:
            self.spark.catalog.dropTempView(name)
            while name in self._views:
                self._views.remove(name)

    def _drop_view(self, name: str) -> None:
        self._drop(name)

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        from pyspark.errors import PySparkException

        try:
            return [tuple(row) for row in self._sql(sql, "engine query").collect()]
        except PySparkException as exc:
            raise RuleError(f"engine query: {str(exc).splitlines()[0]}") from None

    def _columns(self, table: str) -> dict[str, str]:
        return {
            name: _AS_DUCKDB.get(kind, "DECIMAL" if kind.startswith("decimal") else kind.upper())
            for name, kind in self.spark.table(table).dtypes
        }

    def _as_text(self, name: str, kind: str) -> str:
        """DuckDB's text of an instant ('2025-10-29 19:33:00+00', fractions of a second trimmed),
        so the evidence hash of a finding is the same on both engines."""
        if not kind.startswith("TIMESTAMP"):
            return super()._as_text(name, kind)
        fraction = f"CAST(unix_micros({name}) % 1000000 AS VARCHAR)"
        return (
            f"(strftime({name}, '%Y-%m-%d %H:%M:%S') || CASE WHEN unix_micros({name}) % 1000000 = 0 THEN '' "
            f"ELSE '.' || rtrim(lpad({fraction}, 6, '0'), '0') END || '+00')"
        )

    def _register_frame(self, sql: str) -> Any:
        """The rule's register rows as a lazy Spark DataFrame, never collected: computed once, by
        the executors, when the force's register is written (its plan holds the rule's
        materialised rows, so dropping the rule's views does not undo it)."""
        return self._kept_past_views(self._sql(sql, "register rows"), "register rows")

    def _kept_past_views(self, frame: Any, what: str) -> Any:
        """A frame read after the rule's views are dropped. Classic Spark analyses a query when it
        is made, so its plan already holds the views' rows; Spark Connect analyses the SQL when it
        runs, by then with no view of that name: there it is checkpointed now."""
        return self._checkpoint(frame, what) if is_connect(self.spark) else frame

    def measure(self, name: str, sql: str) -> list[dict[str, Any]]:
        """An aggregate for the reports; instants become ISO text on the executors (UTC)."""
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as F  # noqa: N812

        frame = self._sql(sql, f"pack measure {name}")
        for column, kind in frame.dtypes:
            if kind == "timestamp":
                frame = frame.withColumn(column, F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss'Z'"))
        try:
            return [row.asDict() for row in frame.collect()]
        except PySparkException as exc:
            raise RuleError(f"pack measure {name}: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        """Drop this extract's views (the session is the caller's, and stays open)."""
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self._views.clear()


def _tagging(spark: Any) -> tuple[Callable[[str], Any], Callable[[str], Any], Callable[[str], Any]]:
    """Add, cancel and remove a tag on the jobs this thread starts. Spark Connect (Databricks
    serverless and shared-access clusters) has no SparkContext: there the session's operation
    tags. Classic Spark: the SparkContext's job tags, which also reach the jobs a checkpoint
    starts (the session's tags did not: a runaway rule ran on past its limit)."""
    if is_connect(spark):
        return spark.addTag, spark.interruptTag, spark.removeTag
    context = spark.sparkContext
    return context.addJobTag, context.cancelJobsWithTag, context.removeJobTag


def spark_case_engine(spark: Any) -> Callable[..., RuleEngine]:
    """The engine factory for rule cases on Spark (`rules test --engine spark`): each case in a
    session of its own (its own temporary views), so cases can run side by side."""

    translators: dict[str, SparkTranslator] = {}  # one per pack directory: its cases send the same queries

    def build(
        pack: RulePack,
        reference: ReferenceData,
        as_of: datetime,
        tables: Mapping[str, Any],
        batches: tuple[str, ...] = (),
    ) -> RuleEngine:
        session = own_session(spark)
        for key, value in CASE_SETTINGS.items():
            session.conf.set(key, value)
        key = str(pack.directory)
        if key not in translators:
            translators[key] = SparkTranslator(pack.macros, pack.spark_macros)
        translator = translators[key]
        # one case: its views stay views (keep_views); a night of cases, which many rules read,
        # keeps them (108 cases in 18 nights: 111 CPU-seconds with views recomputed, 96 kept)
        keep = bool(batches)
        return SparkRuleEngine(
            pack, reference, as_of, tables, session, keep_views=keep, translator=translator, batches=batches
        )

    return build
