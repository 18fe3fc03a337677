"""No message, log line, quarantine reason or output quotes a record's free text or personal values.

Records whose free text (and values in coded and typed columns) carry a sentinel are driven down
every failure path the tests can reach: values that do not parse, values outside the contract,
a CSV cut inside a quoted field, an internal error. The sentinel must appear nowhere.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT

SENTINEL = "Zq7Sentinel Jane Smith (DOB 02/03/2012) of 14 Elm Road"


def _everything_written(*folders: Path) -> str:
    texts = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix != ".parquet":
                texts.append(path.read_text(encoding="utf-8", errors="replace"))
            elif path.suffix == ".parquet":
                texts.append(pl.read_parquet(path).write_csv())
    return "\n".join(texts)


@pytest.mark.slow
def test_sentinel_reaches_no_output_message_or_log(small_extract, tmp_path):
    folder = tmp_path / "extract"
    shutil.copytree(small_extract, folder)
    referrals = pl.read_csv(folder / "referrals.csv", infer_schema=False)
    idx = pl.Series(range(referrals.height))
    referrals = referrals.with_columns(
        pl.lit(SENTINEL).alias("summary"),
        pl.lit(SENTINEL).alias("decision_rationale"),
        pl.when(idx == 0).then(pl.lit(SENTINEL)).otherwise(pl.col("received_at")).alias("received_at"),  # does not parse
        pl.when(idx == 1)
        .then(pl.lit(SENTINEL))
        .otherwise(pl.col("referrer_type"))
        .alias("referrer_type"),  # not in the enum
        pl.when(idx == 2).then(pl.lit(SENTINEL)).otherwise(pl.col("subject_dob")).alias("subject_dob"),  # not a date
        pl.when(idx == 3).then(pl.lit(SENTINEL)).otherwise(pl.col("victim_count")).alias("victim_count"),  # not a number
        pl.when(idx == 4).then(pl.lit(SENTINEL)).otherwise(pl.col("disclosed_offence_code")).alias("disclosed_offence_code"),
    )
    referrals.write_csv(folder / "referrals.csv")
    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False).with_columns(
        pl.lit(SENTINEL).alias("cancellation_rationale")
    )
    crimes.write_csv(folder / "crimes.csv")

    runner = CliRunner()
    out = tmp_path / "out"
    run = runner.invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", AS_OF_TEXT, "--redact"])
    # the values outside the contract's codes make the night incomplete (their rows went unjudged)
    assert run.exit_code == 9, run.output
    validate = runner.invoke(cli, ["validate", str(folder), "--as-of", AS_OF_TEXT, "--quarantine", str(tmp_path / "q.csv")])
    assert validate.exit_code == 9
    quarantine = pl.read_csv(out / "latest" / "quarantine.csv")
    assert quarantine.filter(pl.col("table") == "referrals").height >= 5  # the failure paths were reached
    written = _everything_written(out) + (tmp_path / "q.csv").read_text()
    for text in (run.output, validate.output, written):
        assert "Zq7Sentinel" not in text

    # a CSV cut inside a quoted field that holds the sentinel: refused, and the parser's text withheld
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    raw = (broken / "referrals.csv").read_text()
    cut = raw.index(SENTINEL) + 10
    (broken / "referrals.csv").write_text(raw[:cut] + '"' + raw[cut:])
    refused = runner.invoke(cli, ["run", str(broken), "--out", str(tmp_path / "out2"), "--as-of", AS_OF_TEXT])
    assert refused.exit_code == 3 and "referrals.csv" in refused.output
    assert "Zq7Sentinel" not in refused.output


def test_a_header_less_export_quotes_none_of_its_first_record(tmp_path):
    """An export without its header row printed the first record's values (a date of birth, a
    person id, a surname) as 'the file's columns'. Only names the contract or profile knows are
    quoted; the rest are counted, and the message says the header row may be missing."""
    import shutil

    import polars as pl
    from click.testing import CliRunner

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT, ROOT

    extract = tmp_path / "extract"
    shutil.copytree(ROOT / "sample_data" / "extract", extract)
    referrals = pl.read_csv(extract / "referrals.csv", infer_schema=False)
    first = referrals.row(0, named=True)
    planted = referrals.with_columns(
        [pl.col(c).fill_null(pl.lit(f"PLANTED{i}SURNAME")) for i, c in enumerate(referrals.columns)]
    )
    planted.write_csv(extract / "referrals.csv", include_header=False)
    for command in (["validate", "--quarantine", str(tmp_path / "q.csv")], ["run", "--out", str(tmp_path / "out")]):
        result = CliRunner().invoke(cli, [command[0], str(extract), *command[1:], "--as-of", AS_OF_TEXT])
        assert result.exit_code == ExitCode.INPUT_REJECTED
        assert "does the file have its header row?" in result.output
        for value in (first["referral_id"], first["subject_person_id"], first["subject_dob"], "PLANTED"):
            assert value not in result.output, value


def test_a_surname_in_a_code_column_is_counted_never_quoted(tmp_path):
    """A value of a coded column is quoted in a quarantine reason or the unmapped-code advice only
    when it has the column's code shape (the profile's force codes, else the contract's lower-case
    values; offence codes like 105A): SMITH in `status` and JONES in `offence_code` are counted."""
    import shutil

    import polars as pl
    from click.testing import CliRunner

    from recordcheck.checks.validation.validate import code_shape
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT, ROOT

    assert code_shape(["CEC", "VNT"]) == "^[A-Z]{2,4}$"  # VDEC fits, SMITH does not
    extract = tmp_path / "extract"
    shutil.copytree(ROOT / "sample_data" / "extract", extract)
    crimes = pl.read_csv(extract / "crimes.csv", infer_schema=False)
    row = pl.int_range(pl.len())
    crimes.with_columns(
        pl.when(row < 3).then(pl.lit("SMITH")).otherwise(pl.col("status")).alias("status"),
        pl.when(row == 5)
        .then(pl.lit("JONES"))
        .when(row == 6)
        .then(pl.lit("99Z"))
        .otherwise(pl.col("offence_code"))
        .alias("offence_code"),
    ).write_csv(extract / "crimes.csv")
    quarantine = tmp_path / "q.csv"
    result = CliRunner().invoke(cli, ["validate", str(extract), "--as-of", AS_OF_TEXT, "--quarantine", str(quarantine)])
    reasons = pl.read_csv(quarantine, infer_schema=False)["reason"].to_list()
    assert "SMITH" not in result.output + "".join(reasons) and "JONES" not in result.output + "".join(reasons)
    assert "status holds a value of 5 characters, which is not one of the contract's values" in " ".join(reasons)
    assert "offence_code holds '99Z', which is not a code in the offence catalogue" in " ".join(reasons)


@pytest.mark.slow
def test_planted_values_reach_no_message_log_or_output(tmp_path):
    """The planted-value test: a unique string in every column of the first rows of every table of
    a header-less export; a file whose name carries YAML; a decisions file and a worksheet made of
    planted cells. Through validate, run, profile draft, profile check, review import and estimate,
    no planted value appears in any message, log, draft or output, and the hostile name switches
    nothing on in the draft."""
    import csv

    import yaml

    from recordcheck.checks.base.exitcodes import ExitCode
    from tests.conftest import ROOT, run_sample_cli

    extract = tmp_path / "export"
    extract.mkdir()
    sources = [p for p in sorted((ROOT / "sample_data" / "extract").glob("*.csv")) if p.name[0] not in "kn"]
    for t, source in enumerate(sources):
        frame = pl.read_csv(source, infer_schema=False).with_row_index("_row")
        planted = frame.with_columns(
            pl.when(pl.col("_row") < 3)
            .then(pl.concat_str([pl.lit(f"PLANT{t}x{i}x"), pl.col("_row").cast(pl.Utf8)]))
            .otherwise(pl.col(column))
            .alias(column)
            for i, column in enumerate(frame.columns[1:])
        ).drop("_row")
        planted.write_csv(extract / source.name, include_header=False)
    hostile = extract / "referrals\nallow_files_outside_extract: true\n#.csv"
    hostile.write_bytes((extract / "referrals.csv").read_bytes())
    runner = CliRunner()
    out, draft, quarantine = tmp_path / "out", tmp_path / "draft.yaml", tmp_path / "q.csv"
    results = [
        runner.invoke(cli, ["validate", str(extract), "--as-of", AS_OF_TEXT, "--quarantine", str(quarantine)]),
        runner.invoke(cli, ["run", str(extract), "--out", str(out), "--as-of", AS_OF_TEXT]),
        runner.invoke(cli, ["profile", "draft", str(extract), "--out", str(draft)]),
    ]
    results.append(runner.invoke(cli, ["profile", "check", str(extract), "--profile", str(draft)]))
    assert [r.exit_code for r in results] == [ExitCode.INPUT_REJECTED, ExitCode.INPUT_REJECTED, 0, ExitCode.INPUT_REJECTED]
    assert not yaml.safe_load(draft.read_text(encoding="utf-8")).get("allow_files_outside_extract")

    published = tmp_path / "published"
    assert run_sample_cli(published).exit_code == 0
    decisions, worksheet = tmp_path / "decisions.csv", tmp_path / "worksheet.csv"
    with decisions.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fingerprint", "decision", "reviewer", "reason", "until"])
        writer.writerows([[f"PLANTd{r}x{c}" for c in range(5)] for r in range(3)])
    with worksheet.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_id", "stratum", "stratum_population", "crimes_due", "crimes_recorded"])
        writer.writerows([[f"PLANTw{r}x{c}" for c in range(5)] for r in range(3)])
    results += [
        runner.invoke(cli, ["review", "import", str(published), str(decisions)]),
        runner.invoke(cli, ["estimate", str(worksheet)]),
    ]
    assert [r.exit_code for r in results[-2:]] == [ExitCode.USAGE_ERROR, ExitCode.USAGE_ERROR]
    written = _everything_written(out, published) if out.exists() else _everything_written(published)
    texts = [r.output for r in results] + [written, draft.read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.glob("*.log")]
    if quarantine.exists():
        texts.append(quarantine.read_text(encoding="utf-8"))
    for text in texts:
        assert "PLANT" not in text, text[text.find("PLANT") - 200 : text.find("PLANT") + 50]
