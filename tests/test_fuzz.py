"""Fuzzing: malformed CSV, JSON Lines and Parquet tables, hostile YAML configs and profiles,
damaged run stores, and the files auditors send back.

Whatever the input, a run is either published (0, or 9 when too much was quarantined) with rows
read = accepted + quarantined for every table, or it stops with a named exit code before
publishing. It never ends in a traceback, an
internal error, or exit code 1 (which means "published, threshold breached"). The number of
examples and the time are bounded, so the fuzzing runs in `make test`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT, ROOT, run_sample_cli

pytestmark = pytest.mark.slow

FUZZ = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
STOPPED = {ExitCode.USAGE_ERROR, ExitCode.INPUT_REJECTED}
CRIME_COLUMNS = [
    "crime_id",
    "reported_at",
    "recorded_at",
    "offence_code",
    "district",
    "status",
    "victim_dob",
    "outcome_code",
]

cell = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            '"',
            '""',
            ",",
            "\n",
            "\r\n",
            "C0000001",
            "2026-03-29T01:30:00",
            "29/02/2026",
            "8N",
            "recorded",
            "-1",
            "9" * 30,
        ]
    ),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12),
)


@pytest.fixture(scope="module")
def tiny_extract(tmp_path_factory) -> Path:
    """The first rows of the bundled sample: small, so each fuzzed run takes a fraction of a second."""
    folder = tmp_path_factory.mktemp("tiny")
    for path in (ROOT / "sample_data" / "extract").glob("*.csv"):
        if path.name != "key.csv":
            pl.read_csv(path, infer_schema=False).head(20).write_csv(folder / path.name)
    return folder


def _run(folder: Path, out: Path, *extra: str):
    return CliRunner().invoke(cli, ["run", str(folder), "--out", str(out), "--as-of", AS_OF_TEXT, *extra])


def _check(result, out: Path) -> None:
    assert "Traceback" not in result.output
    published = {ExitCode.SUCCESS, ExitCode.RUN_INCOMPLETE}
    assert result.exit_code in published | STOPPED, (result.exit_code, result.output[-500:])
    if result.exit_code in published:
        manifest = json.loads((out / "latest" / "manifest.json").read_text())
        for name, counts in manifest["validation"]["tables"].items():
            assert counts["read"] == counts["accepted"] + counts["quarantined"], name
    else:
        assert not (out / "latest").exists()


def _fresh(base: Path, tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(base, folder)
    return folder


@FUZZ
@given(
    header=st.lists(st.sampled_from([*CRIME_COLUMNS, "", "crime_id", 'x"y', "extra"]), min_size=1, max_size=10),
    rows=st.lists(st.lists(cell, max_size=11), max_size=8),
    newline=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_malformed_csv(tiny_extract, tmp_path, header, rows, newline, bom):
    folder = _fresh(tiny_extract, tmp_path, "csv")
    text = newline.join([",".join(header), *(",".join(r) for r in rows)])
    (folder / "crimes.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    out = tmp_path / "out-csv"
    shutil.rmtree(out, ignore_errors=True)
    _check(_run(folder, out), out)


@FUZZ
@given(
    lines=st.lists(
        st.one_of(st.text(max_size=40), st.dictionaries(st.sampled_from(CRIME_COLUMNS), cell, max_size=8).map(json.dumps)),
        max_size=8,
    )
)
def test_malformed_jsonl(tiny_extract, tmp_path, lines):
    folder = _fresh(tiny_extract, tmp_path, "jsonl")
    (folder / "crimes.csv").unlink()
    (folder / "crimes.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out-jsonl"
    shutil.rmtree(out, ignore_errors=True)
    _check(_run(folder, out), out)


@FUZZ
@given(columns=st.dictionaries(st.sampled_from(CRIME_COLUMNS), st.lists(cell, min_size=3, max_size=3), min_size=1))
def test_malformed_parquet(tiny_extract, tmp_path, columns):
    folder = _fresh(tiny_extract, tmp_path, "pq")
    (folder / "crimes.csv").unlink()
    pl.DataFrame(columns).write_parquet(folder / "crimes.parquet")
    out = tmp_path / "out-pq"
    shutil.rmtree(out, ignore_errors=True)
    _check(_run(folder, out), out)


yaml_value = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(), st.text(max_size=10)),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=10,
)


@FUZZ
@given(
    section=st.sampled_from(["reference", "rules", "report", "engine", "bogus"]),
    key=st.sampled_from(["limits", "disable", "thresholds", "max_rows_in_page", "threads", "memory_limit", "labels", "x"]),
    value=yaml_value,
)
def test_hostile_config(tiny_extract, tmp_path, section, key, value):
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"config": 1, section: {key: value}}))  # JSON is YAML
    out = tmp_path / "out-config"
    shutil.rmtree(out, ignore_errors=True)
    _check(_run(tiny_extract, out, "--config", str(config)), out)


profile_key = st.sampled_from(["encoding", "dayfirst", "booleans", "tables", "name", "profile", "timezone"])
table_key = st.sampled_from(["file", "format", "encoding", "columns", "values", "derive", "build_from", "not_links"])
profile_text = st.sampled_from(["referral_id", "crime_id", "../crimes.csv", "/etc/passwd", "x\ny: 1", "", "utf-8", "cp1252"])


@FUZZ
@given(
    top=st.lists(st.tuples(profile_key, yaml_value), max_size=2),
    table=st.sampled_from(["referrals", "crimes", "crime_links", "incident_log", "nope"]),
    edits=st.lists(st.tuples(table_key, st.one_of(yaml_value, profile_text)), max_size=3),
    column=st.tuples(
        st.sampled_from(["referral_id", "received_at", "district", "bogus"]), st.one_of(profile_text, yaml_value)
    ),
)
def test_hostile_profile(tiny_extract, tmp_path, top, table, edits, column):
    """Whatever a profile says (wrong types, unknown keys and columns, files outside the extract,
    a name carrying YAML), the run publishes or stops with a named code before publishing."""
    import yaml

    profile = yaml.safe_load((ROOT / "checks" / "profiles" / "default.yaml").read_text(encoding="utf-8"))
    spec: dict = {"columns": {column[0]: column[1]}}
    spec.update(dict(edits))
    profile["tables"] = {table: spec}
    profile.update(dict(top))
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(profile, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out-profile"
    shutil.rmtree(out, ignore_errors=True)
    _check(_run(tiny_extract, out, "--profile", str(path)), out)


@pytest.fixture(scope="module")
def stored(tmp_path_factory, tiny_extract):
    """A run store that has recorded one night of the tiny extract (incomplete: 9)."""
    out = tmp_path_factory.mktemp("stored")
    assert _run(tiny_extract, out).exit_code in (0, ExitCode.RUN_INCOMPLETE)
    return out


store_damage = st.one_of(
    st.tuples(st.just("bytes"), st.binary(max_size=64)),
    st.tuples(
        st.just("sql"),
        st.sampled_from(
            [
                "UPDATE schema_version SET version = version + 5",
                "DELETE FROM schema_version",
                "DROP TABLE runs",
                "DROP TABLE findings",
                "UPDATE runs SET run_id = '../victim'",
                "UPDATE runs SET as_of = TIMESTAMPTZ '9999-12-31 00:00:00+00'",
                "UPDATE runs SET exit_code = NULL",
                "DELETE FROM runs",
                "UPDATE findings SET fingerprint = NULL",
                "ALTER TABLE run_findings DROP COLUMN evidence",
            ]
        ),
    ),
)


@FUZZ
@given(damage=store_damage)
def test_damaged_store_states(stored, tiny_extract, tmp_path, damage):
    """A store that is not a DuckDB file, is from a newer schema, lacks a table or holds tampered
    rows: the next night, `history` and `review export` stop with a named code (2 usage, 3 input,
    7 output, 12 store) or go on, never a traceback or exit 5, and nothing is deleted outside OUT."""
    import duckdb

    out = tmp_path / "out-store"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(stored, out, symlinks=True)
    victim = tmp_path / "victim"
    victim.mkdir(exist_ok=True)
    store = out / "recordcheck.duckdb"
    kind, what = damage
    if kind == "bytes":
        store.write_bytes(what)
        (out / "recordcheck.duckdb.wal").unlink(missing_ok=True)
    else:
        with duckdb.connect(str(store)) as con:
            try:
                con.execute(what)
            except duckdb.Error:
                return  # the schema does not allow this damage: nothing to test
    named = {0, 1, 9, ExitCode.USAGE_ERROR, ExitCode.INPUT_REJECTED, ExitCode.OUTPUT_UNAVAILABLE}
    named |= {ExitCode.STORE_UNAVAILABLE}
    for args in (
        ["run", str(tiny_extract), "--out", str(out), "--as-of", "2026-04-02T00:00:00Z", "--keep", "1"],
        ["history", str(out)],
        ["review", "export", str(out), "--file", str(tmp_path / "w.csv")],
    ):
        result = CliRunner().invoke(cli, args)
        assert "Traceback" not in result.output and result.exit_code in named, (args[0], result.exit_code, result.output)
    assert victim.is_dir(), "nothing outside OUT is deleted"


# ---------------------------------------------------------------- files auditors send back


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """One published night, for the decision files and worksheets below."""
    out = tmp_path_factory.mktemp("fuzz-out")
    result = run_sample_cli(out)
    assert result.exit_code == 0, result.output
    return out


sheet_cell = st.one_of(
    cell,
    st.sampled_from(["confirmed", "false_positive", "waived", "remediated", "2026-05-01", "9999-12-31", "1e300", "inf"]),
)


@FUZZ
@given(rows=st.lists(st.lists(sheet_cell, min_size=5, max_size=5), max_size=6), raw=st.binary(max_size=40))
def test_hostile_decision_files_stop_with_a_named_code_and_store_nothing_bad(published, tmp_path, rows, raw):
    """Whatever a decisions file holds, `review import` imports it whole (0) or refuses it (2),
    never a traceback or exit 5, and never quotes a cell it did not understand as a decision."""
    import csv

    file = tmp_path / "d.csv"
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fingerprint", "decision", "reviewer", "reason", "until"])
        writer.writerows(rows)
    for candidate in (file, tmp_path / "raw.csv"):
        if candidate.name == "raw.csv":
            candidate.write_bytes(b"fingerprint,decision,reviewer,reason,until\n" + raw)
        result = CliRunner().invoke(cli, ["review", "import", str(published), str(candidate)])
        assert result.exit_code in (0, ExitCode.USAGE_ERROR), result.output
        assert "Traceback" not in result.output


@FUZZ
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "sample_id": st.sampled_from(["S1", "S2", "S3", ""]),
                "stratum": st.sampled_from(["A", "B", ""]),
                "stratum_population": sheet_cell,
                "crimes_due": sheet_cell,
                "crimes_recorded": sheet_cell,
                "recorded_on_time": sheet_cell,
                "classified_correctly": sheet_cell,
            }
        ),
        max_size=6,
    )
)
def test_hostile_worksheets_are_estimated_or_refused_never_a_crash(tmp_path, rows):
    """Whatever a reviewed worksheet holds, `estimate` estimates (0) or refuses it (2), never exit 5."""
    import csv

    file = tmp_path / "w.csv"
    columns = ["sample_id", "stratum", "stratum_population", "crimes_due", "crimes_recorded"]
    columns += ["recorded_on_time", "classified_correctly"]
    with file.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    result = CliRunner().invoke(cli, ["estimate", str(file)])
    assert result.exit_code in (0, ExitCode.USAGE_ERROR), result.output
    assert "Traceback" not in result.output
