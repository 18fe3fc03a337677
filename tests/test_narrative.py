"""The narrative screen: its lexicons as checked data, its assertion layer, hostile text, the
incident log's validation, and the privacy of every word it reads."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.narrative.cases import SentenceCase, run_sentence_cases
from recordcheck.checks.narrative.lexicon import load_lexicons, normalise, term_pattern
from recordcheck.checks.narrative.screen import HIT_TABLE, NOTE_TABLE, screen
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT, ROOT, TEST_PACK

LEXICONS = TEST_PACK / "lexicons"
"""The frozen pack's lexicons: the screen's tests do not move when a force edits its own."""


@pytest.fixture(scope="module")
def lexicons():
    found = load_lexicons(LEXICONS)
    assert found is not None
    return found


def _screen(lexicons, summaries: list[str], log: list[tuple[str, str, str]] | None = None):
    con = duckdb.connect()
    con.execute("CREATE TABLE referrals (referral_id VARCHAR, summary VARCHAR)")
    if summaries:
        con.executemany("INSERT INTO referrals VALUES (?, ?)", [(f"R{i}", s) for i, s in enumerate(summaries)])
    con.execute("CREATE TABLE incidents (incident_id VARCHAR, summary VARCHAR)")
    con.execute("CREATE TABLE incident_log (incident_id VARCHAR, entry_at TIMESTAMPTZ, text VARCHAR)")
    if log:
        con.executemany("INSERT INTO incident_log VALUES (?, ?, ?)", log)
    counts = screen(con, lexicons)
    return con, counts


def test_every_lexicon_sentence_case_passes_and_each_kind_is_covered(lexicons):
    outcomes = run_sentence_cases(lexicons)
    failed = [o.message for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)
    assert len(lexicons.groups) >= 13
    assert {kind for kind in lexicons.cases} == {"affirmed", "negated", "hypothetical", "not_real", "accidental", "idiom"}
    for group in lexicons.groups:
        assert group.flagged and group.not_flagged, group.id


def test_a_sentence_case_can_fail(lexicons):
    """The case runner is not a rubber stamp: a wrong expectation fails, each way."""
    wrong = [
        SentenceCase("assault_with_injury", "not_flagged", "Dad punched him and he has a black eye"),
        SentenceCase("assault_with_injury", "flagged", "He fell and broke his arm"),
        SentenceCase("context", "negated", "Dad punched him"),
        SentenceCase("context", "affirmed", "No evidence of bruising"),
    ]
    assert [o.passed for o in run_sentence_cases(lexicons, wrong)] == [False, False, False, False]


def test_every_group_points_to_codes_in_the_offence_catalogue(lexicons, reference):
    codes = set(reference.offence_catalogue["code"].to_list())
    for group in lexicons.groups:
        assert set(group.codes) <= codes, (group.id, set(group.codes) - codes)


def test_terms_are_words_and_matching_ignores_case_and_punctuation():
    assert term_pattern("Didn't") == "didn t"
    assert term_pattern("strangl*") == "strangl[a-z0-9]*"
    assert normalise("He PUNCHED her!!  (twice)") == "he punched her twice"
    with pytest.raises(ValueError):
        term_pattern("***")


def test_a_lexicon_that_breaks_its_shape_is_refused_with_its_file(tmp_path):
    folder = tmp_path / "lexicons"
    shutil.copytree(LEXICONS, folder)
    path = folder / "rape.yaml"
    path.write_text(path.read_text().replace("group: rape", "group: rapes"))
    with pytest.raises(ConfigError, match="rape.yaml: group 'rapes' must match the file name"):
        load_lexicons(folder)
    shutil.copy(LEXICONS / "rape.yaml", path)
    path.write_text(path.read_text().replace("      - raped\n", "      - '!!!'\n"))
    with pytest.raises(ConfigError, match=r"rape.yaml cue rape.word: term '!!!' has no words"):
        load_lexicons(folder)
    shutil.copy(LEXICONS / "rape.yaml", path)
    (folder / "context.yaml").unlink()
    with pytest.raises(ConfigError, match="no context.yaml"):
        load_lexicons(folder)


def test_scope_ends_at_a_terminator_and_direction_matters(lexicons):
    con, _ = _screen(
        lexicons,
        [
            "She denies it but the boy says dad punched him",  # negation ends at 'but'
            "Punched by dad, he denied",  # 'denied' looks back: negated
            "He denied stealing, then said dad punched him",  # 'then said' ends the scope
            "If he comes back he will give her a black eye",  # conditional
        ],
    )
    found = dict(
        con.execute(f"SELECT record_id, assertion FROM {HIT_TABLE} WHERE offence_group = 'assault_with_injury'").fetchall()
    )
    assert found == {"R0": "affirmed", "R1": "negated", "R2": "affirmed", "R3": "hypothetical"}


def test_hostile_text_is_screened_quickly_and_a_long_text_is_noted(lexicons):
    """Megabytes, control characters, other scripts, emoji and markup: no crash, bounded time;
    a text over the limit is screened up to it and noted (a disclosure past it is not read)."""
    big_head = "Dad punched him, black eye. " + "x " * 1_000_000  # 2 MB, disclosure first
    big_tail = "routine visit. " * 100_000 + "Dad punched him."  # disclosure past the limit
    texts = [
        big_head,
        big_tail,
        "\x00\x01\x02 binary \x7f\x1b[31m dad punched him \x00",
        "الطفل قال إن والده ضربه 父亲打了他 👊😢 dad punched him 💥",
        "<script>alert(1)</script><b>dad punched</b> him &amp; <img src=x onerror=1>",
        "",
        "   ",
    ]
    started = time.perf_counter()
    con, counts = _screen(lexicons, texts)
    assert time.perf_counter() - started < 30
    affirmed = {r for (r,) in con.execute(f"SELECT record_id FROM {HIT_TABLE} WHERE assertion = 'affirmed'").fetchall()}
    assert affirmed == {"R0", "R2", "R3", "R4"}
    notes = dict(con.execute(f"SELECT record_id, chars FROM {NOTE_TABLE}").fetchall())
    assert set(notes) == {"R0", "R1"} and notes["R0"] == len(big_head)
    assert counts["affirmed"] == 4


def test_an_empty_log_and_entries_numbered_in_time_order(lexicons):
    con, _ = _screen(
        lexicons,
        [],
        [
            ("I1", "2026-03-29T01:30:00Z", "Caller now says partner strangled her"),
            ("I1", "2026-03-28T22:05:00Z", "Units deployed"),
            ("I2", "2026-03-28T22:05:00Z", ""),
        ],
    )
    rows = con.execute(f"SELECT record_id, place, entry_no FROM {HIT_TABLE}").fetchall()
    assert rows == [("I1", "log", 2)]
    empty, _ = _screen(lexicons, [], [])
    assert empty.execute(f"SELECT count(*) FROM {HIT_TABLE}").fetchone() == (0,)


def test_a_log_entry_naming_no_incident_is_quarantined(tmp_path, small_extract):
    folder = tmp_path / "extract"
    shutil.copytree(small_extract, folder)
    log = pl.read_csv(folder / "incident_log.csv", infer_schema=False)
    stray = pl.DataFrame({"incident_id": ["INC9999999"], "entry_at": ["2026-03-01T10:00:00"], "text": ["Units deployed"]})
    pl.concat([log, stray]).write_csv(folder / "incident_log.csv")
    result = CliRunner().invoke(
        cli, ["validate", str(folder), "--as-of", AS_OF_TEXT, "--quarantine", str(tmp_path / "q.csv")]
    )
    assert result.exit_code == 0, result.output
    quarantine = pl.read_csv(tmp_path / "q.csv")
    stray_rows = quarantine.filter(pl.col("table") == "incident_log")
    assert stray_rows.select("record_id", "check").rows() == [("INC9999999", "unresolved_incident")]


MARK = "Mk7Narr"


def _everything_written(*folders: Path) -> str:
    texts = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix == ".parquet":
                texts.append(pl.read_parquet(path).write_csv())
            elif path.is_file():
                texts.append(path.read_bytes().decode("utf-8", errors="replace"))
    return "\n".join(texts)


@pytest.mark.slow
def test_no_word_of_a_narrative_reaches_any_output_message_or_log(tmp_path, small_extract):
    """Unique markers in every summary and log entry, inside disclosures the screen flags, and in
    rows driven down the failure paths (a log entry naming no incident, a time that does not parse):
    none appears in anything written or printed."""
    folder = tmp_path / "extract"
    shutil.copytree(small_extract, folder)
    for name, id_col in (("referrals", "referral_id"), ("incidents", "incident_id")):
        frame = pl.read_csv(folder / f"{name}.csv", infer_schema=False)
        frame.with_columns(
            (pl.lit(f"{MARK}s ") + pl.col(id_col) + pl.lit(f" dad punched him, black eye {MARK}e")).alias("summary")
        ).write_csv(folder / f"{name}.csv")
    log = pl.read_csv(folder / "incident_log.csv", infer_schema=False)
    bad = pl.DataFrame(
        {
            "incident_id": ["INC9999999", log["incident_id"][0]],
            "entry_at": ["2026-03-01T10:00:00", f"{MARK}t"],
            "text": [f"{MARK}u stray entry", f"{MARK}v bad time"],
        }
    )
    pl.concat(
        [log.with_columns((pl.lit(f"{MARK}l partner strangled her ") + pl.col("incident_id")).alias("text")), bad]
    ).write_csv(folder / "incident_log.csv")
    runner = CliRunner()
    out, out_redacted, out_national = tmp_path / "out", tmp_path / "out_redacted", tmp_path / "out_national"
    forces = tmp_path / "forces"
    shutil.copytree(folder, forces / "XA")
    outputs = []
    run = runner.invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", AS_OF_TEXT, "--log-format", "json"])
    assert run.exit_code in (0, 9), run.output
    summary = json.loads((out / "latest" / "summary.json").read_text())
    nar = next(r for r in summary["rules"] if r["id"] == "NAR001")
    assert nar["status"] == "run" and nar["breaches"] > 100  # the disclosures were read and flagged
    outputs.append(run.output)
    redacted = runner.invoke(
        cli,
        ["run", str(folder), "--out", str(out_redacted), "--as-of", AS_OF_TEXT, "--redact"],
        env={"RECORDCHECK_REDACTION_KEY": "a" * 64},
    )
    outputs.append(redacted.output)
    for args in (
        ["review", "export", str(out), "--file", str(tmp_path / "worklist.xlsx")],
        ["review", "export", str(out), "--file", str(tmp_path / "worklist.csv")],
        ["sample", str(out / "latest"), "--size", "50", "--file", str(tmp_path / "sample.csv")],
        ["validate", str(folder), "--as-of", AS_OF_TEXT, "--quarantine", str(tmp_path / "q.csv")],
        ["profile", "draft", str(folder), "--out", str(tmp_path / "draft.yaml")],
        ["profile", "check", str(folder)],
        ["rules", "diff", str(folder), "--base", "git:HEAD", "--as-of", AS_OF_TEXT, "--format", "md"],
        ["due", str(out)],
        ["national", str(forces), "--out", str(out_national), "--as-of", AS_OF_TEXT, "--redact", "--redact-below", "7"],
    ):
        result = runner.invoke(cli, args)
        outputs.append(f"{args}: exit {result.exit_code}\n{result.output}")
    assert (out_national / "latest" / "national.html").is_file()
    safe_page = (out_national / "latest" / "national-redacted.html").read_text(encoding="utf-8")
    assert "no count below 7" in safe_page, "--redact-below reaches the page"
    written = _everything_written(out, out_redacted, out_national) + "\n".join(
        p.read_bytes().decode("utf-8", errors="replace") if p.suffix != ".xlsx" else _xlsx_text(p)
        for p in tmp_path.iterdir()
        if p.is_file()
    )
    for text in [*outputs, written]:
        assert MARK not in text


def _xlsx_text(path: Path) -> str:
    import openpyxl

    book = openpyxl.load_workbook(path, read_only=True)
    return "\n".join(str(cell) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for cell in row)


@pytest.mark.slow
def test_the_reports_narrative_section_counts_by_hand(tmp_path):
    """The section's figures from the register and the planted key: 28 flags on the sample, each
    planted group found in at least as many reports as were planted with it, and each row's
    districts adding up to its total."""
    from bs4 import BeautifulSoup

    extract = ROOT / "sample_data" / "extract"
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["run", str(extract), "--out", str(out), "--as-of", AS_OF_TEXT, "--quiet"])
    assert result.exit_code == 0, result.output
    register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False).filter(pl.col("rule_id") == "NAR001")
    planted = pl.read_csv(extract / "narrative_key.csv", infer_schema=False).filter(pl.col("kind") == "disclosure")
    assert set(register.select("record_type", "record_id").rows()) == set(planted.select("record_type", "record_id").rows())
    page = BeautifulSoup((out / "latest" / "report.html").read_text(encoding="utf-8"), "html.parser")
    rate = " ".join(page.select_one('[data-narrative="rate"]').get_text().split())
    summary = json.loads((out / "latest" / "summary.json").read_text())
    judged = next(r for r in summary["rules"] if r["id"] == "NAR001")["population"]
    assert (
        rate.startswith(f"Of {judged:,} uncoded report(s) closed without a crime")
        and f", {register.height} describe" in rate
    )
    titles = {g.id: g.title for g in load_lexicons(LEXICONS).groups}
    rows = {}
    for tr in page.select("#narrative-groups tbody tr"):
        cells = [td.get_text() for td in tr.find_all("td")]
        numbers = [int(c.replace(",", "")) for c in cells[1:]]
        assert numbers[0] == sum(numbers[1:]), cells
        rows[cells[0]] = numbers[0]
    for group, count in planted.group_by("offence_group").len().iter_rows():
        assert rows[titles[group]] >= count, group
    redacted = CliRunner().invoke(
        cli,
        ["run", str(extract), "--out", str(tmp_path / "r"), "--as-of", AS_OF_TEXT, "--quiet", "--redact"],
        env={"RECORDCHECK_REDACTION_KEY": "ab" * 32},
    )
    assert redacted.exit_code == 0
    # the redacted report: counts only, each 0 or at least k (5), a row never with exactly one
    # district suppressed while its total shows, every shown count the full report's
    safe = BeautifulSoup((tmp_path / "r" / "latest" / "report-redacted.html").read_text(encoding="utf-8"), "html.parser")
    full = {
        tr.find("td").get_text(): [td.get_text() for td in tr.find_all("td")[1:]]
        for tr in page.select("#narrative-groups tbody tr")
    }
    shown_rows = safe.select("#narrative-groups tbody tr")
    assert len(shown_rows) == len(full) and not safe.select("#register [data-rule='NAR001']")
    suppressed = 0
    for tr in shown_rows:
        label, *cells = [td.get_text() for td in tr.find_all("td")]
        for mine, theirs in zip(cells, full[label], strict=True):
            assert mine == "suppressed" or (mine == theirs and (mine == "0" or int(mine.replace(",", "")) >= 5)), label
        hidden = sum(c == "suppressed" for c in cells[1:])
        suppressed += hidden
        assert cells[0] == "suppressed" or hidden != 1, f"{label}: one district could be worked out from the total"
    assert suppressed, "the sample has small counts to suppress"
