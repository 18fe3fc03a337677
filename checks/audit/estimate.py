"""Estimates from a reviewed audit sample: `recordcheck estimate WORKSHEET`.

Inspections estimate a force's recording rate from a stratified sample of reports, each reviewed
by hand. For each measure (recording: crimes recorded of crimes due; timeliness: recorded on
time of recorded; classification: classified correctly of recorded) this computes, overall and
per stratum, **the combined ratio estimator of a stratified sample**:

- weights W_h = N_h / n_h, where n_h counts the reviewed rows of stratum h;
- estimate R = sum_h W_h sum_i y_hi / sum_h W_h sum_i x_hi;
- 95% interval R +/- 1.96 sqrt(V), V = (1 / X^2) sum_h N_h^2 (1 - n_h / N_h) s_h^2 / n_h, where
  X = sum_h W_h sum_i x_hi and s_h^2 is the sample variance (denominator n_h - 1) of
  d_hi = y_hi - R x_hi. A stratum with one reviewed row adds nothing to V and is named in a warning.
  When no reviewed row departs from R at all (a sample that found no failure), V is 0 and the
  formula would claim certainty: the Wilson interval on the totals stands in, with a warning.

Beside it: the inspection-style margin 1.96 sqrt(R (1 - R) / sum x) over the reviewed sample
(simple random sampling, no finite-population correction, as inspection reports publish it), and
a Wilson interval on the unweighted totals. With the screen's verdicts beside the worksheet
(`.screen.csv`), it also measures the nightly screen against the reviewers: true and false
positives and negatives, precision and recall with Wilson intervals.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.safecsv import read_rows
from recordcheck.checks.base.stats import Z95, unrecorded_per_year, wilson
from recordcheck.checks.extract.contract import HEADLINE_MEASURES, RECORDING_SHORTFALL

VERDICTS = ("crimes_due", "crimes_recorded", "recorded_on_time", "classified_correctly")
MAX_POPULATION = 100_000_000
"""The largest stratum population a worksheet may state (a force's reports over many years)."""
NEEDED = ("sample_id", "stratum", "stratum_population", *VERDICTS)
MEASURES = {
    "recording": ("crimes_due", "crimes_recorded"),
    "timeliness": ("crimes_recorded", "recorded_on_time"),
    "classification": ("crimes_recorded", "classified_correctly"),
}


@dataclass(frozen=True)
class Reviewed:
    """One reviewed report of the sample."""

    sample_id: str
    stratum: str
    population: int
    crimes_due: int
    crimes_recorded: int
    recorded_on_time: int
    classified_correctly: int
    coded: bool = True
    """The report carries an offence code (the worksheet's `offence_code`); an uncoded report is
    the narrative screen's to judge."""


SCREENED: dict[str, tuple[tuple[str, ...], Callable[[Reviewed], bool]]] = {
    "unrecorded": (RECORDING_SHORTFALL, lambda r: r.crimes_recorded < r.crimes_due),
    "late_recording": (HEADLINE_MEASURES["timeliness"], lambda r: r.recorded_on_time < r.crimes_recorded),
    "misclassification": (HEADLINE_MEASURES["classification"], lambda r: r.classified_correctly < r.crimes_recorded),
}
"""Each calibration: the finding kinds that are the screen's verdict (from the contract's one
table; a reviewer's crimes short of due include undercounting), and the reviewers' verdict."""


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _count(value: Any) -> int | None:
    """A verdict: a whole number at least 0 (1.0 from a spreadsheet counts), or None when blank."""
    text = _text(value)
    if text == "":
        return None
    if len(text) > 15:
        raise ValueError("too long for a count")
    number = float(text) if text.replace(".", "", 1).lstrip("-").isdigit() else math.nan
    if math.isnan(number) or number != int(number):
        raise ValueError("not a whole number")
    if number < 0:
        raise ValueError("negative")
    return int(number)


def read_worksheet(file: Path) -> tuple[list[Reviewed], int]:
    """The reviewed rows, and how many were left blank. Any malformed verdict rejects the whole
    worksheet, each one named by line and column."""
    rows = read_rows(file, "worksheets")
    if rows:
        missing = [c for c in NEEDED if c not in rows[0]]
        if missing:
            raise ConfigError(f"{file}: no column(s) {', '.join(missing)}")
    reviewed, skipped, errors = [], 0, []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        values: dict[str, int | None] = {}
        for column in VERDICTS:
            try:
                values[column] = _count(row.get(column))
            except ValueError as exc:
                errors.append(f"line {line}, column {column}: {exc}")
        if any(f"line {line}," in e for e in errors):
            continue
        if all(v is None for v in values.values()):
            skipped += 1
            continue
        due, recorded = values["crimes_due"], values["crimes_recorded"]
        if due is None or recorded is None:
            errors.append(f"line {line}: crimes_due and crimes_recorded are both needed once a row is reviewed")
            continue
        on_time = values["recorded_on_time"] if values["recorded_on_time"] is not None else (0 if recorded == 0 else None)
        correct = (
            values["classified_correctly"] if values["classified_correctly"] is not None else (0 if recorded == 0 else None)
        )
        checks = [
            (recorded > due, "crimes_recorded", f"{recorded} is more than crimes_due ({due})"),
            (on_time is None, "recorded_on_time", "missing, though crimes were recorded"),
            (correct is None, "classified_correctly", "missing, though crimes were recorded"),
            (on_time is not None and on_time > recorded, "recorded_on_time", f"{on_time} is more than crimes_recorded"),
            (correct is not None and correct > recorded, "classified_correctly", f"{correct} is more than crimes_recorded"),
        ]
        bad = [f"line {line}, column {column}: {why}" for failed, column, why in checks if failed]
        population = 0
        try:
            size = _count(row.get("stratum_population"))
        except ValueError as exc:
            bad.append(f"line {line}, column stratum_population: {exc}")
        else:
            if size is None or not 1 <= size <= MAX_POPULATION:
                bad.append(f"line {line}, column stratum_population: a whole number from 1 to {MAX_POPULATION:,}")
            else:
                population = size
        sample_id = _text(row.get("sample_id"))
        if sample_id in seen:
            bad.append(f"line {line}, column sample_id: {sample_id!r} is on line {seen[sample_id]} too")
        seen.setdefault(sample_id, line)
        if bad:
            errors += bad
            continue
        assert on_time is not None and correct is not None
        coded = bool(_text(row.get("offence_code"))) if "offence_code" in row else True
        reviewed.append(
            Reviewed(
                _text(row.get("sample_id")), _text(row.get("stratum")), population, due, recorded, on_time, correct, coded
            )
        )
    strata: dict[str, set[int]] = {}
    for done in reviewed:
        strata.setdefault(done.stratum, set()).add(done.population)
    for name, sizes in sorted(strata.items()):
        reviewed_here = sum(r.stratum == name for r in reviewed)
        if len(sizes) > 1:
            errors.append(
                f"stratum {name!r}: stratum_population differs between its rows ({', '.join(map(str, sorted(sizes)))})"
            )
        elif max(sizes) < reviewed_here:
            errors.append(
                f"stratum {name!r}: stratum_population {max(sizes):,} is fewer than its {reviewed_here:,} reviewed rows"
            )
    if errors:
        raise ConfigError(f"{file}: nothing estimated; {len(errors)} problem(s): " + "; ".join(errors))
    return reviewed, skipped


def ratio_estimate(rows: list[Reviewed], x_name: str, y_name: str, per_stratum: bool = True) -> dict[str, Any]:
    """The combined ratio estimator over the strata, its interval, and the two comparison figures."""
    strata: dict[str, list[Reviewed]] = {}
    for row in rows:
        strata.setdefault(row.stratum, []).append(row)
    weighted_x = sum(_weight(h) * sum(getattr(r, x_name) for r in h) for h in strata.values())
    weighted_y = sum(_weight(h) * sum(getattr(r, y_name) for r in h) for h in strata.values())
    rate = weighted_y / weighted_x if weighted_x else None
    variance, warnings = 0.0, []
    for name, h in strata.items():
        if rate is None:
            break
        n, big_n = len(h), h[0].population
        if n < 2:
            warnings.append(f"stratum {name} has one reviewed row: it adds nothing to the variance")
            continue
        d = [getattr(r, y_name) - rate * getattr(r, x_name) for r in h]
        mean = sum(d) / n
        s2 = sum((v - mean) ** 2 for v in d) / (n - 1)
        variance += big_n**2 * (1 - n / big_n) * s2 / n
    variance = variance / weighted_x**2 if weighted_x else 0.0
    x = sum(getattr(r, x_name) for r in rows)
    y = sum(getattr(r, y_name) for r in rows)
    interval = wilson(y, x)
    half = Z95 * math.sqrt(variance)
    low, high = (None, None) if rate is None else (max(0.0, rate - half), min(1.0, rate + half))
    sampled = any(len(h) < h[0].population for h in strata.values())
    if rate is not None and half == 0 and sampled and interval is not None:
        # No reviewed row departs from R (typically: no failure found), so V is 0 and the formula
        # would claim certainty a sample cannot give; the Wilson interval on the totals stands in.
        low, high = interval
        warnings.append("no reviewed row departs from the estimate, so its interval is the Wilson interval on the totals")
    return {
        "rate": rate,
        "ci_low": low,
        "ci_high": high,
        "margin_normal": None if rate is None or not x else Z95 * math.sqrt(rate * (1 - rate) / x),
        "wilson_low": interval[0] if interval else None,
        "wilson_high": interval[1] if interval else None,
        "reviewed": len(rows),
        "x": x,
        "y": y,
        "warnings": warnings,
        "strata": [_stratum(name, h, x_name, y_name) for name, h in sorted(strata.items())] if per_stratum else [],
    }


def _weight(rows: list[Reviewed]) -> float:
    """W_h = N_h / n_h for one stratum's reviewed rows."""
    return rows[0].population / len(rows)


def _stratum(name: str, rows: list[Reviewed], x_name: str, y_name: str) -> dict[str, Any]:
    inner = ratio_estimate(rows, x_name, y_name, per_stratum=False)
    return {
        "stratum": name,
        "population": rows[0].population,
        "sample": len(rows),
        "reviewed": len(rows),
        "rate": inner["rate"],
        "ci_low": inner["ci_low"],
        "ci_high": inner["ci_high"],
    }


def _confusion(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """(screen raised it, reviewer found it) pairs -> counts, precision and recall with Wilson intervals."""
    tp = sum(s and r for s, r in pairs)
    fp = sum(s and not r for s, r in pairs)
    fn = sum(r and not s for s, r in pairs)
    tn = sum(not s and not r for s, r in pairs)
    precision, recall = wilson(tp, tp + fp), wilson(tp, tp + fn)
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else None,
        "precision_low": precision[0] if precision else None,
        "precision_high": precision[1] if precision else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "recall_low": recall[0] if recall else None,
        "recall_high": recall[1] if recall else None,
    }


def screen_file(worksheet: Path) -> Path:
    return worksheet.with_name(worksheet.stem + ".screen.csv")


def calibration(rows: list[Reviewed], screen: Path) -> dict[str, Any] | None:
    """The nightly screen against the reviewers, from `.screen.csv` (sample_id, findings)."""
    if not screen.is_file():
        return None
    with screen.open(encoding="utf-8", newline="") as handle:
        raised = {r["sample_id"]: set(filter(None, (r.get("findings") or "").split(";"))) for r in csv.DictReader(handle)}
    result = {
        name: _confusion([(bool(raised.get(row.sample_id, set()) & set(kinds)), failed(row)) for row in rows])
        for name, (kinds, failed) in SCREENED.items()
    }
    # the narrative screen, on the reports it reads: those with no offence coded
    uncoded = [row for row in rows if not row.coded]
    if uncoded:
        result["narrative_disclosure"] = _confusion(
            [
                ("narrative_disclosure" in raised.get(row.sample_id, set()), row.crimes_recorded < row.crimes_due)
                for row in uncoded
            ]
        )
    return result


def estimate(worksheet: Path, annual_recorded: int | None = None) -> dict[str, Any]:
    """Everything `recordcheck estimate` reports, in the JSON shape it writes (fractions, not percentages)."""
    rows, skipped = read_worksheet(worksheet)
    result: dict[str, Any] = {name: ratio_estimate(rows, x, y) for name, (x, y) in MEASURES.items()}
    recording = result["recording"]
    if annual_recorded and recording["rate"]:
        low, high = recording["ci_low"], recording["ci_high"]
        result["unrecorded_per_year"] = {
            "estimate": unrecorded_per_year(annual_recorded, recording["rate"]),
            "low": unrecorded_per_year(annual_recorded, high),
            "high": unrecorded_per_year(annual_recorded, low),
        }
    else:
        result["unrecorded_per_year"] = None
    result["calibration"] = calibration(rows, screen_file(worksheet))
    result["skipped_rows"] = skipped
    result["sampled_run"], result["period"] = sampled_from(worksheet)
    return result


def sampled_from(worksheet: Path) -> tuple[str | None, str | None]:
    """The run the sample was drawn from and its period, as `recordcheck sample` wrote them on
    every row (None for a worksheet without them, or one that mixes runs)."""
    rows = read_rows(worksheet, "worksheets")
    runs = {_text(r.get("sampled_run")) for r in rows} - {""}
    periods = {_text(r.get("period")) for r in rows} - {""}
    return (runs.pop() if len(runs) == 1 else None), (periods.pop() if len(periods) == 1 else None)
