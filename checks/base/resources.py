"""Where the data shipped with recordcheck lives: the rule pack, its reference data and suites,
the default profile and the report templates.

Everything is found through `importlib.resources`, so the same code works from a source checkout
(an editable install maps `recordcheck` onto the repository) and from an installed wheel. Never
build these paths from `__file__`: a wheel puts the files somewhere else.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged_folder(package: str, *parts: str) -> Path:
    """A folder shipped inside `package`, as a real path (DuckDB, git and Jinja2 need one)."""
    root = files(package)
    if not isinstance(root, Path):  # a zipped install: nothing here can read from it
        raise RuntimeError(f"recordcheck must be installed unzipped: {package} is inside {root!r}")
    return root.joinpath(*parts)


RULES_DIR = packaged_folder("recordcheck.rules")
RULES_ENV = "RECORDCHECK_RULES"
"""The environment variable that names a force's own pack folder, the default of every `--rules`."""
REFERENCE_DIR = RULES_DIR / "reference"
SUITES_DIR = RULES_DIR / "expectations"
PROFILES_DIR = packaged_folder("recordcheck.checks", "profiles")
TEMPLATES_DIR = packaged_folder("recordcheck.reports", "templates")
