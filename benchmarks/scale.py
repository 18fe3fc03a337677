"""Print generation, validation and rule-pack timings at a given scale (no assertions).

    python benchmarks/scale.py --scale 1 [--seed 1] [--workdir DIR]

Figures: seconds and rows per second for generate (build + write CSV), validate (read, parse,
GX suites) and the rule pack, plus whether the register equals the answer key.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import polars as pl

from checks.config import RunConfig
from checks.generate import DEFAULT_AS_OF, generate, write_extract
from checks.pipeline import load_extract
from checks.profile import load_profile
from checks.refdata import load_reference
from checks.rules import load_pack
from checks.run import execute_run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="recordcheck-bench-"))

    started = time.perf_counter()
    extract = generate(seed=args.seed, scale=args.scale, as_of=DEFAULT_AS_OF)
    built = time.perf_counter() - started
    write_extract(extract, work / "extract")
    generated = time.perf_counter() - started
    rows = sum(extract.counts.values())
    print(f"scale {args.scale}: {rows:,} rows ({', '.join(f'{k} {v:,}' for k, v in extract.counts.items())})")
    print(
        f"generate: {generated:.1f} s ({built:.1f} s build, {generated - built:.1f} s write CSV); "
        f"{rows / generated:,.0f} rows/s"
    )

    reference = load_reference()
    started = time.perf_counter()
    loaded = load_extract(work / "extract", load_profile(), reference, DEFAULT_AS_OF)
    validated = time.perf_counter() - started
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in loaded.timings.items())
    print(
        f"validate: {validated:.1f} s ({stages}); {rows / validated:,.0f} rows/s; "
        f"quarantined {loaded.validation.quarantine.height}"
    )

    started = time.perf_counter()
    outcome = execute_run(work / "extract", work / "out", load_profile(), reference, RunConfig(), DEFAULT_AS_OF, load_pack())
    total = time.perf_counter() - started
    print(
        f"run (validate + rules + write): {total:.1f} s; stages: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in outcome.timings.items())
    )
    register = (
        pl.read_csv(outcome.run_dir / "exceptions.csv", infer_schema=False)
        .select("finding", "record_type", "record_id")
        .unique()
    )
    key = extract.key.unique()
    exact = (
        register.join(key, on=["finding", "record_type", "record_id"], how="anti").height == 0
        and key.join(register, on=["finding", "record_type", "record_id"], how="anti").height == 0
    )
    print(f"register rows {register.height:,}; answer key rows {key.height:,}; equal: {exact}")


if __name__ == "__main__":
    main()
