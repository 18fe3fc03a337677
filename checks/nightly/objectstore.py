"""Publishing a run folder to object storage (S3, ADLS, GCS, or a volume mounted from one), where
there is no rename of a folder in one step and no symbolic link.

A run is staged elsewhere (a local or shared folder), then each file is written to OUT/<run id>/
once, whole, as its own object. The last object of the run is its commit marker, `_COMMITTED`,
which lists every file with its size and SHA-256: a run folder without it is not published, and
readers never look inside it. Then `_latest`, a one-line pointer object, is replaced whole (an
object store replaces an object in one step) with the new run id. A crash at any point leaves
`_latest` naming the last committed run; a half-written run folder is never read.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recordcheck.checks.base.errors import OutputUnavailable
from recordcheck.checks.nightly.publish import STAGING, remove_stale_staging
from recordcheck.checks.validation.pipeline import sha256_of

COMMITTED = "_COMMITTED"
LATEST_POINTER = "_latest"


def publish_objects(staging: Path, out_dir: Path, run_id: str) -> Path:
    """Write the staged run's files as OUT/run_id/..., then its marker, then the pointer."""
    target = out_dir / run_id
    if (target / COMMITTED).exists():
        raise OutputUnavailable(f"{target} is already published")
    listing = {}
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        relative = path.relative_to(staging).as_posix()
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)  # one object, written whole
        listing[relative] = {"bytes": path.stat().st_size, "sha256": sha256_of(path)}
    marker = {"run_id": run_id, "files": listing}
    (target / COMMITTED).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (out_dir / LATEST_POINTER).write_text(run_id + "\n", encoding="utf-8")
    return target


def latest_committed(out_dir: Path) -> Path | None:
    """The run folder `_latest` names, if its commit marker is there and lists exactly the files
    the folder holds at their sizes; None when nothing has been published."""
    pointer = out_dir / LATEST_POINTER
    if not pointer.is_file():
        return None
    run_id = pointer.read_text(encoding="utf-8").strip()
    folder = out_dir / run_id
    if not run_id or "/" in run_id or run_id.startswith(".") or not (folder / COMMITTED).is_file():
        raise OutputUnavailable(f"{pointer} names {run_id!r}, which has no commit marker")
    listing = json.loads((folder / COMMITTED).read_text(encoding="utf-8"))["files"]
    held = {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
    held.pop(COMMITTED)
    if held != {name: entry["bytes"] for name, entry in listing.items()}:
        raise OutputUnavailable(f"{folder} does not hold what its commit marker lists")
    return folder


def staging_root_for(staging_root: Path | None) -> Path:
    """Where an object-store run is staged, and its one writer held: the folder given, or
    `recordcheck-national` in the system's temporary folder."""
    return staging_root or Path(tempfile.gettempdir()) / "recordcheck-national"


@contextmanager
def object_staged_run(out_dir: Path, run_id: str, staging_root: Path) -> Iterator[Path]:
    """Yield a private staging folder under `staging_root`; on success publish it to OUT as
    objects. Staging is removed either way, and one a killed run left there is removed first, as
    beside a folder's run folders: it holds personal data."""
    staging_root.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(staging_root)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-{run_id}-", dir=staging_root))
    try:
        yield staging
        out_dir.mkdir(parents=True, exist_ok=True)
        publish_objects(staging, out_dir, run_id)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
