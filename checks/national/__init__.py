"""National runs: many forces' extracts in one job, each through its own profile, one rule pack.

`forces.py` reads the list of forces, `front.py` reads and validates one force's extract (the
same code as a single-force run), `duckdb_engine.py` and `spark_engine.py` run the pack (on
Spark, `country.py` once for each group of alike forces), and
`job.py` assembles and publishes the national run folder; `funnel.py` holds the funnel plot's
control limits.

May import: `checks.base`, `checks.extract`, `checks.validation`, `checks.engine`,
`checks.nightly`, `checks.spark`, `checks.narrative`.
"""
