"""The Spark engine: every rule's own cases on Spark, a national run identical on both engines,
and the national job submitted to a real standalone cluster (master and worker on 127.0.0.1).

Skipped where pyspark or Java is missing; CI has both (pyspark is a dev dependency)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recordcheck.checks.errors import ConfigError
from recordcheck.checks.national.job import execute_national
from recordcheck.checks.ruletest import case_tables, run_cases
from recordcheck.checks.spark.sql import SparkTranslator, TranslationError
from recordcheck.reports.national import render_national
from tests.conftest import AS_OF, AS_OF_TEXT
from tests.national_data import national_extract, quarantine, register, summary

pyspark = pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]


@pytest.fixture(scope="module")
def spark():
    from recordcheck.checks.spark.session import spark_session

    session = spark_session("local[2]")
    yield session
    session.stop()


def test_every_rule_case_passes_on_spark(spark, pack, reference):
    from recordcheck.checks.spark.engine import SPARK_CASE_WORKERS, spark_case_engine

    outcomes = run_cases(pack, reference, engine_for=spark_case_engine(spark), workers=SPARK_CASE_WORKERS)
    assert len(outcomes) == sum(len(r.cases) for r in pack.rules) >= 50
    failed = [o.message for o in outcomes if not o.passed]
    assert not failed, "\n".join(failed)


def test_translation_expands_macros_and_a_rule_spark_cannot_run_is_named(pack, reference, spark):
    translator = SparkTranslator(pack.macros, pack.spark_macros)
    sql = translator.translate("SELECT elapsed_seconds(a, b) > limit_value('recording_hours') * 3600 FROM t", "REC9")
    assert "UNIX_MICROS(b) - UNIX_MICROS(a)" in sql and "limit_value" not in sql.lower()
    assert "FROM_UTC_TIMESTAMP(CAST(ts AS TIMESTAMP), 'Europe/London')" in translator.translate(
        "SELECT local_date(ts) FROM t", "x"
    )
    with pytest.raises(TranslationError, match="REC9: macro age_at takes 2 argument"):
        translator.translate("SELECT age_at(dob) FROM t", "REC9")
    with pytest.raises(ConfigError, match="spark_macros: nope is not a macro"):
        SparkTranslator(pack.macros, {"nope": "(a) AS a"})
    # a DuckDB-only function passes the translator but not Spark: the rule is named, never skipped
    from recordcheck.checks.engine import RuleError
    from recordcheck.checks.spark.engine import SparkRuleEngine

    rule = dataclasses.replace(
        pack.get("REC003"), breaches="SELECT * FROM population WHERE list_reduce([1, 2], (x, y) -> x + y) = 3"
    )
    engine = SparkRuleEngine(pack, reference, AS_OF, case_tables(rule.cases[0]), spark, keep_views=False)
    try:
        with pytest.raises(RuleError, match="^REC003 breaches: "):
            engine.run_rule(rule, "test")
    finally:
        engine.close()


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
    assert register(on_spark.run_dir).height == register(on_duckdb.run_dir).height > 100
    assert register(on_spark.run_dir).equals(register(on_duckdb.run_dir))
    assert summary(on_spark.run_dir) == summary(on_duckdb.run_dir)
    assert quarantine(on_spark.run_dir).height == 3
    assert quarantine(on_spark.run_dir).equals(quarantine(on_duckdb.run_dir))
    assert (on_spark.run_dir / "examples.json").read_text() == (on_duckdb.run_dir / "examples.json").read_text()
    assert (on_spark.run_dir / "national.html").is_file()
    assert not (on_spark.run_dir / ".work").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for(path: Path, text: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {path} after {seconds} s:\n{path.read_text(errors='replace')[-2000:]}")


def test_national_job_on_a_standalone_cluster(national_runs, tmp_path):
    """spark-submit to a master and one worker started from the pyspark package's own scripts."""
    manifest, on_duckdb, _ = national_runs
    home = Path(pyspark.__file__).parent
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    port = _free_port()
    master_log, worker_log = tmp_path / "master.log", tmp_path / "worker.log"
    spark_class = str(home / "bin" / "spark-class")
    daemons = []
    try:
        with master_log.open("w") as log:
            daemons.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.master.Master",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--webui-port",
                        "0",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait_for(master_log, "Starting Spark master", 90)
        with worker_log.open("w") as log:
            daemons.append(
                subprocess.Popen(
                    [
                        spark_class,
                        "org.apache.spark.deploy.worker.Worker",
                        f"spark://127.0.0.1:{port}",
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "2",
                        "--memory",
                        "2g",
                        "--webui-port",
                        "0",
                        "--work-dir",
                        str(tmp_path / "work"),
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        _wait_for(master_log, "Registering worker", 90)
        entry = subprocess.run(
            [sys.executable, "-m", "recordcheck.spark_submit", "--path"], capture_output=True, text=True, check=True
        ).stdout.strip()
        out = tmp_path / "out"
        submitted = subprocess.run(
            [
                str(home / "bin" / "spark-submit"),
                "--master",
                f"spark://127.0.0.1:{port}",
                "--conf",
                "spark.driver.host=127.0.0.1",
                entry,
                "national",
                str(manifest),
                "--out",
                str(out),
                "--as-of",
                AS_OF_TEXT,
                "--engine",
                "spark",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
        _wait_for(master_log, "Removing app", 30)  # the application really ran on this master
        run_dir = out / "latest"
        assert register(run_dir).equals(register(on_duckdb.run_dir))
        assert summary(run_dir) == summary(on_duckdb.run_dir)
        assert quarantine(run_dir).equals(quarantine(on_duckdb.run_dir))
    finally:
        for daemon in reversed(daemons):
            os.killpg(daemon.pid, 15)
            daemon.wait(timeout=60)
