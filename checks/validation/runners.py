"""The suite runners by name: callers choose one here and get a `SuiteRunner`.

The runners themselves are imported only when asked for (GX and pandas take seconds to import).
"""

from __future__ import annotations

from typing import Any

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.validation.seam import SuiteRunner

__all__ = ["DEFAULT_RUNNER", "RUNNERS", "SuiteRunner", "check_runner_name", "make_runner"]

RUNNERS = ("sql", "great-expectations")
DEFAULT_RUNNER = "sql"


def check_runner_name(name: str) -> None:
    """Refuse an unknown validator before any work, without building the runner (GX takes seconds)."""
    if name not in RUNNERS:
        raise ConfigError(f"unknown validator {name!r}; known: {', '.join(RUNNERS)}")


def make_runner(name: str = DEFAULT_RUNNER) -> SuiteRunner:
    """The named runner; GX (and pandas) are imported only when asked for."""
    check_runner_name(name)
    if name == "sql":
        from recordcheck.checks.validation.runner_sql import DuckDBSuiteRunner

        return DuckDBSuiteRunner()
    return _gx_runner()


_GX_RUNNER: Any = None


def _gx_runner() -> SuiteRunner:
    """One GX context per process: creating it costs seconds, reusing it costs nothing."""
    global _GX_RUNNER
    if _GX_RUNNER is None:
        from recordcheck.checks.validation.runner_gx import GxPandasRunner

        _GX_RUNNER = GxPandasRunner()
    return _GX_RUNNER  # type: ignore[no-any-return]
