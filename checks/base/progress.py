"""How a run reports its stages while it works: a live display on a terminal, one JSON object per
stage for a scheduler's log collector, or nothing at all.

Every reporter sees stage names, seconds and counts (rows per table, findings), never the
contents of a record.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from recordcheck.checks.base.logs import event


class Reporter(Protocol):
    def stage(self, label: str) -> Any:
        """A context manager around one stage."""
        ...

    def rows(self, table: str, count: int) -> None:
        """Rows of a table read so far (called per batch)."""
        ...

    def counts(self, **counts: Any) -> None:
        """Figures of the current stage, reported when it ends."""
        ...


class Quiet:
    """For --quiet, and when stderr is not a terminal: scheduler logs stay clean."""

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        yield

    def rows(self, table: str, count: int) -> None:
        pass

    def counts(self, **counts: Any) -> None:
        pass


class JsonLines:
    """--log-format json: one `stage` event per stage on stderr: stage, outcome, seconds, counts."""

    def __init__(self) -> None:
        self._counts: dict[str, Any] = {}
        self._rows: dict[str, int] = {}

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        self._counts, self._rows = {}, {}
        started = time.perf_counter()
        outcome = "done"
        try:
            yield
        except BaseException:
            outcome = "failed"
            raise
        finally:
            record: dict[str, Any] = {
                "stage": label,
                "outcome": outcome,
                "seconds": round(time.perf_counter() - started, 3),
            }
            if self._rows:
                record["rows_read"] = dict(self._rows)
            record.update(self._counts)
            event("stage", logging.INFO if outcome == "done" else logging.ERROR, **record)

    def rows(self, table: str, count: int) -> None:
        self._rows[table] = count

    def counts(self, **counts: Any) -> None:
        self._counts.update(counts)


class Live:
    """A terminal: the stage with a spinner, and rows per table as they are read (rich)."""

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True, highlight=False)
        self._status: Any = None
        self._label = ""
        self._rows: dict[str, int] = {}

    @contextmanager
    def stage(self, label: str) -> Iterator[None]:
        self._label, self._rows = label, {}
        started = time.perf_counter()
        with self._console.status(label) as status:
            self._status = status
            yield
        self._status = None
        rows = sum(self._rows.values())
        suffix = f", {rows:,} rows" if rows else ""
        self._console.print(f"{label}: done in {time.perf_counter() - started:.1f} s{suffix}")

    def rows(self, table: str, count: int) -> None:
        self._rows[table] = count
        if self._status is not None:
            read = ", ".join(f"{name} {n:,}" for name, n in self._rows.items())
            self._status.update(f"{self._label}: {read} rows read")

    def counts(self, **counts: Any) -> None:
        pass


def reporter(log_format: str = "text", quiet: bool = False) -> Reporter:
    if log_format == "json":
        return JsonLines()
    if quiet or not sys.stderr.isatty():
        return Quiet()
    return Live()
