"""Outputs that are safe to share (issue 11): spreadsheet-safe text files."""

from __future__ import annotations

import csv
import dataclasses
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.base.safecsv import FORMULA_START, neutralised, neutralised_sql
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT

ID_PAYLOAD = '=HYPERLINK("http://x","y")'
DISTRICT_PAYLOAD = "+cmd|' /C calc'!A0"
LINK_PAYLOAD = "-2+3"


def test_neutralised_prefixes_exactly_the_formula_starts():
    frame = pl.DataFrame({"text": ["=1", "+1", "-1", "@A1", "\tx", "\rx", "a=1", "", None], "n": list(range(9))})
    assert neutralised(frame)["text"].to_list() == ["'=1", "'+1", "'-1", "'@A1", "'\tx", "'\rx", "a=1", "", None]
    assert neutralised(frame)["n"].to_list() == list(range(9)), "numbers are not text"


def test_neutralised_sql_gives_what_neutralised_gives():
    """The DuckDB twin (for files written by COPY) prefixes exactly the cells Polars does."""
    values = ["=1", "+1", "-1", "@A1", "\tx", "\rx", "a=1", "", None, "'=1", " =1", "x\n=1"]
    frame = pl.DataFrame({"text": values})
    con = duckdb.connect()
    con.register("cells", frame.to_arrow())
    by_sql = [row[0] for row in con.execute(f"SELECT {neutralised_sql('text')} FROM cells").fetchall()]
    assert by_sql == neutralised(frame)["text"].to_list()
    assert by_sql[:6] == ["'=1", "'+1", "'-1", "'@A1", "'\tx", "'\rx"]


def _crafted(small_extract: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "crafted"
    shutil.copytree(small_extract, folder)
    key = pl.read_csv(folder / "key.csv")
    referral = key.filter((pl.col("finding") == "unrecorded_crime") & (pl.col("record_type") == "referral"))["record_id"][0]
    crime = key.filter(pl.col("finding") == "improper_cancellation")["record_id"][0]
    referrals = pl.read_csv(folder / "referrals.csv", infer_schema=False)
    referrals.with_columns(pl.col("referral_id").replace(referral, ID_PAYLOAD)).write_csv(folder / "referrals.csv")
    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False)
    crimes.with_columns(
        pl.when(pl.col("crime_id") == crime).then(pl.lit(DISTRICT_PAYLOAD)).otherwise(pl.col("district")).alias("district")
    ).write_csv(folder / "crimes.csv")
    with (folder / "crime_links.csv").open("a", encoding="utf-8") as handle:
        handle.write(
            f"{LINK_PAYLOAD},referral,{ID_PAYLOAD}\n".replace(ID_PAYLOAD, '"' + ID_PAYLOAD.replace('"', '""') + '"')
        )
    return folder


@pytest.mark.slow
def test_register_quarantine_and_resolved_are_spreadsheet_safe(small_extract, tmp_path):
    folder, out = _crafted(small_extract, tmp_path), tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", AS_OF_TEXT])
    assert result.exit_code == 0, result.output
    run = out / "latest"
    cells = []
    for name in ("exceptions.csv", "quarantine.csv", "resolved.csv"):
        with (run / name).open(encoding="utf-8", newline="") as handle:
            cells += [cell for row in csv.reader(handle) for cell in row]
    assert not [c for c in cells if c.startswith(FORMULA_START)], "a formula-like cell reached a CSV"
    assert "'" + ID_PAYLOAD in cells and "'" + DISTRICT_PAYLOAD in cells and "'" + LINK_PAYLOAD in cells
    register = pl.read_parquet(run / "exceptions.parquet")
    assert ID_PAYLOAD in register["record_id"].to_list() and DISTRICT_PAYLOAD in register["district"].to_list()


@pytest.mark.slow
def test_the_redacted_report_cannot_be_reversed_and_holds_no_personal_dates(small_extract, tmp_path, monkeypatch):
    import hashlib
    import hmac
    import re

    monkeypatch.setenv("RECORDCHECK_REDACTION_KEY", "c2VjcmV0IG9mIHRoZSBmb3JjZSwgMTYrIGJ5dGVz")  # base64, 29 bytes
    out = tmp_path / "out"
    config = tmp_path / "config.yaml"  # a low threshold, so that the redacted register lists records to attack
    config.write_text("config: 1\nreport: {redact_below: 2}\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["run", str(small_extract), "--out", str(out), "--as-of", AS_OF_TEXT, "--redact", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    page = (out / "latest" / "report-redacted.html").read_text(encoding="utf-8")
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
    ids = set(register["record_id"].drop_nulls())
    fingerprints = set(register["fingerprint"])
    tokens = set(re.findall(r"[A-Za-z0-9-]+", page))
    assert not ids & tokens, "a record id in the redacted report"
    assert not {f for f in fingerprints if f in page}, "an unkeyed fingerprint in the redacted report"
    crimes = pl.read_csv(small_extract / "crimes.csv", infer_schema=False)
    referrals = pl.read_csv(small_extract / "referrals.csv", infer_schema=False)
    births = set(crimes["victim_dob"].drop_nulls()) | set(referrals["subject_dob"].drop_nulls())
    assert not {d for d in births if d in page}, "a date of birth in the redacted report"
    assert not re.search(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", page), "an exact time in the redacted report"
    # try to break the pseudonyms: every candidate id hashed unkeyed, and keyed with a wrong key
    pseudonyms = set(re.findall(r"\b(?:ID|FP)-[0-9A-F]{12}\b", page))
    assert pseudonyms
    all_ids = set(crimes["crime_id"]) | set(referrals["referral_id"])
    for candidate in all_ids | fingerprints:
        for kind in ("ID", "FP"):
            guesses = {
                f"{kind}-" + hashlib.sha256(candidate.encode()).hexdigest()[:12].upper(),
                f"{kind}-" + hashlib.sha256(f"{kind}|{candidate}".encode()).hexdigest()[:12].upper(),
                f"{kind}-" + hmac.new(b"wrong key", f"{kind}|{candidate}".encode(), hashlib.sha256).hexdigest()[:12].upper(),
            }
            assert not guesses & pseudonyms
    # the same key gives the same pseudonyms on another night, so a partner can follow a case
    again = CliRunner().invoke(cli, ["report", str(out / "latest"), "--redact", "--config", str(config)])
    assert again.exit_code == 0
    assert (
        set(re.findall(r"\b(?:ID|FP)-[0-9A-F]{12}\b", (out / "latest" / "report-redacted.html").read_text())) == pseudonyms
    )


@pytest.mark.slow
def test_districts_outside_the_forces_list_are_findings_not_strata(small_extract, tmp_path):
    """Defect 9: a district of `<script>...` became a district row in every table."""
    import json

    folder = tmp_path / "x"
    shutil.copytree(small_extract, folder)
    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False)
    script = "<script>alert(1)</script>"
    target = crimes["crime_id"][0]
    crimes.with_columns(
        pl.when(pl.col("crime_id") == target).then(pl.lit(script)).otherwise(pl.col("district")).alias("district")
    ).write_csv(folder / "crimes.csv")
    config = tmp_path / "config.yaml"
    config.write_text("config: 1\ndistricts: [Sheffield, Doncaster, Rotherham, Barnsley]\n", encoding="utf-8")
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", AS_OF_TEXT, "--config", str(config)])
    assert result.exit_code == 0, result.output
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
    flagged = register.filter(pl.col("rule_id") == "DISTRICT")
    assert flagged.select("record_type", "record_id", "finding").rows() == [("crime", target, "data_quality")]
    assert flagged["detail"][0] == (
        f"Crime {target} has district a value of {len(script)} characters, which is not one of the force's districts; "
        "it is counted under no district."
    )
    summary = json.loads((out / "latest" / "summary.json").read_text())
    strata = {s["value"] for r in summary["rules"] for s in r["strata"].get("district", [])}
    assert script not in strata and strata <= {"Sheffield", "Doncaster", "Rotherham", "Barnsley", "(not recorded)"}
    page = (out / "latest" / "report.html").read_text(encoding="utf-8")
    assert script not in page and "&lt;script&gt;" not in page.split('id="register"')[0], "no table row for it"
    # without a list, every value is accepted, as before
    plain = CliRunner().invoke(cli, ["run", str(folder), "--out", str(tmp_path / "plain"), "--as-of", AS_OF_TEXT])
    assert plain.exit_code == 0
    assert (
        pl.read_csv(tmp_path / "plain" / "latest" / "exceptions.csv", infer_schema=False)
        .filter(pl.col("rule_id") == "DISTRICT")
        .height
        == 0
    )


@pytest.mark.slow
def test_no_suppressed_figure_can_be_worked_out(small_extract, tmp_path, pack, reference):
    """Disclosure control: every shown rate rests on counts of at least k; in every family of
    figures that add up to a shown total, none or at least two members are suppressed; and the
    page prints no count at all besides rows read."""
    import re

    from recordcheck.checks.base.config import RunConfig
    from recordcheck.reports.build import build_context
    from recordcheck.reports.disclosure import disclosure_safe, small
    from tests.conftest import run_with_report

    run = run_with_report(small_extract, tmp_path / "out", pack, reference, RunConfig())
    full = build_context(run, {}, b"key")
    safe = disclosure_safe(full)
    k = safe.redact_below
    families = [
        ([r.rate for r in safe.pvp_by_agency], safe.pvp_total.rate),
        ([r.rate for r in safe.pvp_by_district], safe.pvp_total.rate),
        (safe.by_offence_group, safe.headline.recording),
        *[(view.by_district, view.overall) for family in safe.families for view in family.rules if view.status == "run"],
    ]
    findings = {v.id: v.finding for family in safe.families for v in family.rules if v.status == "run"}
    by_kind = {}
    for g in safe.glance:
        if g.rule_id in findings:
            kind = {
                "unrecorded_crime": "recording",
                "n100_missing": "recording",
                "late_recording": "timeliness",
                "misclassification": "classification",
            }.get(findings[g.rule_id])
            by_kind.setdefault(kind, []).append(g.compliance)
    families += [
        (by_kind.get("recording", []), safe.headline.recording),
        (by_kind.get("timeliness", []), safe.headline.timeliness),
        (by_kind.get("classification", []), safe.headline.classification),
    ]
    checked = 0
    for members, total in families:
        for rate in [*members, total]:
            assert rate.suppressed or not small(rate, k), rate
        hidden = sum(r.suppressed for r in members)
        assert hidden != 1 or total.suppressed, (members, total)
        checked += 1
    assert checked > 10 and any(r.suppressed for members, _ in families for r in members)
    html = (run / "report.html").read_text()  # the full report, for contrast
    assert re.search(r"\d of \d", html)
    from recordcheck.reports.render import render_context

    page = render_context(dataclasses.replace(full, redacted=True))
    body = page.split("<main>")[1]
    body = re.sub(r'<p class="small rationale">.*?</p>', " ", body, flags=re.S)  # the rules' documentation quotes history
    text = re.sub(r"<[^>]+>", " ", body)
    assert not re.search(r"\b\d[\d,]* of \d[\d,]*\b", text), "a count in the redacted report"
    assert "suppressed" in text


@pytest.mark.slow
def test_detail_sentences_say_london_time_and_name_codes(small_extract, tmp_path):
    """Defect 6: London wall-clock times without saying so read as false positives across the clock change."""
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["run", str(small_extract), "--out", str(out), "--as-of", AS_OF_TEXT]).exit_code == 0
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
    late = register.filter(pl.col("rule_id") == "TIM001")["detail"].to_list()
    assert late and all(d.count("London time") == 2 for d in late)
    assert all(d[0].isupper() for d in register["detail"])
    misclassified = register.filter(pl.col("rule_id") == "CLS001")["detail"].to_list()
    assert misclassified and all("; the rule expected " in d for d in misclassified)


def test_counts_are_suppressed_primary_then_complementary_by_hand():
    """The narrative screen's counts in the redacted report: 1..k-1 suppressed; a row with exactly
    one suppressed district while its total shows loses its next smallest district too; with no
    other to hide, the total goes."""
    from recordcheck.reports.disclosure import suppress_counts

    none = [False] * 4
    assert suppress_counts([0, 7, 9, 12], 28, 5, none) == ([0, 7, 9, 12], 28)
    assert suppress_counts([3, 7, 9, 12], 31, 5, none) == ([None, None, 9, 12], 31)
    assert suppress_counts([3, 0, 0, 0], 3, 5, none) == ([None, 0, 0, 0], None)
    assert suppress_counts([3, 0, 0, 8], 11, 5, none) == ([None, 0, 0, None], 11)
    assert suppress_counts([2, 1, 9, 12], 24, 5, none) == ([None, None, 9, 12], 24)
    assert suppress_counts([6, 7, 9, 12], 34, 5, [False, True, False, False]) == ([None, None, 9, 12], 34), "a held cell"
