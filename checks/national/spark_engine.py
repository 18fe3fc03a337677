"""A national run on Apache Spark: each force's front end as executor tasks around its
validation suites run as Spark SQL, then the pack's SQL (translated) over its accepted tables.

The driver sends tasks and receives counts, strata, measures (aggregates) and each rule's few
report examples. Registers and the quarantine are written by the executors, as Parquet, into the
run's staging folder (which must be on a file system every executor sees).
"""

from __future__ import annotations

import base64
import functools
import pickle
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.engine.engine import REGISTER_SCHEMA, RuleResult, skip_reason
from recordcheck.checks.engine.headline import CLASSIFICATION, UNRECORDED, headline_from_counts
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.narrative.screen import SCREEN_TABLES
from recordcheck.checks.national.figures import EXAMPLE_COLUMNS, EXAMPLES_PER_RULE, rule_figures
from recordcheck.checks.national.forces import Force
from recordcheck.checks.national.front import export_force, force_setup, stage_force
from recordcheck.checks.spark.engine import SparkRuleEngine
from recordcheck.checks.spark.session import at_once, own_session
from recordcheck.checks.spark.validation import run_exported_suites

FORCES_AT_ONCE = "spark.recordcheck.forcesAtOnce"
"""Spark setting: how many forces' rules run at once (driver threads; each force's own queries
stay in order). Default 4 on a cluster, 1 in local mode, where every force's joins and broadcasts
share the one driver JVM's memory and its cores are already busy."""

FORCE_BY_FORCE = "spark.recordcheck.forceByForce"
"""Spark setting: "true" runs the pack force by force, a run of its own each, instead of once for
each group of alike forces (checks/national/country.py): the comparison the benchmark makes."""

REGISTER_DDL = ", ".join(f"`{name}` STRING" for name in REGISTER_SCHEMA)


def forces_at_once(spark: Any) -> int:
    default = "1" if spark.conf.get("spark.master", "").startswith("local") else "4"
    value = spark.conf.get(FORCES_AT_ONCE, default)
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{FORCES_AT_ONCE} must be a whole number of at least 1, not {value!r}")
    return at_once(spark, int(value))


def stage_forces(spark: Any, forces: list[Force], pack: RulePack, as_of: datetime, work: Path) -> list[dict[str, Any]]:
    """Every force's front end; returns their facts in the forces' order.

    The suites run on Spark (checks/spark/validation.py): a task per force exports each suite's
    query and inputs, Spark runs the queries (forces side by side, as for the rules), and a second
    task per force quarantines what they found and writes the accepted tables.

    An extract at a URI (hdfs:, s3a:, abfss:, file://...) is first copied by the executors, with
    Spark's own file systems and credentials, into the staging folder."""
    fetched = _fetch_remote(spark, [f for f in forces if f.is_uri], work)
    payloads: list[dict[str, Any]] = [
        {
            "force": replace(f, extract=fetched.get(f.code, f.extract)),
            "pack_dir": str(pack.directory),
            "work_dir": str(work),
            "as_of": as_of.isoformat(),
        }
        for f in forces
    ]
    exported = _each_force(spark, export_force, payloads)
    refused = {facts["code"]: facts for facts in exported if facts["status"] == "refused"}
    with ThreadPoolExecutor(max_workers=forces_at_once(spark)) as pool:
        folders = [Path(facts["suites"]) for facts in exported if facts["status"] == "exported"]
        list(pool.map(lambda folder: run_exported_suites(spark, folder), folders))
    checked = [payload for payload in payloads if payload["force"].code not in refused]
    staged = {facts["code"]: facts for facts in _each_force(spark, stage_force, checked)}
    results = []
    for force in forces:
        facts = refused.get(force.code) or staged[force.code]
        facts["extract"] = force.extract  # the manifest names the URI, not the staging copy
        results.append(facts)
    return results


def _each_force(spark: Any, task: Any, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One executor task per force; only each task's small result dictionary comes back.

    A DataFrame of the pickled payloads, range-partitioned one force to a partition, mapped by
    `mapInArrow`: no RDD and no SparkContext, which Spark Connect (Databricks serverless and
    shared-access clusters) does not offer. The pickles pass only between this job's driver and
    its own executors, as an RDD's closures and records would."""
    if not payloads:
        return []
    rows = [(number, _pickled(payload)) for number, payload in enumerate(payloads)]
    frame = spark.createDataFrame(rows, "n INT, payload STRING").repartitionByRange(len(rows), "n")
    done = frame.mapInArrow(functools.partial(_run_tasks, task), "n INT, result STRING").collect()
    return [_unpickled(row["result"]) for row in sorted(done, key=lambda row: row["n"])]


def _pickled(value: Any) -> str:
    return base64.b64encode(pickle.dumps(value)).decode("ascii")


def _unpickled(text: str) -> Any:
    return pickle.loads(base64.b64decode(text))  # noqa: S301 - this job's own driver wrote it


def _run_tasks(task: Any, batches: Iterator[Any]) -> Iterator[Any]:
    """Executor side: each payload of the partition through `task`, its result pickled back."""
    import pyarrow as pa

    for batch in batches:
        numbers = batch.column("n").to_pylist()
        results = [_pickled(task(_unpickled(text))) for text in batch.column("payload").to_pylist()]
        yield pa.RecordBatch.from_pydict(
            {"n": numbers, "result": results}, schema=pa.schema([("n", pa.int32()), ("result", pa.string())])
        )


def _fetch_remote(spark: Any, forces: list[Force], work: Path) -> dict[str, str]:
    """Copy each URI force's files into work/inputs/<code>/ on the executors (Spark's binaryFile
    reader: whatever file system and credentials Spark's configuration has). Returns code -> folder."""
    from pyspark.sql import functions as F  # noqa: N812

    if not forces:
        return {}
    frames = [
        spark.read.format("binaryFile")
        .load(force.extract.rstrip("/"))
        .select(F.lit(force.code).alias("force"), "path", "content")
        for force in forces
    ]
    files = frames[0]
    for frame in frames[1:]:
        files = files.unionByName(frame)
    inputs = str(work / "inputs")
    written = files.repartition(len(forces), "force").mapInArrow(functools.partial(_write_inputs, inputs), "files BIGINT")
    written.agg(F.sum("files")).collect()  # the action that runs the copies
    return {force.code: str(work / "inputs" / force.code) for force in forces}


def _write_inputs(inputs: str, batches: Iterator[Any]) -> Iterator[Any]:
    """Executor side: forces' files, written under their own names; yields how many."""
    import pyarrow as pa

    for batch in batches:
        for force, path, content in zip(
            batch.column("force").to_pylist(),
            batch.column("path").to_pylist(),
            batch.column("content").to_pylist(),
            strict=True,
        ):
            folder = Path(inputs) / force
            folder.mkdir(parents=True, exist_ok=True)
            (folder / str(path).rstrip("/").rsplit("/", 1)[-1]).write_bytes(bytes(content))
        yield pa.RecordBatch.from_pydict({"files": [batch.num_rows]}, schema=pa.schema([("files", pa.int64())]))


def screened(accepted: Path) -> bool:
    """Whether the front end staged the narrative screen's tables beside a force's accepted ones."""
    return all((accepted / f"{name}.parquet").is_file() for name in SCREEN_TABLES)


def run_pack_rules(
    engine: SparkRuleEngine, pack: RulePack, run_id: str, disabled: list[str], unusable: dict[tuple[str, str], str]
) -> tuple[list[RuleResult], list[Any]]:
    """Every rule of the pack on the engine, a rule that cannot run reported with its reason:
    (results, each run rule's register rows, lazy)."""
    results: list[RuleResult] = []
    registers = []
    for rule in pack.rules:
        if reason := skip_reason(rule, disabled, unusable):
            results.append(RuleResult(rule, "not_run", reason))
            continue
        result, register = engine.run_rule(rule, run_id, unusable=unusable, disabled=disabled)
        results.append(result)
        if register is not None:
            registers.append(register)
    return results, registers


def force_figures(
    facts: dict[str, Any],
    results: list[RuleResult],
    reference: Any,
    written: Any,
    measures: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """A checked force's figures, from its rules' results and its register as written."""
    from pyspark.sql import functions as F  # noqa: N812

    counts = written.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("finding").isin(*UNRECORDED).cast("int")).alias("unrecorded"),
        F.count_distinct(F.when(F.col("finding").isin(*CLASSIFICATION), F.col("record_id"))).alias("misclassified"),
    ).collect()[0]
    rules = rule_figures(results, reference)
    figures = {
        **facts,
        "rules": rules,
        "headline": headline_from_counts(rules, int(counts["unrecorded"] or 0), int(counts["misclassified"] or 0), measures),
        "register_rows": int(counts["rows"]),
        "examples": examples_of(written),
    }
    figures.pop("accepted_dir", None)
    return figures


def check_force(
    spark: Any, force: Force, facts: dict[str, Any], pack: RulePack, as_of: datetime, run_id: str, staging: Path
) -> dict[str, Any]:
    """One staged force through the pack on Spark; its register written by the executors."""
    setup = force_setup(force, pack)
    accepted = Path(facts["accepted_dir"])
    tables = {name: spark.read.parquet(str(accepted / f"{name}.parquet")) for name in facts["present"]}
    if screened(accepted):
        tables.update({name: spark.read.parquet(str(accepted / f"{name}.parquet")) for name in SCREEN_TABLES})
    unusable = {(t, c): why for t, c, why in facts["unusable"]}
    engine = SparkRuleEngine(
        pack,
        setup.reference,
        as_of,
        tables,
        spark,
        districts=setup.config.districts,
        query_seconds=setup.config.engine.query_seconds,
    )
    try:
        results, registers = run_pack_rules(engine, pack, run_id, setup.config.disabled_rules, unusable)
        register = spark.createDataFrame([], REGISTER_DDL)
        for part in registers:
            register = register.unionByName(part.select(*REGISTER_SCHEMA))
        partition = staging / "exceptions" / f"force={force.code}"
        write_single_parquet(register.coalesce(1), partition / "part-0.parquet")
        written = spark.read.parquet(str(partition))
        engine.expose_findings(written)  # the measures count findings from the register as written
        measures = {name: engine.measure(name, sql) for name, sql in pack.measures.items()}
        return force_figures(facts, results, setup.reference, written, measures)
    finally:
        engine.close()


def check_force_by_force(
    spark: Any,
    forces: list[Force],
    staged: list[dict[str, Any]],
    pack: RulePack,
    as_of: datetime,
    run_id: str,
    staging: Path,
    tell: Callable[[str, str], None],
) -> list[dict[str, Any]]:
    """Each force's pack run of its own (`check_force`): on Spark Connect, which analyses a query
    only when it runs, so a force's views cannot be re-pointed at its rows for the measures as
    the country run does (checks/national/country.py); elsewhere when asked (FORCE_BY_FORCE).

    Forces side by side on a cluster: a force's many small queries each wait on the scheduler,
    so one force alone leaves the executors idle between them. The results keep the forces' order."""

    def check(force: Force, facts: dict[str, Any]) -> dict[str, Any]:
        if facts["status"] == "refused":
            tell(force.code, "refused")
            return facts
        tell(force.code, "checking")
        # A session of its own: its temporary views never meet another force's.
        figures = check_force(own_session(spark), force, facts, pack, as_of, run_id, staging)
        tell(force.code, "checked")
        return figures

    with ThreadPoolExecutor(max_workers=forces_at_once(spark)) as pool:
        return list(pool.map(check, forces, staged))


def examples_of(register: Any) -> list[dict[str, Any]]:
    """The first few register rows of each rule, by record: the only register rows the driver sees."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F  # noqa: N812

    order = Window.partitionBy("rule_id").orderBy("record_type", "record_id")
    capped = register.withColumn("_n", F.row_number().over(order)).where(F.col("_n") <= EXAMPLES_PER_RULE)
    return [row.asDict() for row in capped.select(*EXAMPLE_COLUMNS).orderBy("rule_id", "record_type", "record_id").collect()]


def write_quarantine(spark: Any, work: Path, staging: Path) -> None:
    """The staged quarantines of every force as one quarantine.parquet, written by an executor."""
    source = work / "quarantine"
    target = staging / "quarantine.parquet"
    if not source.is_dir() or not any(source.iterdir()):
        return
    frame = spark.read.parquet(str(source))
    columns = ["force", *[c for c in frame.columns if c != "force"]]
    write_single_parquet(frame.select(*columns).orderBy("force", "table", "row_number").coalesce(1), target)


def write_single_parquet(frame: Any, target: Path) -> None:
    """One partition of a Spark DataFrame as the single Parquet file `target`, as DuckDB writes
    it: Spark's folder of a part file, _SUCCESS and .crc checksums is written beside it and
    dissolved, so a plain directory read of exceptions/ finds the same files from either engine."""
    temporary = target.parent / f".{target.name}.parts"
    frame.write.mode("overwrite").parquet(str(temporary))
    (part,) = temporary.glob("part-*.parquet")
    target.parent.mkdir(parents=True, exist_ok=True)
    part.replace(target)
    shutil.rmtree(temporary)
