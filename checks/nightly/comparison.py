"""The nightly cycle: one writer at a time, each night compared with the one before, auditors'
decisions carried forward, and a publish order that a crash at any instant cannot break.

**Publish order.** A run's outputs are written into a staging folder; then

1. the folder is moved into place as OUT/<run_id>, carrying an `.uncommitted` marker;
2. the run store records the run, its figures and its findings in one transaction;
3. the marker is removed;
4. `latest` is repointed at the new folder.

Killed before 1, nothing changed (the staging folder is swept up later). Between 1 and 2, a run
folder exists that the store does not know: it is marked, so the next run removes it. Between 2
and 4, the store knows the run but `latest` still names the previous one: the next run finishes
the job (removes the marker, repoints `latest`). At every instant `latest` names a complete run
folder, and once recovery has run, `latest` is the store's newest run.

**One writer.** A run and `review import` hold an exclusive lock on OUT_DIR (and on the store, when
it lives elsewhere) for their whole length; a second one exits at once with BUSY, naming the holder.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import polars as pl

from recordcheck.checks.base.config import FailOn
from recordcheck.checks.base.errors import Busy
from recordcheck.checks.base.london import LONDON_TZ, london_date
from recordcheck.checks.nightly.publish import LATEST, UNCOMMITTED, point_latest
from recordcheck.checks.nightly.store import AWAITING_SECOND_REVIEW, SUPPRESSING, RunStore, in_force, is_open

LOCK_NAME = ".recordcheck.lock"
CRASH_ENV = "RECORDCHECK_CRASH_AT"
"""Fault injection for the crash tests: the process kills itself (SIGKILL) at the named stage."""
STAGES = ("staged", "moved", "recorded", "unmarked")


def checkpoint(stage: str) -> None:
    """At the named stage: SIGKILL (RECORDCHECK_CRASH_AT=stage) or SIGTERM (=term:stage)."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted == stage:
        os.kill(os.getpid(), signal.SIGKILL)
    if wanted == f"term:{stage}":
        os.kill(os.getpid(), signal.SIGTERM)


# ---------------------------------------------------------------- one writer


def _take(path: Path, what: str, held: str) -> IO[str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # owner only: the lock names who holds the folder (a process on a host)
    handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600), "a+", encoding="utf-8")
    os.chmod(path, 0o600)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another recordcheck process"
        handle.close()
        raise Busy(f"{held} is in use: {holder}; try again when it has finished") from None
    handle.seek(0)
    handle.truncate()
    since = datetime.now().astimezone()
    handle.write(f"{what} (pid {os.getpid()} on {socket.gethostname()}, since {since:%Y-%m-%d %H:%M:%S %Z})")
    handle.flush()
    return handle


@contextmanager
def single_writer(out_dir: Path, store_path: Path, what: str) -> Iterator[None]:
    """Hold OUT_DIR (and the store's folder, when elsewhere) for one writer; BUSY otherwise."""
    locks = [(out_dir / LOCK_NAME, str(out_dir))]
    if store_path.parent.resolve() != out_dir.resolve():
        locks.append((store_path.with_name(store_path.name + ".lock"), f"the run store {store_path}"))
    with ExitStack() as stack:
        for path, held in locks:
            handle = _take(path, what, held)
            stack.callback(handle.close)
        yield


# ---------------------------------------------------------------- recovery


def recover(out_dir: Path, store: RunStore) -> list[str]:
    """Finish or undo what a killed run left: drop run folders the store never recorded, finish
    those it did, and point `latest` at the store's newest run. Returns what it did."""
    if not out_dir.is_dir():
        return []
    done = []
    known = store.complete_runs()
    for marker in sorted(out_dir.glob(f"*/{UNCOMMITTED}")):
        folder = marker.parent
        if folder.name in known:
            marker.unlink()
            done.append(f"finished {folder.name}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
            done.append(f"removed unrecorded {folder.name}")
    newest = next((run_id for run_id in reversed(known) if (out_dir / run_id).is_dir()), None)
    latest = out_dir / LATEST
    if newest is not None and (not latest.is_symlink() or os.readlink(latest) != newest):
        point_latest(out_dir, newest)
        done.append(f"latest -> {newest}")
    return done


def prune(out_dir: Path, store: RunStore, keep: int, published: str | None = None) -> list[str]:
    """Remove all but the newest `keep` run folders the store knows: never `latest`'s target, and
    never the run just `published` (an older night re-run is older than those kept, yet it is the
    one the command reports on)."""
    latest = out_dir / LATEST
    target = os.readlink(latest) if latest.is_symlink() else None
    runs = [r for r in store.complete_runs() if (out_dir / r).is_dir()]
    removed = []
    for run_id in runs[: max(0, len(runs) - keep)]:
        folder = out_dir / run_id
        spared = run_id in (target, published)
        if not spared and folder.resolve().parent == out_dir.resolve() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(run_id)
    return removed


# ---------------------------------------------------------------- change between nights


def apply_decisions(findings: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """`disposition` and `disposition_until` of each finding from the decisions in force (the
    store's latest per fingerprint): a decision holds only for the evidence it was made on. The
    night's register and `review export` both read decisions through this."""
    held = pl.col("_decided_on") == pl.col("evidence")
    return (
        findings.drop("disposition", "disposition_until", strict=False)
        .join(
            decisions.select(
                "fingerprint",
                pl.col("decision").alias("_decision"),
                pl.col("until").alias("_until"),
                pl.col("evidence").alias("_decided_on"),
            ),
            on="fingerprint",
            how="left",
        )
        .with_columns(
            pl.when(held).then(pl.col("_decision")).alias("disposition"),
            pl.when(held).then(pl.col("_until")).alias("disposition_until"),
        )
        .drop("_decision", "_until", "_decided_on")
    )


def annotate(register: pl.DataFrame, store: RunStore, as_of: datetime) -> tuple[pl.DataFrame, pl.DataFrame, str | None]:
    """Add change, first_seen, disposition and disposition_until to the register; return it with
    the previous run's findings that are no longer raised (resolved) and the previous run's id."""
    previous = store.previous_run(as_of)
    before = store.run_findings(previous.run_id) if previous else pl.DataFrame(schema={"fingerprint": pl.String})
    first = store.first_seen()
    tonight = london_date(as_of)
    decisions = in_force(store.latest_decisions(), tonight)
    seen_before = set(before["fingerprint"].to_list())
    annotated = (
        register.with_columns(
            pl.when(pl.col("fingerprint").is_in(list(seen_before)))
            .then(pl.lit("recurring"))
            .otherwise(pl.lit("new"))
            .alias("change")
        )
        .join(first.rename({"first_as_of": "_first"}), on="fingerprint", how="left")
        .with_columns(
            pl.min_horizontal(pl.col("_first"), pl.lit(as_of)).dt.convert_time_zone(LONDON_TZ).dt.date().alias("first_seen")
        )
        .drop("_first")
        .pipe(apply_decisions, decisions)
    )
    current = set(register["fingerprint"].to_list())
    resolved = before.filter(~pl.col("fingerprint").is_in(list(current))) if previous else before.clear()
    return annotated, resolved, previous.run_id if previous else None


RESOLVED_HOW = ("fixed", "left_the_extract", "aged_out")
"""How a finding raised last night and not tonight closed: its record is still in the extract
(fixed); its record is gone while it was open (left_the_extract: an integrity risk, never counted
as fixed); or its record is gone and its month is before tonight's window (aged_out)."""

RECORD_TABLES = {
    "referral": ("referrals", "referral_id"),
    "incident": ("incidents", "incident_id"),
    "crime": ("crimes", "crime_id"),
}
"""Where a register record type's records are, for telling a fixed finding from a vanished one."""


def how_resolved(resolved: pl.DataFrame, con: Any, relations: dict[str, str], window_first: str | None) -> pl.DataFrame:
    """`resolved` with a `how` column (RESOLVED_HOW). `relations`: tonight's accepted tables by
    name, in `con`; `window_first`: the London date of tonight's first report. A record type the
    extract has no table for (a quarantined row's finding) is counted fixed, as before."""
    if resolved.height == 0:
        return resolved.with_columns(pl.lit(None, pl.String).alias("how"))
    gone = resolved.select("record_type", "record_id").unique()
    con.register("_gone", gone.to_arrow())
    try:
        parts = [
            f"SELECT '{kind}' AS record_type, CAST({column} AS VARCHAR) AS record_id FROM {relations[table]} "
            f"WHERE CAST({column} AS VARCHAR) IN (SELECT record_id FROM _gone WHERE record_type = '{kind}')"
            for kind, (table, column) in RECORD_TABLES.items()
            if table in relations
        ]
        present = (
            pl.from_arrow(con.sql(" UNION ALL ".join(parts)).to_arrow_table())
            if parts
            else pl.DataFrame(schema={"record_type": pl.String, "record_id": pl.String})
        )
    finally:
        con.unregister("_gone")
    assert isinstance(present, pl.DataFrame)
    checked = [kind for kind, (table, _) in RECORD_TABLES.items() if table in relations]
    window_month = window_first[:7] if window_first else None
    month = pl.col("month") if "month" in resolved.columns else pl.lit(None, pl.String)
    still_there = present.unique().with_columns(pl.lit(True).alias("_present"))
    return (
        resolved.join(still_there, on=["record_type", "record_id"], how="left")
        .with_columns(
            pl.when(pl.col("_present").is_not_null() | ~pl.col("record_type").is_in(checked))
            .then(pl.lit("fixed"))
            .when(month.is_not_null() & (month < pl.lit(window_month)))
            .then(pl.lit("aged_out"))
            .otherwise(pl.lit("left_the_extract"))
            .alias("how")
        )
        .drop("_present")
    )


def changes(annotated: pl.DataFrame, resolved: pl.DataFrame) -> dict[str, Any]:
    """{new, recurring, resolved} overall and per rule, and the resolved by how they closed."""
    per_rule: dict[str, dict[str, int]] = {}
    for rule_id, change, n in annotated.group_by("rule_id", "change").len().iter_rows():
        per_rule.setdefault(str(rule_id), {"new": 0, "recurring": 0, "resolved": 0})[str(change)] = int(n)
    if resolved.height:
        for rule_id, n in resolved.group_by("rule_id").len().iter_rows():
            per_rule.setdefault(str(rule_id), {"new": 0, "recurring": 0, "resolved": 0})["resolved"] = int(n)
    total = {k: sum(v[k] for v in per_rule.values()) for k in ("new", "recurring", "resolved")}
    how = dict.fromkeys(RESOLVED_HOW, 0)
    if "how" in resolved.columns:
        for state, n in resolved.group_by("how").len().iter_rows():
            how[str(state)] = int(n)
    else:
        how["fixed"] = resolved.height
    return {**total, "resolved_how": how, "by_rule": dict(sorted(per_rule.items()))}


def suppressed_by_rule(annotated: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per rule: findings taken out of the threshold counts (false positive or waived), false
    positives, and findings with any decision in force (reviewed)."""
    counted: dict[str, dict[str, int]] = {}
    for rule_id, disposition, n in annotated.group_by("rule_id", "disposition").len().iter_rows():
        if disposition is None or disposition == AWAITING_SECOND_REVIEW:
            continue
        entry = counted.setdefault(str(rule_id), {"suppressed": 0, "false_positives": 0, "reviewed": 0})
        entry["reviewed"] += int(n)
        if disposition in SUPPRESSING:
            entry["suppressed"] += int(n)
            if disposition == "false_positive":
                entry["false_positives"] += int(n)
    return counted


def night_breaches(
    fail_on: FailOn,
    run_summary: dict[str, Any],
    register: pl.DataFrame,
    table_rows: dict[str, int],
    previous_rows: dict[str, int],
) -> list[str]:
    """What fails this night under the config's `fail_on`, one plain line each."""
    found = []
    open_new = register.filter((pl.col("change") == "new") & is_open())
    for severity in fail_on.new_findings:
        count = open_new.filter(pl.col("severity") == severity).height
        if count:
            found.append(f"{count:,} new open {severity}-severity finding(s)")
    for family, limit in sorted(fail_on.family_rates.items()):
        rules = [r for r in run_summary["rules"] if r["family"] == family and r["status"] == "run"]
        population = sum(r["population"] for r in rules)
        breaches = sum(max(0, r["breaches"] - r.get("suppressed", 0)) for r in rules)
        if population and breaches / population > limit:
            found.append(f"family {family}: breach rate {breaches / population:.1%}, above {limit:.1%}")
    checks = run_summary.get("input_checks") or {}
    if fail_on.repeated_export and checks.get("same_as_run"):
        found.append(f"the export is the one run {checks['same_as_run']} read (fail_on.repeated_export)")
    age = checks.get("newest_report_age_days")
    if fail_on.stale_input_days is not None and age is not None and age > fail_on.stale_input_days:
        found.append(
            f"the newest report is {age} days before the as-of, over {fail_on.stale_input_days} (fail_on.stale_input_days)"
        )
    read = sum(table_rows.values())
    quarantined = sum((t or {}).get("quarantined", 0) for t in run_summary["tables"].values())
    if fail_on.quarantined_share is not None and read and quarantined / read > fail_on.quarantined_share:
        found.append(
            f"{quarantined:,} of {read:,} rows quarantined ({quarantined / read:.1%}, above {fail_on.quarantined_share:.1%})"
        )
    if fail_on.table_shrink is not None:
        for table, before in sorted(previous_rows.items()):
            now = table_rows.get(table, 0)
            if before and (before - now) / before > fail_on.table_shrink:
                found.append(
                    f"{table}: {now:,} rows, {(before - now) / before:.0%} fewer than the previous run's {before:,} "
                    f"(over {fail_on.table_shrink:.0%}): a truncated export?"
                )
    return found
