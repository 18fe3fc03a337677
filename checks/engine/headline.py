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
from recordcheck.checks.extract.contract import HEADLINE_MEASURES

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
    tail = f"; {figure['compliant']:,} of {figure['total']:,}" if counts else ""
    return f"{what} {figure['rate']:.2%} (95% CI {figure['wilson_low']:.2%} to {figure['wilson_high']:.2%}{tail})"


def headline_figures(rules: list[dict[str, Any]], register: pl.DataFrame, measures: dict[str, Any]) -> dict[str, Any]:
    """Recording, timeliness and classification from the rules' results, the register and the
    pack's `reports` measure (reports that disclosed an offence and have a crime)."""
    unrecorded = register.filter(pl.col("finding").is_in(UNRECORDED)).height
    wrong = register.filter(pl.col("finding").is_in(CLASSIFICATION))["record_id"].n_unique()
    return headline_from_counts(rules, unrecorded, wrong, measures)


def headline_from_counts(
    rules: list[dict[str, Any]], unrecorded: int, misclassified: int, measures: dict[str, Any]
) -> dict[str, Any]:
    """The same figures from two counts of the register (its unrecorded-crime rows, and the
    distinct records found misclassified): what an engine that keeps the register on its
    executors (Spark) sends back."""
    recorded = sum(int(row.get("recorded") or 0) for row in measures.get("reports") or [])
    ran = [r for r in rules if r["status"] == "run"]
    timely = [r for r in ran if r["finding"] in TIMELINESS]
    population = sum(r["population"] for r in timely)
    late = sum(r["breaches"] for r in timely)
    classified = [r for r in ran if r["finding"] in CLASSIFICATION]
    checked = sum(r["population"] for r in classified)
    return {
        "recording": rate_figure(recorded, recorded + unrecorded),
        "timeliness": rate_figure(population - late, population),
        "classification": rate_figure(checked - misclassified, checked),
    }
