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
DECIDER_ROLES = ("fcr", "ddm", "supervisor", "investigator", "pvp_officer", "mash_officer", "other")
"""Who made a referral's decision; the first three need no further supervisory review."""
SOURCE_TYPES = ("referral", "incident")
CONTACT_TYPES = (
    "update",
    "needs_assessment",
    "written_acknowledgement",
    "decision_notification",
    "support_referral",
    "other",
)
"""`support_referral`: the victim referred to a support service (victim support, an ISVA or a
children's ISVA), Victims' Code right 4."""
CONTACT_WITH = ("victim", "parent_or_carer", "professional", "other")
"""Who the police spoke to: `professional` is an intermediary (a social worker, a teacher)."""

MAX_VICTIMS = 1000
"""Plausibility bound on a report's victim count: more is a keying error, not a report."""
EARLIEST_YEAR = 1900
"""Plausibility bound on every date and time: earlier is a keying error (e.g. year 0001)."""

CODE_LIKE = r"^[A-Za-z0-9][A-Za-z0-9_./&+-]{0,15}$"
"""What a code looks like (short, one word): only such values are ever quoted back, in a
quarantine reason or a drafted profile. Anything else in a coded column is counted, never shown."""

# Columns whose content is free text about people: never logged, never used in a detail sentence.
FREE_TEXT_COLUMNS = frozenset({"summary", "decision_rationale", "cancellation_rationale", "text"})


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
    meaning: str = ""
    """What the column holds, in a registrar's words (shown by `recordcheck contract`)."""

    @property
    def free_text(self) -> bool:
        return self.name in FREE_TEXT_COLUMNS


@dataclass(frozen=True)
class Table:
    name: str
    record_type: str
    """What the register calls a row's record: a link or contact row is filed against its crime."""
    id_column: str | None
    required: bool
    columns: tuple[Column, ...]
    order_pairs: tuple[tuple[str, str], ...] = field(default=())
    """(earlier, later) timestamp columns: later must not be before earlier."""
    meaning: str = ""
    filed_column: str | None = None
    """The column naming the record a row is filed under, for a table without ids of its own
    (a link or contact row under its crime, a log entry under its incident)."""

    @property
    def record_column(self) -> str:
        """The column whose value is the row's record id in quarantine and the register."""
        return self.id_column or self.filed_column or "crime_id"

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


_FREE_TEXT = "free text about people: never logged, never in a detail sentence, escaped in reports"

REFERRALS = Table(
    "referrals",
    "referral",
    "referral_id",
    True,
    (
        _c("referral_id", "string", True, meaning="the referral's own reference; unique"),
        _c(
            "received_at",
            "timestamp",
            True,
            meaning="when any part of the police (PVP team, MASH, a contact point) received it",
        ),
        _c("district", "string", True, meaning="policing district or local authority area"),
        _c("referrer_type", "string", True, enum=REFERRER_TYPES, meaning="who made the report"),
        _c(
            "referrer_agency",
            "string",
            enum=REFERRER_AGENCIES,
            meaning="the referring agency, for a professional third party",
        ),
        _c("concern_type", "string", enum=CONCERN_TYPES, meaning="the kind of concern raised"),
        _c("subject_person_id", "string", meaning="the person (usually a child) the referral is about"),
        _c("subject_dob", "date", meaning="that person's date of birth"),
        _c("subject_sex", "string", enum=SEXES, meaning="that person's sex"),
        _c("subject_vulnerable", "bool", meaning="an adult at risk (children count as vulnerable whatever this says)"),
        _c(
            "disclosed_offence_code",
            "string",
            offence_code=True,
            meaning="Home Office code of the most serious notifiable offence disclosed; empty when none was",
        ),
        _c("offence_date", "date", meaning="when that offence happened (the start, for a period)"),
        _c(
            "victim_count",
            "int",
            min_value=1,
            max_value=MAX_VICTIMS,
            meaning="how many different victims the referral discloses; empty means one",
        ),
        _c("decision", "string", True, enum=REFERRAL_DECISIONS, meaning="what the police decided to do with it"),
        _c("decision_at", "timestamp", meaning="when that decision was made"),
        _c("no_crime_reason", "string", enum=NO_CRIME_REASONS, meaning="why no crime was recorded, when none was"),
        _c("decision_rationale", "string", meaning="the account of the decision; " + _FREE_TEXT),
        _c("summary", "string", meaning="the referral's narrative; " + _FREE_TEXT),
        _c("decided_by_role", "string", enum=DECIDER_ROLES, meaning="the role of whoever made the decision"),
        _c("supervised_at", "timestamp", meaning="when a supervisor reviewed the decision; empty if nobody has"),
        _c(
            "receiving_unit",
            "string",
            meaning="the unit that received the referral (the force's own name: MASH, a PVP or CSE team)",
        ),
    ),
    # plausibility across columns: a swapped pair of columns in a profile shows here, row by row
    order_pairs=(("subject_dob", "offence_date"), ("received_at", "decision_at")),
    meaning="One row per referral to the public protection teams, the MASH or a child exploitation team, "
    "from any source, including those that disclose no offence.",
)

INCIDENTS = Table(
    "incidents",
    "incident",
    "incident_id",
    False,
    (
        _c("incident_id", "string", True, meaning="the incident log's own reference; unique"),
        _c("reported_at", "timestamp", True, meaning="when the call or report was received"),
        _c("district", "string", True, meaning="policing district or local authority area"),
        _c("caller_type", "string", enum=REFERRER_TYPES, meaning="who called (same values as referrer_type)"),
        _c("opening_code", "string", meaning="the force's own opening classification"),
        _c("closing_code", "string", meaning="the force's own closing classification"),
        _c(
            "closure_class",
            "string",
            True,
            enum=CLOSURE_CLASSES,
            meaning="what the closure amounts to; a profile may derive it from closing_code",
        ),
        _c(
            "reported_offence_code",
            "string",
            offence_code=True,
            meaning="Home Office code of the notifiable offence the log discloses, if any",
        ),
        _c("victim_count", "int", min_value=1, max_value=MAX_VICTIMS, meaning="victims disclosed; empty means one"),
        _c("child_victim", "bool", meaning="the victim is a child"),
        _c("vulnerable_victim", "bool", meaning="the victim is vulnerable"),
        _c("no_crime_reason", "string", enum=NO_CRIME_REASONS, meaning="why no crime was recorded, when none was"),
        _c("decision_rationale", "string", meaning="the account of the closure decision; " + _FREE_TEXT),
        _c("summary", "string", meaning="the log's narrative; " + _FREE_TEXT),
    ),
    meaning="One row per command-and-control incident log. Optional: rules on incidents report 'not run' without it.",
)

CRIMES = Table(
    "crimes",
    "crime",
    "crime_id",
    True,
    (
        _c("crime_id", "string", True, meaning="the crime record's reference; unique"),
        _c("reported_at", "timestamp", True, meaning="the first report time held on the crime record"),
        _c("recorded_at", "timestamp", True, meaning="when the crime record was created"),
        _c("offence_code", "string", True, offence_code=True, meaning="Home Office offence code as classified now"),
        _c("offence_date", "date", meaning="when the offence happened (the start, for a period)"),
        _c("district", "string", True, meaning="policing district or local authority area"),
        _c("victim_person_id", "string", meaning="the victim (one victim per crime)"),
        _c("victim_dob", "date", meaning="the victim's date of birth"),
        _c("victim_sex", "string", enum=SEXES, meaning="the victim's sex"),
        _c("victim_vulnerable", "bool", meaning="the victim is vulnerable"),
        _c(
            "offender_relationship",
            "string",
            enum=OFFENDER_RELATIONSHIPS,
            meaning="the suspect's relationship to the victim",
        ),
        _c("cse_flag", "bool", meaning="flagged as child sexual exploitation"),
        _c("suspect_identified", "bool", meaning="a suspect has been identified"),
        _c("status", "string", True, enum=CRIME_STATUSES, meaning="the record's state now"),
        _c("cancellation_code", "string", enum=CANCELLATION_CODES, meaning="why it was cancelled (C1 to C5)"),
        _c("cancelled_at", "timestamp", meaning="when it was cancelled"),
        _c("cancellation_authoriser_role", "string", enum=AUTHORISER_ROLES, meaning="the role of whoever authorised it"),
        _c(
            "cancellation_rationale",
            "string",
            meaning="the additional verifiable information relied on; " + _FREE_TEXT,
        ),
        _c("victim_informed_of_cancellation_at", "timestamp", meaning="when the victim was told of the cancellation"),
        _c(
            "outcome_code",
            "int",
            min_value=0,
            max_value=22,
            meaning="Home Office outcome type 0 to 22; 0 or empty: not finalised",
        ),
        _c("outcome_at", "timestamp", meaning="when the outcome was assigned"),
    ),
    order_pairs=(("reported_at", "recorded_at"), ("victim_dob", "offence_date")),
    meaning="One row per crime record, in whatever state it is now: recorded, cancelled or transferred.",
)

CRIME_LINKS = Table(
    "crime_links",
    "crime",
    None,
    True,
    (
        _c("crime_id", "string", True, meaning="a crime record's crime_id"),
        _c("source_type", "string", True, enum=SOURCE_TYPES, meaning="what kind of report led to it"),
        _c("source_id", "string", True, meaning="that report's referral_id or incident_id"),
    ),
    meaning="Which reports led to which crime records; many to many. A profile may build it from a "
    "delimited column of crime ids on the referral or incident file.",
)

VICTIM_CONTACTS = Table(
    "victim_contacts",
    "crime",
    None,
    False,
    (
        _c("crime_id", "string", True, meaning="the crime the contact was about"),
        _c("contact_at", "timestamp", True, meaning="when the victim was contacted"),
        _c("contact_type", "string", True, enum=CONTACT_TYPES, meaning="what kind of contact it was"),
        _c(
            "contact_with",
            "string",
            enum=CONTACT_WITH,
            meaning="who the police spoke to: the victim, a parent or carer, or a professional in between",
        ),
    ),
    meaning="Contacts with victims under the Victims' Code. Optional: the victim update rule reports 'not run' without it.",
)

INCIDENT_LOG = Table(
    "incident_log",
    "incident",
    None,
    False,
    (
        _c("incident_id", "string", True, meaning="the incident the entry belongs to"),
        _c("entry_at", "timestamp", True, meaning="when the entry was written"),
        _c("text", "string", meaning="the entry's words; " + _FREE_TEXT),
    ),
    meaning="The command-and-control log, one row per entry. Optional: the narrative screen reads "
    "the incidents' summaries alone without it. A disclosure is often in a later entry, not the opening one.",
    filed_column="incident_id",
)

TABLES: dict[str, Table] = {t.name: t for t in (REFERRALS, INCIDENTS, CRIMES, CRIME_LINKS, VICTIM_CONTACTS, INCIDENT_LOG)}
RECORD_KEYS = frozenset(c for table in TABLES.values() for c in table.column_names if c.endswith("_id"))
"""The columns that name a record or a person (each ends in _id): what keeps one extract's rows
apart from another's when several run as one batch (a rule's cases, a country's forces)."""

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
    "repeat_subject",
    "unsupervised_decision",
    "victims_code",
    "decision_overdue",
    "narrative_disclosure",
)
SEVERITIES = ("high", "medium", "low")

HEADLINE_MEASURES: dict[str, tuple[str, ...]] = {
    "recording": ("unrecorded_crime", "n100_missing"),
    "timeliness": ("late_recording",),
    "classification": ("misclassification",),
}
"""The finding kinds behind each headline measure: the one table the headline figures, the
redacted report's family totals and the audit sample's screen calibration all read. Counted in
reports today: a report with fewer crimes than victims (undercounting) has a crime, so it is
recorded (`RECORDING_SHORTFALL` below adds it); it joins `recording` when the headline counts
crimes."""
MEASURE_OF_FINDING: dict[str, str] = {kind: measure for measure, kinds in HEADLINE_MEASURES.items() for kind in kinds}
RECORDING_SHORTFALL: tuple[str, ...] = (*HEADLINE_MEASURES["recording"], "undercounting")
"""Findings that mean a report has fewer crimes than it should: what an auditor's verdict
"crimes recorded < crimes due" measures, so the audit sample calibrates the screen on these."""

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
"""The exceptions register's required columns, in order (the output contract)."""
REGISTER_EXTRA_COLUMNS = (
    "evidence",
    "title",
    "referrer_agency",
    "offence_group",
    "month",
    "source",
    "victim_group",
    "receiving_unit",
)
"""After them: the evidence hash a decision rests on, the rule's title, and the strata the report groups by.
The nightly cycle adds change, first_seen, disposition and disposition_until."""
