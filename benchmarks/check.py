"""The guard against the next performance regression: `make bench-check`, run by CI.

    python benchmarks/check.py [--scale 0.5] [--runs 3] [--cache DIR] [--baseline FILE]
    python benchmarks/check.py --write-baseline --why "what changed and why the new figures are right"

It times `recordcheck run` (with its report) and the plain-SQL reference (benchmarks/sql_reference.py,
the core rules as one DuckDB script) on the same generated CSV extract, alternately, `--runs`
times each, as whole processes. Absolute times on a shared machine are not stable; the ratio of
the two, measured in one call, and recordcheck's peak resident memory are. It fails (exit 1) when:

  - the median peak memory rises more than 25% over the baseline's, or
  - the median ratio recordcheck / plain SQL rises more than 50% over the baseline's.

The baseline (benchmarks/baseline.json) is updated only with --write-baseline and a --why, in a
commit that says why: a feature that costs time or memory says so there, with its figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import AS_OF, ROOT, extract, run_recordcheck, timed  # noqa: E402 - the benchmark's own helpers

BASELINE = ROOT / "benchmarks" / "baseline.json"
MEMORY_RISE = 1.25
RATIO_RISE = 1.50


def measure(scale: float, runs: int, cache: Path) -> dict[str, Any]:
    """Medians over `runs` alternating pairs: recordcheck (wall, peak) and plain SQL (wall)."""
    folder = extract(cache, scale, "csv")
    work = Path(tempfile.mkdtemp(prefix="recordcheck-bench-check-"))
    walls, peaks, sql_walls = [], [], []
    for _ in range(runs):
        mine = run_recordcheck(folder, work, None)
        walls.append(mine["seconds"])
        peaks.append(mine["peak_mb"])
        plain = timed([sys.executable, str(ROOT / "benchmarks" / "sql_reference.py"), str(folder), "--as-of", AS_OF])
        if plain["exit_code"] != 0:
            sys.exit(f"the plain-SQL reference failed:\n{plain['output'][-2000:]}")
        sql_walls.append(plain["seconds"])
    ratios = [mine / sql for mine, sql in zip(walls, sql_walls, strict=True)]
    return {
        "scale": scale,
        "format": "csv",
        "runs": runs,
        "recordcheck_seconds": round(statistics.median(walls), 2),
        "sql_seconds": round(statistics.median(sql_walls), 2),
        "ratio_to_sql": round(statistics.median(ratios), 2),
        "peak_mb": round(statistics.median(peaks), 1),
    }


def verdict(now: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """What rose past its allowance, in words (empty: within both)."""
    failures = []
    if now["peak_mb"] > baseline["peak_mb"] * MEMORY_RISE:
        failures.append(
            f"peak memory {now['peak_mb']:.0f} MB is more than {MEMORY_RISE:.2f}x the baseline's "
            f"{baseline['peak_mb']:.0f} MB"
        )
    if now["ratio_to_sql"] > baseline["ratio_to_sql"] * RATIO_RISE:
        failures.append(
            f"recordcheck takes {now['ratio_to_sql']:.2f}x the plain-SQL reference, more than {RATIO_RISE:.2f}x "
            f"the baseline's {baseline['ratio_to_sql']:.2f}x"
        )
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=ROOT / ".bench-cache")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--write-baseline", action="store_true", help="record these figures as the baseline")
    parser.add_argument("--why", help="with --write-baseline: why the figures moved (kept in the file)")
    args = parser.parse_args()
    if args.write_baseline and not args.why:
        parser.error("--write-baseline needs --why: say what changed and why the new figures are right")
    args.cache.mkdir(parents=True, exist_ok=True)
    now = measure(args.scale, args.runs, args.cache)
    print(
        f"scale {now['scale']:g} CSV, {now['runs']} alternating runs (medians): recordcheck {now['recordcheck_seconds']} s, "
        f"plain SQL {now['sql_seconds']} s, ratio {now['ratio_to_sql']}x, peak {now['peak_mb']:.0f} MB"
    )
    if args.write_baseline:
        now["why"] = args.why
        now["when"] = time.strftime("%Y-%m-%d", time.gmtime())
        args.baseline.write_text(json.dumps(now, indent=2) + "\n", encoding="utf-8")
        print(f"baseline written: {args.baseline}")
        return
    baseline = json.loads(args.baseline.read_text(encoding="utf-8"))
    if baseline["scale"] != now["scale"]:
        sys.exit(f"the baseline is at scale {baseline['scale']:g}; check at that scale or write a new baseline")
    failures = verdict(now, baseline)
    print(
        f"baseline ({baseline['when']}): ratio {baseline['ratio_to_sql']}x, peak {baseline['peak_mb']:.0f} MB; "
        f"allowed: ratio up to {baseline['ratio_to_sql'] * RATIO_RISE:.2f}x, peak up to "
        f"{baseline['peak_mb'] * MEMORY_RISE:.0f} MB"
    )
    for failure in failures:
        print(f"REGRESSION: {failure}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
