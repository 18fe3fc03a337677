"""The protective marking on every artefact a run produces, not only its HTML report.

The marking comes from the force's config (`report.marking`, default OFFICIAL-SENSITIVE) and is
recorded in each run's manifest, so that what is later made from a run (a worklist, an audit
sample) carries the run's own marking. An XLSX carries it in its page header and footer and in
its document properties; a CSV, which has no place for it that every reader skips, gets a
companion note beside it (the run folder's README.txt, or `<file>.README.txt`).
"""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_MARKING = "OFFICIAL-SENSITIVE"
RUN_README = "README.txt"


def run_marking(run_dir: Path) -> str:
    """The marking a run was made under (its manifest's), or the default."""
    manifest = run_dir / "manifest.json"
    if manifest.is_file():
        marking = json.loads(manifest.read_text(encoding="utf-8")).get("marking")
        if marking:
            return str(marking)
    return DEFAULT_MARKING


def note_text(marking: str, what: str, files: list[str]) -> str:
    lines = [
        marking,
        "",
        f"{what}. Every file listed here carries the protective marking {marking}: handle, store and",
        "send them as the force's handling rules for that marking say. They hold ids and codes about",
        "victims, many of them children.",
        "",
        *(f"  {name}" for name in files),
        "",
        marking,
    ]
    return "\n".join(lines) + "\n"


def write_note(path: Path, marking: str, what: str, files: list[str]) -> None:
    """A companion note (atomically): the marking, what the files are, and the files it covers."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(note_text(marking, what, files), encoding="utf-8")
    tmp.replace(path)


def companion(file: Path) -> Path:
    """Where a CSV's companion note goes: <file stem>.README.txt beside it."""
    return file.with_name(f"{file.stem}.README.txt")
