"""The rule pack on Apache Spark: the same SQL, transpiled from DuckDB's dialect at load time.

pyspark is an optional extra (`pip install 'recordcheck[spark]'`); nothing here imports it at
module load, so the DuckDB engine never needs it.

May import: `checks.base`, `checks.extract`, `checks.validation`, `checks.narrative`, `checks.engine`.
"""
