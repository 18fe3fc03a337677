"""The due list: what will breach, and when, unless someone acts while there is still time.

Every other check is an audit after the fact. A rule with a `due:` query also names the records of
its population that do not breach yet and will at a computable instant if nothing changes (a
report undecided with no crime, 18 hours into its 24). Each run writes them, earliest deadline
first, as `due.csv` and `due.parquet`, and the headline says how many and how soon. Deadlines are
UTC instants from elapsed-time arithmetic, so a clock change neither adds nor takes an hour;
`deadline_local` gives the London wall clock a supervisor reads.
"""

from __future__ import annotations

import logging
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.london import LONDON_TZ
from recordcheck.checks.base.safecsv import write_csv

DUE_FILE = "due.csv"
DUE_PARQUET = "due.parquet"
SOON_HOURS = 6
"""Due items this close to their deadline are counted apart in the headline: act on them first."""
COLUMNS = [
    "rule",
    "finding",
    "severity",
    "record_type",
    "record_id",
    "district",
    "deadline_at",
    "deadline_local",
    "hours_left",
    "detail",
]


def due_rows(due: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The engine's due list in the file's shape: deadlines in UTC (ISO 8601) and London, and the
    hours left at the as-of (one decimal; 0 at a tie: the breach comes the moment after)."""
    return due.sort("deadline_at", "rule_id", "record_type", "record_id").select(
        pl.col("rule_id").alias("rule"),
        "finding",
        "severity",
        "record_type",
        "record_id",
        "district",
        pl.col("deadline_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("deadline_at"),
        pl.col("deadline_at").dt.convert_time_zone(LONDON_TZ).dt.strftime("%Y-%m-%d %H:%M %Z").alias("deadline_local"),
        ((pl.col("deadline_at") - pl.lit(as_of)).dt.total_seconds() / 3600).round(1).alias("hours_left"),
        "detail",
    )


def write_due(rows: pl.DataFrame, folder: Path) -> None:
    """due.csv (spreadsheet-safe) and due.parquet in the run folder, from `due_rows`."""
    write_csv(rows, folder / DUE_FILE)
    rows.write_parquet(folder / DUE_PARQUET)


def due_summary(rows: pl.DataFrame) -> dict[str, Any]:
    """summary.json's `due`: how many, how many within SOON_HOURS, the first deadline, per rule."""
    soon = rows.filter(pl.col("hours_left") <= SOON_HOURS)
    return {
        "total": rows.height,
        "within_hours": SOON_HOURS,
        "soon": soon.height,
        "first_deadline_local": rows["deadline_local"][0] if rows.height else None,
        "by_rule": dict(sorted(rows.group_by("rule").len().iter_rows())),
    }


def due_phrase(due: dict[str, Any] | None) -> str | None:
    """The headline's Due line (None for a run from before due lists)."""
    if due is None:
        return None
    if not due["total"]:
        return "Due: nothing the rules can foresee will breach before it is acted on."
    rules = ", ".join(f"{rule} {count:,}" for rule, count in due["by_rule"].items())
    return (
        f"Due: {due['total']:,} record(s) will breach unless someone acts ({rules}); "
        f"{due['soon']:,} within {due['within_hours']} hours; the first at {due['first_deadline_local']} "
        f"(due.csv)."
    )


def notify(settings: dict[str, Any] | None, run_dir: Path, rows: pl.DataFrame) -> str | None:
    """Run the config's notify command with the due file's path when anything in `rows` (the
    published list) falls due within its hours: an argument list, never a shell string; a
    timeout; a failure is logged and said, never the run's failure (the list is published
    either way). Returns what happened, or None."""
    if not settings:
        return None
    soon = rows.filter(pl.col("hours_left") <= float(settings["due_within_hours"])).height
    if not soon:
        return None
    command = [*settings["command"], str(run_dir / DUE_FILE)]
    log = logging.getLogger("recordcheck")
    try:
        done = subprocess.run(  # noqa: S603 - the force's own command, as a list, from its config
            command, capture_output=True, timeout=int(settings["timeout_seconds"]), check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        what = "timed out" if isinstance(exc, subprocess.TimeoutExpired) else f"could not start ({type(exc).__name__})"
        log.warning("notify_failed", extra={"fields": {"reason": what}})
        return f"notify: {command[0]} {what}; the due list is published"
    if done.returncode:
        log.warning("notify_failed", extra={"fields": {"reason": f"exit {done.returncode}"}})
        return f"notify: {command[0]} exited {done.returncode}; the due list is published"
    return f"notify: {command[0]} told of {soon:,} record(s) due within {settings['due_within_hours']:g} hours"
