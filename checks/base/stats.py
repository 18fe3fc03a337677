"""Interval estimates for compliance rates, as used in crime data integrity reporting."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval: sound for small strata and rates near 100%."""
    if n <= 0:
        return None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def wald_half_width(successes: int, n: int, z: float = Z95) -> float | None:
    """Normal-approximation +/- (no finite population correction), as HMICFRS figures appear to use."""
    if n <= 0:
        return None
    p = successes / n
    return z * math.sqrt(p * (1 - p) / n)


def unrecorded_per_year(annual_recorded: float, rate: float | None) -> float | None:
    """Crimes a year left unrecorded at a recording rate: the N crimes a year that are recorded
    are the rate's share of the crimes due, so N / r are due and N (1 - r) / r are not recorded.
    The one formula of the report's estimate and `recordcheck estimate` (None: no rate, or 0)."""
    if not rate:
        return None
    return annual_recorded * (1 - rate) / rate


def percent(value: float | None) -> str:
    """A rate as the report and the command line print it: one decimal, and a rate below 100%
    never printed as 100.0% (a handful of breaches stays visible); 'n/a' for none."""
    if value is None:
        return "n/a"
    tenths = round(value * 1000)
    if value < 1 and tenths >= 1000:
        tenths = 999
    return f"{tenths / 10:.1f}%"
