"""The headline's denominators count records, not rule populations: a crime judged by two
classification rules is one crime checked. Each figure against a count made by hand."""

from __future__ import annotations

import pytest

from tests.conftest import night_of


@pytest.mark.slow
def test_classification_accuracy_counts_each_crime_once(pack, reference):
    """R1 disclosed rape (19C); its crimes are C1 (19C, a woman of 30) and C2 (8N, the lesser
    crime beside a rape crime: not flagged). R2 disclosed rape and has only C3 (8N, a girl of 12):
    CLS002 flags it. C4 is a 20B (under 13) on a girl of 14: CLS001 flags it. C5 has no date of
    birth nor sex. CLS001 judges the codes with an age or sex (C1, C4); CLS002 the crimes of rape
    reports (C1, C2, C3): C1 is in both. By hand: 4 distinct crimes checked, 2 misclassified
    (C3, C4): 2 of 4, where adding the populations would say 3 of 5."""
    given = {
        "referrals": [
            {"referral_id": "R1", "disclosed_offence_code": "19C"},
            {"referral_id": "R2", "disclosed_offence_code": "19C"},
        ],
        "crimes": [
            {"crime_id": "C1", "offence_code": "19C", "victim_sex": "F", "victim_dob": "1995-06-01"},
            {"crime_id": "C2", "offence_code": "8N", "victim_sex": "F", "victim_dob": "1995-06-01"},
            {"crime_id": "C3", "offence_code": "8N", "victim_sex": "F", "victim_dob": "2013-06-01"},
            {"crime_id": "C4", "offence_code": "20B", "victim_sex": "F", "victim_dob": "2011-06-01"},
            {"crime_id": "C5", "offence_code": "8N"},
        ],
        "crime_links": [
            {"crime_id": "C1", "source_id": "R1"},
            {"crime_id": "C2", "source_id": "R1"},
            {"crime_id": "C3", "source_id": "R2"},
        ],
    }
    result, headline = night_of(pack, reference, given, "overlap")
    by_rule = {r.rule.id: (r.population, r.breaches) for r in result.results}
    assert (by_rule["CLS001"], by_rule["CLS002"]) == ((2, 1), (3, 1))
    classification = headline["classification"]
    assert (classification["compliant"], classification["total"]) == (2, 4)
