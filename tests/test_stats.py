"""Unit tests of the statistics, grades, printed rates and thresholds, against published values."""

from __future__ import annotations

import pytest

from recordcheck.checks.base.config import Threshold
from recordcheck.checks.base.refdata import grade_for, load_reference
from recordcheck.checks.base.stats import unrecorded_per_year, wald_half_width, wilson
from recordcheck.checks.engine.register import threshold_state
from recordcheck.reports.figures import Grading, make_rate
from recordcheck.reports.render import environment
from tests.conftest import TEST_REFERENCE


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe(successes, n, low, high):
    interval = wilson(successes, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=5e-5) and interval[1] == pytest.approx(high, abs=5e-5)


def test_normal_approximation_matches_the_2018_inspection_figure():
    # HMICFRS 2018, South Yorkshire: 89.5% recorded, +/- 1.64% at 95%, from about 1,342 reports
    assert wald_half_width(round(0.895 * 1342), 1342) == pytest.approx(0.0164, abs=2e-4)
    assert wilson(0, 0) is None and wald_half_width(0, 0) is None


def _grading(minimum: int = 30) -> Grading:
    return Grading(load_reference(TEST_REFERENCE).grade_bands, minimum)


@pytest.mark.parametrize(
    ("percent", "grade"),
    [
        (95.0, "Good"),  # exactly 95%: the cited band says ">95%"
        (95.01, "Excellent"),
        (90.0, "Good"),
        (89.99, "Fair"),
        (79.9, "Poor"),
    ],
)
def test_grade_bands_follow_their_stated_bounds(percent, grade):
    assert grade_for(load_reference(TEST_REFERENCE).grade_bands, percent) == grade


@pytest.mark.parametrize(
    ("compliant", "total", "grade", "point"),
    [
        # the whole 95% interval in one band: that grade (969/1000: 95.6% to 97.9%)
        (969, 1000, "Excellent", "Excellent"),
        (99_000, 100_000, "Excellent", "Excellent"),
        (800, 1000, "between Poor and Fair", "Fair"),  # 77.4% to 82.4%
        # exactly 95%, or just over it, on a large count: the interval straddles the bound
        (950, 1000, "between Good and Excellent", "Good"),
        (9501, 10000, "between Good and Excellent", "Excellent"),
        (920, 1000, "Good", "Good"),  # 90.1% to 93.5%
        (8500, 10000, "Fair", "Fair"),
        (500, 1000, "Poor", "Poor"),
        (33, 36, "between Poor and Excellent", "Good"),  # 78.2% to 97.1%: a small count spans every band
        (10, 10, "too few to grade", ""),  # 10 records: no grade, however good
        (0, 0, "no records", ""),
    ],
)
def test_a_rate_is_graded_on_its_interval(compliant, total, grade, point):
    rate = make_rate("x", compliant, total, _grading())
    assert (rate.grade, rate.point_grade) == (grade, point)


def test_printed_rates_have_one_decimal_and_the_interval_holds_the_estimate():
    env = environment()
    pct, low, high = env.filters["pct"], env.filters["pct_low"], env.filters["pct_high"]
    ten = make_rate("x", 10, 10, _grading())
    assert (pct(ten.rate), low(ten.wilson_low), high(ten.wilson_high)) == ("100.0%", "72.2%", "100.0%")
    nearly = make_rate("x", 3527, 3530, _grading())
    assert (pct(nearly.rate), low(nearly.wilson_low), high(nearly.wilson_high)) == ("99.9%", "99.7%", "100.0%")
    assert pct(0.99996) == "99.9%", "a breach never prints as 100%"
    for compliant, total in [(1, 3), (2, 7), (998, 1000), (5, 6), (1, 1000)]:
        rate = make_rate("x", compliant, total, _grading())
        shown = float(pct(rate.rate)[:-1])
        assert float(low(rate.wilson_low)[:-1]) <= shown <= float(high(rate.wilson_high)[:-1])


def _result(breaches: int, population: int = 100):
    from dataclasses import dataclass

    @dataclass
    class Result:
        status: str
        breaches: int
        population: int
        rate: float | None

    return Result("run", breaches, population, breaches / population)


def test_thresholds_with_and_without_judged_findings():
    threshold = Threshold(warn_count=2, error_count=4, error_rate=0.5)
    assert threshold_state(_result(2), threshold) == "ok"  # "above" 2, not at it
    assert threshold_state(_result(3), threshold) == "warn"
    assert threshold_state(_result(5), threshold) == "error"
    assert threshold_state(_result(5), threshold, suppressed=2) == "warn", "false positives and waivers do not count"
    assert threshold_state(_result(51), Threshold(error_rate=0.5)) == "error"
    assert threshold_state(_result(50), Threshold(error_rate=0.5)) == "ok"
    assert threshold_state(_result(99), None) == "ok"


def test_intervals_stay_within_zero_and_one_and_start_at_one_record():
    """A rate's interval never leaves [0, 1], even where floating point would push 0 of n below
    zero (n = 21) or n of n above one (n = 16); one record is enough for an interval."""
    for n in range(1, 61):
        low, _ = wilson(0, n) or (None, None)
        _, high = wilson(n, n) or (None, None)
        assert low is not None and 0.0 <= low < 1e-12
        assert high is not None and 1.0 - 1e-12 < high <= 1.0
    assert wilson(1, 1) == pytest.approx((0.2065, 1.0), abs=5e-5)
    assert wilson(0, 0) is None and wald_half_width(0, 0) is None
    assert wald_half_width(0, 1) == 0.0 and wald_half_width(1, 2) == pytest.approx(0.6930, abs=5e-4)  # 1.96 * sqrt(0.25 / 2)


def test_thresholds_exactly_at_their_limits_do_not_trip():
    """'Above' a limit means strictly above, for counts and rates alike: exactly at the error
    count is a warning, exactly at the warning rate is ok, one more trips each (exit 1 hangs on it)."""
    counts = Threshold(warn_count=2, error_count=4)
    assert [threshold_state(_result(n), counts) for n in (2, 3, 4, 5)] == ["ok", "warn", "warn", "error"]
    rates = Threshold(warn_rate=0.10, error_rate=0.20)  # of a population of 100
    assert [threshold_state(_result(n), rates) for n in (10, 11, 20, 21)] == ["ok", "warn", "warn", "error"]
    assert threshold_state(_result(0), Threshold(warn_count=0, error_rate=0.0)) == "ok"
    assert threshold_state(_result(1), Threshold(warn_count=0)) == "warn"


def test_crimes_unrecorded_a_year_gross_up_the_recorded_crimes():
    """10,000 recorded at 80%: 12,500 were due, 2,500 not recorded (not 2,000 = 20% of 10,000)."""
    assert unrecorded_per_year(10_000, 0.8) == pytest.approx(2_500)
    assert unrecorded_per_year(10_000, 0.5) == pytest.approx(10_000)
    assert unrecorded_per_year(10_000, 1.0) == 0
    assert unrecorded_per_year(10_000, None) is None and unrecorded_per_year(10_000, 0.0) is None
