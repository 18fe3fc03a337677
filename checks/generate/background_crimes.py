"""The compliant background: crimes for the reports that disclose an offence, their links and victim
contacts, and crimes reported directly."""

from __future__ import annotations

from functools import cache

import numpy as np
import polars as pl

from recordcheck.checks.base.refdata import ReferenceData, load_reference
from recordcheck.checks.generate.common import (
    DAY,
    DISTRICT_WEIGHTS,
    DISTRICTS,
    HOUR,
    INCIDENT_KINDS,
    NO_VICTIM_CODES,
    NULL_TS,
    RATIONALES,
    _Gen,
    _where,
    age_on,
    local_dates,
)

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
    from_cse_referral: np.ndarray | None = None,
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
    registrar_only = np.isin(code, _codes_where("registrar_only"))
    cancellation = _compliant_cancellations(g, status, registrar_only, recorded, person)
    # a child at the offence (the report's day when the offence date is unknown), as the rules judge it;
    # NaT != NaT: no date of birth, no child
    age_day = np.where(offence_date == offence_date, offence_date, local_dates(reported)).astype("datetime64[D]")
    child = (dob == dob) & (age_on(dob, age_day) < 18)
    cse_marker = np.zeros(n, dtype=bool) if from_cse_referral is None else from_cse_referral
    outcome, outcome_at, suspect_col = _consistent_outcomes(
        g,
        status,
        recorded,
        rape=np.isin(code, _codes_where("rape")),
        child_sexual=child & np.isin(code, _codes_where("sexual_offence")),
        child=child,
    )
    relationship = g.choice(["family", "partner_or_ex", "acquaintance", "stranger", "unknown", "position_of_trust"], n)
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
        "offender_relationship": relationship,
        # flagged CSE when raised as CSE, or an exploitation code outside the family (DQ002)
        "cse_flag": cse_marker | (np.isin(code, ["71", "88A"]) & (relationship != "family")),
        "suspect_identified": suspect_col,
        "status": status,
        **cancellation,
        "outcome_code": outcome,
        "outcome_at": outcome_at,
    }
    g.add("crimes", **rows)
    # a child at the first report is referred to support within the hour (Victims' Code, right 4)
    child_at_report = (dob == dob) & (age_on(dob, local_dates(first_report)) < 18) & ~no_victim
    referred = np.nonzero(child_at_report & (status == "recorded"))[0]
    g.add(
        "victim_contacts",
        crime_id=crime_id[referred],
        contact_at=first_report[referred] + g.later.integers(5, 55, len(referred)) * (HOUR // 60),
        contact_type=np.full(len(referred), "support_referral", dtype=object),
        contact_with=np.full(len(referred), "parent_or_carer", dtype=object),
    )
    return rows


@cache
def _pack_reference() -> ReferenceData:
    """The bundled pack's reference data, read once: the background obeys its lists and codes."""
    return load_reference()


@cache
def _codes_where(condition: str) -> list[str]:
    """Catalogue codes by a named property the background must respect."""
    reference = _pack_reference()
    catalogue = reference.offence_catalogue
    if condition == "registrar_only":  # cancellation the authority matrix gives to the FCR or a DDM alone
        return list(
            catalogue.filter(pl.col("category").is_in(reference.cancellation_authority["registrar_categories"]))["code"]
        )
    return list(catalogue.filter(pl.col(condition))["code"])  # "rape", "sexual_offence"


def _compliant_cancellations(
    g: _Gen, status: np.ndarray, registrar_only: np.ndarray, recorded: np.ndarray, person: np.ndarray
) -> dict[str, np.ndarray]:
    """Cancellation columns that break no rule: C2 with a rationale, by an FCR or DDM, the victim
    told; C3 or C4 by a role the authority matrix permits for the offence; C1 for a transfer."""
    n = len(status)
    cancel_code = _where(status == "cancelled", g.choice(["C2", "C3", "C4"], n, p=[0.5, 0.3, 0.2]), None)
    cancel_code = np.where(status == "transferred", "C1", cancel_code)
    role = np.where(registrar_only, g.choice(["fcr", "ddm"], n), g.choice(["fcr", "ddm", "supervisor"], n))
    role = _where(status == "cancelled", role, None)
    cancelled_at = np.where(
        status != "recorded", np.minimum(recorded + g.rng.integers(1, 20, n) * DAY, g.as_of - HOUR), NULL_TS
    )
    rationale = _where(cancel_code == "C2", g.choice(RATIONALES[:1], n), None)
    informed = np.where((cancel_code == "C2") & (person != None), cancelled_at, NULL_TS)  # noqa: E711
    return {
        "cancellation_code": cancel_code,
        "cancelled_at": cancelled_at,
        "cancellation_authoriser_role": role,
        "cancellation_rationale": rationale,
        "victim_informed_of_cancellation_at": informed,
    }


def _consistent_outcomes(
    g: _Gen, status: np.ndarray, recorded: np.ndarray, rape: np.ndarray, child_sexual: np.ndarray, child: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Outcome code, its time and whether a suspect is identified, consistent with each other and
    with the offence (the reference data's outcome lists): an action against an offender needs a
    suspect; no caution or community resolution for a rape or a child sexual offence; no
    "victim does not support" for a child. Some open crimes have the suspect unknown."""
    lists = _pack_reference().outcome_lists
    n = len(status)
    has_outcome = (status == "recorded") & (g.rng.random(n) < 0.55)
    outcome_at = recorded + g.rng.integers(2, 200, n) * DAY
    has_outcome &= outcome_at < g.as_of - HOUR
    outcome = g.rng.choice(np.arange(1, 23), n)
    outcome = np.where((rape | child_sexual) & np.isin(outcome, lists["caution_or_community_resolution"]), 1, outcome)
    outcome = np.where(child & np.isin(outcome, lists["victim_does_not_support"]), 15, outcome)
    suspect = np.where(
        np.isin(outcome, lists["needs_identified_suspect"]),
        True,
        np.where(np.isin(outcome, lists["means_no_suspect"]), False, g.rng.random(n) < 0.6),
    )
    outcome = np.where(has_outcome, outcome, np.where(g.rng.random(n) < 0.3, 0, -1))
    outcome_at = np.where(has_outcome, outcome_at, NULL_TS)
    # known whenever an outcome is set; unknown for some open crimes
    suspect_col = _where(has_outcome | (g.rng.random(n) < 0.7), suspect, None)
    return outcome, outcome_at, suspect_col


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
        g.choice(["update", "update", "update", "needs_assessment", "decision_notification", "other"], len(j)),
    )
    # who was spoken to: a child, a parent or carer, sometimes a professional (never all of a
    # child's contacts: the support referral is with a parent or carer); an adult mostly herself
    dob = crimes["victim_dob"][crime_rep]
    child = (dob == dob) & (age_on(dob, local_dates(np.repeat(start, k))) < 18)
    spoken_to = np.where(
        child,
        g.later.choice(np.asarray(["victim", "parent_or_carer", "professional"], dtype=object), len(j)),
        g.later.choice(np.asarray(["victim", "professional"], dtype=object), len(j), p=[0.9, 0.1]),
    ).astype(object)
    g.add(
        "victim_contacts", crime_id=crimes["crime_id"][crime_rep], contact_at=at, contact_type=kinds, contact_with=spoken_to
    )
    # each finalised crime's victim told of the outcome within the hour (Victims' Code, right 6)
    told = idx[crimes["outcome_at"][idx] != NULL_TS]
    g.add(
        "victim_contacts",
        crime_id=crimes["crime_id"][told],
        contact_at=crimes["outcome_at"][told] + g.later.integers(5, 55, len(told)) * (HOUR // 60),
        contact_type=np.full(len(told), "decision_notification", dtype=object),
        contact_with=np.full(len(told), "victim", dtype=object),
    )


def _links(g: _Gen, crime_ids: np.ndarray, source_type: str, source_ids: np.ndarray) -> None:
    g.add(
        "crime_links",
        crime_id=crime_ids,
        source_type=np.full(len(crime_ids), source_type, dtype=object),
        source_id=source_ids,
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
