"""Audit samples (issue 9, part): drawn reproducibly, allocated exactly, written for reviewers
with the screen's findings apart; and, reviewed from the answer key, estimated back."""

from __future__ import annotations

import csv
import json

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.audit.sample import STRATA, allocate, size_for_margin
from recordcheck.checks.base.errors import ConfigError
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT, ROOT


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    result = CliRunner().invoke(
        cli, ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", AS_OF_TEXT]
    )
    assert result.exit_code == 0, result.output
    return out / "latest"


def _sample(run_dir, file, *args):
    result = CliRunner().invoke(cli, ["sample", str(run_dir), "--file", str(file), *args])
    assert result.exit_code == 0, result.output
    return result


def test_the_population_is_every_accepted_report_in_its_stratum(run_dir):
    population = pl.read_parquet(run_dir / "population.parquet")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert population.height == summary["tables"]["referrals"]["accepted"] + summary["tables"]["incidents"]["accepted"]
    assert set(population["stratum"]) <= set(STRATA)
    assert population.filter(pl.col("rape"))["stratum"].unique().to_list() == ["rape disclosed"]
    assert not {"summary", "decision_rationale"} & set(population.columns), "never free text"


def test_the_same_seed_gives_the_same_sample(run_dir, tmp_path):
    _sample(run_dir, tmp_path / "a.csv", "--size", "80", "--seed", "7")
    _sample(run_dir, tmp_path / "b.csv", "--size", "80", "--seed", "7")
    _sample(run_dir, tmp_path / "c.csv", "--size", "80", "--seed", "8")
    a, b, c = (pl.read_csv(tmp_path / f"{n}.csv", infer_schema=False) for n in "abc")
    assert a.equals(b) and not a["record_id"].equals(c["record_id"])
    assert a.height == 80 and a["sample_id"].is_unique().all()


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


def test_the_worksheet_and_the_screens_findings_apart(run_dir, tmp_path):
    _sample(run_dir, tmp_path / "w.xlsx", "--size", "60", "--seed", "3")
    from openpyxl import load_workbook

    sheet = load_workbook(tmp_path / "w.xlsx").worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header[:4] == ["sample_id", "stratum", "stratum_population", "stratum_sample"]
    assert header[-6:] == ["crimes_due", "crimes_recorded", "recorded_on_time", "classified_correctly", "reviewer", "notes"]
    assert "findings" not in header, "reviewers are not led by the screen"
    assert len(sheet.data_validations.dataValidation) == 4 and sheet.freeze_panes == "A2"
    with (tmp_path / "w.screen.csv").open(newline="", encoding="utf-8") as handle:
        screen = list(csv.DictReader(handle))
    assert len(screen) == 60 and set(screen[0]) == {"sample_id", "record_type", "record_id", "findings"}


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


def test_an_estimate_kept_in_the_store_shows_beside_the_screens_rate(run_dir, tmp_path):
    from bs4 import BeautifulSoup

    out = run_dir.parent
    _sample(run_dir, tmp_path / "w.csv", "--size", "50", "--seed", "2")
    sheet = pl.read_csv(tmp_path / "w.csv", infer_schema=False).with_columns(
        pl.lit("1").alias("crimes_due"),
        pl.lit("1").alias("crimes_recorded"),
        pl.lit("1").alias("recorded_on_time"),
        pl.lit("1").alias("classified_correctly"),
    )
    sheet.write_csv(tmp_path / "w.csv")
    kept = CliRunner().invoke(cli, ["estimate", str(tmp_path / "w.csv"), "--out", str(out)])
    assert kept.exit_code == 0 and "the next report shows it" in kept.output
    night = CliRunner().invoke(
        cli, ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", "2026-04-02T00:00:00Z"]
    )
    assert night.exit_code == 0, night.output
    page = BeautifulSoup((out / "latest" / "report.html").read_text(encoding="utf-8"), "html.parser")
    card = page.find(id="audit")
    assert card is not None and "50 reports reviewed" in card.get_text() and "w.csv" in card.get_text()
    assert "precision" in card.get_text() and "recall" in card.get_text()
