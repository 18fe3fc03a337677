"""A force's figures in a national run, the same whichever engine produced them."""

from __future__ import annotations

from typing import Any

from recordcheck.checks.base.refdata import ReferenceData
from recordcheck.checks.base.stats import wilson
from recordcheck.checks.engine.engine import RuleResult

EXAMPLES_PER_RULE = 5
"""Register rows per rule and force that the national report shows (by record, first in order)."""
EXAMPLE_COLUMNS = ("rule_id", "record_type", "record_id", "district", "detail")


def rule_figures(results: list[RuleResult], reference: ReferenceData) -> list[dict[str, Any]]:
    figures = []
    for result in results:
        rule = result.rule
        interval = wilson(result.breaches, result.population)
        figures.append(
            {
                "id": rule.id,
                "title": rule.title_for(reference.limits),
                "family": rule.family,
                "finding": rule.finding,
                "severity": rule.severity,
                "status": result.status,
                "reason_not_run": result.reason or None,
                "population": result.population,
                "breaches": result.breaches,
                "rate": result.rate,
                "rate_low": interval[0] if interval else None,
                "rate_high": interval[1] if interval else None,
                "strata": result.strata,
            }
        )
    return figures
