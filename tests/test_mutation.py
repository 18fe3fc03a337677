"""Mutation testing of the pack (`recordcheck rules mutate`) and of the Python helpers
(`tests/mutation.py`): each mutant is the edit it says, killed mutants are counted, and a
survivor fails the command unless the pack explains it."""

from __future__ import annotations

import ast
import shutil

import pytest
from click.testing import CliRunner

from recordcheck.checks.base.refdata import load_reference
from recordcheck.checks.engine.rules import RULES_DIR, load_pack
from recordcheck.checks.rulechange import ruletest
from recordcheck.checks.rulechange.mutate import mutants_of, mutate_rule
from recordcheck.cli import cli
from tests.conftest import TEST_PACK, TEST_REFERENCE
from tests.mutation import mutants


def _mutate(*args: str):
    return CliRunner().invoke(cli, ["rules", "mutate", *args])


def test_an_and_or_flip_keeps_the_grouping_of_its_operands():
    """`a OR b OR c` parses as `(a OR b) OR c`: flipping the outer OR must give `(a OR b) AND c`,
    not `a OR (b AND c)`, which printed without brackets would be (found: a false survivor)."""
    found = {m.description: m.sql for m in mutants_of("SELECT * FROM t WHERE a = 1 OR b = 2 OR c = 3", "X", "breaches")}
    outer = [sql for description, sql in found.items() if description.startswith("Or -> And in a = 1 OR b = 2 OR c = 3")]
    assert outer == ["SELECT * FROM t WHERE (a = 1 OR b = 2) AND c = 3"]
    assert "SELECT * FROM t WHERE a = 1 OR b = 2 OR c <> 3" in found.values()  # EQ -> NEQ
    assert "SELECT * FROM t WHERE a = 1 OR b = 2 OR c = 4" in found.values()  # 3 -> 4


@pytest.mark.slow  # runs the rule's cases once per mutant
def test_every_mutant_of_a_well_tested_rule_is_killed():
    result = _mutate("out001", "cnt001")
    assert result.exit_code == 0, result.output
    assert "OUT001: 8 of 8 mutants killed (100%); 0 survivor(s) explained, 0 not; 0 invalid" in result.output
    assert "CNT001: 14 of 14 mutants killed (100%)" in result.output


@pytest.mark.slow  # runs the rule's cases once per mutant, twice
def test_mutants_judged_side_by_side_give_the_same_outcomes_in_the_same_order():
    """`rules mutate` judges mutants on as many workers as cores (case_workers): each outcome is
    its own mutant's, in the order the mutants are made, as one at a time."""
    pack, reference = load_pack(TEST_PACK), load_reference(TEST_REFERENCE)
    rule = pack.get("OUT001")
    alone = mutate_rule(pack, reference, rule)
    assert mutate_rule(pack, reference, rule, workers=3) == alone
    assert [o.mutant.part for o in alone] == sorted((o.mutant.part for o in alone), reverse=True)  # population first
    assert len(alone) == 8 and {o.status for o in alone} == {"killed"}


def test_cases_and_mutants_run_on_one_worker_a_core_at_most_four(monkeypatch):
    monkeypatch.setattr(ruletest.os, "sched_getaffinity", lambda _: set(range(16)), raising=False)
    assert ruletest.case_workers() == ruletest.MOST_CASE_WORKERS == 4
    monkeypatch.setattr(ruletest.os, "sched_getaffinity", lambda _: {0}, raising=False)
    assert ruletest.case_workers() == 1
    monkeypatch.delattr(ruletest.os, "sched_getaffinity", raising=False)  # not Linux
    monkeypatch.setattr(ruletest.os, "cpu_count", lambda: None)
    assert ruletest.case_workers() == 1


@pytest.mark.slow  # runs the rule's cases once per mutant
def test_a_survivor_fails_the_command_until_a_case_kills_it_or_the_pack_explains_it(tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES_DIR, rules)
    cnt001 = rules / "counting" / "CNT001.yaml"
    cnt001.write_text(cnt001.read_text().replace("    population: [R1, R2, R3, I1]\n", ""))  # the case that kills them
    unexplained = _mutate("cnt001", "--rules", str(rules), "--show", "1")
    assert unexplained.exit_code == 1
    assert "CNT001: 12 of 14 mutants killed (86%); 0 survivor(s) explained, 2 not" in unexplained.output
    assert unexplained.output.count("  survived  population: ") == 1  # --show 1
    (rules / "mutants.yaml").write_text(
        'CNT001:\n  "population: GT -> GTE in victim_count > 1": planted\n  "population: 1 -> 0": planted\n'
    )
    explained = _mutate("cnt001", "--rules", str(rules))
    assert explained.exit_code == 0, explained.output
    assert "2 survivor(s) explained, 0 not" in explained.output


def test_the_python_mutator_makes_each_change_once():
    tree = ast.parse('def f(a, b):\n    """1 > 2"""\n    return max(a + 1, b) if not a > b else 0\n')
    described = [d for d, _ in mutants(tree)]
    assert {
        "line 3: Gt -> GtE",
        "line 3: Gt -> Lt",
        "line 3: Add -> Sub",
        "line 3: not dropped",
        "line 3: max -> min",
        "line 3: 1 -> 2",
        "line 3: 0 -> -1",
    } <= set(described)
    assert not [d for d in described if d.startswith("line 2")]  # the docstring is not code
    flipped = dict(mutants(tree))["line 3: max -> min"]
    assert "min(a + 1, b)" in ast.unparse(flipped) and "max(" not in ast.unparse(flipped)
