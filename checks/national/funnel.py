"""Funnel plots: each force's rate against its population, with control limits around the
national rate (Spiegelhalter, 'Funnel plots for comparing institutional performance', 2005).

The limits at population n are p0 +/- z * sqrt(p0 (1 - p0) / n), cut to [0, 1]: z = 1.96 for 95%
and 3.09 for 99.8%. A force beyond the 99.8% limits is an outlier (about 1 in 500 forces would be
by chance); between the 95% and 99.8% limits is an alert.
"""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959963984540054
Z998 = 3.090232306167813


def limits(p0: float, n: int, z: float) -> tuple[float, float]:
    half = z * math.sqrt(p0 * (1 - p0) / n) if n > 0 else 1.0
    return max(0.0, p0 - half), min(1.0, p0 + half)


def position(rate: float, p0: float, n: int) -> str:
    """'outlier-high', 'alert-high', 'within', 'alert-low' or 'outlier-low' against the limits."""
    low95, high95 = limits(p0, n, Z95)
    low998, high998 = limits(p0, n, Z998)
    if rate > high998:
        return "outlier-high"
    if rate < low998:
        return "outlier-low"
    if rate > high95:
        return "alert-high"
    if rate < low95:
        return "alert-low"
    return "within"


def funnel(rule_id: str, title: str, points: list[tuple[str, int, int]]) -> dict[str, Any] | None:
    """The funnel of one rule from (force, population, breaches); None if no force has a population."""
    shown = [(force, n, b) for force, n, b in points if n > 0]
    total = sum(n for _, n, _ in shown)
    if not total:
        return None
    p0 = sum(b for _, _, b in shown) / total
    return {
        "rule": rule_id,
        "title": title,
        "national_rate": p0,
        "population": total,
        "points": [
            {
                "force": force,
                "population": n,
                "breaches": b,
                "rate": b / n,
                "limits95": limits(p0, n, Z95),
                "limits998": limits(p0, n, Z998),
                "position": position(b / n, p0, n),
            }
            for force, n, b in shown
        ],
    }
