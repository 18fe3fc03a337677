"""The spark-submit entry point: the recordcheck command line, run as Spark's driver program.

    spark-submit --master spark://host:7077 "$(python -m recordcheck.spark_submit --path)" \\
        national forces.yaml --out /shared/national --engine spark

Under spark-submit the master, resources and credentials are spark-submit's (and the cluster's
spark-defaults.conf); recordcheck sets only what its SQL needs (UTC, ANSI). recordcheck must be
installed on every node, like any Python dependency of a Spark job (PYSPARK_PYTHON names the
interpreter that has it).
"""

from __future__ import annotations

import sys


def run() -> None:
    if sys.argv[1:] == ["--path"]:
        print(__file__)
        return
    from recordcheck.cli import main

    main()


if __name__ == "__main__":
    run()
