"""The exceptions register and the run summary: results kept as data for reports and history.

The register has the contract's columns in order, then extra columns (title, strata). Quarantined
rows join it as `data_quality` findings so nothing the run could not use is invisible.
"""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl

from recordcheck.checks.base.config import RunConfig, Threshold
from recordcheck.checks.base.refdata import ReferenceData
from recordcheck.checks.engine.engine import REGISTER_SCHEMA, EngineResult, RuleResult
from recordcheck.checks.extract.contract import REGISTER_COLUMNS, REGISTER_EXTRA_COLUMNS, TABLES
from recordcheck.checks.validation.validate import AcceptedTables

QUARANTINE_RULE = "QUARANTINE"
QUARANTINE_TITLE = "A row could not be read or broke the extract contract, and was quarantined"
_RECORD_TYPE = {name: table.record_type for name, table in TABLES.items()}


def fingerprint(*parts: str) -> str:
    """The register's fingerprint: first 16 hex digits of sha256 of the parts joined by '|'.

    The engine computes the same in SQL for rule findings (rule_id|record_type|record_id), so a
    finding keeps its fingerprint across runs and library versions.
    """
    return _digest("|".join(parts))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _data_quality_rows(
    frame: pl.DataFrame,
    run_id: str,
    rule_id: str,
    severity: str,
    title: str,
    record_type: pl.Expr,
    identity: list[pl.Expr],
    detail: pl.Expr,
    evidence: list[pl.Expr],
) -> pl.DataFrame:
    """Register rows for records the rules did not flag but the run found wanting (quarantined
    rows, unknown districts): fingerprinted from `identity`, with no strata."""
    return frame.select(
        pl.lit(run_id).alias("run_id"),
        pl.lit(rule_id).alias("rule_id"),
        pl.lit("data_quality").alias("finding"),
        pl.lit(severity).alias("severity"),
        record_type.alias("record_type"),
        pl.col("record_id"),
        pl.lit(None, pl.String).alias("district"),
        pl.concat_str([pl.lit(rule_id), *identity], separator="|")
        .map_elements(_digest, return_dtype=pl.String)
        .alias("fingerprint"),
        detail.alias("detail"),
        pl.concat_str(evidence, separator="|").map_elements(_digest, return_dtype=pl.String).alias("evidence"),
        pl.lit(title).alias("title"),
        *(pl.lit(None, pl.String).alias(c) for c in REGISTER_EXTRA_COLUMNS if c not in ("evidence", "title")),
    ).cast(REGISTER_SCHEMA)  # type: ignore[arg-type]


def quarantine_findings(quarantine: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """One data_quality row per quarantined row (its checks joined), fingerprinted by table and id."""
    if quarantine.height == 0:
        return pl.DataFrame(schema=REGISTER_SCHEMA)
    per_row = quarantine.group_by(["table", "row_number", "origin"], maintain_order=True).agg(
        pl.col("record_id").first(), pl.col("check").sort().str.join(","), pl.col("reason").str.join("; ")
    )
    record_type = pl.col("table").replace_strict(_RECORD_TYPE, default="crime")
    ident = pl.coalesce(pl.col("record_id"), pl.lit("row ") + pl.col("row_number").cast(pl.String))
    detail = (
        pl.lit("Row ")
        + pl.col("row_number").cast(pl.String)
        + pl.lit(" of ")
        + pl.col("origin")
        + pl.lit(" was quarantined: ")
        + pl.col("reason")
        + pl.lit(".")
    )
    return _data_quality_rows(
        per_row,
        run_id,
        QUARANTINE_RULE,
        "medium",
        QUARANTINE_TITLE,
        record_type,
        [pl.col("table"), ident, pl.col("check")],
        detail,
        [pl.col("check"), pl.col("reason")],
    )


DISTRICT_RULE = "DISTRICT"
DISTRICT_TITLE = "A record's district is not one of the force's districts"
_PLACE_LIKE = r"^[A-Za-z][A-Za-z .'&-]{0,40}$"


def district_findings(accepted: AcceptedTables, districts: list[str] | None, run_id: str) -> pl.DataFrame:
    """One data_quality row per record whose district is outside the force's list (config
    `districts`). The value is shown only when it looks like a place name, else its length."""
    if not districts:
        return pl.DataFrame(schema=REGISTER_SCHEMA)
    known = "[" + ", ".join("'" + d.replace("'", "''") + "'" for d in districts) + "]::VARCHAR[]"
    parts = [
        f"SELECT '{TABLES[t].record_type}' AS record_type, CAST({TABLES[t].id_column} AS VARCHAR) AS record_id, "
        f"district FROM {accepted.relation(t)} WHERE district IS NOT NULL AND NOT list_contains({known}, district)"
        for t in ("referrals", "incidents", "crimes")
        if t in accepted
    ]
    if not parts:
        return pl.DataFrame(schema=REGISTER_SCHEMA)
    found = accepted.database.con.sql(" UNION ALL ".join(parts)).pl()
    if found.height == 0:
        return pl.DataFrame(schema=REGISTER_SCHEMA)
    shown = (
        pl.when(pl.col("district").str.contains(_PLACE_LIKE))
        .then(pl.lit("'") + pl.col("district") + pl.lit("'"))
        .otherwise(pl.lit("a value of ") + pl.col("district").str.len_chars().cast(pl.String) + pl.lit(" characters"))
    )
    detail = (
        pl.col("record_type").str.to_titlecase()
        + pl.lit(" ")
        + pl.col("record_id")
        + pl.lit(" has district ")
        + shown
        + pl.lit(", which is not one of the force's districts; it is counted under no district.")
    )
    return _data_quality_rows(
        found,
        run_id,
        DISTRICT_RULE,
        "low",
        DISTRICT_TITLE,
        pl.col("record_type"),
        [pl.col("record_type"), pl.col("record_id")],
        detail,
        [pl.lit(DISTRICT_RULE), pl.col("district")],
    )


def build_register(
    engine: EngineResult, quarantine: pl.DataFrame, run_id: str, more: list[pl.DataFrame] | None = None
) -> pl.DataFrame:
    """The rules' findings, the quarantined rows and any other data-quality rows, in one register."""
    register = pl.concat([engine.register, quarantine_findings(quarantine, run_id), *(more or [])])
    extra = [c for c in register.columns if c not in REGISTER_COLUMNS]
    return register.select([*REGISTER_COLUMNS, *extra])


def threshold_state(result: RuleResult, threshold: Threshold | None, suppressed: int = 0) -> str:
    """'ok', 'warn' or 'error' for a rule's breaches against its configured threshold. Findings an
    auditor judged false positives or waived (`suppressed`) do not count."""
    if threshold is None or result.status != "run":
        return "ok"
    breaches = max(0, result.breaches - suppressed)
    rate = breaches / result.population if result.population else 0.0
    if (threshold.error_rate is not None and rate > threshold.error_rate) or (
        threshold.error_count is not None and breaches > threshold.error_count
    ):
        return "error"
    if (threshold.warn_rate is not None and rate > threshold.warn_rate) or (
        threshold.warn_count is not None and breaches > threshold.warn_count
    ):
        return "warn"
    return "ok"


def summary(
    engine: EngineResult,
    config: RunConfig,
    counts: dict[str, Any],
    quarantined_rows: int,
    reference: ReferenceData,
    dispositions: dict[str, dict[str, int]] | None = None,
) -> dict[str, Any]:
    """Everything a report needs besides the register: per-rule results with the rule's own
    documentation, and the reference data in force for this run (so grades follow the config)."""
    rules: list[dict[str, Any]] = []
    dispositions = dispositions or {}
    for result in engine.results:
        rule = result.rule
        judged = dispositions.get(rule.id, {})
        rules.append(
            {
                "id": rule.id,
                "name": rule.name,
                "family": rule.family,
                "requires": list(rule.requires),
                "title": rule.title_for(reference.limits),
                "finding": rule.finding,
                "severity": rule.severity,
                "rationale": rule.rationale,
                "reference": rule.reference,
                "assumptions": list(rule.assumptions),
                "status": result.status,
                "reason_not_run": result.reason or None,
                "parts_not_run": [{"part": part, "why": why} for part, why in result.parts_not_run],
                "population": result.population,
                "breaches": result.breaches,
                "rate": result.rate,
                "compliance": None if result.rate is None else 1 - result.rate,
                "threshold": threshold_state(result, config.thresholds.get(rule.id), judged.get("suppressed", 0)),
                "false_positives": judged.get("false_positives", 0),
                "reviewed": judged.get("reviewed", 0),
                "suppressed": judged.get("suppressed", 0),
                "strata": result.strata,
                "seconds": round(result.seconds, 3),
            }
        )
    by_finding: dict[str, int] = {}
    for item in rules:
        by_finding[item["finding"]] = by_finding.get(item["finding"], 0) + item["breaches"]
    by_finding["data_quality"] = by_finding.get("data_quality", 0) + quarantined_rows
    return {
        "tables": {name: counts.get(name) for name in TABLES},
        "findings": by_finding,
        "rules": rules,
        "reference": {
            "grade_bands": [
                {"grade": b.grade, "min_percent": b.min_percent, "inclusive": b.inclusive, "hmicfrs": b.hmicfrs}
                for b in reference.grade_bands
            ],
            "outcome_labels": {str(k): v for k, v in sorted(reference.outcome_labels.items())},
        },
    }
