"""A registrar's first week (issue 12): a force-shaped export, a drafted profile, its check, and
the loud failures of a mis-set profile. The force-shaped export is the generated extract written
as a force's systems would write it, with the profile that maps it (`generate --shape force`)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

from recordcheck.checks.adoption.profile_draft import draft_profile, render, todos
from recordcheck.checks.adoption.profile_evidence import match_code, name_score
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.engine.engine import run_pack
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.rulechange.snapshot import findings_of
from recordcheck.checks.validation.pipeline import load_extract
from recordcheck.cli import cli
from tests.conftest import AS_OF, AS_OF_TEXT

pytestmark = pytest.mark.slow


def _findings(folder: Path, profile_path: Path | None, pack, reference) -> tuple[pl.DataFrame, Any]:
    loaded = load_extract(folder, load_profile(profile_path), reference, AS_OF)
    try:
        result = run_pack(pack, reference, AS_OF, loaded.validation.accepted, "t", unusable=loaded.unusable)
        return findings_of(result.register), result
    finally:
        loaded.close()


@pytest.fixture(scope="module")
def canonical_findings(small_extract, pack, reference) -> pl.DataFrame:
    findings, _ = _findings(small_extract, None, pack, reference)
    return findings


@pytest.fixture(scope="module")
def truth(force_export) -> dict[str, Any]:
    return yaml.safe_load((force_export / "profile.yaml").read_text(encoding="utf-8"))


def _write_profile(spec: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _export_copy(force_export: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    shutil.copytree(force_export, folder)
    return folder


# ---------------------------------------------------------------- the force-shaped export


def test_force_export_differs_from_the_contract_in_every_way_a_profile_maps(force_export, truth):
    referrals = (force_export / "PPU_Referral_Register.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        referrals.decode("utf-8")
    header = referrals.decode("cp1252").splitlines()[0]
    assert "referral_id" not in header and "Crime Reference(s)" in header
    assert re.search(r",\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2},", referrals.decode("cp1252"))
    assert not (force_export / "crime_links.csv").exists()
    assert truth["dayfirst"] is True and truth["encoding"] == "cp1252"


def test_force_export_through_its_profile_finds_what_the_canonical_extract_does(
    force_export, canonical_findings, pack, reference
):
    findings, result = _findings(force_export, force_export / "profile.yaml", pack, reference)
    assert findings.height == canonical_findings.height > 30
    assert findings.equals(canonical_findings)
    assert all(r.status == "run" for r in result.results)


def test_generate_force_shape_command(tmp_path):
    result = CliRunner().invoke(
        cli, ["generate", str(tmp_path / "f"), "--shape", "force", "--scale", "0.002", "--as-of", AS_OF_TEXT]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "f" / "profile.yaml").is_file() and "Profile:" in result.output
    refused = CliRunner().invoke(cli, ["generate", str(tmp_path / "g"), "--shape", "force", "--format", "parquet"])
    assert refused.exit_code == ExitCode.USAGE_ERROR and "--shape force writes CSV" in refused.output


# ---------------------------------------------------------------- profile draft


def test_name_heuristics_and_code_matching():
    assert name_score("victim_count", "Number Of Victims") > name_score("victim_count", "Victim Person")
    assert name_score("subject_dob", "Subject Birth Date") > name_score("subject_dob", "Date Of Offence")
    assert match_code("VDEC", ("credible_evidence_contrary", "victim_declined", "victim_not_traced")) == "victim_declined"
    assert match_code("CRI", ("crime", "crime_related_incident", "n100")) == "crime_related_incident"
    assert match_code("OTH", ("other_force", "police", "other")) == "other"
    assert match_code("Female", ("F", "M", "U")) == "F"
    assert match_code("XFER", ("crime", "transferred")) is None, "no guess without plain evidence"


def test_draft_places_every_column_it_can_and_each_placement_is_right(force_export, truth):
    text = render(draft_profile(force_export))
    draft = yaml.safe_load(text)
    assert draft["dayfirst"] is True and draft["encoding"] == "cp1252"
    assert draft["booleans"] == {"true_values": ["Y"], "false_values": ["N"]}
    assert draft["tables"]["crime_links"] == truth["tables"]["crime_links"], "the delimited link column and separator"
    placed = wrong = 0
    for name, spec in truth["tables"].items():
        if "file" not in spec:
            continue
        mine = draft["tables"][name]
        assert mine["file"] == spec["file"], name
        for canonical, force in spec["columns"].items():
            if canonical in mine["columns"]:
                placed += 1
                wrong += mine["columns"][canonical] != force
        for column, codes in (mine.get("values") or {}).items():
            for code, value in (codes or {}).items():
                assert spec["values"][column][code] == value, f"{name}.{column}: {code} drafted as {value}"
    assert wrong == 0
    assert placed == sum(len(s["columns"]) for s in truth["tables"].values() if "columns" in s), "every column placed"
    # unambiguous by name and values: each is placed with its evidence beside it
    assert "received_at: Received On   # header 'Received On'; 100% read as date and time" in text
    assert (
        "disclosed_offence_code: Offence Classification   # header 'Offence Classification'; 100% look like Home Office codes"
        in text
    )


def test_draft_evidence_never_quotes_free_text_or_personal_values(force_export):
    text = render(draft_profile(force_export))
    referrals = pl.read_csv(force_export / "PPU_Referral_Register.csv", encoding="cp1252", infer_schema=False)
    for column in ("Referral Narrative", "Decision Notes", "Subject Person", "Subject Birth Date", "Referral Number"):
        for value in referrals[column].drop_nulls().unique().head(50):
            assert value not in text, f"{column} value quoted in the draft"


def test_drafted_profile_with_its_todos_filled_gives_the_canonical_register(
    force_export, truth, canonical_findings, pack, reference, tmp_path
):
    text = render(draft_profile(force_export))
    left = todos(text)
    assert left and all(path.startswith("tables.") for path in left)
    draft = yaml.safe_load(text)
    for path in left:  # a person fills each TODO; the test takes the answer from the true profile
        _, table, section, column, *code = path.split(".", 4)
        assert section == "values" and code, f"only unmatched codes are left: {path}"
        draft["tables"][table]["values"].setdefault(column, {})
        if not draft["tables"][table]["values"][column]:
            draft["tables"][table]["values"][column] = {}
        draft["tables"][table]["values"][column][code[0]] = truth["tables"][table]["values"][column][code[0]]
    filled = _write_profile(draft, tmp_path / "filled.yaml")
    findings, result = _findings(force_export, filled, pack, reference)
    assert findings.equals(canonical_findings)
    assert all(r.status == "run" for r in result.results)


def test_profile_draft_command_refuses_to_overwrite(force_export, tmp_path):
    out = tmp_path / "draft.yaml"
    first = CliRunner().invoke(cli, ["profile", "draft", str(force_export), "--out", str(out)])
    assert first.exit_code == 0 and "TODO tables." in first.output and out.is_file()
    again = CliRunner().invoke(cli, ["profile", "draft", str(force_export), "--out", str(out)])
    assert again.exit_code == ExitCode.USAGE_ERROR and "--force" in again.output


def test_a_hostile_folder_or_file_name_cannot_write_keys_into_the_draft(force_export, tmp_path):
    """Every value goes through the YAML dumper and every line is one line: a folder or file name
    carrying a newline once switched on allow_files_outside_extract in the draft."""
    hostile = tmp_path / "export\nallow_files_outside_extract: true\n#"
    shutil.copytree(force_export, hostile)
    crimes = next(hostile.glob("RMS_Crime*.csv"))
    crimes.rename(crimes.with_name("crimes\nallow_files_outside_extract: true.csv"))
    out = tmp_path / "draft.yaml"
    result = CliRunner().invoke(cli, ["profile", "draft", str(hostile), "--out", str(out)])
    assert result.exit_code == 0, result.output
    draft = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert "allow_files_outside_extract" not in draft
    assert all("allow_files_outside_extract" not in (t or {}) for t in draft["tables"].values())
    assert "crimes\nallow_files_outside_extract: true.csv" in [(t or {}).get("file") for t in draft["tables"].values()], (
        "the name kept whole, as a quoted value"
    )


# ---------------------------------------------------------------- profile check


def test_profile_check_shows_coverage_and_passes_a_fit_profile(force_export):
    result = CliRunner().invoke(
        cli, ["profile", "check", str(force_export), "--profile", str(force_export / "profile.yaml"), "--as-of", AS_OF_TEXT]
    )
    assert result.exit_code == 0, result.output
    assert re.search(r"referrals <- PPU_Referral_Register\.csv \([\d,]+ rows\)", result.output)
    assert re.search(r"  referral_id\s+Referral Number\s+100\.0%\s+100\.0%", result.output)
    assert "crime_links <- built from link columns" in result.output
    assert "Every rule can run on this export." in result.output


def test_profile_check_names_unused_columns_unmapped_codes_and_rules_that_cannot_run(force_export, truth, tmp_path):
    folder = _export_copy(force_export, tmp_path)
    spec = yaml.safe_load(yaml.safe_dump(truth))
    del spec["tables"]["crimes"]["columns"]["cancellation_rationale"]  # defect 3: a column left unmapped
    del spec["tables"]["referrals"]["values"]["no_crime_reason"]["VDEC"]  # defect 5: one code unmapped
    profile = _write_profile(spec, tmp_path / "p.yaml")
    result = CliRunner().invoke(cli, ["profile", "check", str(folder), "--profile", str(profile), "--as-of", AS_OF_TEXT])
    assert result.exit_code == ExitCode.RUN_INCOMPLETE, result.output
    assert re.search(r"cancellation_rationale\s+\(none\).*nothing fills it", result.output)
    assert "force columns not used: 'Cancellation Notes'" in result.output
    assert re.search(r"codes not mapped in 'Non Crime Reason' \(no_crime_reason\): 'VDEC' \d+", result.output)
    assert "CAN001.rationale: needs crimes.cancellation_rationale (not in the export); the rest of CAN001 runs" in (
        result.output
    )
    assert "1 rule(s) cannot run: CAN001.rationale" in result.output


def test_profile_check_json(force_export):
    result = CliRunner().invoke(
        cli,
        ["profile", "check", str(force_export), "--profile", str(force_export / "profile.yaml"), "--as-of", AS_OF_TEXT]
        + ["--format", "json"],
    )
    import json

    document = json.loads(result.output)
    crimes = document["tables"]["crimes"]
    assert crimes["file"] == "RMS_CrimeRecords.csv"
    status = next(c for c in crimes["columns"] if c["column"] == "status")
    assert status["force_column"] == "Record State" and status["filled"] == status["parsed"] == crimes["rows"]
    assert document["problems"] == []


# ---------------------------------------------------------------- loud failures in run and validate


def test_a_column_left_unmapped_stops_its_rules_not_fakes_findings(force_export, truth, tmp_path):
    """Defect 3: leaving cancellation_rationale out produced 49 false improper-cancellation findings.
    Now only CAN001's rationale part stops (said so, exit 9); its code, authority and victim checks
    still run and find what they found with the column mapped, less the rationale-only findings."""
    spec = yaml.safe_load(yaml.safe_dump(truth))
    mapped_out = tmp_path / "mapped"
    CliRunner().invoke(
        cli,
        [
            "run",
            str(force_export),
            "--profile",
            str(_write_profile(spec, tmp_path / "m.yaml")),
            "--out",
            str(mapped_out),
            "--as-of",
            AS_OF_TEXT,
        ],
    )
    del spec["tables"]["crimes"]["columns"]["cancellation_rationale"]
    profile = _write_profile(spec, tmp_path / "p.yaml")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(force_export), "--profile", str(profile), "--out", str(out), "--as-of", AS_OF_TEXT]
    )
    assert result.exit_code == ExitCode.RUN_INCOMPLETE, result.output
    assert "CAN001 part rationale (needs crimes.cancellation_rationale (not in the export); the rest ran)" in result.output
    assert "CAN001 ran in part: rationale not checked" in result.output
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
    mapped = pl.read_csv(mapped_out / "latest" / "exceptions.csv", infer_schema=False).filter(pl.col("rule_id") == "CAN001")
    rationale_only = mapped.filter(pl.col("detail").str.ends_with(": no additional verifiable information recorded."))
    can001 = register.filter(pl.col("rule_id") == "CAN001")
    assert mapped.height > rationale_only.height > 0
    assert sorted(can001["record_id"]) == sorted(set(mapped["record_id"]) - set(rationale_only["record_id"]))
    assert not can001["detail"].str.contains("verifiable").any(), "no false finding from the absent column"
    assert register.filter(pl.col("rule_id") == "CAN002").height > 0, "rules that do not need it still run"
    from bs4 import BeautifulSoup

    page = BeautifulSoup((out / "latest" / "report.html").read_text(encoding="utf-8"), "html.parser")
    box = page.find(id="not-checked")
    assert box is not None and "1 rule(s) or part(s) of a rule did not run" in box.get_text()
    assert "CAN001 (part rationale; the rest ran)" in " ".join(box.get_text().split())
    assert page.select_one('[data-parts-not-run="CAN001"]') is not None
    # the force that knows it keeps no rationale says so once: the night is complete again
    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nrules:\n  disable: [CAN001.rationale]\n", encoding="utf-8")
    again = CliRunner().invoke(
        cli,
        ["run", str(force_export), "--profile", str(profile), "--out", str(tmp_path / "o2"), "--as-of", AS_OF_TEXT]
        + ["--config", str(config)],
    )
    assert again.exit_code == 0, again.output


def test_a_mapped_column_empty_in_every_row_stops_its_rules(small_extract, pack, reference, tmp_path):
    folder = tmp_path / "x"
    shutil.copytree(small_extract, folder)
    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False)
    crimes.with_columns(pl.lit(None, pl.String).alias("outcome_code")).write_csv(folder / "crimes.csv")
    _, result = _findings(folder, None, pack, reference)
    status = {r.rule.id: (r.status, r.reason) for r in result.results}
    assert status["OUT001"] == ("not_run", "needs crimes.outcome_code (empty in every row of 'outcome_code')")
    assert status["VIC001"][0] == "not_run" and status["TIM001"][0] == "run"


def test_a_rule_disabled_in_the_config_is_not_a_failure(force_export, truth, tmp_path):
    spec = yaml.safe_load(yaml.safe_dump(truth))
    del spec["tables"]["crimes"]["columns"]["cancellation_rationale"]
    profile = _write_profile(spec, tmp_path / "p.yaml")
    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nrules:\n  disable: [CAN001.rationale]\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli,
        ["validate", str(force_export), "--profile", str(profile), "--config", str(config)]
        + ["--as-of", AS_OF_TEXT, "--quarantine", str(tmp_path / "q.csv")],
    )
    assert result.exit_code == 0, result.output


def test_an_unmapped_code_is_named_with_its_column_and_the_lines_that_map_it(force_export, truth, tmp_path):
    """Defect 5: one unmapped optional code dropped the record with a reason naming neither."""
    spec = yaml.safe_load(yaml.safe_dump(truth))
    del spec["tables"]["referrals"]["values"]["no_crime_reason"]["VDEC"]
    profile = _write_profile(spec, tmp_path / "p.yaml")
    quarantine = tmp_path / "q.csv"
    result = CliRunner().invoke(
        cli,
        ["validate", str(force_export), "--profile", str(profile), "--as-of", AS_OF_TEXT, "--quarantine", str(quarantine)],
    )
    assert re.search(r"unknown_value \(no_crime_reason\): \d+ row\(s\)", result.output)
    assert re.search(r"referrals\.no_crime_reason \(force column 'Non Crime Reason'\): 'VDEC' \d+ row\(s\)", result.output)
    assert "              'VDEC': ...   # one of credible_evidence_contrary, victim_declined" in result.output
    reasons = pl.read_csv(quarantine, infer_schema=False).filter(pl.col("column") == "no_crime_reason")["reason"]
    assert reasons.len() > 0
    assert set(reasons) == {
        "column 'Non Crime Reason' (canonical no_crime_reason) holds 'VDEC', which is not one of the contract's values "
        "(credible_evidence_contrary, victim_declined, victim_not_traced, other_force_recording, duplicate, "
        "not_notifiable, other)"
    }


def test_a_value_that_is_not_code_like_is_counted_never_quoted(small_extract, reference, tmp_path):
    folder = tmp_path / "x"
    shutil.copytree(small_extract, folder)
    referrals = pl.read_csv(folder / "referrals.csv", infer_schema=False)
    free_text = "Told by Jane Smith"
    referrals.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(free_text)).otherwise(pl.col("concern_type")).alias("concern_type")
    ).write_csv(folder / "referrals.csv")
    loaded = load_extract(folder, load_profile(None), reference, AS_OF)
    loaded.close()
    reasons = loaded.validation.quarantine.filter(pl.col("column") == "concern_type")["reason"].to_list()
    assert reasons == [
        "concern_type holds a value of 18 characters, which is not one of the contract's values "
        "(cse, csa, cce, domestic_abuse, neglect, missing, online_harm, other)"
    ]
    assert loaded.validation.unmapped_codes.height == 0


def test_no_profile_on_a_force_export_suggests_one(force_export, tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(force_export), "--quarantine", str(tmp_path / "q.csv")])
    assert result.exit_code == ExitCode.INPUT_REJECTED
    assert "required table referrals is missing" in result.output
    assert "The folder holds CommandLog_Entries.csv, CommandLog_Export.csv, PPU_Referral_Register.csv" in result.output
    assert "give --profile FILE (profile.yaml is in the folder)" in result.output
    assert f"recordcheck profile draft {force_export} --out profile.yaml" in result.output


def test_a_typo_in_a_derive_map_is_named_not_silent(force_export, truth, tmp_path):
    spec = yaml.safe_load(yaml.safe_dump(truth))
    incidents = spec["tables"]["incidents"]
    del incidents["columns"]["closure_class"]
    codes = {force: canonical for force, canonical in incidents["values"].pop("closure_class").items()}
    codes["CRIMEE"] = codes.pop("CRIME")  # the typo
    incidents["derive"] = {"closure_class": {"from": "Closure Category", "map": codes, "default": "non_crime"}}
    profile = _write_profile(spec, tmp_path / "p.yaml")
    args = ["--profile", str(profile), "--as-of", AS_OF_TEXT]
    checked = CliRunner().invoke(cli, ["profile", "check", str(force_export), *args])
    validated = CliRunner().invoke(cli, ["validate", str(force_export), *args, "--quarantine", str(tmp_path / "q.csv")])
    line = "incidents.closure_class: codes in 'Closure Category' that the derive map does not list took the default 'non_crime': 'CRIME' "
    assert line in checked.output and line in validated.output


def test_a_yaml_error_points_at_the_line_that_opened_it(force_export, tmp_path):
    lines = (force_export / "profile.yaml").read_text(encoding="utf-8").splitlines()
    at = next(i for i, text in enumerate(lines) if text.strip().startswith("file: PPU_Referral_Register.csv"))
    lines[at] = lines[at].replace("file: ", "file: [")
    profile = tmp_path / "p.yaml"
    profile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["profile", "check", str(force_export), "--profile", str(profile)])
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert f"p.yaml line {at + 1}: a flow sequence opened here is not closed" in result.output


def test_a_missing_column_lists_the_files_own_headers(force_export, truth, tmp_path):
    spec = yaml.safe_load(yaml.safe_dump(truth))
    spec["tables"]["crimes"]["columns"]["recorded_at"] = "Record Creatd"
    profile = _write_profile(spec, tmp_path / "p.yaml")
    result = CliRunner().invoke(
        cli, ["validate", str(force_export), "--profile", str(profile), "--quarantine", str(tmp_path / "q.csv")]
    )
    assert result.exit_code == ExitCode.INPUT_REJECTED
    assert (
        "required column 'Record Creatd' (canonical recorded_at) missing from table crimes; nearest: 'Record Created'"
        in result.output
    )
    assert "the file's columns: 'Crime Number', 'First Reported', 'Offence Classification'" in result.output
    assert "1 other name(s), not quoted" in result.output  # 'Record Created': the profile does not know it


def _run(force_export: Path, profile: Path, out: Path, *extra: str):
    return CliRunner().invoke(
        cli, ["run", str(force_export), "--profile", str(profile), "--out", str(out), "--as-of", AS_OF_TEXT, *extra]
    )


def test_a_link_column_the_profile_leaves_out_makes_the_night_incomplete(force_export, truth, tmp_path):
    """Issue 26: the incidents' crime references left out of build_from made every linked incident
    look unrecorded (a 9% recording rate here) at exit 0. Now run, validate and profile check all
    exit 9 naming the column and the fix; listing it under not_links is the force's word that it is
    not a link; `warn` keeps the reason as a warning."""
    spec = yaml.safe_load(yaml.safe_dump(truth))
    spec["tables"]["crime_links"]["build_from"] = [
        b for b in spec["tables"]["crime_links"]["build_from"] if b["table"] != "incidents"
    ]
    profile = _write_profile(spec, tmp_path / "p.yaml")
    result = _run(force_export, profile, tmp_path / "out")
    assert result.exit_code == ExitCode.RUN_INCOMPLETE, result.output
    verdict = next(line for line in result.output.splitlines() if line.startswith("Verdict:"))
    assert re.search(
        r"incidents: force column 'Crime Reference\(s\)' names a crime of this export in ([\d,]+) of \1 filled rows "
        r"sampled \(100%\) and no link builder reads it",
        verdict,
    ), verdict
    assert "add it under crime_links.build_from" in verdict
    summary = (tmp_path / "out" / "latest" / "summary.json").read_text(encoding="utf-8")
    assert "Crime Reference(s)" in summary
    page = (tmp_path / "out" / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'id="incomplete"' in page and "no link builder reads it" in page
    for command in (
        ["validate", str(force_export), "--profile", str(profile), "--quarantine", str(tmp_path / "q.csv")],
        ["profile", "check", str(force_export), "--profile", str(profile)],
    ):
        checked = CliRunner().invoke(cli, [*command, "--as-of", AS_OF_TEXT])
        assert checked.exit_code == ExitCode.RUN_INCOMPLETE, checked.output
        assert "Profile gap: incidents: force column 'Crime Reference(s)'" in checked.output
    # the referrals' column is read by its builder: never named
    assert "referrals: force column" not in result.output
    config = tmp_path / "warn.yaml"
    config.write_text("config: 1\nvalidation:\n  unlinked_columns: warn\n", encoding="utf-8")
    warned = _run(force_export, profile, tmp_path / "warned", "--config", str(config))
    assert warned.exit_code == 0, warned.output
    assert "Warning: incidents: force column 'Crime Reference(s)'" in warned.output
    spec["tables"]["incidents"]["not_links"] = ["Crime Reference(s)"]
    set_aside = _run(force_export, _write_profile(spec, tmp_path / "n.yaml"), tmp_path / "aside")
    assert set_aside.exit_code == 0, set_aside.output
    assert "Crime Reference(s)" not in set_aside.output


def test_a_fit_profile_names_no_link_column(force_export, truth, tmp_path):
    """The pass case: with both builders every id-bearing column is read, and a column of other
    ids (the subject's) is not a crime link."""
    result = _run(force_export, force_export / "profile.yaml", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "link builder" not in result.output


def test_an_unmapped_code_in_a_table_a_rule_reads_makes_the_night_incomplete(force_export, truth, tmp_path):
    """Issue 26: a code on a few rows was quarantined and the night said "no threshold breached"."""
    spec = yaml.safe_load(yaml.safe_dump(truth))
    del spec["tables"]["referrals"]["values"]["no_crime_reason"]["VDEC"]
    profile = _write_profile(spec, tmp_path / "p.yaml")
    result = _run(force_export, profile, tmp_path / "out")
    assert result.exit_code == ExitCode.RUN_INCOMPLETE, result.output
    assert re.search(
        r"Verdict: incomplete: not everything could be checked \(referrals: \d+ row\(s\) quarantined for codes "
        r"that are not the contract's \(no_crime_reason: 'VDEC'\), so [A-Z0-9, ]*REC001[A-Z0-9, ]* did not judge them",
        result.output,
    ), result.output
    config = tmp_path / "warn.yaml"
    config.write_text("config: 1\nvalidation:\n  unmapped_codes: warn\n", encoding="utf-8")
    warned = _run(force_export, profile, tmp_path / "warned", "--config", str(config))
    assert warned.exit_code == 0, warned.output
    assert re.search(r"Warning: referrals: \d+ row\(s\) quarantined for codes", warned.output)


def test_clear_words_for_a_mis_set_profile(force_export, truth, tmp_path):
    """Issue 26, item 7: a wrong dayfirst suggests the right one; a misspelt file name suggests the
    nearest file; a force column mapped to two canonical columns is refused, naming both."""
    spec = yaml.safe_load(yaml.safe_dump(truth))
    spec["dayfirst"] = False
    checked = CliRunner().invoke(
        cli,
        ["validate", str(force_export), "--profile", str(_write_profile(spec, tmp_path / "d.yaml"))]
        + ["--as-of", AS_OF_TEXT, "--quarantine", str(tmp_path / "q.csv")],
    )
    assert checked.exit_code == ExitCode.RUN_INCOMPLETE
    assert re.search(
        r"Dates: [\d,]+ unread date\(s\) are written day first \(dd/mm/yyyy\): set dayfirst: true", checked.output
    )
    reasons = set(pl.read_csv(tmp_path / "q.csv", infer_schema=False)["reason"])
    assert "offence_date is not a date (yyyy-mm-dd): it is written day first (dd/mm/yyyy); set dayfirst: true" in reasons

    spec = yaml.safe_load(yaml.safe_dump(truth))
    right = spec["tables"]["referrals"]["file"]
    spec["tables"]["referrals"]["file"] = right.replace("Referral", "Referal")
    missing = CliRunner().invoke(
        cli, ["profile", "check", str(force_export), "--profile", str(_write_profile(spec, tmp_path / "f.yaml"))]
    )
    assert missing.exit_code == ExitCode.INPUT_REJECTED
    assert f"and it is not there; nearest: {right!r}" in missing.output

    spec = yaml.safe_load(yaml.safe_dump(truth))
    columns = spec["tables"]["crimes"]["columns"]
    columns["recorded_at"] = columns["reported_at"]
    twice = CliRunner().invoke(
        cli, ["profile", "check", str(force_export), "--profile", str(_write_profile(spec, tmp_path / "t.yaml"))]
    )
    assert twice.exit_code == ExitCode.USAGE_ERROR
    assert re.search(
        rf"line \d+: tables.crimes.columns maps force column {re.escape(repr(columns['reported_at']))} to both "
        r"(reported_at and recorded_at|recorded_at and reported_at)",
        twice.output,
    ), twice.output


def test_the_draft_gives_each_file_its_own_encoding_verdict_with_its_evidence(small_extract, tmp_path):
    """One cp1252 byte in a UTF-8 file once made the draft read the whole file as cp1252, garbling
    every accent. Each file now has its own verdict: a UTF-8 file with a stray byte stays UTF-8 with
    a TODO naming the line of the first bad byte; a Windows file is cp1252 with its evidence; a
    plain ASCII file needs no setting."""
    import shutil

    from click.testing import CliRunner

    from recordcheck.cli import cli

    export = tmp_path / "export"
    shutil.copytree(small_extract, export)
    lines = (export / "referrals.csv").read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b",", b",Zo\xc3\xab Ren\xc3\xa9e Bront\xc3\xab ", 1)
    lines[2] = lines[2].replace(b",", b",Andr\xc3\xa9 ", 1)
    lines[4] = lines[4].replace(b",", b",caf\xe9 ", 1)  # one stray Windows byte on line 5
    (export / "referrals.csv").write_bytes(b"\n".join(lines))
    windows = (export / "crimes.csv").read_text(encoding="utf-8").encode("cp1252", errors="replace")
    crimes = windows.split(b"\n")
    crimes[1] = crimes[1].replace(b",", b",Ren\xe9e ", 1)  # Windows text throughout
    (export / "crimes.csv").write_bytes(b"\n".join(crimes))
    out = tmp_path / "draft.yaml"
    assert CliRunner().invoke(cli, ["profile", "draft", str(export), "--out", str(out)]).exit_code == 0
    text = out.read_text(encoding="utf-8")
    draft = yaml.safe_load(text)
    assert draft["encoding"] == "utf-8"
    assert "encoding" not in draft["tables"]["referrals"], "the mixed file stays UTF-8"
    assert re.search(
        r"# TODO tables\.referrals\.encoding: mixed: [\d,]+ UTF-8 character\(s\) and 1 byte\(s\) that are not "
        r"UTF-8 \(the first on line 5\)",
        text,
    )
    assert draft["tables"]["crimes"]["encoding"] == "cp1252"
    assert re.search(r"byte 0x[0-9A-F]{2} on line \d+ is not UTF-8, and no UTF-8 character was seen", text)
    assert "encoding" not in (draft["tables"].get("incidents") or {}), "plain ASCII needs no setting"
