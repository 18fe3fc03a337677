"""A force's run configuration: reference-data overrides, disabled rules, thresholds, reports, engine.

Everything here is optional; with no config file the pack's defaults apply. The file is checked
against a typed schema (pydantic) when it is loaded, before any work: limits are finite and
positive, rates lie in 0..1, counts are whole numbers, a list is a list. An error names the file,
line and key path and exits with the usage code. Rule ids are checked against the pack once it is
loaded (`check_rule_ids`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from recordcheck.checks.base.database import EngineSettings
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.marking import DEFAULT_MARKING
from recordcheck.checks.base.schema import Strict, validate
from recordcheck.checks.base.yamlfile import line_of, load_yaml

Count = Annotated[int, Field(ge=0, strict=True)]


class Threshold(Strict):
    """Breach levels for one rule; the engine, never the rule, applies them."""

    warn_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=False)] | None = None
    error_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=False)] | None = None
    warn_count: Count | None = None
    error_count: Count | None = None


class RulesModel(Strict):
    disable: list[str] = []
    thresholds: dict[str, Threshold] = {}


Line = Annotated[str, Field(min_length=1, max_length=200)]


class AuditPeriodModel(Strict):
    """The period the audit declares it covers; the extract's own date range is not an audit period."""

    start: Annotated[date, Field(strict=False)]
    end: Annotated[date, Field(strict=False)]

    @model_validator(mode="after")
    def _ordered(self) -> AuditPeriodModel:
        if self.end < self.start:
            raise ValueError(f"the audit period ends ({self.end}) before it starts ({self.start})")
        return self


class ReportModel(Strict):
    """The report's settings and its front matter: a final report names its force, author and period."""

    status: Literal["draft", "final"] = "draft"
    author: Line | None = None
    issued: Annotated[date, Field(strict=False)] | None = None
    version: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    handling: Line | None = None
    distribution: list[Line] | None = None
    audit_period: AuditPeriodModel | None = None
    max_rows_in_page: Annotated[int, Field(ge=1, le=100_000)] = 2000
    redact_below: Annotated[int, Field(ge=1, le=1000)] = 5
    annual_recorded_crime: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    min_population_to_grade: Annotated[int, Field(ge=1, le=100_000)] = 30
    marking: Annotated[str, Field(min_length=1, max_length=60)] = DEFAULT_MARKING
    force_name: Annotated[str, Field(min_length=1, max_length=120)] | None = None

    @model_validator(mode="after")
    def _final_is_complete(self) -> ReportModel:
        if self.status == "final":
            missing = [k for k in ("force_name", "author", "audit_period") if getattr(self, k) is None]
            if missing:
                raise ValueError(f"a final report needs {', '.join(missing)} (or set status: draft)")
        return self


class EngineModel(Strict):
    threads: Annotated[int, Field(ge=1, le=256)] | None = None
    memory_limit: Annotated[str, Field(pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$")] | None = None
    temp_directory: str | None = None
    query_seconds: Annotated[float, Field(gt=0, le=86_400, allow_inf_nan=False, strict=False)] | None = None


class LimitsModel(Strict):
    """Overrides of rules/reference/limits.yaml: each finite and above zero."""

    recording_hours: Annotated[float, Field(gt=0, le=24 * 365, allow_inf_nan=False, strict=False)] | None = None
    pending_hours: Annotated[float, Field(gt=0, le=24 * 365, allow_inf_nan=False, strict=False)] | None = None
    victim_update_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False, strict=False)] | None = None
    child_under_age: Annotated[int, Field(ge=1, le=25)] | None = None
    repeat_subject_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False, strict=False)] | None = None
    narrative_max_chars: Annotated[int, Field(ge=100, le=1_000_000)] | None = None


class GradeBandModel(Strict):
    grade: str
    min_percent: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=False)]
    inclusive: bool = True
    hmicfrs: str = ""


class GradeBandsModel(Strict):
    bands: list[GradeBandModel]


class OutcomeTypesModel(Strict):
    labels: dict[str, str]

    @field_validator("labels")
    @classmethod
    def _codes(cls, labels: dict[str, str]) -> dict[str, str]:
        bad = [k for k in labels if not (str(k).isdigit() and 0 <= int(k) <= 22)]
        if bad:
            raise ValueError(f"outcome codes are whole numbers 0..22, not {', '.join(map(str, bad))}")
        return labels


class PeriodModel(Strict):
    valid_from: Annotated[date, Field(strict=False)] | None = None
    valid_to: Annotated[date, Field(strict=False)] | None = None


class ReasonsModel(Strict):
    always_accepted: list[str] | None = None
    victim_dependent: list[str] | None = None
    victim_dependent_sources: list[str] | None = None
    n100_rape_accepted: list[str] | None = None
    valid: dict[str, PeriodModel] | None = None
    """When each reason could be relied on (a reason not listed: at any time)."""


class AuthorityModel(Strict):
    permitted_roles: list[str] | None = None
    registrar_categories: list[str] | None = None
    registrar_roles: list[str] | None = None
    rationale_required_codes: list[str] | None = None
    victim_notification_codes: list[str] | None = None
    transfer_codes: list[str] | None = None


class ReferenceModel(Strict):
    limits: LimitsModel | None = None
    no_crime_reasons: ReasonsModel | None = None
    cancellation_authority: AuthorityModel | None = None
    grade_bands: GradeBandsModel | None = None
    outcome_types: OutcomeTypesModel | None = None
    offence_catalogue: str | None = None


class ValidationModel(Strict):
    max_quarantine_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=False)] = 0.05
    unmapped_codes: Literal["incomplete", "warn"] = "incomplete"
    unlinked_columns: Literal["incomplete", "warn"] = "incomplete"


Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=False)]


class FailOnModel(Strict):
    """What fails a night (exit 1, THRESHOLD_BREACHED), beyond each rule's own thresholds."""

    new_findings: list[Literal["high", "medium", "low"]] = []
    family_rates: dict[str, Share] = {}
    quarantined_share: Share | None = None
    table_shrink: Share | None = None
    repeated_export: bool = False
    stale_input_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class StratumModel(Strict):
    """One audit-sample stratum: the reports that meet every condition given (first match wins)."""

    name: Annotated[str, Field(min_length=1, max_length=80)]
    record_type: Literal["referral", "incident"] | None = None
    source: list[str] | None = None
    notifiable: bool | None = None
    rape: bool | None = None
    sexual_offence: bool | None = None
    cancelled: bool | None = None


class SampleModel(Strict):
    strata: Annotated[list[StratumModel], Field(min_length=1)] | None = None
    min_per_stratum: Annotated[int, Field(ge=1, le=10_000)] = 30
    neyman_floor: Annotated[float, Field(gt=0, le=0.5, allow_inf_nan=False, strict=False)] = 0.05


class NotifyModel(Strict):
    """A command of the force's choice, run with the due file when something falls due soon."""

    command: Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]], Field(min_length=1, max_length=64)]
    due_within_hours: Annotated[float, Field(gt=0, le=24 * 90, allow_inf_nan=False, strict=False)] = 6
    timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 60


class ConfigModel(Strict):
    config: Literal[1]
    sample: SampleModel | None = None
    districts: Annotated[list[Annotated[str, Field(min_length=1, max_length=80)]], Field(min_length=1)] | None = None
    fail_on: FailOnModel | None = None
    validation: ValidationModel | None = None
    reference: ReferenceModel | None = None
    rules: RulesModel | None = None
    report: ReportModel | None = None
    engine: EngineModel | None = None
    output_mode: Literal["owner", "group"] = "owner"
    notify: NotifyModel | None = None


@dataclass(frozen=True)
class FailOn:
    """Night-level thresholds: any new open finding of these severities; a rule family's breach
    rate above a share; quarantined rows above a share of rows read; a table smaller than the
    previous run's by more than a share (a truncated export)."""

    new_findings: tuple[str, ...] = ()
    family_rates: dict[str, float] = field(default_factory=dict)
    quarantined_share: float | None = None
    table_shrink: float | None = None
    repeated_export: bool = False
    """Fail the night when tonight's export is, file for file, the last complete night's."""
    stale_input_days: int | None = None
    """Fail the night when the newest report is more than this many days before the as-of."""


@dataclass
class RunConfig:
    path: Path | None = None
    reference: dict[str, Any] = field(default_factory=dict)
    disabled_rules: list[str] = field(default_factory=list)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    engine: EngineSettings = field(default_factory=EngineSettings)
    max_quarantine_share: float = 0.05
    """Above this share of a table quarantined, the run is published but exits RUN_INCOMPLETE."""
    unmapped_codes: str = "incomplete"
    """A row quarantined for a code the profile does not map, in a table a rule reads: the night is
    incomplete (exit 9), or with `warn` a warning in the headline."""
    unlinked_columns: str = "incomplete"
    """A force column that names crimes and that no link builder reads: incomplete, or `warn`."""
    fail_on: FailOn = field(default_factory=lambda: FailOn())
    output_mode: str = "owner"
    """Run folders: `owner` (0700, the owner alone) or `group` (0750, files 0640: the group reads)."""
    notify: dict[str, Any] | None = None
    """{command, due_within_hours, timeout_seconds}: run after publishing when something falls due soon."""
    districts: list[str] | None = None
    """The force's districts: a value outside them is a data-quality finding and never a stratum."""
    sample_strata: list[dict[str, Any]] | None = None
    """Audit-sample strata in order (first match wins); None: the default eight."""
    sample_minimum: int = 30
    """Reviewed reports each audit-sample stratum gets at least, where it holds them."""
    sample_neyman_floor: float = 0.05
    """The lowest breach rate Neyman allocation assumes in a stratum."""
    _lines: Any = None

    def check_families(self, known: list[str]) -> None:
        """fail_on.family_rates must name families of the pack (the folders under rules/)."""
        unknown = [f for f in self.fail_on.family_rates if f not in known]
        if unknown:
            lines = self._lines if isinstance(self._lines, dict) else {}
            line = line_of(lines.get("fail_on"), "family_rates") if lines.get("fail_on") is not None else "?"
            raise ConfigError(
                f"{self.path} line {line}: fail_on.family_rates names no rule family of the pack: "
                f"{', '.join(unknown)} (known: {', '.join(known)})"
            )

    def check_rule_ids(self, known: list[str]) -> None:
        """Every rule the config names must be in the pack: a typo would silently do nothing."""
        rules = (self._lines or {}).get("rules") if isinstance(self._lines, dict) else None
        rule_ids = [k for k in known if "." not in k]  # `known` also names parts (CAN001.victim_told)
        for where, ids, names in (
            ("rules.disable", self.disabled_rules, known),
            ("rules.thresholds", list(self.thresholds), rule_ids),
        ):
            unknown = [r for r in ids if r not in names]
            if unknown:
                line = line_of(rules, where.split(".")[1]) if rules is not None else "?"
                raise ConfigError(
                    f"{self.path} line {line}: {where} names no rule of the pack: {', '.join(unknown)} "
                    f"(known: {', '.join(names)})"
                )


def load_config(path: Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    return config_from_raw(load_yaml(path), path)


def config_from_raw(raw: Any, path: Path) -> RunConfig:
    """A config from its parsed YAML (a file's, or a national manifest's inline `config:`);
    `path` is where it came from, for messages and relative paths."""
    model = validate(ConfigModel, raw, path, "the config")
    rules = model.rules or RulesModel()
    engine = model.engine or EngineModel()
    validation = model.validation or ValidationModel()
    reference = model.reference.model_dump(exclude_none=True) if model.reference else {}
    return RunConfig(
        path=path,
        reference=reference,
        disabled_rules=list(rules.disable),
        thresholds=dict(rules.thresholds),
        report=model.report.model_dump(mode="json", exclude_none=True) if model.report else {},
        engine=EngineSettings(
            threads=engine.threads,
            memory_limit=engine.memory_limit,
            temp_directory=(path.parent / engine.temp_directory) if engine.temp_directory is not None else None,
            **({"query_seconds": engine.query_seconds} if engine.query_seconds is not None else {}),
        ),
        max_quarantine_share=validation.max_quarantine_share,
        unmapped_codes=validation.unmapped_codes,
        unlinked_columns=validation.unlinked_columns,
        districts=list(model.districts) if model.districts else None,
        output_mode=model.output_mode,
        notify=model.notify.model_dump() if model.notify else None,
        sample_strata=[s.model_dump(exclude_none=True) for s in model.sample.strata]
        if model.sample and model.sample.strata
        else None,
        sample_minimum=model.sample.min_per_stratum if model.sample else 30,
        sample_neyman_floor=model.sample.neyman_floor if model.sample else 0.05,
        fail_on=FailOn(
            tuple(fail_on.new_findings),
            dict(fail_on.family_rates),
            fail_on.quarantined_share,
            fail_on.table_shrink,
            fail_on.repeated_export,
            fail_on.stale_input_days,
        )
        if (fail_on := model.fail_on)
        else FailOn(),
        _lines=raw,
    )
