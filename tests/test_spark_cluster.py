"""The national job submitted to a real standalone cluster: a master and one worker on 127.0.0.1,
started from the pyspark package's own scripts, and `spark-submit` with recordcheck's entry point.

Skipped where pyspark or Java is missing; CI has both (pyspark is a dev dependency)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recordcheck.checks.national.job import execute_national
from tests.conftest import AS_OF, AS_OF_TEXT
from tests.national_data import national_extract, one_force_manifest, quarantine, register, summary

pyspark = pytest.importorskip("pyspark")
pytestmark = [
    pytest.mark.spark,
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
]


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


def test_national_job_on_a_standalone_cluster(pack, tmp_path):
    """spark-submit to a master and one worker started from the pyspark package's own scripts.
    One force (F02, through its own profile) is enough to show the job runs on a real cluster;
    the three-force parity of the engines is `test_spark_national.py`."""
    manifest = one_force_manifest(national_extract(tmp_path / "forces"), "F02")
    on_duckdb = execute_national(manifest, tmp_path / "duckdb", AS_OF, pack)
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
