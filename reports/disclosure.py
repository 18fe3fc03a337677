"""Disclosure control for the redacted report (report-redacted.html), after ONS and HMICFRS practice.

0. **Rates that do not give counts back.** Every rate prints as a whole percent (never 100% below
   100%) and its interval outward to whole percents: to 0.1% with its Wilson interval, a rate pins
   its count and population exactly. `tests/test_disclosure_attack.py` inverts every printed rate.
1. **Primary suppression.** A rate is suppressed when it rests on a small count: fewer than
   `report.redact_below` (k, default 5) records met the standard, or failed it, or fewer than
   RATE_FLOOR (30) were checked at all. A suppressed rate shows no estimate, no interval, no grade
   and no counts: any one of those would give the small count back (98.9% of 360 is 4 flagged).
2. **Complementary suppression.** Where figures add up to one that is shown (the rows of a table
   and its total; the recording rules and the headline recording rate; an offence group and the
   rest), one suppressed member could be worked out by subtraction. So whenever a family has
   exactly one suppressed member, the next smallest is suppressed too; a family of one suppresses
   its total.
3. **Record level.** The register lists a record only where every cell it falls in is publishable:
   its rule's listed rows by district, agency and month each number at least k, and neither its
   district in the rule's table nor its agency in the public-protection table is suppressed. Ids
   and fingerprints are keyed pseudonyms, and dates are coarsened (`reports/build.py`). Cross
   tables and the trends are left out of the redacted report.
4. **Counts.** The narrative screen's flags are shown as counts only, by offence group and
   district, and never as records: a count of 1..k-1 is suppressed, each row's districts and its
   total are a family under complementary suppression, and a count that moved by 1..k-1 since
   the last release is held back like a rate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import re
from collections import Counter
from contextvars import ContextVar

from recordcheck.checks.engine.headline import CHILD_BANDS
from recordcheck.checks.extract.contract import MEASURE_OF_FINDING
from recordcheck.reports.context import (
    ExceptionRow,
    GlanceRow,
    NarrativeSection,
    PvpRow,
    Rate,
    ReportContext,
    RuleView,
)

RATE_FLOOR = 30
"""No rate in the disclosure-safe report rests on fewer records than this (or k, if larger): on
a few dozen records a whole-percent rate and its interval can be inverted to the exact count."""


_HELD: ContextVar[frozenset[int]] = ContextVar("held", default=frozenset())
"""The rates (by identity) held back tonight because they changed by fewer than k since the last
release: suppressed like a small count, complementary suppression included."""


def small(rate: Rate, k: int) -> bool:
    """True when a rate rests on a count of 1..k-1 (met, failed, or checked), on fewer than
    RATE_FLOOR records in all, or changed by 1..k-1 records since the last release."""
    return rests_on_few(rate.compliant, rate.total, k) or id(rate) in _HELD.get()


def rests_on_few(met: int, checked: int, k: int) -> bool:
    """Whether a rate of `met` in `checked` would give a small count back: 1..k-1 records met the
    standard, failed it or were checked, or fewer than RATE_FLOOR (or k) were checked at all."""
    return any(0 < n < k for n in (met, checked - met, checked)) or 0 < checked < max(RATE_FLOOR, k)


Released = dict[str, list[int]]
"""A release: each cell's key -> [records meeting the standard, records checked] when it was last shown."""


def cells_of(ctx: ReportContext) -> dict[str, Rate]:
    """Every rate the redacted report can show, by a key that names the same cell night after night."""
    cells: dict[str, Rate] = {
        "headline.recording": ctx.headline.recording,
        "headline.timeliness": ctx.headline.timeliness,
        "headline.classification": ctx.headline.classification,
        "pvp.total": ctx.pvp_total.rate,
    }
    cells.update({f"victims.{r.label}": r for r in ctx.headline.victim_groups})
    cells.update({f"group.{r.label}": r for r in ctx.by_offence_group})
    for name, rows in (("agency", ctx.pvp_by_agency), ("district", ctx.pvp_by_district), ("victim", ctx.pvp_by_victim)):
        cells.update({f"pvp.{name}.{row.label}": row.rate for row in rows})
    cells.update({f"cse.{r.label}": r for r in ctx.cse_conversion})
    for family in ctx.families:
        for view in family.rules:
            cells[f"rule.{view.id}"] = view.overall
            cells.update({f"rule.{view.id}.district.{r.label}": r for r in view.by_district})
            cells.update({f"rule.{view.id}.victim.{r.label}": r for r in view.by_victim})
    return cells


def changed_little(rate: Rate, before: list[int], k: int) -> bool:
    """Whether a cell moved by 1..k-1 records (met, failed or checked) since it was last shown."""
    met, checked = before
    moves = (rate.compliant - met, (rate.total - rate.compliant) - (checked - met), rate.total - checked)
    return any(0 < abs(m) < k for m in moves)


def released_cells(ctx: ReportContext, safe: ReportContext, before: Released) -> Released:
    """What tonight's release adds to the last: each cell shown, with its counts; a cell held back
    or suppressed keeps its last released counts, so its change is measured from them."""
    original, shown = cells_of(ctx), cells_of(safe)
    now = {
        key: [rate.compliant, rate.total]
        for key, rate in original.items()
        if key in shown and not shown[key].suppressed and shown[key].rate is not None
    }
    shown_counts = count_cells(safe)
    now.update({key: [count, count] for key, count in count_cells(ctx).items() if key in shown_counts})
    return {**before, **now}


def hidden(rate: Rate) -> Rate:
    return dataclasses.replace(
        rate, rate=None, wilson_low=None, wilson_high=None, wald_pm=None, grade="suppressed", suppressed=True
    )


def complementary(hidden: list[bool], total_hidden: bool, order: list[tuple[int, ...] | None]) -> tuple[list[bool], bool]:
    """Complementary suppression over a family whose members add up to a shown total: while exactly
    one member is hidden (so the total less the rest gives it), hide the next member by `order`
    (None: empty, which gives nothing away), or else the total."""
    hidden = list(hidden)
    while not total_hidden and sum(hidden) == 1:
        partners = [i for i, key in enumerate(order) if not hidden[i] and key is not None]
        if partners:
            hidden[min(partners, key=lambda i: order[i] or ())] = True
        else:
            total_hidden = True
    return hidden, total_hidden


def suppress_family(members: list[Rate], total: Rate | None, k: int) -> tuple[list[Rate], Rate | None]:
    """Primary then complementary suppression over rates that add up to `total`; the partner
    hidden is the member with the fewest failures, then the fewest records."""
    flags, total_flag = complementary(
        [r.suppressed or small(r, k) for r in members],
        total is None or total.suppressed or small(total, k),
        [(r.total - r.compliant, r.total) if r.total else None for r in members],
    )
    out = [hidden(r) if flag and not r.suppressed else r for r, flag in zip(members, flags, strict=True)]
    return out, (hidden(total) if total is not None and total_flag and not total.suppressed else total)


def _pvp(rows: list[PvpRow], total: PvpRow, k: int) -> tuple[list[PvpRow], PvpRow]:
    rates, total_rate = suppress_family([r.rate for r in rows], total.rate, k)
    assert total_rate is not None
    return (
        [dataclasses.replace(row, rate=rate) for row, rate in zip(rows, rates, strict=True)],
        dataclasses.replace(total, rate=total_rate),
    )


def _rules(ctx: ReportContext, k: int) -> tuple[dict[str, Rate], Rate, Rate, Rate]:
    """Each rule's overall rate, suppressed with its finding kind's headline as the family total."""
    views = [view for family in ctx.families for view in family.rules if view.status == "run"]
    headline = {
        "recording": ctx.headline.recording,
        "timeliness": ctx.headline.timeliness,
        "classification": ctx.headline.classification,
    }
    kinds = MEASURE_OF_FINDING
    overall: dict[str, Rate] = {}
    for kind in ("recording", "timeliness", "classification", None):
        members = [v for v in views if kinds.get(v.finding) == kind]
        rates, total = suppress_family([v.overall for v in members], headline.get(kind or ""), k)
        overall.update({v.id: r for v, r in zip(members, rates, strict=True)})
        if kind is not None and total is not None:
            headline[kind] = total
    return overall, headline["recording"], headline["timeliness"], headline["classification"]


def _victim_groups(rates: list[Rate], k: int) -> list[Rate]:
    """Children, their age bands (which add up to children), vulnerable adults and CSE."""
    if not rates:
        return []
    children, *rest = rates
    bands = [r for r in rest if r.label in CHILD_BANDS]
    others = [hidden(r) if small(r, k) else r for r in rest if r.label not in CHILD_BANDS]
    shown_bands, shown_children = suppress_family(bands, children, k)
    return [shown_children or children, *shown_bands, *others]


_MONTH = re.compile(r"\b\d{4}-\d{2}\b")


def _register(
    rows: list[ExceptionRow], k: int, hidden_districts: dict[str, set[str]], hidden_agencies: set[str]
) -> list[ExceptionRow]:
    """The register rows a redacted report may list: a record only where every cell it falls in is
    publishable. Its rule's counts by district, by agency and by month (the month its sentence
    shows) are each at least k among the rows listed, and neither its district in the rule's
    table nor its agency in the public-protection table is suppressed (else the rows listed would
    count what the table hides). Rows left out can push another cell under k, so this repeats
    until nothing changes."""

    def cells(row: ExceptionRow) -> list[tuple[str, str, str]]:
        month = _MONTH.search(row.detail)
        found = [(row.rule_id, "district", row.district)]
        if row.agency:
            found.append((row.rule_id, "agency", row.agency))
        if month:
            found.append((row.rule_id, "month", month.group(0)))
        return found

    keep = [r for r in rows if r.district not in hidden_districts.get(r.rule_id, set()) and r.agency not in hidden_agencies]
    while True:
        counted = Counter(cell for r in keep for cell in cells(r))
        kept = [r for r in keep if all(counted[cell] >= k for cell in cells(r))]
        if len(kept) == len(keep):
            return kept
        keep = kept


_HELD_COUNTS: ContextVar[frozenset[str]] = ContextVar("held_counts", default=frozenset())
"""The counts (by cell key) held back tonight because they moved by fewer than k since the last release."""


def count_cells(ctx: ReportContext) -> dict[str, int]:
    """Every count the redacted report can show (the narrative screen's flags), by a key that names
    the same cell night after night."""
    section = ctx.narrative
    if section is None:
        return {}
    cells = {"narrative.judged": section.judged, "narrative.flagged": section.flagged}
    for row in section.groups:
        cells[f"narrative.{row.label}"] = row.total
        cells.update({f"narrative.{row.label}.{d}": c for d, c in zip(section.districts, row.by_district, strict=True)})
    return {key: int(value) for key, value in cells.items() if value is not None}


def suppress_counts(
    members: list[int | None], total: int | None, k: int, held: list[bool]
) -> tuple[list[int | None], int | None]:
    """Primary then complementary suppression over counts that add up to `total` (None: suppressed).
    A count of 1..k-1, or one held back, is suppressed; a family never has exactly one suppressed
    member while its total shows (the next smallest goes too, or the total)."""
    flags, total_flag = complementary(
        [c is None or 0 < c < k or hold for c, hold in zip(members, held, strict=True)],
        total is None or 0 < total < k,
        [(c,) if c else None for c in members],
    )
    return [None if flag else c for c, flag in zip(members, flags, strict=True)], None if total_flag else total


def _narrative(section: NarrativeSection, k: int, held: frozenset[str]) -> NarrativeSection:
    """The narrative screen's flags for the redacted report: counts only (no case list), each row's
    districts adding up to its total under primary and complementary suppression."""
    rows = []
    for row in section.groups:
        keys = [f"narrative.{row.label}.{d}" for d in section.districts]
        total = None if f"narrative.{row.label}" in held else row.total
        districts, shown = suppress_counts(row.by_district, total, k, [key in held for key in keys])
        rows.append(dataclasses.replace(row, total=shown, by_district=districts))

    def one(value: int | None, key: str) -> int | None:
        return None if value is None or 0 < value < k or key in held else value

    return dataclasses.replace(
        section,
        judged=one(section.judged, "narrative.judged"),
        flagged=one(section.flagged, "narrative.flagged"),
        groups=rows,
    )


def narrative_rules(ctx: ReportContext) -> set[str]:
    """The rules whose findings come from the narrative screen (finding narrative_disclosure)."""
    return {view.id for family in ctx.families for view in family.rules if view.finding == "narrative_disclosure"}


def disclosure_safe(ctx: ReportContext, released: Released | None = None) -> ReportContext:
    """The context of report-redacted.html: every count and rate disclosure-controlled. With the
    last release, a cell that moved by fewer than k records since is held back (suppressed), so
    two releases side by side give no small difference."""
    held = frozenset(
        id(rate)
        for key, rate in cells_of(ctx).items()
        if released and key in released and changed_little(rate, released[key], ctx.redact_below)
    )
    held_counts = frozenset(
        key
        for key, count in count_cells(ctx).items()
        if released and key in released and 0 < abs(count - released[key][0]) < ctx.redact_below
    )
    token, counts_token = _HELD.set(held), _HELD_COUNTS.set(held_counts)
    try:
        return _disclosure_safe(ctx)
    finally:
        _HELD.reset(token)
        _HELD_COUNTS.reset(counts_token)


def _disclosure_safe(ctx: ReportContext) -> ReportContext:
    k = ctx.redact_below
    overall, recording, timeliness, classification = _rules(ctx, k)
    by_agency, total = _pvp(ctx.pvp_by_agency, ctx.pvp_total, k)
    by_district, total_again = _pvp(ctx.pvp_by_district, ctx.pvp_total, k)
    if total_again.rate.suppressed:
        total = total_again
    groups, _ = suppress_family(ctx.by_offence_group, recording, k)
    by_victim, total_victims = _pvp(ctx.pvp_by_victim, ctx.pvp_total, k)
    if total_victims.rate.suppressed:
        total = total_victims
    headline = dataclasses.replace(
        ctx.headline,
        recording=recording,
        timeliness=timeliness,
        classification=classification,
        victim_groups=_victim_groups(ctx.headline.victim_groups, k),
        net={},  # net rates differ from the gross by the (small) count of false positives: left out
        net_removed={},
    )
    # the CSE conversion rates: each district's, then all districts' (the family's total)
    districts, all_districts = ctx.cse_conversion[:-1], (ctx.cse_conversion[-1] if ctx.cse_conversion else None)
    conversion, all_shown = suppress_family(districts, all_districts, k)
    families = []
    for family in ctx.families:
        views: list[RuleView] = []
        for view in family.rules:
            rate = overall.get(view.id, view.overall)
            districts, shown = suppress_family(view.by_district, rate, k)
            victims, shown_again = suppress_family(view.by_victim, shown or rate, k)
            views.append(
                dataclasses.replace(
                    view, overall=shown_again or shown or rate, by_district=districts, by_victim=victims, trend=[]
                )
            )
        families.append(dataclasses.replace(family, rules=views))
    glance = [dataclasses.replace(g, compliance=overall.get(g.rule_id, g.compliance), net=None) for g in ctx.glance]
    return dataclasses.replace(
        ctx,
        headline=headline,
        pvp_by_agency=by_agency,
        pvp_by_district=by_district,
        pvp_total=total,
        pvp_by_victim=by_victim,
        cse_conversion=[*conversion, all_shown] if all_shown is not None else [],
        cse_tables=[],
        pvp_subjects=None,
        coding=[],
        narrative=_narrative(ctx.narrative, k, _HELD_COUNTS.get()) if ctx.narrative else None,
        narrative_flags=None,
        by_offence_group=groups,
        sexual_offences=[g for g in groups if g.label in ("Rape", "Other sexual offences")],
        families=families,
        glance=glance,
        review_tables=[],
        decision_log=None,  # reviewers' names and their reasons stay inside the force
        trend=[],
        exceptions=_register(
            # the narrative screen's flags are counts only here: the records are the force's to open
            [row for row in ctx.exceptions if row.rule_id not in narrative_rules(ctx)],
            k,
            {view.id: {r.label for r in view.by_district if r.suppressed} for f in families for view in f.rules},
            {row.label for row in by_agency if row.rate.suppressed},
        ),
        summary_text=redacted_summary(recording, total.rate, glance, k),
        improvements=[],
        breaches=[f"{len(ctx.breaches)} threshold(s) breached: the force's own report names them"] if ctx.breaches else [],
        # the reasons carry row counts and column names: the force's own report gives them
        incomplete=["not everything could be checked tonight: the force's own report says why"] if ctx.incomplete else [],
        warnings=[],
        # the due list names records: the disclosure-safe report leaves it out
        due=None,
    )


def whole_percent(value: float | None) -> str:
    """A rate in the disclosure-safe report: a whole percent, and below 100% never 100% (a rate to
    0.1% with its interval pins its count: 89.5% (84.3 to 93.1) is 20 of 190)."""
    if value is None:
        return "n/a"
    whole = round(value * 100)
    return f"{99 if value < 1 and whole >= 100 else whole}%"


def whole_percent_low(value: float | None) -> str:
    """An interval's lower bound rounded down to a whole percent (outward)."""
    return "n/a" if value is None else f"{math.floor(value * 100 + 1e-9)}%"


def whole_percent_high(value: float | None) -> str:
    """An interval's upper bound rounded up to a whole percent (outward)."""
    return "n/a" if value is None else f"{min(100, math.ceil(value * 100 - 1e-9))}%"


def _words(rate: Rate) -> str:
    if rate.suppressed or rate.rate is None:
        return "suppressed (it rests on a small count)"
    return whole_percent(rate.rate)


def redacted_summary(recording: Rate, public_protection: Rate, glance: list[GlanceRow], k: int) -> list[str]:
    """The executive summary without counts: rates only, each suppressed when it rests on a small count."""
    shown = [g for g in glance if g.status == "run" and not g.compliance.suppressed and g.compliance.rate is not None]
    worst = sorted(shown, key=lambda g: (g.compliance.rate or 0, g.rule_id))[:3]
    sentences: list[str] = [
        f"The recording rate seen by the nightly screen is {_words(recording)}; for referrals from professional "
        f"third parties (public protection) it is {_words(public_protection)}.",
        f"This disclosure-safe version shows no count below {k} and no figure from which one could be worked out.",
    ]
    if worst:
        sentences.append(
            "The rules with the worst compliance shown: "
            + "; ".join(f"{g.rule_id} ({_words(g.compliance)})" for g in worst)
            + "."
        )
    return sentences


class Pseudonymiser:
    """Keyed hash of ids for the disclosure-safe report: same key, same pseudonym."""

    def __init__(self, key: bytes | None) -> None:
        self.key = key

    def __call__(self, value: str, kind: str = "ID") -> str:
        """HMAC-SHA-256 under the report's key: without the key, no id can be tested against it."""
        if self.key is None or not value:
            return value
        return f"{kind}-" + hmac.new(self.key, f"{kind}|{value}".encode(), hashlib.sha256).hexdigest()[:12].upper()


_ID_SHAPED = re.compile(r"\b(?=[A-Za-z0-9_/-]*[A-Za-z])(?=(?:[A-Za-z_/-]*\d){4})[A-Za-z0-9_/-]{5,}\b|\b\d{6,}\b")
"""What an id looks like inside a sentence: letters with four or more digits (REF0000812,
CR0003520), or six or more digits alone. Offence codes (19C, 105A), months (2025-04) and counts
do not."""


def pseudonymise_ids(detail: str, pseudonym: Pseudonymiser, record_id: str = "") -> str:
    """A register sentence with its record's id, and every other id-shaped token in it (a linked
    crime's, a referral's), replaced by keyed pseudonyms."""
    if record_id:
        detail = detail.replace(record_id, pseudonym(record_id))
    return _ID_SHAPED.sub(lambda m: m.group(0) if m.group(0).startswith(("ID-", "FP-")) else pseudonym(m.group(0)), detail)


_DAY = re.compile(r"\b(\d{4}-\d{2})-\d{2}\b")
_TIME = re.compile(r" \d{2}:\d{2}(:\d{2})?( London time)?")
_AGE = re.compile(r"\bwas (\d+) at the offence\b")


def _age_band(match: re.Match[str]) -> str:
    age = int(match.group(1))
    band = "under 13" if age < 13 else "13 to 15" if age < 16 else "16 or 17" if age < 18 else "18 or over"
    return f"was {band} at the offence"


def coarsen(detail: str) -> str:
    """For a disclosure-safe report: dates to the month, no times, ages in bands."""
    return _DAY.sub(r"\1", _TIME.sub("", _AGE.sub(_age_band, detail)))
