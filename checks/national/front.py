"""One force's front end in a national run: its profile, config and reference data, then its
extract read and validated by the same code as a single-force run (checks/validation/pipeline.py).

On Spark these are executor tasks, one per force, which return only counts, hashes and names:
`export_force` writes what the force's validation suites need for Spark to run them
(checks/spark/validation.py); `stage_force` then writes the force's accepted tables and
quarantine as Parquet, where the rule engine (and the driver's output) reads them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.config import RunConfig, config_from_raw, load_config
from recordcheck.checks.base.errors import ConfigError, InputRejected
from recordcheck.checks.base.refdata import ReferenceData, load_reference
from recordcheck.checks.engine.rules import RulePack, load_pack
from recordcheck.checks.extract.profile import SourceProfile, load_profile
from recordcheck.checks.national.forces import Force
from recordcheck.checks.spark.validation import RecordedFailures, SuiteExport
from recordcheck.checks.validation.pipeline import LoadedExtract, load_extract
from recordcheck.checks.validation.runners import SuiteRunner


@dataclass
class ForceSetup:
    profile: SourceProfile
    config: RunConfig
    reference: ReferenceData


class ForceRefused(Exception):
    """This force's extract, profile or config cannot be used; the other forces still run."""


def force_setup(force: Force, pack: RulePack) -> ForceSetup:
    profile = load_profile(force.profile)
    if force.config_file is not None:
        config = load_config(force.config_file)
    elif force.config:
        config = config_from_raw(force.config, Path(f"forces manifest (force {force.code})"))
    else:
        config = RunConfig()
    config.check_rule_ids([r.id for r in pack.rules] + [f"{r.id}.{part}" for r in pack.rules for part, _ in r.parts])
    reference = load_reference(pack.reference_dir, overrides=config.reference, config_path=config.path)
    return ForceSetup(profile, config, reference)


def read_force(force: Force, pack: RulePack, as_of: datetime, runner: SuiteRunner) -> tuple[ForceSetup, LoadedExtract]:
    """The force's extract read, parsed and validated; ForceRefused names why it cannot be."""
    try:
        setup = force_setup(force, pack)
        loaded = load_extract(
            force.local_extract,
            setup.profile,
            setup.reference,
            as_of,
            runner,
            setup.config.engine,
            pack.suites_dir,
        )
    except (ConfigError, InputRejected) as exc:
        raise ForceRefused(str(exc)) from None
    return setup, loaded


def front_facts(force: Force, setup: ForceSetup, loaded: LoadedExtract) -> dict[str, Any]:
    """What the national summary and manifest keep of a force's front end (no record values)."""
    profile_path = force.profile
    return {
        "code": force.code,
        "name": force.name,
        "extract": force.extract,
        "profile": {
            "name": setup.profile.name,
            "path": str(profile_path) if profile_path else None,
            "sha256": hashlib.sha256(profile_path.read_bytes()).hexdigest() if profile_path else None,
        },
        "config": str(setup.config.path) if setup.config.path else None,
        "validator": loaded.validation.runner,  # where the suites ran: duckdb_sql, spark_sql, great_expectations
        "inputs": [{"table": f.table, "file": f.path.name, "bytes": f.size_bytes, "sha256": f.sha256} for f in loaded.files],
        "tables": {
            name: {"read": c.read, "accepted": c.accepted, "quarantined": c.quarantined}
            for name, c in loaded.validation.counts.items()
        },
        "quarantined_rows": sum(c.quarantined for c in loaded.validation.counts.values()),
        "unusable": [[table, column, why] for (table, column), why in sorted(loaded.unusable.items())],
        "present": list(loaded.validation.accepted),
        "districts": setup.config.districts,
        "disabled": setup.config.disabled_rules,
    }


def quarantine_with_force(loaded: LoadedExtract, code: str) -> pl.DataFrame:
    return loaded.validation.quarantine.select(pl.lit(code).alias("force"), pl.all())


def _read_task(payload: dict[str, Any], runner: SuiteRunner) -> tuple[Force, ForceSetup, LoadedExtract] | dict[str, Any]:
    force: Force = payload["force"]
    pack = load_pack(Path(payload["pack_dir"]))
    try:
        setup, loaded = read_force(force, pack, datetime.fromisoformat(payload["as_of"]), runner)
    except ForceRefused as exc:
        return {"code": force.code, "name": force.name, "status": "refused", "reason": str(exc)}
    return force, setup, loaded


def _suites_folder(payload: dict[str, Any]) -> Path:
    return Path(payload["work_dir"]) / "suites" / str(payload["force"].code)


def _stage_screen(loaded: LoadedExtract, pack: RulePack, setup: ForceSetup, folder: Path) -> None:
    """The narrative screen over the force's accepted tables, in DuckDB, staged as Parquet for Spark."""
    import pyarrow.parquet as pq

    from recordcheck.checks.narrative.screen import DEFAULT_MAX_CHARS, screen_frames

    assert pack.lexicons is not None
    frames = {name: loaded.validation.accepted[name] for name in loaded.validation.accepted}
    limit = int(setup.reference.limits.get("narrative_max_chars", DEFAULT_MAX_CHARS))
    for name, table in screen_frames(frames, pack.lexicons, limit).items():
        pq.write_table(table, folder / f"{name}.parquet")


def export_force(payload: dict[str, Any]) -> dict[str, Any]:
    """Executor task, validation step 1 on Spark: the force read and parsed, and each suite's
    query and inputs written for Spark. Returns {'code', 'status': 'exported', 'suites': folder}
    or the refusal."""
    folder = _suites_folder(payload)
    read = _read_task(payload, SuiteExport(folder))
    if isinstance(read, dict):
        return read
    force, _, loaded = read
    loaded.close()
    return {"code": force.code, "status": "exported", "suites": str(folder)}


def stage_force(payload: dict[str, Any]) -> dict[str, Any]:
    """Executor task: one force's front end, its accepted tables and quarantine to Parquet.

    Its runner hands on the failures Spark found for it (validation step 3). Returns the
    force's facts, or {'code', 'status': 'refused', 'reason'}."""
    read = _read_task(payload, RecordedFailures(_suites_folder(payload)))
    if isinstance(read, dict):
        return read
    force, setup, loaded = read
    work = Path(payload["work_dir"])
    try:
        facts = front_facts(force, setup, loaded)
        accepted_dir = work / "accepted" / force.code
        accepted_dir.mkdir(parents=True, exist_ok=True)
        for name in loaded.validation.accepted:
            loaded.validation.accepted[name].write_parquet(accepted_dir / f"{name}.parquet")
        pack = load_pack(Path(payload["pack_dir"]))
        if pack.screens:  # staged beside the accepted tables; check_force reads them where they are
            _stage_screen(loaded, pack, setup, accepted_dir)
        quarantine_dir = work / "quarantine" / f"force={force.code}"
        quarantine_dir.mkdir(parents=True, exist_ok=True)
        loaded.validation.quarantine.write_parquet(quarantine_dir / "part-0.parquet")
    finally:
        loaded.close()
    return {**facts, "status": "checked", "accepted_dir": str(accepted_dir)}
