"""One way to open DuckDB for recordcheck: UTC instants, bounded memory, a place to spill.

The parsed tables, validation and the rule pack all live here. A memory limit and a temporary directory make an
extract larger than memory spill to disk instead of failing; the thread count is settable so a
run gives the same answers on 1 thread or many (a test holds it to that).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

DUCKDB_TYPES = {"string": "VARCHAR", "int": "BIGINT", "bool": "BOOLEAN", "date": "DATE", "timestamp": "TIMESTAMPTZ"}
"""The DuckDB type of each contract column type."""

DEFAULT_MEMORY_LIMIT_MB = 2048
"""DuckDB's default memory limit (or half the machine, if less): a nightly batch on a shared
server should have a predictable footprint. Past it, tables and intermediate results spill to
the temporary directory. Raise it in the config for speed on very large extracts."""


@dataclass(frozen=True)
class EngineSettings:
    threads: int | None = None
    """None: one per core (DuckDB's default)."""
    memory_limit: str | None = None
    """DuckDB size text ('4GB'); None: DEFAULT_MEMORY_LIMIT_MB."""
    temp_directory: Path | None = None
    """Where DuckDB spills; None: a private folder under the system temp folder, removed after."""
    query_seconds: float = 600.0
    """The longest one rule may run: a runaway query is interrupted and the rule reported not run."""


def _default_memory_limit() -> str:
    try:
        half = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2 // (1 << 20)
    except (ValueError, OSError, AttributeError):
        half = DEFAULT_MEMORY_LIMIT_MB
    return f"{max(64, min(DEFAULT_MEMORY_LIMIT_MB, half))}MB"


class Database:
    """An in-memory DuckDB connection configured for a run, and the spill folder it owns.

    One run's tables live here from parsing to the last rule, under the memory limit. Close it
    (or use it as a context manager); if it is dropped unclosed, its spill folder still goes."""

    def __init__(self, settings: EngineSettings | None = None, outbox: Path | None = None) -> None:
        settings = settings or EngineSettings()
        self.settings = settings
        own_spill = settings.temp_directory is None
        spill = Path(tempfile.mkdtemp(prefix="recordcheck-spill-")) if own_spill else settings.temp_directory
        assert spill is not None
        # The extract is read by the reader, never by DuckDB: no SQL run here (a rule pack's
        # included) may read or write a file outside the run's outbox, or change a setting once
        # the connection is made.
        self.con = duckdb.connect(
            config={
                "memory_limit": settings.memory_limit or _default_memory_limit(),
                "temp_directory": str(spill),
                **({"threads": int(settings.threads)} if settings.threads else {}),
            }
        )
        if outbox is not None:
            # the one folder DuckDB may write (and read): the run's own outbox under OUT, where a run
            # output is written by COPY straight from its tables, then moved into the run folder
            self.con.execute("SET allowed_directories = $dirs", {"dirs": [f"{outbox.resolve()}/"]})
        self.outbox = outbox
        self.con.execute("SET enable_external_access = false")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute("SET lock_configuration = true")
        self._finalizer = weakref.finalize(self, close_database, self.con, spill if own_spill else None)

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def close_database(con: duckdb.DuckDBPyConnection, spill: Path | None) -> None:
    """Close a connection and remove its private spill folder (which may hold personal data),
    even when closing fails."""
    try:
        con.close()
    finally:
        if spill is not None:
            shutil.rmtree(spill, ignore_errors=True)


def insert_rows(con: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Add rows to a table in one statement, each column as a list (executemany runs one INSERT a
    row: 30 rows of reference data took 8 ms, this 0.6 ms, and every engine loads them)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    select = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
    con.execute(f"INSERT INTO {table} SELECT {select}", [list(column) for column in columns])


@contextmanager
def connect(settings: EngineSettings | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A configured connection for one piece of work; closed (and its spill folder removed) after."""
    with Database(settings) as database:
        yield database.con


@contextmanager
def time_limit(con: Any, seconds: float | None) -> Iterator[None]:
    """A watchdog over the queries run inside: past `seconds`, DuckDB is interrupted (the query
    raises duckdb.InterruptException). A runaway cross join then ends the query, not the night."""
    interrupt = getattr(con, "interrupt", None)  # an engine on another backend keeps its own limits
    if not seconds or interrupt is None:
        yield
        return
    timer = threading.Timer(seconds, interrupt)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
