"""The run store: one embedded DuckDB file that remembers every night.

It holds every run (what it read, with what, and its headline figures), each rule's and
stratum's figures, every finding ever raised with its first and last run, each run's findings
(so a night can be compared with the one before), and the auditors' decisions with their
history. Its schema changes only through the numbered migrations below: a newer recordcheck
opens an older store and upgrades it in place, one transaction per step.

A run's rows go in as one transaction (`record_run`), after its folder is in place and before
`latest` is repointed; see `checks/nightly/comparison.py` for the order and the recovery it allows.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from recordcheck.checks.base.database import close_database
from recordcheck.checks.base.errors import Busy, OutputUnavailable, StoreUnavailable
from recordcheck.checks.base.london import LONDON_TZ
from recordcheck.checks.extract.contract import REGISTER_COLUMNS

STORE_NAME = "recordcheck.duckdb"
RUN_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}-[0-9a-f]{4}$")
"""What a run id looks like (checks/nightly/run.make_run_id): an id read back from the store is
used as a folder name only when it matches, so a tampered id such as ../victim names nothing."""
DUE_NEXT = "due_next"
"""The temporary table (in the store's connection) of what a run made of the open due items."""
STORE_MEMORY_LIMIT = "512MB"
"""The store's own DuckDB memory, beside the run's database: DuckDB's default would be 80% of the
machine. A night's due items (millions at national scale) spill past it to a private folder."""
DECISION_LOG = "decisions.csv"
RELEASED = "redacted-cells.json"
"""Beside a redacted report: the cells released so far, with their counts (reports.render writes it)."""
"""The decision log in each run folder: every decision in the store when the run was made."""

MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE runs (
            run_id VARCHAR PRIMARY KEY,
            as_of TIMESTAMPTZ NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            finished_at TIMESTAMPTZ,
            exit_code INTEGER,
            complete BOOLEAN NOT NULL,
            inputs JSON,
            profile_name VARCHAR,
            profile_sha256 VARCHAR,
            pack_version VARCHAR,
            pack_sha256 VARCHAR,
            config_sha256 VARCHAR,
            timings JSON,
            rows_read BIGINT,
            quarantined BIGINT,
            exceptions BIGINT,
            new_findings BIGINT,
            recurring BIGINT,
            resolved BIGINT,
            open_high BIGINT,
            recording_rate DOUBLE,
            recording_low DOUBLE,
            recording_high DOUBLE
        )""",
        """CREATE TABLE rule_figures (
            run_id VARCHAR, rule_id VARCHAR, status VARCHAR, population BIGINT, breaches BIGINT, rate DOUBLE,
            false_positives BIGINT, PRIMARY KEY (run_id, rule_id)
        )""",
        """CREATE TABLE stratum_figures (
            run_id VARCHAR, rule_id VARCHAR, stratum VARCHAR, value VARCHAR, population BIGINT, breaches BIGINT
        )""",
        """CREATE TABLE findings (
            fingerprint VARCHAR PRIMARY KEY, rule_id VARCHAR, record_type VARCHAR, record_id VARCHAR,
            first_run VARCHAR, first_as_of TIMESTAMPTZ, last_run VARCHAR, last_as_of TIMESTAMPTZ, evidence VARCHAR
        )""",
        """CREATE TABLE run_findings (
            run_id VARCHAR, fingerprint VARCHAR, rule_id VARCHAR, finding VARCHAR, severity VARCHAR,
            record_type VARCHAR, record_id VARCHAR, district VARCHAR, detail VARCHAR, evidence VARCHAR,
            change VARCHAR, disposition VARCHAR
        )""",
        """CREATE TABLE decisions (
            fingerprint VARCHAR, decision VARCHAR, reviewer VARCHAR, reason VARCHAR, until DATE,
            decided_at TIMESTAMPTZ, evidence VARCHAR, source VARCHAR
        )""",
    ],
    2: [
        # the headline history the report draws: kept per run, not recomputed from old folders
        "ALTER TABLE runs ADD COLUMN timeliness_rate DOUBLE",
        "ALTER TABLE runs ADD COLUMN classification_rate DOUBLE",
        "CREATE INDEX run_findings_run ON run_findings (run_id)",
    ],
    3: [
        # rows read per table, so a night can tell a truncated export from the last one
        "ALTER TABLE runs ADD COLUMN table_rows JSON",
    ],
    4: [
        # audited estimates from reviewed samples, shown beside the screen's rate
        "CREATE TABLE audits (audited_at TIMESTAMPTZ, worksheet VARCHAR, result JSON)",
    ],
    5: [
        # each finding's month (its report's, London time): a finding whose record is gone from the
        # next night's extract aged out of the window if its month is before the window's first
        "ALTER TABLE run_findings ADD COLUMN month VARCHAR",
    ],
    6: [
        # the finding's severity when it was decided: a high-severity false positive needs a second
        # reviewer before it takes effect (decisions stored before this are taken as they were)
        "ALTER TABLE decisions ADD COLUMN severity VARCHAR",
    ],
    7: [
        # what each disclosure-safe report released (cell -> counts shown): the next release holds
        # back any cell that moved by fewer than k records since
        "CREATE TABLE releases (released_at TIMESTAMPTZ, run_id VARCHAR, cells JSON)",
    ],
    8: [
        # why a run was made: 'nightly' (NULL before this), or 'due' for a daytime run that refreshes
        # the due list; a due run is kept but is never a night's baseline nor a point of its trend
        "ALTER TABLE runs ADD COLUMN purpose VARCHAR",
    ],
    9: [
        # every item a due list has named, once per (rule, record, deadline), and how it ended: met in
        # time (gone from the list with no finding, or its deadline passed clean) or missed (the finding
        # came); NULL while it is still due
        """CREATE TABLE due_items (rule_id VARCHAR, record_type VARCHAR, record_id VARCHAR,
           deadline_at TIMESTAMPTZ, first_run VARCHAR, first_as_of TIMESTAMPTZ, outcome VARCHAR,
           settled_run VARCHAR, settled_as_of TIMESTAMPTZ)""",
    ],
}
NIGHTLY = "coalesce(purpose, 'nightly') = 'nightly'"
"""The runs that are nights: the baselines of new, recurring and resolved, and the trend's points."""
SCHEMA_VERSION = max(MIGRATIONS)

RUN_FINDING_COLUMNS = (*(c for c in REGISTER_COLUMNS if c != "run_id"), "evidence", "change", "disposition", "month")
"""What the store keeps of each night's register rows (besides the run id)."""

DECISIONS = ("confirmed", "false_positive", "remediated", "waived")
SUPPRESSING = ("false_positive", "waived")
"""Decisions that take a finding out of the threshold counts."""
AWAITING_SECOND_REVIEW = "awaiting_second_review"
"""A high-severity false positive one reviewer has judged: it takes effect when a second does."""
REMEDIATION_OVERDUE = "remediation_overdue"
"""A finding marked remediated and raised again, unchanged, after the date its remedy was due."""
OPEN_DISPOSITIONS = ("confirmed", AWAITING_SECOND_REVIEW, REMEDIATION_OVERDUE)
"""Dispositions under which a finding is still open (as is no decision at all)."""
SECOND_REVIEW_SEVERITIES = ("high",)
"""Severities whose false positives need two reviewers' names in the store."""


def is_open(column: str = "disposition") -> pl.Expr:
    """Whether a finding is open: no decision in force, or one that leaves it open."""
    return pl.col(column).is_null() | pl.col(column).is_in(OPEN_DISPOSITIONS)


@dataclass(frozen=True)
class PreviousRun:
    run_id: str
    as_of: datetime


RESTORE = (
    "restore it from a backup; or move it aside and give --new-store to start a new one (the history, "
    "decisions and releases it held are then lost)"
)


@functools.cache
def expected_shape() -> frozenset[tuple[str, str]]:
    """(table, column) of a store made by every migration: what an opened store must hold."""
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
        for version in sorted(MIGRATIONS):
            for statement in MIGRATIONS[version]:
                con.execute(statement)
        return frozenset(con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall())
    finally:
        con.close()


WRITE_FAILURES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Could not write all bytes")
"""How DuckDB (which raises its own IOException, not OSError) says a write did not reach the disk."""


def cannot_write(exc: BaseException) -> str | None:
    """Why a store write failed for want of disk, in the operating system's words; None otherwise.
    Only a known phrase is returned, never the message (it may quote a path or a value)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return os.strerror(exc.errno)
    if isinstance(exc, duckdb.Error):
        text = str(exc)
        return next((phrase for phrase in WRITE_FAILURES if phrase in text), None)
    return None


class RunStore:
    """The store at `path`, upgraded to this version's schema on open."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        spill = Path(tempfile.mkdtemp(prefix="recordcheck-store-spill-"))
        try:
            self.con = duckdb.connect(str(path), config={"memory_limit": STORE_MEMORY_LIMIT, "temp_directory": str(spill)})
        except BaseException as exc:
            shutil.rmtree(spill, ignore_errors=True)
            if not isinstance(exc, duckdb.IOException):
                raise
            first = str(exc).splitlines()[0]
            if "lock" in first.lower():  # another process has it (a run through another OUT_DIR)
                raise Busy(f"{path}: the run store is held by another process ({first})") from None
            raise StoreUnavailable(f"{path}: the run store cannot be opened ({first})") from None
        # closed, and its spill folder removed, by close() or when the store is dropped unclosed
        self._close = weakref.finalize(self, close_database, self.con, spill)
        for file in (path, path.with_name(path.name + ".wal")):
            if file.exists():
                os.chmod(file, 0o600)  # owner only: the store holds ids and the auditors' reasons
        self.con.execute("SET TimeZone = 'UTC'")
        try:
            self.migrate()
            self._check_shape()
        except (duckdb.Error, StoreUnavailable) as exc:  # a damaged store (a table gone, the version row lost)
            with suppress(duckdb.Error):
                self._close()
            if isinstance(exc, StoreUnavailable):
                raise
            raise StoreUnavailable(
                f"{path}: the run store is damaged ({type(exc).__name__} while opening it); {RESTORE}"
            ) from None

    def _check_shape(self) -> None:
        """Every table and column this version's migrations make must be there: a store with one
        dropped is refused when opened, not found out halfway through publishing."""
        have = set(self.con.execute("SELECT table_name, column_name FROM information_schema.columns").fetchall())
        missing = sorted(expected_shape() - have)
        if missing:
            tables = sorted({table for table, _ in missing})
            raise StoreUnavailable(
                f"{self.path}: the run store is damaged: it lacks {len(missing)} column(s) of table(s) "
                f"{', '.join(tables)}; {RESTORE}"
            )

    def close(self) -> None:
        self._close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ schema

    def version(self) -> int:
        exists = self.con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
        ).fetchall()[0][0]
        if not exists:
            return 0
        return int(self.con.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchall()[0][0])

    def migrate(self) -> list[int]:
        """Apply the migrations this store lacks, each in its own transaction; return them."""
        current = self.version()
        if current > SCHEMA_VERSION:
            self.con.close()
            raise StoreUnavailable(
                f"{self.path}: the run store has schema {current}, newer than this recordcheck knows ({SCHEMA_VERSION}); "
                "upgrade recordcheck"
            )
        applied = []
        for version in range(current + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                if version == 1:
                    self.con.execute("CREATE TABLE schema_version (version INTEGER, applied_at TIMESTAMPTZ)")
                for statement in MIGRATIONS[version]:
                    self.con.execute(statement)
                self.con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
            applied.append(version)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing. A disk that fills (or turns read-only) while the store writes, at the
        commit too, is OUT's fault (exit 7), not a defect (5): the run is then not published."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self.con.execute("COMMIT")
        except BaseException as exc:
            with suppress(duckdb.Error):  # a failed COMMIT has already ended the transaction
                self.con.execute("ROLLBACK")
            why = cannot_write(exc)
            if why:
                raise OutputUnavailable(f"{self.path}: the run store cannot be written ({why})") from None
            raise

    # ------------------------------------------------------------------ reading

    def previous_run(self, as_of: datetime) -> PreviousRun | None:
        """The baseline a night is compared with: the latest complete run whose as-of is strictly
        earlier (a re-run is never compared with itself) and that checked everything (exit 0 or
        1): after a night that could not (exit 9, a table mostly quarantined), the next good one
        is compared with the last good one, not with the hole."""
        rows = self.con.execute(
            f"""SELECT run_id, as_of FROM runs WHERE complete AND as_of < ? AND coalesce(exit_code, 0) IN (0, 1)
                   AND {NIGHTLY}
               ORDER BY as_of DESC, finished_at DESC LIMIT 1""",
            [as_of],
        ).fetchall()
        return PreviousRun(str(rows[0][0]), rows[0][1]) if rows else None

    def run_findings(self, run_id: str) -> pl.DataFrame:
        return self._frame("SELECT * EXCLUDE (run_id) FROM run_findings WHERE run_id = ? ORDER BY fingerprint", [run_id])

    def first_seen(self) -> pl.DataFrame:
        return self._frame("SELECT fingerprint, first_as_of FROM findings")

    def latest_decisions(self) -> pl.DataFrame:
        """The latest decision per finding (history is kept; the latest wins), with the severity it
        was made at and the distinct reviewers who judged the finding a false positive on the same
        evidence (`fp_reviewers`, `fp_names`): `in_force` needs two for a high-severity one."""
        return self._frame(
            """WITH latest AS (
                   SELECT fingerprint, decision, reviewer, reason, until, decided_at, evidence, severity FROM decisions
                   QUALIFY row_number() OVER (PARTITION BY fingerprint ORDER BY decided_at DESC, rowid DESC) = 1),
               judged AS (
                   SELECT d.fingerprint, count(DISTINCT d.reviewer) AS fp_reviewers,
                          string_agg(DISTINCT d.reviewer, '; ' ORDER BY d.reviewer) AS fp_names
                   FROM decisions d JOIN latest l
                     ON d.fingerprint = l.fingerprint AND d.evidence IS NOT DISTINCT FROM l.evidence
                   WHERE d.decision = 'false_positive'
                   GROUP BY d.fingerprint)
               SELECT l.*, coalesce(j.fp_reviewers, 0) AS fp_reviewers, j.fp_names
               FROM latest l LEFT JOIN judged j USING (fingerprint) ORDER BY l.fingerprint"""
        )

    def latest_release(self, before_run: str | None = None) -> dict[str, list[int]]:
        """The cells released so far (as of the latest release, or the latest before `before_run`
        was released), or {} when nothing has been."""
        row = self.con.execute(
            "SELECT cells FROM releases WHERE ? IS NULL OR run_id <> ? ORDER BY released_at DESC LIMIT 1",
            [before_run, before_run],
        ).fetchone()
        return json.loads(row[0]) if row else {}

    def add_release(self, run_id: str, cells: dict[str, list[int]], released_at: datetime) -> None:
        with self.transaction():
            self.con.execute("INSERT INTO releases VALUES (?, ?, ?)", [released_at, run_id, json.dumps(cells)])

    def decision_log(self) -> pl.DataFrame:
        """Every decision ever imported, oldest first, with the finding it was about: who decided
        what, when, why, from which file."""
        return self._frame(
            """SELECT strftime(timezone('UTC', d.decided_at), '%Y-%m-%dT%H:%M:%SZ') AS decided_at,
                      d.reviewer, d.decision, d.reason, d.until, f.rule_id, f.record_type, f.record_id,
                      d.severity, d.fingerprint, d.source
               FROM decisions d LEFT JOIN findings f USING (fingerprint)
               ORDER BY d.decided_at, d.fingerprint, d.reviewer"""
        )

    def decision_history(self) -> pl.DataFrame:
        return self._frame("SELECT * FROM decisions ORDER BY decided_at, fingerprint")

    def input_hashes(self, run_id: str) -> list[str]:
        """The sha256 of each file a run read, sorted ([] for a run the store kept none for)."""
        row = self.con.execute("SELECT inputs FROM runs WHERE run_id = ?", [run_id]).fetchone()
        inputs = json.loads(row[0]) if row and row[0] else []
        return sorted(str(i.get("sha256")) for i in inputs)

    def table_rows(self, run_id: str) -> dict[str, int]:
        rows = self.con.execute("SELECT table_rows FROM runs WHERE run_id = ?", [run_id]).fetchall()
        return {str(k): int(v) for k, v in json.loads(rows[0][0]).items()} if rows and rows[0][0] else {}

    def add_audit(self, result: dict[str, Any], worksheet: str, audited_at: datetime) -> None:
        with self.transaction():
            self.con.execute("INSERT INTO audits VALUES (?, ?, ?)", [audited_at, worksheet, json.dumps(result)])

    def latest_audit(self) -> dict[str, Any] | None:
        """The latest reviewed sample's estimate, with when and from which worksheet."""
        rows = self.con.execute(
            "SELECT audited_at, worksheet, result FROM audits ORDER BY audited_at DESC LIMIT 1"
        ).fetchall()
        if not rows:
            return None
        audited_at, worksheet, result = rows[0]
        return {"audited_at": audited_at.isoformat(), "worksheet": worksheet, **json.loads(result)}

    def latest_as_of(self) -> datetime | None:
        rows = self.con.execute("SELECT max(as_of) FROM runs WHERE complete").fetchall()
        return rows[0][0] if rows and rows[0][0] is not None else None

    def complete_runs(self) -> list[str]:
        """The complete runs, oldest first; only ids of the run id's shape (never a path)."""
        return [
            str(r[0])
            for r in self.con.execute("SELECT run_id FROM runs WHERE complete ORDER BY as_of, finished_at").fetchall()
            if RUN_ID.match(str(r[0]))
        ]

    def history(self, limit: int = 30, nights_only: bool = False) -> pl.DataFrame:
        """The last complete runs, oldest first; `nights_only` leaves out daytime due runs."""
        where = f"complete AND {NIGHTLY}" if nights_only else "complete"
        return self._frame(
            f"""SELECT * FROM (SELECT * FROM runs WHERE {where} ORDER BY as_of DESC, finished_at DESC LIMIT ?)
               ORDER BY as_of, finished_at""",
            [limit],
        )

    def rule_history(self, run_ids: list[str]) -> pl.DataFrame:
        if not run_ids:
            return pl.DataFrame(schema={"run_id": pl.String, "rule_id": pl.String, "rate": pl.Float64})
        return self._frame(
            "SELECT run_id, rule_id, status, population, breaches, rate, false_positives FROM rule_figures "
            "WHERE list_contains(?, run_id)",
            [run_ids],
        )

    def due_after(self, run_id: str, as_of: datetime, due_keys: Path, findings: pl.DataFrame) -> None:
        """What this run makes of the open due items, without writing: each settled as missed (its
        finding is raised tonight), met (it left the list with no finding, or its deadline passed
        clean) or still open, and tonight's new ones. Settled items never change again, so only
        these rows replace the open ones (`record_run`). They are held in this connection
        (DUE_NEXT) for `due_weeks` and `record_run`: at national scale they are millions, read by
        DuckDB from `due_keys` (Parquet: rule_id, record_type, record_id, deadline_at).
        `findings` holds rule_id, record_type, record_id."""
        keys = ["rule_id", "record_type", "record_id"]
        self.con.register("_found_tonight", findings.select(keys).unique().to_arrow())
        try:
            self.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {DUE_NEXT} AS
                   WITH tonight AS (SELECT * FROM read_parquet($keys)),
                   open AS (SELECT * FROM due_items WHERE outcome IS NULL),
                   settled AS (
                     SELECT o.rule_id, o.record_type, o.record_id, o.deadline_at, o.first_run, o.first_as_of,
                            CASE WHEN f.rule_id IS NOT NULL THEN 'missed'
                                 WHEN l.rule_id IS NULL OR $as_of > o.deadline_at THEN 'met' END AS outcome
                     FROM open o
                     LEFT JOIN _found_tonight f USING (rule_id, record_type, record_id)
                     LEFT JOIN tonight l USING (rule_id, record_type, record_id, deadline_at)
                   )
                   SELECT *, CASE WHEN outcome IS NOT NULL THEN $run END AS settled_run,
                          CASE WHEN outcome IS NOT NULL THEN $as_of END AS settled_as_of FROM settled
                   UNION ALL BY NAME
                   SELECT l.*, $run AS first_run, $as_of AS first_as_of, NULL::VARCHAR AS outcome,
                          NULL::VARCHAR AS settled_run, NULL::TIMESTAMPTZ AS settled_as_of
                   FROM tonight l ANTI JOIN open o USING (rule_id, record_type, record_id, deadline_at)""",
                {"run": run_id, "as_of": as_of, "keys": str(due_keys)},
            )
        finally:
            self.con.unregister("_found_tonight")

    def due_weeks(self, tonight: bool = False) -> list[dict[str, Any]]:
        """Per week (London, from Monday) of first listing: due items listed, met in time, missed,
        still open, and the median hours from first listed to settled as met. `tonight`: with this
        run's successors of the open items (`due_after`) in place of the stored open ones."""
        current = "SELECT * FROM due_items"
        if tonight:
            current = f"SELECT * FROM due_items WHERE outcome IS NOT NULL UNION ALL BY NAME SELECT * FROM {DUE_NEXT}"
        rows = self._frame(
            f"""SELECT strftime(date_trunc('week', timezone('{LONDON_TZ}', first_as_of)), '%Y-%m-%d') AS week,
                       count(*) AS listed, count(*) FILTER (outcome = 'met') AS met,
                       count(*) FILTER (outcome = 'missed') AS missed, count(*) FILTER (outcome IS NULL) AS open,
                       round(median(epoch(settled_as_of) - epoch(first_as_of)) FILTER (outcome = 'met') / 3600, 1)
                           AS median_hours_to_act
                FROM ({current}) GROUP BY week ORDER BY week"""
        )
        return rows.to_dicts()

    def _frame(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        frame: pl.DataFrame = self.con.sql(sql, params=params or None).pl()
        return frame

    # ------------------------------------------------------------------ writing

    def record_run(
        self,
        run: dict[str, Any],
        rules: list[dict[str, Any]],
        register: pl.DataFrame,
        due_items: bool = False,
    ) -> None:
        """Everything about one run, in one transaction: it is all there, or none of it is.
        `due_items`: replace the open due items with what the run made of them (`due_after`)."""
        with self.transaction():
            self._insert_run(run)
            if due_items:
                self.con.execute("DELETE FROM due_items WHERE outcome IS NULL")
                self.con.execute(f"INSERT INTO due_items BY NAME SELECT * FROM {DUE_NEXT}")
            self._insert_frame("rule_figures", _rule_figures(run["run_id"], rules))
            self._insert_frame("stratum_figures", _stratum_figures(run["run_id"], rules))
            kept = register.select(pl.lit(run["run_id"]).alias("run_id"), *RUN_FINDING_COLUMNS)
            self.con.register("_kept", kept.to_arrow())
            try:
                self.con.execute("INSERT INTO run_findings BY NAME SELECT * FROM _kept")
                self.con.execute(
                    """INSERT INTO findings
                       SELECT fingerprint, rule_id, record_type, record_id, run_id, ?, run_id, ?, evidence FROM _kept
                       ON CONFLICT (fingerprint) DO UPDATE SET
                         last_run = excluded.last_run, last_as_of = excluded.last_as_of, evidence = excluded.evidence,
                         first_run = CASE WHEN excluded.first_as_of < findings.first_as_of
                                          THEN excluded.first_run ELSE findings.first_run END,
                         first_as_of = least(findings.first_as_of, excluded.first_as_of)""",
                    [run["as_of"], run["as_of"]],
                )
            finally:
                self.con.unregister("_kept")

    def _insert_frame(self, table: str, frame: pl.DataFrame) -> None:
        """A frame's rows into a table in one statement (a run's figures are hundreds of rows)."""
        if frame.is_empty():
            return
        self.con.register("_rows", frame.to_arrow())
        try:
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
        finally:
            self.con.unregister("_rows")

    def _insert_run(self, run: dict[str, Any]) -> None:
        columns = [
            "run_id",
            "as_of",
            "started_at",
            "finished_at",
            "exit_code",
            "complete",
            "inputs",
            "profile_name",
            "profile_sha256",
            "pack_version",
            "pack_sha256",
            "config_sha256",
            "timings",
            "rows_read",
            "quarantined",
            "exceptions",
            "new_findings",
            "recurring",
            "resolved",
            "open_high",
            "recording_rate",
            "recording_low",
            "recording_high",
            "timeliness_rate",
            "classification_rate",
            "table_rows",
            "purpose",
        ]
        values = [json.dumps(run.get(c)) if c in ("inputs", "timings", "table_rows") else run.get(c) for c in columns]
        self.con.execute(f"INSERT INTO runs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})", values)

    def add_decisions(self, decisions: pl.DataFrame, source: str, decided_at: datetime) -> int:
        """Append decisions (fingerprint, decision, reviewer, reason, until, evidence) in one transaction."""
        with self.transaction():
            for row in decisions.iter_rows(named=True):
                self.con.execute(
                    "INSERT INTO decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        row["fingerprint"],
                        row["decision"],
                        row["reviewer"],
                        row["reason"],
                        row["until"],
                        decided_at,
                        row["evidence"],
                        source,
                        row.get("severity"),
                    ],
                )
        return decisions.height


def in_force(decisions: pl.DataFrame, as_of_date: date) -> pl.DataFrame:
    """The decisions as they stand on a night. A waiver lapses after its `until` date. A
    remediation past its due date (`until`) is overdue: the finding, raised again unchanged, is
    open. A high-severity false positive with one reviewer's name awaits a second and is open."""
    if "fp_reviewers" not in decisions.columns:  # a frame built by hand, without the store's counts
        decisions = decisions.with_columns(pl.lit(2).alias("fp_reviewers"), pl.lit(None, pl.String).alias("severity"))
    one_reviewer = (
        (pl.col("decision") == "false_positive")
        & pl.col("severity").is_in(SECOND_REVIEW_SEVERITIES)
        & (pl.col("fp_reviewers") < 2)
    )
    overdue = (pl.col("decision") == "remediated") & (pl.col("until") < as_of_date)
    return decisions.filter((pl.col("decision") != "waived") | (pl.col("until") >= as_of_date)).with_columns(
        pl.when(one_reviewer)
        .then(pl.lit(AWAITING_SECOND_REVIEW))
        .when(overdue)
        .then(pl.lit(REMEDIATION_OVERDUE))
        .otherwise(pl.col("decision"))
        .alias("decision")
    )


def _rule_figures(run_id: str, rules: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per rule of a run, as rule_figures holds it."""
    return pl.DataFrame(
        {
            "run_id": [run_id] * len(rules),
            "rule_id": [rule["id"] for rule in rules],
            "status": [rule["status"] for rule in rules],
            "population": [rule["population"] for rule in rules],
            "breaches": [rule["breaches"] for rule in rules],
            "rate": [rule["rate"] for rule in rules],
            "false_positives": [rule.get("false_positives", 0) for rule in rules],
        },
        schema={
            "run_id": pl.String,
            "rule_id": pl.String,
            "status": pl.String,
            "population": pl.Int64,
            "breaches": pl.Int64,
            "rate": pl.Float64,
            "false_positives": pl.Int64,
        },
    )


def _stratum_figures(run_id: str, rules: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per rule, stratum and value of a run, as stratum_figures holds it."""
    rows = [
        (rule["id"], stratum, row["value"], row["population"], row["breaches"])
        for rule in rules
        for stratum, values in (rule.get("strata") or {}).items()
        for row in values
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "rule_id": pl.String,
            "stratum": pl.String,
            "value": pl.String,
            "population": pl.Int64,
            "breaches": pl.Int64,
        },
        orient="row",
    )
    return frame.select(pl.lit(run_id, pl.String).alias("run_id"), pl.all())
