"""End-to-end benchmark: `recordcheck run` as a user runs it, against a floor and a pandas reference.

    python benchmarks/run.py [--scales 1 10] [--formats csv parquet] [--cache DIR] [--json FILE] [--no-pandas]

For each scale and format it generates the extract once (cached under --cache, keyed by seed,
scale and format), then times, each as a whole process:
  - recordcheck run (with the report), its stages from the run's manifest, peak resident memory,
    and rows per second;
  - the floor: DuckDB loading the same files into typed tables, every column of the contract;
  - the pandas reference: the heaviest core rules written with read_csv, merge and filter.
It prints a Markdown table and the ratios recordcheck/floor and pandas/recordcheck, and writes the
same figures as JSON so runs can be compared. It also times start-up (`recordcheck --help`) and
the bundled sample. No figure here is asserted: targets are read off, not tested.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-04-01T00:00:00Z"
SEED = 7
STAGES = ("read", "parse", "load", "validate", "rules", "write", "report")


def timed(command: list[str], cwd: Path | None = None) -> dict[str, Any]:
    """Wall seconds, peak resident MB and exit code of one whole process (its own rusage)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    return {
        "seconds": round(wall, 3),
        "peak_mb": round(usage.ru_maxrss / 1024, 1),
        "exit_code": process.returncode,
        "output": output.decode("utf-8", "replace"),
    }


def tool(name: str) -> str:
    """A console script of this environment (the benchmark runs the installed command)."""
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else name


def extract(cache: Path, scale: float, fmt: str) -> Path:
    folder = cache / f"seed{SEED}-scale{scale:g}-{fmt}"
    if not (folder / "generation.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        result = timed(
            [
                tool("recordcheck"),
                "generate",
                str(folder),
                "--seed",
                str(SEED),
                "--scale",
                str(scale),
                "--format",
                fmt,
                "--as-of",
                AS_OF,
            ]
        )
        if result["exit_code"] != 0:
            sys.exit(f"generate failed at scale {scale} ({fmt}):\n{result['output']}")
        print(f"generated scale {scale:g} {fmt}: {result['seconds']} s, peak {result['peak_mb']} MB", file=sys.stderr)
        (folder / "generate-timing.json").write_text(json.dumps({k: v for k, v in result.items() if k != "output"}))
    return folder


FLOOR = r"""
import sys, duckdb
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.base.database import DUCKDB_TYPES as types
folder, fmt = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute("SET TimeZone = 'Europe/London'")  # naive times are London wall-clock, as in recordcheck
for name, table in TABLES.items():
    columns = {c.name: types[c.type] for c in table.columns}
    if fmt == "csv":
        spec = ", ".join(f"'{k}': '{v}'" for k, v in columns.items())
        source = f"read_csv('{folder}/{name}.csv', header=true, columns={{{spec}}})"
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {source}")
    else:
        casts = ", ".join(f"CAST({k} AS {v}) AS {k}" for k, v in columns.items())
        con.execute(f"CREATE TABLE {name} AS SELECT {casts} FROM read_parquet('{folder}/{name}.parquet')")
print(sum(con.execute(f"SELECT count(*) FROM {n}").fetchone()[0] for n in TABLES))
"""


def run_recordcheck(folder: Path, work: Path, memory_limit: str | None) -> dict[str, Any]:
    out = work / "out"
    shutil.rmtree(out, ignore_errors=True)
    config: list[str] = []
    if memory_limit:
        (work / "config.yaml").write_text(f"config: 1\nengine: {{memory_limit: {memory_limit}}}\n")
        config = ["--config", str(work / "config.yaml")]
    result = timed([tool("recordcheck"), "run", str(folder), "--out", str(out), "--as-of", AS_OF, *config])
    if result["exit_code"] not in (0, 1):
        sys.exit(f"recordcheck run failed on {folder}:\n{result['output'][-2000:]}")
    manifest = json.loads((out / "latest" / "manifest.json").read_text())
    timings = manifest["timings_seconds"]
    rows = sum(t["read"] for t in manifest["validation"]["tables"].values())
    stages = {stage: timings.get(stage) for stage in STAGES}
    # reading includes checking the files' encoding and header (open) and hashing them for the manifest
    stages["read"] = round(timings.get("open", 0) + timings.get("read", 0) + timings.get("hash", 0), 3)
    return {
        "seconds": result["seconds"],
        "peak_mb": result["peak_mb"],
        "rows": rows,
        "rows_per_second": round(rows / result["seconds"]),
        "stages": stages,
        "engine": {k: v for k, v in timings.items() if k.startswith("rules.")},
        "exit_code": result["exit_code"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=float, nargs="+", default=[1, 10])
    parser.add_argument("--formats", nargs="+", choices=["csv", "parquet"], default=["csv", "parquet"])
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench-cache")
    parser.add_argument("--json", type=Path, default=ROOT / "out" / "benchmark.json")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference (slow at scale 10)")
    parser.add_argument("--memory-limit", help="run recordcheck with this engine.memory_limit (default: its own)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="recordcheck-bench-"))
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "memory_limit": args.memory_limit or "default",
        "startup": {},
        "runs": [],
    }
    helps = [timed([tool("recordcheck"), "--help"])["seconds"] for _ in range(3)]
    sample = timed(
        [tool("recordcheck"), "run", str(ROOT / "sample_data" / "extract"), "--out", str(work / "sample"), "--as-of", AS_OF]
    )
    results["startup"] = {
        "help_seconds": min(helps),
        "sample_run_seconds": sample["seconds"],
        "sample_peak_mb": sample["peak_mb"],
    }

    for scale in args.scales:
        for fmt in args.formats:
            folder = extract(args.cache, scale, fmt)
            entry: dict[str, Any] = {"scale": scale, "format": fmt}
            generated = folder / "generate-timing.json"
            if generated.exists():
                entry["generate"] = json.loads(generated.read_text())
            entry["recordcheck"] = run_recordcheck(folder, work, args.memory_limit)
            floor = timed([sys.executable, "-c", FLOOR, str(folder), fmt], cwd=ROOT)
            if floor["exit_code"] != 0:
                sys.exit(f"the floor failed on {folder}:\n{floor['output'][-2000:]}")
            entry["floor"] = {k: v for k, v in floor.items() if k != "output"}
            plain = timed([sys.executable, str(ROOT / "benchmarks" / "sql_reference.py"), str(folder), "--as-of", AS_OF])
            if plain["exit_code"] != 0:
                sys.exit(f"the plain-SQL reference failed on {folder}:\n{plain['output'][-2000:]}")
            entry["sql"] = {k: v for k, v in plain.items() if k != "output"}
            if not args.no_pandas:
                reference = timed(
                    [sys.executable, str(ROOT / "benchmarks" / "pandas_reference.py"), str(folder), "--as-of", AS_OF]
                )
                if reference["exit_code"] != 0:
                    sys.exit(f"the pandas reference failed on {folder}:\n{reference['output'][-2000:]}")
                entry["pandas"] = {k: v for k, v in reference.items() if k != "output"}
            results["runs"].append(entry)
            print(f"scale {scale:g} {fmt}: recordcheck {entry['recordcheck']['seconds']} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(markdown(results))
    print(f"\nJSON: {args.json}")


def markdown(results: dict[str, Any]) -> str:
    start = results["startup"]
    lines = [
        f"Start-up: `recordcheck --help` {start['help_seconds']:.2f} s; "
        f"bundled sample run {start['sample_run_seconds']:.2f} s (peak {start['sample_peak_mb']:.0f} MB). "
        f"{results['machine']['cpus']} CPUs.",
        "",
        "| scale | format | rows | total s | "
        + " | ".join(STAGES)
        + " | peak MB | rows/s | floor s | ×floor | plain SQL s | ×SQL | pandas s | pandas/rc |",
        "|---|---|---|---|" + "---|" * len(STAGES) + "---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        rc = run["recordcheck"]
        stages = " | ".join(f"{rc['stages'][s]:.2f}" if rc["stages"].get(s) is not None else "-" for s in STAGES)
        floor = run["floor"]["seconds"]
        pandas_s = run.get("pandas", {}).get("seconds")
        sql_s = run.get("sql", {}).get("seconds")
        lines.append(
            f"| {run['scale']:g} | {run['format']} | {rc['rows']:,} | {rc['seconds']:.2f} | {stages} | "
            f"{rc['peak_mb']:.0f} | {rc['rows_per_second']:,} | {floor:.2f} | {rc['seconds'] / floor:.2f} | "
            + (f"{sql_s:.2f} | {rc['seconds'] / sql_s:.1f} | " if sql_s else "- | - | ")
            + (f"{pandas_s:.2f} | {pandas_s / rc['seconds']:.1f} |" if pandas_s else "- | - |")
        )
    generated = [r for r in results["runs"] if "generate" in r]
    if generated:
        lines.append("")
        lines += [
            f"generate scale {r['scale']:g} {r['format']}: "
            f"{r['generate']['seconds']:.1f} s, peak {r['generate']['peak_mb']:.0f} MB"
            for r in generated
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
