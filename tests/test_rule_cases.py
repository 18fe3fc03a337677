"""Every rule's own YAML cases, one pytest item each: `pytest -k REC001` runs one rule."""

from __future__ import annotations

import pytest

from recordcheck.checks.refdata import load_reference
from recordcheck.checks.rules import load_pack
from recordcheck.checks.ruletest import run_case

PACK = load_pack()
CASES = [(rule, case) for rule in PACK.rules for case in rule.cases]


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}-{c.name}" for r, c in CASES])
def test_rule_case(rule, case, reference):
    outcome = run_case(PACK, reference, rule, case)
    assert outcome.passed, outcome.message


def test_reference_fixture_matches_pack_defaults():
    assert load_reference().limits["recording_hours"] == 24
