"""Fuzzing: malformed CSV, JSON Lines and Parquet tables, and hostile YAML configs.

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
from tests.conftest import AS_OF_TEXT, ROOT

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
