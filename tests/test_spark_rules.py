"""The Spark engine, rule by rule: every rule's own YAML cases on Spark, and translation errors
that name the rule.

Skipped where pyspark or Java is missing; CI has both (pyspark is a dev dependency)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from recordcheck.checks.errors import ConfigError
from recordcheck.checks.ruletest import case_tables, run_cases
from recordcheck.checks.spark.sql import SparkTranslator, TranslationError
from tests.conftest import AS_OF

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
