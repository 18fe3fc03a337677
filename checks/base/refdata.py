"""Reference data of the rule pack (offence catalogue, limits, accepted reasons, authority matrix,
grade bands), read from `rules/reference/` and overridden by a force's config file.

Rules never hard-code these values: the engine loads them into DuckDB as tables and macros.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.resources import REFERENCE_DIR
from recordcheck.checks.base.yamlfile import check_keys, load_yaml, require_mapping

CATALOGUE_SCHEMA = {
    "code": pl.String,
    "title": pl.String,
    "category": pl.String,
    "offence_group": pl.String,
    "notifiable": pl.Boolean,
    "sexual_offence": pl.Boolean,
    "rape": pl.Boolean,
    "victim_sex": pl.String,
    "min_age": pl.Int32,
    "max_age": pl.Int32,
    "max_sentence_years": pl.Float64,
    "counting_unit": pl.String,
    "valid_from": pl.Date,
    "valid_to": pl.Date,
}
# Columns a force's own catalogue may leave out, and what a row then holds.
OPTIONAL_CATALOGUE_COLUMNS = {"counting_unit": "victim", "valid_from": None, "valid_to": None}
COUNTING_UNITS = ("victim", "premises", "offence")

PROVENANCE_KEYS = ("source", "edition")
LIMIT_KEYS = (
    "recording_hours",
    "pending_hours",
    "victim_update_days",
    "child_under_age",
    "repeat_subject_days",
    "narrative_max_chars",
)
REASON_KEYS = ("always_accepted", "victim_dependent", "victim_dependent_sources", "n100_rape_accepted", "valid")
AUTHORITY_KEYS = (
    "permitted_roles",
    "registrar_categories",
    "registrar_roles",
    "rationale_required_codes",
    "victim_notification_codes",
    "transfer_codes",
)
SECTIONS = {
    "limits": LIMIT_KEYS,
    "no_crime_reasons": REASON_KEYS,
    "cancellation_authority": AUTHORITY_KEYS,
    "grade_bands": ("bands",),
    "outcome_types": ("labels", "lists", "valid"),
}


@dataclass(frozen=True)
class GradeBand:
    grade: str
    min_percent: float
    inclusive: bool = True
    """True: the band starts at min_percent (>=); False: strictly above it (>), as ">95%" says."""
    hmicfrs: str = ""
    """The HMICFRS grade name shown beside it, for orientation ('' where the force gives none)."""

    def admits(self, percent: float) -> bool:
        return percent >= self.min_percent if self.inclusive else percent > self.min_percent


@dataclass(frozen=True)
class LimitPeriod:
    """A limit's value between two dates (valid_to exclusive; None is open): the rules take the
    value in force on the day that matters, so a 2013 report is judged by 2013's limit."""

    name: str
    value: float
    valid_from: date | None = None
    valid_to: date | None = None


@dataclass
class ReferenceData:
    offence_catalogue: pl.DataFrame
    limit_periods: list[LimitPeriod]
    """Every limit's dated values (the engine's `limits` table)."""
    no_crime_reasons: dict[str, list[str]]
    cancellation_authority: dict[str, list[str]]
    grade_bands: list[GradeBand]
    outcome_labels: dict[int, str] = field(default_factory=dict)
    outcome_periods: dict[int, tuple[date | None, date | None]] = field(default_factory=dict)
    """When each outcome type could be given (valid_from, valid_to exclusive; None is open)."""
    outcome_lists: dict[str, list[int]] = field(default_factory=dict)
    """Named sets of outcome codes the rules test against (`in_outcomes(list, code)`)."""
    reason_periods: dict[str, tuple[date | None, date | None]] = field(default_factory=dict)
    """When a no-crime reason could be relied on (valid_from, valid_to exclusive); a reason not
    listed could be relied on at any time."""
    provenance: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def limits(self) -> dict[str, float]:
        """Each limit's value in force now (its open period): for titles and messages."""
        return {p.name: p.value for p in self.limit_periods if p.valid_to is None}

    @property
    def offence_codes(self) -> list[str]:
        return self.offence_catalogue["code"].to_list()

    def grade_for(self, percent: float) -> str:
        return grade_for(self.grade_bands, percent)


def grade_for(bands: list[GradeBand], percent: float) -> str:
    """The first band (best first) whose lower bound the percentage reaches."""
    for band in bands:
        if band.admits(percent):
            return band.grade
    return bands[-1].grade


def grade_on_interval(bands: list[GradeBand], low_percent: float, high_percent: float) -> str:
    """A grade only when the whole 95% interval lies in one band (an inspector grades what the
    evidence supports); otherwise the bands it spans, worst first: 'between Good and Excellent'."""
    low, high = grade_for(bands, low_percent), grade_for(bands, high_percent)
    return low if low == high else f"between {low} and {high}"


def read_catalogue(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_csv(path, comment_prefix="#", schema_overrides={"code": pl.String}, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise ConfigError(f"{path}: cannot read the offence catalogue ({str(exc).splitlines()[0]})") from None
    missing = [c for c in CATALOGUE_SCHEMA if c not in frame.columns and c not in OPTIONAL_CATALOGUE_COLUMNS]
    if missing:
        raise ConfigError(f"{path}: offence catalogue lacks column(s) {', '.join(missing)}")
    frame = frame.with_columns(
        pl.coalesce(pl.col(c) if c in frame.columns else pl.lit(None, pl.String), pl.lit(default, pl.String)).alias(c)
        for c, default in OPTIONAL_CATALOGUE_COLUMNS.items()
    )
    typed = frame.select(
        [
            (pl.col(c).str.to_lowercase() == "true").alias(c)
            if t == pl.Boolean
            else pl.col(c).str.to_date("%Y-%m-%d", strict=False).alias(c)
            if t == pl.Date
            else pl.col(c).cast(t, strict=False).alias(c)
            for c, t in CATALOGUE_SCHEMA.items()
        ]
    )
    for column in ("valid_from", "valid_to"):
        bad = typed.filter(pl.col(column).is_null() & frame[column].is_not_null() & (frame[column].str.strip_chars() != ""))
        if bad.height:
            raise ConfigError(f"{path}: {column} of code(s) {', '.join(bad['code'].to_list())} is not a YYYY-MM-DD date")
    units = typed.filter(~pl.col("counting_unit").is_in(COUNTING_UNITS))["code"].to_list()
    if units:
        raise ConfigError(f"{path}: counting_unit of code(s) {', '.join(units)} is not one of {', '.join(COUNTING_UNITS)}")
    backwards = typed.filter(pl.col("valid_to") <= pl.col("valid_from"))["code"].to_list()
    if backwards:
        raise ConfigError(f"{path}: code(s) {', '.join(backwards)} end on or before they start (valid_to <= valid_from)")
    dupes = typed.filter(pl.col("code").is_duplicated())["code"].unique().to_list()
    if dupes:
        raise ConfigError(f"{path}: offence code(s) listed twice: {', '.join(sorted(dupes))}")
    return typed


def _section(name: str, path: Path, other_version: bool = False) -> tuple[dict[str, Any], dict[str, str]]:
    raw = require_mapping(load_yaml(path), path, name)
    known = (*PROVENANCE_KEYS, *SECTIONS[name], *(raw if other_version else ()))
    check_keys(raw, known, path, name, required=PROVENANCE_KEYS)
    provenance = {k: str(raw[k]).strip() for k in PROVENANCE_KEYS}
    return {k: v for k, v in raw.items() if k not in PROVENANCE_KEYS}, provenance


def _bands(raw: Any, where: str) -> list[GradeBand]:
    bands = []
    for item in raw or []:
        if not isinstance(item, dict) or not {"grade", "min_percent"} <= set(item) <= {
            "grade",
            "min_percent",
            "inclusive",
            "hmicfrs",
        }:
            raise ConfigError(
                f"{where}: each grade band needs grade and min_percent (and may say inclusive: true|false, hmicfrs: NAME)"
            )
        bands.append(
            GradeBand(
                str(item["grade"]),
                float(item["min_percent"]),
                bool(item.get("inclusive", True)),
                str(item.get("hmicfrs", "")),
            )
        )
    if not bands:
        raise ConfigError(f"{where}: at least one grade band is needed")
    return sorted(bands, key=lambda b: -b.min_percent)


def _positive(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{where} must be a finite number above zero")
    return number


def _day(value: Any, where: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(f"{where} is not a YYYY-MM-DD date") from None


def _limit_periods(key: str, value: Any, path: Path) -> list[LimitPeriod]:
    """A limit as one number (in force throughout) or a list of {value, valid_from, valid_to}:
    in date order, not overlapping, the last one open (the value in force now)."""
    where = f"{path}: limit {key}"
    if not isinstance(value, list):
        return [LimitPeriod(key, _positive(value, where))]
    periods = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not {"value"} <= set(item) <= {"value", "valid_from", "valid_to"}:
            raise ConfigError(f"{where}: each period needs value (and may say valid_from, valid_to)")
        periods.append(
            LimitPeriod(
                key,
                _positive(item["value"], f"{where} period {i + 1} value"),
                _day(item.get("valid_from"), f"{where} period {i + 1} valid_from"),
                _day(item.get("valid_to"), f"{where} period {i + 1} valid_to"),
            )
        )
    for before, after in zip(periods, periods[1:], strict=False):
        if before.valid_to is None or after.valid_from is None or after.valid_from < before.valid_to:
            raise ConfigError(f"{where}: periods must be in date order and must not overlap")
    if not periods or periods[-1].valid_to is not None:
        raise ConfigError(f"{where}: the last period must be open (no valid_to): the value in force now")
    return periods


def with_limits(reference: ReferenceData, override: dict[str, Any], where: str) -> ReferenceData:
    """The same reference data with these limits in force now (a rule case's own limits)."""
    unknown = sorted(set(override) - set(LIMIT_KEYS))
    if unknown:
        raise ConfigError(f"{where}: no limit {', '.join(unknown)}; limits: {', '.join(LIMIT_KEYS)}")
    return dataclasses.replace(reference, limit_periods=_override_limits(reference.limit_periods, override, where))


def _override_limits(periods: list[LimitPeriod], override: dict[str, Any], where: str) -> list[LimitPeriod]:
    """A force's override sets the value in force now; the pack's earlier periods stay, so
    historic reports are still judged by the limit of their day."""
    result = list(periods)
    for key, value in override.items():
        current = next((p for p in result if p.name == key and p.valid_to is None), None)
        number = _positive(value, f"{where}: reference.limits.{key}")
        replacement = LimitPeriod(key, number, current.valid_from if current else None)
        result = [p for p in result if p is not current] + [replacement]
    return result


def _outcome_periods(raw: Any, path: Path) -> dict[int, tuple[date | None, date | None]]:
    """`valid:` maps a range of codes ("1-20") or one code to {valid_from, valid_to}."""
    periods: dict[int, tuple[date | None, date | None]] = {}
    for key, span in dict(raw).items():
        where = f"{path}: valid.{key}"
        first, _, last = str(key).partition("-")
        if not first.isdigit() or (last and not last.isdigit()) or not isinstance(span, dict):
            raise ConfigError(f"{where}: expected a code or a range of codes (1-20) mapping to valid_from/valid_to")
        start = _day(span.get("valid_from"), f"{where}.valid_from")
        end = _day(span.get("valid_to"), f"{where}.valid_to")
        for code in range(int(first), int(last or first) + 1):
            periods[code] = (start, end)
    return periods


def _reason_periods(raw: Any, path: Path) -> dict[str, tuple[date | None, date | None]]:
    """`valid:` maps a no-crime reason to {valid_from, valid_to}."""
    periods: dict[str, tuple[date | None, date | None]] = {}
    for key, span in dict(raw).items():
        where = f"{path}: valid.{key}"
        if not isinstance(span, dict) or not set(span) <= {"valid_from", "valid_to"}:
            raise ConfigError(f"{where}: expected a reason mapping to valid_from and/or valid_to")
        start, end = _day(span.get("valid_from"), f"{where}.valid_from"), _day(span.get("valid_to"), f"{where}.valid_to")
        if start and end and end <= start:
            raise ConfigError(f"{where}: valid_to must come after valid_from")
        periods[str(key)] = (start, end)
    return periods


def load_reference(
    directory: Path = REFERENCE_DIR,
    overrides: dict[str, Any] | None = None,
    config_path: Path | None = None,
    other_version: bool = False,
) -> ReferenceData:
    """Load the pack's reference data, then apply a config's `reference:` overrides key by key.

    `other_version`: the pack was written for another version of these files (`rules diff
    --base`), so a key this version does not know is kept for that pack's SQL, not refused."""
    overrides = overrides or {}
    where = str(config_path or "config")
    sections: dict[str, dict[str, Any]] = {}
    provenance: dict[str, dict[str, str]] = {}
    limit_overrides: dict[str, Any] = {}
    for name in SECTIONS:
        values, prov = _section(name, directory / f"{name}.yaml", other_version)
        override = overrides.get(name) or {}
        if override:
            override_map = require_mapping(override, config_path or Path("config"), f"reference.{name}")
            check_keys(override_map, SECTIONS[name], config_path or Path("config"), f"reference.{name}")
            if name == "limits":
                limit_overrides = override_map
            else:
                values = {**values, **override_map}
            prov = {**prov, "overridden_by": where}
        sections[name] = values
        provenance[name] = prov
    catalogue_path = directory / "offence_catalogue.csv"
    catalogue = read_catalogue(catalogue_path)
    provenance["offence_catalogue"] = {"source": str(catalogue_path.name), "edition": "see file header"}
    extra = overrides.get("offence_catalogue")
    if extra:
        extra_path = Path(str(extra))
        if config_path and not extra_path.is_absolute():
            extra_path = config_path.parent / extra_path
        added = read_catalogue(extra_path)
        catalogue = pl.concat([catalogue.join(added.select("code"), on="code", how="anti"), added])
        provenance["offence_catalogue"]["overridden_by"] = str(extra_path)
    limit_periods: list[LimitPeriod] = []
    for key, value in sections["limits"].items():
        limit_periods += _limit_periods(key, value, directory / "limits.yaml")
    limit_periods = _override_limits(limit_periods, limit_overrides, where)
    return ReferenceData(
        offence_catalogue=catalogue,
        limit_periods=limit_periods,
        no_crime_reasons={k: [str(x) for x in v] for k, v in sections["no_crime_reasons"].items() if k != "valid"},
        reason_periods=_reason_periods(sections["no_crime_reasons"].get("valid") or {}, directory / "no_crime_reasons.yaml"),
        cancellation_authority={k: [str(x) for x in v] for k, v in sections["cancellation_authority"].items()},
        grade_bands=_bands(sections["grade_bands"].get("bands"), f"{directory / 'grade_bands.yaml'}"),
        outcome_labels={int(k): str(v) for k, v in (sections["outcome_types"].get("labels") or {}).items()},
        outcome_periods=_outcome_periods(sections["outcome_types"].get("valid") or {}, directory / "outcome_types.yaml"),
        outcome_lists={str(k): [int(x) for x in v or []] for k, v in (sections["outcome_types"].get("lists") or {}).items()},
        provenance=provenance,
    )


def reference_tables(reference: ReferenceData) -> list[tuple[str, str, list[tuple[Any, ...]]]]:
    """The engines' reference tables beside the offence catalogue: (name, columns, rows), the
    columns in types both DuckDB and Spark SQL read (STRING, INTEGER, DOUBLE, DATE), so the two
    engines load the same tables from one list."""

    def listed(lists: dict[str, list[Any]]) -> list[tuple[Any, ...]]:
        return [(name, item) for name, items in lists.items() for item in items]

    dated = "valid_from DATE, valid_to DATE"
    return [
        ("reason_list", "list STRING, item STRING", listed(reference.no_crime_reasons)),
        ("authority_list", "list STRING, item STRING", listed(reference.cancellation_authority)),
        ("outcome_list", "list STRING, item INTEGER", listed(reference.outcome_lists)),
        # one row per dated value of each limit
        (
            "limits",
            f"name STRING, value DOUBLE, {dated}",
            [(p.name, p.value, p.valid_from, p.valid_to) for p in reference.limit_periods],
        ),
        # when a no-crime reason could be relied on; when an outcome type could be given
        (
            "reason_period",
            f"reason STRING, {dated}",
            [(r, *period) for r, period in sorted(reference.reason_periods.items())],
        ),
        (
            "outcome_type",
            f"code INTEGER, {dated}",
            [(c, *period) for c, period in sorted(reference.outcome_periods.items())],
        ),
    ]
