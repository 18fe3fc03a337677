"""One nightly run: validate the extract, run the rule pack, publish the run folder atomically."""

from __future__ import annotations

import hashlib
import json
import platform
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks import __version__
from recordcheck.checks.audit.sample import POPULATION, write_population
from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.logs import bind
from recordcheck.checks.base.london import london_date
from recordcheck.checks.base.marking import DEFAULT_MARKING, RUN_README, write_note
from recordcheck.checks.base.progress import Quiet, Reporter
from recordcheck.checks.base.refdata import ReferenceData
from recordcheck.checks.base.safecsv import write_csv
from recordcheck.checks.engine.engine import EngineResult, run_pack
from recordcheck.checks.engine.headline import headline_figures, net_of_false_positives, rate_phrase, rule_net
from recordcheck.checks.engine.register import build_register, district_findings, summary
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.extract.profile import SourceProfile
from recordcheck.checks.extract.reader import release_arrow_memory
from recordcheck.checks.nightly.comparison import (
    RECORD_TABLES,
    annotate,
    changes,
    checkpoint,
    how_resolved,
    night_breaches,
    prune,
    recover,
    single_writer,
    suppressed_by_rule,
)
from recordcheck.checks.nightly.due import (
    DueList,
    due_phrase,
    notify,
)
from recordcheck.checks.nightly.publish import check_output_folder, outbox, staged_run, write_json
from recordcheck.checks.nightly.run_outputs import (
    decision_summary,
    history_for_report,
    open_findings,
    report_period,
    resolved_rows,
    store_row,
    write_register,
)
from recordcheck.checks.nightly.store import DECISION_LOG, RELEASED, RUN_ID, STORE_NAME, RunStore
from recordcheck.checks.validation.pipeline import LoadedExtract, load_extract, sha256_of
from recordcheck.checks.validation.runners import DEFAULT_RUNNER, make_runner


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    loaded: LoadedExtract
    timings: dict[str, float] = field(default_factory=dict)
    threshold_breaches: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    """Why the run could not check everything (tables over their quarantine share, rules not run)."""
    notified: str | None = None
    """What the config's notify command did with the due list (None: not run)."""


def make_run_id(started: datetime, loaded: LoadedExtract) -> str:
    """Start time, inputs' hash, and a random part: two runs of one extract in one second differ."""
    digest = hashlib.sha256("".join(f.sha256 for f in loaded.files).encode()).hexdigest()[:8]
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest}-{secrets.token_hex(2)}"


def write_quarantine(path: Path, loaded: LoadedExtract) -> None:
    write_csv(loaded.validation.quarantine, path)


def counts_as_data(loaded: LoadedExtract) -> dict[str, Any]:
    return {
        name: {
            "read": c.read,
            "accepted": c.accepted,
            "quarantined": c.quarantined,
            "quarantined_by_check": c.by_check,
        }
        for name, c in loaded.validation.counts.items()
    }


def manifest(
    run_id: str,
    extract_dir: Path,
    profile: SourceProfile,
    reference: ReferenceData,
    config: RunConfig,
    as_of: datetime,
    loaded: LoadedExtract,
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "tool": {"name": "recordcheck", "version": __version__, "python": platform.python_version()},
        "as_of": as_of.isoformat(),
        "extract_dir": str(extract_dir),
        "inputs": [
            {
                "table": f.table,
                "file": f.path.name,
                "path": str(f.path.resolve()),
                "size_bytes": f.size_bytes,
                "sha256": f.sha256,
            }
            for f in loaded.files
        ],
        "profile": {"name": profile.name, "path": str(profile.path), "sha256": sha256_of(profile.path)},
        "config": str(config.path) if config.path else None,
        "validation": {"engine": loaded.validation.runner, "tables": counts_as_data(loaded)},
        "reference_data": reference.provenance,
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "marking": str(config.report.get("marking") or DEFAULT_MARKING),
        **(extra or {}),
    }


def execute_run(
    extract_dir: Path,
    out_dir: Path,
    profile: SourceProfile,
    reference: ReferenceData,
    config: RunConfig,
    as_of: datetime,
    pack: RulePack,
    progress: Reporter | None = None,
    render: Callable[..., None] | None = None,
    validator: str = DEFAULT_RUNNER,
    store_path: Path | None = None,
    keep: int | None = None,
    new_store: bool = False,
    purpose: str = "nightly",
) -> RunOutcome:
    """One night, its steps in order: load, rules, judge, write and publish (the store records
    the run as the last act of publishing), then prune.

    Each step takes what the one before returned. `render` (the reports layer, passed in by the
    CLI) writes the HTML from the run folder's own results; the engine never imports the reports.
    The run holds OUT_DIR (and the store) for one writer; `checks/nightly/comparison.py` gives the
    order of publishing and recording.
    """
    started_at = datetime.now(UTC)
    progress = progress or Quiet()
    bind(as_of=as_of.isoformat())
    check_output_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store_path = store_path or out_dir / STORE_NAME
    inputs = RunInputs(extract_dir, out_dir, profile, reference, config, as_of, pack, purpose)
    with single_writer(out_dir, store_path, "recordcheck run"), outbox(out_dir) as own_outbox:
        if not new_store:
            check_store_knows_runs(out_dir, store_path)
        loaded = _load(inputs, validator, progress, own_outbox)
        try:
            # the store is opened only once the extract is accepted: a rejected one leaves OUT_DIR as it was
            with RunStore(store_path) as store:
                recover(out_dir, store)
                run_id = make_run_id(started_at, loaded)
                bind(run_id=run_id)
                timings = dict(loaded.timings)  # the night's stages, the load's first
                release_arrow_memory()  # the load's batches
                engine = _run_rules(loaded, inputs, run_id, progress, timings)
                judged = _judge(engine, loaded, inputs, store, run_id)
                release_arrow_memory()  # the rules' register frames, once concatenated
                outcome = _publish(judged, engine, loaded, inputs, store, started_at, progress, render, timings)
                if keep is not None:
                    prune(out_dir, store, keep, published=run_id)
                # after publishing, outside the run's verdict: a notice that fails is said, not fatal
                outcome.notified = notify(config.notify, outcome.run_dir, judged.due_list)
        finally:
            loaded.close()
    return outcome


STALE_DAYS = 7
"""The newest report this many days or more before the as-of draws a warning (fail_on.stale_input_days
makes any number of days fail the night)."""


def input_checks(
    loaded: LoadedExtract, store: RunStore, previous_run: str | None, as_of: datetime, newest: str | None
) -> dict[str, Any]:
    """Is tonight's export new? The same files as the baseline night's (an export job that did not
    run), and how old its newest report is against the as-of (an old export, or a wrong --as-of)."""
    same = bool(previous_run) and store.input_hashes(previous_run or "") == sorted(f.sha256 for f in loaded.files)
    age = (london_date(as_of) - date.fromisoformat(newest[:10])).days if newest else None
    warnings = []
    if same:
        warnings.append(f"the export is, file for file, the one run {previous_run} read: did tonight's export run?")
    if age is not None and newest and age >= STALE_DAYS:
        warnings.append(
            f"the newest report is {age} days before the as-of ({newest[:10]}): an old export, or the wrong --as-of?"
        )
    return {"same_as_run": previous_run if same else None, "newest_report_age_days": age, "warnings": warnings}


def profile_gaps(run_summary: dict[str, Any], loaded: LoadedExtract, config: RunConfig) -> None:
    """What the profile left out that tonight's rules needed (`LoadedExtract.profile_gaps`), read
    by the rules that ran: `input_checks.profile_gaps` holds the reasons the night is incomplete,
    and the rest (and unread dates' advice) join the headline's warnings."""
    readers: dict[str, list[str]] = {}
    for rule in run_summary["rules"]:
        if rule["status"] == "run":
            for table in rule.get("requires") or []:
                readers.setdefault(table, []).append(rule["id"])
    checks = run_summary["input_checks"]
    checks["profile_gaps"], warnings = loaded.profile_gaps(readers, config)
    checks["warnings"] += warnings
    if advice := loaded.date_order_advice():
        checks["warnings"].append(advice)


def check_store_knows_runs(out_dir: Path, store_path: Path) -> None:
    """Refuse a night whose run store is lost or replaced: OUT holds published runs the store does
    not know. Going on would reset the history (every finding new), lose the auditors' decisions
    and stop --keep pruning, without a word; `--new-store` starts afresh knowingly."""
    folders = {
        p.name
        for p in out_dir.iterdir()
        if p.is_dir() and not p.is_symlink() and RUN_ID.match(p.name) and (p / "manifest.json").is_file()
    }
    if not folders:
        return
    lost = (
        "the history the store keeps (new, recurring and resolved would restart), the auditors' decisions, "
        "the releases of redacted reports, and --keep's pruning of these folders"
    )
    if not store_path.is_file():
        raise ConfigError(
            f"{out_dir} holds {len(folders):,} published run(s) but there is no run store at {store_path}. "
            f"Restore it; or, to start a new one knowingly, give --new-store (lost: {lost})"
        )
    with RunStore(store_path) as store:
        known = set(store.complete_runs())
    if not folders & known:
        raise ConfigError(
            f"the run store at {store_path} knows none of the {len(folders):,} run(s) in {out_dir} (a replaced "
            f"store?). Restore the right one; or give --new-store to go on with this one (lost: {lost})"
        )


@dataclass(frozen=True)
class RunInputs:
    """What a run was asked to do: the extract, where to publish, and what to check it with."""

    extract_dir: Path
    out_dir: Path
    profile: SourceProfile
    reference: ReferenceData
    config: RunConfig
    as_of: datetime
    pack: RulePack
    purpose: str = "nightly"
    """'nightly', or 'due': a daytime run for the due list, stored but never a night's baseline."""


def _load(inputs: RunInputs, validator: str, progress: Reporter, own_outbox: Path | None = None) -> LoadedExtract:
    """Read, parse and validate the extract into the run's database (nothing is published yet)."""
    with progress.stage("validate"):
        loaded = load_extract(
            inputs.extract_dir,
            inputs.profile,
            inputs.reference,
            inputs.as_of,
            make_runner(validator),
            inputs.config.engine,
            inputs.pack.suites_dir,
            on_rows=progress.rows,
            outbox=own_outbox,
        )
        for table, counted in loaded.validation.counts.items():
            progress.rows(table, counted.read)  # every table's rows, links built from columns included
        progress.counts(
            rows_total=sum(c.read for c in loaded.validation.counts.values()),
            quarantined=sum(c.quarantined for c in loaded.validation.counts.values()),
        )
    return loaded


def _run_rules(
    loaded: LoadedExtract, inputs: RunInputs, run_id: str, progress: Reporter, timings: dict[str, float]
) -> EngineResult:
    """The rule pack over the accepted tables; its seconds go into the night's `timings`."""
    config = inputs.config
    with progress.stage("rules"):
        started = time.perf_counter()
        engine = run_pack(
            inputs.pack,
            inputs.reference,
            inputs.as_of,
            loaded.validation.accepted,
            run_id,
            disabled=config.disabled_rules,
            settings=config.engine,
            unusable=loaded.unusable,
            districts=config.districts,
        )
        timings["rules"] = time.perf_counter() - started
        timings.update({f"rules.{k}": v for k, v in engine.seconds.items()})
        progress.counts(findings=engine.register.height, rules_not_run=sum(r.status != "run" for r in engine.results))
    return engine


def _write_run_folder(
    staging: Path,
    judged: Judgement,
    engine: EngineResult,
    loaded: LoadedExtract,
    inputs: RunInputs,
    render: Callable[..., None] | None,
    timings: dict[str, float],
    released: dict[str, list[int]] | None = None,
) -> dict[str, Any]:
    """Every output into the staging folder; returns the manifest (what the store records).
    `released`: what disclosure-safe reports have released so far (for a redacted report)."""
    started = time.perf_counter()
    write_quarantine(staging / "quarantine.csv", loaded)
    write_register(judged.register, staging)
    write_csv(resolved_rows(judged.resolved, judged.previous_run), staging / "resolved.csv")
    write_json(staging / "history.json", judged.history)
    write_csv(judged.decision_log, staging / DECISION_LOG)
    write_json(staging / "summary.json", judged.summary)
    write_json(staging / "measures.json", engine.measures)
    write_population(loaded.validation.accepted, inputs.reference.offence_catalogue, staging / POPULATION)
    judged.due_list.write(staging)
    timings["write"] = time.perf_counter() - started
    pack = inputs.pack
    pack_facts = {
        "rule_pack": {
            "name": pack.name,
            "version": pack.version,
            "sha256": pack.digest,
            "directory": str(pack.directory),
            "rules": len(pack.rules),
        }
    }
    run_manifest = manifest(
        judged.run_id,
        inputs.extract_dir,
        inputs.profile,
        inputs.reference,
        inputs.config,
        inputs.as_of,
        loaded,
        timings,
        pack_facts,
    )
    write_json(staging / "manifest.json", run_manifest)
    write_note(
        staging / RUN_README,
        run_manifest["marking"],
        f"recordcheck run {judged.run_id}",
        sorted(p.name for p in staging.iterdir() if p.is_file()) + ["report.html"] * (render is not None),
    )
    if render is not None:
        started = time.perf_counter()
        render(staging, run_manifest, released)
        timings["report"] = time.perf_counter() - started
        run_manifest["timings_seconds"]["report"] = round(timings["report"], 3)
        write_json(staging / "manifest.json", run_manifest)
    return run_manifest


def _publish(
    judged: Judgement,
    engine: EngineResult,
    loaded: LoadedExtract,
    inputs: RunInputs,
    store: RunStore,
    started_at: datetime,
    progress: Reporter,
    render: Callable[..., None] | None,
    timings: dict[str, float],
) -> RunOutcome:
    """Write the run folder into staging, publish it in one step, and record the run in the store
    as the last act of publishing (`staged_run` calls `commit` once the folder is in place)."""
    written: dict[str, Any] = {}

    released = store.latest_release()

    def commit() -> None:
        row = store_row(judged.summary, written["manifest"], started_at, loaded, judged.exit_code)
        store.record_run(row, judged.summary["rules"], judged.register, judged.due_items)
        cells = inputs.out_dir / judged.run_id / RELEASED
        if cells.is_file():
            store.add_release(judged.run_id, json.loads(cells.read_text(encoding="utf-8")), datetime.now(UTC))

    newest = store.latest_as_of()  # `latest` follows the newest night: re-running an older one leaves it
    repoint = newest is None or inputs.as_of >= newest
    with (
        progress.stage("publish"),
        staged_run(
            inputs.out_dir,
            judged.run_id,
            commit,
            checkpoint,
            repoint=repoint,
            group_read=inputs.config.output_mode == "group",
        ) as staging,
    ):
        progress.counts(
            exceptions=judged.register.height,
            new=judged.summary["changes"]["new"],
            resolved=judged.summary["changes"]["resolved"],
            exit_code=judged.exit_code,
        )
        written["manifest"] = _write_run_folder(staging, judged, engine, loaded, inputs, render, timings, released)
    return RunOutcome(judged.run_id, inputs.out_dir / judged.run_id, loaded, timings, judged.breaches, judged.not_checked)


@dataclass
class Judgement:
    """What a night's findings amount to: the annotated register, what resolved, the summary,
    the thresholds breached, what could not be checked, and the exit code that follows."""

    run_id: str
    summary: dict[str, Any]
    register: pl.DataFrame
    resolved: pl.DataFrame
    previous_run: str | None
    breaches: list[str]
    not_checked: list[str]
    exit_code: int
    history: dict[str, Any]
    """The earlier nights the report's trends show (from the store), with tonight's figures."""
    decision_log: pl.DataFrame
    """Every auditor's decision in the store, oldest first (decisions.csv in the run folder)."""
    due_list: DueList
    """Tonight's due list as published (due.csv): what will breach, and when."""
    due_items: bool = False
    """Whether this run moves the open due items on (not when an older night is re-run)."""


def _judge(engine: EngineResult, loaded: LoadedExtract, inputs: RunInputs, store: RunStore, run_id: str) -> Judgement:
    """Compare the night with the previous one, apply the decisions and thresholds, and sum up."""
    config, as_of, reference = inputs.config, inputs.as_of, inputs.reference
    accepted = loaded.validation.accepted
    unknown_districts = district_findings(accepted, config.districts, run_id)
    register, resolved, previous_run = annotate(
        build_register(engine, loaded.validation.quarantine, run_id, [unknown_districts]), store, as_of
    )
    counts = counts_as_data(loaded)
    quarantined = sum(c.quarantined for c in loaded.validation.counts.values())
    run_summary = summary(engine, config, counts, quarantined, reference, suppressed_by_rule(register))
    run_summary["findings"]["data_quality"] += unknown_districts.height
    run_summary.update(
        {"run_id": run_id, "as_of": as_of.isoformat(), "register_rows": register.height, "purpose": inputs.purpose}
    )
    run_summary["headline"] = headline_figures(run_summary["rules"], register, engine.measures)
    net_of_false_positives(run_summary["headline"], register, engine.measures)
    for rule in run_summary["rules"]:
        rule["net"] = rule_net(rule)
    decision_log = store.decision_log()
    run_summary["decisions"] = decision_summary(register, decision_log)
    run_summary["previous_run"] = previous_run
    run_summary["period"] = report_period(loaded)
    relations = {table: accepted.relation(table) for table, _ in RECORD_TABLES.values() if table in accepted}
    resolved = how_resolved(resolved, loaded.database.con, relations, run_summary["period"]["first"])
    run_summary["changes"] = changes(register, resolved)
    run_summary["open_high"] = open_findings(register, "high")
    assert engine.due_table is not None, "a night's rules run on its accepted tables"
    assert loaded.database.outbox is not None, "a night's database writes through its outbox"
    due_list = DueList.publish(loaded.database.con, engine.due_table, as_of, loaded.database.outbox)
    run_summary["due"] = due_list.summary()
    # the due items' outcomes move on only with the newest run (re-running an older night leaves them)
    newest = store.latest_as_of()
    due_items = newest is None or as_of >= newest
    if due_items:
        with due_list.keys() as keys:
            store.due_after(run_id, as_of, keys, register.filter(pl.col("rule_id") != "QUARANTINE"))
    run_summary["due"]["weeks"] = store.due_weeks(tonight=due_items)
    run_summary["input_checks"] = input_checks(loaded, store, previous_run, as_of, run_summary["period"].get("last"))
    profile_gaps(run_summary, loaded, config)
    table_rows = {name: c.read for name, c in loaded.validation.counts.items()}
    previous_rows = store.table_rows(previous_run) if previous_run else {}
    breaches = [r["id"] for r in run_summary["rules"] if r["threshold"] == "error"]
    breaches += night_breaches(config.fail_on, run_summary, register, table_rows, previous_rows)
    run_summary["threshold_breaches"] = breaches
    run_summary["table_rows"] = table_rows
    not_checked = incomplete(run_summary, config)
    exit_code = 9 if not_checked else 1 if breaches else 0
    run_summary["exit_code"] = exit_code
    run_summary["incomplete"] = not_checked

    run_summary["audit"] = store.latest_audit()
    history = history_for_report(store, run_summary)
    return Judgement(
        run_id,
        run_summary,
        register,
        resolved,
        previous_run,
        breaches,
        not_checked,
        exit_code,
        history,
        decision_log,
        due_list,
        due_items,
    )


def quarantine_over_share(tables: dict[str, tuple[int, int, dict[str, int]]], config: RunConfig) -> list[str]:
    """A line for each table (read, quarantined, by check) quarantined past the configured share."""
    reasons = []
    for name, (read, quarantined, by_check) in tables.items():
        if read and quarantined / read > config.max_quarantine_share:
            top = sorted(by_check.items(), key=lambda kv: -kv[1])[:3]
            reasons.append(
                f"{name}: {quarantined:,} of {read:,} rows quarantined "
                f"({quarantined / read:.1%}, over {config.max_quarantine_share:.0%}); "
                f"top checks {', '.join(f'{k} {v:,}' for k, v in top)}"
            )
    return reasons


def empty_tables(run_summary: dict[str, Any]) -> list[str]:
    """Tables present with a header and no rows: the rules that read them judged nothing."""
    return [name for name, counts in run_summary["tables"].items() if counts and not counts.get("read")]


def incomplete(run_summary: dict[str, Any], config: RunConfig) -> list[str]:
    """What this run could not check: a table mostly set aside, or a rule that could not run."""
    reasons = quarantine_over_share(
        {
            name: (counts["read"], counts["quarantined"], counts["quarantined_by_check"])
            for name, counts in run_summary["tables"].items()
            if counts
        },
        config,
    )
    reasons += (run_summary.get("input_checks") or {}).get("profile_gaps") or []
    empty = empty_tables(run_summary)
    if empty:
        # a file with a header and no rows: the rules that read it ran on nothing and found nothing
        readers = [
            r["id"] for r in run_summary["rules"] if r["status"] == "run" and set(r.get("requires") or []) & set(empty)
        ]
        reasons.append(
            f"{', '.join(empty)}: a header and no rows; "
            + (f"{', '.join(readers)} judged nothing" if readers else "no rule reads it")
        )
    for rule in run_summary["rules"]:
        parts = [p for p in rule.get("parts_not_run") or [] if f"{rule['id']}.{p['part']}" not in config.disabled_rules]
        if rule["status"] == "run" and parts and rule["id"] not in config.disabled_rules:
            reasons.append(
                f"{rule['id']} ran in part: "
                + "; ".join(f"{p['part']} not checked ({p['why']})" for p in parts)
                + f"; list {', '.join(rule['id'] + '.' + p['part'] for p in parts)} under rules.disable if that is known"
            )
    skipped = [r["id"] for r in run_summary["rules"] if r["status"] != "run" and r["id"] not in config.disabled_rules]
    if len(skipped) == 1:
        (rule,) = [r for r in run_summary["rules"] if r["id"] == skipped[0]]
        reasons.append(f"{rule['id']} did not run ({rule['reason_not_run']}); list it under rules.disable if that is known")
    elif skipped:
        reasons.append(
            f"{len(skipped)} rules did not run: {', '.join(skipped)} (why: the Rules line); "
            "list them under rules.disable if that is known"
        )
    return reasons


def resolved_phrase(changes: dict[str, Any]) -> str:
    """' (fixed 3, left the extract 1)': how the resolved closed, when any did not close by a fix;
    a finding whose record left the extract is never counted as fixed."""
    how = changes.get("resolved_how") or {}
    if not any(how.get(state) for state in ("left_the_extract", "aged_out")):
        return ""
    return " (" + ", ".join(f"{state.replace('_', ' ')} {n:,}" for state, n in how.items() if n) + ")"


def headline(run_summary: dict[str, Any]) -> list[str]:
    """The few lines a registrar reads first: findings by kind, rows set aside, what changed since
    the previous night, the recording rate, rules that did not run, and the verdict. Counts and
    codes only."""
    tables = [t for t in run_summary["tables"].values() if t]
    read = sum(t["read"] for t in tables)
    quarantined = sum(t["quarantined"] for t in tables)
    findings = {k: v for k, v in sorted(run_summary["findings"].items(), key=lambda kv: -kv[1]) if v}
    total = sum(findings.values())
    kinds = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in findings.items()) or "none"
    not_run = [f"{r['id']} ({r['reason_not_run']})" for r in run_summary["rules"] if r["status"] != "run"]
    empty = set(empty_tables(run_summary))
    not_run += [
        f"{r['id']} (ran on no rows: {', '.join(sorted(empty & set(r.get('requires') or [])))} empty)"
        for r in run_summary["rules"]
        if r["status"] == "run" and empty & set(r.get("requires") or [])
    ]
    not_run += [
        f"{r['id']} part {p['part']} ({p['why']}; the rest ran)"
        for r in run_summary["rules"]
        if r["status"] == "run"
        for p in r.get("parts_not_run") or []
    ]
    breached = [r["id"] for r in run_summary["rules"] if r["threshold"] == "error"]
    warned = [r["id"] for r in run_summary["rules"] if r["threshold"] == "warn"]
    lines = [
        f"Headline: {total} finding(s) on {read:,} rows read, {quarantined:,} quarantined"
        + (f" ({quarantined / read:.1%})" if read else "")
        + f". {kinds}.",
        "Rules: "
        + (f"{len(not_run)} not run: {'; '.join(not_run)}" if not_run else "all ran")
        + (f"; error threshold breached by {', '.join(breached)}" if breached else "")
        + (f"; warning threshold passed by {', '.join(warned)}" if warned else "")
        + ".",
    ]
    if "changes" in run_summary:
        changes = run_summary["changes"]
        rate = rate_phrase(run_summary["headline"]["recording"], counts=True)
        lines.insert(
            1,
            f"Tonight: {changes['new']:,} new, {changes['recurring']:,} recurring, {changes['resolved']:,} resolved"
            f"{resolved_phrase(changes)}; "
            f"{run_summary['open_high']:,} high-severity open; {rate}.",
        )
        for warning in (run_summary.get("input_checks") or {}).get("warnings") or []:
            lines.insert(2, f"Warning: {warning}" + ("" if warning.endswith("?") else "."))
        baseline = run_summary.get("previous_run")
        daytime = " (a daytime due run: stored, never a night's baseline)" if run_summary.get("purpose") == "due" else ""
        lines.insert(
            2,
            f"Compared with: {f'run {baseline}, the last complete night' if baseline else 'no earlier complete night'}"
            f"{daytime}.",
        )
    if (due := due_phrase(run_summary.get("due"))) is not None:
        lines.insert(next(i for i, line in enumerate(lines) if line.startswith("Rules:")), due)
    night = [b for b in run_summary.get("threshold_breaches", []) if b not in breached]
    code = run_summary.get("exit_code")
    verdict = {0: "no threshold breached", 1: "threshold breached", 9: "incomplete: not everything could be checked"}
    if code is not None:
        why = night if code != 9 else run_summary.get("incomplete") or []
        lines.append(f"Verdict: {verdict.get(code, str(code))}" + (f" ({'; '.join(why)})" if why else "") + ".")
    return lines
