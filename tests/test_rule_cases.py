"""Every rule's own YAML cases, one pytest item each: `pytest -k REC001` runs one rule."""

from __future__ import annotations

import pytest

from recordcheck.checks.base.refdata import load_reference
from recordcheck.checks.engine.rules import load_pack
from recordcheck.checks.rulechange.ruletest import run_case

PACK = load_pack()
CASES = [(rule, case) for rule in PACK.rules for case in rule.cases]


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}-{c.name}" for r, c in CASES])
def test_rule_case(rule, case, reference):
    outcome = run_case(PACK, reference, rule, case)
    assert outcome.passed, outcome.message


def test_a_limit_override_changes_what_the_rules_find(pack):
    """The rules read their limits from the reference data, so a force's override changes the findings."""
    from recordcheck.checks.engine.engine import run_pack
    from recordcheck.checks.extract.profile import load_profile
    from recordcheck.checks.validation.pipeline import load_extract
    from tests.conftest import AS_OF, ROOT

    default = load_reference()
    longer = load_reference(overrides={"limits": {"victim_update_days": 3650, "recording_hours": 24 * 365}})
    assert (default.limits["victim_update_days"], longer.limits["victim_update_days"]) == (28, 3650)
    loaded = load_extract(ROOT / "sample_data" / "extract", load_profile(), default, AS_OF)
    try:
        before = {r.rule.id: r.breaches for r in run_pack(pack, default, AS_OF, loaded.validation.accepted, "a").results}
        after = {r.rule.id: r.breaches for r in run_pack(pack, longer, AS_OF, loaded.validation.accepted, "b").results}
    finally:
        loaded.close()
    assert before["VIC001"] > 0 and after["VIC001"] == 0
    assert before["TIM001"] > 0 and after["TIM001"] == 0
    assert after["REC001"] <= before["REC001"], "a longer pending limit never finds more"
