"""The headline recording rate in crimes, as HMICFRS counts them: one crime due for each victim of a
report that should have been recorded (one per premises for burglary), and how many of those the
linked crime records count. Every figure is counted by hand from the rows below."""

from __future__ import annotations

import pytest

from recordcheck.checks.engine.headline import rate_phrase
from recordcheck.reports.figures import Grading, measure_frame, pvp_rows
from tests.conftest import night_of

GIVEN = {
    "referrals": [
        # three victims, one crime: 3 due, 1 recorded (CNT001 flags it)
        {"referral_id": "R1", "disclosed_offence_code": "8N", "victim_count": 3},
        # two victims, closed for a reason the rules refuse for a professional's report: 2 due, 0 recorded
        {
            "referral_id": "R2",
            "disclosed_offence_code": "8N",
            "victim_count": 2,
            "decision": "crime_related_incident",
            "no_crime_reason": "victim_declined",
        },
        # two victims, two crimes for the same child: 2 due, 1 recorded
        {"referral_id": "R3", "disclosed_offence_code": "8N", "victim_count": 2},
        # a burglary of one dwelling with three occupants: one crime per premises, 1 due, 1 recorded
        {"referral_id": "R4", "disclosed_offence_code": "28E", "victim_count": 3},
        # one victim, two crimes (two victims' crimes on one report): never more recorded than due
        {"referral_id": "R5", "disclosed_offence_code": "8N"},
        # still pending past the limit: a late decision (REC006), not an unrecorded crime; not due yet
        {"referral_id": "R6", "disclosed_offence_code": "8N", "victim_count": 4, "decision": "pending"},
        # nothing notifiable disclosed: not due
        {"referral_id": "R7", "disclosed_offence_code": None, "decision": "no_offence_disclosed"},
    ],
    "incidents": [
        # two victims, two crimes with no victim id (each counts one): 2 due, 2 recorded
        {"incident_id": "I1", "reported_offence_code": "8N", "closure_class": "crime", "victim_count": 2},
    ],
    "crimes": [
        {"crime_id": "C1", "victim_person_id": "P1"},
        {"crime_id": "C3", "victim_person_id": "P3"},
        {"crime_id": "C4", "victim_person_id": "P3"},
        {"crime_id": "C5", "offence_code": "28E", "victim_person_id": "P5"},
        {"crime_id": "C6", "victim_person_id": "P6"},
        {"crime_id": "C7", "victim_person_id": "P7"},
        {"crime_id": "C8"},
        {"crime_id": "C9"},
    ],
    "crime_links": [
        {"crime_id": "C1", "source_id": "R1"},
        {"crime_id": "C3", "source_id": "R3"},
        {"crime_id": "C4", "source_id": "R3"},
        {"crime_id": "C5", "source_id": "R4"},
        {"crime_id": "C6", "source_id": "R5"},
        {"crime_id": "C7", "source_id": "R5"},
        {"crime_id": "C8", "source_type": "incident", "source_id": "I1"},
        {"crime_id": "C9", "source_type": "incident", "source_id": "I1"},
    ],
}


@pytest.fixture(scope="module")
def night(pack, reference):
    return night_of(pack, reference, GIVEN, "crimes due")


@pytest.mark.slow
def test_the_findings_behind_the_rate(night):
    result, _ = night
    kinds = {(row["rule_id"], row["record_id"]) for row in result.register.iter_rows(named=True)}
    assert {("CNT001", "R1"), ("CNT001", "R3"), ("REC001", "R2"), ("REC006", "R6")} <= kinds
    assert not {k for k in kinds if k[1] in ("R4", "R5", "R7", "I1") and k[0].startswith(("REC", "CNT"))}


def test_the_headline_counts_crimes_due_and_recorded_by_hand(night):
    _, headline = night
    # due: R1 3 + R2 2 + R3 2 + R4 1 + R5 1 + I1 2 = 11; recorded: 1 + 0 + 1 + 1 + 1 + 2 = 6
    crimes = headline["recording"]
    assert (crimes["compliant"], crimes["total"], crimes["unit"]) == (6, 11, "crimes")
    # in reports: R1, R3, R4, R5 and I1 have a crime; R2 is unrecorded; R6 and R7 are not judged
    reports = headline["recording_reports"]
    assert (reports["compliant"], reports["total"]) == (5, 6)
    assert rate_phrase(crimes, counts=True).endswith("; 6 of 11 crimes)")


def test_the_victim_groups_and_pvp_tables_count_crimes_too(night):
    result, headline = night
    # every report here is an age-unknown adult's; the groups add nothing the headline lacks
    assert sum(g["total"] for g in headline["groups"] if g["group"] in ("children", "vulnerable_adults")) == 0
    rows = pvp_rows(measure_frame(result.measures, "reports"), result.register.head(0), "district", Grading([], 30))
    # the referrals are all professional third parties' in Sheffield: R1, R2, R3, R4, R5 (9 due, 4 recorded)
    assert [(r.label, r.referrals, r.crimes_due, r.crimes_recorded) for r in rows] == [("Sheffield", 7, 9, 4)]
