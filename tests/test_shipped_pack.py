"""The shipped pack (rules/) tested as itself: every rule's own YAML cases, one pytest item each
(`pytest -k REC001` runs one rule), and the approved snapshot of its findings on the sample. These
are the only tests that read rules/: every other test runs the frozen copy in tests/frozen/, so a
force that edits its pack in place sees its own cases and snapshot speak, not the engine's tests."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recordcheck.checks.base.refdata import load_reference
from recordcheck.checks.base.resources import RULES_DIR
from recordcheck.checks.engine.rules import load_pack
from recordcheck.checks.rulechange.ruletest import run_case
from recordcheck.checks.rulechange.snapshot import SNAPSHOT_DIR

PACK = load_pack(RULES_DIR)
REFERENCE = load_reference(PACK.reference_dir)
CASES = [(rule, case) for rule in PACK.rules for case in rule.cases]


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.id}-{c.name}" for r, c in CASES])
def test_rule_case(rule, case):
    outcome = run_case(PACK, REFERENCE, rule, case)
    assert outcome.passed, outcome.message


def test_the_shipped_lexicons_sentence_cases_pass():
    """The narrative screen's lexicons in rules/lexicons/, each group's sentences that must and
    must not be flagged (`recordcheck rules test` runs them too)."""
    from recordcheck.checks.narrative.cases import run_sentence_cases
    from recordcheck.checks.narrative.lexicon import load_lexicons

    lexicons = load_lexicons(RULES_DIR / "lexicons")
    assert lexicons is not None
    failed = [o.message for o in run_sentence_cases(lexicons) if not o.passed]
    assert not failed, "\n".join(failed)


@pytest.mark.slow
def test_the_approved_snapshot_is_what_the_shipped_pack_finds(tmp_path):
    """sample_data/expected holds the shipped pack's findings on the sample, approved at its version."""
    import shutil

    from recordcheck.cli import cli

    snapshot = tmp_path / "expected"
    shutil.copytree(SNAPSHOT_DIR, snapshot)
    result = CliRunner().invoke(cli, ["rules", "approve", "--rules", str(RULES_DIR), "--snapshot", str(snapshot)])
    assert result.exit_code == 0, result.output
    assert (snapshot / "findings.csv").read_text() == (SNAPSHOT_DIR / "findings.csv").read_text(), (
        "the shipped pack's findings differ from sample_data/expected: review them with recordcheck rules diff, "
        "then recordcheck rules approve"
    )
