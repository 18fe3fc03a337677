"""A Spark session set up the way the rule pack needs it: UTC, quiet, and ANSI-strict SQL.

The master comes from `--master` (local[N], spark://host:port, yarn, k8s://...) or, when
recordcheck runs under spark-submit, from spark-submit itself. Credentials for object stores
(s3a:, abfss:) stay in Spark's own configuration (spark-defaults.conf, the cluster's settings),
never in recordcheck's.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from recordcheck.checks.base.errors import ConfigError

INSTALL_HINT = "--engine spark needs pyspark (and Java 17 or newer): pip install 'recordcheck[spark]'"


def require_pyspark() -> None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None


def _quiet_logging() -> str:
    """A log4j2 configuration that lets only errors through (Spark's own INFO/WARN lines otherwise
    fill the terminal and the scheduler's log)."""
    path = resources.files("recordcheck.checks.spark").joinpath("log4j2-quiet.properties")
    return f"-Dlog4j2.configurationFile=file:{path}"


SQL_SETTINGS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",  # instants are UTC; London time only where a macro asks
    "spark.sql.ansi.enabled": "true",  # a bad cast is an error, as in DuckDB
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # force=01 is a force code, not the number 1
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
}
"""The session settings the pack's SQL needs, on any Spark: set on a Spark Connect session too."""


CONNECT_CLIENT = ("grpc", "grpc_status", "google.rpc", "zstandard")
"""What pyspark's Spark Connect client imports beyond pyspark (its `connect` extra)."""


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def is_connect(spark: Any) -> bool:
    """A Spark Connect session (Databricks serverless and shared-access clusters run these): no
    SparkContext, no RDDs; the session's own APIs only."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def own_session(spark: Any) -> Any:
    """A session whose temporary views are its own, for work that runs beside other work (a
    force, a rule case, a table's suite): a new session of the same application. On Spark
    Connect the one session: a checkpoint made in a second session is not found there
    ([CONNECT_INVALID_PLAN.DATAFRAME_NOT_FOUND], seen on a Spark Connect 4.3 server), so the
    work runs one piece at a time (`at_once`)."""
    return spark if is_connect(spark) else spark.newSession()


def at_once(spark: Any, wanted: int) -> int:
    """How many pieces of work may run side by side, each in its `own_session`."""
    return 1 if is_connect(spark) else wanted


def spark_session(
    master: str | None = None, verbose: bool = False, app: str = "recordcheck", extra: Mapping[str, str] | None = None
) -> Any:
    """The session recordcheck runs on (created, or the one spark-submit already started). A
    master of `sc://host:port` (or SPARK_REMOTE set) is a Spark Connect server: the session is
    its client, with only the SQL settings (the server owns the rest). `extra`: settings of the
    application's own (every session of it starts with them), such as the rule cases' small-data ones."""
    require_pyspark()
    # pandas is not used by recordcheck's Spark code; PySpark's warning about its version is noise
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    remote = master if master and master.startswith("sc://") else os.environ.get("SPARK_REMOTE")
    if remote:
        # checked here: pyspark's own check exits the process with status 0 when it is not run as
        # a script (under a test runner's workers), which would look like success
        missing = [name for name in CONNECT_CLIENT if not _importable(name)]
        if missing:
            raise ConfigError(
                f"Spark Connect at {remote} needs pyspark's Connect client (missing {', '.join(missing)}): "
                "pip install 'recordcheck[spark-connect]'"
            )
        remote_settings: dict[str, bool | float | int | str | None] = dict(SQL_SETTINGS)
        try:
            return SparkSession.builder.remote(remote).appName(app).config(map=remote_settings).getOrCreate()
        except Exception as exc:  # noqa: BLE001 - the client's own message, shortened
            raise ConfigError(f"Spark Connect at {remote} could not start a session: {str(exc).splitlines()[0]}") from None
    builder = SparkSession.builder.appName(app)
    if master:
        builder = builder.master(master)
    under_submit = bool(os.environ.get("SPARK_ENV_LOADED"))  # spark-submit sets this, and the master with it
    if not master and not under_submit:
        builder = builder.master("local[*]")
    settings = {**SQL_SETTINGS, "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false", **(extra or {})}
    if not under_submit:  # executors run this interpreter, so this recordcheck and its dependencies
        settings["spark.pyspark.python"] = sys.executable
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if not verbose:
        settings["spark.driver.extraJavaOptions"] = _quiet_logging()
        settings["spark.executor.extraJavaOptions"] = _quiet_logging()
    local = (master or ("" if under_submit else "local")).startswith("local")
    if local and not under_submit and not _configured("spark.driver.memory"):
        settings["spark.driver.memory"] = local_driver_memory()
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        # One driver JVM per process: a session started after another was stopped reuses it.
        if not verbose and not under_submit and SparkContext._gateway is None:
            _start_quiet_driver(master or "local[*]", app, settings)
        session = builder.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - the JVM's own message, shortened
        raise ConfigError(f"Spark could not start: {str(exc).splitlines()[0]}") from None
    if not verbose:
        session.sparkContext.setLogLevel("ERROR")
    return session


def local_driver_memory() -> str:
    """The driver's heap in local mode, where it is the executor too: a quarter of the machine's
    memory, from 1 to 8 GB. Spark's own default, 1 GB, ran a six-force country run at scale 4 out
    of execution memory (every force's rows are in each of its jobs)."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 0
    return f"{max(1, min(8, physical // 4 // 2**30))}g"


def _configured(key: str) -> bool:
    """Whether Spark's own configuration names the setting: the environment's submit arguments or
    spark-defaults.conf (SPARK_CONF_DIR, else SPARK_HOME/conf), which recordcheck must not override."""
    if key in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        return True
    folder = os.environ.get("SPARK_CONF_DIR") or (
        str(Path(os.environ["SPARK_HOME"]) / "conf") if os.environ.get("SPARK_HOME") else ""
    )
    defaults = Path(folder) / "spark-defaults.conf" if folder else None
    if defaults is None or not defaults.is_file():
        return False
    return any(line.split()[:1] == [key] for line in defaults.read_text(errors="replace").splitlines())


def _start_quiet_driver(master: str, app: str, settings: dict[str, str]) -> None:
    """Start the driver JVM with its stderr in a log file: the JDK's and Spark's start-up lines
    would otherwise reach the terminal before any log setting applies. Errors still reach the
    caller as exceptions with Spark's message."""
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    conf = SparkConf().setMaster(master).setAppName(app).setAll(list(settings.items()))
    log = Path(tempfile.gettempdir()) / f"recordcheck-spark-{os.getpid()}.log"
    with log.open("ab") as handle:
        launch: Callable[..., Any] = launch_gateway  # pyspark's own functions carry no types
        gateway = launch(conf, popen_kwargs={"stderr": handle})
    SparkContext(conf=conf, gateway=gateway)
