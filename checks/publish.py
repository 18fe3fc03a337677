"""Crash-safe publishing of a run folder.

Outputs are written into a hidden staging folder beside the run folders, then renamed into place
in one step, and `latest` is repointed only after that. A run that crashes or is killed part-way
leaves the previous run folders and `latest` exactly as they were.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

LATEST = "latest"


@contextmanager
def staged_run(out_dir: Path, run_id: str) -> Iterator[Path]:
    """Yield a staging folder; on success publish it as OUT/run_id and point OUT/latest at it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{run_id}-", dir=out_dir))
    try:
        yield staging
        for path in staging.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
        final = out_dir / run_id
        if final.exists():
            raise FileExistsError(f"{final} already exists")
        os.replace(staging, final)
        link_tmp = out_dir / f".{LATEST}.tmp"
        if link_tmp.is_symlink() or link_tmp.exists():
            link_tmp.unlink()
        link_tmp.symlink_to(run_id, target_is_directory=True)
        os.replace(link_tmp, out_dir / LATEST)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
