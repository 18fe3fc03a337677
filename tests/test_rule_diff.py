"""Reviewing a rule change: `rules diff`, the approved findings snapshot, and pack versions."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.base.refdata import load_reference
from recordcheck.checks.engine import engine
from recordcheck.checks.engine.rules import load_pack
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.rulechange.diff import compare_results, diff_packs, unchanged_rules
from recordcheck.checks.rulechange.snapshot import (
    approve,
    bump_is_enough,
    file_hash,
    read_approval,
    read_findings,
    required_bump,
)
from recordcheck.checks.validation.pipeline import load_extract
from recordcheck.checks.validation.runners import make_runner
from recordcheck.cli import cli
from tests.conftest import AS_OF, AS_OF_TEXT, ROOT, TEST_PACK, TEST_SNAPSHOT

KEYS = ["rule_id", "record_type", "record_id"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _pack_copy(tmp_path: Path, name: str = "pack") -> Path:
    folder = tmp_path / name
    shutil.copytree(TEST_PACK, folder)
    return folder


def _set_limit(pack: Path, key: str, value: int) -> None:
    path = pack / "reference" / "limits.yaml"
    text = path.read_text()
    lines, skipping = [], False
    for line in text.splitlines():
        if skipping and line.startswith("  - "):  # the dated values of the limit being replaced
            continue
        skipping = line.startswith(f"{key}:")
        lines.append(f"{key}: {value}" if skipping else line)
    assert lines != text.splitlines(), f"{key} not in limits.yaml"
    path.write_text("\n".join(lines) + "\n")


def _findings(out: Path) -> pl.DataFrame:
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
    return register.filter(pl.col("rule_id") != "QUARANTINE").select(KEYS).unique()


def _diff_json(extract: Path, base: str, rules: Path | None = None) -> tuple[int, dict]:
    args = ["rules", "diff", str(extract), "--base", base, "--as-of", AS_OF_TEXT, "--format", "json"]
    if rules is not None:
        args += ["--rules", str(rules)]
    result = invoke(*args)
    return result.exit_code, json.loads(result.output)


@pytest.mark.slow
def test_rules_folder_brings_its_own_reference_data(small_extract, tmp_path):
    """Defect: --rules DIR ignored DIR/reference; a limit changed there must change the findings."""
    pack = _pack_copy(tmp_path)
    _set_limit(pack, "recording_hours", 72)
    invoke("run", str(small_extract), "--out", str(tmp_path / "a"), "--as-of", AS_OF_TEXT)
    invoke("run", str(small_extract), "--out", str(tmp_path / "b"), "--as-of", AS_OF_TEXT, "--rules", str(pack))
    late = [_findings(tmp_path / out).filter(pl.col("rule_id") == "TIM001").height for out in ("a", "b")]
    assert late[0] > late[1]


def test_pack_hash_covers_reference_data_and_suites(tmp_path):
    pack = _pack_copy(tmp_path)
    before = load_pack(pack).digest
    _set_limit(pack, "victim_update_days", 29)
    after = load_pack(pack).digest
    suite = pack / "expectations" / "crimes.json"
    suite.write_text(suite.read_text() + " ")
    assert len({before, after, load_pack(pack).digest}) == 3


@pytest.mark.slow
def test_limit_change_diff_matches_two_full_runs(small_extract, tmp_path):
    pack = _pack_copy(tmp_path)
    _set_limit(pack, "recording_hours", 72)
    _set_limit(pack, "pending_hours", 48)
    code, diff = _diff_json(small_extract, str(TEST_PACK), pack)
    assert code == ExitCode.FINDINGS_CHANGED
    # the independent count: two whole runs, one with each pack, compared row by row
    invoke("run", str(small_extract), "--out", str(tmp_path / "base"), "--as-of", AS_OF_TEXT)
    invoke("run", str(small_extract), "--out", str(tmp_path / "new"), "--as-of", AS_OF_TEXT, "--rules", str(pack))
    base, new = _findings(tmp_path / "base"), _findings(tmp_path / "new")
    added, removed = new.join(base, on=KEYS, how="anti"), base.join(new, on=KEYS, how="anti")
    assert added.height + removed.height > 0
    for rule in diff["rules"]:
        assert rule["added"] == added.filter(pl.col("rule_id") == rule["rule_id"]).height, rule
        assert rule["removed"] == removed.filter(pl.col("rule_id") == rule["rule_id"]).height, rule
        moved = rule["added"] or rule["removed"] or rule["population"] != rule["population_base"]
        assert rule["status"] == ("changed" if moved or rule["changed"] or rule["title"] else "unchanged")
        assert (
            sorted(rule["examples"]["removed"])
            == sorted(removed.filter(pl.col("rule_id") == rule["rule_id"])["record_id"])[:5]
        )
    changes = {(c["file"], c["key"]): (c["old"], c["new"]) for c in diff["reference_changes"]}
    assert changes == {
        ("limits.yaml", "recording_hours"): ("72 until 2015-04-01; 24 from 2015-04-01", 72.0),
        ("limits.yaml", "pending_hours"): (24.0, 48.0),
    }


@pytest.mark.slow
def test_unchanged_pack_exits_zero(tmp_path):
    code, diff = _diff_json(ROOT / "sample_data" / "extract", str(_pack_copy(tmp_path)))
    assert code == ExitCode.SUCCESS
    assert {r["status"] for r in diff["rules"]} == {"unchanged"} and diff["reference_changes"] == []


@pytest.mark.slow
def test_rule_removed_and_rule_added(tmp_path):
    pack = _pack_copy(tmp_path)
    (pack / "outcomes" / "OUT001.yaml").unlink()
    text = (pack / "cancellation" / "CAN002.yaml").read_text()
    (pack / "cancellation" / "CAN003.yaml").write_text(
        text.replace("CAN002", "CAN003").replace("name: cancellation.", "name: cancellation.copy_")
    )
    code, diff = _diff_json(ROOT / "sample_data" / "extract", str(TEST_PACK), pack)
    rules = {r["rule_id"]: r for r in diff["rules"]}
    assert code == ExitCode.FINDINGS_CHANGED
    assert (
        rules["OUT001"]["status"] == "removed" and rules["OUT001"]["removed"] > 0 and rules["OUT001"]["population"] is None
    )
    assert rules["CAN003"]["status"] == "added" and rules["CAN003"]["added"] == rules["CAN002"]["unchanged"] > 0
    assert rules["CAN002"]["status"] == "unchanged"


@pytest.mark.slow
def test_base_from_a_git_revision(tmp_path):
    repo = tmp_path / "force-rules"
    shutil.copytree(TEST_PACK, repo / "rules")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "pack"], check=True)
    _set_limit(repo / "rules", "recording_hours", 72)  # the working copy differs from HEAD
    code, diff = _diff_json(ROOT / "sample_data" / "extract", "git:HEAD", repo / "rules")
    assert code == ExitCode.FINDINGS_CHANGED
    assert {r["rule_id"] for r in diff["rules"] if r["status"] == "changed"} == {"TIM001"}
    bad = invoke(
        "rules", "diff", str(ROOT / "sample_data" / "extract"), "--base", "git:no-such-ref", "--rules", str(repo / "rules")
    )
    assert bad.exit_code == ExitCode.USAGE_ERROR and "git:no-such-ref: no such revision" in bad.output
    # a ref that git would read as an option never reaches git as one: the file is left as it was
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    for hostile in (f"--output={victim}", "--list", "--remote=origin", "-h"):
        refused = invoke(
            "rules",
            "diff",
            str(ROOT / "sample_data" / "extract"),
            "--base",
            f"git:{hostile}",
            "--rules",
            str(repo / "rules"),
        )
        assert refused.exit_code == ExitCode.USAGE_ERROR and "is not a revision" in refused.output, hostile
    assert victim.read_text() == "keep me"


@pytest.mark.slow
def test_markdown_puts_changed_rules_in_a_table_and_folds_the_rest(tmp_path):
    """Issue 27: a header (extract, rows, as-of, the step needed), changed rules first with their
    examples folded, the unchanged folded, values as written in the YAML (72, not 72.0)."""
    pack = _pack_copy(tmp_path)
    _set_limit(pack, "recording_hours", 72)
    _set_limit(pack, "pending_hours", 48)
    result = invoke(
        "rules",
        "diff",
        str(ROOT / "sample_data" / "extract"),
        "--base",
        str(TEST_PACK),
        "--rules",
        str(pack),
        "--as-of",
        AS_OF_TEXT,
        "--format",
        "md",
    )
    assert result.exit_code == ExitCode.FINDINGS_CHANGED
    text = result.output
    assert "- Extract " in text and "(49,127 rows), as of 2026-04-01T00:00:00Z" in text
    assert "- Version step this change needs: major" in text
    rows = [line for line in text.splitlines() if line.startswith("|")]
    header, rule, *body = rows
    assert header.startswith("| rule | status |") and set(rule.replace("|", "").replace(":", "")) == {"-"}
    changed = [line for line in body if line.count("|") == header.count("|")]
    assert changed and all(" changed " in line for line in changed)
    folded = re.search(r"<details><summary>(\d+) rule\(s\) unchanged</summary>", text)
    assert folded and int(folded.group(1)) + len(changed) == len(load_pack(TEST_PACK).rules)
    assert "| limits.yaml | pending_hours | 24 | 48 |" in text


@pytest.mark.slow
def test_findings_on_the_sample_match_the_approved_snapshot(pack, reference):
    """A change to the pack that moves a finding on the sample must be approved (`rules approve`)."""
    from recordcheck.checks.rulechange.snapshot import findings_of

    loaded = load_extract(ROOT / "sample_data" / "extract", load_profile(), reference, AS_OF)
    current = findings_of(engine.run_pack(pack, reference, AS_OF, loaded.validation.accepted, "t").register)
    approved = read_findings()
    added = current.join(approved, on=KEYS, how="anti")
    removed = approved.join(current, on=KEYS, how="anti")
    assert added.height == 0 and removed.height == 0, (
        f"findings on the sample changed: +{added.height} {added.rows()[:5]} -{removed.height} {removed.rows()[:5]}; "
        "read `recordcheck rules diff sample_data/extract --base git:HEAD`, then `recordcheck rules approve`"
    )
    assert current.equals(approved)


def test_snapshot_was_approved_at_the_current_pack_version(pack):
    approval = read_approval()
    assert approval is not None
    assert approval.pack_version == pack.version, "the pack's version moved without `rules approve`"
    assert approval.sha256 == file_hash() and approval.findings == read_findings().height, "findings.csv was edited by hand"


@pytest.mark.parametrize(
    ("old", "new", "bump", "ok"),
    [
        ("1.0.0", "1.0.0", None, True),
        ("1.0.0", "1.0.1", None, True),
        ("1.0.0", "1.0.1", "minor", False),
        ("1.0.0", "1.1.0", "minor", True),
        ("1.4.2", "2.0.0", "minor", True),
        ("1.0.0", "1.1.0", "major", False),
        ("1.9.9", "2.0.0", "major", True),
    ],
)
def test_version_bump_rule(old, new, bump, ok):
    assert bump_is_enough(old, new, bump) is ok


def test_approve_refuses_a_change_without_the_version_it_needs(tmp_path):
    snapshot = tmp_path / "expected"
    shutil.copytree(TEST_SNAPSHOT, snapshot)
    approved = read_findings(snapshot)
    fewer, more = (
        approved.head(approved.height - 1),
        pl.concat([approved, approved.head(1).with_columns(pl.lit("X1").alias("record_id"))]),
    )
    assert required_bump(approved, fewer) == "major" and required_bump(approved, more) == "minor"
    assert required_bump(approved, approved) is None
    version = read_approval(snapshot).pack_version  # the bundled approval these versions follow
    major, minor, _ = (int(part) for part in version.split("."))
    with pytest.raises(ConfigError, match=rf"findings were removed .* set the pack's version to {major + 1}\.0\.0"):
        approve(fewer, version, False, snapshot)
    with pytest.raises(ConfigError, match=rf"findings were added .* set the pack's version to {major}\.{minor + 1}\.0"):
        approve(more, version, False, snapshot)
    assert "findings added" in approve(more, f"{major}.{minor + 1}.0", False, snapshot)
    assert read_approval(snapshot).pack_version == f"{major}.{minor + 1}.0"
    assert read_findings(snapshot).height == approved.height + 1


@pytest.mark.slow
def test_examples_option_caps_the_examples(small_extract, tmp_path):
    pack = _pack_copy(tmp_path)
    _set_limit(pack, "recording_hours", 72)
    args = ["rules", "diff", str(small_extract), "--base", str(TEST_PACK), "--rules", str(pack), "--as-of", AS_OF_TEXT]
    one = json.loads(invoke(*args, "--format", "json", "--examples", "1").output)
    tim = next(r for r in one["rules"] if r["rule_id"] == "TIM001")
    assert tim["removed"] > 1 and len(tim["examples"]["removed"]) == 1
    none = invoke(*args, "--examples", "0").output
    assert "TIM001  changed" in none and "    - " not in none


@pytest.mark.slow
def test_approve_command_writes_the_snapshot_of_the_sample(tmp_path):
    snapshot = tmp_path / "expected"
    result = invoke("rules", "approve", "--snapshot", str(snapshot))
    assert result.exit_code == 0 and "first approval" in result.output
    assert (snapshot / "findings.csv").read_text() == (TEST_SNAPSHOT / "findings.csv").read_text()
    assert read_approval(snapshot).pack_version == load_pack(TEST_PACK).version
    again = invoke("rules", "approve", "--snapshot", str(snapshot))
    assert again.exit_code == 0 and "no finding added or removed" in again.output


def test_rule_ids_in_any_case_for_test_and_explain():
    assert invoke("rules", "test", "tim001").output.strip().endswith("passed, 0 failed")
    assert invoke("rules", "explain", "vic001").exit_code == 0


@pytest.mark.slow
def test_a_base_pack_of_another_version_runs_and_catalogue_changes_show_field_by_field(small_extract, tmp_path):
    """The base pack holds a reference key this version does not know (as 1.0.5's
    sexual_offence_roles was), and codes that differ in one field, or exist on one side only."""
    base = _pack_copy(tmp_path, "base")
    authority = base / "reference" / "cancellation_authority.yaml"
    authority.write_text(authority.read_text() + "retired_roles: [inspector]\n")
    catalogue = base / "reference" / "offence_catalogue.csv"
    text = catalogue.read_text()
    row = next(line for line in text.splitlines() if line.startswith("88E,"))
    assert ",true,false," in row
    text = text.replace(row, row.replace(",true,false,", ",false,false,", 1))
    text = "\n".join(line for line in text.splitlines() if not line.startswith("8U,")) + "\n"
    catalogue.write_text(text)
    code, diff = _diff_json(small_extract, str(base))
    changes = {(c["file"], c["key"]): (c["old"], c["new"]) for c in diff["reference_changes"]}
    assert changes[("cancellation_authority.yaml", "retired_roles")] == (["inspector"], None)
    assert changes[("offence_catalogue.csv", "88E.sexual_offence")] == (False, True)
    assert changes[("offence_catalogue.csv", "8U")][0] is None
    assert changes[("offence_catalogue.csv", "8U")][1]["title"].startswith("Controlling or coercive behaviour")
    assert not [key for key in changes if key[1].startswith("88E.") and key[1] != "88E.sexual_offence"]


@pytest.mark.slow
def test_a_severity_or_detail_change_is_reported_and_needs_approval(tmp_path):
    """Issue 27: a severity-only change (TIM001 medium to high) and a detail-only change (its
    sentence reworded) were each "no finding changed". Each is now shown per rule with examples,
    exits 4, and `rules approve` takes it only at the version it needs: minor for a severity, a
    patch for wording; --check-version refuses a version or changelog that does not fit."""
    sample = ROOT / "sample_data" / "extract"
    severity = _pack_copy(tmp_path, "severity")
    tim = severity / "timeliness" / "TIM001.yaml"
    tim.write_text(tim.read_text().replace("severity: medium", "severity: high", 1))
    code, diff = _diff_json(sample, str(TEST_PACK), severity)
    assert code == ExitCode.FINDINGS_CHANGED and diff["findings_changed"] and diff["bump_needed"] == "minor"
    rule = next(r for r in diff["rules"] if r["rule_id"] == "TIM001")
    assert rule["status"] == "changed" and rule["changed"] == {"severity": 3} and rule["added"] == rule["removed"] == 0
    text = invoke("rules", "diff", str(sample), "--base", str(TEST_PACK), "--rules", str(severity), "--as-of", AS_OF_TEXT)
    assert "TIM001  changed    +0 -0 =3  population same  (severity of 3 changed)" in text.output
    assert re.search(r"    ~ CR\d+: \[medium\] Crime .* → \[high\] Crime ", text.output)

    wording = _pack_copy(tmp_path, "wording")
    tim = wording / "timeliness" / "TIM001.yaml"
    tim.write_text(tim.read_text().replace("(limit then {limit_hours} hours)", "(the limit was {limit_hours} hours)"))
    code, diff = _diff_json(sample, str(TEST_PACK), wording)
    rule = next(r for r in diff["rules"] if r["rule_id"] == "TIM001")
    assert code == ExitCode.FINDINGS_CHANGED and rule["changed"] == {"detail": 3} and diff["bump_needed"] == "patch"

    # approval: the snapshot of the bundled pack, then each change at the version it needs
    snapshot = tmp_path / "expected"
    shutil.copytree(TEST_SNAPSHOT, snapshot)
    version = read_approval(snapshot).pack_version
    major, minor, _ = (int(part) for part in version.split("."))
    refused = invoke("rules", "approve", "--rules", str(severity), "--snapshot", str(snapshot))
    assert refused.exit_code == ExitCode.USAGE_ERROR
    assert f"findings were added or a severity changed on the sample: set the pack's version to {major}.{minor + 1}.0" in (
        refused.output
    )
    taken = invoke("rules", "approve", "--rules", str(wording), "--snapshot", str(snapshot))
    assert taken.exit_code == 0 and "detail of 3 changed" in taken.output, taken.output
    assert read_findings(snapshot).filter(pl.col("detail").str.contains("the limit was")).height == 3

    # --check-version: the version step and the changelog entry, against the base
    args = ["rules", "diff", str(sample), "--base", str(TEST_PACK), "--as-of", AS_OF_TEXT, "--check-version"]
    short = invoke(*args, "--rules", str(severity))
    assert short.exit_code == ExitCode.USAGE_ERROR
    assert (
        f"the change needs a minor version step: set pack.yaml's version to {major}.{minor + 1}.0 or later" in short.output
    )
    bumped = severity / "pack.yaml"
    bumped.write_text(bumped.read_text().replace(f'version: "{version}"', f'version: "{major}.{minor + 1}.0"'))
    no_entry = invoke(*args, "--rules", str(severity))
    assert no_entry.exit_code == ExitCode.USAGE_ERROR
    assert f"rules/CHANGELOG.md has no entry for {major}.{minor + 1}.0" in no_entry.output
    changelog = severity / "CHANGELOG.md"
    changelog.write_text(changelog.read_text() + f"\n## {major}.{minor + 1}.0 (2026-12-05)\n\nTIM001 is high.\n")
    assert invoke(*args, "--rules", str(severity)).exit_code == ExitCode.FINDINGS_CHANGED
    assert invoke(*args, "--rules", str(wording)).exit_code == ExitCode.FINDINGS_CHANGED, "a patch at the same version"


@pytest.mark.slow
def test_approve_reads_the_config_it_is_given(tmp_path):
    """`rules approve --config`: a force's overrides reach the findings approved. A 72-hour
    recording limit removes TIM001's findings, so approval at the same version is refused."""
    snapshot = tmp_path / "expected"
    shutil.copytree(TEST_SNAPSHOT, snapshot)
    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nreference:\n  limits:\n    recording_hours: 72\n", encoding="utf-8")
    refused = invoke("rules", "approve", "--snapshot", str(snapshot), "--config", str(config))
    assert refused.exit_code == ExitCode.USAGE_ERROR and "findings were removed" in refused.output, refused.output
    assert invoke("rules", "approve", "--snapshot", str(snapshot)).exit_code == 0, "without it, nothing moved"


def test_a_rule_the_change_leaves_alone_is_reused_and_anything_it_reads_runs_it_again(tmp_path, monkeypatch):
    """`rules diff` runs a rule once when neither it nor anything it reads changed; the diff is
    the one two whole runs give. A change to a macro, a view, a lexicon or any reference file
    (outcome lists too, which the reference changes listed do not show) runs every rule again."""
    base_pack, base_reference = load_pack(TEST_PACK), load_reference(TEST_PACK / "reference")
    severity = _pack_copy(tmp_path, "severity")
    tim = severity / "timeliness" / "TIM001.yaml"
    tim.write_text(tim.read_text().replace("severity: medium", "severity: high", 1))
    new_pack, new_reference = load_pack(severity), load_reference(severity / "reference")
    everything = {rule.id for rule in base_pack.rules}
    assert unchanged_rules(base_pack, base_reference, new_pack, new_reference) == everything - {"TIM001"}

    ran: list[str] = []
    run_rule = engine.RuleEngine.run_rule

    def counted(self, rule, *args, **kwargs):
        ran.append(rule.id)
        return run_rule(self, rule, *args, **kwargs)

    monkeypatch.setattr(engine.RuleEngine, "run_rule", counted)
    loaded = load_extract(ROOT / "sample_data" / "extract", load_profile(), base_reference, AS_OF, make_runner())
    try:
        tables = loaded.validation.accepted
        reused = diff_packs(tables, AS_OF, base_pack, base_reference, new_pack, new_reference)
        assert sorted(ran) == sorted([*everything, "TIM001"]), "the base whole, then TIM001 alone"
        whole = compare_results(
            base_pack,
            engine.run_pack(base_pack, base_reference, AS_OF, tables, "base"),
            new_pack,
            engine.run_pack(new_pack, new_reference, AS_OF, tables, "new"),
            5,
            (base_reference.limits, new_reference.limits),
        )
    finally:
        loaded.close()
    assert reused.rules == whole
    assert [r.rule_id for r in reused.rules if r.status == "changed"] == ["TIM001"]

    def edited(name: str, path: str, old: str, new: str) -> frozenset[str]:
        folder = _pack_copy(tmp_path, name)
        target = folder / path
        text = target.read_text()
        assert old in text, (path, old)
        target.write_text(text.replace(old, new, 1))
        return unchanged_rules(base_pack, base_reference, load_pack(folder), load_reference(folder / "reference"))

    assert edited("macro", "pack.yaml", "'%Y-%m-%d %H:%M'", "'%Y-%m-%d %H:%M:%S'") == frozenset()
    assert (
        edited("outcomes", "reference/outcome_types.yaml", "means_no_suspect: [14, 18]", "means_no_suspect: [14]")
        == frozenset()
    )
    assert edited("catalogue", "reference/offence_catalogue.csv", "Rape of a female child", "Rape of a girl") == frozenset()
    assert edited("lexicon", "lexicons/indecent_images.yaml", "- sent nudes", "- sent nude") == frozenset()
    assert edited("view", "pack.yaml", "views:", "views:\n  unused_view: SELECT 1 AS one") == frozenset()
