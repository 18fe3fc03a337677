"""Audit samples (issue 9, part): drawn reproducibly, allocated exactly, written for reviewers
with the screen's findings apart; and, reviewed from the answer key, estimated back."""

from __future__ import annotations

import csv
import json
import math

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.audit.sample import STRATA, allocate, reports_for_margin, size_for_margin
from recordcheck.checks.base.errors import ConfigError
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT, ROOT, run_sample_cli


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = run_sample_cli(out)
    assert result.exit_code == 0, result.output
    return out / "latest"


def _sample(run_dir, file, *args):
    result = CliRunner().invoke(cli, ["sample", str(run_dir), "--file", str(file), *args])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
def test_the_population_is_every_accepted_report_in_its_stratum(run_dir):
    population = pl.read_parquet(run_dir / "population.parquet")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert population.height == summary["tables"]["referrals"]["accepted"] + summary["tables"]["incidents"]["accepted"]
    assert set(population["stratum"]) <= set(STRATA)
    assert population.filter(pl.col("rape"))["stratum"].unique().to_list() == ["rape disclosed"]
    assert not {"summary", "decision_rationale"} & set(population.columns), "never free text"


def test_the_same_seed_gives_the_same_sample(run_dir, tmp_path):
    _sample(run_dir, tmp_path / "a.csv", "--size", "300", "--seed", "7")
    _sample(run_dir, tmp_path / "b.csv", "--size", "300", "--seed", "7")
    _sample(run_dir, tmp_path / "c.csv", "--size", "300", "--seed", "8")
    a, b, c = (pl.read_csv(tmp_path / f"{n}.csv", infer_schema=False) for n in "abc")
    assert a.equals(b) and not a["record_id"].equals(c["record_id"])
    assert a.height == 300 and a["sample_id"].is_unique().all()


def test_the_default_strata_are_the_inspections_and_each_gets_its_minimum(run_dir, tmp_path):
    """Rape, other sexual offences, cancelled crimes, N100s, professional referrals, other
    referrals, coded and uncoded incidents; a sample too small to give each 30 reviewed reports
    (or all a stratum holds) is raised, and says so."""
    population = pl.read_parquet(run_dir / "population.parquet")
    sizes = dict(population.group_by("stratum").len().iter_rows())
    assert set(sizes) == set(STRATA), "the sample extract fills every default stratum"
    assert (
        population.filter(pl.col("stratum") == "uncoded incident")["offence_code"].null_count() == sizes["uncoded incident"]
    )
    assert population.filter(pl.col("stratum") == "N100 decision")["decision"].unique().to_list() == ["n100"]
    assert population.filter(pl.col("stratum") == "cancelled crime")["cancelled"].all()
    result = _sample(run_dir, tmp_path / "w.csv", "--size", "40", "--seed", "1")
    floor = sum(min(30, n) for n in sizes.values())
    assert f"({floor:,} reports" in result.output and "raised from 40" in result.output
    sheet = pl.read_csv(tmp_path / "w.csv", infer_schema=False)
    drawn = dict(sheet.group_by("stratum").len().iter_rows())
    assert all(drawn[s] == min(30, n) for s, n in sizes.items())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(sheet["sampled_run"]) == {summary["run_id"]}
    assert set(sheet["period"]) == {f"{summary['period']['first']} to {summary['period']['last']}"}


def test_the_minimum_per_stratum_and_the_neyman_floor_come_from_the_config(run_dir, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nsample: {min_per_stratum: 10, neyman_floor: 0.2}\n", encoding="utf-8")
    population = pl.read_parquet(run_dir / "population.parquet")
    floor = sum(min(10, n) for n in dict(population.group_by("stratum").len().iter_rows()).values())
    result = _sample(run_dir, tmp_path / "w.csv", "--size", "20", "--seed", "1", "--config", str(config))
    assert f"({floor:,} reports" in result.output and "each stratum has 10 reviewed reports" in result.output
    neyman = _sample(run_dir, tmp_path / "n.csv", "--size", "400", "--allocation", "neyman", "--config", str(config))
    plain = _sample(run_dir, tmp_path / "p.csv", "--size", "400", "--allocation", "neyman")
    uncoded = [
        int(line.split()[2]) for out in (neyman, plain) for line in out.output.splitlines() if "uncoded incident" in line
    ]
    assert uncoded[0] != uncoded[1], "a 20% floor moves the allocation from the 5% default"


def test_a_margin_sizes_the_sample_on_crimes_due_not_reports(run_dir, tmp_path):
    """10,000 reports due 5,000 crimes: a 2% margin needs 738 crimes (finite-population
    corrected), so 1,476 reports at half a crime due each. On the sample, the command says how
    many crimes due the drawn reports hold."""
    n0 = 1.959963984540054**2 * 0.9 * 0.1 / 0.02**2
    crimes = math.ceil(n0 / (1 + (n0 - 1) / 5000))
    assert crimes == 738 == size_for_margin(0.02, 5000)
    assert reports_for_margin(0.02, 10_000, 5_000) == math.ceil(738 * 10_000 / 5_000) == 1476
    population = pl.read_parquet(run_dir / "population.parquet")
    due = int(population["crimes_due"].sum())
    expected = reports_for_margin(0.02, population.height, due)
    result = _sample(run_dir, tmp_path / "m.csv", "--margin", "0.02", "--seed", "1")
    assert f"({expected:,} reports, about " in result.output and "crimes due by the screen" in result.output
    assert expected != size_for_margin(0.02, population.height), "reports and crimes size differently"


def test_allocation_is_exact_with_two_per_stratum_and_neyman_follows_the_breach_rate():
    sizes = {"a": 1000, "b": 300, "c": 3, "d": 0}
    alloc = allocate(sizes, 50)
    assert sum(alloc.values()) == 50 and alloc["c"] == 2 and "d" not in alloc
    assert alloc["a"] > alloc["b"]
    neyman = allocate({"a": 1000, "b": 1000}, 100, {"a": 0.5, "b": 0.02})
    assert sum(neyman.values()) == 100 and neyman["a"] > neyman["b"]
    assert allocate({"a": 5, "b": 5}, 10) == {"a": 5, "b": 5}, "never more than a stratum holds"
    with pytest.raises(ConfigError, match="more than the 10 reports"):
        allocate({"a": 5, "b": 5}, 11)
    assert size_for_margin(0.02, 10**9) == 865 and size_for_margin(0.02, 1000) < 500
    # Neyman never assumes a stratum cleaner than the floor: b (screened clean) keeps the share a
    # 5% rate earns, 1000 sqrt(.05 .95) = 217.9 against a's 500: 100 x 217.9 / 717.9 = 30.4
    assert allocate({"a": 1000, "b": 1000}, 100, {"a": 0.5, "b": 0.0}) == {"a": 70, "b": 30}
    assert allocate({"a": 1000, "b": 1000}, 100, {"a": 0.5, "b": 0.0}, floor_rate=0.01)["b"] == 17
    assert allocate({"a": 1000, "b": 40, "c": 10}, 100, minimum=30) == {"a": 60, "b": 30, "c": 10}
    with pytest.raises(ConfigError, match="cannot hold 30 from each of the 3 strata"):
        allocate({"a": 1000, "b": 40, "c": 10}, 60, minimum=30)


def test_the_worksheet_and_the_screens_findings_apart(run_dir, tmp_path):
    _sample(run_dir, tmp_path / "w.xlsx", "--size", "260", "--seed", "3")
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "w.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["sample_id", "stratum", "stratum_population", "stratum_sample"]
    assert header[-6:] == ["crimes_due", "crimes_recorded", "recorded_on_time", "classified_correctly", "reviewer", "notes"]
    assert "findings" not in header, "reviewers are not led by the screen"
    assert len(sheet.data_validations.dataValidation) == 4 and sheet.freeze_panes == "A2"
    with (tmp_path / "w.screen.csv").open(newline="", encoding="utf-8") as handle:
        screen = list(csv.DictReader(handle))
    assert len(screen) == 260 and set(screen[0]) == {"sample_id", "record_type", "record_id", "findings"}


@pytest.mark.slow
def test_a_sample_reviewed_from_the_answer_key_estimates_the_true_rate(tmp_path):
    """On a generated scale-0.1 extract, a sample of 1,342 reviewed from the generator's answer key:
    the estimate's interval holds the extract's true recording rate, and the screen misses nothing."""
    from recordcheck.checks.generate import generate, write_extract
    from tests.conftest import AS_OF

    small_extract = tmp_path / "extract"
    write_extract(generate(seed=5, scale=0.1, as_of=AS_OF), small_extract)
    out = tmp_path / "out"
    assert CliRunner().invoke(cli, ["run", str(small_extract), "--out", str(out), "--as-of", AS_OF_TEXT]).exit_code == 0
    run = out / "latest"
    key = pl.read_csv(small_extract / "key.csv")
    unrecorded = key.filter(pl.col("finding").is_in(["unrecorded_crime", "n100_missing"])).select("record_type", "record_id")
    population = pl.read_parquet(run / "population.parquet").join(
        unrecorded.unique().with_columns(pl.lit(True).alias("missed")), on=["record_type", "record_id"], how="left"
    )
    truth = population.with_columns(
        due=(pl.col("notifiable") & (pl.col("linked_crimes").is_not_null() | pl.col("missed").fill_null(False))).cast(
            pl.Int64
        ),
        recorded=(pl.col("notifiable") & pl.col("linked_crimes").is_not_null()).cast(pl.Int64),
    )
    true_rate = truth["recorded"].sum() / truth["due"].sum()
    _sample(run, tmp_path / "w.csv", "--size", "1342", "--seed", "2018")
    sheet = pl.read_csv(tmp_path / "w.csv", infer_schema=False).drop(
        "crimes_due", "crimes_recorded", "recorded_on_time", "classified_correctly"
    )
    verdicts = truth.select(
        "record_type", "record_id", pl.col("due").alias("crimes_due"), pl.col("recorded").alias("crimes_recorded")
    )
    filled = sheet.join(verdicts, on=["record_type", "record_id"], how="left", maintain_order="left").with_columns(
        pl.col("crimes_recorded").alias("recorded_on_time"), pl.col("crimes_recorded").alias("classified_correctly")
    )
    filled.write_csv(tmp_path / "w.csv")
    result = CliRunner().invoke(cli, ["estimate", str(tmp_path / "w.csv"), "--json", str(tmp_path / "e.json")])
    assert result.exit_code == 0, result.output
    estimate = json.loads((tmp_path / "e.json").read_text())
    recording = estimate["recording"]
    assert recording["ci_low"] <= true_rate <= recording["ci_high"], (recording, true_rate)
    assert estimate["calibration"]["unrecorded"]["fn"] == 0, "the screen misses none of the key's unrecorded reports"


def test_strata_come_from_the_config_when_it_gives_them(run_dir, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(
        "config: 1\nsample:\n  strata:\n"
        "    - {name: rape, rape: true}\n"
        "    - {name: professional referrals, record_type: referral, source: [professional_third_party]}\n"
        "    - {name: everything else}\n",
        encoding="utf-8",
    )
    result = _sample(run_dir, tmp_path / "w.csv", "--size", "40", "--seed", "1", "--config", str(config))
    assert "professional referrals" in result.output and "everything else" in result.output
    strata = set(pl.read_csv(tmp_path / "w.csv", infer_schema=False)["stratum"])
    assert strata == {"rape", "professional referrals", "everything else"}


@pytest.mark.slow
def test_an_estimate_kept_in_the_store_shows_beside_the_screens_rate(run_dir, tmp_path):
    from bs4 import BeautifulSoup

    out = run_dir.parent
    _sample(run_dir, tmp_path / "w.csv", "--size", "250", "--seed", "2")
    sheet = pl.read_csv(tmp_path / "w.csv", infer_schema=False).with_columns(
        pl.lit("2").alias("crimes_due"),
        pl.lit("2").alias("crimes_recorded"),
        pl.when(pl.int_range(pl.len()) < 25).then(pl.lit("1")).otherwise(pl.lit("2")).alias("recorded_on_time"),
        pl.lit("2").alias("classified_correctly"),
    )
    sheet.write_csv(tmp_path / "w.csv")
    kept = CliRunner().invoke(cli, ["estimate", str(tmp_path / "w.csv"), "--out", str(out)])
    assert kept.exit_code == 0 and "the next report shows it" in kept.output
    timeliness_line = next(line for line in kept.output.splitlines() if line.startswith("timeliness"))
    sampled_run = json.loads((run_dir / "summary.json").read_text())["run_id"]  # before the next night moves latest
    night = CliRunner().invoke(
        cli, ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", "2026-04-02T00:00:00Z"]
    )
    assert night.exit_code == 0, night.output
    page = BeautifulSoup((out / "latest" / "report.html").read_text(encoding="utf-8"), "html.parser")
    card = page.find(id="audit")
    assert card is not None and "250 reports reviewed" in card.get_text() and "w.csv" in card.get_text()
    assert "precision" in card.get_text() and "recall" in card.get_text()
    # the audit card: the run sampled and its period, the crimes due behind the rate, and the
    # audited timeliness and classification, rounded as the command line printed them
    assert sampled_run in card.select_one('[data-audit="sample"]').get_text()
    assert card.select_one('[data-audit="crimes"]').get_text() == "500 of 500 crimes due"
    on_time = " ".join(card.select_one('[data-audit="Recorded on time"]').get_text().split())
    rate, low, high = (timeliness_line.split()[i] for i in (1, 4, 6))
    assert on_time.startswith(f"Recorded on time: {rate} (95% CI {low} to {high}; 475 of 500")
    # the narrative screen's flags on the uncoded sampled reports, none confirmed by these reviewers
    screen = pl.read_csv(tmp_path / "w.screen.csv", infer_schema=False).join(sheet, on="sample_id")
    flagged = screen.filter(
        pl.col("offence_code").is_null() & pl.col("findings").fill_null("").str.contains("narrative_disclosure")
    ).height
    words = " ".join(card.select_one('[data-audit="narrative"]').get_text().split())
    assert flagged > 0 and f"0 of {flagged} flags confirmed" in words and "Of tonight's 28 narrative flag(s)" in words
