"""The due list (issue 30): what will breach, and when, unless someone acts.

The sample's due list is recounted from the extract alone, in Polars, without the code under test:
a pending referral or open incident that disclosed a notifiable offence, with no crime linked, and
at most `pending_hours` (24) elapsed at the as-of, is due at its first report plus 24 elapsed hours
(REC006); every open crime with a named victim that is not already overdue owes its next update
(VIC001). The rules' own cases hold the ties at the limit and both clock changes."""

from __future__ import annotations

import csv
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.base.safecsv import FORMULA_START
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT, ROOT, TEST_REFERENCE, reading_pack, run_sample_cli

SAMPLE = ROOT / "sample_data" / "extract"
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)

DUE_RULES = ("REC006", "VIC001")
"""The pack every run in this file reads: the two rules that list due items. A due item, and
whether it was met or missed, is its own rule's alone (the answer keys' findings are read from
the generator's key, not from a run), so the other 25 rules only made each night dearer."""


@pytest.fixture(scope="module", autouse=True)
def due_pack(tmp_path_factory):
    yield from reading_pack(tmp_path_factory, DUE_RULES)


def _expected_due() -> dict[str, str]:
    catalogue = pl.read_csv(TEST_REFERENCE / "offence_catalogue.csv", comment_prefix="#", infer_schema=False)
    notifiable = set(catalogue.filter(pl.col("notifiable").str.to_lowercase() == "true")["code"])
    links = pl.read_csv(SAMPLE / "crime_links.csv", infer_schema=False)
    reports = pl.concat(
        pl.read_csv(SAMPLE / file, infer_schema=False)
        .filter(pl.col(state) == open_value)
        .select(pl.lit(kind).alias("type"), pl.col(id_col).alias("id"), pl.col(at).alias("at"), pl.col(code).alias("code"))
        for file, kind, id_col, at, code, state, open_value in (
            ("referrals.csv", "referral", "referral_id", "received_at", "disclosed_offence_code", "decision", "pending"),
            ("incidents.csv", "incident", "incident_id", "reported_at", "reported_offence_code", "closure_class", "open"),
        )
    )
    linked = set(zip(links["source_type"], links["source_id"], strict=True))
    due = {}
    for kind, record_id, at, code in reports.iter_rows():
        if code not in notifiable or (kind, record_id) in linked:
            continue
        local = datetime.fromisoformat(at)
        first = pl.Series([local]).dt.replace_time_zone("Europe/London", ambiguous="earliest").dt.convert_time_zone("UTC")[0]
        if (AS_OF - first) <= timedelta(hours=24):
            due[record_id] = (first + timedelta(hours=24)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return due


@pytest.fixture(scope="module")
def sample_night(tmp_path_factory) -> tuple[Path, str]:
    """The sample run once at its as-of through the command line, for the tests that only read it:
    its OUT folder and what the command printed."""
    out = tmp_path_factory.mktemp("due") / "out"
    result = run_sample_cli(out, "--quiet")
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.mark.slow
def test_the_sample_due_list_is_the_hand_count_to_the_second(sample_night):
    out, _ = sample_night
    every = pl.read_csv(out / "latest" / "due.csv", infer_schema=False)
    assert every["deadline_at"].to_list() == sorted(every["deadline_at"].to_list()), "earliest first"
    due = every.filter(pl.col("rule") == "REC006")
    expected = _expected_due()
    assert len(expected) == 16
    assert dict(zip(due["record_id"], due["deadline_at"], strict=True)) == expected
    assert set(due["finding"]) == {"decision_overdue"}
    # VIC001: every open crime with a named victim owes its next update, unless already overdue
    crimes = pl.read_csv(SAMPLE / "crimes.csv", infer_schema=False)
    final = pl.col("outcome_code").cast(pl.Int64, strict=False).is_between(1, 22) & pl.col("outcome_at").is_not_null()
    open_crimes = set(
        crimes.filter((pl.col("status") == "recorded") & pl.col("victim_person_id").is_not_null() & ~final)["crime_id"]
    )
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
    overdue = set(register.filter(pl.col("rule_id") == "VIC001")["record_id"])
    victims = every.filter(pl.col("rule") == "VIC001")
    assert set(victims["record_id"]) == open_crimes - overdue and victims.height == 1793
    first = every.row(0, named=True)
    deadline = datetime.fromisoformat(first["deadline_at"].replace("Z", "+00:00"))
    assert float(first["hours_left"]) == round((deadline - AS_OF).total_seconds() / 3600, 1)
    assert (
        first["deadline_local"] == "2026-04-01 06:00 BST" and "overdue after 2026-04-01 06:00 London time" in first["detail"]
    )
    assert pl.read_parquet(out / "latest" / "due.parquet")["record_id"].to_list() == every["record_id"].to_list()
    soon = sum(float(h) <= 6 for h in every["hours_left"])
    page = (out / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'id="due"' in page and f"{soon} within 6 hours" in page and first["record_id"] in page


@pytest.mark.slow
def test_the_headline_and_the_due_command(sample_night, tmp_path):
    out, output = sample_night
    line = next(line for line in output.splitlines() if line.startswith("Due:"))
    assert line == (
        "Due: 1,809 record(s) will breach unless someone acts (REC006 16, VIC001 1,793); 1 within 6 hours; "
        "the first at 2026-04-01 06:00 BST (due.csv)."
    )
    shown = CliRunner().invoke(cli, ["due", str(out), "--within", "8h"])
    assert shown.exit_code == 0, shown.output
    rows = shown.output.splitlines()
    assert rows[0].endswith(": 1 record(s)") and rows[2].startswith("2026-04-01 06:00 BST")
    assert CliRunner().invoke(cli, ["due", str(out), "--within", "soon"]).exit_code == 2
    for fmt in ("csv", "xlsx"):
        file = tmp_path / f"due.{fmt}"
        written = CliRunner().invoke(cli, ["due", str(out), "--format", fmt, "--file", str(file)])
        assert written.exit_code == 0 and "1,809 record(s)" in written.output and file.is_file()
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "due.xlsx").active
    assert sheet.max_row == 1810 and "OFFICIAL-SENSITIVE" in str(sheet.oddHeader.center.text or sheet.oddHeader.left.text)


def test_a_case_that_expects_a_wrong_deadline_fails(pack, reference):
    """The due check can fail: a deadline one hour out, or a record the rule does not list."""
    import dataclasses

    from recordcheck.checks.rulechange.ruletest import run_case

    rule = pack.get("REC006")
    (case,) = [c for c in rule.cases if c.name == "pending_across_spring_clock_change_measured_in_elapsed_hours"]
    assert run_case(pack, reference, rule, case).passed
    wrong = dataclasses.replace(case, due={"R1": "2026-03-29T11:00:00Z"})
    outcome = run_case(pack, reference, rule, wrong)
    assert not outcome.passed and "due R1 at 2026-03-29T12:00:00Z, the case says 2026-03-29T11:00:00Z" in outcome.message
    extra = dataclasses.replace(case, due={"R1": "2026-03-29T12:00:00Z", "R2": "2026-03-29T11:29:00Z"})
    assert "should list R2 as due" in run_case(pack, reference, rule, extra).message


@pytest.mark.slow
def test_a_daytime_due_run_is_stored_but_never_the_nights_baseline(tmp_path):
    """Issue 30: daytime runs into the same folder and store do not disturb the nightly comparison."""
    import json

    out = tmp_path / "out"

    def run(as_of: str, *extra: str):
        result = CliRunner().invoke(cli, ["run", str(SAMPLE), "--out", str(out), "--as-of", as_of, "--quiet", *extra])
        assert result.exit_code == 0, result.output
        return result, json.loads((out / "latest" / "summary.json").read_text(encoding="utf-8"))

    _, night = run("2026-04-01T00:00:00Z")
    result, day = run("2026-04-01T13:00:00Z", "--purpose", "due")
    assert day["purpose"] == "due" and day["previous_run"] == night["run_id"]
    assert "(a daytime due run: stored, never a night's baseline)." in result.output
    assert json.loads((out / "latest" / "due.csv").parent.joinpath("summary.json").read_text())["due"]["total"] > 0
    _, next_night = run("2026-04-02T00:00:00Z")
    assert next_night["previous_run"] == night["run_id"], "the next night compares with the last night, not the day"
    history = json.loads((out / "latest" / "history.json").read_text(encoding="utf-8"))["runs"]
    assert [r["as_of"][:19] for r in history] == ["2026-04-01T00:00:00", "2026-04-02T00:00:00"]
    listed = CliRunner().invoke(cli, ["history", str(out)]).output.split("\n\n")[0].splitlines()
    assert len(listed) == 4, "history lists every run, the daytime one too"


@pytest.mark.slow
def test_notify_runs_the_forces_command_with_the_due_file_and_never_fails_the_run(tmp_path):
    """Issue 30, part 5: an argument list, never a shell string; given the due file's path; a
    timeout; a failing or hanging command is said and the run still exits 0 with its list."""
    import json
    import sys

    told = tmp_path / "told.txt"
    script = tmp_path / "notice.py"
    script.write_text(
        "import sys, pathlib\n"
        f"pathlib.Path({str(told)!r}).write_text(sys.argv[1] + ' ' + sys.argv[2])\n"
        "sys.exit(int(sys.argv[1] == 'fail') * 3)\n",
        encoding="utf-8",
    )

    def night(word: str, hours: float = 6, timeout: int = 30):
        config = tmp_path / f"{word}.yaml"
        command = (
            [sys.executable, str(script), word] if word != "hang" else [sys.executable, "-c", "import time; time.sleep(30)"]
        )
        config.write_text(
            "config: 1\n"
            + "notify: "
            + json.dumps({"command": command, "due_within_hours": hours, "timeout_seconds": timeout})
            + "\n",
            encoding="utf-8",
        )
        out = tmp_path / f"out-{word}"
        return CliRunner().invoke(
            cli, ["run", str(SAMPLE), "--out", str(out), "--as-of", AS_OF_TEXT, "--quiet", "--config", str(config)]
        ), out

    result, out = night("ok")
    assert result.exit_code == 0, result.output
    assert "notify: " in result.output and "told of 1 record(s) due within 6 hours" in result.output
    assert told.read_text() == f"ok {(out / 'latest').resolve() / 'due.csv'}"
    told.unlink()
    result, _ = night("quiet", hours=1)
    assert result.exit_code == 0 and not told.exists() and "notify: " not in result.output, "nothing due within 1 hour"
    result, _ = night("fail")
    assert result.exit_code == 0 and "exited 3; the due list is published" in result.output
    result, _ = night("hang", timeout=1)
    assert result.exit_code == 0 and "timed out; the due list is published" in result.output


@pytest.mark.slow
def test_met_in_time_and_missed_are_counted_from_the_first_listing(tmp_path):
    """Issue 30, part 4: a due item acted on (a crime linked before its deadline) is met in time;
    one whose finding comes is missed; the rest stay open. Per week of first listing, with the
    median hours from listed to acted on."""
    import json
    import shutil

    out = tmp_path / "out"
    first = CliRunner().invoke(cli, ["run", str(SAMPLE), "--out", str(out), "--as-of", AS_OF_TEXT, "--quiet"])
    assert first.exit_code == 0, first.output
    listed = pl.read_csv(out / "latest" / "due.csv", infer_schema=False)
    later = "2026-04-01T12:00:00Z"
    expected_missed = listed.filter((pl.col("rule") == "REC006") & (pl.col("deadline_at") < later))
    acted = expected_missed["record_id"][0]
    # the morning's work: a crime is linked to the first referral on the list
    extract = tmp_path / "extract"
    shutil.copytree(SAMPLE, extract)
    links = pl.read_csv(extract / "crime_links.csv", infer_schema=False)
    crime = pl.read_csv(extract / "crimes.csv", infer_schema=False)["crime_id"][0]
    pl.concat(
        [links, links.head(1).with_columns(crime_id=pl.lit(crime), source_type=pl.lit("referral"), source_id=pl.lit(acted))]
    ).write_csv(extract / "crime_links.csv")
    day = CliRunner().invoke(cli, ["run", str(extract), "--out", str(out), "--as-of", later, "--quiet", "--purpose", "due"])
    assert day.exit_code == 0, day.output
    weeks = json.loads((out / "latest" / "summary.json").read_text(encoding="utf-8"))["due"]["weeks"]
    assert len(weeks) == 1 and weeks[0]["week"] == "2026-03-30"
    week = weeks[0]
    assert week["met"] == 1 and week["missed"] == expected_missed.height - 1 >= 1
    assert week["listed"] == listed.height and week["open"] == listed.height - expected_missed.height
    assert week["median_hours_to_act"] == 12.0, "first listed at the night's as-of, acted on by the day run"
    page = (out / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'id="due-weeks"' in page and 'data-week="2026-03-30"' in page
    shown = CliRunner().invoke(cli, ["history", str(out)]).output.splitlines()
    assert shown[-1].split() == ["2026-03-30", f"{week['listed']:,}", "1", str(week["missed"]), f"{week['open']:,}", "12.0"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("start", "hours"),
    [(AS_OF_TEXT, "24"), ("2026-03-28T06:00:00Z", "24"), ("2025-10-25T06:00:00Z", "24"), (AS_OF_TEXT, "6")],
    ids=["april", "across_the_spring_change", "across_the_autumn_change", "daytime_every_6_hours"],
)
def test_generated_nights_due_lists_and_their_outcomes_match_the_keys(tmp_path, start, hours):
    """Issue 30, part 6: each generated night's due.csv is its due_key.csv, deadlines to the second;
    across the nights, met in time and missed are what the keys say. The nights' own events make
    both: a pending report that arrives 12 hours before one night is missed by the next, and the
    nightly victim updates meet each open crime's due update. Second run: nights from 28 March
    2026, so deadlines fall on both sides of the clock change (01:00 UTC on 29 March), each still
    to the second, and each London time its instant's."""
    import json
    from datetime import datetime
    from zoneinfo import ZoneInfo

    nights_dir, out = tmp_path / "nights", tmp_path / "out"
    made = CliRunner().invoke(
        cli,
        ["generate", str(nights_dir), "--seed", "7", "--scale", "0.02", "--nights", "3", "--as-of", start, "--hours", hours],
    )
    assert made.exit_code == 0, made.output
    kind = {"REC006": "decision_overdue", "VIC001": "victim_update_overdue"}
    items: dict[tuple[str, str, str, str], str | None] = {}
    for number in range(1, 4):
        folder = nights_dir / f"night-{number:02d}"
        as_of = json.loads((folder / "generation.json").read_text())["as_of"]
        result = CliRunner().invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", as_of, "--quiet"])
        assert result.exit_code == 0, result.output
        listed = {
            tuple(r)
            for r in pl.read_csv(out / "latest" / "due.csv", infer_schema=False)
            .select("rule", "record_type", "record_id", "deadline_at")
            .iter_rows()
        }
        expected = {tuple(r) for r in pl.read_csv(folder / "due_key.csv", infer_schema=False).iter_rows()}
        assert listed == expected, (number, sorted(listed ^ expected)[:5])
        for at_utc, local in (
            pl.read_csv(out / "latest" / "due.csv", infer_schema=False).select("deadline_at", "deadline_local").iter_rows()
        ):
            moment = datetime.fromisoformat(at_utc.replace("Z", "+00:00")).astimezone(ZoneInfo("Europe/London"))
            assert local.startswith(moment.strftime("%Y-%m-%d %H:%M")), (at_utc, local)
        # the keys' own settlement of the items listed so far
        findings = {tuple(r) for r in pl.read_csv(folder / "key.csv", infer_schema=False).iter_rows()}
        at = as_of.replace("+00:00", "Z")
        for item, outcome in items.items():
            if outcome is None:
                rule, record_type, record_id, deadline = item
                if (kind[rule], record_type, record_id) in findings:
                    items[item] = "missed"
                elif item not in expected or at > deadline:
                    items[item] = "met"
        for item in expected:
            items.setdefault(item, None)
    change = {"2026-03-28": "2026-03-29T01:00:00Z", "2025-10-25": "2025-10-26T01:00:00Z"}.get(start[:10])
    if change:  # deadlines on both sides of the change
        deadlines = {deadline for rule, _, _, deadline in items if rule == "REC006"}
        assert min(deadlines) < change < max(deadlines), sorted(deadlines)
    weeks = json.loads((out / "latest" / "summary.json").read_text())["due"]["weeks"]
    counted = {key: sum(w[key] for w in weeks) for key in ("listed", "met", "missed", "open")}
    outcomes = list(items.values())
    assert counted == {
        "listed": len(items),
        "met": outcomes.count("met"),
        "missed": outcomes.count("missed"),
        "open": outcomes.count(None),
    }
    assert counted["met"] > 0 and counted["missed"] > 0, counted
    # a pending report recorded before its deadline is met in time; one left pending is missed
    met_reports = [item for item, outcome in items.items() if item[0] == "REC006" and outcome == "met"]
    assert met_reports, sorted(items)[:5]


@pytest.mark.slow
def test_due_csv_is_spreadsheet_safe_and_due_parquet_keeps_the_exact_value(sample_night, tmp_path):
    """due.csv is written by DuckDB, not Polars: a formula-like district of a crime on the due list
    reaches it with its apostrophe, and due.parquet with the district as exported."""
    payload = '=HYPERLINK("http://x","y")'
    extract, out = tmp_path / "extract", tmp_path / "out"
    shutil.copytree(SAMPLE, extract)
    listed = pl.read_csv(sample_night[0] / "latest" / "due.csv", infer_schema=False)
    crime = listed.filter(pl.col("rule") == "VIC001")["record_id"][0]
    crimes = pl.read_csv(extract / "crimes.csv", infer_schema=False)
    crimes.with_columns(
        pl.when(pl.col("crime_id") == crime).then(pl.lit(payload)).otherwise(pl.col("district")).alias("district")
    ).write_csv(extract / "crimes.csv")
    result = CliRunner().invoke(cli, ["run", str(extract), "--out", str(out), "--as-of", AS_OF_TEXT, "--quiet"])
    assert result.exit_code in (0, 1), result.output
    with (out / "latest" / "due.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert not [cell for row in rows for cell in row.values() if cell.startswith(FORMULA_START)]
    assert next(r for r in rows if r["record_id"] == crime)["district"] == "'" + payload
    exact = pl.read_parquet(out / "latest" / "due.parquet").filter(pl.col("record_id") == crime)
    assert exact["district"].to_list() == [payload]
