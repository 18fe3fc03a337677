"""The compliant background: incidents and referrals, each with the crimes it should have, recorded
on time."""

from __future__ import annotations

from typing import Any

import numpy as np

from recordcheck.checks.generate.background_crimes import _crimes_for_sources, _links, _victim_contacts
from recordcheck.checks.generate.common import (
    ADULT_KINDS,
    AGENCIES,
    AGENCY_WEIGHTS,
    DISTRICT_WEIGHTS,
    DISTRICTS,
    HOUR,
    INCIDENT_KINDS,
    NO_VICTIM_CODES,
    NULL_TS,
    RATIONALES,
    SUMMARIES,
    _Gen,
    _where,
    age_on,
    dob_for_age,
    local_dates,
    pick_codes,
)


def _incident_batch(g: _Gen, closure: str, m: int) -> tuple[dict[str, Any], np.ndarray]:
    """m incident logs of one closure: their common columns, and their London report dates."""
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
    return base, on


def _incidents_with_offences(g: _Gen, m: int, closure: str, base: dict[str, Any], on: np.ndarray) -> None:
    """Logs that disclosed an offence and were closed as crime (one crime per victim) or transferred."""
    ids, reported, district = base["incident_id"], base["reported_at"], base["district"]
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
        return
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
        base, on = _incident_batch(g, closure, m)
        caller = base["caller_type"]
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
        _incidents_with_offences(g, m, closure, base, on)


RAPE_CODES = ["19C", "19D", "19E", "19F", "19G", "19H"]


def _without_rape(code: np.ndarray, age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """A rape disclosure may not be closed as a crime-related incident: use a sexual assault code."""
    return np.where(np.isin(code, RAPE_CODES), pick_codes(np.full(len(code), "sexual_assault"), age, sex), code)


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


def _referral_batch(
    g: _Gen, decision: str, m: int
) -> tuple[dict[str, Any], dict[str, Any], np.ndarray, np.ndarray, np.ndarray]:
    """m referrals of one decision: their common columns, their victims, who referred, whether vulnerable."""
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
    offence_date = on - np.where(historic, g.rng.integers(365 * 3, 365 * 15, m), g.rng.integers(0, 20, m)).astype(
        "timedelta64[D]"
    )
    v = g.victims(m, 0.72, offence_date, ADULT_KINDS)
    if decision == "n100":
        v = g.victims(m, 0.5, offence_date, (["rape"], [1.0]))
    vulnerable = np.where(v["child"], g.rng.random(m) < 0.3, g.rng.random(m) < 0.25)
    concern = g.choice(["cse", "csa", "cce", "domestic_abuse", "neglect", "missing", "online_harm", "other"], m)
    decided = np.minimum(received + g.rng.integers(1, 20, m) * HOUR, g.as_of - 1)
    roles = np.asarray(["pvp_officer", "mash_officer", "investigator", "supervisor"], dtype=object)
    base: dict[str, Any] = {
        "referral_id": ids,
        "received_at": received,
        "district": g.choice(DISTRICTS, m, p=DISTRICT_WEIGHTS),
        "referrer_type": referrer,
        "referrer_agency": agency,
        "concern_type": concern,
        "subject_person_id": g.ids("P", m),
        "subject_dob": v["dob"],
        "subject_sex": v["sex"],
        "subject_vulnerable": vulnerable,
        "decision": np.full(m, decision, dtype=object),
        "decision_at": decided,
        "summary": g.choice(SUMMARIES, m),
        # the supervision trail: every decision reviewed within two days (or by the as-of)
        "decided_by_role": g.later.choice(roles, m),
        "supervised_at": np.where(
            decision == "pending", NULL_TS, np.minimum(decided + g.later.integers(1, 48, m) * HOUR, g.as_of - 1)
        ),
        "receiving_unit": np.where(
            concern == "cse", "CSE team", g.later.choice(np.asarray(["MASH", "PVP"], dtype=object), m)
        ),
    }
    return base, v, referrer, vulnerable, offence_date


def _recorded_referrals(
    g: _Gen, m: int, base: dict[str, Any], disclosed: dict[str, Any], v: dict[str, Any], vulnerable: np.ndarray
) -> None:
    """Referrals recorded as crimes: one crime per victim; a quarter were first reported as an incident."""
    ids, received, offence_date = base["referral_id"], base["received_at"], disclosed["offence_date"]
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
    code = np.where(extra == 0, v["code"][rep], _refit(v["code"][rep], age_on(dob, offence_date[rep]), sex))
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
        from_cse_referral=base["concern_type"][rep] == "cse",
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
    _links(g, crimes["crime_id"][mask], "incident", np.array([inc_for[i] for i in rep[mask]], dtype=object))


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
        base, v, referrer, vulnerable, offence_date = _referral_batch(g, decision, m)
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
        _recorded_referrals(g, m, base, disclosed, v, vulnerable)
