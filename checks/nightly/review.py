"""Auditors' decisions: a worklist out (`review export`), decisions back in (`review import`).

The worklist is the latest run's findings, open ones first, as .xlsx (frozen header, filters, a
drop-down on `decision`, dates as dates) or .csv with the same content. Any cell that a
spreadsheet would read as a formula (=, +, -, @ first) is neutralised with a leading apostrophe.

An imported file is checked whole before anything is stored: one bad row (an unknown fingerprint
or decision, a waiver without a date, a date in the past, no reviewer or reason) rejects the file,
with every bad row named by line and column. Decisions are appended to the store with who, why,
when and the evidence they were made on; the latest one for a finding wins, and history stays.
"""

from __future__ import annotations

import csv
import json
import os
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.london import london_date
from recordcheck.checks.base.marking import companion, run_marking, write_note
from recordcheck.checks.base.safecsv import FORMULA_START, neutralise, read_rows, write_xlsx
from recordcheck.checks.extract.contract import REGISTER_COLUMNS
from recordcheck.checks.nightly.comparison import apply_decisions
from recordcheck.checks.nightly.publish import LATEST
from recordcheck.checks.nightly.store import DECISION_LOG, DECISIONS, RunStore, in_force, is_open

WORKLIST_COLUMNS = (
    "fingerprint",
    *(c for c in REGISTER_COLUMNS if c not in ("run_id", "fingerprint")),
    "change",
    "first_seen",
    "disposition",
    "disposition_until",
)
DECISION_COLUMNS = ("decision", "reviewer", "reason", "until")
EVIDENCE_COLUMN = "evidence"
"""Last column of the worklist: what the finding showed when exported; a decision holds for it."""
NEEDED = ("fingerprint", "decision", "reviewer", "reason", "until")


def latest_findings(out_dir: Path) -> pl.DataFrame:
    latest = out_dir / LATEST
    if not (latest / "exceptions.parquet").is_file():
        raise ConfigError(f"{out_dir}: no published run (no {LATEST}/exceptions.parquet)")
    return pl.read_parquet(latest / "exceptions.parquet")


def worklist(findings: pl.DataFrame) -> pl.DataFrame:
    """Open findings first (no decision in force, or confirmed), then the decided ones."""
    decided = ~is_open()
    severity = pl.col("severity").replace_strict({"high": 0, "medium": 1, "low": 2}, default=3)
    return (
        findings.with_columns(decided.alias("_decided"), severity.alias("_severity"))
        .sort(["_decided", "_severity", "rule_id", "record_id"])
        .select(*WORKLIST_COLUMNS, *(pl.lit(None, pl.String).alias(c) for c in DECISION_COLUMNS), EVIDENCE_COLUMN)
    )


def decisions_now(out_dir: Path, store: RunStore) -> pl.DataFrame:
    """The store's latest decisions in force on the latest run's night (a waiver that lapsed by
    then no longer holds), for a worklist exported after decisions were imported."""
    summary = out_dir / LATEST / "summary.json"
    latest = store.latest_decisions()
    if not summary.is_file():
        return latest
    night = london_date(datetime.fromisoformat(json.loads(summary.read_text(encoding="utf-8"))["as_of"]))
    return in_force(latest, night)


def decision_log_file(file: Path) -> Path:
    """Where a CSV worklist's decision log goes: beside it (an XLSX worklist has it as a sheet)."""
    return file.with_name(f"{file.stem}.decision-log.csv")


def export_worklist(
    out_dir: Path, file: Path, decisions: pl.DataFrame | None = None, log: pl.DataFrame | None = None
) -> int:
    """The worklist of the latest run's findings; with `decisions` (the store's, in force on the
    run's night), each finding's disposition is the store's now, not the run's. The decision log
    (`log`: the store's, else the latest run's) goes with it: a second sheet of an XLSX, or a
    CSV beside a CSV."""
    findings = latest_findings(out_dir)
    rows = worklist(findings if decisions is None else apply_decisions(findings, decisions))
    if log is None:
        saved = out_dir / LATEST / DECISION_LOG
        log = pl.read_csv(saved, infer_schema=False) if saved.is_file() else None
    suffix = file.suffix.lower()
    tmp = file.with_name(f".{file.name}.tmp")
    marking = run_marking(out_dir / LATEST)
    if suffix == ".csv":
        _write_csv(rows, tmp)
        written = [file.name]
        if log is not None:
            log_tmp = file.with_name(f".{decision_log_file(file).name}.tmp")
            _write_csv(log, log_tmp)
            os.replace(log_tmp, decision_log_file(file))
            written.append(decision_log_file(file).name)
        write_note(companion(file), marking, "An auditors' worklist from recordcheck", written)
    elif suffix == ".xlsx":
        _write_xlsx(rows, tmp, log, marking)
    else:
        raise ConfigError(f"{file}: the worklist is .xlsx or .csv")
    os.replace(tmp, file)
    return rows.height


def _write_csv(rows: pl.DataFrame, path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows.columns)
        for row in rows.iter_rows():
            writer.writerow(["" if v is None else neutralise(v.isoformat() if isinstance(v, date) else v) for v in row])


def _write_xlsx(rows: pl.DataFrame, path: Path, log: pl.DataFrame | None = None, marking: str | None = None) -> None:
    write_xlsx(
        rows,
        path,
        "findings",
        {
            "decision": {"type": "list", "formula1": '"' + ",".join(DECISIONS) + '"'},
            "until": {"type": "date", "operator": "greaterThan", "formula1": "DATE(2000,1,1)"},
        },
        dates=("first_seen", "disposition_until", "until"),
        wide=("detail", "reason"),
        more={"decision log": log} if log is not None else None,
        marking=marking,
    )


# ---------------------------------------------------------------- import


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip()
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_START) else text


_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[ T]00:00(?::00)?)?$")
MAX_YEARS_AHEAD = 3
"""A waiver's lapse or a remedy's due date lies at most this many years after the night."""


def _date(value: Any) -> date | None:
    """A date cell: a spreadsheet date, or yyyy-mm-dd with nothing after it (a midnight time at most)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if not text:
        return None
    if not _DATE_TEXT.match(text):
        raise ValueError(text)
    return date.fromisoformat(text[:10])


def read_decisions(file: Path, store: RunStore, today: date) -> pl.DataFrame:
    """The decisions in `file`, checked whole: ConfigError listing every bad row, or all of them."""
    rows = read_rows(file, "decisions")
    if not rows:
        raise ConfigError(
            f"{file}: no rows under a header in its first sheet; decisions are read from the first sheet, "
            f"with columns {', '.join(NEEDED)}"
        )
    missing = [c for c in NEEDED if c not in rows[0]]
    if missing:
        raise ConfigError(f"{file}: no column(s) {', '.join(missing)}; the file needs {', '.join(NEEDED)}")
    known = dict(store.con.execute("SELECT fingerprint, evidence FROM findings").fetchall())
    severity = dict(
        store.con.execute("SELECT fingerprint, arg_max(severity, run_id) FROM run_findings GROUP BY fingerprint").fetchall()
    )
    errors: list[str] = []
    kept: list[dict[str, Any]] = []
    first_row: dict[str, tuple[str, str, int]] = {}
    for line, row in enumerate(rows, start=2):
        decision = _text(row.get("decision"))
        if not decision:
            continue
        fingerprint = _text(row.get("fingerprint"))
        problems = []
        if fingerprint not in known:
            problems.append("fingerprint: no such finding in the run store")
        if decision not in DECISIONS:
            # never quoted: a cell in the wrong column can be a name (the line and column find it)
            problems.append(f"decision: a value of {len(decision)} characters, which is not one of {', '.join(DECISIONS)}")
        reviewer, reason = _text(row.get("reviewer")), _text(row.get("reason"))
        if not reviewer:
            problems.append("reviewer: missing")
        if not reason:
            problems.append("reason: missing")
        until: date | None = None
        try:
            until = _date(row.get("until"))
        except ValueError:
            problems.append("until: not a date (yyyy-mm-dd, and nothing after it)")
        else:
            if decision == "waived" and until is None:
                problems.append("until: a waiver needs the date it lapses")
            if decision == "remediated" and until is None:
                problems.append("until: a remediation needs the date it is due (raised again after it, it reopens)")
            if until is not None and until < today:
                problems.append(f"until: {until.isoformat()} is in the past")
            if until is not None and until > today + timedelta(days=366 * MAX_YEARS_AHEAD):
                problems.append(f"until: {until.isoformat()} is more than {MAX_YEARS_AHEAD} years ahead")
        earlier = first_row.get(fingerprint)
        if earlier is not None:
            first_decision, first_reviewer, first_line = earlier
            if first_decision != decision:
                # decisions are quoted only when both are decisions; a stray cell could be a name
                both = decision in DECISIONS and first_decision in DECISIONS
                said = (
                    f"{decision!r} contradicts line {first_line} ({first_decision!r})"
                    if both
                    else (f"contradicts line {first_line}")
                )
                problems.append(f"decision: {said}")
            elif first_reviewer == reviewer:
                problems.append(f"reviewer: the same reviewer decided this finding on line {first_line} too")
        else:
            first_row[fingerprint] = (decision, reviewer, line)
        if problems:
            errors += [f"line {line}, column {p}" for p in problems]
            continue
        evidence = _text(row.get(EVIDENCE_COLUMN)) or known[fingerprint]
        kept.append(
            {
                "fingerprint": fingerprint,
                "decision": decision,
                "reviewer": reviewer,
                "reason": reason,
                "until": until,
                "evidence": evidence,
                "severity": severity.get(fingerprint),
            }
        )
    if errors:
        raise ConfigError(f"{file}: nothing imported; {len(errors)} problem(s): " + "; ".join(errors))
    schema = {
        "fingerprint": pl.String,
        "decision": pl.String,
        "reviewer": pl.String,
        "reason": pl.String,
        "until": pl.Date,
        "evidence": pl.String,
        "severity": pl.String,
    }
    return pl.DataFrame(kept, schema=schema)


def import_decisions(file: Path, store: RunStore, now: datetime | None = None) -> int:
    """Check and store the decisions in `file`. A date is 'in the past' against the latest run's
    as-of (the night the findings are from), so a waiver cannot lapse before it is recorded."""
    moment = now or datetime.now(UTC)
    night = store.latest_as_of()
    decisions = read_decisions(file, store, london_date(night) if night else london_date(moment))
    return store.add_decisions(decisions, file.name, moment)
