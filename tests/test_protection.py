"""Victims in public protection measured apart (children by age band at the report, vulnerable
adults, child sexual exploitation), the people referrals are about, and the CSE conversion rate:
each figure against a count made by hand from the rows below."""

from __future__ import annotations

import pytest

from recordcheck.checks.engine.engine import run_pack
from recordcheck.checks.engine.rules import RuleCase
from recordcheck.checks.rulechange.ruletest import case_tables
from recordcheck.reports.context import Rate
from recordcheck.reports.disclosure import _victim_groups
from recordcheck.reports.figures import Grading, conversion_rates, measure_frame, victim_rows
from tests.conftest import AS_OF, night_of

CHILD = "2016-05-01"  # 9 at the report (March 2026)
TEEN = "2011-06-01"  # 14
SIXTEEN = "2009-06-01"  # 16
ADULT = "1980-01-01"


def _ref(rid: str, dob: str | None, decision: str = "crime_recorded", **kw: object) -> dict[str, object]:
    row: dict[str, object] = {"referral_id": rid, "disclosed_offence_code": "8N", "decision": decision}
    if dob is not None:
        row["subject_dob"] = dob
    return {**row, **kw}


GIVEN = {
    "referrals": [
        # under 13: two recorded (R1, R2), one closed for a reason the rules refuse (R3)
        _ref("R1", CHILD, subject_person_id="P1"),
        _ref("R2", CHILD, subject_person_id="P2", concern_type="cse"),
        _ref("R3", CHILD, "crime_related_incident", no_crime_reason="victim_declined", subject_person_id="P1"),
        # 13 to 15: one recorded, a CSE concern with no crime and nothing disclosed (not due)
        _ref("R4", TEEN, subject_person_id="P4"),
        _ref("R5", TEEN, "no_offence_disclosed", disclosed_offence_code=None, concern_type="cse", subject_person_id="P5"),
        # 16 at the report: one recorded
        _ref("R6", SIXTEEN),
        # 17 at the offence, 18 at the report: an adult, not a child (judged at the report)
        _ref("R7", "2008-03-01", offence_date="2026-02-01", received_at="2026-03-02T10:00:00"),
        # a vulnerable adult whose report was closed as declined: unrecorded
        _ref("R8", ADULT, "crime_related_incident", no_crime_reason="victim_declined", subject_vulnerable=True),
        # age unknown
        _ref("R9", None),
    ],
    "incidents": [
        # a child by flag only, recorded
        {"incident_id": "I1", "reported_offence_code": "8N", "closure_class": "crime", "child_victim": True},
    ],
    "crimes": [{"crime_id": f"C{i}", "offence_code": "8N", "cse_flag": i == 4} for i in (1, 2, 4, 6, 7, 9, 10)],
    "crime_links": [
        {"crime_id": "C1", "source_id": "R1"},
        {"crime_id": "C2", "source_id": "R2"},
        {"crime_id": "C4", "source_id": "R4"},
        {"crime_id": "C6", "source_id": "R6"},
        {"crime_id": "C7", "source_id": "R7"},
        {"crime_id": "C9", "source_id": "R9"},
        {"crime_id": "C10", "source_type": "incident", "source_id": "I1"},
    ],
}


@pytest.fixture(scope="module")
def night(pack, reference):
    return night_of(pack, reference, GIVEN, "protection")


@pytest.mark.slow
def test_victim_groups_in_the_headline_by_hand(night):
    _, headline = night
    groups = {g["group"]: (g["compliant"], g["total"]) for g in headline["groups"]}
    # children: R1, R2, R4, R6 and I1 recorded; R3 unrecorded. R5 disclosed nothing; R7 is an adult at the report
    assert groups["children"] == (5, 6)
    assert groups["child under 13"] == (2, 3)
    assert groups["child 13 to 15"] == (1, 1)
    assert groups["child 16 to 17"] == (1, 1)
    assert groups["child, age unknown"] == (1, 1)
    assert groups["vulnerable_adults"] == (0, 1)
    # CSE: R2 (concern), R4 (its crime C4 is flagged); R5 is CSE but was not due to be recorded
    assert groups["cse"] == (2, 2)
    # the bands add up to the children
    bands = [groups[b] for b in ("child under 13", "child 13 to 15", "child 16 to 17", "child, age unknown")]
    assert tuple(map(sum, zip(*bands, strict=True))) == groups["children"]


def test_people_not_referrals_and_the_cse_conversion_rate(night):
    result, _ = night
    subjects = result.measures["referral_subjects"][0]
    # nine referrals; five name their person (P1 twice); P1, P2, P4, P5 were children at a referral
    assert subjects == {"referrals": 9, "with_subject": 5, "subjects": 4, "child_subjects": 4, "repeat_subjects": 1}
    protection = measure_frame(result.measures, "protection")
    grading = Grading([], 30)
    # CSE referrals: R2 (crime C2), R4 (its crime flagged CSE), R5 (no crime): 2 of 3 led to a crime
    rates = conversion_rates(protection, grading)
    assert [(r.label, r.compliant, r.total) for r in rates] == [("Sheffield", 2, 3), ("all districts", 2, 3)]
    rows = {r.label: (r.referrals, r.crimes_due, r.crimes_recorded) for r in victim_rows(protection, grading)}
    assert rows["child under 13"] == (3, 3, 2)
    assert rows["vulnerable adult"] == (1, 1, 0)
    assert rows["adult"] == (1, 1, 1)  # R7: 17 at the offence, an adult at the report


def test_a_crimes_victim_group_is_taken_at_its_first_report(pack, reference):
    """C1's victim was 17 at the offence and when the referral came in; 18 by the crime's own
    reported_at. Its group is the child's, from the first report."""
    given = {
        "referrals": [_ref("R1", "2008-03-10", received_at="2026-03-01T10:00:00")],
        "crimes": [
            {
                "crime_id": "C1",
                "offence_code": "8N",
                "victim_dob": "2008-03-10",
                "reported_at": "2026-03-12T10:00:00",
                "recorded_at": "2026-03-12T11:00:00",
            }
        ],
        "crime_links": [{"crime_id": "C1", "source_id": "R1"}],
    }
    tables = case_tables(RuleCase("group", given, (), ()), pack.case_defaults)
    result = run_pack(pack, reference, AS_OF, tables, "t", only=["TIM001"])
    strata = result.results[0].strata["victim_group"]
    assert strata == [{"value": "child 16 to 17", "population": 1, "breaches": 1}]


def _rate(label: str, compliant: int, total: int) -> Rate:
    return Rate(label, compliant, total, compliant / total, 0.0, 1.0, 0.0, "x")


def test_redacted_child_bands_cannot_be_worked_out_from_the_children():
    """One small band alone would be given away by subtraction from the children's total: the
    next band is suppressed with it. Vulnerable adults and CSE stand on their own counts."""
    rates = [
        _rate("child victims", 90, 100),
        _rate("child under 13", 2, 3),
        _rate("child 13 to 15", 40, 45),
        _rate("child 16 to 17", 48, 52),
        _rate("vulnerable adults", 3, 3),
        _rate("child sexual exploitation", 30, 40),
    ]
    shown = {r.label: r.suppressed for r in _victim_groups(rates, 5)}
    assert shown == {
        "child victims": False,
        "child under 13": True,
        "child 13 to 15": False,
        "child 16 to 17": True,  # the next smallest by failures (4 against 5)
        "vulnerable adults": True,
        "child sexual exploitation": False,
    }


def test_coding_completeness_counts_the_reports_the_rules_cannot_judge(night):
    """Of the nine referrals only R5 carries no offence code, and it was closed with no offence
    disclosed; the one incident is coded."""
    result, _ = night
    rows = {r["record_type"]: (r["reports"], r["uncoded"], r["uncoded_closed"]) for r in result.measures["coding"]}
    assert rows == {"referral": (9, 1, 1), "incident": (1, 0, 0)}


def test_a_finding_carries_its_victim_group_and_receiving_unit(pack, reference):
    """The register's stratum columns: a child of 9 at the referral, and the unit that received it."""
    given = {
        "referrals": [
            _ref("R1", CHILD, "no_offence_disclosed", disclosed_offence_code=None, receiving_unit="CSE team"),
            _ref("R2", ADULT, "no_offence_disclosed", disclosed_offence_code=None, supervised_at="2026-03-03T10:00:00"),
        ]
    }
    tables = case_tables(RuleCase("strata", given, (), ()), pack.case_defaults)
    result = run_pack(pack, reference, AS_OF, tables, "t", only=["SUP001"])
    rows = result.register.select("record_id", "victim_group", "receiving_unit").rows()
    assert rows == [("R1", "child under 13", "CSE team")]
    strata = result.results[0].strata
    assert strata["receiving_unit"] == [
        {"value": "(not recorded)", "population": 1, "breaches": 0},
        {"value": "CSE team", "population": 1, "breaches": 1},
    ]
