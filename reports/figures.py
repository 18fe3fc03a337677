"""The report's figures: rates with their intervals and grades, the pack's measures as typed
frames, and the tables built from them. Pure functions of a run's results."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from recordcheck.checks.base.refdata import GradeBand, grade_for, grade_on_interval
from recordcheck.checks.base.stats import wald_half_width, wilson
from recordcheck.checks.engine.headline import CHILD_BANDS
from recordcheck.reports.context import CrossTable, PvpRow, Rate

SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Grading:
    """The force's grade bands, and the smallest population that is graded at all."""

    bands: list[GradeBand]
    min_population: int = 30


def make_rate(label: str, compliant: int, total: int, grades: Grading) -> Rate:
    """The rate, its intervals, and its grade on the 95% interval (a population too small to
    grade is not graded)."""
    interval = wilson(compliant, total)
    rate = compliant / total if total else None
    graded = interval is not None and total >= grades.min_population
    return Rate(
        label=label,
        compliant=compliant,
        total=total,
        rate=rate,
        wilson_low=interval[0] if interval else None,
        wilson_high=interval[1] if interval else None,
        wald_pm=wald_half_width(compliant, total),
        grade=(
            "no records"
            if rate is None
            else "too few to grade"
            if total < grades.min_population
            else grade_on_interval(grades.bands, interval[0] * 100, interval[1] * 100)
            if interval
            else grade_for(grades.bands, rate * 100)
        ),
        point_grade=grade_for(grades.bands, rate * 100) if graded and rate is not None else "",
    )


STR, INT = pl.String, pl.Int64
MEASURE_SCHEMAS: dict[str, dict[str, Any]] = {
    "reports": {
        "record_type": STR,
        "source": STR,
        "referrer_agency": STR,
        "district": STR,
        "offence_group": STR,
        "year": STR,
        "reports": INT,
        "notifiable": INT,
        "recorded": INT,
        "unrecorded": INT,
        "crimes_due": INT,
        "crimes_recorded": INT,
    },
    "protection": {
        "record_type": STR,
        "source": STR,
        "district": STR,
        "victim_group": STR,
        "cse": pl.Boolean,
        "year": STR,
        "reports": INT,
        "notifiable": INT,
        "recorded": INT,
        "unrecorded": INT,
        "converted": INT,
        "crimes_due": INT,
        "crimes_recorded": INT,
    },
    "narrative": {"district": STR, "offence_group": STR, "reports": INT},
    "coding": {
        "record_type": STR,
        "district": STR,
        "reports": INT,
        "uncoded": INT,
        "uncoded_closed": INT,
    },
    "referral_subjects": {
        "referrals": INT,
        "with_subject": INT,
        "subjects": INT,
        "child_subjects": INT,
        "repeat_subjects": INT,
    },
    "crimes": {
        "year": STR,
        "district": STR,
        "status": STR,
        "crimes": INT,
        "first_recorded_at": STR,
        "last_recorded_at": STR,
    },
    "referral_crimes": {
        "year": STR,
        "district": STR,
        "offence_code": STR,
        "offence_group": STR,
        "status": STR,
        "outcome_code": INT,
        "cse": pl.Boolean,
        "crimes": INT,
    },
}


def measure_frame(measures: dict[str, list[dict[str, Any]]], name: str) -> pl.DataFrame:
    """A pack measure as a frame with a known schema, empty when the extract had no rows for it."""
    rows = measures.get(name) or []
    schema = MEASURE_SCHEMAS[name]
    if not rows:
        return pl.DataFrame(schema=schema)
    frame = pl.DataFrame(rows, infer_schema_length=None)
    # a run folder written by an older pack may lack a column a newer report reads: null, not a crash
    absent = [pl.lit(None).alias(c) for c in schema if c not in frame.columns]
    return frame.with_columns(absent).select(list(schema)).cast(schema)  # type: ignore[arg-type]


def counts_crimes(frame: pl.DataFrame) -> bool:
    """Whether a `reports` or `protection` measure carries crimes due (a run folder from a pack
    before crimes were counted does not: its figures are in reports)."""
    return frame.height == 0 or frame["crimes_due"].null_count() == 0


def in_crimes(frame: pl.DataFrame, by: str, unrecorded: pl.DataFrame | None = None) -> pl.DataFrame:
    """`by`, reports, crimes due and crimes recorded for each value of `by`. For an older run
    folder, reports stand in for crimes: recorded reports, and recorded plus the reports found
    unrecorded (the measure's own count, or the register's rows in `unrecorded`)."""
    if counts_crimes(frame):
        return frame.group_by(by).agg(
            pl.col("reports").sum(), pl.col("crimes_due").sum().alias("due"), pl.col("crimes_recorded").sum().alias("done")
        )
    totals = frame.group_by(by).agg(pl.col("reports").sum(), pl.col("recorded").sum().alias("done"))
    if unrecorded is None:
        missed = frame.group_by(by).agg(pl.col("unrecorded").sum().alias("missed"))
    else:
        missed = unrecorded.group_by(by).agg(pl.len().alias("missed"))
    joined = totals.join(missed, on=by, how="full", coalesce=True).fill_null(0)
    return joined.with_columns(due=pl.col("done") + pl.col("missed")).drop("missed")


def _professional(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter((pl.col("record_type") == "referral") & (pl.col("source") == "professional_third_party"))


def pvp_rows(reports: pl.DataFrame, unrecorded: pl.DataFrame, by: str, grades: Grading) -> list[PvpRow]:
    """Professional third-party referrals by `by`, in crimes (`unrecorded`: the register's rows
    for such referrals, read only for a run folder from before crimes were counted)."""
    rows = []
    for label, referrals, due, done in in_crimes(_professional(reports), by, unrecorded).sort(by).iter_rows():
        name = str(label or "not recorded").replace("_", " ")
        rows.append(PvpRow(name, int(referrals), int(due), int(done), make_rate(name, int(done), int(due), grades)))
    return rows


def victim_rows(protection: pl.DataFrame, grades: Grading) -> list[PvpRow]:
    """Professional third-party referrals by victim group at the referral, in the pack's order
    (children youngest first, then vulnerable adults, adults, age unknown)."""
    order = {group: i for i, group in enumerate((*CHILD_BANDS, "vulnerable adult", "adult", "age unknown"))}
    rows = []
    for label, referrals, due, done in sorted(
        in_crimes(_professional(protection), "victim_group").iter_rows(), key=lambda row: order.get(str(row[0]), len(order))
    ):
        name = str(label or "age unknown")
        rows.append(PvpRow(name, int(referrals), int(due), int(done), make_rate(name, int(done), int(due), grades)))
    return rows


def conversion_rates(protection: pl.DataFrame, grades: Grading) -> list[Rate]:
    """CSE referrals that led to at least one crime record, by district and in all: the Drew
    review's referral-to-crime conversion rate."""
    cse = protection.filter((pl.col("record_type") == "referral") & pl.col("cse"))
    by_district = cse.group_by("district").agg(pl.col("reports", "converted").sum()).sort("district")
    rates = [
        make_rate(str(district or "not recorded"), int(converted), int(referrals), grades)
        for district, referrals, converted in by_district.select("district", "reports", "converted").iter_rows()
    ]
    if rates:
        rates.append(make_rate("all districts", int(cse["converted"].sum()), int(cse["reports"].sum()), grades))
    return rates


def cross_table(
    title: str, row_header: str, frame: pl.DataFrame, row: str, col: str, value: str, population: str = ""
) -> CrossTable:
    if frame.height == 0:
        return CrossTable(title, row_header, [], [], [], population)
    frame = frame.with_columns(
        pl.col(row).cast(pl.String).fill_null("(not recorded)"), pl.col(col).cast(pl.String).fill_null("(not recorded)")
    )
    columns = sorted(frame[col].unique().to_list())
    pivot: dict[str, dict[str, int]] = defaultdict(dict)
    for r, c, v in frame.select(row, col, value).iter_rows():
        pivot[r][c] = pivot[r].get(c, 0) + int(v)
    rows = [(r, [pivot[r].get(c, 0) for c in columns]) for r in sorted(pivot)]
    totals = [sum(vals[i] for _, vals in rows) for i in range(len(columns))]
    return CrossTable(title, row_header, columns, rows, totals, population)


def annual_crimes(crimes: pl.DataFrame, configured: int | None) -> tuple[int, int | None]:
    """The recorded crimes the unrecorded estimate grosses up, and the days they cover: the
    config's annual figure (None: a year), this extract's annualised when it spans a year or more
    (None), or, for a shorter extract, its own count and days: a backlog shorter than a year is
    never annualised."""
    if configured:
        return int(configured), None
    recorded = crimes.filter(pl.col("status") == "recorded")
    if recorded.height == 0:
        return 0, None
    first = min(datetime.fromisoformat(v.replace("Z", "+00:00")) for v in recorded["first_recorded_at"])
    last = max(datetime.fromisoformat(v.replace("Z", "+00:00")) for v in recorded["last_recorded_at"])
    days = max((last - first).total_seconds() / 86400, 1.0)
    count = int(recorded["crimes"].sum())
    if days < 365:
        return count, math.ceil(days)
    return round(count * 365.25 / days), None
