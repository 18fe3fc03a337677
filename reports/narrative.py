"""The report's words: the cover, the executive summary and the areas for improvement, generated
from the run's own figures (never from the extract), as a CDA audit or an inspection would state
them. Figures only: counts, rates with intervals, rule ids, districts and agencies."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from recordcheck.reports.context import Rate
from recordcheck.reports.figures import in_crimes


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _rate_words(rate: Rate) -> str:
    """As the tables print it: one decimal, the interval rounded outward so it holds the estimate."""
    if rate.rate is None or rate.wilson_low is None or rate.wilson_high is None:
        return "not measurable (no records)"
    tenths = min(round(rate.rate * 1000), 999 if rate.rate < 1 else 1000)
    low = math.floor(rate.wilson_low * 1000 + 1e-9) / 10
    high = min(1000, math.ceil(rate.wilson_high * 1000 - 1e-9)) / 10
    return f"{tenths / 10:.1f}% (95% CI {low:.1f}% to {high:.1f}%; {rate.compliant:,} of {rate.total:,})"


def _unit(recording: Rate) -> str:
    """How the headline rate counts: in crimes (one per victim), or in reports for an older run."""
    return ", in crimes (one per victim)," if recording.label == "crimes due" else ", in reports,"


def _worst_stratum(rule: dict[str, Any]) -> str:
    """The district or agency where a rule's breach rate is highest, as 'worst in district
    Rotherham (4 of 27)': the worst rate, not the largest count (a tie goes to more breaches)."""
    worst: tuple[float, int, str, str, int] | None = None
    for stratum in ("referrer_agency", "district"):
        for row in rule.get("strata", {}).get(stratum, []):
            if not row["breaches"] or not row["population"]:
                continue
            candidate = (
                row["breaches"] / row["population"],
                row["breaches"],
                stratum.replace("referrer_", ""),
                row["value"].replace("_", " "),
                row["population"],
            )
            if worst is None or candidate[:2] > worst[:2]:
                worst = candidate
    if worst is None:
        return ""
    return f"; worst in {worst[2]} {worst[3]} ({worst[1]:,} of {worst[4]:,})"


def executive_summary(
    summary: dict[str, Any],
    recording: Rate,
    public_protection: Rate,
    open_findings: int,
    open_high: int,
) -> list[str]:
    """A few sentences a chief officer can read: exceptions, the recording rates, the worst rules,
    and what changed since the previous run."""
    sentences = [
        f"{open_findings:,} exception(s) are open, {open_high:,} of them high severity.",
        f"The recording rate seen by the nightly screen{_unit(recording)} is {_rate_words(recording)}; for "
        f"referrals from professional third parties (public protection) it is {_rate_words(public_protection)}.",
    ]
    ran = [r for r in summary["rules"] if r["status"] == "run" and r["population"] and r["breaches"]]
    worst = sorted(ran, key=lambda r: (r["compliance"], r["id"]))[:3]
    if worst:
        named = "; ".join(
            f"{r['id']} ({r['title'].rstrip('.')}): {_pct(r['compliance'])} compliant{_worst_stratum(r)}" for r in worst
        )
        sentences.append(f"The rules with the worst compliance: {named}.")
    changes = summary.get("changes")
    if changes and summary.get("previous_run"):
        sentences.append(
            f"Since the previous run: {changes['new']:,} new, {changes['resolved']:,} resolved, "
            f"{changes['recurring']:,} still open from before."
        )
    elif changes:
        sentences.append("This is the first run in the store: every finding is new.")
    not_run = [r["id"] for r in summary["rules"] if r["status"] != "run"]
    if not_run:
        sentences.append(f"{len(not_run)} rule(s) did not run ({', '.join(not_run)}): their findings are unknown, not zero.")
    return sentences


def areas_for_improvement(
    summary: dict[str, Any], rule_rates: dict[str, Rate], good: set[str], rates: list[tuple[str, Rate]]
) -> list[str]:
    """Generated on every run: one sentence for each figure whose rate is below the good bands
    (`rates`: the headline, the victim groups, public protection by agency and district, rape and
    other sexual offences), with its interval and the grade the interval supports; then one for
    each rule below them, over a threshold, or with high-severity findings, naming what to look
    at. A good rate whose interval also reaches lower is not an area: the evidence does not show it."""
    areas = [
        f"{what}: {_rate_words(rate)}, graded {rate.grade}."
        for what, rate in rates
        if rate.point_grade and rate.point_grade not in good
    ]
    for rule in summary["rules"]:
        if rule["status"] != "run" or not rule["population"]:
            continue
        point = rule_rates[rule["id"]].point_grade if rule["id"] in rule_rates else ""
        why = []
        if point and point not in good:
            why.append(f"graded {rule_rates[rule['id']].grade}")
        if rule["threshold"] != "ok":
            why.append(f"over its {rule['threshold']} threshold")
        if rule["severity"] == "high" and rule["breaches"]:
            why.append(f"{rule['breaches']:,} high-severity finding(s)")
        if why:
            areas.append(
                f"{rule['id']}: {rule['title'].rstrip('.')}. Compliance {_pct(rule['compliance'])}, {'; '.join(why)}"
                f"{_worst_stratum(rule)}. Look at its {rule['breaches']:,} record(s) in the register."
            )
    return areas


def group_rates(reports: pl.DataFrame, unrecorded: pl.DataFrame, make: Any) -> list[Rate]:
    """Recording rate per offence group, in crimes as the headline: crimes recorded / crimes due
    (reports, for a run folder from before crimes were counted)."""
    if reports.height == 0:
        return []
    coded = reports.filter(pl.col("offence_group") != "")
    missed = unrecorded.filter(pl.col("offence_group").is_not_null()).select("offence_group")
    rows = [
        make(str(group), int(done), int(due))
        for group, _, due, done in in_crimes(coded, "offence_group", missed).sort("offence_group").iter_rows()
    ]
    return [r for r in rows if r.total]
