"""Synthetic, contract-shaped extracts with an exact answer key.

The background is compliant with every rule of the core pack by construction; each injected
breach is a record built for one finding and listed in the key (finding, record_type,
record_id). So a correct rule pack reproduces the key exactly: a missed row is a missed breach,
an extra row a false alarm. The data is realistic enough to exercise the rules: four districts,
third-party agencies, child and adult victims with codes that fit their age at the offence and
their sex, historic disclosures, incidents that precede referrals, many-to-many links, both
clock changes, and free text with commas, quotes, newlines, non-ASCII and markup.

Scale 1 is one year of a large force: ~40,000 referrals, ~600,000 incidents, ~170,000 crimes,
~1,000,000 victim contacts. The bulk is generated with numpy, so scale 1 takes seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recordcheck.checks.contract import TABLES
from recordcheck.checks.london import LONDON_TZ, in_london

US = 1_000_000
HOUR = 3600 * US
DAY = 24 * HOUR
NULL_TS = np.iinfo(np.int64).min
DEFAULT_AS_OF = datetime(2026, 4, 1, tzinfo=UTC)

DISTRICTS = np.array(["Sheffield", "Doncaster", "Rotherham", "Barnsley"], dtype=object)
DISTRICT_WEIGHTS = np.array([0.42, 0.22, 0.19, 0.17])
AGENCIES = np.array(
    [
        "children_social_care",
        "health",
        "education",
        "youth_justice",
        "voluntary_sector",
        "adult_social_care",
        "other",
    ],
    dtype=object,
)
AGENCY_WEIGHTS = np.array([0.36, 0.2, 0.24, 0.05, 0.05, 0.05, 0.05])

SUMMARIES = np.array(
    [
        "Concern raised by school, child disclosed to teacher",
        'Caller states "he hit me", injuries to face',
        "Social worker reports, on home visit, bruising to arm\nchild withdrawn",
        'Neighbour heard shouting; "again", they said',
        "Health visitor: unexplained marks, £20 owed, café meeting",
        "Referral from MASH <script>alert('x')</script> & review",
        "Parent reports online messages from adult, images requested",
        "Youth worker concern: older males, car, late nights",
    ],
    dtype=object,
)
RATIONALES = np.array(
    [
        "Checked CCTV; victim not present at location at time stated",
        "Crime recorded by neighbouring force under their reference",
        "Duplicate of an earlier report of the same incident, linked",
        "Adult caller declined to confirm, no vulnerability, no third party",
    ],
    dtype=object,
)


@dataclass
class Extract:
    tables: dict[str, pl.DataFrame]
    key: pl.DataFrame
    as_of: datetime
    seed: int
    scale: float
    counts: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- small vectorised helpers


def _where(condition: Any, yes: Any, no: Any) -> np.ndarray:
    """np.where for object columns where one side is None (a missing value in the extract)."""
    return np.where(condition, yes, no)


def _to_us(moment: datetime) -> int:
    return int(moment.timestamp() * US)


def local_dates(instants_us: np.ndarray) -> np.ndarray:
    """Europe/London calendar date of each UTC instant (datetime64[D])."""
    series = pl.Series(instants_us.astype(np.int64)).cast(pl.Datetime("us", "UTC"))
    return series.dt.convert_time_zone(LONDON_TZ).dt.date().to_numpy().astype("datetime64[D]")


def age_on(dob: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Whole years completed on `on` (a 29 February birthday completes on 1 March)."""
    dob_y = dob.astype("datetime64[Y]").astype(int) + 1970
    on_y = on.astype("datetime64[Y]").astype(int) + 1970
    dob_m = dob.astype("datetime64[M]").astype(int) % 12
    on_m = on.astype("datetime64[M]").astype(int) % 12
    dob_d = (dob - dob.astype("datetime64[M]")).astype(int)
    on_d = (on - on.astype("datetime64[M]")).astype(int)
    before_birthday = (on_m < dob_m) | ((on_m == dob_m) & (on_d < dob_d))
    return on_y - dob_y - before_birthday.astype(int)


def dob_for_age(age: np.ndarray, on: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A date of birth giving exactly `age` on date `on`."""
    approx = (
        on
        - (age * 365.25).astype(int).astype("timedelta64[D]")
        - rng.integers(1, 360, len(age)).astype("timedelta64[D]")
    )
    actual = age_on(approx, on)
    # nudge into range: move a year at a time until the age is right
    for _ in range(3):
        approx = approx + ((actual - age) * 365).astype("timedelta64[D]")
        actual = age_on(approx, on)
    bad = actual != age
    if bad.any():
        approx[bad] = on[bad] - ((age[bad] * 365.25) + 180).astype(int).astype("timedelta64[D]")
    return approx


def pick_codes(kind: np.ndarray, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Offence codes that fit the victim's age at the offence and sex (core-rules section 4)."""
    female = sex == "F"
    under13, under16 = age < 13, age < 16
    rape = np.where(
        female,
        np.where(under13, "19E", np.where(under16, "19D", "19C")),
        np.where(under13, "19H", np.where(under16, "19G", "19F")),
    )
    assault = np.where(female, np.where(under13, "20B", "20A"), np.where(under13, "17B", "17A"))
    activity = np.where(under13, "21", np.where(under16, "22B", "71"))
    codes = np.where(
        kind == "rape",
        rape,
        np.where(kind == "sexual_assault", assault, np.where(kind == "activity", activity, kind)),
    )
    return codes.astype(object)


CHILD_KINDS = (
    ["rape", "sexual_assault", "activity", "71", "88A", "11A", "8N", "105A", "13", "8L"],
    [0.12, 0.2, 0.1, 0.06, 0.05, 0.2, 0.1, 0.1, 0.02, 0.05],
)
ADULT_KINDS = (
    ["rape", "sexual_assault", "8N", "105A", "8L", "8Q", "3B", "106", "5D"],
    [0.08, 0.1, 0.25, 0.22, 0.12, 0.1, 0.05, 0.03, 0.05],
)
INCIDENT_KINDS = (
    [
        "8N",
        "105A",
        "8L",
        "8Q",
        "58A",
        "58C",
        "49",
        "28E",
        "45",
        "34B",
        "9A",
        "3B",
        "sexual_assault",
        "rape",
        "92D",
        "10D",
        "46",
    ],
    [0.12, 0.15, 0.07, 0.03, 0.07, 0.06, 0.09, 0.06, 0.06, 0.03, 0.05, 0.02, 0.03, 0.01, 0.06, 0.03, 0.06],
)
NO_VICTIM_CODES = {"92D", "10D", "46"}


class _Gen:
    """Holds the random state and the blocks of each table while they are built."""

    def __init__(self, seed: int, scale: float, as_of: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.scale = scale
        self.as_of = _to_us(as_of)
        self.start = self.as_of - 365 * DAY
        self.end = self.as_of - 3 * DAY  # ordinary reports end here so follow-up stays before as-of
        self.blocks: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self.key: list[tuple[str, str, str]] = []
        self.counters: dict[str, int] = {}

    # ids
    def ids(self, prefix: str, n: int) -> np.ndarray:
        start = self.counters.get(prefix, 0)
        self.counters[prefix] = start + n
        return np.array([f"{prefix}{i:07d}" for i in range(start + 1, start + n + 1)], dtype=object)

    def choice(self, values: Any, n: int, p: Any = None) -> np.ndarray:
        return np.asarray(self.rng.choice(np.asarray(values, dtype=object), n, p=p), dtype=object)

    def instants(self, n: int, lo: int | None = None, hi: int | None = None) -> np.ndarray:
        return self.rng.integers(lo if lo is not None else self.start, hi if hi is not None else self.end, n)

    def add(self, table: str, **columns: Any) -> None:
        lengths = {len(v) for v in columns.values() if isinstance(v, (np.ndarray, list))}
        assert len(lengths) == 1, (
            table,
            {k: len(v) for k, v in columns.items() if isinstance(v, (np.ndarray, list))},
        )
        self.blocks[table].append(columns)

    def victims(
        self, n: int, child_share: float, on: np.ndarray, kinds: tuple[list[str], list[float]]
    ) -> dict[str, np.ndarray]:
        """Victims with age at the offence date, sex, date of birth and a fitting offence code."""
        child = self.rng.random(n) < child_share
        age = np.where(
            child, self.rng.choice(np.arange(3, 18), n, p=_child_age_p()), self.rng.integers(18, 80, n)
        )
        sex = self.choice(["F", "M"], n, p=[0.68, 0.32])
        child_kinds, child_p = CHILD_KINDS
        kind = np.where(child, self.choice(child_kinds, n, p=child_p), self.choice(kinds[0], n, p=kinds[1]))
        codes = pick_codes(kind, age, sex)
        dob = dob_for_age(age, on, self.rng)
        return {"age": age, "sex": sex, "dob": dob, "code": codes, "child": child}


def _child_age_p() -> np.ndarray:
    weights = np.array([1, 1, 1, 2, 2, 2, 3, 3, 4, 6, 8, 9, 9, 8, 6], dtype=float)
    return weights / weights.sum()


# ---------------------------------------------------------------- the compliant background


def _crimes_for_sources(
    g: _Gen,
    first_report: np.ndarray,
    district: np.ndarray,
    code: np.ndarray,
    dob: np.ndarray,
    sex: np.ndarray,
    offence_date: np.ndarray,
    person: np.ndarray,
    vulnerable: np.ndarray,
    own_reported: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Crime rows recorded within the limit of their first report, with compliant status and outcome."""
    n = len(first_report)
    crime_id = g.ids("CR", n)
    delay = (g.rng.exponential(3.0, n).clip(0.05, 23.0) * HOUR).astype(np.int64)
    recorded = first_report + delay
    reported = own_reported if own_reported is not None else first_report
    no_victim = np.isin(code, list(NO_VICTIM_CODES))
    person = _where(no_victim, None, person)
    status = g.choice(["recorded", "cancelled", "transferred"], n, p=[0.955, 0.03, 0.015])
    sexual = np.isin(code, SEXUAL_CODES)
    # compliant cancellations: C2 with rationale, FCR/DDM, victim told; or C3/C4 by a permitted role
    cancel_code = _where(status == "cancelled", g.choice(["C2", "C3", "C4"], n, p=[0.5, 0.3, 0.2]), None)
    cancel_code = np.where(status == "transferred", "C1", cancel_code)
    role = np.where(sexual, g.choice(["fcr", "ddm"], n), g.choice(["fcr", "ddm", "supervisor"], n))
    role = _where(status == "cancelled", role, None)
    cancelled_at = np.where(
        status != "recorded", np.minimum(recorded + g.rng.integers(1, 20, n) * DAY, g.as_of - HOUR), NULL_TS
    )
    rationale = _where(cancel_code == "C2", g.choice(RATIONALES[:1], n), None)
    informed = np.where((cancel_code == "C2") & (person != None), cancelled_at, NULL_TS)  # noqa: E711
    # outcomes, consistent with whether a suspect is identified
    has_outcome = (status == "recorded") & (g.rng.random(n) < 0.55)
    outcome_at = recorded + g.rng.integers(2, 200, n) * DAY
    has_outcome &= outcome_at < g.as_of - HOUR
    outcome = g.rng.choice(np.arange(1, 23), n)
    suspect = np.where(
        np.isin(outcome, [15, 16, 21]),
        True,
        np.where(np.isin(outcome, [14, 18]), False, g.rng.random(n) < 0.6),
    )
    outcome = np.where(has_outcome, outcome, np.where(g.rng.random(n) < 0.3, 0, -1))
    outcome_at = np.where(has_outcome, outcome_at, NULL_TS)
    # known whenever an outcome is set; unknown for some open crimes
    suspect_col = _where(has_outcome | (g.rng.random(n) < 0.7), suspect, None)
    rows = {
        "crime_id": crime_id,
        "reported_at": reported,
        "recorded_at": recorded,
        "offence_code": code,
        "offence_date": offence_date,
        "district": district,
        "victim_person_id": person,
        "victim_dob": np.where(no_victim, np.datetime64("NaT"), dob).astype("datetime64[D]"),
        "victim_sex": _where(no_victim, None, sex),
        "victim_vulnerable": _where(no_victim, None, vulnerable),
        "offender_relationship": g.choice(
            ["family", "partner_or_ex", "acquaintance", "stranger", "unknown", "position_of_trust"], n
        ),
        "cse_flag": np.isin(code, ["71", "88A"]),
        "suspect_identified": suspect_col,
        "status": status,
        "cancellation_code": cancel_code,
        "cancelled_at": cancelled_at,
        "cancellation_authoriser_role": role,
        "cancellation_rationale": rationale,
        "victim_informed_of_cancellation_at": informed,
        "outcome_code": outcome,
        "outcome_at": outcome_at,
    }
    g.add("crimes", **rows)
    return rows


SEXUAL_CODES = [
    "17A",
    "17B",
    "19C",
    "19D",
    "19E",
    "19F",
    "19G",
    "19H",
    "20A",
    "20B",
    "21",
    "22A",
    "22B",
    "23",
    "70",
    "71",
    "72",
    "73",
    "88A",
]


def _victim_contacts(g: _Gen, crimes: dict[str, np.ndarray]) -> None:
    """Contacts no more than ~26 days apart through each recorded crime's window."""
    eligible = (crimes["status"] == "recorded") & (crimes["victim_person_id"] != None)  # noqa: E711
    idx = np.nonzero(eligible)[0]
    start = crimes["recorded_at"][idx]
    end = np.where(crimes["outcome_at"][idx] != NULL_TS, crimes["outcome_at"][idx], g.as_of)
    window = end - start
    k = (window // (20 * DAY)).astype(np.int64) + 1
    spacing = window // (k + 1)
    crime_rep = np.repeat(idx, k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    jitter = g.rng.integers(-2 * DAY, 2 * DAY, len(j))
    at = np.repeat(start, k) + np.repeat(spacing, k) * (j + 1) + jitter
    at = np.clip(at, np.repeat(start, k), np.repeat(end, k) - 1)
    kinds = np.where(
        j == 0,
        "written_acknowledgement",
        g.choice(
            ["update", "update", "update", "needs_assessment", "decision_notification", "other"], len(j)
        ),
    )
    g.add("victim_contacts", crime_id=crimes["crime_id"][crime_rep], contact_at=at, contact_type=kinds)


def _links(g: _Gen, crime_ids: np.ndarray, source_type: str, source_ids: np.ndarray) -> None:
    g.add(
        "crime_links",
        crime_id=crime_ids,
        source_type=np.full(len(crime_ids), source_type, dtype=object),
        source_id=source_ids,
    )


def _incidents(g: _Gen, n: int) -> None:
    share = {
        "non_crime": 0.63,
        "crime": 0.25,
        "crime_related_incident": 0.05,
        "transferred": 0.02,
        "duplicate": 0.035,
        "n100": 0.002,
    }
    for closure, frac in share.items():
        m = max(1, round(n * frac))
        ids = g.ids("INC", m)
        reported = g.instants(m)
        district = g.choice(DISTRICTS, m, p=DISTRICT_WEIGHTS)
        caller = g.choice(
            [
                "victim",
                "member_of_public",
                "family_or_carer",
                "anonymous",
                "police",
                "professional_third_party",
            ],
            m,
            p=[0.45, 0.25, 0.12, 0.05, 0.08, 0.05],
        )
        on = local_dates(reported)
        base: dict[str, Any] = {
            "incident_id": ids,
            "reported_at": reported,
            "district": district,
            "caller_type": caller,
            "opening_code": g.choice(["ASB", "CONCERN", "ASSAULT", "DOMESTIC", "THEFT", "SUSPICIOUS"], m),
            "closing_code": np.full(m, closure.upper()[:8], dtype=object),
            "closure_class": np.full(m, closure, dtype=object),
            "summary": g.choice(SUMMARIES, m),
        }
        if closure in ("non_crime", "duplicate"):
            g.add("incidents", **base)
            continue
        if closure == "n100":
            v = g.victims(m, 0.1, on, (["rape"], [1.0]))
            g.add(
                "incidents",
                **base,
                reported_offence_code=v["code"],
                child_victim=v["child"],
                vulnerable_victim=np.full(m, False),
                no_crime_reason=g.choice(["credible_evidence_contrary", "other_force_recording"], m),
                decision_rationale=g.choice(RATIONALES[:2], m),
            )
            continue
        if closure == "crime_related_incident":
            # accepted reasons only: victim-dependent ones where an adult member of the public reported
            v = g.victims(m, 0.0, on, INCIDENT_KINDS)
            public = np.isin(caller, ["member_of_public", "anonymous"])
            reason = np.where(
                public,
                g.choice(["victim_declined", "victim_not_traced", "duplicate"], m),
                g.choice(["credible_evidence_contrary", "other_force_recording", "duplicate"], m),
            )
            g.add(
                "incidents",
                **base,
                reported_offence_code=_without_rape(v["code"], v["age"], v["sex"]),
                child_victim=np.full(m, False),
                vulnerable_victim=np.full(m, False),
                no_crime_reason=reason,
                decision_rationale=g.choice(RATIONALES, m),
            )
            continue
        v = g.victims(m, 0.12, on, INCIDENT_KINDS)
        victim_count = np.where(g.rng.random(m) < 0.03, g.rng.integers(2, 4, m), 1)
        victim_count = np.where(np.isin(v["code"], list(NO_VICTIM_CODES)), 1, victim_count)
        shown_count = np.where(victim_count > 1, victim_count, np.where(g.rng.random(m) < 0.5, 1, -1))
        g.add(
            "incidents",
            **base,
            reported_offence_code=v["code"],
            victim_count=shown_count,
            child_victim=v["child"],
            vulnerable_victim=g.rng.random(m) < 0.1,
        )
        if closure == "transferred":
            continue
        # one crime per victim
        rep = np.repeat(np.arange(m), victim_count)
        extra = np.arange(len(rep)) - np.repeat(np.cumsum(victim_count) - victim_count, victim_count)
        offence_date = on[rep] - g.rng.integers(0, 3, len(rep)).astype("timedelta64[D]")
        ages = age_on(v["dob"][rep], offence_date)
        # later victims of a multi-victim report: own age and sex, code of the same kind refitted
        sex = np.where(extra == 0, v["sex"][rep], g.choice(["F", "M"], len(rep)))
        dob = np.where(extra == 0, v["dob"][rep], dob_for_age(ages, offence_date, g.rng))
        # fit every victim's code to their age on the offence date (a birthday may fall before the report)
        code = _refit(v["code"][rep], age_on(dob, offence_date), sex)
        no_date = g.rng.random(len(rep)) < 0.08
        offence_date = np.where(no_date, np.datetime64("NaT"), offence_date).astype("datetime64[D]")
        # with no offence date the age is taken on the report date: refit the code for that date
        code = np.where(no_date, _refit(code, age_on(dob, on[rep]), sex), code)
        crimes = _crimes_for_sources(
            g,
            reported[rep],
            district[rep],
            code,
            dob,
            sex,
            offence_date,
            g.ids("P", len(rep)),
            g.rng.random(len(rep)) < 0.1,
        )
        _links(g, crimes["crime_id"], "incident", ids[rep])
        _victim_contacts(g, crimes)


RAPE_CODES = ["19C", "19D", "19E", "19F", "19G", "19H"]


def _without_rape(code: np.ndarray, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """A rape disclosure may not be closed as a crime-related incident: use a sexual assault code."""
    return np.where(
        np.isin(code, RAPE_CODES), pick_codes(np.full(len(code), "sexual_assault"), age, sex), code
    )


def _refit(code: np.ndarray, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    kind = np.where(
        np.isin(code, ["19C", "19D", "19E", "19F", "19G", "19H"]),
        "rape",
        np.where(
            np.isin(code, ["20A", "20B", "17A", "17B"]),
            "sexual_assault",
            np.where(np.isin(code, ["21", "22B"]), "activity", code),
        ),
    )
    return pick_codes(kind, age, sex)


def _referrals(g: _Gen, n: int) -> None:
    share = {
        "no_offence_disclosed": 0.5,
        "crime_recorded": 0.36,
        "crime_related_incident": 0.08,
        "transferred": 0.03,
        "n100": 0.01,
        "pending": 0.02,
    }
    for decision, frac in share.items():
        m = max(1, round(n * frac))
        ids = g.ids("REF", m)
        recent = decision == "pending"
        received = g.instants(m, g.as_of - 20 * HOUR, g.as_of - HOUR) if recent else g.instants(m)
        on = local_dates(received)
        referrer = g.choice(
            [
                "professional_third_party",
                "family_or_carer",
                "member_of_public",
                "victim",
                "anonymous",
                "police",
            ],
            m,
            p=[0.56, 0.12, 0.1, 0.08, 0.04, 0.1],
        )
        agency = np.where(
            referrer == "professional_third_party",
            g.choice(AGENCIES, m, p=AGENCY_WEIGHTS),
            _where(referrer == "police", "police", None),
        )
        historic = g.rng.random(m) < 0.06
        offence_date = on - np.where(
            historic, g.rng.integers(365 * 3, 365 * 15, m), g.rng.integers(0, 20, m)
        ).astype("timedelta64[D]")
        v = g.victims(m, 0.72, offence_date, ADULT_KINDS)
        if decision == "n100":
            v = g.victims(m, 0.5, offence_date, (["rape"], [1.0]))
        vulnerable = np.where(v["child"], g.rng.random(m) < 0.3, g.rng.random(m) < 0.25)
        base: dict[str, Any] = {
            "referral_id": ids,
            "received_at": received,
            "district": g.choice(DISTRICTS, m, p=DISTRICT_WEIGHTS),
            "referrer_type": referrer,
            "referrer_agency": agency,
            "concern_type": g.choice(
                ["cse", "csa", "cce", "domestic_abuse", "neglect", "missing", "online_harm", "other"], m
            ),
            "subject_person_id": g.ids("P", m),
            "subject_dob": v["dob"],
            "subject_sex": v["sex"],
            "subject_vulnerable": vulnerable,
            "decision": np.full(m, decision, dtype=object),
            "decision_at": np.minimum(received + g.rng.integers(1, 20, m) * HOUR, g.as_of - 1),
            "summary": g.choice(SUMMARIES, m),
        }
        if decision == "no_offence_disclosed":
            g.add("referrals", **base)
            continue
        disclosed = {"disclosed_offence_code": v["code"], "offence_date": offence_date}
        if decision in ("transferred", "pending"):
            g.add("referrals", **base, **disclosed)
            continue
        if decision == "n100":
            g.add(
                "referrals",
                **base,
                **disclosed,
                no_crime_reason=g.choice(["credible_evidence_contrary", "other_force_recording"], m),
                decision_rationale=g.choice(RATIONALES[:2], m),
            )
            continue
        if decision == "crime_related_incident":
            adult_public = ~v["child"] & ~vulnerable & np.isin(referrer, ["member_of_public", "anonymous"])
            reason = np.where(
                adult_public,
                g.choice(["victim_declined", "victim_not_traced", "duplicate"], m),
                g.choice(["credible_evidence_contrary", "other_force_recording", "duplicate"], m),
            )
            disclosed["disclosed_offence_code"] = _without_rape(v["code"], v["age"], v["sex"])
            g.add(
                "referrals",
                **base,
                **disclosed,
                no_crime_reason=reason,
                decision_rationale=g.choice(RATIONALES, m),
            )
            continue
        # crime_recorded: one crime per victim; a quarter were first reported as an incident
        victim_count = np.where(g.rng.random(m) < 0.05, g.rng.integers(2, 4, m), 1)
        shown = np.where(victim_count > 1, victim_count, np.where(g.rng.random(m) < 0.5, 1, -1))
        via_incident = g.rng.random(m) < 0.25
        incident_at = received - g.rng.integers(2, 240, m) * HOUR
        first = np.where(via_incident, incident_at, received)
        g.add("referrals", **base, **disclosed, victim_count=shown)
        rep = np.repeat(np.arange(m), victim_count)
        extra = np.arange(len(rep)) - np.repeat(np.cumsum(victim_count) - victim_count, victim_count)
        sex = np.where(extra == 0, v["sex"][rep], g.choice(["F", "M"], len(rep)))
        other_age = np.clip(v["age"][rep] + g.rng.integers(-2, 3, len(rep)), 3, 90)
        dob = np.where(extra == 0, v["dob"][rep], dob_for_age(other_age, offence_date[rep], g.rng))
        code = np.where(
            extra == 0, v["code"][rep], _refit(v["code"][rep], age_on(dob, offence_date[rep]), sex)
        )
        person = np.where(extra == 0, base["subject_person_id"][rep], g.ids("P", len(rep)))
        crimes = _crimes_for_sources(
            g,
            first[rep],
            base["district"][rep],
            code,
            dob,
            sex,
            offence_date[rep],
            person,
            vulnerable[rep] | v["child"][rep],
        )
        _links(g, crimes["crime_id"], "referral", ids[rep])
        _victim_contacts(g, crimes)
        # the preceding incidents (closed as crime) for those first reported by phone
        inc_idx = np.nonzero(via_incident)[0]
        inc_ids = g.ids("INC", len(inc_idx))
        g.add(
            "incidents",
            incident_id=inc_ids,
            reported_at=incident_at[inc_idx],
            district=base["district"][inc_idx],
            caller_type=g.choice(["victim", "family_or_carer", "police"], len(inc_idx)),
            closure_class=np.full(len(inc_idx), "crime", dtype=object),
            closing_code=np.full(len(inc_idx), "CRIME", dtype=object),
            reported_offence_code=v["code"][inc_idx],
            victim_count=shown[inc_idx],
            child_victim=v["child"][inc_idx],
            summary=g.choice(SUMMARIES, len(inc_idx)),
        )
        mask = np.isin(rep, inc_idx)
        inc_for = dict(zip(inc_idx.tolist(), inc_ids.tolist(), strict=True))
        _links(
            g, crimes["crime_id"][mask], "incident", np.array([inc_for[i] for i in rep[mask]], dtype=object)
        )


def _direct_crimes(g: _Gen, n: int) -> None:
    """Crimes recorded straight from an online or front-desk report, with no incident or referral."""
    reported = g.instants(n)
    on = local_dates(reported)
    v = g.victims(n, 0.05, on, INCIDENT_KINDS)
    crimes = _crimes_for_sources(
        g,
        reported,
        g.choice(DISTRICTS, n, p=DISTRICT_WEIGHTS),
        v["code"],
        v["dob"],
        v["sex"],
        on,
        g.ids("P", n),
        g.rng.random(n) < 0.05,
    )
    _victim_contacts(g, crimes)


def _edge_cases(g: _Gen) -> None:
    """Compliant records at the rules' edges: exactly 24 hours, clock changes, birthdays."""
    spring = _to_us(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))  # 12:00 GMT, the day before BST starts
    autumn_day = _to_us(datetime(2025, 10, 25, 11, 0, tzinfo=UTC))  # 12:00 BST, the day before GMT
    cases = [
        # (first report, recorded) : exactly 24h; spring 23.5h elapsed (24.5h on the wall clock)
        (g.start + 100 * DAY, g.start + 100 * DAY + 24 * HOUR),
        (spring, spring + 23 * HOUR + 30 * 60 * US),
        (autumn_day, autumn_day + 23 * HOUR + 59 * 60 * US),
    ]
    for first, recorded in cases:
        if not (g.start <= first < g.end):
            continue
        on = local_dates(np.array([first]))
        crime_id = g.ids("CR", 1)
        g.add(
            "crimes",
            crime_id=crime_id,
            reported_at=np.array([first]),
            recorded_at=np.array([recorded]),
            offence_code=np.array(["8N"], dtype=object),
            offence_date=on,
            district=np.array(["Sheffield"], dtype=object),
            status=np.array(["recorded"], dtype=object),
        )
    # a girl who turned 13 between the offence and the report: 20B is right (age at the offence)
    report = np.array([g.start + 200 * DAY])
    on = local_dates(report)
    offence_date = on - np.timedelta64(30, "D")
    dob = offence_date - np.timedelta64(13 * 365 + 3 - 10, "D")  # 13th birthday ~10 days after the offence
    while age_on(dob, offence_date)[0] != 12 or age_on(dob, on)[0] != 13:
        dob = dob - np.timedelta64(1, "D")
    g.add(
        "crimes",
        crime_id=g.ids("CR", 1),
        reported_at=report,
        recorded_at=report + HOUR,
        offence_code=np.array(["20B"], dtype=object),
        offence_date=offence_date,
        district=np.array(["Rotherham"], dtype=object),
        victim_dob=dob,
        victim_sex=np.array(["F"], dtype=object),
        status=np.array(["recorded"], dtype=object),
    )


# ---------------------------------------------------------------- injected breaches


def _inject(g: _Gen, per_kind: int) -> None:
    """Records built to breach exactly one rule each; every one goes into the key."""
    rng = g.rng
    t = lambda: int(rng.integers(g.start, g.as_of - 40 * DAY))  # noqa: E731  (room for follow-up)

    def referral(ref_id: str, received: int, code: str | None, decision: str, **kw: Any) -> None:
        row: dict[str, Any] = {
            "referral_id": [ref_id],
            "received_at": [received],
            "district": [str(g.choice(DISTRICTS, 1)[0])],
            "referrer_type": [kw.pop("referrer_type", "professional_third_party")],
            "referrer_agency": [kw.pop("referrer_agency", str(g.choice(AGENCIES, 1, p=AGENCY_WEIGHTS)[0]))],
            "concern_type": ["csa"],
            "subject_person_id": [kw.pop("person", g.ids("P", 1)[0])],
            "subject_dob": [
                kw.pop("dob", local_dates(np.array([received]))[0] - np.timedelta64(11 * 365, "D"))
            ],
            "subject_sex": [kw.pop("sex", "F")],
            "disclosed_offence_code": [code],
            "offence_date": [local_dates(np.array([received]))[0] - np.timedelta64(5, "D")],
            "decision": [decision],
            "summary": [str(g.choice(SUMMARIES, 1)[0])],
        }
        for k, v in kw.items():
            row[k] = [v]
        g.add("referrals", **row)

    def incident(inc_id: str, reported: int, code: str | None, closure: str, **kw: Any) -> None:
        row: dict[str, Any] = {
            "incident_id": [inc_id],
            "reported_at": [reported],
            "district": [str(g.choice(DISTRICTS, 1)[0])],
            "caller_type": [kw.pop("caller_type", "victim")],
            "closure_class": [closure],
            "reported_offence_code": [code],
            "summary": [str(g.choice(SUMMARIES, 1)[0])],
        }
        for k, v in kw.items():
            row[k] = [v]
        g.add("incidents", **row)

    def crime(first: int, code: str, age: int, sex: str, **kw: Any) -> str:
        crime_id = str(g.ids("CR", 1)[0])
        on = local_dates(np.array([first]))
        dob = dob_for_age(np.array([age]), on, rng)[0]
        row: dict[str, Any] = {
            "crime_id": [crime_id],
            "reported_at": [first],
            "recorded_at": [first + 2 * HOUR],
            "offence_code": [code],
            "offence_date": [on[0]],
            "district": [str(g.choice(DISTRICTS, 1)[0])],
            "victim_person_id": [g.ids("P", 1)[0]],
            "victim_dob": [dob],
            "victim_sex": [sex],
            "status": ["recorded"],
        }
        for k, v in kw.items():
            row[k] = [v]
        g.add("crimes", **row)
        if (
            row["status"][0] == "recorded"
            and row["victim_person_id"][0] is not None
            and not kw.get("no_contacts")
        ):
            _contacts_every(g, crime_id, row["recorded_at"][0], row.get("outcome_at", [NULL_TS])[0])
        return crime_id

    def key(finding: str, record_type: str, record_id: str) -> None:
        g.key.append((finding, record_type, record_id))

    for _ in range(per_kind):
        # 1. recording: professional third-party reports about children closed for unaccepted reasons
        for reason, decision in (
            ("victim_declined", "crime_related_incident"),
            ("not_notifiable", "no_offence_disclosed"),
            (None, "crime_related_incident"),
        ):
            rid = str(g.ids("REF", 1)[0])
            referral(
                rid,
                t(),
                str(g.choice(["20B", "21", "11A", "8N", "71"], 1)[0]),
                decision,
                no_crime_reason=reason,
                decision_rationale="Victim's family did not want police involvement",
            )
            key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # says a crime was recorded, but none is linked
        referral(rid, t(), "11A", "crime_recorded")
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # still pending long after the limit
        referral(rid, g.as_of - int(rng.integers(26, 24 * 20)) * HOUR, "20B", "pending")
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # N100 used for a non-rape offence, reason not accepted
        referral(
            rid,
            t(),
            "20B",
            "n100",
            no_crime_reason="victim_declined",
            decision_rationale="Mother declined on child's behalf",
        )
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # N100 for rape, reason not accepted for an N100
        referral(
            rid, t(), "19E", "n100", no_crime_reason="duplicate", decision_rationale="Said to be a duplicate"
        )
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # an adult, but vulnerable: victim_declined not accepted
        referral(
            rid,
            t(),
            "8N",
            "crime_related_incident",
            referrer_type="member_of_public",
            referrer_agency=None,
            dob=local_dates(np.array([g.start]))[0] - np.timedelta64(40 * 365, "D"),
            subject_vulnerable=True,
            no_crime_reason="victim_declined",
            decision_rationale="Declined",
        )
        key("unrecorded_crime", "referral", rid)
        iid = str(g.ids("INC", 1)[0])  # a child victim's incident closed as CRI, victim declined
        incident(
            iid,
            t(),
            "8N",
            "crime_related_incident",
            child_victim=True,
            no_crime_reason="victim_declined",
            decision_rationale="Declined",
        )
        key("unrecorded_crime", "incident", iid)
        iid = str(g.ids("INC", 1)[0])  # closed non-crime although an offence was disclosed, no reason
        incident(iid, t(), "105A", "non_crime", caller_type="member_of_public")
        key("unrecorded_crime", "incident", iid)

        # 2. rape reports closed without a crime or an N100
        rid = str(g.ids("REF", 1)[0])
        referral(
            rid,
            t(),
            "19E",
            "crime_related_incident",
            no_crime_reason="victim_declined",
            decision_rationale="Child would not engage",
        )
        key("n100_missing", "referral", rid)
        iid = str(g.ids("INC", 1)[0])
        incident(
            iid,
            t(),
            "19C",
            "non_crime",
            caller_type="family_or_carer",
            no_crime_reason="credible_evidence_contrary",
            decision_rationale="Officer doubted account",
        )
        key("n100_missing", "incident", iid)

        # 3. late recording: own report time, a linked earlier referral, and the autumn clock change
        first = t()
        cid = crime(first, "8N", 30, "M", recorded_at=first + int(rng.integers(25, 96)) * HOUR)
        key("late_recording", "crime", cid)
        received = t()
        cid = crime(received + 50 * HOUR, "20B", 10, "F", recorded_at=received + 52 * HOUR)
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "20B", "crime_recorded")
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("late_recording", "crime", cid)
        autumn = _to_us(
            datetime(2025, 10, 25, 11, 0, tzinfo=UTC)
        )  # 12:00 BST; 24.5h later is 11:30 GMT next day
        if g.start <= autumn < g.end:
            cid = crime(autumn, "105A", 40, "F", recorded_at=autumn + 24 * HOUR + 30 * 60 * US)
            key("late_recording", "crime", cid)

        # 4. misclassification: wrong age band, wrong sex, rape disclosure recorded under a lesser code
        cid = crime(t(), "20A", 11, "F")
        key("misclassification", "crime", cid)
        cid = crime(t(), "19D", 12, "F")
        key("misclassification", "crime", cid)
        cid = crime(t(), "19C", 30, "M")
        key("misclassification", "crime", cid)
        cid = crime(t(), "22B", 16, "M")
        key("misclassification", "crime", cid)
        received = t()
        cid = crime(received, "20A", 15, "F")
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "19D", "crime_recorded", dob=None)
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("misclassification", "crime", cid)

        # 5. one crime per victim: three victims disclosed, one crime recorded
        received = t()
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "11A", "crime_recorded", victim_count=3)
        cid = crime(received, "11A", 8, "M")
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("undercounting", "referral", rid)
        reported = t()
        iid = str(g.ids("INC", 1)[0])
        incident(iid, reported, "8N", "crime", victim_count=2)
        cid = crime(reported, "8N", 35, "F")
        _links(g, np.array([cid], dtype=object), "incident", np.array([iid], dtype=object))
        key("undercounting", "incident", iid)

        # 6. cancellations and transfers that lack what the rules require
        def cancelled(code: str, **kw: Any) -> None:
            first = t()
            base = {
                "status": "cancelled",
                "cancelled_at": first + 5 * DAY,
                "cancellation_code": "C2",
                "cancellation_authoriser_role": "ddm",
                "cancellation_rationale": "AVI: CCTV shows no offence",
                "victim_informed_of_cancellation_at": first + 6 * DAY,
            }
            base.update(kw)
            cid = crime(first, code, 30, "F", **base)
            key("improper_cancellation", "crime", cid)

        cancelled("8N", cancellation_code=None)
        cancelled("105A", cancellation_rationale=None)
        cancelled("58A", cancellation_authoriser_role="investigator")
        cancelled("20A", cancellation_authoriser_role="supervisor")
        cancelled("8L", victim_informed_of_cancellation_at=None)
        cancelled("8N", status="transferred", cancellation_code="C3", cancellation_authoriser_role=None)

        # 7. outcomes that contradict the record
        first = t()
        cid = crime(
            first, "8N", 25, "M", outcome_code=15, outcome_at=first + 30 * DAY, suspect_identified=False
        )
        key("outcome_inconsistent", "crime", cid)
        first = t()
        cid = crime(
            first, "105A", 25, "F", outcome_code=18, outcome_at=first + 30 * DAY, suspect_identified=True
        )
        key("outcome_inconsistent", "crime", cid)

        # 8. a victim left without an update for more than 28 days
        first = int(rng.integers(g.start, g.as_of - 60 * DAY))
        cid = crime(first, "8N", 45, "F", no_contacts=True)
        g.add(
            "victim_contacts",
            crime_id=[cid],
            contact_at=[first + 3 * DAY],
            contact_type=["written_acknowledgement"],
        )
        _contacts_every(g, cid, first + 35 * DAY, NULL_TS, skip_first=True)
        key("victim_update_overdue", "crime", cid)

        # 9. closed without a crime for an accepted reason, with no account of the decision
        rid = str(g.ids("REF", 1)[0])
        referral(rid, t(), "8N", "crime_related_incident", no_crime_reason="credible_evidence_contrary")
        key("missing_rationale", "referral", rid)
        iid = str(g.ids("INC", 1)[0])
        incident(
            iid,
            t(),
            "58A",
            "crime_related_incident",
            caller_type="anonymous",
            child_victim=False,
            vulnerable_victim=False,
            no_crime_reason="victim_not_traced",
        )
        key("missing_rationale", "incident", iid)

        # 10. data quality: a child-coded crime without a date of birth, or with unknown sex
        cid = crime(t(), "19E", 9, "F", victim_dob=None)
        key("data_quality", "crime", cid)
        cid = crime(t(), "17B", 9, "U")
        key("data_quality", "crime", cid)


def _contacts_every(g: _Gen, crime_id: str, start: int, outcome_at: int, skip_first: bool = False) -> None:
    end = outcome_at if outcome_at != NULL_TS else g.as_of
    at = []
    current = start
    if skip_first:
        at.append(start)
    while end - current > 20 * DAY:
        current += 20 * DAY
        at.append(current)
    if at:
        g.add(
            "victim_contacts", crime_id=[crime_id] * len(at), contact_at=at, contact_type=["update"] * len(at)
        )


# ---------------------------------------------------------------- assembling the tables


_DTYPES: dict[str, Any] = {
    "string": pl.String,
    "int": pl.Int64,
    "bool": pl.Boolean,
    "date": pl.Date,
    "timestamp": pl.Datetime("us", "UTC"),
}


def _series(name: str, values: Any, type_: str, n: int) -> pl.Series:
    if values is None:
        return pl.Series(name, [None] * n, dtype=_DTYPES[type_])
    if not isinstance(values, (np.ndarray, list)):
        values = [values] * n
    if type_ == "timestamp":
        raw = pl.Series(
            name,
            [NULL_TS if v is None else v for v in values] if isinstance(values, list) else values,
            dtype=pl.Int64,
        )
        # whole seconds, as force systems export them
        return pl.select(
            pl.when(raw == NULL_TS)
            .then(None)
            .otherwise(raw // US * US)
            .cast(pl.Datetime("us", "UTC"))
            .alias(name)
        ).to_series()
    if type_ == "int":
        raw = pl.Series(
            name,
            [-1 if v is None else v for v in values]
            if isinstance(values, list)
            else np.asarray(values, dtype=np.int64),
            dtype=pl.Int64,
        )
        return pl.select(pl.when(raw < 0).then(None).otherwise(raw).alias(name)).to_series()
    if type_ == "date":
        arr = (
            np.array([np.datetime64("NaT") if v is None else v for v in values], dtype="datetime64[D]")
            if isinstance(values, list)
            else values.astype("datetime64[D]")
        )
        return pl.Series(name, arr).cast(pl.Date)
    if type_ == "bool":
        return pl.Series(
            name,
            [
                None if v is None else bool(v)
                for v in (values.tolist() if isinstance(values, np.ndarray) else values)
            ],
            dtype=pl.Boolean,
        )
    return pl.Series(
        name,
        [
            None if v is None else str(v)
            for v in (values.tolist() if isinstance(values, np.ndarray) else values)
        ],
        dtype=pl.String,
    )


def _assemble(g: _Gen) -> dict[str, pl.DataFrame]:
    tables = {}
    for name, contract in TABLES.items():
        frames = []
        for block in g.blocks[name]:
            n = next(len(v) for v in block.values() if isinstance(v, (np.ndarray, list)))
            frames.append(
                pl.DataFrame([_series(c.name, block.get(c.name), c.type, n) for c in contract.columns])
            )
        tables[name] = (
            pl.concat(frames)
            if frames
            else pl.DataFrame(schema={c.name: _DTYPES[c.type] for c in contract.columns})
        )
    # shuffle crimes and incidents so files are not grouped by scenario (stable for the seed)
    for name in ("incidents", "crimes", "referrals"):
        tables[name] = tables[name].sample(fraction=1.0, shuffle=True, seed=int(g.rng.integers(0, 2**31)))
    return tables


def generate(seed: int = 1, scale: float = 0.05, as_of: datetime = DEFAULT_AS_OF) -> Extract:
    """Build an extract and its answer key; deterministic for (seed, scale, as_of)."""
    g = _Gen(seed, scale, as_of)
    _incidents(g, round(595_000 * scale))
    _referrals(g, round(40_000 * scale))
    _direct_crimes(g, round(6_000 * scale))
    _edge_cases(g)
    _inject(g, max(1, round(40 * scale)))
    tables = _assemble(g)
    key = pl.DataFrame(
        g.key, schema={"finding": pl.String, "record_type": pl.String, "record_id": pl.String}, orient="row"
    ).sort(["finding", "record_type", "record_id"])
    return Extract(tables, key, as_of, seed, scale, {n: t.height for n, t in tables.items()})


def local_text(col: str) -> pl.Expr:
    """Europe/London wall-clock text without an offset, as forces export; the repeated autumn hour
    keeps an explicit offset so the instant is not ambiguous."""
    local = in_london(col)
    naive = local.dt.strftime("%Y-%m-%dT%H:%M:%S")
    with_offset = local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    # on the autumn change day 01:xx happens twice: the hour before or after is then also 01:xx
    utc = pl.col(col)
    is_repeat = (local.dt.hour() == 1) & (
        in_london(utc - pl.duration(hours=1)).dt.hour() == 1
    )
    first_pass = (local.dt.hour() == 1) & (
        in_london(utc + pl.duration(hours=1)).dt.hour() == 1
    )
    return pl.when(is_repeat | first_pass).then(with_offset).otherwise(naive).alias(col)


def write_extract(extract: Extract, out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Write the tables (and key.csv, generation.json) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in extract.tables.items():
        if fmt == "parquet":
            path = out_dir / f"{name}.parquet"
            frame.write_parquet(path)
        else:
            path = out_dir / f"{name}.csv"
            ts_cols = [c.name for c in TABLES[name].columns if c.type == "timestamp"]
            frame.with_columns([local_text(c) for c in ts_cols]).write_csv(path)
        written.append(path)
    extract.key.write_csv(out_dir / "key.csv")
    (out_dir / "generation.json").write_text(
        json.dumps(
            {
                "seed": extract.seed,
                "scale": extract.scale,
                "as_of": extract.as_of.isoformat(),
                "rows": extract.counts,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return written
