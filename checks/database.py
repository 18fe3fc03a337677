"""One way to open DuckDB for recordcheck: UTC instants, bounded memory, a place to spill.

Validation and the rule pack both run here. A memory limit and a temporary directory make an
extract larger than memory spill to disk instead of failing; the thread count is settable so a
run gives the same answers on 1 thread or many (a test holds it to that).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

DEFAULT_MEMORY_SHARE = 0.5
"""Share of physical memory DuckDB may use by default: Polars holds the parsed tables beside it."""


@dataclass(frozen=True)
class EngineSettings:
    threads: int | None = None
    """None: one per core (DuckDB's default)."""
    memory_limit: str | None = None
    """DuckDB size text ('4GB'); None: half the machine's memory."""
    temp_directory: Path | None = None
    """Where DuckDB spills; None: a private folder under the system temp folder, removed after."""


def _default_memory_limit() -> str:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return "4GB"
    return f"{max(1, int(total * DEFAULT_MEMORY_SHARE) // (1 << 20))}MB"


@contextmanager
def connect(settings: EngineSettings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory connection configured for a run; closed (and its spill folder removed) after."""
    settings = settings or EngineSettings()
    own_spill = settings.temp_directory is None
    spill = Path(tempfile.mkdtemp(prefix="recordcheck-spill-")) if own_spill else settings.temp_directory
    assert spill is not None
    con = duckdb.connect(
        config={
            "memory_limit": settings.memory_limit or _default_memory_limit(),
            "temp_directory": str(spill),
            **({"threads": int(settings.threads)} if settings.threads else {}),
        }
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()
        if own_spill:
            shutil.rmtree(spill, ignore_errors=True)
