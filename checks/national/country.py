"""One Spark application for the country: the pack runs once over many forces' accepted tables.

Forces that are judged alike (the same config text, tables, unusable columns and narrative screen)
form a group. The group's tables are read as one set: each force's rows, every record and person
key tagged with its code ("F01\\x1fCR12", BATCH_SEPARATOR), so no join of the pack can meet another
force's rows, and `force` is the partition and join key of the work. Each rule then runs once for
the group (`RuleEngine(batches=...)`): its population, breaches and strata come back per force,
its register rows untagged and led by the force. A small force costs a few rows of a shared job,
not a run of its own.

The pack's measures are aggregates a pack writes without a force in them, so they are taken per
force over views filtered to that force's rows and untagged (a few small jobs a force).
"""

from __future__ import annotations

import hashlib
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from recordcheck.checks.engine.engine import BATCH_SEPARATOR, REGISTER_SCHEMA
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.extract.contract import RECORD_KEYS
from recordcheck.checks.narrative.screen import SCREEN_TABLES
from recordcheck.checks.national.forces import Force
from recordcheck.checks.national.front import ForceSetup, force_setup
from recordcheck.checks.national.spark_engine import (
    REGISTER_DDL,
    force_figures,
    forces_at_once,
    run_pack_rules,
    screened,
    write_single_parquet,
)
from recordcheck.checks.spark.engine import SparkRuleEngine
from recordcheck.checks.spark.session import own_session

KEYED = RECORD_KEYS | {"record_id"}
"""Columns tagged with the force: the contract's keys, and the screen tables' record ids."""


def group_key(setup: ForceSetup, facts: dict[str, Any], screened: bool) -> tuple[Any, ...]:
    """Forces with equal keys are judged alike, so their rules can run as one: the same config
    (reference overrides, disabled rules, time limit; districts are applied per force), tables,
    unusable columns and narrative screen."""
    config = setup.config.path
    return (
        hashlib.sha256(config.read_bytes()).hexdigest() if config else None,
        tuple(sorted(facts["present"])),
        tuple(tuple(item[:2]) for item in facts["unusable"]),
        screened,
    )


def tagged(frame: Any, code: str) -> Any:
    """A force's frame with every key column tagged with its code (a missing key stays missing)."""
    from pyspark.sql import functions as F  # noqa: N812

    tag = F.lit(code + BATCH_SEPARATOR)
    return frame.select(*[F.concat(tag, F.col(c)).alias(c) if c in KEYED else F.col(c) for c in frame.columns])


def untagged(frame: Any, code: str) -> Any:
    """A frame's rows of one force, its tags taken out of every text column."""
    from pyspark.sql import functions as F  # noqa: N812

    tag = code + BATCH_SEPARATOR
    key = next((c for c in ("record_id", *sorted(RECORD_KEYS)) if c in frame.columns), None)
    if key is None:
        return frame  # reference data or lexicons: every force's own and the same
    kept = frame.where(F.col(key).startswith(tag))
    return kept.select(
        *[F.replace(F.col(c), F.lit(tag), F.lit("")).alias(c) if kind == "string" else F.col(c) for c, kind in kept.dtypes]
    )


def check_group(
    spark: Any,
    members: list[tuple[Force, dict[str, Any], ForceSetup]],
    pack: RulePack,
    as_of: Any,
    run_id: str,
    staging: Path,
) -> dict[str, dict[str, Any]]:
    """The group's forces through the pack in one run; per force: its figures (as check_force's)."""
    from pyspark.sql import functions as F  # noqa: N812

    codes = tuple(force.code for force, _, _ in members)
    _, first_facts, first = members[0]
    names = list(first_facts["present"])
    accepted = {force.code: Path(facts["accepted_dir"]) for force, facts, _ in members}
    if all(screened(folder) for folder in accepted.values()):
        names += [name for name in SCREEN_TABLES if name not in names]
    tables: dict[str, Any] = {}
    for name in names:
        frames = []
        for force, _, setup in members:
            frame = spark.read.parquet(str(accepted[force.code] / f"{name}.parquet"))
            if name in SCREEN_TABLES and not any(c in KEYED for c in frame.columns):
                frames = [frame]  # the lexicons' own tables: the pack's, the same for every force
                break
            districts = setup.config.districts
            if districts and "district" in frame.columns:  # outside the force's list: no district
                frame = frame.withColumn("district", F.when(F.col("district").isin(districts), F.col("district")))
            frames.append(tagged(frame, force.code))
        union = frames[0]
        for frame in frames[1:]:
            union = union.unionByName(frame)
        tables[name] = union
    unusable = {(t, c): why for t, c, why in first_facts["unusable"]}
    engine = CountryEngine(
        pack, first.reference, as_of, tables, spark, query_seconds=first.config.engine.query_seconds, batches=codes
    )
    try:
        results, registers = run_pack_rules(engine, pack, run_id, first.config.disabled_rules, unusable)
        register = spark.createDataFrame([], f"force STRING, {REGISTER_DDL}")
        for part in registers:
            register = register.unionByName(part.select("force", *REGISTER_SCHEMA))
        written = _write_by_force(spark, register, codes, staging)
        return {
            force.code: force_figures(
                facts,
                [result.by_batch.get(force.code, result) for result in results],
                setup.reference,
                written[force.code],
                engine.batch_measures(force.code, written[force.code]),
            )
            for force, facts, setup in members
        }
    finally:
        engine.close()


def _write_by_force(spark: Any, register: Any, codes: tuple[str, ...], staging: Path) -> dict[str, Any]:
    """The group's register written as each force's exceptions/force=CODE/part-0.parquet, by the
    executors in one job (each force's rows in one task, so one file); returns each force's frame
    as written."""
    exceptions = staging / "exceptions"
    parts = exceptions / ".group.parts"
    register.repartition(len(codes), "force").write.mode("overwrite").partitionBy("force").parquet(str(parts))
    written = {}
    for code in codes:
        folder, target = parts / f"force={code}", exceptions / f"force={code}" / "part-0.parquet"
        files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        if len(files) == 1:
            target.parent.mkdir(parents=True, exist_ok=True)
            files[0].replace(target)
        else:  # no finding (an empty file, as DuckDB writes), or a force split over files
            rows = spark.read.parquet(str(folder)) if files else spark.createDataFrame([], REGISTER_DDL)
            write_single_parquet(rows.coalesce(1), target)
        written[code] = spark.read.parquet(str(target.parent))
    shutil.rmtree(parts)
    return written


class CountryEngine(SparkRuleEngine):
    """The Spark engine over a group's tagged tables, with the pack's measures taken per force."""

    _kept: dict[str, Any] | None = None

    def batch_measures(self, code: str, register: Any) -> dict[str, list[dict[str, Any]]]:
        """The pack's measures for one force: every view that holds records filtered to the
        force's rows and untagged, and `finding` its own register (its rows as written)."""
        if self._kept is None:  # every view there is, as the rules left it
            self._kept = {name: self.spark.table(name) for name in dict.fromkeys(self._views)}
        self.expose_findings(register)
        self._view("judged_record", untagged(self.spark.table("judged_record"), code))
        for name, frame in self._kept.items():
            if name not in ("finding", "finding_rows", "judged_record"):
                self._view(name, untagged(frame, code))
        return {name: self.measure(name, sql) for name, sql in self.pack.measures.items()}


def check_country(
    spark: Any,
    forces: list[Force],
    staged: list[dict[str, Any]],
    pack: RulePack,
    as_of: Any,
    run_id: str,
    staging: Path,
    tell: Any,
) -> list[dict[str, Any]]:
    """Every staged force through the pack, a group of alike forces in one run (groups side by
    side, each in a session of its own); the forces' figures in their order."""

    groups: dict[tuple[Any, ...], list[tuple[Force, dict[str, Any], ForceSetup]]] = {}
    for force, facts in zip(forces, staged, strict=True):
        if facts["status"] == "refused":
            tell(force.code, "refused")
            continue
        setup = force_setup(force, pack)
        key = group_key(setup, facts, screened(Path(facts["accepted_dir"])))
        groups.setdefault(key, []).append((force, facts, setup))

    def check(members: list[tuple[Force, dict[str, Any], ForceSetup]]) -> dict[str, dict[str, Any]]:
        for force, _, _ in members:
            tell(force.code, "checking")
        done = check_group(own_session(spark), members, pack, as_of, run_id, staging)
        for force, _, _ in members:
            tell(force.code, "checked")
        return done

    figures: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=forces_at_once(spark)) as pool:
        for done in pool.map(check, groups.values()):
            figures.update(done)
    return [figures.get(force.code, facts) for force, facts in zip(forces, staged, strict=True)]
