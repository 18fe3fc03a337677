"""Typed context for report.html. Every field documents itself (metadata 'help'); a test checks it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def doc(help_text: str, **kw: Any) -> Any:
    """A dataclass field that carries its help text (typed Any, as `field` itself is, so each
    field keeps the type it is declared with)."""
    return field(metadata={"help": help_text}, **kw)


@dataclass(frozen=True)
class Rate:
    """A compliance rate with its 95% intervals."""

    label: str = doc("What is being counted, e.g. a district or an agency.")
    compliant: int = doc("Records that met the standard (numerator).")
    total: int = doc("Records the standard applies to (denominator).")
    rate: float | None = doc("compliant / total, or None when total is 0.")
    wilson_low: float | None = doc("Lower bound of the 95% Wilson score interval.")
    wilson_high: float | None = doc("Upper bound of the 95% Wilson score interval.")
    wald_pm: float | None = doc("Half-width of the 95% normal-approximation interval (+/-).")
    grade: str = doc(
        "Grade band the whole 95% Wilson interval lies in (rules/reference/grade_bands.yaml), or the bands it "
        "spans, worst first ('between Good and Excellent'); 'too few to grade' below the graded population."
    )
    suppressed: bool = doc("In a redacted report: withheld, because it rests on a small count.", default=False)
    point_grade: str = doc(
        "The band of the rate itself ('' when not graded): below the good bands, it is an area for improvement.",
        default="",
    )


@dataclass(frozen=True)
class Headline:
    recording: Rate = doc(
        "Crimes recorded / crimes due (one per victim) of the referrals and incidents that should have been recorded."
    )
    timeliness: Rate = doc("Crimes recorded within 24 hours of first report / crimes.")
    classification: Rate = doc("Crimes without a classification finding / crimes checked.")
    unrecorded_per_year: int | None = doc(
        "Estimated crimes a year left unrecorded: N (1 - rate) / rate, N the annual recorded crime."
    )
    annual_recorded_crime: int = doc("Recorded crimes a year used for the estimate (config or the extract, annualised).")
    estimate_method: str = doc("Plain statement of how the estimate was made.")
    recording_reports: Rate | None = doc(
        "The same rate counted in reports: reports with a crime / reports that should have been recorded "
        "(None for a run folder that did not count it)."
    )
    victim_groups: list[Rate] = doc(
        "Recording rates of the victims in public protection, measured apart: children (and by age band at the "
        "report), vulnerable adults, child sexual exploitation."
    )
    estimate_days: int | None = doc(
        "The days the estimate's recorded crimes cover when the extract is shorter than a year (never annualised); "
        "None: a year.",
        default=None,
    )
    net: dict[str, Rate] = doc(
        "Net of confirmed false positives, by headline figure (recording, timeliness, classification), where "
        "auditors confirmed any: the records (crimes, for recording) they take out of the denominator.",
        default_factory=dict,
    )
    net_removed: dict[str, int] = doc("How many records (crimes) each net figure leaves out.", default_factory=dict)


@dataclass(frozen=True)
class NotChecked:
    rule_id: str = doc("The rule that did not run.")
    title: str = doc("What it would have checked.")
    reason: str = doc("Why it did not run (table absent, a needed column absent or empty, disabled).")
    disabled: bool = doc("True when the force's config disables it knowingly.")
    part: str = doc("The sub-check that did not run, when the rest of the rule did (else empty).", default="")


@dataclass(frozen=True)
class Cover:
    force_name: str = doc("The force, from config report.force_name.")
    period_first: str = doc("London date of the first report checked.")
    period_last: str = doc("London date of the last report checked.")
    as_of_london: str = doc("The run's as-of instant in London time.")
    pack_version: str = doc("Rule pack name and version.")
    status: str = doc("draft or final (config report.status); a final report has its force, author and period.")
    author: str = doc("Who wrote the report (config report.author), or a note that it is not set.")
    issued: str = doc("Issue date (config report.issued), else the as-of date.")
    version: str = doc("The document's version (config report.version), else 'draft'.")
    handling: str = doc("Handling instructions beside the marking (config report.handling).")
    distribution: tuple[str, ...] = doc("Who receives it (config report.distribution).")
    audit_period: str = doc("The declared audit period (config report.audit_period), or that none is declared.")
    beyond_period: str = doc("A note when the extract's reports fall outside the declared period, else empty.")


@dataclass(frozen=True)
class DecisionEntry:
    decided_at: str = doc("When the decision was imported (London time).")
    reviewer: str = doc("Who made it.")
    decision: str = doc("confirmed, false_positive, remediated or waived.")
    reason: str = doc("Why, in the reviewer's words (escaped on the page).")
    until: str = doc("A waiver's lapse date or a remediation's due date, else empty.")
    rule_id: str = doc("The rule of the finding decided.")
    record: str = doc("The record decided: its type and id.")
    severity: str = doc("The finding's severity when decided (empty for decisions stored before it was kept).")


@dataclass(frozen=True)
class ReviewerRow:
    reviewer: str = doc("A reviewer's name as given in the worklist.")
    counts: dict[str, int] = doc("Decisions this reviewer made, by decision.")
    total: int = doc("All this reviewer's decisions.")


@dataclass(frozen=True)
class DecisionLog:
    """The report's decision log: who decided what, when and why, with counts by decision and reviewer."""

    logged: int = doc("Decisions in the store's log (every import, history kept).")
    by_decision: dict[str, int] = doc("Logged decisions by decision.")
    reviewers: list[ReviewerRow] = doc("Logged decisions by reviewer.")
    in_force: dict[str, int] = doc("Tonight's register by the disposition in force (awaiting a second review, overdue ...).")
    entries: list[DecisionEntry] = doc("The latest decisions, newest first, up to the page's row limit.")
    decisions: tuple[str, ...] = doc("The decision columns, in order.")


@dataclass(frozen=True)
class Assumption:
    number: int = doc("Its number in the appendix (A1, A2, ...).")
    text: str = doc("What is assumed where public text is silent, stated once.")
    rule_ids: tuple[str, ...] = doc("The rules that rest on it.")


@dataclass(frozen=True)
class GlanceRow:
    rule_id: str = doc("Rule id.")
    title: str = doc("What the rule flags.")
    compliance: Rate = doc("Compliance over the rule's population.")
    status: str = doc("run or not_run.")
    threshold: str = doc("ok, warn or error against the force's threshold.")
    net: Rate | None = doc("Compliance net of confirmed false positives (None: none confirmed).", default=None)


@dataclass(frozen=True)
class AuditedRate:
    rate: float | None = doc("The stratified ratio estimate.")
    ci_low: float | None = doc("Its 95% interval, lower bound.")
    ci_high: float | None = doc("Its 95% interval, upper bound.")
    compliant: int = doc("The numerator over the reviewed reports (crimes recorded, on time, correctly classified).")
    total: int = doc("The denominator over the reviewed reports (crimes due, or crimes recorded).")


@dataclass(frozen=True)
class NarrativeCheck:
    flagged: int = doc("Reviewed uncoded reports the narrative screen flagged.")
    confirmed: int = doc("Of those, how many the reviewers found short of crimes due.")
    missed: int = doc("Uncoded reports the reviewers found short that the screen did not flag.")
    precision: float | None = doc("confirmed / flagged: how many flags to expect to be real.")
    precision_low: float | None = doc("Its 95% Wilson interval, lower bound.")
    precision_high: float | None = doc("Its 95% Wilson interval, upper bound.")
    recall: float | None = doc("confirmed / (confirmed + missed).")


@dataclass(frozen=True)
class Audit:
    audited_at: str = doc("When the reviewed sample's estimate was made (London date).")
    worksheet: str = doc("The worksheet it came from.")
    rate: float | None = doc("The audited recording rate (stratified ratio estimate).")
    ci_low: float | None = doc("Its 95% interval, lower bound.")
    ci_high: float | None = doc("Its 95% interval, upper bound.")
    reviewed: int = doc("Reports reviewed.")
    precision: float | None = doc("Of the reports the screen flagged unrecorded, the share the reviewers agreed with.")
    recall: float | None = doc("Of the reports the reviewers found unrecorded, the share the screen flagged.")
    sampled_run: str = doc("The run the sample was drawn from ('' for a worksheet that does not say).", default="")
    period: str = doc("The dates of the reports in that run ('' when not known).", default="")
    crimes_due: int = doc("Crimes due behind the audited recording rate, over the reviewed reports.", default=0)
    crimes_recorded: int = doc("Of those, crimes recorded.", default=0)
    timeliness: AuditedRate | None = doc("Audited share of recorded crimes recorded on time.", default=None)
    classification: AuditedRate | None = doc("Audited share of recorded crimes correctly classified.", default=None)
    narrative: NarrativeCheck | None = doc(
        "The narrative screen (NAR001) against the reviewers, on the reviewed reports with no offence coded.",
        default=None,
    )


@dataclass(frozen=True)
class Changes:
    new: int = doc("Findings not raised by the previous night.")
    recurring: int = doc("Findings the previous night raised too.")
    resolved: int = doc("The previous night's findings no longer raised (resolved.csv).")
    previous_run: str = doc("The run compared with, or empty for a first night.")
    decisions: dict[str, int] = doc("Findings by the decision in force (confirmed, false_positive, remediated, waived).")
    resolved_how: dict[str, int] = doc(
        "The resolved by how they closed: fixed (the record is still in the extract), left_the_extract (the record "
        "vanished while its finding was open: an integrity risk) and aged_out (before tonight's window).",
        default_factory=dict,
    )


@dataclass(frozen=True)
class DueItem:
    deadline_local: str = doc("The deadline, London wall clock with its zone.")
    hours_left: float = doc("Hours from the run's as-of to the deadline.")
    rule_id: str = doc("The rule that will be breached.")
    record_type: str = doc("referral, incident or crime.")
    record_id: str = doc("The record to act on.")
    district: str = doc("Its district.")


@dataclass(frozen=True)
class DueBox:
    total: int = doc("Records that will breach unless someone acts.")
    soon: int = doc("Of those, due within `within_hours` of the as-of.")
    within_hours: int = doc("What 'soon' means, in hours.")
    by_rule: dict[str, int] = doc("Due records per rule.")
    first: list[DueItem] = doc("The earliest deadlines (up to 20): the rest are in due.csv.")
    weeks: list[dict[str, Any]] = doc(
        "Per week of first listing: listed, met (in time), missed, open, median_hours_to_act.", default_factory=list
    )


@dataclass(frozen=True)
class TrendPoint:
    as_of: str = doc("The night (London date).")
    recording: float | None = doc("Recording rate that night.")
    timeliness: float | None = doc("Share recorded within 24 hours that night.")
    classification: float | None = doc("Classification accuracy that night.")


@dataclass(frozen=True)
class PvpRow:
    label: str = doc("Referring agency, district or victim group.")
    referrals: int = doc("Referrals received from professional third parties.")
    crimes_due: int = doc(
        "Crimes due from those that should have been recorded (recorded, or found unrecorded): one per victim "
        "where the offence counts victims."
    )
    crimes_recorded: int = doc("Of the crimes due, how many the linked crime records count.")
    rate: Rate = doc("crimes_recorded / crimes_due with intervals.")


@dataclass(frozen=True)
class CodingRow:
    label: str = doc("Referrals or incidents, and the district (or all districts).")
    reports: int = doc("Reports received.")
    uncoded: int = doc("Of those, how many carry no offence code: the rules cannot judge them.")
    uncoded_closed: int = doc("Of the uncoded, how many were closed without a crime.")


@dataclass(frozen=True)
class NarrativeRow:
    label: str = doc("The offence group the words describe.")
    total: int | None = doc("Reports flagged that describe it, all districts (None: suppressed, redacted report).")
    by_district: list[int | None] = doc(
        "The same, per district, in the order of NarrativeSection.districts (None: suppressed, redacted report)."
    )


@dataclass(frozen=True)
class NarrativeSection:
    judged: int | None = doc(
        "Uncoded reports closed without a crime, older than the recording limit: NAR001's population "
        "(None: suppressed, redacted report)."
    )
    flagged: int | None = doc(
        "Of those, how many describe an offence in their words (NAR001 breaches; None: suppressed, redacted report)."
    )
    districts: list[str] = doc("The districts, in column order.")
    groups: list[NarrativeRow] = doc("Flagged reports by offence group (a report counts in each group it describes).")


@dataclass(frozen=True)
class Subjects:
    referrals: int = doc("Referrals received.")
    with_subject: int = doc("Of those, how many name the person they are about.")
    people: int = doc("Distinct people the referrals are about: victims, not reports.")
    children: int = doc("Of those, how many were children at a referral.")
    referred_again: int = doc("People referred more than once.")


@dataclass(frozen=True)
class CrossTable:
    title: str = doc("Table caption.")
    row_header: str = doc("Header of the first column.")
    columns: list[str] = doc("Column headings after the first.")
    rows: list[tuple[str, list[int]]] = doc("Each row: its label and one count per column.")
    totals: list[int] = doc("Column totals.")
    population: str = doc("Which records the table counts, in words.", default="")


@dataclass(frozen=True)
class RuleView:
    id: str = doc("Rule id, e.g. REC001.")
    name: str = doc("Dotted rule name.")
    title: str = doc("One-line statement of the breach.")
    finding: str = doc("Finding kind the rule reports.")
    severity: str = doc("high, medium or low.")
    rationale: str = doc("Why the rule matters.")
    reference: str = doc("Crime Recording Rules / NCRS and published sources only; readings go to `assumptions`.")
    status: str = doc("'run' or 'not_run'.")
    reason_not_run: str = doc("Why the rule did not run (e.g. table absent), else empty.")
    overall: Rate = doc("Compliance over the whole population.")
    by_district: list[Rate] = doc("Compliance per district.")
    by_victim: list[Rate] = doc("Compliance per victim group at the report (rules with that stratum).")
    breaches: int = doc("Records flagged.")
    threshold: str = doc("ok, warn or error against the force's configured threshold.")
    false_positives: int = doc("Findings auditors judged false positives (in force tonight): the rule's precision in use.")
    reviewed: int = doc("Findings with an auditor's decision in force: precision in use is judged on these alone.")
    trend: list[float | None] = doc("The rule's breach rate over the last nights, oldest first (None: not run).")
    assumptions: tuple[str, ...] = doc("Labels (A1, A2, ...) of the appendix assumptions the rule rests on.")
    parts_not_run: tuple[str, ...] = doc(
        "Sub-checks that did not run, each 'part: why' (a column absent or empty, or disabled): the rest ran.",
        default=(),
    )


@dataclass(frozen=True)
class FamilyView:
    name: str = doc("Rule family (folder under rules/).")
    rules: list[RuleView] = doc("The family's rules.")


@dataclass(frozen=True)
class ExceptionRow:
    rule_id: str = doc("Rule that flagged the record.")
    finding: str = doc("Finding kind.")
    severity: str = doc("high, medium or low.")
    record_type: str = doc("referral, incident or crime.")
    record_id: str = doc("Record id (pseudonymised in a redacted report).")
    district: str = doc("District of the record.")
    agency: str = doc("Referring agency, where known.")
    detail: str = doc("One sentence from codes, dates and ids; never free text.")
    fingerprint: str = doc("Stable id of the finding across runs.")
    change: str = doc("new or recurring, against the previous night.")
    first_seen: str = doc("London date of the first night that raised it.")
    disposition: str = doc("The auditors' decision in force (empty when none holds).")


@dataclass(frozen=True)
class TableQuality:
    table: str = doc("Canonical table name.")
    read: int = doc("Rows read from the file.")
    accepted: int = doc("Rows that passed validation and went to the rules.")
    quarantined: int = doc("Rows quarantined.")
    reasons: list[tuple[str, int]] = doc("Quarantined rows by check.")


@dataclass(frozen=True)
class RunFacts:
    run_id: str = doc("Run folder name.")
    as_of: str = doc("The run's reference instant (UTC).")
    tool_version: str = doc("recordcheck version.")
    rule_pack: str = doc("Rule pack name, version and SHA-256.")
    profile: str = doc("Source profile name.")
    inputs: list[tuple[str, str, int, str]] = doc("Per input file: table, file name, size in bytes, SHA-256.")
    timings: list[tuple[str, float]] = doc("Seconds per stage.")
    validation_engine: str = doc("How the expectation suites were executed.")


@dataclass(frozen=True)
class GradeScale:
    grade: str = doc("The force's grade (rules/reference/grade_bands.yaml or the force's config).")
    bound: str = doc("Where the band starts: 'above 95%' or '90% and above'.")
    hmicfrs: str = doc("The HMICFRS grade name shown beside it, for orientation ('' where none is given).")


@dataclass(frozen=True)
class ReportContext:
    title: str = doc("Page title.")
    marking: str = doc("Protective marking printed at the top and foot of every page (config report.marking).")
    force_note: str = doc("One line on what the report covers.")
    redacted: bool = doc("True for the disclosure-safe variant.")
    redact_below: int = doc("In a redacted report, counts 1..redact_below-1 show as 'fewer than N'.")
    cover: Cover = doc("Front matter: force, status, author, issue, version, handling, audit period, as-of, pack.")
    assumptions: list[Assumption] = doc("The appendix: each assumption the rules make where public text is silent, once.")
    decision_log: DecisionLog | None = doc("Auditors' decisions (None: a run folder from before the log was kept).")
    summary_text: list[str] = doc("The executive summary, in sentences generated from the figures.")
    improvements: list[str] = doc("Areas for improvement: one sentence per rule below the good bands or over a threshold.")
    headline: Headline = doc("The CDA-style headline figures.")
    audit: Audit | None = doc("The latest audited rate from a reviewed sample, beside the screen's (None: none yet).")
    narrative_flags: int | None = doc("Tonight's narrative disclosures (NAR001 breaches); None where the rule did not run.")
    sexual_offences: list[Rate] = doc("Recording rates for rape and other sexual offences, as inspections quote them.")
    by_offence_group: list[Rate] = doc("Recording rate by offence group.")
    glance: list[GlanceRow] = doc("Every rule at a glance: compliance and threshold status.")
    breaches: list[str] = doc("What failed tonight under the force's thresholds (rule ids and night-level reasons).")
    changes: Changes = doc("What changed since the previous night, and the decisions in force.")
    trend: list[TrendPoint] = doc("The headline rates over the last nights, oldest first.")
    not_checked: list[NotChecked] = doc("Rules that did not run, with why: what this report cannot vouch for.")
    incomplete: list[str] = doc("Why the night is incomplete (exit 9): the reasons, as the headline gives them.")
    due: DueBox | None = doc("The due list: what will breach unless someone acts (None: a run from before it).")
    warnings: list[str] = doc("Warnings about tonight's input: the same export again, an old one, profile gaps set to warn.")
    pvp_by_agency: list[PvpRow] = doc("Professional third-party referrals by referring agency.")
    pvp_by_district: list[PvpRow] = doc("Professional third-party referrals by district.")
    pvp_total: PvpRow = doc("Professional third-party referrals, all agencies.")
    pvp_by_victim: list[PvpRow] = doc("Professional third-party referrals by victim group at the referral.")
    coding: list[CodingRow] = doc("Coding completeness: reports with no offence code, by type and district.")
    narrative: NarrativeSection | None = doc(
        "The narrative screen's flags by offence group and district (None: NAR001 did not run)."
    )
    pvp_subjects: Subjects | None = doc("The distinct people all referrals are about (None: not measured).")
    review_tables: list[CrossTable] = doc("Tables in the style of the force's published reviews.")
    cse_tables: list[CrossTable] = doc("The review tables for child sexual exploitation alone (the Drew review's).")
    cse_conversion: list[Rate] = doc(
        "CSE referrals that led to at least one crime record / CSE referrals, by district, then all districts."
    )
    families: list[FamilyView] = doc("One section per rule family.")
    exceptions: list[ExceptionRow] = doc("The register rows shown in the page (capped).")
    exceptions_total: int = doc("All register rows in the run.")
    filters: dict[str, list[str]] = doc("Values offered by each register filter.")
    quality: list[TableQuality] = doc("Rows read, accepted and quarantined per table.")
    quarantine_note: str = doc("What the quarantine means for the rates.")
    facts: RunFacts = doc("Run facts: as-of, hashes, versions, timings.")
    grade_scale: list[GradeScale] = doc(
        "The force's grade bands, best first, each with the HMICFRS grade name printed beside it.", default_factory=list
    )
    key_id: str = doc(
        "In a redacted report: the id of the key its pseudonyms are under ('one-off': a random key, never kept).",
        default="",
    )
