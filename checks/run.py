"""One nightly run: validate the extract, run the rule pack, publish the run folder atomically."""

from __future__ import annotations

import hashlib
import platform
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

import checks
from checks.config import RunConfig
from checks.pipeline import LoadedExtract, load_extract
from checks.profile import SourceProfile
from checks.publish import staged_run, write_json
from checks.refdata import ReferenceData

Progress = Callable[[str], AbstractContextManager[Any]]


def _no_progress(_: str) -> AbstractContextManager[Any]:
    return nullcontext()


@dataclass
class RunOutcome:
    run_id: str
    run_dir: Path
    loaded: LoadedExtract
    timings: dict[str, float] = field(default_factory=dict)
    threshold_breaches: list[str] = field(default_factory=list)


def make_run_id(started: datetime, loaded: LoadedExtract) -> str:
    digest = hashlib.sha256("".join(f.sha256 for f in loaded.files).encode()).hexdigest()[:8]
    return f"{started.strftime('%Y%m%dT%H%M%SZ')}-{digest}"


def quarantine_frame(loaded: LoadedExtract) -> pl.DataFrame:
    return loaded.validation.quarantine


def write_quarantine(path: Path, loaded: LoadedExtract) -> None:
    quarantine_frame(loaded).write_csv(path)


def counts_as_data(loaded: LoadedExtract) -> dict[str, Any]:
    return {
        name: {
            "read": c.read,
            "accepted": c.accepted,
            "quarantined": c.quarantined,
            "quarantined_by_check": c.by_check,
        }
        for name, c in loaded.validation.counts.items()
    }


def manifest(
    run_id: str,
    extract_dir: Path,
    profile: SourceProfile,
    reference: ReferenceData,
    config: RunConfig,
    as_of: datetime,
    loaded: LoadedExtract,
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "tool": {"name": "recordcheck", "version": checks.__version__, "python": platform.python_version()},
        "as_of": as_of.isoformat(),
        "extract_dir": str(extract_dir),
        "inputs": [
            {"table": f.table, "file": f.path.name, "size_bytes": f.size_bytes, "sha256": f.sha256}
            for f in loaded.files
        ],
        "profile": {"name": profile.name, "path": str(profile.path)},
        "config": str(config.path) if config.path else None,
        "validation": {"engine": loaded.validation.runner, "tables": counts_as_data(loaded)},
        "reference_data": reference.provenance,
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        **(extra or {}),
    }


def execute_run(
    extract_dir: Path,
    out_dir: Path,
    profile: SourceProfile,
    reference: ReferenceData,
    config: RunConfig,
    as_of: datetime,
    progress: Progress = _no_progress,
    finish: Callable[[LoadedExtract, Path, dict[str, float]], dict[str, Any]] | None = None,
) -> RunOutcome:
    """Validate, then let `finish` write the rule results into the staging folder, then publish."""
    started_at = datetime.now(UTC)
    timings: dict[str, float] = {}
    with progress("Validating the extract"):
        loaded = load_extract(extract_dir, profile, reference, as_of)
    timings.update(loaded.timings)
    run_id = make_run_id(started_at, loaded)
    with staged_run(out_dir, run_id) as staging:
        started = time.perf_counter()
        write_quarantine(staging / "quarantine.csv", loaded)
        timings["write_quarantine"] = time.perf_counter() - started
        extra = finish(loaded, staging, timings) if finish else {}
        write_json(
            staging / "manifest.json",
            manifest(run_id, extract_dir, profile, reference, config, as_of, loaded, timings, extra),
        )
    return RunOutcome(run_id, out_dir / run_id, loaded, timings)
