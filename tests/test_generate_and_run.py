"""End to end: the register equals the generator's answer key exactly, at three seeds."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.extract.contract import REGISTER_COLUMNS, TABLES
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.generate import generate, write_extract
from recordcheck.checks.generate.parts import parts_for, write_parts
from recordcheck.checks.nightly.run import execute_run
from recordcheck.cli import cli
from tests.conftest import AS_OF, AS_OF_TEXT, ROOT

KEY_COLUMNS = ["finding", "record_type", "record_id"]


def _register_matches_key(run_dir, key: pl.DataFrame) -> None:
    register = pl.read_csv(run_dir / "exceptions.csv", infer_schema=False)
    found = register.select(KEY_COLUMNS).unique().sort(KEY_COLUMNS)
    expected = key.select(KEY_COLUMNS).unique().sort(KEY_COLUMNS)
    missed = expected.join(found, on=KEY_COLUMNS, how="anti")
    false_alarms = found.join(expected, on=KEY_COLUMNS, how="anti")
    assert missed.height == 0, f"missed breaches:\n{missed}"
    assert false_alarms.height == 0, f"false alarms:\n{false_alarms}"


def test_generation_is_deterministic():
    a, b = generate(seed=5, scale=0.01, as_of=AS_OF), generate(seed=5, scale=0.01, as_of=AS_OF)
    for name in a.tables:
        assert a.tables[name].equals(b.tables[name]), name
    assert a.key.equals(b.key)
    assert not generate(seed=6, scale=0.01, as_of=AS_OF).tables["crimes"].equals(a.tables["crimes"])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_register_equals_answer_key(seed, tmp_path, pack, reference):
    extract = generate(seed=seed, scale=0.03, as_of=AS_OF)
    assert set(extract.key["finding"]) >= {
        "unrecorded_crime",
        "late_recording",
        "misclassification",
        "victim_update_overdue",
    }
    write_extract(extract, tmp_path / "extract")
    outcome = execute_run(tmp_path / "extract", tmp_path / "out", load_profile(), reference, RunConfig(), AS_OF, pack)
    _register_matches_key(outcome.run_dir, extract.key)


@pytest.mark.slow
def test_an_extract_written_in_parts_is_one_extract_with_one_key(tmp_path, pack, reference):
    """Scale 40 is generated in parts (checks.generate.parts): here two small ones, as Parquet. The
    parts' records sit side by side with no id repeated, the key is the parts' keys together, and
    the run's register equals it exactly, as for an extract generated whole."""
    folder = tmp_path / "extract"
    counts = write_parts(folder, seed=3, scale=0.06, parts=2, as_of=AS_OF, fmt="parquet")
    first = generate(seed=3, scale=0.03, as_of=AS_OF)
    for name, contract in TABLES.items():
        table = pl.read_parquet(folder / f"{name}.parquet")
        assert table.height == counts[name] > first.tables[name].height, name
        assert table.schema == first.tables[name].schema, name
        if contract.id_column:
            assert table[contract.id_column].is_unique().all(), name
    # part 0 is the seed's own extract at the part's scale; part 1 is numbered after it
    assert pl.read_parquet(folder / "crimes.parquet").head(first.tables["crimes"].height).equals(first.tables["crimes"])
    key = pl.read_csv(folder / "key.csv", infer_schema=False)
    assert key.height > first.key.height and key.filter(pl.col("record_id").str.contains(r"^[A-Z]+1\d{7}$")).height
    assert json.loads((folder / "generation.json").read_text())["parts"] == 2
    outcome = execute_run(folder, tmp_path / "out", load_profile(), reference, RunConfig(), AS_OF, pack)
    _register_matches_key(outcome.run_dir, key)


@pytest.mark.slow
def test_an_extract_is_generated_whole_up_to_scale_10_and_in_parts_of_at_most_5_above():
    assert [parts_for(scale, None) for scale in (0.02, 1, 10, 10.5, 15, 40, 50)] == [1, 1, 1, 3, 3, 8, 10]
    assert parts_for(40, 20) == 20 and parts_for(0.02, 2) == 2  # as asked


@pytest.mark.slow
def test_generate_parts_writes_one_extract_and_refuses_other_shapes(tmp_path):
    """`generate --parts`: one canonical extract from the parts (generation.json says how many);
    a force shape, nights or other phrasings are not written in parts, and say so before anything."""
    out = tmp_path / "parts"
    done = CliRunner().invoke(
        cli, ["generate", str(out), "--seed", "3", "--scale", "0.02", "--parts", "2", "--as-of", AS_OF_TEXT]
    )
    assert done.exit_code == 0, done.output
    facts = json.loads((out / "generation.json").read_text())
    assert facts["parts"] == 2 and facts["rows"]["crimes"] == pl.read_csv(out / "crimes.csv", infer_schema=False).height
    for extra in (["--shape", "force"], ["--nights", "2"], ["--phrasing", "held_back"]):
        refused = CliRunner().invoke(cli, ["generate", str(tmp_path / "no"), "--scale", "0.02", "--parts", "2", *extra])
        assert refused.exit_code == ExitCode.USAGE_ERROR and "--parts writes one canonical extract" in refused.output
        assert not (tmp_path / "no").exists()


def test_sample_data_register_equals_its_key(tmp_path, pack, reference):
    folder = ROOT / "sample_data" / "extract"
    outcome = execute_run(folder, tmp_path / "out", load_profile(), reference, RunConfig(), AS_OF, pack)
    key = pl.read_csv(folder / "key.csv", infer_schema=False)
    _register_matches_key(outcome.run_dir, key)
    summary = json.loads((outcome.run_dir / "summary.json").read_text())
    register = pl.read_csv(outcome.run_dir / "exceptions.csv", infer_schema=False)
    for rule in summary["rules"]:
        assert rule["breaches"] == register.filter(pl.col("rule_id") == rule["id"]).height, rule["id"]
    assert tuple(register.columns[: len(REGISTER_COLUMNS)]) == REGISTER_COLUMNS
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert {i["table"] for i in manifest["inputs"]} == set(TABLES)
    assert all(len(i["sha256"]) == 64 for i in manifest["inputs"])
    assert manifest["rule_pack"]["version"] and manifest["as_of"].startswith("2026-04-01")


@pytest.mark.slow
def test_fingerprints_are_stable_across_runs(tmp_path, pack, reference):
    folder = ROOT / "sample_data" / "extract"
    first = execute_run(folder, tmp_path / "a", load_profile(), reference, RunConfig(), AS_OF, pack)
    second = execute_run(folder, tmp_path / "b", load_profile(), reference, RunConfig(), AS_OF, pack)
    fp = [
        pl.read_csv(r.run_dir / "exceptions.csv", infer_schema=False)
        .select("rule_id", "record_id", "fingerprint")
        .sort("fingerprint")
        for r in (first, second)
    ]
    assert fp[0].equals(fp[1]) and fp[0]["fingerprint"].n_unique() == fp[0].height


@pytest.mark.slow
def test_detail_never_quotes_free_text(tmp_path, pack, reference):
    extract = generate(seed=4, scale=0.02, as_of=AS_OF)
    write_extract(extract, tmp_path / "extract")
    outcome = execute_run(tmp_path / "extract", tmp_path / "out", load_profile(), reference, RunConfig(), AS_OF, pack)
    text = (outcome.run_dir / "exceptions.csv").read_text()
    assert "<script>" not in text and "café" not in text and "Officer doubted" not in text


@pytest.mark.slow
def test_fingerprints_of_rules_and_quarantine_use_one_formula(tmp_path, pack, reference):
    """The engine's SQL sha256 and the register's Python sha256 agree, so a finding keeps its
    fingerprint whichever path produced it (and across library versions)."""
    import shutil

    from recordcheck.checks.engine.register import QUARANTINE_RULE, fingerprint

    folder = tmp_path / "x"
    shutil.copytree(ROOT / "sample_data" / "extract", folder)
    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False)
    crimes.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("ZZ9")).otherwise(pl.col("offence_code")).alias("offence_code")
    ).write_csv(folder / "crimes.csv")
    outcome = execute_run(folder, tmp_path / "out", load_profile(), reference, RunConfig(), AS_OF, pack)
    register = pl.read_csv(outcome.run_dir / "exceptions.csv", infer_schema=False)
    for row in register.iter_rows(named=True):
        if row["rule_id"] == QUARANTINE_RULE:
            assert row["fingerprint"] == fingerprint(
                QUARANTINE_RULE, "crimes", crimes["crime_id"][0], "unknown_offence_code"
            )
        else:
            assert row["fingerprint"] == fingerprint(row["rule_id"], row["record_type"], row["record_id"])
    assert (register["rule_id"] == QUARANTINE_RULE).sum() == 1
