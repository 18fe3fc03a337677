"""What a run leaves behind besides the report: the register files, resolved.csv, the row the run
store keeps, the nights the report's trends draw, and the figures the summary adds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.london import london_date
from recordcheck.checks.base.safecsv import write_csv
from recordcheck.checks.extract.contract import REGISTER_COLUMNS
from recordcheck.checks.nightly.store import RunStore, is_open
from recordcheck.checks.validation.pipeline import LoadedExtract, sha256_of


def report_period(loaded: LoadedExtract) -> dict[str, str | None]:
    """The data range: the London dates of the first and last reports (referrals, incidents) checked."""
    accepted = loaded.validation.accepted
    parts = [
        f"SELECT min({column}) AS first, max({column}) AS last FROM {accepted.relation(table)}"
        for table, column in (("referrals", "received_at"), ("incidents", "reported_at"))
        if table in accepted
    ]
    if not parts:
        return {"first": None, "last": None}
    first, last = loaded.database.con.execute(f"SELECT min(first), max(last) FROM ({' UNION ALL '.join(parts)})").fetchall()[
        0
    ]
    return {
        "first": london_date(first).isoformat() if first else None,
        "last": london_date(last).isoformat() if last else None,
    }


def decision_summary(register: pl.DataFrame, log: pl.DataFrame) -> dict[str, Any]:
    """Tonight's dispositions in force on the register, and the decision log's counts by decision
    and by reviewer (every decision ever imported): the report's decision log."""
    tonight = {
        str(d): int(n) for d, n in register.group_by("disposition").len().sort("disposition").iter_rows() if d is not None
    }
    by_reviewer: dict[str, dict[str, int]] = {}
    for reviewer, decision, n in log.group_by("reviewer", "decision").len().sort("reviewer", "decision").iter_rows():
        by_reviewer.setdefault(str(reviewer), {})[str(decision)] = int(n)
    by_decision = {str(d): int(n) for d, n in log.group_by("decision").len().sort("decision").iter_rows()}
    return {"in_force": tonight, "logged": log.height, "by_decision": by_decision, "by_reviewer": by_reviewer}


def open_findings(register: pl.DataFrame, severity: str) -> int:
    """Findings of a severity still open: no decision, or a decision that confirms them."""
    return register.filter((pl.col("severity") == severity) & is_open()).height


def write_register(register: pl.DataFrame, folder: Path) -> None:
    """exceptions.csv and .parquet: the register's columns, then change, first seen, disposition."""
    register.write_parquet(folder / "exceptions.parquet")
    write_csv(register, folder / "exceptions.csv")


def resolved_rows(resolved: pl.DataFrame, previous_run: str | None) -> pl.DataFrame:
    """The previous run's findings no longer raised, in the register's columns, then `how` each
    closed: fixed, left_the_extract or aged_out."""
    if resolved.height == 0:
        return pl.DataFrame(schema=dict.fromkeys((*REGISTER_COLUMNS, "how"), pl.String))
    return resolved.with_columns(pl.lit(previous_run).alias("run_id")).select(*REGISTER_COLUMNS, "how")


def night_figures(run_summary: dict[str, Any]) -> dict[str, Any]:
    """A night's headline figures, as the store keeps them (and the report's trends read them)."""
    figures = run_summary["headline"]
    return {
        "run_id": run_summary["run_id"],
        "exceptions": run_summary["register_rows"],
        "new_findings": run_summary["changes"]["new"],
        "recurring": run_summary["changes"]["recurring"],
        "resolved": run_summary["changes"]["resolved"],
        "open_high": run_summary["open_high"],
        "recording_rate": figures["recording"]["rate"],
        "recording_low": figures["recording"]["wilson_low"],
        "recording_high": figures["recording"]["wilson_high"],
        "timeliness_rate": figures["timeliness"]["rate"],
        "classification_rate": figures["classification"]["rate"],
        "table_rows": run_summary["table_rows"],
    }


def store_row(
    run_summary: dict[str, Any],
    run_manifest: dict[str, Any],
    started_at: datetime,
    loaded: LoadedExtract,
    exit_code: int,
) -> dict[str, Any]:
    """The run as the store keeps it: what it read, with what, and its headline figures."""
    config_path = run_manifest.get("config")
    return {
        **night_figures(run_summary),
        "as_of": datetime.fromisoformat(run_summary["as_of"]),
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "exit_code": exit_code,
        "complete": True,
        "inputs": [{k: f[k] for k in ("table", "file", "sha256", "size_bytes")} for f in run_manifest["inputs"]],
        "profile_name": run_manifest["profile"]["name"],
        "profile_sha256": run_manifest["profile"]["sha256"],
        "pack_version": run_manifest["rule_pack"]["version"],
        "pack_sha256": run_manifest["rule_pack"]["sha256"],
        "config_sha256": sha256_of(Path(config_path)) if config_path else None,
        "timings": run_manifest["timings_seconds"],
        "rows_read": sum(c.read for c in loaded.validation.counts.values()),
        "quarantined": sum(c.quarantined for c in loaded.validation.counts.values()),
        "purpose": run_summary.get("purpose", "nightly"),
    }


def history_for_report(store: RunStore, run_summary: dict[str, Any], nights: int = 30) -> dict[str, Any]:
    """The last nights' figures (this one included) for the report's trend charts."""
    earlier = store.history(nights - 1, nights_only=True).filter(
        pl.col("as_of") < datetime.fromisoformat(run_summary["as_of"])
    )
    rule_rates = store.rule_history(earlier["run_id"].to_list())
    runs = [
        {
            **{name: row[column] for name, column in NIGHT_FIELDS},
            "as_of": row["as_of"].isoformat(),
            "rules": {
                r["rule_id"]: r["rate"] for r in rule_rates.filter(pl.col("run_id") == row["run_id"]).iter_rows(named=True)
            },
        }
        for row in earlier.tail(nights - 1).iter_rows(named=True)
    ]
    tonight = night_figures(run_summary)
    runs.append(
        {
            **{name: tonight[column] for name, column in NIGHT_FIELDS},
            "as_of": run_summary["as_of"],
            "rules": {r["id"]: r["rate"] for r in run_summary["rules"]},
        }
    )
    return {"runs": runs}


NIGHT_FIELDS = (
    ("run_id", "run_id"),
    ("recording_rate", "recording_rate"),
    ("timeliness_rate", "timeliness_rate"),
    ("classification_rate", "classification_rate"),
    ("exceptions", "exceptions"),
    ("new", "new_findings"),
    ("resolved", "resolved"),
)
"""A night in the report's trends: its name there, and its column in the run store."""
