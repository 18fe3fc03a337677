"""The headline figures of a run, as CDA audits and HMICFRS inspections state them: the recording
rate, the share recorded within 24 hours and classification accuracy, each with its 95% Wilson
interval.

They are defined by finding kinds (the contract's fixed vocabulary), never by rule ids, so a pack
can add or rename rules without touching this. Computed once here and written to summary.json:
the report shows them, the run store keeps them, and the headline line prints them.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from recordcheck.checks.base.stats import wald_half_width, wilson
from recordcheck.checks.extract.contract import HEADLINE_MEASURES, RECORDING_SHORTFALL

UNRECORDED = HEADLINE_MEASURES["recording"]
"""Findings that mean a report should have been recorded and was not."""
TIMELINESS = HEADLINE_MEASURES["timeliness"]
CLASSIFICATION = HEADLINE_MEASURES["classification"]


def rate_figure(compliant: int, total: int) -> dict[str, Any]:
    interval = wilson(compliant, total)
    return {
        "compliant": compliant,
        "total": total,
        "rate": compliant / total if total else None,
        "wilson_low": interval[0] if interval else None,
        "wilson_high": interval[1] if interval else None,
        "wald_pm": wald_half_width(compliant, total),
    }


def rate_phrase(figure: dict[str, Any], what: str = "recording rate", counts: bool = False) -> str:
    """A rate figure as the headline line says it: 'recording rate 99.64% (95% CI 99.38% to
    99.80%)', with '; 3,347 of 3,359' inside the brackets when `counts`; the same words for a
    force's night and for a national run."""
    if figure["rate"] is None:
        return "no reports to rate"
    unit = f" {figure['unit']}" if figure.get("unit") else ""
    tail = f"; {figure['compliant']:,} of {figure['total']:,}{unit}" if counts else ""
    return f"{what} {figure['rate']:.2%} (95% CI {figure['wilson_low']:.2%} to {figure['wilson_high']:.2%}{tail})"


def headline_figures(rules: list[dict[str, Any]], register: pl.DataFrame, measures: dict[str, Any]) -> dict[str, Any]:
    """Recording (in crimes, and in reports), timeliness and classification from the rules'
    results, the register and the pack's measures."""
    unrecorded = register.filter(pl.col("finding").is_in(UNRECORDED)).height
    wrong = register.filter(pl.col("finding").is_in(CLASSIFICATION))["record_id"].n_unique()
    return headline_from_counts(rules, unrecorded, wrong, measures)


def false_positive_records(register: pl.DataFrame, kinds: tuple[str, ...]) -> pl.DataFrame:
    """record_type, record_id of each record every one of whose findings of these kinds is a false
    positive in force (a record with no finding of them is not listed)."""
    return (
        register.filter(pl.col("finding").is_in(kinds))
        .group_by("record_type", "record_id")
        .agg((pl.col("disposition") == "false_positive").fill_null(False).all().alias("false_positive"))
        .filter(pl.col("false_positive"))
        .select("record_type", "record_id")
    )


def net_of_false_positives(headline: dict[str, Any], register: pl.DataFrame, measures: dict[str, Any]) -> None:
    """Add `net` to each headline figure: the same rate with the records auditors confirmed false
    positives taken out of the denominator (a record every one of whose findings for the measure
    is a false positive in force; it should not have been judged). The gross figure stays the
    headline's; `net.false_positives` says how many records left it: for the recording rate in
    crimes, the crimes those reports were short (crimes due less counted, the pack's
    `recording_shortfall` measure), among all their recording findings, undercounting included."""
    for key, kinds in (("recording_reports", UNRECORDED), ("timeliness", TIMELINESS), ("classification", CLASSIFICATION)):
        removed = false_positive_records(register, kinds).height
        figure = headline[key]
        figure["net"] = {**rate_figure(figure["compliant"], figure["total"] - removed), "false_positives": removed}
    recording = headline["recording"]
    if recording.get("unit") != "crimes" or "recording_shortfall" not in measures:
        recording["net"] = {**headline["recording_reports"]["net"]}
        return
    shortfall = pl.DataFrame(
        measures["recording_shortfall"],
        schema={"record_type": pl.String, "record_id": pl.String, "shortfall": pl.Int64},
    )
    short = false_positive_records(register, RECORDING_SHORTFALL).join(shortfall, on=["record_type", "record_id"])
    crimes = int(short["shortfall"].sum() or 0)
    recording["net"] = {**rate_figure(recording["compliant"], recording["total"] - crimes), "false_positives": crimes}


def rule_net(rule: dict[str, Any]) -> dict[str, Any]:
    """A rule's compliance net of its confirmed false positives: they leave its population."""
    false_positives = int(rule.get("false_positives") or 0)
    population, breaches = int(rule["population"]), int(rule["breaches"])
    return {**rate_figure(population - breaches, population - false_positives), "false_positives": false_positives}


def headline_from_counts(
    rules: list[dict[str, Any]], unrecorded: int, misclassified: int, measures: dict[str, Any]
) -> dict[str, Any]:
    """The same figures from two counts of the register (its unrecorded-crime rows, and the
    distinct records found misclassified): what an engine that keeps the register on its
    executors (Spark) sends back.

    `recording` counts crimes, as HMICFRS does: the crimes due of the reports the recording rules
    judged (one per victim where the offence counts victims), and how many of them the linked
    crimes record; so a report one victim short is a shortfall in the rate. `recording_reports`
    is the same rate counted in reports (a report recorded if it has any crime)."""
    report_rows = measures.get("reports") or []
    recorded = sum(int(row.get("recorded") or 0) for row in report_rows)
    ran = [r for r in rules if r["status"] == "run"]
    # each measure's denominator counts a record once, however many of its rules judged it (the
    # pack's `judged` measure); a pack without that measure falls back to the rules' sum
    judged = {str(row["measure"]): int(row["records"]) for row in measures.get("judged") or []}
    timely = [r for r in ran if r["finding"] in TIMELINESS]
    population = judged.get("timeliness", sum(r["population"] for r in timely)) if timely else 0
    late = sum(r["breaches"] for r in timely)
    classified = [r for r in ran if r["finding"] in CLASSIFICATION]
    checked = judged.get("classification", sum(r["population"] for r in classified)) if classified else 0
    by_reports = rate_figure(recorded, recorded + unrecorded)
    # a run folder from a pack before crimes were counted has no crimes_due: its reports stand in
    in_crimes = all("crimes_due" in row for row in report_rows)
    crimes = by_reports
    if in_crimes:
        due = sum(int(r["crimes_due"] or 0) for r in report_rows)
        crimes = rate_figure(sum(int(r["crimes_recorded"] or 0) for r in report_rows), due)
    return {
        "recording": {**crimes, "unit": "crimes" if in_crimes else "reports"},
        "recording_reports": by_reports,
        "timeliness": rate_figure(population - late, population),
        "classification": rate_figure(checked - misclassified, checked),
        "groups": protection_figures(measures),
    }


CHILD_BANDS = ("child under 13", "child 13 to 15", "child 16 to 17", "child, age unknown")
"""The pack's victim groups for children (its `victim_group` macro), youngest first."""
PROTECTION_GROUPS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("children", "child victims (under 18 at the report)", CHILD_BANDS),
    *((band, band, (band,)) for band in CHILD_BANDS),
    ("vulnerable_adults", "vulnerable adults", ("vulnerable adult",)),
    ("cse", "child sexual exploitation (a CSE referral or a CSE-flagged crime)", None),
)
"""The victims in public protection measured apart: key, label and the victim groups it spans
(None: the reports the pack marks `cse`, whatever the victim's group)."""


def protection_figures(measures: dict[str, Any]) -> list[dict[str, Any]]:
    """The recording rate of each group of victims in public protection, from the pack's
    `protection` measure, in crimes as the headline's recording rate is: crimes recorded / crimes
    due of the reports the recording rules judged (reports, for a run folder from an older pack)."""
    rows = measures.get("protection") or []
    in_crimes = all("crimes_due" in row for row in rows)
    figures = []
    for key, label, groups in PROTECTION_GROUPS:
        chosen = [r for r in rows if (r.get("cse") is True if groups is None else r.get("victim_group") in groups)]
        if in_crimes:
            recorded = sum(int(r.get("crimes_recorded") or 0) for r in chosen)
            due = sum(int(r.get("crimes_due") or 0) for r in chosen)
        else:
            recorded = sum(int(r.get("recorded") or 0) for r in chosen)
            due = recorded + sum(int(r.get("unrecorded") or 0) for r in chosen)
        figures.append({"group": key, "label": label, **rate_figure(recorded, due)})
    return figures
