"""Spark Connect check: the rule cases and a national run on a Spark Connect server, the way
Databricks serverless and shared-access clusters run Spark (no SparkContext, no RDDs).

    pip install 'recordcheck[spark-connect]'
    SPARK_HOME=$(python -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')
    $SPARK_HOME/sbin/start-connect-server.sh --master 'local[2]' --conf spark.pyspark.python=$(which python)
    python benchmarks/spark_connect.py --remote sc://127.0.0.1:15002 [--work DIR]

It runs every rule case of the frozen test pack on the server, then the generated three-force
national extract (F01 named by a file:// URI, F02 in its own shape, F03 with bad rows) on DuckDB
and on the server, and prints whether the register, summary, quarantine, examples and files are
the same, with the times. Not in the test suite: it needs a Connect server and the gRPC client.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remote", default="sc://127.0.0.1:15002", help="the Spark Connect server")
    parser.add_argument("--work", type=Path, help="a folder for the extract and the runs (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="recordcheck-connect-"))

    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.engine.rules import load_pack
    from recordcheck.checks.national.job import execute_national
    from recordcheck.checks.rulechange.ruletest import run_cases
    from recordcheck.checks.spark.engine import spark_case_engine
    from recordcheck.checks.spark.session import is_connect, spark_session
    from recordcheck.reports.national import render_national
    from tests.conftest import AS_OF, TEST_PACK, TEST_REFERENCE
    from tests.national_data import national_extract, quarantine, register, summary

    pack, reference = load_pack(TEST_PACK), load_reference(TEST_REFERENCE)
    spark = spark_session(args.remote)
    print(f"Spark Connect session: {is_connect(spark)}")
    started = time.perf_counter()
    outcomes = run_cases(pack, reference, engine_for=spark_case_engine(spark), batched=True)
    failed = [o.message for o in outcomes if not o.passed]
    print(f"rule cases: {len(outcomes) - len(failed)} passed, {len(failed)} failed in {time.perf_counter() - started:.1f} s")
    for message in failed:
        print(f"  {message}")

    manifest = national_extract(work / "forces", uri_first=True, scale=0.01)
    started = time.perf_counter()
    on_duckdb = execute_national(manifest, work / "duckdb", AS_OF, pack, render=render_national)
    print(f"national on DuckDB: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    on_connect = execute_national(
        manifest, work / "connect", AS_OF, pack, engine="spark", master=args.remote, render=render_national
    )
    print(f"national on Spark Connect: {time.perf_counter() - started:.1f} s {on_connect.timings}")
    same = {
        "register": register(on_connect.run_dir).equals(register(on_duckdb.run_dir)),
        "summary": summary(on_connect.run_dir) == summary(on_duckdb.run_dir),
        "quarantine": quarantine(on_connect.run_dir).equals(quarantine(on_duckdb.run_dir)),
        "examples": (on_connect.run_dir / "examples.json").read_text() == (on_duckdb.run_dir / "examples.json").read_text(),
        "files": sorted(str(p.relative_to(on_connect.run_dir)) for p in on_connect.run_dir.rglob("*"))
        == sorted(str(p.relative_to(on_duckdb.run_dir)) for p in on_duckdb.run_dir.rglob("*")),
        "engine": json.loads((on_connect.run_dir / "summary.json").read_text())["engine"] == "spark",
    }
    print(f"register rows: {register(on_connect.run_dir).height}; the same as DuckDB: {json.dumps(same)}")
    ok = not failed and all(same.values())
    sys.stdout.flush()
    os._exit(0 if ok else 1)  # the gRPC channel's own shutdown can hang at exit


if __name__ == "__main__":
    main()
