"""Audit samples for review by hand: `recordcheck sample RUN_DIR --size N --file FILE`.

Every run writes `population.parquet`: each referral and incident accepted by validation, with
what an auditor needs to find and judge it (ids, district, first report time, source, agency,
disclosed code, decision or closure, no-crime reason, linked crimes with their codes and
recorded times) and the stratum it falls in. Codes, ids and times only, never free text.

A sample is drawn per stratum with numpy's seeded generator, so the same run and seed give the
same sample. Allocation is proportional to the strata's sizes, or Neyman's (to N_h times the
screen's breach rate's standard deviation in the stratum), with at least 2 per stratum that has
them and exactly N in all. The worksheet has empty verdict columns; the screen's findings for
each sampled report go in a file beside it, so that reviewers are not led by them.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.london import LONDON_TZ
from recordcheck.checks.base.marking import DEFAULT_MARKING, companion, run_marking, write_note
from recordcheck.checks.base.safecsv import neutralise, write_csv, write_xlsx
from recordcheck.checks.validation.validate import AcceptedTables

POPULATION = "population.parquet"
STRATA = (
    "rape disclosed",
    "other sexual offences",
    "cancelled crime",
    "N100 decision",
    "referral from a professional third party",
    "other referral",
    "incident with a coded offence",
    "uncoded incident",
)
"""The default strata, as inspections draw them (first match wins): rape and other sexual
offences, reports behind a cancelled crime, N100 decisions, public-protection referrals from
professionals, other referrals, incidents with a coded offence, and uncoded incidents (the
screen's blind spot, which only a reviewer reading the log can judge)."""
MIN_PER_STRATUM = 30
"""Reviewed reports each stratum gets at least, where it holds that many (config sample.min_per_stratum)."""
NEYMAN_FLOOR = 0.05
"""The lowest breach rate Neyman allocation assumes in a stratum (config sample.neyman_floor): a
stratum the screen finds clean is not known to be clean (it sees only coded fields), so it keeps
the share a 5% rate would earn, sqrt(0.05 x 0.95) = 0.22 of a 50% stratum's per report."""
VERDICTS = ("crimes_due", "crimes_recorded", "recorded_on_time", "classified_correctly", "reviewer", "notes")


def _population_sql(accepted: AcceptedTables) -> str:
    """Every accepted referral and incident, with its linked crimes, code flags, crimes due and
    default stratum, as one query (the catalogue registered as `_catalogue`)."""
    parts = []
    if "referrals" in accepted:
        parts.append(
            f"""SELECT 'referral' AS record_type, referral_id AS record_id, district, received_at AS first_report_at,
                       referrer_type AS source, referrer_agency AS agency, disclosed_offence_code AS offence_code,
                       decision, no_crime_reason, victim_count FROM {accepted.relation("referrals")}"""
        )
    if "incidents" in accepted:
        parts.append(
            f"""SELECT 'incident', incident_id, district, reported_at, caller_type, NULL, reported_offence_code,
                       closure_class, no_crime_reason, victim_count FROM {accepted.relation("incidents")}"""
        )
    links = (
        f"""SELECT l.source_type, l.source_id,
                   string_agg(c.crime_id, ';' ORDER BY c.crime_id) AS linked_crimes,
                   string_agg(c.offence_code, ';' ORDER BY c.crime_id) AS linked_codes,
                   string_agg(strftime(timezone('{LONDON_TZ}', c.recorded_at), '%Y-%m-%d %H:%M'), ';' ORDER BY c.crime_id)
                       AS linked_recorded,
                   bool_or(c.status = 'cancelled') AS cancelled
            FROM {accepted.relation("crime_links")} l JOIN {accepted.relation("crimes")} c USING (crime_id)
            GROUP BY ALL"""
        if "crime_links" in accepted and "crimes" in accepted
        else "SELECT NULL::VARCHAR AS source_type, NULL::VARCHAR AS source_id, NULL::VARCHAR AS linked_crimes, "
        "NULL::VARCHAR AS linked_codes, NULL::VARCHAR AS linked_recorded, NULL::BOOLEAN AS cancelled WHERE false"
    )
    strata = [f"'{name}'" for name in STRATA]
    # unordered: sorting 6 M rows with their linked-crime lists ran out of DuckDB's memory at scale
    # 10; the file is read whole by `recordcheck sample`, which orders it (a seeded draw is repeatable)
    return f"""
        WITH r AS ({" UNION ALL ".join(parts)})
        SELECT r.record_type, r.record_id, r.district, r.source, r.agency, r.offence_code, r.decision,
               r.no_crime_reason,
               strftime(timezone('{LONDON_TZ}', r.first_report_at), '%Y-%m-%d %H:%M') AS first_report_london,
               coalesce(k.notifiable, false) AS notifiable, coalesce(k.rape, false) AS rape,
               coalesce(k.sexual_offence, false) AS sexual_offence, coalesce(l.cancelled, false) AS cancelled,
               -- the screen's crimes due: one per victim where the code counts victims
               CASE WHEN NOT coalesce(k.notifiable, false) THEN 0
                    WHEN k.counting_unit = 'victim' THEN greatest(coalesce(r.victim_count, 1), 1)
                    ELSE 1 END AS crimes_due,
               l.linked_crimes, l.linked_codes, l.linked_recorded,
               CASE WHEN coalesce(k.rape, false) THEN {strata[0]}
                    WHEN coalesce(k.sexual_offence, false) THEN {strata[1]}
                    WHEN coalesce(l.cancelled, false) THEN {strata[2]}
                    WHEN r.decision IS NOT DISTINCT FROM 'n100' THEN {strata[3]}
                    WHEN r.record_type = 'referral' AND r.source IS NOT DISTINCT FROM 'professional_third_party'
                        THEN {strata[4]}
                    WHEN r.record_type = 'referral' THEN {strata[5]}
                    WHEN r.offence_code IS NOT NULL THEN {strata[6]}
                    ELSE {strata[7]} END AS stratum
        FROM r LEFT JOIN _catalogue k ON k.code = r.offence_code
               LEFT JOIN ({links}) l ON l.source_type = r.record_type AND l.source_id = r.record_id"""


def write_population(accepted: AcceptedTables, catalogue: pl.DataFrame, path: Path) -> None:
    """Write population.parquet straight from the run's database: DuckDB's own COPY into the run's
    outbox (the one folder its DuckDB may write), then a rename: the rows never pass through Python."""
    box = accepted.database.outbox
    if box is None:
        raise ValueError("population.parquet is written through the run's outbox: load the extract with one")
    con = accepted.database.con
    con.register("_catalogue", catalogue.select("code", "notifiable", "rape", "sexual_offence", "counting_unit").to_arrow())
    try:
        written = box / path.name
        con.execute(f"COPY ({_population_sql(accepted)}) TO '{written.resolve()}' (FORMAT parquet, COMPRESSION zstd)")
        os.replace(written, path)
    finally:
        con.unregister("_catalogue")


def restratify(population: pl.DataFrame, strata: list[dict[str, Any]]) -> tuple[pl.DataFrame, tuple[str, ...]]:
    """Strata from the config, in order (first match wins); reports that match none: 'other'."""
    assignment: Any = pl.lit("other")
    for stratum in reversed(strata):
        condition = pl.lit(True)
        if "record_type" in stratum:
            condition &= pl.col("record_type") == stratum["record_type"]
        if "source" in stratum:
            condition &= pl.col("source").is_in(stratum["source"])
        for flag in ("notifiable", "rape", "sexual_offence", "cancelled"):
            if flag in stratum:
                condition &= pl.col(flag) == stratum[flag]
        assignment = pl.when(condition).then(pl.lit(stratum["name"])).otherwise(assignment)
    names = tuple(dict.fromkeys([s["name"] for s in strata] + ["other"]))
    return population.with_columns(assignment.alias("stratum")), names


def allocate(
    sizes: dict[str, int],
    n: int,
    rates: dict[str, float] | None = None,
    minimum: int = 2,
    floor_rate: float = NEYMAN_FLOOR,
) -> dict[str, int]:
    """n split over the strata: proportional to N_h, or to N_h * sqrt(p_h (1 - p_h)) (Neyman) with
    the screen's breach rate p_h, never below `floor_rate`; at least `minimum` where a stratum
    holds them; never more than N_h; exactly n."""
    present = {s: size for s, size in sizes.items() if size > 0}
    total = sum(present.values())
    if n > total:
        raise ConfigError(f"a sample of {n:,} is more than the {total:,} reports to draw from")
    floor = {s: min(minimum, size) for s, size in present.items()}
    if sum(floor.values()) > n:
        raise ConfigError(
            f"a sample of {n:,} cannot hold {minimum} from each of the {len(present)} strata "
            f"(at least {sum(floor.values()):,})"
        )

    def weight(s: str) -> float:
        if rates is None:
            return float(present[s])
        p = min(max(rates.get(s, 0.0), floor_rate), 0.5)  # sqrt(p(1-p)) peaks at 0.5
        return present[s] * math.sqrt(p * (1 - p))

    weights = {s: weight(s) for s in present}
    whole = sum(weights.values())
    shares = {s: n * w / whole for s, w in weights.items()}
    alloc = {s: min(present[s], max(floor[s], int(shares[s]))) for s in present}
    while sum(alloc.values()) < n:  # largest remainders first, within each stratum's size
        s = max((s for s in present if alloc[s] < present[s]), key=lambda s: (shares[s] - alloc[s], s))
        alloc[s] += 1
    while sum(alloc.values()) > n:
        s = max((s for s in present if alloc[s] > floor[s]), key=lambda s: (alloc[s] - shares[s], s))
        alloc[s] -= 1
    return alloc


def minimum_size(sizes: dict[str, int], minimum: int) -> int:
    """The smallest sample that gives each stratum `minimum` reviewed reports (or all it holds)."""
    return sum(min(minimum, size) for size in sizes.values())


def size_for_margin(margin: float, population: int, rate: float = 0.9) -> int:
    """The sample size that gives a 95% margin of `margin` for a rate near `rate`, with the finite
    population correction."""
    n0 = (1.959963984540054**2) * rate * (1 - rate) / margin**2
    return min(population, math.ceil(n0 / (1 + (n0 - 1) / population)))


def reports_for_margin(margin: float, reports: int, crimes_due: int, rate: float = 0.9) -> int:
    """Reports to sample for a 95% margin of `margin` on the recording rate in crimes due: the
    crimes due the margin needs (size_for_margin over the population's crimes due), as reports at
    the population's crimes due per report. A report is the unit drawn; the rate counts crimes."""
    if crimes_due <= 0:
        return size_for_margin(margin, reports, rate)
    crimes = size_for_margin(margin, crimes_due, rate)
    return min(reports, math.ceil(crimes * reports / crimes_due))


def draw(population: pl.DataFrame, alloc: dict[str, int], seed: int, order: tuple[str, ...] = STRATA) -> pl.DataFrame:
    """The sample: per stratum (in a fixed order), rows drawn without replacement by the seed."""
    rng = np.random.default_rng(seed)
    parts = []
    for stratum in order:
        if not alloc.get(stratum):
            continue
        rows = population.filter(pl.col("stratum") == stratum).sort("record_type", "record_id")
        chosen = np.sort(rng.choice(rows.height, size=alloc[stratum], replace=False))
        parts.append(
            rows[chosen.tolist()].with_columns(
                pl.lit(rows.height).alias("stratum_population"), pl.lit(alloc[stratum]).alias("stratum_sample")
            )
        )
    sample = pl.concat(parts)
    numbered: pl.DataFrame = sample.with_columns(pl.format("S{}", pl.int_range(1, sample.height + 1)).alias("sample_id"))
    return numbered


WORKSHEET_COLUMNS = (
    "sample_id",
    "stratum",
    "stratum_population",
    "stratum_sample",
    "record_type",
    "record_id",
    "district",
    "first_report_london",
    "source",
    "agency",
    "offence_code",
    "decision",
    "no_crime_reason",
    "linked_crimes",
    "linked_codes",
    "linked_recorded",
    "sampled_run",
    "period",
)


def screen_findings(run_dir: Path, sample: pl.DataFrame) -> pl.DataFrame:
    """Per sampled report: the finding kinds the screen raised on it or on its linked crimes."""
    register = pl.read_parquet(run_dir / "exceptions.parquet", columns=["finding", "record_type", "record_id"])
    crimes = sample.select("sample_id", pl.col("linked_crimes").str.split(";").alias("crime_id")).explode("crime_id")
    on_report = sample.join(register, on=["record_type", "record_id"]).select("sample_id", "finding")
    on_crimes = crimes.join(
        register.filter(pl.col("record_type") == "crime"), left_on="crime_id", right_on="record_id"
    ).select("sample_id", "finding")
    found = (
        pl.concat([on_report, on_crimes])
        .unique()
        .group_by("sample_id")
        .agg(pl.col("finding").sort().str.join(";").alias("findings"))
    )
    return (
        sample.select("sample_id", "record_type", "record_id")
        .join(found, on="sample_id", how="left")
        .with_columns(pl.col("findings").fill_null(""))
    )


def write_worksheet(sample: pl.DataFrame, file: Path, marking: str = DEFAULT_MARKING) -> None:
    rows = sample.select(*WORKSHEET_COLUMNS).with_columns(*(pl.lit(None, pl.String).alias(c) for c in VERDICTS))
    tmp = file.with_name(f".{file.name}.tmp")
    if file.suffix.lower() == ".csv":
        write_csv(rows, tmp)
    elif file.suffix.lower() == ".xlsx":
        _write_xlsx(rows, tmp, marking)
    else:
        raise ConfigError(f"{file}: a worksheet is .xlsx or .csv")
    os.replace(tmp, file)


def _write_xlsx(rows: pl.DataFrame, path: Path, marking: str) -> None:
    whole = {"type": "whole", "operator": "between", "formula1": "0", "formula2": "1000"}
    write_xlsx(
        rows,
        path,
        "sample",
        dict.fromkeys(VERDICTS[:4], whole),
        wide=("linked_crimes", "linked_codes"),
        marking=marking,
    )


def take_sample(
    run_dir: Path,
    file: Path,
    size: int | None,
    seed: int,
    allocation: str,
    margin: float | None,
    strata: list[dict[str, Any]] | None = None,
    minimum: int = MIN_PER_STRATUM,
    floor_rate: float = NEYMAN_FLOOR,
) -> dict[str, Any]:
    """Draw and write the sample; returns its size, allocation and the crimes due behind it. The
    size is the larger of what was asked (reports, or a margin on crimes due) and what gives each
    stratum its minimum (`raised_to_minimum` says when)."""
    if not (run_dir / POPULATION).is_file():
        raise ConfigError(f"{run_dir}: no {POPULATION} (a run by this version of recordcheck writes one)")
    population = pl.read_parquet(run_dir / POPULATION).sort("record_type", "record_id")
    if "crimes_due" not in population.columns:  # a run folder from before crimes were counted: one a report
        population = population.with_columns(pl.col("notifiable").cast(pl.Int64).alias("crimes_due"))
    order: tuple[str, ...] = STRATA
    if strata:
        population, order = restratify(population, strata)
    sizes = {s: population.filter(pl.col("stratum") == s).height for s in order}
    due = {s: int(population.filter(pl.col("stratum") == s)["crimes_due"].sum() or 0) for s in order}
    asked = size if size is not None else reports_for_margin(margin or 0.02, population.height, sum(due.values()))
    n = max(asked, minimum_size(sizes, minimum))
    rates = None
    if allocation == "neyman":
        flagged = pl.read_parquet(run_dir / "exceptions.parquet", columns=["record_type", "record_id"]).unique()
        hit = population.join(flagged, on=["record_type", "record_id"], how="semi")
        rates = {s: hit.filter(pl.col("stratum") == s).height / sizes[s] for s in order if sizes[s]}
    alloc = allocate(sizes, n, rates, minimum, floor_rate)
    summary = (
        json.loads((run_dir / "summary.json").read_text(encoding="utf-8")) if (run_dir / "summary.json").is_file() else {}
    )
    period = summary.get("period") or {}
    sample = draw(population, alloc, seed, order).with_columns(
        pl.lit(str(summary.get("run_id") or run_dir.name)).alias("sampled_run"),
        pl.lit(f"{period.get('first') or '?'} to {period.get('last') or '?'}").alias("period"),
    )
    marking = run_marking(run_dir)
    write_worksheet(sample, file, marking)
    screen = file.with_name(file.stem + ".screen.csv")
    with screen.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "record_type", "record_id", "findings"])
        for row in screen_findings(run_dir, sample).iter_rows():
            writer.writerow([neutralise(v) for v in row])
    write_note(companion(file), marking, "An audit sample from recordcheck", [file.name, screen.name])
    expected_due = sum(alloc[s] * due[s] / sizes[s] for s in alloc if sizes[s])
    return {
        "size": n,
        "asked": asked,
        "raised_to_minimum": n > asked,
        "minimum": minimum,
        "allocation": alloc,
        "population": sizes,
        "crimes_due": due,
        "expected_crimes_due": round(expected_due),
    }
