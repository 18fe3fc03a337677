"""Helpers for the national-run tests: a generated national extract and reading a run back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.generate.forces import write_forces
from tests.conftest import AS_OF

KEY = ["finding", "record_type", "record_id"]


def national_extract(folder: Path, uri_first: bool = False, scale: float = 0.02) -> Path:
    """Three forces (seed 5, total scale 0.02 unless `scale`: the injected findings do not depend
    on the scale, the funnels' outliers do): F02 through its profile, F03 with 3 bad rows.
    `uri_first`: F01's extract named by a file:// URI (Spark reads it with its own file systems)."""
    write_forces(folder, 3, seed=5, scale=scale, as_of=AS_OF)
    manifest = folder / "forces.yaml"
    if uri_first:
        text = manifest.read_text(encoding="utf-8")
        manifest.write_text(text.replace("extract: F01", f"extract: {(folder / 'F01').as_uri()}", 1), encoding="utf-8")
    return manifest


def register(run_dir: Path) -> pl.DataFrame:
    """The national register, every force's partition, in a stable order, without the run id."""
    frame = pl.read_parquet(run_dir / "exceptions" / "**" / "*.parquet", hive_partitioning=True).drop("run_id")
    return frame.select(sorted(frame.columns)).sort(["force", "rule_id", "record_type", "record_id"])


def summary(run_dir: Path) -> dict[str, Any]:
    data = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    for key in ("run_id", "engine"):
        data.pop(key)
    return data


def quarantine(run_dir: Path) -> pl.DataFrame:
    frame = pl.read_parquet(run_dir / "quarantine.parquet")
    return frame.sort(frame.columns)
