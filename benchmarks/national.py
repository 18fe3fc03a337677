"""National-run benchmark: the same generated national extract on DuckDB and on Spark local[2].

    python benchmarks/national.py [--scales 4 10] [--forces 6] [--engines duckdb spark spark-by-force]
                                  [--cache DIR] [--json FILE]

For each total scale it generates the forces once (cached), then times `recordcheck national` as
a whole process on each engine: wall seconds, peak resident memory of the whole process tree (the
JVM's too, read from /proc every 0.2 s), and rows read per second. No figure is asserted.
`spark` runs the pack once for the alike forces (checks/national/country.py); `spark-by-force`
runs it force by force, a run each, as before (spark.recordcheck.forceByForce=true, given to the
driver through a spark-defaults.conf of its own).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-04-01T00:00:00Z"
SEED = 7


def _tree_rss_kb(root: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        pid, parent = int(entry.name), int(fields.get("PPid", "0").strip() or 0)
        children.setdefault(parent, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0]) if "VmRSS" in fields else 0
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def timed_tree(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Wall seconds, the process tree's peak resident MB, and the exit code."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _tree_rss_kb(process.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    output, _ = process.communicate()
    done.set()
    watcher.join()
    return {
        "seconds": round(time.perf_counter() - started, 1),
        "peak_mb": round(peak / 1024),
        "exit_code": process.returncode,
        "output": output.decode("utf-8", "replace")[-2000:],
    }


def tool() -> str:
    return str(Path(sys.executable).parent / "recordcheck")


def national_extract(cache: Path, scale: float, forces: int) -> Path:
    folder = cache / f"national-seed{SEED}-scale{scale:g}-forces{forces}"
    if not (folder / "forces.yaml").exists():
        subprocess.run(
            [
                tool(),
                "generate",
                str(folder),
                "--forces",
                str(forces),
                "--seed",
                str(SEED),
                "--scale",
                str(scale),
                "--as-of",
                AS_OF,
            ],
            check=True,
        )
    return folder / "forces.yaml"


def rows_in(manifest: Path) -> int:
    total = 0
    for generation in manifest.parent.glob("*/generation.json"):
        total += sum(json.loads(generation.read_text())["rows"].values())
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[4, 10])
    parser.add_argument("--forces", type=int, default=6)
    parser.add_argument("--engines", nargs="+", default=["duckdb", "spark"], choices=["duckdb", "spark", "spark-by-force"])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench-cache")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "benchmark-national.json")
    args = parser.parse_args()
    results = []
    for scale in args.scales:
        manifest = national_extract(args.cache, scale, args.forces)
        rows = rows_in(manifest)
        for engine in args.engines:
            with tempfile.TemporaryDirectory(prefix="recordcheck-national-") as out:
                command = [tool(), "national", str(manifest), "--out", out, "--as-of", AS_OF]
                env = None
                if engine == "duckdb":
                    command += ["--engine", "duckdb"]
                else:
                    command += ["--engine", "spark", "--master", args.master]
                if engine == "spark-by-force":
                    conf_dir = Path(tempfile.mkdtemp(prefix="recordcheck-spark-conf-"))
                    (conf_dir / "spark-defaults.conf").write_text("spark.recordcheck.forceByForce true\n")
                    env = {**os.environ, "SPARK_CONF_DIR": str(conf_dir)}
                figures = timed_tree(command, env)
                manifests = list(Path(out).glob("*/manifest.json"))
                if manifests:  # where the time went: spark start, front end, rules, report
                    figures["stages"] = json.loads(manifests[0].read_text())["timings_seconds"]
            figures.update(scale=scale, forces=args.forces, engine=engine, rows=rows)
            figures["rows_per_second"] = round(rows / figures["seconds"]) if figures["seconds"] else None
            results.append(figures)
            print(
                f"scale {scale:g} ({args.forces} forces, {rows:,} rows) {engine:<6}: {figures['seconds']:>7.1f} s, "
                f"peak {figures['peak_mb']:,} MB, {figures['rows_per_second']:,} rows/s, exit {figures['exit_code']}; "
                f"stages {figures.get('stages')}",
                flush=True,
            )
    print("\n| total scale | forces | rows | engine | wall s | peak MB (process tree) | rows/s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        cells = [f"{r['scale']:g}", str(r["forces"]), f"{r['rows']:,}", r["engine"], str(r["seconds"])]
        print("| " + " | ".join([*cells, f"{r['peak_mb']:,}", f"{r['rows_per_second']:,}"]) + " |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([{k: v for k, v in r.items() if k != "output"} for r in results], indent=2) + "\n")
    if any(r["exit_code"] != 0 for r in results):
        for r in results:
            if r["exit_code"] != 0:
                print(r["output"], file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
