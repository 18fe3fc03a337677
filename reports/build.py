"""Build the report's typed context from a run folder's own results (never from the extract)."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.london import LONDON
from recordcheck.checks.base.marking import DEFAULT_MARKING
from recordcheck.checks.base.refdata import GradeBand
from recordcheck.checks.base.stats import unrecorded_per_year
from recordcheck.checks.engine.headline import UNRECORDED
from recordcheck.checks.nightly.store import DECISION_LOG, DECISIONS, is_open
from recordcheck.reports.context import (
    Assumption,
    Audit,
    AuditedRate,
    Changes,
    CodingRow,
    Cover,
    CrossTable,
    DecisionEntry,
    DecisionLog,
    DueBox,
    DueItem,
    ExceptionRow,
    FamilyView,
    GlanceRow,
    GradeScale,
    Headline,
    NarrativeCheck,
    NarrativeRow,
    NarrativeSection,
    NotChecked,
    PvpRow,
    Rate,
    ReportContext,
    ReviewerRow,
    RuleView,
    RunFacts,
    Subjects,
    TableQuality,
    TrendPoint,
)
from recordcheck.reports.disclosure import Pseudonymiser, coarsen, pseudonymise_ids
from recordcheck.reports.figures import (
    SEVERITY_ORDER,
    Grading,
    annual_crimes,
    conversion_rates,
    cross_table,
    make_rate,
    measure_frame,
    pvp_rows,
    victim_rows,
)
from recordcheck.reports.narrative import areas_for_improvement, executive_summary, group_rates


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _changes(summary: dict[str, Any], register: pl.LazyFrame) -> Changes:
    changes = summary.get("changes") or {}
    decisions: dict[str, int] = {}
    if "disposition" in register.collect_schema().names():
        counted = register.filter(pl.col("disposition").is_not_null()).group_by("disposition").len().collect()
        decisions = {str(k): int(v) for k, v in counted.sort("disposition").iter_rows()}
    return Changes(
        int(changes.get("new") or 0),
        int(changes.get("recurring") or 0),
        int(changes.get("resolved") or 0),
        summary.get("previous_run") or "",
        decisions,
        {str(k): int(v) for k, v in (changes.get("resolved_how") or {}).items()},
    )


@dataclass
class RunFiles:
    """What a run folder holds, read once: the report is built from these and nothing else."""

    summary: dict[str, Any]
    manifest: dict[str, Any]
    measures: dict[str, Any]
    register: pl.LazyFrame
    """Scanned, never loaded whole."""
    unrecorded: pl.DataFrame
    """The register's unrecorded findings: the few columns the recording figures need."""
    nights: list[dict[str, Any]]
    grades: Grading
    options: dict[str, Any]

    run_dir: Path | None = None

    @classmethod
    def read(cls, run_dir: Path, options: dict[str, Any]) -> RunFiles:
        summary = _read_json(run_dir / "summary.json")
        register = pl.scan_parquet(run_dir / "exceptions.parquet")
        # the reference data in force for the run (the force's overrides included), not the pack defaults
        grades = Grading(
            [
                GradeBand(b["grade"], float(b["min_percent"]), bool(b.get("inclusive", True)), str(b.get("hmicfrs") or ""))
                for b in summary["reference"]["grade_bands"]
            ],
            int(options.get("min_population_to_grade", 30)),
        )
        unrecorded = (
            register.filter(pl.col("finding").is_in(UNRECORDED))
            .select(
                "rule_id", "finding", "record_type", "record_id", "source", "referrer_agency", "district", "offence_group"
            )
            .collect()
        )
        history = run_dir / "history.json"
        return cls(
            summary,
            _read_json(run_dir / "manifest.json"),
            _read_json(run_dir / "measures.json"),
            register,
            unrecorded,
            _read_json(history)["runs"] if history.is_file() else [],
            grades,
            options,
            run_dir,
        )

    def rate(self, label: str, compliant: int, total: int) -> Rate:
        return make_rate(label, compliant, total, self.grades)

    def has(self, column: str) -> bool:
        return column in self.register.collect_schema().names()


def _headline(run: RunFiles) -> Headline:
    """Recording, timeliness and classification, as the run computed them (by finding kind)."""
    figures = run.summary["headline"]
    # in crimes due (a run folder from before crimes were counted: in reports, and no second line)
    unit = "crimes due" if figures["recording"].get("unit") == "crimes" else "reports"
    recording = run.rate(unit, figures["recording"]["compliant"], figures["recording"]["total"])
    reports = figures.get("recording_reports")
    annual, days = annual_crimes(measure_frame(run.measures, "crimes"), run.options.get("annual_recorded_crime"))
    groups = [run.rate(g["label"], int(g["compliant"]), int(g["total"])) for g in figures.get("groups") or []]
    return Headline(
        recording,
        run.rate("crimes", figures["timeliness"]["compliant"], figures["timeliness"]["total"]),
        run.rate("crimes checked", figures["classification"]["compliant"], figures["classification"]["total"]),
        None if (per_year := unrecorded_per_year(annual, recording.rate)) is None else round(per_year),
        annual,
        "recorded crimes x (1 - recording rate) / recording rate: the recorded crimes are the rate's "
        "share of the crimes due"
        + (
            " (a year's, from the config)"
            if run.options.get("annual_recorded_crime")
            else f" (this extract's own {days:,} days, not annualised: the extract is shorter than a year)"
            if days is not None
            else " (this extract's recorded crimes, annualised)"
        )
        + ". HMICFRS's exact grossing-up is not published; treat as indicative.",
        run.rate("reports", reports["compliant"], reports["total"]) if reports and unit == "crimes due" else None,
        groups,
        days,
        {
            key: run.rate(f"{key}, net", int(figures[key]["net"]["compliant"]), int(figures[key]["net"]["total"]))
            for key in ("recording", "timeliness", "classification")
            if (figures[key].get("net") or {}).get("false_positives")
        },
        {
            key: int(figures[key]["net"]["false_positives"])
            for key in ("recording", "timeliness", "classification")
            if (figures[key].get("net") or {}).get("false_positives")
        },
    )


def _public_protection(run: RunFiles) -> tuple[list[PvpRow], list[PvpRow], PvpRow]:
    """Professional third-party referrals by agency and by district, and in all."""
    reports = measure_frame(run.measures, "reports")
    pro_unrecorded = run.unrecorded.filter(
        (pl.col("record_type") == "referral") & (pl.col("source") == "professional_third_party")
    )
    by_agency = pvp_rows(reports, pro_unrecorded, "referrer_agency", run.grades)
    by_district = pvp_rows(reports, pro_unrecorded, "district", run.grades)
    recorded = sum(r.crimes_recorded for r in by_agency)
    due = sum(r.crimes_due for r in by_agency)
    referrals = sum(r.referrals for r in by_agency)
    total = PvpRow("all agencies", referrals, due, recorded, run.rate("all agencies", recorded, due))
    return by_agency, by_district, total


def _coding(run: RunFiles) -> list[CodingRow]:
    """Reports with no offence code, per record type: all districts first, then each district."""
    frame = measure_frame(run.measures, "coding")
    rows: list[CodingRow] = []
    for record_type in ("referral", "incident"):
        part = frame.filter(pl.col("record_type") == record_type)
        if part.height == 0:
            continue
        kind = f"{record_type}s"
        rows.append(
            CodingRow(f"{kind}, all districts", *(int(part[c].sum()) for c in ("reports", "uncoded", "uncoded_closed")))
        )
        for district, reports, uncoded, closed in (
            part.sort("district").select("district", "reports", "uncoded", "uncoded_closed").iter_rows()
        ):
            rows.append(CodingRow(f"{kind}, {district or 'no district'}", int(reports), int(uncoded), int(closed)))
    return rows


def _narrative(run: RunFiles, summary: dict[str, Any]) -> NarrativeSection | None:
    """NAR001's flags by the offence group their words describe and by district."""
    rule = next((r for r in summary["rules"] if r["id"] == "NAR001" and r["status"] == "run"), None)
    if rule is None:
        return None
    frame = measure_frame(run.measures, "narrative")
    districts = sorted({d or "no district" for d in frame["district"].to_list()})
    groups = []
    for (group,), part in sorted(frame.group_by("offence_group"), key=lambda item: str(item[0][0])):
        counts = dict(zip((d or "no district" for d in part["district"].to_list()), part["reports"].to_list(), strict=True))
        groups.append(NarrativeRow(str(group), int(part["reports"].sum()), [int(counts.get(d, 0)) for d in districts]))
    groups.sort(key=lambda row: (-(row.total or 0), row.label))
    return NarrativeSection(int(rule["population"]), int(rule["breaches"]), districts, groups)


def _subjects(run: RunFiles) -> Subjects | None:
    frame = measure_frame(run.measures, "referral_subjects")
    if frame.height == 0:
        return None
    row = frame.row(0, named=True)
    return Subjects(
        int(row["referrals"] or 0),
        int(row["with_subject"] or 0),
        int(row["subjects"] or 0),
        int(row["child_subjects"] or 0),
        int(row["repeat_subjects"] or 0),
    )


def _review_tables(run: RunFiles, cse_only: bool = False) -> list[CrossTable]:
    """The cross tables of the force's published reviews: referrals and their crimes by year;
    `cse_only`, the Drew review's version for child sexual exploitation alone."""
    outcome_labels = {int(k): str(v) for k, v in run.summary["reference"]["outcome_labels"].items()}
    referral_only = measure_frame(run.measures, "protection").filter(pl.col("record_type") == "referral")
    recorded_pvp = measure_frame(run.measures, "referral_crimes").filter(pl.col("status") == "recorded")
    if cse_only:
        referral_only = referral_only.filter(pl.col("cse"))
        recorded_pvp = recorded_pvp.filter(pl.col("cse"))
    outcomes = recorded_pvp.with_columns(
        pl.col("outcome_code").map_elements(lambda c: f"{c:>2} {outcome_labels.get(int(c), '')}", return_dtype=pl.String)
    )
    what = "CSE referrals" if cse_only else "referrals"
    one = "CSE referral (its concern CSE, or a crime linked to it flagged CSE)" if cse_only else "referral"
    received = f"Every {one} received, from anyone, whatever was decided, by the year it was received."
    crimes = f"Crime records linked to a {one}, still recorded (not cancelled or transferred), by the year recorded."
    return [
        cross_table(
            f"{'CSE referrals' if cse_only else 'Referrals'} received, by year and district",
            "district",
            referral_only,
            "district",
            "year",
            "reports",
            received,
        ),
        cross_table(
            f"Recorded offences from {what}, by year and district",
            "district",
            recorded_pvp,
            "district",
            "year",
            "crimes",
            crimes,
        ),
        cross_table(
            f"Recorded offences from {what}, by offence group and year",
            "offence group",
            recorded_pvp,
            "offence_group",
            "year",
            "crimes",
            crimes,
        ),
        cross_table(
            f"Outcomes of recorded offences from {what}, by outcome type and year",
            "outcome type",
            outcomes,
            "outcome_code",
            "year",
            "crimes",
            crimes,
        ),
    ]


def _decision_log(run_dir: Path, summary: dict[str, Any], limit: int) -> DecisionLog | None:
    """The decision log from the run folder's decisions.csv and the summary's counts."""
    file, counts = run_dir / DECISION_LOG, summary.get("decisions")
    if not file.is_file() or counts is None:
        return None
    log = pl.read_csv(file, infer_schema=False)
    newest = log.reverse().head(limit) if log.height else log

    def text(value: Any) -> str:
        return "" if value is None else str(value)

    entries = [
        DecisionEntry(
            _london_minute(text(r["decided_at"])),
            text(r["reviewer"]),
            text(r["decision"]),
            text(r["reason"]),
            text(r["until"]),
            text(r["rule_id"]),
            f"{text(r['record_type'])} {text(r['record_id'])}".strip(),
            text(r["severity"]),
        )
        for r in newest.iter_rows(named=True)
    ]
    reviewers = [
        ReviewerRow(name, {str(k): int(v) for k, v in by.items()}, sum(int(v) for v in by.values()))
        for name, by in sorted((counts.get("by_reviewer") or {}).items())
    ]
    return DecisionLog(
        int(counts.get("logged") or 0),
        {str(k): int(v) for k, v in (counts.get("by_decision") or {}).items()},
        reviewers,
        {str(k): int(v) for k, v in (counts.get("in_force") or {}).items()},
        entries,
        DECISIONS,
    )


def _london_minute(stamp: str) -> str:
    """An ISO instant as London time to the minute (the CSV's own text if it is not one)."""
    try:
        return datetime.fromisoformat(stamp).astimezone(LONDON).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return stamp


def _rule_net(run: RunFiles, rule_id: str) -> Rate | None:
    """A rule's compliance net of the false positives auditors confirmed (None: none confirmed)."""
    rule = next(r for r in run.summary["rules"] if r["id"] == rule_id)
    net = rule.get("net") or {}
    if not net.get("false_positives"):
        return None
    return run.rate("net of false positives", int(net["compliant"]), int(net["total"]))


def _assumptions(run: RunFiles) -> list[Assumption]:
    """Every assumption the run's rules state, once each, numbered in the order the rules give them."""
    holders: dict[str, list[str]] = {}
    for rule in run.summary["rules"]:
        for text in rule.get("assumptions") or []:
            holders.setdefault(text, []).append(rule["id"])
    return [Assumption(n, text, tuple(ids)) for n, (text, ids) in enumerate(holders.items(), start=1)]


def _families(run: RunFiles) -> dict[str, list[RuleView]]:
    """Each rule's documentation and figures, grouped by family (its folder under rules/)."""
    families: dict[str, list[RuleView]] = defaultdict(list)
    label = {a.text: f"A{a.number}" for a in _assumptions(run)}
    for rule in run.summary["rules"]:
        pop, breaches = int(rule["population"]), int(rule["breaches"])
        district_rates, victim_rates = (
            [
                run.rate(s["value"], int(s["population"]) - int(s["breaches"]), int(s["population"]))
                for s in rule["strata"].get(stratum, [])
            ]
            for stratum in ("district", "victim_group")
        )
        families[rule["family"]].append(
            RuleView(
                rule["id"],
                rule["name"],
                rule["title"],
                rule["finding"],
                rule["severity"],
                rule["rationale"],
                rule["reference"],
                rule["status"],
                rule["reason_not_run"] or "",
                run.rate("all", pop - breaches, pop),
                district_rates,
                victim_rates,
                breaches,
                rule["threshold"],
                int(rule.get("false_positives") or 0),
                int(rule.get("reviewed") or 0),
                [night["rules"].get(rule["id"]) for night in run.nights],
                tuple(label[text] for text in rule.get("assumptions") or []),
                tuple(f"{p['part']}: {p['why']}" for p in rule.get("parts_not_run") or []),
            )
        )
    return families


def _register_page(run: RunFiles, redact_key: bytes | None) -> tuple[list[ExceptionRow], dict[str, list[str]], int]:
    """The register's first rows (tonight's new ones first, then by severity), its filters and size."""
    pseudonym = Pseudonymiser(redact_key)
    has_change = run.has("change")
    page = (
        run.register.with_columns(
            pl.col("severity").replace_strict(SEVERITY_ORDER, default=3).alias("_order"),
            (pl.col("change") != "new").fill_null(True).alias("_seen") if has_change else pl.lit(True).alias("_seen"),
        )
        .sort(["_seen", "_order", "rule_id", "record_id"], maintain_order=True)
        .head(int(run.options.get("max_rows_in_page", 2000)))
        .collect()
    )
    shown = []
    for row in page.iter_rows(named=True):
        record_id = row["record_id"] or ""
        detail = row["detail"] or ""
        if redact_key is not None:
            detail = coarsen(pseudonymise_ids(detail, pseudonym, record_id))
        shown.append(
            ExceptionRow(
                row["rule_id"],
                row["finding"],
                row["severity"],
                row["record_type"],
                pseudonym(record_id),
                row["district"] or "",
                (row["referrer_agency"] or "").replace("_", " "),
                detail,
                pseudonym(row["fingerprint"], "FP"),
                row.get("change") or "",
                str(row.get("first_seen") or ""),
                row.get("disposition") or "",
            )
        )
    values = run.register.select(
        pl.col(c).unique().implode() for c in ("rule_id", "finding", "severity", "district", "referrer_agency")
    ).collect()
    present = {c: [v for v in values[c][0].to_list() if v] for c in values.columns}
    filters = {
        "rule": sorted(present["rule_id"]),
        "finding": sorted(present["finding"]),
        "severity": [s for s in SEVERITY_ORDER if s in set(present["severity"])],
        "district": sorted(present["district"]),
        "agency": sorted({v.replace("_", " ") for v in present["referrer_agency"]}),
    }
    if has_change:
        filters["change"] = ["new", "recurring"]
    return shown, filters, int(run.register.select(pl.len()).collect().item())


def _quality(run: RunFiles) -> tuple[list[TableQuality], str]:
    quality = [
        TableQuality(name, t["read"], t["accepted"], t["quarantined"], sorted(t["quarantined_by_check"].items()))
        for name, t in run.summary["tables"].items()
        if t is not None
    ]
    quarantined = sum(q.quarantined for q in quality)
    note = (
        "No rows were quarantined: every row read was checked by the rules."
        if quarantined == 0
        else f"{quarantined} row(s) could not be used and are left out of every rate above. A quarantined "
        "report or crime is neither counted as compliant nor as a breach, so rates may be biased if the "
        "quarantined rows differ from the rest; each is listed in quarantine.csv and in the register as data_quality."
    )
    return quality, note


def _cover(run: RunFiles) -> Cover:
    """The front matter: what the config declares, and what the extract shows beside it."""
    pack = run.manifest.get("rule_pack", {})
    period = run.summary.get("period") or {}
    options = run.options
    as_of_london = datetime.fromisoformat(run.manifest["as_of"]).astimezone(LONDON)
    first, last = period.get("first"), period.get("last")
    declared = options.get("audit_period")
    beyond = ""
    if declared:
        start, end = str(declared["start"]), str(declared["end"])
        audit_period = f"{_long_date(start)} to {_long_date(end)}"
        outside = [d for d in (first, last) if d and not start <= d[:10] <= end]
        if outside:
            beyond = (
                f"The extract's reports run from {first} to {last}, beyond the declared period: every "
                "report in the extract was checked."
            )
    else:
        audit_period = "not declared (set report.audit_period in the config; the extract's dates are not an audit period)"
    issued = str(options.get("issued") or as_of_london.date().isoformat())
    return Cover(
        str(options.get("force_name") or "(set report.force_name in the config)"),
        first or "n/a",
        last or "n/a",
        as_of_london.strftime("%d %B %Y %H:%M London time"),
        f"{pack.get('name', '?')} {pack.get('version', '?')}",
        str(options.get("status") or "draft"),
        str(options.get("author") or "(set report.author in the config)"),
        _long_date(issued),
        str(options.get("version") or "draft"),
        str(options.get("handling") or ""),
        tuple(str(d) for d in options.get("distribution") or ()),
        audit_period,
        beyond,
    )


def _long_date(iso: str) -> str:
    """2026-04-01 as 1 April 2026, as front matter prints dates."""
    day = date.fromisoformat(iso[:10])
    return f"{day.day} {day.strftime('%B %Y')}"


def _facts(run: RunFiles) -> RunFacts:
    manifest, pack = run.manifest, run.manifest.get("rule_pack", {})
    return RunFacts(
        manifest["run_id"],
        manifest["as_of"],
        manifest["tool"]["version"],
        f"{pack.get('name', '?')} {pack.get('version', '?')} (sha256 {pack.get('sha256', '')[:16]})",
        manifest["profile"]["name"],
        [(i["table"], i["file"], int(i["size_bytes"]), i["sha256"]) for i in manifest["inputs"]],
        list(manifest["timings_seconds"].items()),
        manifest["validation"]["engine"],
    )


def _open_counts(run: RunFiles) -> tuple[int, int]:
    """Findings still open (no decision, or confirmed), and how many of them are high severity."""
    still_open = run.register.filter(is_open()) if run.has("disposition") else run.register
    total, high = still_open.select(pl.len(), (pl.col("severity") == "high").sum()).collect().row(0)
    return int(total), int(high or 0)


def _audit(raw: dict[str, Any] | None) -> Audit | None:
    if not raw:
        return None
    recording, unrecorded = raw["recording"], (raw.get("calibration") or {}).get("unrecorded") or {}
    words = (raw.get("calibration") or {}).get("narrative_disclosure")
    narrative = (
        NarrativeCheck(
            int(words["tp"]) + int(words["fp"]),
            int(words["tp"]),
            int(words["fn"]),
            words.get("precision"),
            words.get("precision_low"),
            words.get("precision_high"),
            words.get("recall"),
        )
        if words
        else None
    )

    def audited(name: str) -> AuditedRate | None:
        m = raw.get(name)
        return None if not m else AuditedRate(m["rate"], m["ci_low"], m["ci_high"], int(m["y"]), int(m["x"]))

    return Audit(
        datetime.fromisoformat(raw["audited_at"]).astimezone(LONDON).date().isoformat(),
        raw["worksheet"],
        recording["rate"],
        recording["ci_low"],
        recording["ci_high"],
        int(recording["reviewed"]),
        unrecorded.get("precision"),
        unrecorded.get("recall"),
        str(raw.get("sampled_run") or ""),
        str(raw.get("period") or ""),
        int(recording.get("x") or 0),
        int(recording.get("y") or 0),
        audited("timeliness"),
        audited("classification"),
        narrative,
    )


def _judged_rates(
    headline: Headline, total: PvpRow, by_agency: list[PvpRow], by_district: list[PvpRow], by_group: list[Rate]
) -> list[tuple[str, Rate]]:
    """The figures an area for improvement is judged on, each named as the sentence names it."""
    return [
        ("Recording rate (crimes)", headline.recording),
        ("Recorded within 24 hours", headline.timeliness),
        ("Classification accuracy", headline.classification),
        *((f"Recording rate, {r.label}", r) for r in headline.victim_groups),
        ("Public protection, all agencies", total.rate),
        *((f"Public protection, agency {r.label}", r.rate) for r in by_agency),
        *((f"Public protection, {r.label}", r.rate) for r in by_district),
        *((f"Recording rate, {r.label}", r) for r in by_group if r.label in ("Rape", "Other sexual offences")),
    ]


def build_context(
    run_dir: Path, options: dict[str, Any] | None = None, redact_key: bytes | None = None, key_id: str = ""
) -> ReportContext:
    """The typed context of report.html, one builder per section, from the run folder alone."""
    run = RunFiles.read(run_dir, options or {})
    headline = _headline(run)
    by_agency, by_district, total = _public_protection(run)
    families = _families(run)
    views = [view for family in families.values() for view in family]
    exceptions, filters, register_rows = _register_page(run, redact_key)
    quality, quarantine_note = _quality(run)
    by_group = group_rates(measure_frame(run.measures, "reports"), run.unrecorded, run.rate)
    open_total, open_high = _open_counts(run)
    summary = run.summary
    return ReportContext(
        title="Crime recording compliance report",
        marking=str(run.options.get("marking", DEFAULT_MARKING)),
        force_note=f"Every record in the extract, checked as of {run.manifest['as_of']}.",
        redacted=redact_key is not None,
        redact_below=int(run.options.get("redact_below", 5)),
        cover=_cover(run),
        assumptions=_assumptions(run),
        decision_log=_decision_log(run_dir, summary, int(run.options.get("max_rows_in_page", 2000))),
        key_id=key_id,
        summary_text=executive_summary(summary, headline.recording, total.rate, open_total, open_high),
        improvements=areas_for_improvement(
            summary,
            {v.id: v.overall for v in views},
            {band.grade for band in run.grades.bands[:2]},
            _judged_rates(headline, total, by_agency, by_district, by_group),
        ),
        headline=headline,
        audit=_audit(summary.get("audit")),
        narrative_flags=next(
            (int(r["breaches"]) for r in summary["rules"] if r["id"] == "NAR001" and r["status"] == "run"), None
        ),
        sexual_offences=[r for r in by_group if r.label in ("Rape", "Other sexual offences")],
        by_offence_group=by_group,
        glance=[GlanceRow(v.id, v.title, v.overall, v.status, v.threshold, _rule_net(run, v.id)) for v in views],
        breaches=list(summary.get("threshold_breaches") or []),
        incomplete=list(summary.get("incomplete") or []),
        due=_due_box(summary.get("due"), run.run_dir),
        warnings=list((summary.get("input_checks") or {}).get("warnings") or []),
        changes=_changes(summary, run.register),
        trend=[
            TrendPoint(n["as_of"][:10], n["recording_rate"], n["timeliness_rate"], n["classification_rate"])
            for n in run.nights
        ],
        not_checked=[
            NotChecked(r["id"], r["title"], r["reason_not_run"] or "", r["reason_not_run"] == "disabled in the config")
            for r in summary["rules"]
            if r["status"] != "run"
        ]
        + [
            NotChecked(r["id"], r["title"], p["why"], p["why"] == "disabled in the config", p["part"])
            for r in summary["rules"]
            if r["status"] == "run"
            for p in r.get("parts_not_run") or []
        ],
        pvp_by_agency=by_agency,
        pvp_by_district=by_district,
        pvp_total=total,
        pvp_subjects=_subjects(run),
        coding=_coding(run),
        narrative=_narrative(run, summary),
        pvp_by_victim=victim_rows(measure_frame(run.measures, "protection"), run.grades),
        review_tables=_review_tables(run),
        cse_tables=_review_tables(run, cse_only=True),
        cse_conversion=conversion_rates(measure_frame(run.measures, "protection"), run.grades),
        families=[FamilyView(name, family) for name, family in families.items()],
        exceptions=exceptions,
        exceptions_total=register_rows,
        filters=filters,
        quality=quality,
        quarantine_note=quarantine_note,
        facts=_facts(run),
        grade_scale=[
            GradeScale(
                b.grade, f"above {b.min_percent:g}%" if not b.inclusive else f"{b.min_percent:g}% and above", b.hmicfrs
            )
            for b in run.grades.bands
        ],
    )


def _due_box(due: dict[str, Any] | None, run_dir: Path | None) -> DueBox | None:
    """The report's due box: the counts from the summary and the earliest deadlines from the run's
    due.parquet (only its first rows are read)."""
    if due is None:
        return None
    first: list[DueItem] = []
    path = run_dir / "due.parquet" if run_dir is not None else None
    if path is not None and path.is_file():
        rows = pl.scan_parquet(path).head(20).collect()
        first = [
            DueItem(
                r["deadline_local"], float(r["hours_left"]), r["rule"], r["record_type"], r["record_id"], r["district"] or ""
            )
            for r in rows.iter_rows(named=True)
        ]
    return DueBox(
        int(due["total"]),
        int(due["soon"]),
        int(due["within_hours"]),
        dict(due["by_rule"]),
        first,
        list(due.get("weeks") or []),
    )
