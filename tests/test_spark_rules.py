"""The Spark engine, rule by rule: every rule's own YAML cases on Spark, translation errors that
name the rule, and the validation suites' SQL run on Spark.

Skipped where pyspark or Java is missing; CI has both (pyspark is a dev dependency)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.rulechange.ruletest import case_tables, run_cases
from recordcheck.checks.spark.sql import SparkTranslator, TranslationError
from recordcheck.checks.validation.pipeline import load_extract
from recordcheck.checks.validation.runners import make_runner
from tests.conftest import AS_OF
from tests.corruption import corrupt_extract, corrupt_more

pyspark = pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]


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
    assert {p.name for p in suites.iterdir()} == {"referrals", "incidents", "crimes", "crime_links", "victim_contacts"}
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
