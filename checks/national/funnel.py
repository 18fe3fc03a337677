"""Funnel plots: each force's breach rate against its population, with control limits that judge
forces fairly (Spiegelhalter, 'Funnel plots for comparing institutional performance', Statistics
in Medicine 24:1185-1202, 2005).

- **The target leaves the force out.** Each force is judged against the rate of all the other
  forces, so a large force does not pull the target towards itself (the national rate where the
  others hold fewer records than the force: their rate would be the noisier of the two).
- **Small populations get exact limits.** Where the normal approximation is poor (fewer than 10
  expected breaches), the limits are the binomial quantiles, interpolated as the paper's appendix
  sets out: with F the Bin(n, p) distribution function and r the smallest count with F(r) >= q,
  the limit is (r - (F(r) - q) / (F(r) - F(r - 1))) / n; a force's position there is judged by the
  exact tail probability of its own count. A force with no breaches can then be a low outlier when
  its population is large enough, which the normal limits cut at zero never allow.
- **Ordinary variation between forces is allowed for** (the paper's additive random-effects
  model). With 10 or more forces, the z-scores against the national rate are winsorised at their
  10th and 90th percentiles; phi = sum(z^2) / I; if I * phi > I - 1, the between-force variance
  tau^2 = (I * phi - (I - 1)) / (sum(w) - sum(w^2) / sum(w)), w = n / (p (1 - p)), is added to
  each force's binomial variance: limits p +/- z * sqrt(p (1 - p) / n + tau^2). Without it, 43
  large forces mostly plot as outliers on a rate that varies between forces for ordinary reasons.

z = 1.96 for 95% and 3.09 for 99.8%. A force beyond the 99.8% limits is an outlier; between the 95%
and 99.8% limits, an alert; a rate exactly on a limit is inside it.
"""

from __future__ import annotations

import math
from typing import Any

Z95 = 1.959963984540054
Z998 = 3.090232306167813
TAILS = {Z95: (0.025, 0.975), Z998: (0.001, 0.999)}
"""The lower and upper quantiles of each limit's z."""
EXACT_BELOW = 10.0
"""Exact binomial limits when n * min(p, 1 - p) is below this many expected events."""
MIN_FORCES_FOR_OVERDISPERSION = 10
"""Fewer forces than this give no usable estimate of the variation between them."""


def _pmf(n: int, p: float, r: int) -> float:
    """P(X = r) for X ~ Bin(n, p), 0 < p < 1, in logs (no overflow for large n)."""
    return math.exp(
        math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1) + r * math.log(p) + (n - r) * math.log1p(-p)
    )


def _binomial_quantile(n: int, p: float, q: float) -> float:
    """Spiegelhalter's interpolated binomial limit as a proportion (his appendix A.1.1), for
    0 < p <= 0.5 and q < 1: F(r) - F(r - 1) is P(X = r)."""
    cdf = 0.0
    for r in range(n + 1):
        pmf = _pmf(n, p, r)
        cdf += pmf
        if cdf >= q:
            return max(0.0, (r - (cdf - q) / pmf) / n)
    return 1.0


def limits(p0: float, n: int, z: float, tau2: float = 0.0) -> tuple[float, float]:
    """The limits at population n around the target p0: exact binomial for a small expected count
    (and no between-force variance), else normal with tau2 added; cut to [0, 1]."""
    if n <= 0:
        return 0.0, 1.0
    if z in TAILS and _exact(n, p0, tau2):
        low_q, high_q = TAILS[z]
        return _binomial_quantile(n, p0, low_q), _binomial_quantile(n, p0, high_q)
    half = z * math.sqrt(p0 * (1 - p0) / n + tau2)
    return max(0.0, p0 - half), min(1.0, p0 + half)


def _exact(n: int, p0: float, tau2: float) -> bool:
    """Whether the limits at n are exact binomial: a small expected count, no between-force variance."""
    return tau2 == 0.0 and 0.0 < p0 <= 0.5 and n * p0 < EXACT_BELOW


def _cdf(n: int, p: float, upto: int) -> float:
    """P(X <= upto) for X ~ Bin(n, p) (0 for a negative upto)."""
    return sum(_pmf(n, p, r) for r in range(min(upto, n) + 1))


def position(rate: float, p0: float, n: int, tau2: float = 0.0) -> str:
    """'outlier-high', 'alert-high', 'within', 'alert-low' or 'outlier-low'. Against the normal
    limits; where the limits are exact, by the exact tail probability of the force's own count
    (P(X >= b) or P(X <= b) below 0.1% or 2.5%), so one breach in one record is not an outlier."""
    if _exact(n, p0, tau2):
        breaches = round(rate * n)
        above, below = 1.0 - _cdf(n, p0, breaches - 1), _cdf(n, p0, breaches)
        for tail, name in ((TAILS[Z998][0], "outlier"), (TAILS[Z95][0], "alert")):
            if above < tail:
                return f"{name}-high"
            if below < tail:
                return f"{name}-low"
        return "within"
    low95, high95 = limits(p0, n, Z95, tau2)
    low998, high998 = limits(p0, n, Z998, tau2)
    if rate > high998:
        return "outlier-high"
    if rate < low998:
        return "outlier-low"
    if rate > high95:
        return "alert-high"
    if rate < low95:
        return "alert-low"
    return "within"


def overdispersion(points: list[tuple[int, int]], p0: float) -> tuple[float | None, float]:
    """(phi, tau^2) from (population, breaches) against the national rate p0: phi from the
    winsorised z-scores, tau^2 by the paper's additive model (0 when phi shows no excess or too
    few forces or no variance to speak of). phi is None when it cannot be estimated."""
    if len(points) < MIN_FORCES_FOR_OVERDISPERSION or not 0.0 < p0 < 1.0:
        return None, 0.0
    variance = p0 * (1 - p0)
    zs = sorted((b / n - p0) / math.sqrt(variance / n) for n, b in points)
    k = int(0.1 * len(zs))
    low, high = zs[k], zs[len(zs) - 1 - k]
    phi = sum(min(max(z, low), high) ** 2 for z in zs) / len(zs)
    count = len(zs)
    weights = [n / variance for n, _ in points]
    spread = sum(weights) - sum(w * w for w in weights) / sum(weights)  # > 0 for two or more forces
    return phi, max(0.0, (count * phi - (count - 1)) / spread)


def funnel(rule_id: str, title: str, points: list[tuple[str, int, int]]) -> dict[str, Any] | None:
    """The funnel of one rule from (force, population, breaches); None if no force has a
    population. Each point carries the target it is judged against (the other forces' rate)."""
    shown = [(force, n, b) for force, n, b in points if n > 0]
    total = sum(n for _, n, _ in shown)
    if not total:
        return None
    breaches = sum(b for _, _, b in shown)
    p0 = breaches / total
    phi, tau2 = overdispersion([(n, b) for _, n, b in shown], p0)

    def target(n: int, b: int) -> float:
        # the other forces' rate, where they are at least as many records as the force itself
        return (breaches - b) / (total - n) if total - n >= n else p0

    return {
        "rule": rule_id,
        "title": title,
        "national_rate": p0,
        "population": total,
        "phi": phi,
        "tau2": tau2,
        "method": (
            "each force against the other forces' rate; exact binomial limits below "
            f"{EXACT_BELOW:g} expected breaches; "
            + (
                f"between-force variance tau^2 = {tau2:.3g} added (phi = {phi:.3g})"
                if tau2 > 0
                else "no between-force variance added"
                + (f" (phi = {phi:.3g})" if phi is not None else f" (fewer than {MIN_FORCES_FOR_OVERDISPERSION} forces)")
            )
        ),
        "points": [
            {
                "force": force,
                "population": n,
                "breaches": b,
                "rate": b / n,
                "target": target(n, b),
                "limits95": limits(target(n, b), n, Z95, tau2),
                "limits998": limits(target(n, b), n, Z998, tau2),
                "position": position(b / n, target(n, b), n, tau2),
            }
            for force, n, b in shown
        ],
    }
