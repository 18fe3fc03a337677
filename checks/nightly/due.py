"""The due list: what will breach, and when, unless someone acts while there is still time.

Every other check is an audit after the fact. A rule with a `due:` query also names the records of
its population that do not breach yet and will at a computable instant if nothing changes (a
report undecided with no crime, 18 hours into its 24). Each run writes them, earliest deadline
first, as `due.csv` and `due.parquet`, and the headline says how many and how soon. Deadlines are
UTC instants from elapsed-time arithmetic, so a clock change neither adds nor takes an hour;
`deadline_local` gives the London wall clock a supervisor reads.

At national scale the list holds millions of records (every victim contact falling due), so it
stays where the engine left it, a table in the run's database: DuckDB writes the files, sums it
up and hands the store its keys, and no row passes through Python.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from recordcheck.checks.base.london import LONDON_TZ
from recordcheck.checks.base.safecsv import neutralised_sql

DUE_FILE = "due.csv"
DUE_PARQUET = "due.parquet"
DUE_KEYS = "due_keys.parquet"
"""What the store is handed of the due list (rule, record, deadline), in the run's outbox."""
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
TEXT_COLUMNS = [c for c in COLUMNS if c != "hours_left"]


@dataclass(frozen=True)
class DueList:
    """Tonight's due list in the run's database: as the engine listed it (`listed`: deadlines as
    instants) and in the file's shape and order (`table`, made by `publish`), as of `as_of`;
    `outbox` is the one folder that database may write."""

    con: duckdb.DuckDBPyConnection
    listed: str
    table: str
    as_of: datetime
    outbox: Path

    @classmethod
    def publish(cls, con: duckdb.DuckDBPyConnection, listed: str, as_of: datetime, outbox: Path) -> DueList:
        """The engine's due rows (`listed`) sorted and worded once, into a table the files, the
        summary and the notice all read (DuckDB keeps a table's insertion order when it is read)."""
        table = f"{listed}_file"
        con.execute(f"CREATE OR REPLACE TABLE {table} AS {_file_rows(listed, as_of)}")
        return cls(con, listed, table, as_of, outbox)

    def summary(self) -> dict[str, Any]:
        """summary.json's `due`: how many, how many within SOON_HOURS, the first deadline, per rule."""
        ((total, soon),) = self.con.execute(
            f"SELECT count(*), count(*) FILTER (hours_left <= {SOON_HOURS}) FROM {self.table}"
        ).fetchall()
        first = self.con.execute(f"SELECT deadline_local FROM {self.table} LIMIT 1").fetchall()
        by_rule = self.con.execute(f"SELECT rule, count(*) FROM {self.table} GROUP BY rule ORDER BY rule")
        return {
            "total": total,
            "within_hours": SOON_HOURS,
            "soon": soon,
            "first_deadline_local": first[0][0] if first else None,
            "by_rule": dict(by_rule.fetchall()),
        }

    def within(self, hours: float) -> int:
        """How many fall due within `hours` of the as-of."""
        ((count,),) = self.con.execute(f"SELECT count(*) FROM {self.table} WHERE hours_left <= ?", [hours]).fetchall()
        return int(count)

    def write(self, folder: Path) -> None:
        """due.csv (spreadsheet-safe) and due.parquet into `folder`, each written by DuckDB's COPY
        into the run's outbox (the one folder its DuckDB may write), then moved."""
        csv = ", ".join(f"{neutralised_sql(c)} AS {c}" if c in TEXT_COLUMNS else c for c in COLUMNS)
        self._copy(f"SELECT {csv} FROM {self.table}", self.outbox / DUE_FILE, "FORMAT csv, HEADER")
        self._copy(f"SELECT * FROM {self.table}", self.outbox / DUE_PARQUET, "FORMAT parquet, COMPRESSION zstd")
        for name in (DUE_FILE, DUE_PARQUET):
            os.replace(self.outbox / name, folder / name)

    @contextmanager
    def keys(self) -> Iterator[Path]:
        """The store's share of the list (rule, record, deadline to the microsecond) as Parquet in
        the outbox, for the store's own DuckDB to read; removed when the store has read it."""
        path = self.outbox / DUE_KEYS
        self._copy(f"SELECT rule_id, record_type, record_id, deadline_at FROM {self.listed}", path, "FORMAT parquet")
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _copy(self, sql: str, path: Path, options: str) -> None:
        self.con.execute(f"COPY ({sql}) TO '{path.resolve()}' ({options})")


def _file_rows(listed: str, as_of: datetime) -> str:
    """The file's rows, earliest deadline first: deadlines in UTC (ISO 8601) and London, and the
    hours left at the as-of (whole seconds, then one decimal, ties to even; 0 at a tie: the breach
    comes the moment after)."""
    at = as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
    local = f"timezone('{LONDON_TZ}', deadline_at)"
    return f"""SELECT rule_id AS rule, finding, severity, record_type, record_id, district,
               strftime(timezone('UTC', deadline_at), '%Y-%m-%dT%H:%M:%SZ') AS deadline_at,
               strftime({local}, '%Y-%m-%d %H:%M')
                   || CASE WHEN {local} > timezone('UTC', deadline_at) THEN ' BST' ELSE ' GMT' END AS deadline_local,
               round_even(trunc((epoch_us(deadline_at) - epoch_us(TIMESTAMPTZ '{at}')) / 1e6) / 3600 * 10, 0) / 10
                   AS hours_left,
               detail
        FROM {listed} AS listed
        ORDER BY listed.deadline_at, rule_id, record_type, record_id"""


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


def notify(settings: dict[str, Any] | None, run_dir: Path, due: DueList) -> str | None:
    """Run the config's notify command with the due file's path when anything in `due` (the
    published list) falls due within its hours: an argument list, never a shell string; a
    timeout; a failure is logged and said, never the run's failure (the list is published
    either way). Returns what happened, or None."""
    if not settings:
        return None
    soon = due.within(float(settings["due_within_hours"]))
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
