"""The national job: every force through its front end and the pack, one run folder published
atomically (exceptions/ by force, summary.json, quarantine.parquet, manifest.json, national.html).
"""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks import __version__
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.marking import DEFAULT_MARKING, RUN_README, write_note
from recordcheck.checks.base.stats import wilson
from recordcheck.checks.engine.headline import CLASSIFICATION, TIMELINESS, UNRECORDED, rate_figure, rate_phrase
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.extract.parse import PROBLEM_SCHEMA
from recordcheck.checks.national import country, duckdb_engine, spark_engine
from recordcheck.checks.national.forces import Force, load_forces
from recordcheck.checks.national.funnel import funnel
from recordcheck.checks.nightly.comparison import single_writer
from recordcheck.checks.nightly.objectstore import object_staged_run, staging_root_for
from recordcheck.checks.nightly.publish import PUBLISH_MODES, check_output_folder, staged_run, write_json
from recordcheck.checks.validation.runners import DEFAULT_RUNNER, check_runner_name

KEY_FINDINGS = (*UNRECORDED, *TIMELINESS, *CLASSIFICATION)
"""The findings whose rules get a funnel plot: those behind the headline rates."""
LOCK_STORE = "recordcheck.duckdb"
QUARANTINE_SCHEMA = {"force": pl.String, **PROBLEM_SCHEMA}
"""quarantine.parquet: the force, then a force's own quarantine columns."""
MANIFEST_ONLY = ("validator", "inputs")
"""A force's facts kept in manifest.json (how it was read), not in summary.json (what was found)."""


@dataclass
class NationalOutcome:
    run_id: str
    run_dir: Path
    summary: dict[str, Any]
    refused: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def make_national_id(started: datetime) -> str:
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-national-{secrets.token_hex(2)}"


def execute_national(
    forces_source: Path,
    out_dir: Path,
    as_of: datetime,
    pack: RulePack,
    engine: str = "duckdb",
    master: str | None = None,
    verbose: bool = False,
    validator: str = DEFAULT_RUNNER,
    render: Callable[[Path], object] | None = None,
    on_force: Callable[[str, str], None] | None = None,
    publish: str = "folder",
    staging_root: Path | None = None,
) -> NationalOutcome:
    """Check every force and publish the national run folder in one step: renamed into place
    (`publish="folder"`), or for object storage written file by file after staging under
    `staging_root`, then its commit marker and the `_latest` pointer (checks/nightly/objectstore.py)."""
    if publish not in PUBLISH_MODES:
        raise ConfigError(f"publish must be one of {', '.join(PUBLISH_MODES)}, not {publish!r}")
    forces = load_forces(forces_source)
    check_runner_name(validator)  # a wrong name stops the whole run, before any force is read
    if engine == "spark" and validator != DEFAULT_RUNNER:
        raise ConfigError(
            f"--validator {validator} runs with --engine duckdb; on Spark the suites run as Spark SQL "
            "(the SQL runner's queries, which a test holds to the same quarantine)"
        )
    started_at = datetime.now(UTC)
    check_output_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run_id = make_national_id(started_at)
    timings: dict[str, float] = {}
    tell = on_force or (lambda _code, _state: None)
    if publish == "object":  # no lock file on an object store: the staging side holds the one writer
        root = staging_root_for(staging_root)
        root.mkdir(parents=True, exist_ok=True)
        held = single_writer(root, root / LOCK_STORE, "recordcheck national")
        staged = object_staged_run(out_dir, run_id, root)
    else:
        held, staged = single_writer(out_dir, out_dir / LOCK_STORE, "recordcheck national"), staged_run(out_dir, run_id)
    with held, staged as staging:
        started = time.perf_counter()
        if engine == "spark":
            per_force = _run_spark(forces, pack, as_of, run_id, staging, master, verbose, tell, timings)
        else:
            per_force = _run_duckdb(forces, pack, as_of, validator, run_id, staging, tell)
        timings["forces"] = time.perf_counter() - started
        summary = national_summary(per_force, pack, as_of, run_id, engine)
        examples = {f["code"]: f.pop("examples", []) for f in per_force}
        write_json(staging / "summary.json", summary)
        write_json(staging / "examples.json", examples)
        write_json(staging / "manifest.json", _manifest(summary, per_force, pack, forces_source, timings))
        if render is not None:
            started = time.perf_counter()
            render(staging)
            timings["report"] = time.perf_counter() - started
        write_note(
            staging / RUN_README,
            DEFAULT_MARKING,
            f"recordcheck national run {run_id}",
            sorted(p.name for p in staging.iterdir() if not p.name.startswith(".")),
        )
    refused = [f for f in per_force if f["status"] == "refused"]
    return NationalOutcome(run_id, out_dir / run_id, summary, refused, timings)


def _run_duckdb(
    forces: list[Force],
    pack: RulePack,
    as_of: datetime,
    validator: str,
    run_id: str,
    staging: Path,
    tell: Callable[[str, str], None],
) -> list[dict[str, Any]]:
    per_force, quarantines = [], []
    for force in forces:
        tell(force.code, "checking")
        figures, quarantine = duckdb_engine.check_force(force, pack, as_of, validator, run_id, staging)
        per_force.append(figures)
        if quarantine is not None:
            quarantines.append(quarantine)
        tell(force.code, figures["status"])
    frame = pl.concat(quarantines) if quarantines else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    frame.write_parquet(staging / "quarantine.parquet")
    return per_force


def _run_spark(
    forces: list[Force],
    pack: RulePack,
    as_of: datetime,
    run_id: str,
    staging: Path,
    master: str | None,
    verbose: bool,
    tell: Callable[[str, str], None],
    timings: dict[str, float],
) -> list[dict[str, Any]]:
    from recordcheck.checks.spark.session import is_connect, spark_session

    started = time.perf_counter()
    spark = spark_session(master, verbose, app=f"recordcheck national {run_id}")
    timings["spark_start"] = time.perf_counter() - started
    work = staging / ".work"
    try:
        started = time.perf_counter()
        staged = spark_engine.stage_forces(spark, forces, pack, as_of, work)
        timings["front_end"] = time.perf_counter() - started
        started = time.perf_counter()
        by_force = spark.conf.get(spark_engine.FORCE_BY_FORCE, "false").lower() == "true"
        if not by_force and not is_connect(spark):  # the pack once a group of alike forces (national/country.py)
            per_force = country.check_country(spark, forces, staged, pack, as_of, run_id, staging, tell)
        else:
            per_force = spark_engine.check_force_by_force(spark, forces, staged, pack, as_of, run_id, staging, tell)
        timings["rules"] = time.perf_counter() - started
        spark_engine.write_quarantine(spark, work, staging)
        if not (staging / "quarantine.parquet").exists():
            pl.DataFrame(schema=QUARANTINE_SCHEMA).write_parquet(staging / "quarantine.parquet")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return per_force


def national_summary(
    per_force: list[dict[str, Any]], pack: RulePack, as_of: datetime, run_id: str, engine: str
) -> dict[str, Any]:
    """Per force, per rule and per stratum, and nationally: the figures every output is built from."""
    checked = [f for f in per_force if f["status"] == "checked"]
    rules: list[dict[str, Any]] = []
    funnels = []
    for rule in pack.rules:
        points = [
            (f["code"], r["population"], r["breaches"])
            for f in checked
            for r in f["rules"]
            if r["id"] == rule.id and r["status"] == "run"
        ]
        population = sum(n for _, n, _ in points)
        breaches = sum(b for _, _, b in points)
        interval = wilson(breaches, population)
        rules.append(
            {
                "id": rule.id,
                "title": next((r["title"] for f in checked for r in f["rules"] if r["id"] == rule.id), rule.title),
                "finding": rule.finding,
                "severity": rule.severity,
                "forces_run": len(points),
                "population": population,
                "breaches": breaches,
                "rate": breaches / population if population else None,
                "rate_low": interval[0] if interval else None,
                "rate_high": interval[1] if interval else None,
            }
        )
        if rule.finding in KEY_FINDINGS and (plot := funnel(rule.id, rules[-1]["title"], points)) is not None:
            funnels.append(plot)
    headline: dict[str, Any] = {
        name: rate_figure(
            sum(f["headline"][name]["compliant"] for f in checked), sum(f["headline"][name]["total"] for f in checked)
        )
        for name in ("recording", "recording_reports", "timeliness", "classification")
    }
    headline["recording"]["unit"] = "crimes"
    # the victims in public protection, each group summed over the forces checked
    groups: dict[str, dict[str, Any]] = {}
    for force in checked:
        for group in force["headline"].get("groups") or []:
            into = groups.setdefault(group["group"], {"label": group["label"], "compliant": 0, "total": 0})
            into["compliant"] += int(group["compliant"])
            into["total"] += int(group["total"])
    headline["groups"] = [
        {"group": key, "label": g["label"], **rate_figure(g["compliant"], g["total"])} for key, g in groups.items()
    ]
    return {
        "run_id": run_id,
        "kind": "national",
        "as_of": as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "engine": engine,
        "rule_pack": {"name": pack.name, "version": pack.version, "sha256": pack.digest},
        "forces": [{k: v for k, v in f.items() if k not in (*MANIFEST_ONLY, "present", "accepted_dir")} for f in per_force],
        "refused": [
            {"code": f["code"], "name": f["name"], "reason": f["reason"]} for f in per_force if f["status"] == "refused"
        ],
        "national": {
            "forces_checked": len(checked),
            "register_rows": sum(f["register_rows"] for f in checked),
            "quarantined_rows": sum(f["quarantined_rows"] for f in checked),
            "headline": headline,
            "rules": rules,
        },
        "funnels": funnels,
    }


def _manifest(
    summary: dict[str, Any], per_force: list[dict[str, Any]], pack: RulePack, source: Path, timings: dict[str, float]
) -> dict[str, Any]:
    return {
        "run_id": summary["run_id"],
        "kind": "national",
        "recordcheck": __version__,
        "as_of": summary["as_of"],
        "engine": summary["engine"],
        "forces_source": str(source),
        "rule_pack": {**summary["rule_pack"], "directory": str(pack.directory)},
        "forces": [
            {k: f.get(k) for k in ("code", "name", "status", "reason", "extract", "profile", "config", *MANIFEST_ONLY)}
            for f in per_force
        ],
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
    }


def headline_lines(outcome: NationalOutcome) -> list[str]:
    """The short headline a registrar (or an inspector) reads at a glance: what was checked, the
    national recording rate, which forces stand out on the funnel plots, and the verdict."""
    national = outcome.summary["national"]
    recording = national["headline"]["recording"]
    rate = rate_phrase(recording, "national recording rate", counts=True)
    lines = [
        f"Forces: {national['forces_checked']} checked, {len(outcome.refused)} refused; {rate}; "
        f"{national['register_rows']:,} finding(s).",
    ]
    for limits, positions in (("99.8%", ("outlier",)), ("95%", ("alert",))):
        stand_out = [
            f"{plot['rule']} {point['force']} {point['position'].rsplit('-', 1)[-1]}"
            for plot in outcome.summary["funnels"]
            for point in plot["points"]
            if point["position"].startswith(positions)
        ]
        lines.append(f"Outside the {limits} limits: {', '.join(stand_out) if stand_out else 'none'}.")
    for force in outcome.refused:
        lines.append(f"REFUSED {force['code']} ({force['name']}): {force['reason']}")
    verdict = f"{len(outcome.refused)} force(s) refused, the others published" if outcome.refused else "every force checked"
    lines.append(f"Verdict: {verdict}.")
    return lines
