"""Audit-sample estimates (issue 9, part): the stratified combined ratio estimator against a hand
calculation and the 2018 inspection's published figure; worksheets checked whole; the screen
measured against the reviewers."""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from recordcheck.checks.audit.estimate import estimate, read_worksheet
from recordcheck.checks.audit.sample import VERDICTS, WORKSHEET_COLUMNS
from recordcheck.checks.base.errors import ConfigError
from recordcheck.cli import cli

HEADER = [*WORKSHEET_COLUMNS, *VERDICTS]  # the worksheet `recordcheck sample` writes


def _worksheet(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in HEADER})
    return path


def _screen_file(worksheet: Path, findings: list[list[str]]) -> None:
    """The sample's screen file beside the worksheet: each sample's record and the findings on it."""
    with worksheet.with_name(f"{worksheet.stem}.screen.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "record_type", "record_id", "findings"])
        writer.writerows(findings)


def _row(i: int, stratum: str, population: int, due, recorded, on_time=None, correct=None) -> dict:
    return {
        "sample_id": f"S{i}",
        "stratum": stratum,
        "stratum_population": population,
        "crimes_due": due,
        "crimes_recorded": recorded,
        "recorded_on_time": recorded if on_time is None else on_time,
        "classified_correctly": recorded if correct is None else correct,
    }


def test_the_2018_inspection_figure_is_reproduced(tmp_path):
    """1,342 reports, one crime due each, 1,201 recorded: 89.5%, +/- 1.64% inspection-style."""
    rows = [_row(i, "all", 1342, 1, 1 if i < 1201 else 0) for i in range(1342)]
    result = estimate(_worksheet(tmp_path / "w.csv", rows))["recording"]
    assert round(result["rate"] * 100, 1) == 89.5
    assert round(result["margin_normal"] * 100, 2) == 1.64
    assert result["ci_low"] == result["ci_high"] == result["rate"], "the whole population reviewed: no sampling error"
    assert (result["x"], result["y"], result["reviewed"]) == (1342, 1201, 1342)


def test_a_stratified_estimate_matches_the_hand_calculation(tmp_path):
    # stratum A: N = 100, n = 4, (x, y) = (1,1) (1,1) (1,0) (1,1); W = 25
    # stratum B: N = 50,  n = 3, (x, y) = (1,1) (2,1) (1,1);       W = 50/3
    # X = 25*4 + 50/3*4 = 166.667; Y = 25*3 + 50/3*3 = 125; R = 0.75
    # d_A = 0.25, 0.25, -0.75, 0.25 -> s2 = 0.25;  d_B = 0.25, -0.5, 0.25 -> s2 = 0.1875
    # V = (100^2 * 0.96 * 0.25/4 + 50^2 * 0.94 * 0.1875/3) / X^2 = (600 + 146.875) / 27777.78 = 0.0268875
    rows = [
        _row(1, "A", 100, 1, 1),
        _row(2, "A", 100, 1, 1),
        _row(3, "A", 100, 1, 0),
        _row(4, "A", 100, 1, 1),
        _row(5, "B", 50, 1, 1),
        _row(6, "B", 50, 2, 1),
        _row(7, "B", 50, 1, 1),
    ]
    result = estimate(_worksheet(tmp_path / "w.csv", rows))["recording"]
    assert result["rate"] == pytest.approx(0.75)
    half = 1.959963984540054 * math.sqrt(746.875 / (500 / 3) ** 2)
    assert result["ci_low"] == pytest.approx(0.75 - half) and result["ci_high"] == 1.0
    assert result["margin_normal"] == pytest.approx(1.959963984540054 * math.sqrt(0.75 * 0.25 / 8))
    strata = {s["stratum"]: s for s in result["strata"]}
    assert strata["A"]["rate"] == pytest.approx(0.75) and strata["B"]["rate"] == pytest.approx(0.75)
    assert (strata["A"]["population"], strata["A"]["sample"]) == (100, 4)


def test_a_stratum_of_one_row_is_named_not_silently_used(tmp_path):
    rows = [_row(1, "A", 10, 1, 1), _row(2, "A", 10, 1, 0), _row(3, "lonely", 5, 1, 1)]
    result = estimate(_worksheet(tmp_path / "w.csv", rows))["recording"]
    assert result["warnings"] == ["stratum lonely has one reviewed row: it adds nothing to the variance"]


def test_blank_rows_are_counted_and_bad_ones_reject_the_worksheet(tmp_path):
    good = [_row(1, "A", 10, 1, 1), _row(2, "A", 10, 2, 1), {"sample_id": "S3", "stratum": "A", "stratum_population": 10}]
    rows, skipped = read_worksheet(_worksheet(tmp_path / "ok.csv", good))
    assert len(rows) == 2 and skipped == 1
    bad = [
        _row(1, "A", 10, 1, 1),
        _row(2, "A", 10, -1, 0),
        _row(3, "A", 10, 1, 2),
        _row(4, "A", 10, "two", 1),
        _row(5, "A", 10, 2, 2, on_time=3),
    ]
    with pytest.raises(ConfigError) as err:
        read_worksheet(_worksheet(tmp_path / "bad.csv", bad))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'bad.csv'}: nothing estimated; 4 problem(s)")
    for expected in (
        "line 3, column crimes_due: negative",
        "line 4, column crimes_recorded: 2 is more than crimes_due (1)",
        "line 5, column crimes_due: not a whole number",
        "line 6, column recorded_on_time: 3 is more than crimes_recorded",
    ):
        assert expected in message


@pytest.mark.parametrize(
    ("population", "message"),
    [
        (-44, "line 2, column stratum_population: negative"),
        (0, "line 2, column stratum_population: a whole number from 1 to 100,000,000"),
        ("inf", "line 2, column stratum_population: not a whole number"),
        ("1e300", "line 2, column stratum_population: not a whole number"),
        ("9" * 400, "line 2, column stratum_population: too long for a count"),
        (1, "stratum 'A': stratum_population 1 is fewer than its 2 reviewed rows"),
    ],
)
def test_a_stratum_population_that_cannot_be_is_refused_by_line(tmp_path, population, message):
    """A negative population once gave 44.1% (CI 0-100%), and with --out that rate reached every
    later report; 0, inf, 1e300 or fewer than the rows reviewed exited 5."""
    rows = [_row(1, "A", population, 1, 1), _row(2, "A", population, 1, 0)]
    with pytest.raises(ConfigError, match=re.escape(message)):
        read_worksheet(_worksheet(tmp_path / "w.csv", rows))


def test_duplicate_sample_ids_and_a_stratum_with_two_populations_are_refused(tmp_path):
    rows = [_row(1, "A", 10, 1, 1), _row(1, "A", 10, 1, 0), _row(3, "A", 12, 1, 1)]
    with pytest.raises(ConfigError) as err:
        read_worksheet(_worksheet(tmp_path / "w.csv", rows))
    assert "line 3, column sample_id: 'S1' is on line 2 too" in str(err.value)
    assert "stratum 'A': stratum_population differs between its rows (10, 12)" in str(err.value)


def test_an_xlsx_worksheet_reads_as_the_csv_does(tmp_path):
    from openpyxl import Workbook

    rows = [_row(i, "A", 20, 1, 1 if i % 3 else 0) for i in range(9)]
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row.get(k) for k in HEADER])
    book.save(tmp_path / "w.xlsx")
    assert estimate(tmp_path / "w.xlsx")["recording"] == estimate(_worksheet(tmp_path / "w.csv", rows))["recording"]


def test_the_screen_is_measured_against_the_reviewers(tmp_path):
    # reviewers: S1 unrecorded, S2 recorded late, S3 fine, S4 unrecorded, S5 misclassified
    rows = [
        _row(1, "A", 50, 1, 0),
        _row(2, "A", 50, 1, 1, on_time=0),
        _row(3, "A", 50, 1, 1),
        _row(4, "A", 50, 2, 1),
        _row(5, "A", 50, 1, 1, correct=0),
    ]
    worksheet = _worksheet(tmp_path / "w.csv", rows)
    _screen_file(
        worksheet,
        [
            ["S1", "referral", "R1", "unrecorded_crime"],
            ["S2", "referral", "R2", ""],
            ["S3", "referral", "R3", "late_recording"],
            ["S4", "referral", "R4", "undercounting"],
            ["S5", "referral", "R5", "misclassification;late_recording"],
        ],
    )
    result = CliRunner().invoke(
        cli, ["estimate", str(worksheet), "--json", str(tmp_path / "e.json"), "--annual-recorded", "10000"]
    )
    assert result.exit_code == 0, result.output
    calibration = json.loads((tmp_path / "e.json").read_text())["calibration"]
    assert {k: calibration["unrecorded"][k] for k in ("tp", "fp", "fn", "tn")} == {"tp": 2, "fp": 0, "fn": 0, "tn": 3}
    assert {k: calibration["late_recording"][k] for k in ("tp", "fp", "fn", "tn")} == {"tp": 0, "fp": 2, "fn": 1, "tn": 2}
    assert {k: calibration["misclassification"][k] for k in ("tp", "fp", "fn", "tn")} == {"tp": 1, "fp": 0, "fn": 0, "tn": 4}
    assert calibration["late_recording"]["precision"] == 0.0 and calibration["unrecorded"]["recall"] == 1.0
    assert "recording" in result.output and "unrecorded a year" in result.output


def test_a_sample_with_no_failure_does_not_claim_certainty(tmp_path):
    """Found on a generated scale-0.1 extract: 344 reports due, all recorded, in a sample of 1,342
    from 63,155; R +/- 1.96 sqrt(V) would be 100% to 100%, the true rate was 99.7%."""
    rows = [_row(i, "A", 5000, 1, 1) for i in range(300)] + [_row(300 + i, "B", 9000, 0, 0) for i in range(100)]
    result = estimate(_worksheet(tmp_path / "w.csv", rows))["recording"]
    assert result["rate"] == 1.0
    assert (result["ci_low"], result["ci_high"]) == (result["wilson_low"], result["wilson_high"])
    assert result["ci_low"] == pytest.approx(0.98736, abs=1e-4) and result["ci_high"] == pytest.approx(1.0)
    assert any("Wilson interval" in w for w in result["warnings"])


def test_the_narrative_screen_is_measured_on_the_uncoded_reports(tmp_path):
    """NAR001 against the reviewers' crimes short of due, on reports with no offence coded only:
    a coded report is the coded rules' (S1 is left out though flagged and short)."""
    rows = [
        {**_row(1, "A", 50, 1, 0), "offence_code": "8N"},
        _row(2, "A", 50, 1, 0),  # flagged, short: tp
        _row(3, "A", 50, 1, 0),  # flagged, short: tp
        _row(4, "A", 50, 0, 0),  # flagged, nothing due: fp
        _row(5, "A", 50, 1, 0),  # not flagged, short: fn
        _row(6, "A", 50, 0, 0),  # not flagged, nothing due: tn
    ]
    worksheet = _worksheet(tmp_path / "w.csv", rows)
    _screen_file(
        worksheet,
        [
            ["S1", "referral", "R1", "narrative_disclosure;unrecorded_crime"],
            ["S2", "referral", "R2", "narrative_disclosure"],
            ["S3", "incident", "I3", "narrative_disclosure"],
            ["S4", "incident", "I4", "narrative_disclosure"],
            ["S5", "referral", "R5", ""],
            ["S6", "referral", "R6", ""],
        ],
    )
    words = estimate(worksheet)["calibration"]["narrative_disclosure"]
    assert {k: words[k] for k in ("tp", "fp", "fn", "tn")} == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert words["precision"] == 2 / 3 and words["recall"] == 2 / 3
    assert 0 < words["precision_low"] < 2 / 3 < words["precision_high"] < 1


def test_a_formula_with_no_stored_value_is_refused_by_line_not_read_as_blank(tmp_path):
    """Issue 25: a workbook saved without calculating (as openpyxl and some tools save) holds a
    formula's text but not its result; read as empty, that reviewer's verdict would vanish."""
    from openpyxl import Workbook

    rows = [_row(i, "A", 20, 1, 1) for i in range(3)]
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for row in rows:
        sheet.append([row.get(k) for k in HEADER])
    sheet.cell(row=3, column=HEADER.index("crimes_recorded") + 1, value="=1+0")
    book.save(tmp_path / "w.xlsx")
    result = CliRunner().invoke(cli, ["estimate", str(tmp_path / "w.xlsx")])
    assert result.exit_code == 2, result.output
    assert "line 3, column crimes_recorded: a formula with no stored value" in result.output
    # the same workbook with values typed in is read
    sheet.cell(row=3, column=HEADER.index("crimes_recorded") + 1, value=1)
    book.save(tmp_path / "w.xlsx")
    assert CliRunner().invoke(cli, ["estimate", str(tmp_path / "w.xlsx")]).exit_code == 0
