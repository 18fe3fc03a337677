"""The Spark engine, whole runs: a national run identical on both engines (the job on a real
standalone cluster is `test_spark_cluster.py`, so the two run side by side).

Skipped where pyspark or Java is missing; CI has both (pyspark is a dev dependency)."""

from __future__ import annotations

import json
import shutil

import pytest

from recordcheck.checks.national.job import execute_national
from recordcheck.reports.national import render_national
from tests.conftest import AS_OF
from tests.national_data import national_extract, quarantine, register, summary

pyspark = pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]


@pytest.fixture(scope="module")
def national_runs(tmp_path_factory, pack, spark):
    """The generated national extract, run on DuckDB and on Spark local[2]; F01 named by a URI."""
    manifest = national_extract(tmp_path_factory.mktemp("forces"), uri_first=True)
    assert "file://" in manifest.read_text()
    on_duckdb = execute_national(manifest, tmp_path_factory.mktemp("duckdb"), AS_OF, pack, render=render_national)
    on_spark = execute_national(
        manifest, tmp_path_factory.mktemp("spark"), AS_OF, pack, engine="spark", master="local[2]", render=render_national
    )
    return manifest, on_duckdb, on_spark


def test_national_run_is_identical_on_both_engines(national_runs):
    _, on_duckdb, on_spark = national_runs
    assert on_spark.summary["engine"] == "spark"
    # the suites ran as Spark SQL (checks/spark/validation.py), not in DuckDB inside the tasks
    for run, where in ((on_spark, "spark_sql"), (on_duckdb, "duckdb_sql")):
        forces = json.loads((run.run_dir / "manifest.json").read_text())["forces"]
        assert {f["validator"] for f in forces} == {where}
    assert register(on_spark.run_dir).height == register(on_duckdb.run_dir).height > 100
    assert register(on_spark.run_dir).equals(register(on_duckdb.run_dir))
    assert summary(on_spark.run_dir) == summary(on_duckdb.run_dir)
    assert quarantine(on_spark.run_dir).height == 3
    assert quarantine(on_spark.run_dir).equals(quarantine(on_duckdb.run_dir))
    assert (on_spark.run_dir / "examples.json").read_text() == (on_duckdb.run_dir / "examples.json").read_text()
    assert (on_spark.run_dir / "national.html").is_file()
    assert not (on_spark.run_dir / ".work").exists()
