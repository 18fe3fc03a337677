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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from recordcheck.checks.base.errors import OutputUnavailable

LATEST = "latest"


STAGING = ".staging-"

PUBLISH_MODES = ("folder", "object")
"""folder: staged beside the run folders, renamed into place, `latest` a link (a file system).
object: staged elsewhere, each file written once, a commit marker, a `_latest` pointer (object
storage: checks/nightly/objectstore.py)."""


def check_output_folder(out_dir: Path) -> None:
    """Refuse an OUT_DIR that cannot take a run, before any work is done."""
    for parent in [out_dir, *out_dir.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise OutputUnavailable(f"{out_dir}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise OutputUnavailable(f"{out_dir}: {parent} is not writable")
            break
    latest = out_dir / LATEST
    if latest.exists() and not latest.is_symlink():
        raise OutputUnavailable(f"{latest} is a real {'folder' if latest.is_dir() else 'file'}, not a link: move it away")


def _owner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def outbox(out_dir: Path) -> Iterator[Path]:
    """A private folder under OUT for the run's DuckDB to write its outputs into (COPY ... TO),
    on OUT's own file system so each file moves into the run folder by rename. Named like a
    staging folder, so one left by a killed run is removed by the next."""
    folder = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-outbox-", dir=out_dir))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def remove_stale_staging(out_dir: Path) -> list[str]:
    """Remove staging folders left by killed runs (their process is gone); they hold personal data."""
    removed = []
    for path in out_dir.glob(f"{STAGING}*"):
        parts = path.name[len(STAGING) :].split("-")
        pid = int(parts[0]) if parts and parts[0].isdigit() else None
        if path.is_dir() and pid is not None and pid != os.getpid() and not _owner_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def point_latest(out_dir: Path, run_id: str) -> None:
    """Repoint OUT/latest at a run folder in one step (a new link renamed over the old)."""
    link_tmp = out_dir / f".{LATEST}.tmp"
    if link_tmp.is_symlink() or link_tmp.exists():
        link_tmp.unlink()
    link_tmp.symlink_to(run_id, target_is_directory=True)
    os.replace(link_tmp, out_dir / LATEST)


UNCOMMITTED = ".uncommitted"


@contextmanager
def staged_run(
    out_dir: Path,
    run_id: str,
    commit: Callable[[], None] | None = None,
    checkpoint: Callable[[str], None] | None = None,
    repoint: bool = True,
    group_read: bool = False,
) -> Iterator[Path]:
    """Yield a staging folder; on success publish it as OUT/run_id and point OUT/latest at it.

    The run folder is the owner's alone (0700, as mkdtemp makes it); `group_read` (the config's
    `output_mode: group`) gives its group read access (folders 0750, files 0640) for analysts.

    With `commit` (the run store's transaction), the folder is moved into place marked
    `.uncommitted`, then committed, then unmarked, then `latest` repointed: the order
    `checks/nightly/comparison.py` explains and recovers from. `repoint`: False leaves `latest`
    where it is (an older night re-run while a newer one is published)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING}{os.getpid()}-{run_id}-", dir=out_dir))
    step = checkpoint or (lambda _stage: None)
    final = out_dir / run_id
    moved = recorded = False
    try:
        yield staging
        for path in staging.rglob("*"):
            if path.is_file():
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
            if group_read:
                os.chmod(path, 0o750 if path.is_dir() else 0o640)  # noqa: S103 - as above
        if group_read:
            os.chmod(staging, 0o750)  # noqa: S103 - the config asks for the group to read
        if final.exists():
            raise OutputUnavailable(f"{final} already exists")
        step("staged")
        if commit is not None:
            (staging / UNCOMMITTED).write_text("recorded in the run store: not yet\n", encoding="utf-8")
        os.replace(staging, final)
        moved = True
        step("moved")
        if commit is not None:
            commit()
            recorded = True
            step("recorded")
            (final / UNCOMMITTED).unlink()
            step("unmarked")
        if repoint:
            point_latest(out_dir, run_id)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if recorded:
            # the store holds the run: finish publishing it (never leave the store a phantom)
            (final / UNCOMMITTED).unlink(missing_ok=True)
            if repoint:
                point_latest(out_dir, run_id)
            exc.published = run_id  # type: ignore[attr-defined]
        elif moved and (final / UNCOMMITTED).exists():
            shutil.rmtree(final, ignore_errors=True)  # the store never took it: it was never published
        raise


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
