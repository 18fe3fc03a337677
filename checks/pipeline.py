"""The front half of every run: read the extract, parse it, validate it, quarantine bad rows."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from checks.parse import parse_table
from checks.profile import SourceProfile
from checks.reader import read_extract
from checks.refdata import ReferenceData
from checks.validate import SuiteRunner, ValidationResult, make_runner, validate

LONDON = ZoneInfo("Europe/London")


@dataclass(frozen=True)
class InputFile:
    table: str
    path: Path
    size_bytes: int
    sha256: str


@dataclass
class LoadedExtract:
    validation: ValidationResult
    files: list[InputFile]
    timings: dict[str, float] = field(default_factory=dict)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_extract(
    extract_dir: Path,
    profile: SourceProfile,
    reference: ReferenceData,
    as_of: datetime,
    runner: SuiteRunner | None = None,
) -> LoadedExtract:
    """Read, parse and validate; raises InputRejected before anything is written."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    raw = read_extract(extract_dir, profile)
    timings["read"] = time.perf_counter() - started

    files = sorted({(t.name, t.path) for t in raw.values() if t.path is not None}, key=lambda item: item[0])
    file_names = {t.name: t.path.name for t in raw.values() if t.path is not None}
    started = time.perf_counter()
    typed, problems = {}, {}
    for name in list(raw):
        # the text frame is let go as soon as its table is typed: it is the largest thing held
        typed[name], problems[name] = parse_table(raw.pop(name), profile)
    timings["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    inputs = [InputFile(name, path, path.stat().st_size, sha256_of(path)) for name, path in files]
    timings["hash"] = time.perf_counter() - started

    started = time.perf_counter()
    parameters = {
        "as_of": as_of,
        # the London calendar date of the as-of instant, as a UTC midnight (dates are compared so)
        "as_of_date": datetime.combine(as_of.astimezone(LONDON).date(), datetime.min.time(), UTC),
        "offence_codes": reference.offence_codes,
    }
    result = validate(typed, problems, file_names, parameters, runner or make_runner())
    timings["validate"] = time.perf_counter() - started
    return LoadedExtract(result, inputs, timings)
