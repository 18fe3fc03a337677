"""Nightly operation (issue 16): the run store and its migrations, change between nights,
auditors' decisions, thresholds that skip judged findings, one writer, and crash safety at every
step of publishing."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from bs4 import BeautifulSoup
from click.testing import CliRunner

from recordcheck.checks.base.errors import Busy, StoreUnavailable
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.extract.contract import REGISTER_COLUMNS
from recordcheck.checks.nightly.comparison import CRASH_ENV, STAGES, single_writer
from recordcheck.checks.nightly.publish import UNCOMMITTED
from recordcheck.checks.nightly.review import import_decisions
from recordcheck.checks.nightly.store import SCHEMA_VERSION, RunStore
from recordcheck.cli import cli
from tests.conftest import ROOT, reading_pack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def nightly_pack(tmp_path_factory):
    """The store, the nights and the decisions on their findings are what this file tests, not the
    rules: its nights run the small pack (conftest AROUND_RULES)."""
    yield from reading_pack(tmp_path_factory)


SAMPLE = ROOT / "sample_data" / "extract"
NIGHT = datetime(2026, 4, 1, tzinfo=UTC)


def _at(night: int) -> str:
    return (NIGHT + timedelta(days=night)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run(extract: Path, out: Path, night: int, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", str(extract), "--out", str(out), "--as-of", _at(night), *extra])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def night0(tmp_path_factory) -> Path:
    """The sample's first night under the file's small pack, run once for the module: each test
    that starts from it gets a copy (`_first_night`), not a run of its own. A test that states the
    whole pack's figures runs its own first night."""
    out = tmp_path_factory.mktemp("night0") / "out"
    assert _run(SAMPLE, out, 0)[0] == 0
    return out


def _first_night(night0: Path, out: Path) -> None:
    """OUT as the sample's first night left it (the store, its run folder, `latest`)."""
    shutil.copytree(night0, out, symlinks=True)


def _register(out: Path) -> pl.DataFrame:
    return pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)


def _copy(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "extract"
    shutil.copytree(folder, target)
    return target


def _edit(path: Path, change) -> None:
    frame = pl.read_csv(path, infer_schema=False)
    change(frame).write_csv(path)


def _decide(out: Path, rows: list[dict[str, str]], tmp_path: Path, name: str = "decisions.csv") -> Path:
    """A decisions file; each false positive signed by `second` too, where given (a high-severity
    false positive takes effect with two reviewers' names)."""
    file = tmp_path / name
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["fingerprint", "decision", "reviewer", "reason", "until"])
        writer.writeheader()
        writer.writerows(rows)
    return file


# ---------------------------------------------------------------- the store


def test_a_first_version_store_is_upgraded_in_place(tmp_path):
    store_file = tmp_path / "recordcheck.duckdb"
    shutil.copy(ROOT / "tests" / "fixtures" / "store-v1.duckdb", store_file)
    with RunStore(store_file) as store:
        assert store.version() == SCHEMA_VERSION > 1
        runs = store.history()
        assert runs["run_id"].to_list() == ["20260331T013000Z-00000000-aaaa"]
        assert runs["timeliness_rate"].to_list() == [None], "a column added by migration 2"
        assert store.latest_decisions()["decision"].to_list() == ["false_positive"]
    with RunStore(store_file) as store:
        assert store.migrate() == [], "upgraded once"


def test_a_store_newer_than_the_code_is_refused(tmp_path):
    store_file = tmp_path / "s.duckdb"
    with RunStore(store_file) as store:
        store.con.execute("INSERT INTO schema_version VALUES (99, now())")
    with pytest.raises(StoreUnavailable, match="schema 99, newer than this recordcheck knows"):
        RunStore(store_file)


# ---------------------------------------------------------------- change between nights


def test_new_recurring_resolved_and_first_seen_between_nights(whole_pack, tmp_path):
    extract, out = _copy(SAMPLE, tmp_path), tmp_path / "out"
    assert _run(extract, out, 0)[0] == 0
    first = _register(out)
    assert set(first["change"]) == {"new"} and set(first["first_seen"]) == {"2026-04-01"}
    # the store holds the night's figures as the run folder states them, rule by rule and stratum by stratum
    stated = json.loads((out / "latest" / "summary.json").read_text())["rules"]
    with RunStore(out / "recordcheck.duckdb") as store:
        rules = store.con.sql("SELECT rule_id, status, population, breaches FROM rule_figures ORDER BY 1").fetchall()
        strata = store.con.sql(
            "SELECT rule_id, stratum, value, population, breaches FROM stratum_figures ORDER BY ALL"
        ).fetchall()
    assert rules == sorted((r["id"], r["status"], r["population"], r["breaches"]) for r in stated)
    assert strata == sorted(
        (r["id"], stratum, row["value"], row["population"], row["breaches"])
        for r in stated
        for stratum, values in (r.get("strata") or {}).items()
        for row in values
    )
    assert len(strata) > len(rules) > 20
    again = _run(extract, out, 0)
    assert again[0] == 0
    assert (
        _register(out)
        .select("fingerprint", "change", "first_seen")
        .equals(first.select("fingerprint", "change", "first_seen"))
    ), "re-running a night never compares it with itself"

    # overnight: cancellations put right (CAN001 resolves); the as-of moves on a day
    fixed = first.filter(pl.col("rule_id") == "CAN001")["record_id"].to_list()
    _edit(
        extract / "crimes.csv",
        lambda f: f.with_columns(
            pl.when(pl.col("crime_id").is_in(fixed)).then(pl.lit("recorded")).otherwise(pl.col("status")).alias("status")
        ),
    )
    # and one unrecorded referral vanishes from the export while its finding is open
    (vanished,) = first.filter(pl.col("rule_id") == "REC001").sort("record_id")["record_id"].head(1).to_list()
    _edit(extract / "referrals.csv", lambda f: f.filter(pl.col("referral_id") != vanished))
    code, output = _run(extract, out, 1)
    assert code in (0, 1)
    second = _register(out)
    before, after = set(first["fingerprint"]), set(second["fingerprint"])
    assert before - after, "something resolved"
    summary = (out / "latest" / "summary.json").read_text()

    changes = json.loads(summary)["changes"]
    assert changes["new"] == len(after - before) and changes["recurring"] == len(after & before)
    assert changes["resolved"] == len(before - after)
    assert set(second.filter(pl.col("change") == "new")["fingerprint"]) == after - before
    resolved = pl.read_csv(out / "latest" / "resolved.csv", infer_schema=False)
    assert set(resolved["fingerprint"]) == before - after
    assert tuple(resolved.columns) == (*REGISTER_COLUMNS, "how")
    # a record that left the export is never counted as fixed
    how = dict(zip(resolved["record_id"], resolved["how"], strict=True))
    assert how.pop(vanished) == "left_the_extract" and set(how.values()) == {"fixed"}
    assert changes["resolved_how"] == {"fixed": len(how), "left_the_extract": 1, "aged_out": 0}
    assert f"{changes['resolved']:,} resolved (fixed {len(how):,}, left the extract 1);" in output
    recurring = second.filter(pl.col("change") == "recurring")
    assert set(recurring["first_seen"]) == {"2026-04-01"}
    assert set(second.filter(pl.col("change") == "new")["first_seen"]) == {"2026-04-02"}
    # the report: the counts, tonight's new findings first, and the trend over the nights so far
    from bs4 import BeautifulSoup

    page = BeautifulSoup((out / "latest" / "report.html").read_text(encoding="utf-8"), "html.parser")
    card = page.find(id="changes")
    for kind in ("new", "recurring", "resolved"):
        assert card.find(attrs={"data-change": kind}).get_text().split()[0] == f"{changes[kind]:,}"
    assert card.find(attrs={"data-resolved": "left_the_extract"}).get_text() == "left the extract while open 1"
    rows = [tr["data-change"] for tr in page.find(id="exceptions").tbody.find_all("tr")]
    assert rows == sorted(rows, key=lambda c: c != "new") and rows[0] == "new"
    assert len(page.select("#changes svg polyline")) == 3, "headline rates by night"
    # each line has its axis (lowest and highest rate drawn) and its end values, first and last night
    import json as _json

    nights = [
        _json.loads((out / run / "summary.json").read_text())
        for run in sorted(p.name for p in out.iterdir() if (out / p.name / "summary.json").is_file() and p.name != "latest")
    ]
    first_rate, last_rate = nights[0]["headline"]["recording"]["rate"], nights[-1]["headline"]["recording"]["rate"]
    ends = page.select("#changes .spark-ends")[0]
    assert (float(ends["data-first"]), float(ends["data-last"])) == (first_rate, last_rate)
    axis = page.select("#changes svg")[0]
    assert axis.select_one(".axis-high").get_text() and axis.select_one(".axis-low").get_text()


# ---------------------------------------------------------------- decisions


def test_a_waiver_lapses_and_a_false_positive_holds(night0, tmp_path):
    out = tmp_path / "out"
    _first_night(night0, out)
    findings = _register(out)
    fp, waived = findings["fingerprint"][0], findings["fingerprint"][1]
    file = _decide(
        out,
        _two_reviewers(
            [
                {"fingerprint": fp, "decision": "false_positive", "reviewer": "A. Auditor", "reason": "record checked"},
                {
                    "fingerprint": waived,
                    "decision": "waived",
                    "reviewer": "A. Auditor",
                    "reason": "system fix due",
                    "until": "2026-04-02",
                },
            ]
        ),
        tmp_path,
    )
    result = CliRunner().invoke(cli, ["review", "import", str(out), str(file)])
    assert result.exit_code == 0 and "Imported 3 decision(s)" in result.output
    dispositions = []
    for night in (1, 2):  # the waiver holds on 2026-04-02 and has lapsed on 2026-04-03
        _run(SAMPLE, out, night)
        register = _register(out)
        dispositions.append(
            {
                r["fingerprint"]: (r["disposition"], r["disposition_until"])
                for r in register.iter_rows(named=True)
                if r["fingerprint"] in (fp, waived)
            }
        )
    assert dispositions[0] == {fp: ("false_positive", None), waived: ("waived", "2026-04-02")}
    assert dispositions[1] == {fp: ("false_positive", None), waived: (None, None)}


def _two_reviewers(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows, each false positive followed by a second reviewer's (two names for a high-severity one)."""
    return [
        copy
        for row in rows
        for copy in ([row, {**row, "reviewer": "Z. Second"}] if row["decision"] == "false_positive" else [row])
    ]


def _fingerprint(register: pl.DataFrame, rule_id: str, record_id: str) -> str:
    return register.filter((pl.col("rule_id") == rule_id) & (pl.col("record_id") == record_id))["fingerprint"][0]


def test_decisions_change_the_figures_a_high_false_positive_needs_two_reviewers_and_overdue_remedies_reopen(
    whole_pack, tmp_path
):
    """Net rates take confirmed false positives out of the denominator, by hand on the sample:
    gross 3,464 of 3,478 crimes. A medium-severity false positive on REF0000812 (3 victims, 1 counted:
    2 crimes short) takes effect at once: net 3,464 of 3,476. A high-severity one on REF0000801 (1
    crime) waits for a second reviewer (the same reviewer twice is not two), then: 3,464 of 3,475,
    and in reports 3,348 of 3,358. A remediation due 2026-04-02 holds that night and reopens as
    overdue the next, when the finding is raised again unchanged."""
    out = tmp_path / "out"
    assert _run(SAMPLE, out, 0)[0] == 0
    register = _register(out)
    undercount, unrecorded = _fingerprint(register, "CNT001", "REF0000812"), _fingerprint(register, "REC001", "REF0000801")
    late, remedied = _fingerprint(register, "TIM001", "CR0003510"), _fingerprint(register, "REC001", "REF0000802")
    first = [
        {
            "fingerprint": undercount,
            "decision": "false_positive",
            "reviewer": "A. Auditor",
            "reason": "2 victims are 1 person",
        },
        {"fingerprint": unrecorded, "decision": "false_positive", "reviewer": "A. Auditor", "reason": "no offence"},
        {"fingerprint": late, "decision": "false_positive", "reviewer": "A. Auditor", "reason": "report time wrong"},
        {
            "fingerprint": remedied,
            "decision": "remediated",
            "reviewer": "B. Reviewer",
            "reason": "crime to be raised",
            "until": "2026-04-02",
        },
    ]
    assert CliRunner().invoke(cli, ["review", "import", str(out), str(_decide(out, first, tmp_path))]).exit_code == 0

    def night(n: int) -> tuple[dict, dict[str, str | None]]:
        _run(SAMPLE, out, n)
        summary = json.loads((out / "latest" / "summary.json").read_text())
        rows = _register(out)
        return summary, dict(zip(rows["fingerprint"], rows["disposition"], strict=True))

    summary, disposition = night(1)
    assert disposition[unrecorded] == "awaiting_second_review" and disposition[undercount] == "false_positive"
    assert disposition[remedied] == "remediated" and disposition[late] == "false_positive"
    recording = summary["headline"]["recording"]
    assert (recording["compliant"], recording["total"]) == (3464, 3478), "the gross rate is unchanged"
    assert (recording["net"]["compliant"], recording["net"]["total"], recording["net"]["false_positives"]) == (3464, 3476, 2)
    assert summary["headline"]["recording_reports"]["net"]["total"] == 3359, "undercounting: the report has a crime"
    timeliness = summary["headline"]["timeliness"]["net"]
    assert (timeliness["compliant"], timeliness["total"]) == (3537, 3539)
    assert summary["decisions"]["in_force"] == {"awaiting_second_review": 1, "false_positive": 2, "remediated": 1}
    rec001 = next(r for r in summary["rules"] if r["id"] == "REC001")
    assert rec001["false_positives"] == 0 and rec001["net"]["false_positives"] == 0, "one reviewer is not enough"
    assert summary["open_high"] == 21, "22 high-severity findings, less the remediated REF0000802"

    second = [
        {"fingerprint": unrecorded, "decision": "false_positive", "reviewer": "A. Auditor", "reason": "again"},
    ]
    assert (
        CliRunner().invoke(cli, ["review", "import", str(out), str(_decide(out, second, tmp_path, "d2.csv"))]).exit_code == 0
    )
    with RunStore(out / "recordcheck.duckdb") as store:
        latest = store.latest_decisions().filter(pl.col("fingerprint") == unrecorded)
        assert latest["fp_reviewers"].to_list() == [1] and latest["severity"].to_list() == ["high"]
    third = [{"fingerprint": unrecorded, "decision": "false_positive", "reviewer": "C. Second", "reason": "agreed"}]
    assert (
        CliRunner().invoke(cli, ["review", "import", str(out), str(_decide(out, third, tmp_path, "d3.csv"))]).exit_code == 0
    )

    summary, disposition = night(2)
    assert disposition[unrecorded] == "false_positive"
    assert disposition[remedied] == "remediation_overdue", "raised again unchanged after its due date"
    recording = summary["headline"]["recording"]["net"]
    assert (recording["compliant"], recording["total"], recording["false_positives"]) == (3464, 3475, 3)
    reports = summary["headline"]["recording_reports"]["net"]
    assert (reports["compliant"], reports["total"]) == (3348, 3358)
    rec001 = next(r for r in summary["rules"] if r["id"] == "REC001")
    assert (rec001["net"]["total"], rec001["net"]["false_positives"]) == (rec001["population"] - 1, 1)
    assert summary["decisions"]["by_reviewer"] == {
        "A. Auditor": {"false_positive": 4},
        "B. Reviewer": {"remediated": 1},
        "C. Second": {"false_positive": 1},
    }
    assert summary["decisions"]["logged"] == 6
    assert pl.read_csv(out / "latest" / "decisions.csv").height == 6
    page = BeautifulSoup((out / "latest" / "report.html").read_text(encoding="utf-8"), "html.parser")
    net = " ".join(page.select_one('[data-net="recording"]').get_text().split())
    assert net == "Net of 3 confirmed false positive(s): 99.7% (95% CI 99.4%–99.9%; 3,464 of 3,475)"
    assert page.select_one('[data-net-rule="REC001"]') is not None
    assert page.select_one("#decision-log [data-logged]")["data-logged"] == "6"
    assert page.select_one('#decision-log [data-in-force="remediation_overdue"]') is not None
    assert "agreed" in page.select_one("#decision-entries").get_text()
    # 22 high-severity findings: less REF0000801 (a false positive now); REF0000802 is open again
    assert summary["open_high"] == 21
    # the worklist carries the decision log: a second sheet of an XLSX, a CSV beside a CSV
    from openpyxl import load_workbook

    assert CliRunner().invoke(cli, ["review", "export", str(out), "--file", str(tmp_path / "w.xlsx")]).exit_code == 0
    sheet = load_workbook(tmp_path / "w.xlsx")["decision log"]
    assert sheet.max_row == 7 and [c.value for c in sheet[1]][:3] == ["decided_at", "reviewer", "decision"]
    assert CliRunner().invoke(cli, ["review", "export", str(out), "--file", str(tmp_path / "w.csv")]).exit_code == 0
    assert pl.read_csv(tmp_path / "w.decision-log.csv")["reviewer"].to_list().count("C. Second") == 1


def test_changed_evidence_reopens_a_decision(tmp_path):
    extract, out = _copy(SAMPLE, tmp_path), tmp_path / "out"
    _run(extract, out, 0)
    finding = _register(out).filter(pl.col("rule_id") == "REC001").row(0, named=True)
    file = _decide(
        out,
        _two_reviewers(
            [
                {
                    "fingerprint": finding["fingerprint"],
                    "decision": "false_positive",
                    "reviewer": "A. Auditor",
                    "reason": "reason recorded on paper",
                }
            ]
        ),
        tmp_path,
    )
    assert CliRunner().invoke(cli, ["review", "import", str(out), str(file)]).exit_code == 0
    _run(extract, out, 1)
    assert _register(out).filter(pl.col("fingerprint") == finding["fingerprint"])["disposition"].to_list() == [
        "false_positive"
    ]
    referrals = pl.read_csv(extract / "referrals.csv", infer_schema=False)
    current = referrals.filter(pl.col("referral_id") == finding["record_id"])["no_crime_reason"][0]
    _edit(
        extract / "referrals.csv",
        lambda f: f.with_columns(
            pl.when(pl.col("referral_id") == finding["record_id"])
            .then(pl.lit("other" if current != "other" else None, pl.String))
            .otherwise(pl.col("no_crime_reason"))
            .alias("no_crime_reason")
        ),
    )
    _run(extract, out, 2)
    row = _register(out).filter(pl.col("fingerprint") == finding["fingerprint"]).row(0, named=True)
    assert row["detail"] != finding["detail"], "the reason shows in the detail"
    assert row["disposition"] is None, "the decision was made on other evidence"


def test_a_bad_import_file_is_rejected_whole(night0, tmp_path):
    out = tmp_path / "out"
    _first_night(night0, out)
    good = _register(out)["fingerprint"].to_list()
    file = _decide(
        out,
        [
            {"fingerprint": good[0], "decision": "confirmed", "reviewer": "A. Auditor", "reason": "seen"},
            {"fingerprint": "0000000000000000", "decision": "confirmed", "reviewer": "A. Auditor", "reason": "seen"},
            {"fingerprint": good[1], "decision": "waived", "reviewer": "A. Auditor", "reason": "later"},
            {"fingerprint": good[2], "decision": "false_positive", "reviewer": "", "reason": "no"},
            {"fingerprint": good[3], "decision": "ignored", "reviewer": "A. Auditor", "reason": "x"},
            {"fingerprint": good[4], "decision": "waived", "reviewer": "A. Auditor", "reason": "x", "until": "2026-03-01"},
            {"fingerprint": good[5], "decision": "", "reviewer": "", "reason": ""},
            {"fingerprint": good[6], "decision": "remediated", "reviewer": "A. Auditor", "reason": "fix in hand"},
        ],
        tmp_path,
    )
    result = CliRunner().invoke(cli, ["review", "import", str(out), str(file)])
    assert result.exit_code == ExitCode.USAGE_ERROR
    for expected in (
        "nothing imported; 6 problem(s)",
        "line 9, column until: a remediation needs the date it is due",
        "line 3, column fingerprint: no such finding",
        "line 4, column until: a waiver needs the date it lapses",
        "line 5, column reviewer: missing",
        "line 6, column decision: a value of 7 characters, which is not one of",
        "line 7, column until: 2026-03-01 is in the past",
    ):
        assert expected in result.output
    with RunStore(out / "recordcheck.duckdb") as store:
        assert store.decision_history().height == 0, "nothing applied"


def test_thresholds_count_only_findings_not_judged_false_or_waived(night0, tmp_path):
    out = tmp_path / "out"
    _first_night(night0, out)
    can001 = _register(out).filter(pl.col("rule_id") == "CAN001")["fingerprint"].to_list()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"config: 1\nrules:\n  thresholds:\n    CAN001: {{error_count: {len(can001) - 1}}}\n", encoding="utf-8"
    )
    code, output = _run(SAMPLE, out, 1, "--config", str(config))
    assert code == ExitCode.THRESHOLD_BREACHED and "CAN001" in output
    file = _decide(
        out,
        _two_reviewers(
            [
                {
                    "fingerprint": can001[0],
                    "decision": "false_positive",
                    "reviewer": "A. Auditor",
                    "reason": "cancelled correctly on paper",
                }
            ]
        ),
        tmp_path,
    )
    assert CliRunner().invoke(cli, ["review", "import", str(out), str(file)]).exit_code == 0
    code, output = _run(SAMPLE, out, 2, "--config", str(config))
    assert code == 0, output
    import json

    rule = next(r for r in json.loads((out / "latest" / "summary.json").read_text())["rules"] if r["id"] == "CAN001")
    assert rule["false_positives"] == 1 and rule["breaches"] == len(can001)
    page = (out / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'data-false-positives="1">Auditors judged 1 of the flagged false positives, of 1 reviewed' in page
    assert rule["reviewed"] == 1  # precision in use is judged on the reviewed findings alone
    assert "(precision in use 0.0%)" in page


def test_worklist_xlsx_and_csv(tmp_path):
    extract, out = _copy(SAMPLE, tmp_path), tmp_path / "out"
    first = pl.read_csv(extract / "crimes.csv", infer_schema=False)
    # a formula in a field the register shows (the district of a flagged crime)
    _run(extract, out, 0)
    flagged = _register(out).filter(pl.col("record_type") == "crime")["record_id"][0]
    _edit(
        extract / "crimes.csv",
        lambda f: f.with_columns(
            pl.when(pl.col("crime_id") == flagged)
            .then(pl.lit('=HYPERLINK("http://x","y")'))
            .otherwise(pl.col("district"))
            .alias("district")
        ),
    )
    assert first.height > 0
    _run(extract, out, 1)
    xlsx, text = tmp_path / "w.xlsx", tmp_path / "w.csv"
    assert CliRunner().invoke(cli, ["review", "export", str(out), "--file", str(xlsx)]).exit_code == 0
    assert CliRunner().invoke(cli, ["review", "export", str(out), "--file", str(text)]).exit_code == 0
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["fingerprint", "rule_id", "finding"] and header[-5:] == [
        "decision",
        "reviewer",
        "reason",
        "until",
        "evidence",
    ]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
    validations = sheet.data_validations.dataValidation
    assert any(v.formula1 == '"confirmed,false_positive,remediated,waived"' for v in validations)
    first_seen = header.index("first_seen") + 1
    assert isinstance(sheet.cell(row=2, column=first_seen).value, datetime)
    district = header.index("district") + 1
    values = [sheet.cell(row=r, column=district).value for r in range(2, sheet.max_row + 1)]
    assert '\'=HYPERLINK("http://x","y")' in values and not any(str(v).startswith("=") for v in values)
    assert all(sheet.cell(row=r, column=district).data_type == "s" for r in range(2, sheet.max_row + 1))
    with text.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert '\'=HYPERLINK("http://x","y")' in {r["district"] for r in rows}
    severities = [r["severity"] for r in rows]
    assert severities == sorted(severities, key=["high", "medium", "low"].index), "open findings, most severe first"


# ---------------------------------------------------------------- one writer, crashes, pruning


def test_a_second_writer_exits_busy_naming_the_holder(night0, tmp_path):
    out = tmp_path / "out"
    _first_night(night0, out)
    with single_writer(out, out / "recordcheck.duckdb", "recordcheck run (test holder)"):
        code, output = _run(SAMPLE, out, 1)
        assert code == ExitCode.BUSY and "is in use: recordcheck run (test holder) (pid" in output
        imported = CliRunner().invoke(cli, ["review", "import", str(out), str(tmp_path / "none.csv")])
        assert imported.exit_code == ExitCode.BUSY
        with pytest.raises(Busy), single_writer(out, out / "recordcheck.duckdb", "another"):
            pass
    assert _run(SAMPLE, out, 1)[0] == 0, "free again once the holder is done"


def test_a_run_in_another_process_is_refused_while_one_holds_the_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with single_writer(out, out / "recordcheck.duckdb", "nightly batch"):
        done = subprocess.run(
            [sys.executable, "-m", "recordcheck.cli", "run", str(SAMPLE), "--out", str(out), "--as-of", _at(0)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == ExitCode.BUSY and "nightly batch" in done.stderr


@pytest.mark.parametrize("stage", ["recorded", "unmarked"])
def test_a_sigterm_after_the_store_commit_publishes_the_run_it_recorded(night0, tmp_path, stage):
    """A SIGTERM just after the store commit deleted the run folder while the store kept the run: the
    next night compared against a phantom, and the exit-6 message said nothing was published. The
    run is now finished and said to be published."""
    out = tmp_path / "out"
    _first_night(night0, out)
    termed = subprocess.run(
        [sys.executable, "-m", "recordcheck.cli", "run", str(SAMPLE), "--out", str(out), "--as-of", _at(1)],
        capture_output=True,
        text=True,
        env={**os.environ, CRASH_ENV: f"term:{stage}"},
        timeout=120,
    )
    assert termed.returncode == ExitCode.INTERRUPTED, termed.stderr
    assert "is published and in the store" in termed.stderr
    with RunStore(out / "recordcheck.duckdb") as store:
        runs = store.complete_runs()
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    assert folders == sorted(runs) and len(runs) == 2, (folders, runs)
    assert os.readlink(out / "latest") == runs[-1] and not list(out.glob(f"*/{UNCOMMITTED}"))


@pytest.mark.parametrize("stage", STAGES)
def test_a_crash_at_each_step_of_publishing_leaves_everything_consistent(night0, tmp_path, stage):
    out = tmp_path / "out"
    _first_night(night0, out)
    night0 = os.readlink(out / "latest")
    env = {**os.environ, CRASH_ENV: stage}
    killed = subprocess.run(
        [sys.executable, "-m", "recordcheck.cli", "run", str(SAMPLE), "--out", str(out), "--as-of", _at(1)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert killed.returncode == -9, killed.stderr
    # at once: latest still names the last complete run
    assert os.readlink(out / "latest") == night0 and (out / night0 / "report.html").is_file()
    with RunStore(out / "recordcheck.duckdb") as store:
        recorded = store.complete_runs()
    killed_run = [
        p.name
        for p in out.iterdir()
        if p.is_dir() and not p.is_symlink() and p.name != night0 and not p.name.startswith(".")
    ]
    assert len(recorded) == (2 if stage in ("recorded", "unmarked") else 1)
    # the next night repairs: no unrecorded folder, no marker, latest is the store's newest
    assert _run(SAMPLE, out, 2)[0] == 0
    with RunStore(out / "recordcheck.duckdb") as store:
        runs = store.complete_runs()
        previous = store.previous_run(NIGHT + timedelta(days=2))
    folders = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    assert folders == sorted(runs), (stage, folders, runs)
    assert not list(out.glob(f"*/{UNCOMMITTED}")) and not list(out.glob(".staging-*"))
    assert os.readlink(out / "latest") == runs[-1]
    if stage in ("recorded", "unmarked"):
        assert killed_run and killed_run[0] in runs and previous is not None and previous.run_id == killed_run[0]
    else:
        assert previous is not None and previous.run_id == night0


def test_keep_prunes_old_folders_but_the_store_keeps_the_history(whole_pack, tmp_path):
    out = tmp_path / "out"
    for night in range(3):
        assert _run(SAMPLE, out, night, "--keep", "2")[0] == 0
    folders = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")]
    assert len(folders) == 2 and (out / "latest").resolve() in [f.resolve() for f in folders]
    history = CliRunner().invoke(cli, ["history", str(out)])
    assert history.exit_code == 0
    lines = history.output.split("\n\n")[0].splitlines()  # the runs (the due lists' weeks follow)
    assert lines[0].split()[:3] == ["run", "as", "of"] and len(lines) == 4
    assert "2026-04-01 01:00 BST" in lines[1] and "99.60%" in lines[1]


def test_a_decisions_file_is_refused_by_row_for_junk_dates_far_waivers_and_contradictions(night0, tmp_path):
    """Dates with trailing junk, a waiver until 9999, the same finding decided two ways in one file,
    and the same reviewer twice: each refused with its line and column, nothing stored. A workbook
    whose first sheet is a cover sheet with no rows is refused, not 'Imported 0'."""
    out = tmp_path / "out"
    _first_night(night0, out)
    good = _register(out)["fingerprint"].to_list()
    rows = [
        {"fingerprint": good[0], "decision": "waived", "reviewer": "A", "reason": "r", "until": "2026-05-01junk"},
        {"fingerprint": good[1], "decision": "waived", "reviewer": "A", "reason": "r", "until": "9999-12-31"},
        {"fingerprint": good[2], "decision": "confirmed", "reviewer": "A", "reason": "r"},
        {"fingerprint": good[2], "decision": "false_positive", "reviewer": "B", "reason": "r"},
        {"fingerprint": good[3], "decision": "false_positive", "reviewer": "A", "reason": "r"},
        {"fingerprint": good[3], "decision": "false_positive", "reviewer": "A", "reason": "again"},
        {"fingerprint": good[4], "decision": "false_positive", "reviewer": "A", "reason": "r"},
        {"fingerprint": good[4], "decision": "false_positive", "reviewer": "B", "reason": "agreed"},
    ]
    result = CliRunner().invoke(cli, ["review", "import", str(out), str(_decide(out, rows, tmp_path))])
    assert result.exit_code == ExitCode.USAGE_ERROR
    for expected in (
        "nothing imported; 4 problem(s)",
        "line 2, column until: not a date",
        "line 3, column until: 9999-12-31 is more than 3 years ahead",
        "line 5, column decision: 'false_positive' contradicts line 4 ('confirmed')",
        "line 7, column reviewer: the same reviewer decided this finding on line 6 too",
    ):
        assert expected in result.output, result.output
    from openpyxl import Workbook

    book = Workbook()
    book.active.title = "cover"
    book.create_sheet("decisions").append(["fingerprint", "decision", "reviewer", "reason", "until"])
    book.save(tmp_path / "cover.xlsx")
    cover = CliRunner().invoke(cli, ["review", "import", str(out), str(tmp_path / "cover.xlsx")])
    assert cover.exit_code == ExitCode.USAGE_ERROR and "no rows under a header in its first sheet" in cover.output
    with RunStore(out / "recordcheck.duckdb") as store:
        assert store.decision_history().height == 0


def test_a_damaged_store_exits_with_its_own_code(night0, tmp_path):
    """A damaged store exited 2, as if the command line were wrong; it now has its own code, 12."""
    out = tmp_path / "out"
    _first_night(night0, out)
    (out / "recordcheck.duckdb").write_bytes(b"not a database" * 300)
    code, output = _run(SAMPLE, out, 1)
    assert code == ExitCode.STORE_UNAVAILABLE == 12 and "the run store cannot be opened" in output
    assert len([p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]) == 1, "nothing published"


def test_a_lost_or_replaced_store_is_refused_until_asked(night0, tmp_path):
    """A lost store silently reset history (every finding new, decisions gone, --keep stopped
    pruning). OUT holding runs the store does not know now stops the night (exit 2) and says what
    would be lost; --new-store goes on knowingly."""
    out = tmp_path / "out"
    _first_night(night0, out)
    (out / "recordcheck.duckdb").rename(tmp_path / "kept.duckdb")
    code, output = _run(SAMPLE, out, 1)
    assert code == ExitCode.USAGE_ERROR and "holds 1 published run(s) but there is no run store" in output
    assert "the auditors' decisions" in output and "--new-store" in output
    with RunStore(tmp_path / "other.duckdb"):
        pass
    code, output = _run(SAMPLE, out, 1, "--store", str(tmp_path / "other.duckdb"))
    assert code == ExitCode.USAGE_ERROR and "knows none of the 1 run(s)" in output
    assert _run(SAMPLE, out, 1, "--new-store")[0] == 0
    assert _run(SAMPLE, out, 2)[0] == 0, "the new store knows the run it recorded"


def test_the_same_export_twice_or_an_old_one_is_said_and_can_fail_the_night(night0, tmp_path):
    """An export job that did not run leaves last night's files: the night warns, naming the run
    that read them; so does an export whose newest report is a week or more before the as-of.
    fail_on.repeated_export and fail_on.stale_input_days make either fail the night (exit 1)."""
    out = tmp_path / "out"
    _first_night(night0, out)
    first = (out / "latest").resolve().name
    code, output = _run(SAMPLE, out, 1)
    assert code == 0 and f"Warning: the export is, file for file, the one run {first} read" in output
    assert "newest report is" not in output, "a day old is not stale"
    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nfail_on: {repeated_export: true, stale_input_days: 10}\n", encoding="utf-8")
    code, output = _run(SAMPLE, out, 20, "--config", str(config))
    assert code == ExitCode.THRESHOLD_BREACHED, output
    assert (
        "Warning: the newest report is 21 days before the as-of (2026-03-31): an old export, or the wrong --as-of?" in output
    )
    assert "(fail_on.repeated_export)" in output and "over 10 (fail_on.stale_input_days)" in output
    summary = json.loads((out / "latest" / "summary.json").read_text())
    assert summary["input_checks"]["newest_report_age_days"] == 21 and summary["input_checks"]["same_as_run"]


def test_an_incomplete_night_is_never_a_baseline(whole_pack, tmp_path):
    """After a night that could not check everything (exit 9: here the referrals arrived with a
    header and no rows), the next good night is compared with the last good one, not the hole: it
    once reported every referral finding new again. The headline names the baseline."""
    extract, out = _copy(SAMPLE, tmp_path), tmp_path / "out"
    assert _run(extract, out, 0)[0] == 0
    first = (out / "latest").resolve().name
    referrals = (extract / "referrals.csv").read_text(encoding="utf-8")
    (extract / "referrals.csv").write_text(referrals.splitlines()[0] + "\n", encoding="utf-8")
    assert _run(extract, out, 1)[0] == ExitCode.RUN_INCOMPLETE
    (extract / "referrals.csv").write_text(referrals, encoding="utf-8")
    code, output = _run(extract, out, 2)
    assert code == 0, output
    assert "new, 75 recurring, 0 resolved;" in output  # night 0's 75 all raised again; new ones are two days' ageing
    assert f"Compared with: run {first}, the last complete night." in output


def test_re_running_an_older_night_leaves_latest_on_the_newest(tmp_path):
    out = tmp_path / "out"
    assert _run(SAMPLE, out, 1)[0] == 0
    newest = (out / "latest").resolve().name
    assert _run(SAMPLE, out, 0)[0] == 0
    assert (out / "latest").resolve().name == newest, "latest moved back to the older night"
    assert len([p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]) == 2, "the older night is published"
    # with --keep 1, the older night re-run is older than the one kept, yet it is the run just
    # published: pruning it left the command reading a folder it had deleted (exit 5)
    code, output = _run(SAMPLE, out, 0, "--keep", "1")
    assert code == 0, output
    assert (out / "latest").resolve().name == newest


def test_a_tampered_run_id_in_the_store_deletes_nothing_outside_out(night0, tmp_path):
    """A run id read back from the store names a folder only when it has a run id's shape: a
    tampered '../victim' made --keep 1 delete a folder beside OUT."""
    out = tmp_path / "out"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    _first_night(night0, out)
    with RunStore(out / "recordcheck.duckdb") as store:
        store.con.execute("UPDATE runs SET run_id = '../victim'")
    assert _run(SAMPLE, out, 1, "--keep", "1", "--new-store")[0] == 0  # the store knows no folder of OUT now
    assert (victim / "precious.txt").read_text() == "keep me"


def test_decisions_importer_uses_the_night_not_the_wall_clock(night0, tmp_path):
    out = tmp_path / "out"
    _first_night(night0, out)
    fingerprint = _register(out)["fingerprint"][0]
    file = _decide(
        out,
        [{"fingerprint": fingerprint, "decision": "waived", "reviewer": "A", "reason": "r", "until": "2026-04-01"}],
        tmp_path,
    )
    with RunStore(out / "recordcheck.duckdb") as store:
        assert import_decisions(file, store, now=datetime(2030, 1, 1, tzinfo=UTC)) == 1
        assert store.latest_decisions()["until"].to_list() == [date(2026, 4, 1)]


def test_night_level_thresholds_fail_the_night_and_say_why(tmp_path):
    extract, out = _copy(SAMPLE, tmp_path), tmp_path / "out"
    config = tmp_path / "config.yaml"
    config.write_text(
        "config: 1\nfail_on:\n  new_findings: [high]\n  family_rates: {cancellation: 0.001}\n  table_shrink: 0.25\n",
        encoding="utf-8",
    )
    code, output = _run(extract, out, 0, "--config", str(config))
    assert code == ExitCode.THRESHOLD_BREACHED
    assert "new open high-severity finding(s)" in output and "family cancellation: breach rate" in output
    # the next night: nothing new, but the export lost most of its incidents
    _edit(extract / "incidents.csv", lambda f: f.head(f.height // 2))
    kept = pl.read_csv(extract / "incidents.csv", infer_schema=False)["incident_id"]
    _edit(extract / "incident_log.csv", lambda f: f.filter(pl.col("incident_id").is_in(kept.implode())))
    _edit(extract / "crime_links.csv", lambda f: f.filter(pl.col("source_type") == "referral"))
    code, output = _run(extract, out, 1, "--config", str(config))
    assert code == ExitCode.THRESHOLD_BREACHED
    assert "incidents: " in output and "fewer than the previous run's" in output and "a truncated export?" in output
    page = (out / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'id="breaches"' in page and "a truncated export?" in page
    typo = tmp_path / "typo.yaml"
    typo.write_text("config: 1\nfail_on:\n  family_rates: {cancelation: 0.1}\n", encoding="utf-8")
    code, output = _run(extract, out, 2, "--config", str(typo))
    assert code == ExitCode.USAGE_ERROR and "fail_on.family_rates names no rule family of the pack: cancelation" in output


def _json_night(
    out: Path, night: int, *extra: str, extract: Path = SAMPLE
) -> tuple[subprocess.CompletedProcess, list[dict]]:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "recordcheck.cli", "run", str(extract), "--out", str(out), "--as-of", _at(night)]
        + ["--log-format", "json", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done, [json.loads(line) for line in done.stderr.splitlines()]  # every line is one object


def test_log_format_json_every_stderr_line_is_an_object_without_record_contents(whole_pack, tmp_path):
    """Issue 26: a good night, an incomplete one, a busy one and a refused config, each as JSON
    lines a collector can ingest: ts, level, event, version, run_id and as_of once known, and on
    failure reason and exit_code; stdout empty unless --headline."""
    out = tmp_path / "out"
    done, records = _json_night(out, 0)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "", "the text headline goes to stdout only with text logs or --headline"
    assert [r["event"] for r in records] == ["stage", "stage", "stage", "run_finished"]
    assert [r["stage"] for r in records[:3]] == ["validate", "rules", "publish"]
    for record in records:
        assert record["ts"].endswith("Z") and record["version"] and record["as_of"] == "2026-04-01T00:00:00+00:00"
        assert record["level"] == "info"
    assert all(r["outcome"] == "done" and r["seconds"] >= 0 for r in records[:3])
    assert records[0]["rows_read"]["referrals"] == 817 and records[0]["rows_total"] == 49127
    assert sum(records[0]["rows_read"].values()) == records[0]["rows_total"]
    assert records[2]["exceptions"] == records[1]["findings"] == 75 and records[2]["exit_code"] == 0
    finished = records[3]
    assert finished["run_id"] == records[1]["run_id"] and finished["exit_code"] == 0 and finished["reason"] == []
    assert finished["verdict"] == "Verdict: no threshold breached." and finished["recording"]["compliant"] == 3464
    referral_ids = pl.read_csv(SAMPLE / "referrals.csv", infer_schema=False)["referral_id"].head(100).to_list()
    assert not any(ref in done.stderr for ref in referral_ids)

    # an incomplete night: the reason is in run_finished, level error, exit_code 9
    emptied = tmp_path / "emptied"
    shutil.copytree(SAMPLE, emptied)
    (emptied / "victim_contacts.csv").write_text(
        (SAMPLE / "victim_contacts.csv").read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8"
    )
    done, records = _json_night(out, 1, "--headline", extract=emptied)
    assert done.returncode == ExitCode.RUN_INCOMPLETE
    assert "Verdict: incomplete" in done.stdout, "--headline keeps the text headline"
    finished = records[-1]
    assert finished["event"] == "run_finished" and finished["level"] == "error" and finished["exit_code"] == 9
    assert finished["exit_name"] == "RUN_INCOMPLETE" and "victim_contacts: a header and no rows" in finished["reason"][0]

    # busy: one exit event naming the holder
    with single_writer(out, out / "recordcheck.duckdb", "nightly batch"):
        done, records = _json_night(out, 2)
    assert done.returncode == ExitCode.BUSY and len(records) == 1
    assert records[0]["event"] == "exit" and records[0]["exit_name"] == "BUSY" and "nightly batch" in records[0]["reason"]
    assert records[0]["as_of"] == "2026-04-03T00:00:00+00:00"

    # refused before any work (a config that is not there): still one JSON line
    done, records = _json_night(out, 2, "--config", str(tmp_path / "none.yaml"))
    assert done.returncode == ExitCode.USAGE_ERROR and [r["exit_code"] for r in records] == [2]

    quiet = subprocess.run(
        [sys.executable, "-m", "recordcheck.cli", "run", str(SAMPLE), "--out", str(out), "--as-of", _at(3), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_ten_nights_of_a_changing_export_match_their_keys(whole_pack, tmp_path, capsys):
    """generate --nights 10: each night's register is its key, and change, resolved.csv and the
    summary's counts are the differences between consecutive keys."""
    import json

    nights_dir, out = tmp_path / "nights", tmp_path / "out"
    made = CliRunner().invoke(
        cli, ["generate", str(nights_dir), "--seed", "7", "--scale", "0.02", "--nights", "10", "--as-of", _at(0)]
    )
    assert made.exit_code == 0, made.output
    previous: set[tuple[str, str, str]] = set()
    lines = []
    for number in range(1, 11):
        folder = nights_dir / f"night-{number:02d}"
        as_of = json.loads((folder / "generation.json").read_text())["as_of"]
        result = CliRunner().invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", as_of, "--quiet"])
        assert result.exit_code == 0, result.output
        key = {tuple(r) for r in pl.read_csv(folder / "key.csv", infer_schema=False).iter_rows()}
        register = _register(out)
        found = {(r["finding"], r["record_type"], r["record_id"]) for r in register.iter_rows(named=True)}
        assert found == key, (number, found ^ key)
        by_change = {
            change: {
                (r["finding"], r["record_type"], r["record_id"])
                for r in register.iter_rows(named=True)
                if r["change"] == change
            }
            for change in ("new", "recurring")
        }
        resolved_rows = pl.read_csv(out / "latest" / "resolved.csv", infer_schema=False)
        resolved = {(r["finding"], r["record_type"], r["record_id"]) for r in resolved_rows.iter_rows(named=True)}
        assert by_change["new"] == key - previous and by_change["recurring"] == key & previous
        assert resolved == previous - key
        changes = json.loads((out / "latest" / "summary.json").read_text())["changes"]
        assert (changes["new"], changes["recurring"], changes["resolved"]) == (
            len(key - previous),
            len(key & previous),
            len(previous - key),
        )
        lines.append(
            f"night {number:02d}: {len(key)} findings = key; new {changes['new']}, recurring "
            f"{changes['recurring']}, resolved {changes['resolved']}"
        )
        previous = key
    history = CliRunner().invoke(cli, ["history", str(out)])
    assert len(history.output.split("\n\n")[0].strip().splitlines()) == 11
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_how_a_resolved_finding_closed_fixed_left_or_aged_out():
    """Tonight's window starts on 1 February 2026. C1 is still in the extract (fixed); R2, of
    March, left while its finding was open; R3, of December 2025, aged out of the window; C4 left
    and its month is unknown (an older store): never assumed aged out; a quarantined row's finding
    and a record type with no table tonight (no incidents) count fixed, as before."""
    import duckdb

    from recordcheck.checks.nightly.comparison import how_resolved

    con = duckdb.connect()
    con.execute("CREATE TABLE r AS SELECT * FROM (VALUES ('R1')) t(referral_id)")
    con.execute("CREATE TABLE c AS SELECT * FROM (VALUES ('C1'), ('C9')) t(crime_id)")
    resolved = pl.DataFrame(
        {
            "record_type": ["crime", "referral", "referral", "crime", "quarantine", "incident"],
            "record_id": ["C1", "R2", "R3", "C4", "crimes.csv:7", "I1"],
            "month": ["2026-03", "2026-03", "2025-12", None, None, "2025-01"],
        }
    )
    how = how_resolved(resolved, con, {"referrals": "r", "crimes": "c"}, "2026-02-01")
    assert how["how"].to_list() == ["fixed", "left_the_extract", "aged_out", "left_the_extract", "fixed", "fixed"]
    # the window's own first month is inside it: a record of that month that left did not age out
    same_month = how_resolved(
        resolved.slice(1, 1).with_columns(pl.lit("2026-02").alias("month")), con, {"referrals": "r"}, "2026-02-01"
    )
    assert same_month["how"].to_list() == ["left_the_extract"]


def test_review_export_shows_decisions_imported_since_the_run(tmp_path):
    """A false positive imported after the night's run is in the next worklist (last, decided),
    from OUT's own store or the one --store names; a --store that does not exist is refused and
    no worklist is written."""
    extract, out = _copy(SAMPLE, tmp_path), tmp_path / "out"
    _run(extract, out, 0)
    finding = _register(out).filter(pl.col("severity") == "high").sort("fingerprint").row(0, named=True)
    decisions = _decide(
        out,
        _two_reviewers(
            [{"fingerprint": finding["fingerprint"], "decision": "false_positive", "reviewer": "A1", "reason": "r"}]
        ),
        tmp_path,
    )
    assert CliRunner().invoke(cli, ["review", "import", str(out), str(decisions)]).exit_code == 0
    moved = tmp_path / "elsewhere.duckdb"
    shutil.copy(out / "recordcheck.duckdb", moved)
    for extra in ([], ["--store", str(moved)]):
        worklist = tmp_path / "w.csv"
        result = CliRunner().invoke(cli, ["review", "export", str(out), "--file", str(worklist), *extra])
        assert result.exit_code == 0, result.output
        rows = pl.read_csv(worklist, infer_schema=False)
        assert rows.filter(pl.col("fingerprint") == finding["fingerprint"])["disposition"].to_list() == ["false_positive"]
        assert rows["fingerprint"][-1] == finding["fingerprint"]  # decided: after every open finding
    missing = CliRunner().invoke(
        cli, ["review", "export", str(out), "--file", str(tmp_path / "x.csv"), "--store", str(tmp_path / "none.duckdb")]
    )
    assert missing.exit_code == 2 and "no run store" in missing.output and not (tmp_path / "x.csv").exists()


def test_hostile_decision_files_are_refused_with_exit_2_never_a_hang(night0, tmp_path, monkeypatch):
    """A workbook that unpacks past the limit (one of 3.5 MB held 1 GB of sheet XML and held the
    output folder's lock for minutes), an XML entity bomb, an over-long cell and a CSV that is not
    UTF-8: each exits 2 with its reason, and nothing is stored."""
    import zipfile

    from openpyxl import Workbook

    from recordcheck.checks.base import safecsv

    out = tmp_path / "out"
    _first_night(night0, out)
    fingerprint = _register(out)["fingerprint"][0]
    book = Workbook()
    book.active.append(["fingerprint", "decision", "reviewer", "reason", "until"])
    book.active.append([fingerprint, "confirmed", "A", "x" * 10_001, None])
    book.save(tmp_path / "long.xlsx")
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(tmp_path / "long.xlsx") as source, zipfile.ZipFile(bomb, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                entities = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                data = data.replace(b"<worksheet", entities.encode() + b"<worksheet", 1)
                assert entities.encode() in data
            target.writestr(item, data)
    (tmp_path / "latin.csv").write_bytes(
        b"fingerprint,decision,reviewer,reason,until\n" + fingerprint.encode() + b",confirmed,Ren\xe9e,r,\n"
    )
    cases = [
        (tmp_path / "long.xlsx", "more than 10,000 characters"),
        (bomb, "not a readable .xlsx"),
        (tmp_path / "latin.csv", "is not UTF-8; save it as CSV UTF-8"),
    ]
    for file, message in cases:
        result = CliRunner().invoke(cli, ["review", "import", str(out), str(file)])
        assert result.exit_code == ExitCode.USAGE_ERROR and message in result.output, (file.name, result.output)
    monkeypatch.setattr(safecsv, "MAX_SHEET_XML_BYTES", 1000)
    result = CliRunner().invoke(cli, ["review", "import", str(out), str(tmp_path / "long.xlsx")])
    assert result.exit_code == ExitCode.USAGE_ERROR and "unpacks to" in result.output
    with RunStore(out / "recordcheck.duckdb") as store:
        assert store.decision_history().height == 0


def test_the_store_its_lock_and_run_folders_are_the_owners_alone_under_umask_022(tmp_path):
    """The run store (ids and the auditors' reasons) and its lock were created 0644; run folders
    stay 0700."""
    import stat

    previous = os.umask(0o022)
    try:
        out = tmp_path / "out"
        assert _run(SAMPLE, out, 0)[0] == 0
    finally:
        os.umask(previous)
    mode = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir() if not p.is_symlink()}
    assert mode["recordcheck.duckdb"] == 0o600 and mode[".recordcheck.lock"] == 0o600
    assert all(m == 0o700 for name, m in mode.items() if name.startswith("2"))
    # output_mode: group lets the analysts' group read the run folders (the store stays the owner's)
    config = tmp_path / "group.yaml"
    config.write_text("config: 1\noutput_mode: group\n", encoding="utf-8")
    previous = os.umask(0o077)
    try:
        assert _run(SAMPLE, out, 1, "--config", str(config))[0] == 0
    finally:
        os.umask(previous)
    folder = (out / "latest").resolve()
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750
    assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o640}
    assert stat.S_IMODE((out / "recordcheck.duckdb").stat().st_mode) == 0o600


def test_history_shows_the_as_of_in_london_time_and_a_busy_shared_store_is_named(night0, tmp_path):
    """Issue 26, item 7: history's as-of is London time with its zone; a run refused because another
    holds a store kept outside OUT names the store file, not a folder."""
    out = tmp_path / "out"
    _first_night(night0, out)
    winter = subprocess.run(
        [sys.executable, "-m", "recordcheck.cli", "run", str(SAMPLE), "--out", str(out)]
        + ["--as-of", "2026-10-25T01:30:00Z", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert winter.returncode == 0, winter.stderr
    shown = CliRunner().invoke(cli, ["history", str(out)]).output.split("\n\n")[0].splitlines()
    assert shown[0].startswith(f"{'run':<32}as of (London)")
    assert "2026-04-01 01:00 BST" in shown[1] and "2026-10-25 01:30 GMT" in shown[2]
    assert len({line.index(" 0 ") for line in shown[1:]}) == 1, "the columns line up"
    store = tmp_path / "shared" / "runs.duckdb"
    store.parent.mkdir()
    with single_writer(tmp_path / "other", store, "the other force's night"):
        result = CliRunner().invoke(
            cli, ["run", str(SAMPLE), "--out", str(tmp_path / "mine"), "--store", str(store), "--as-of", _at(0)]
        )
    assert result.exit_code == ExitCode.BUSY
    assert f"the run store {store} is in use: the other force's night" in result.output


def test_the_store_has_its_own_memory_limit_and_a_spill_folder_it_removes(tmp_path):
    """The store's DuckDB would take 80% of the machine by default, beside the run's own database;
    a night's due items (millions at national scale) spill past its limit to a private folder."""
    with RunStore(tmp_path / "out" / "recordcheck.duckdb") as store:
        ((limit, spill),) = store.con.sql(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()
        assert Path(spill).is_dir() and not Path(spill).is_relative_to(tmp_path / "out")
    assert limit == "488.2 MiB" and not Path(spill).exists()
