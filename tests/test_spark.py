"""The Spark engine, in one file run by `make test-spark` in one process with one driver JVM
(the Spark tests in several files ran JVMs side by side on two cores, each slowing the others;
inside `make test` they added half again to its CPU, 671 CPU-seconds against 438, so CI runs
them as a step of their own):

- rule by rule: every rule's own YAML cases on Spark, translation errors that name the rule, and
  the validation suites' SQL run on Spark;
- a whole national run submitted to a real standalone cluster (a master and one worker on
  127.0.0.1, started from the pyspark package's own scripts, and `spark-submit` with recordcheck's
  entry point), identical to the same run on DuckDB.

Skipped where pyspark or Java is missing, and `make test-spark` fails on a skip; CI has both
(pyspark is a dev dependency)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.engine.rules import load_pack
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.national.job import execute_national
from recordcheck.checks.rulechange.ruletest import case_tables, run_cases
from recordcheck.checks.spark.sql import SparkTranslator, TranslationError
from recordcheck.checks.validation.pipeline import load_extract
from recordcheck.checks.validation.runners import make_runner
from recordcheck.reports.national import render_national
from tests.conftest import AS_OF, AS_OF_TEXT, pack_of_only
from tests.corruption import corrupt_extract, corrupt_more
from tests.national_data import national_extract, quarantine, register, summary

CLUSTER_RULES = ("REC001", "TIM001", "OUT001", "VIC001", "NAR001")
"""The cluster test's pack: referrals, incidents and crimes, victim contacts and the narrative screen."""

pyspark = pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]


def test_every_rule_case_passes_on_spark(spark, pack, reference):
    from recordcheck.checks.spark.engine import SPARK_CASE_WORKERS, spark_case_engine

    outcomes = run_cases(pack, reference, engine_for=spark_case_engine(spark), workers=SPARK_CASE_WORKERS, batched=True)
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
    from recordcheck.checks.engine.engine import RuleError
    from recordcheck.checks.spark.engine import SparkRuleEngine

    rule = dataclasses.replace(
        pack.get("REC003"), breaches="SELECT * FROM population WHERE list_reduce([1, 2], (x, y) -> x + y) = 3"
    )
    engine = SparkRuleEngine(pack, reference, AS_OF, case_tables(rule.cases[0], pack.case_defaults), spark, keep_views=False)
    try:
        with pytest.raises(RuleError, match="^REC003 breaches: "):
            engine.run_rule(rule, "test")
    finally:
        engine.close()


def test_a_runaway_rule_is_stopped_on_spark_by_its_job_timeout(pack, reference, spark):
    """A runaway rule on Spark: past query_seconds the rule's tagged jobs are cancelled, the rule
    is not run with its reason (as on DuckDB), and its tag is gone, so the next rule's jobs run
    untouched.

    The runaway sleeps rather than computes (600 rows of 200 ms each, a minute a core if never
    stopped): it outlasts the limit on any machine, and its cancelled tasks leave the cores to the
    other tests. A cross join of 10^10 rows burnt both cores for up to 23 s after its cancel,
    until the session stopped. In a run's own settings (code generation on), not the file's
    small-data ones."""
    from recordcheck.checks.spark.engine import SparkRuleEngine
    from recordcheck.checks.spark.session import own_session

    session = own_session(spark)
    session.conf.set("spark.sql.codegen.wholeStage", "true")
    session.conf.set("spark.sql.codegen.factoryMode", "FALLBACK")

    rule = pack.get("OUT001")
    runaway = dataclasses.replace(
        rule,
        population="SELECT c.* FROM crime c CROSS JOIN (SELECT count(*) AS n FROM "
        "(SELECT reflect('java.lang.Thread', 'sleep', CAST(200 AS BIGINT)) AS z FROM range(0, 600, 1, 2)) "
        "WHERE z IS NOT NULL) a WHERE a.n < 0",
    )
    tables = case_tables(rule.cases[0], pack.case_defaults)
    engine = SparkRuleEngine(pack, reference, AS_OF, tables, session, keep_views=False, query_seconds=2)
    try:
        started = time.monotonic()
        stopped, _ = engine.run_rule(runaway, "test")
        assert time.monotonic() - started < 90
        assert stopped.status == "not_run" and "over the time limit of 2 s (engine.query_seconds)" in stopped.reason
        assert not spark.sparkContext.getJobTags(), "the rule's tag is removed: the next rule's jobs carry none"
    finally:
        engine.close()


def test_the_suites_run_on_spark_and_quarantine_the_same_rows(spark, small_extract, reference, tmp_path):
    """Validation's SQL runner, transpiled: each suite's one query, run by Spark over the exported
    parsed tables, fails exactly the rows it fails in DuckDB (an extract with every kind of bad row),
    through the three steps a national run on Spark takes."""
    from recordcheck.checks.spark.validation import RecordedFailures, SuiteExport, run_exported_suites

    folder = tmp_path / "extract"
    corrupt_extract(small_extract, folder)
    corrupt_more(folder)
    suites = tmp_path / "suites"

    def quarantine(runner):
        loaded = load_extract(folder, load_profile(), reference, AS_OF, runner)
        try:
            return loaded.validation.quarantine, loaded.validation.runner
        finally:
            loaded.close()

    on_duckdb, _ = quarantine(make_runner("sql"))
    exported, _ = quarantine(SuiteExport(suites))
    assert {p.name for p in suites.iterdir()} == set(TABLES)
    # the session's own settings (spark_session's `extra`, here the small-data ones) reach every
    # session of the application, the suites' own included
    from recordcheck.checks.spark.engine import CASE_SETTINGS
    from recordcheck.checks.spark.session import own_session

    assert {key: own_session(spark).conf.get(key) for key in CASE_SETTINGS} == CASE_SETTINGS
    run_exported_suites(spark, suites)
    on_spark, runner = quarantine(RecordedFailures(suites))
    assert runner == "spark_sql"
    assert on_duckdb.height > 20 and exported.height < on_duckdb.height  # step 1 fails no row itself
    assert {"required_value", "duplicate_id", "unknown_value", "out_of_range", "order"} <= set(on_duckdb["check"])
    assert on_spark.to_dicts() == on_duckdb.to_dicts()


def test_rules_test_command_runs_the_cases_on_spark(spark, pack):
    """`recordcheck rules test RULE --engine spark`: the command's own path to Spark (the session
    already running in this process is the one it gets)."""
    from click.testing import CliRunner

    from recordcheck.cli import cli

    result = CliRunner().invoke(cli, ["rules", "test", "tim001", "--engine", "spark"])
    cases = len(pack.get("TIM001").cases)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"{cases} passed, 0 failed")


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


def test_national_job_on_a_standalone_cluster_gives_what_duckdb_gives(tmp_path):
    """spark-submit to a master and one worker started from the pyspark package's own scripts,
    with the generated national extract (F01 named by a file:// URI, F02 in its own shape through
    its profile, F03 with rows that break the contract): the register, summary, quarantine and
    examples equal a DuckDB national run of the same forces, and the suites ran as Spark SQL.

    One Spark run for parity and the cluster: on two cores the suite is CPU-bound, and a second
    national run on local[2] cost 80 s for the same assertions (local mode differs only in running
    one force at a time).

    The pack is five of its rules (CLUSTER_RULES: one on each kind of record, the contacts, and
    the narrative screen): what this test adds is the cluster and the job's path through it; every
    rule's SQL on Spark is held to its verdicts by the rule cases above, which run through the same
    batched engine as a country run. The whole pack here cost a minute more."""
    manifest = national_extract(tmp_path / "forces", uri_first=True, scale=0.01)  # a smaller background: Spark time
    assert "file://" in manifest.read_text()
    rules = pack_of_only(tmp_path / "rules", CLUSTER_RULES)
    on_duckdb = execute_national(manifest, tmp_path / "duckdb", AS_OF, load_pack(rules), render=render_national)
    home = Path(pyspark.__file__).parent
    env = {
        **os.environ,
        "SPARK_HOME": str(home),
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        # the cluster's four JVMs (master, worker, driver, executor) live for a minute and run each
        # query once: the client compiler alone saves a fifth of their CPU on a CPU-bound suite
        # (its default code cache, 48 MB, filled up in a run and the JVM stopped compiling)
        "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=128m",
    }
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
                # the rule cases' settings (checks/spark/engine.py, CASE_SETTINGS): a small extract's
                # queries cost less interpreted than compiled (measured alone: 146 s, 132 s with these)
                "--conf",
                "spark.sql.codegen.factoryMode=NO_CODEGEN",
                "--conf",
                "spark.sql.codegen.wholeStage=false",
                entry,
                "national",
                str(manifest),
                "--out",
                str(out),
                "--as-of",
                AS_OF_TEXT,
                "--engine",
                "spark",
                "--rules",
                str(rules),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
        _wait_for(master_log, "Removing app", 30)  # the application really ran on this master
        run_dir = out / "latest"
        assert json.loads((run_dir / "summary.json").read_text())["engine"] == "spark"
        # the suites ran as Spark SQL (checks/spark/validation.py), not in DuckDB inside the tasks
        for folder, where in ((run_dir, "spark_sql"), (on_duckdb.run_dir, "duckdb_sql")):
            forces = json.loads((folder / "manifest.json").read_text())["forces"]
            assert {f["validator"] for f in forces} == {where}
        findings = register(on_duckdb.run_dir).group_by("force", "rule_id").len()
        assert findings.height == 3 * len(CLUSTER_RULES), findings  # every rule finds something in every force
        assert register(run_dir).equals(register(on_duckdb.run_dir))
        assert summary(run_dir) == summary(on_duckdb.run_dir)
        assert quarantine(run_dir).height == 3
        assert quarantine(run_dir).equals(quarantine(on_duckdb.run_dir))
        assert (run_dir / "examples.json").read_text() == (on_duckdb.run_dir / "examples.json").read_text()
        assert (run_dir / "national.html").is_file()
        assert not (run_dir / ".work").exists()
        # the same files from either engine (no _SUCCESS or .crc in one only): a plain directory read works
        files = [sorted(str(p.relative_to(d)) for p in d.rglob("*")) for d in (run_dir, on_duckdb.run_dir)]
        assert files[0] == files[1]
        assert "exceptions/force=F02/part-0.parquet" in files[0]
    finally:
        for daemon in reversed(daemons):
            os.killpg(daemon.pid, 15)
            daemon.wait(timeout=60)


def test_local_mode_sizes_the_driver_unless_spark_is_configured(tmp_path, monkeypatch):
    """Local mode's driver gets a quarter of the machine (1 to 8 GB), but never over a
    spark.driver.memory that Spark's own configuration names (spark-defaults.conf, submit args)."""
    from recordcheck.checks.spark.session import _configured, local_driver_memory

    assert re.fullmatch(r"[1-8]g", local_driver_memory())
    monkeypatch.setenv("SPARK_CONF_DIR", str(tmp_path))
    monkeypatch.delenv("PYSPARK_SUBMIT_ARGS", raising=False)
    assert not _configured("spark.driver.memory")
    defaults = tmp_path / "spark-defaults.conf"
    defaults.write_text("spark.driver.memoryOverhead 1g\n# spark.driver.memory 2g\n", encoding="utf-8")
    assert not _configured("spark.driver.memory")
    defaults.write_text("spark.driver.memory   12g\n", encoding="utf-8")
    assert _configured("spark.driver.memory")
    defaults.unlink()
    monkeypatch.setenv("PYSPARK_SUBMIT_ARGS", "--conf spark.driver.memory=2g pyspark-shell")
    assert _configured("spark.driver.memory")
