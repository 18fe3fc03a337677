"""The canonical extract contract (version 1): tables, columns, types, enums.

Everything downstream (reader, parser, expectation suites, generator, rules) takes names from
here, so a column is spelt once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

CONTRACT_VERSION = 1

ColumnType = Literal["string", "int", "bool", "date", "timestamp"]

REFERRER_TYPES = (
    "professional_third_party",
    "victim",
    "family_or_carer",
    "member_of_public",
    "anonymous",
    "police",
)
REFERRER_AGENCIES = (
    "children_social_care",
    "adult_social_care",
    "health",
    "education",
    "youth_justice",
    "voluntary_sector",
    "other_force",
    "police",
    "other",
)
CONCERN_TYPES = ("cse", "csa", "cce", "domestic_abuse", "neglect", "missing", "online_harm", "other")
SEXES = ("F", "M", "U")
REFERRAL_DECISIONS = (
    "crime_recorded",
    "n100",
    "crime_related_incident",
    "no_offence_disclosed",
    "transferred",
    "pending",
)
CLOSURE_CLASSES = (
    "crime",
    "crime_related_incident",
    "n100",
    "non_crime",
    "transferred",
    "duplicate",
    "open",
)
NO_CRIME_REASONS = (
    "credible_evidence_contrary",
    "victim_declined",
    "victim_not_traced",
    "other_force_recording",
    "duplicate",
    "not_notifiable",
    "other",
)
OFFENDER_RELATIONSHIPS = (
    "family",
    "partner_or_ex",
    "position_of_trust",
    "acquaintance",
    "stranger",
    "unknown",
)
CRIME_STATUSES = ("recorded", "cancelled", "transferred")
CANCELLATION_CODES = ("C1", "C2", "C3", "C4", "C5")
AUTHORISER_ROLES = ("fcr", "ddm", "supervisor", "investigator", "other")
SOURCE_TYPES = ("referral", "incident")
CONTACT_TYPES = (
    "update",
    "needs_assessment",
    "written_acknowledgement",
    "decision_notification",
    "other",
)

MAX_VICTIMS = 1000
"""Plausibility bound on a report's victim count: more is a keying error, not a report."""
EARLIEST_YEAR = 1900
"""Plausibility bound on every date and time: earlier is a keying error (e.g. year 0001)."""

# Columns whose content is free text about people: never logged, never used in a detail sentence.
FREE_TEXT_COLUMNS = frozenset({"summary", "decision_rationale", "cancellation_rationale"})


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    required: bool = False
    enum: tuple[str, ...] | None = None
    offence_code: bool = False
    """Values must be codes in the offence catalogue."""
    min_value: int | None = None
    max_value: int | None = None


@dataclass(frozen=True)
class Table:
    name: str
    record_type: str
    """What a row is called in the exceptions register."""
    id_column: str | None
    required: bool
    columns: tuple[Column, ...]
    order_pairs: tuple[tuple[str, str], ...] = field(default=())
    """(earlier, later) timestamp columns: later must not be before earlier."""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


def _c(name: str, type_: ColumnType, required: bool = False, **kw: object) -> Column:
    return Column(name, type_, required, **kw)  # type: ignore[arg-type]


REFERRALS = Table(
    "referrals",
    "referral",
    "referral_id",
    True,
    (
        _c("referral_id", "string", True),
        _c("received_at", "timestamp", True),
        _c("district", "string", True),
        _c("referrer_type", "string", True, enum=REFERRER_TYPES),
        _c("referrer_agency", "string", enum=REFERRER_AGENCIES),
        _c("concern_type", "string", enum=CONCERN_TYPES),
        _c("subject_person_id", "string"),
        _c("subject_dob", "date"),
        _c("subject_sex", "string", enum=SEXES),
        _c("subject_vulnerable", "bool"),
        _c("disclosed_offence_code", "string", offence_code=True),
        _c("offence_date", "date"),
        _c("victim_count", "int", min_value=1, max_value=MAX_VICTIMS),
        _c("decision", "string", True, enum=REFERRAL_DECISIONS),
        _c("decision_at", "timestamp"),
        _c("no_crime_reason", "string", enum=NO_CRIME_REASONS),
        _c("decision_rationale", "string"),
        _c("summary", "string"),
    ),
)

INCIDENTS = Table(
    "incidents",
    "incident",
    "incident_id",
    False,
    (
        _c("incident_id", "string", True),
        _c("reported_at", "timestamp", True),
        _c("district", "string", True),
        _c("caller_type", "string", enum=REFERRER_TYPES),
        _c("opening_code", "string"),
        _c("closing_code", "string"),
        _c("closure_class", "string", True, enum=CLOSURE_CLASSES),
        _c("reported_offence_code", "string", offence_code=True),
        _c("victim_count", "int", min_value=1, max_value=MAX_VICTIMS),
        _c("child_victim", "bool"),
        _c("vulnerable_victim", "bool"),
        _c("no_crime_reason", "string", enum=NO_CRIME_REASONS),
        _c("decision_rationale", "string"),
        _c("summary", "string"),
    ),
)

CRIMES = Table(
    "crimes",
    "crime",
    "crime_id",
    True,
    (
        _c("crime_id", "string", True),
        _c("reported_at", "timestamp", True),
        _c("recorded_at", "timestamp", True),
        _c("offence_code", "string", True, offence_code=True),
        _c("offence_date", "date"),
        _c("district", "string", True),
        _c("victim_person_id", "string"),
        _c("victim_dob", "date"),
        _c("victim_sex", "string", enum=SEXES),
        _c("victim_vulnerable", "bool"),
        _c("offender_relationship", "string", enum=OFFENDER_RELATIONSHIPS),
        _c("cse_flag", "bool"),
        _c("suspect_identified", "bool"),
        _c("status", "string", True, enum=CRIME_STATUSES),
        _c("cancellation_code", "string", enum=CANCELLATION_CODES),
        _c("cancelled_at", "timestamp"),
        _c("cancellation_authoriser_role", "string", enum=AUTHORISER_ROLES),
        _c("cancellation_rationale", "string"),
        _c("victim_informed_of_cancellation_at", "timestamp"),
        _c("outcome_code", "int", min_value=0, max_value=22),
        _c("outcome_at", "timestamp"),
    ),
    order_pairs=(("reported_at", "recorded_at"),),
)

CRIME_LINKS = Table(
    "crime_links",
    "crime_link",
    None,
    True,
    (
        _c("crime_id", "string", True),
        _c("source_type", "string", True, enum=SOURCE_TYPES),
        _c("source_id", "string", True),
    ),
)

VICTIM_CONTACTS = Table(
    "victim_contacts",
    "victim_contact",
    None,
    False,
    (
        _c("crime_id", "string", True),
        _c("contact_at", "timestamp", True),
        _c("contact_type", "string", True, enum=CONTACT_TYPES),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (REFERRALS, INCIDENTS, CRIMES, CRIME_LINKS, VICTIM_CONTACTS)}
TABLE_ORDER = tuple(TABLES)

FINDINGS = (
    "unrecorded_crime",
    "n100_missing",
    "late_recording",
    "misclassification",
    "undercounting",
    "improper_cancellation",
    "outcome_inconsistent",
    "victim_update_overdue",
    "missing_rationale",
    "data_quality",
)
SEVERITIES = ("high", "medium", "low")
RECORD_TYPES = ("referral", "incident", "crime")

REGISTER_COLUMNS = (
    "run_id",
    "rule_id",
    "finding",
    "severity",
    "record_type",
    "record_id",
    "district",
    "fingerprint",
    "detail",
)
