"""Shared fixtures: the pack, reference data and small generated extracts (made once a session)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from recordcheck.checks.generate import generate, write_extract
from recordcheck.checks.generate.force_shape import write_force_export
from recordcheck.checks.refdata import load_reference
from recordcheck.checks.rules import load_pack

ROOT = Path(__file__).resolve().parent.parent
AS_OF = datetime(2026, 4, 1, tzinfo=UTC)
AS_OF_TEXT = "2026-04-01T00:00:00Z"


@pytest.fixture(scope="session")
def pack():
    return load_pack()


@pytest.fixture(scope="session")
def reference():
    return load_reference()


@pytest.fixture(scope="session")
def small_generated():
    """The generated data (scale 0.02, seed 11) behind small_extract and force_export."""
    return generate(seed=11, scale=0.02, as_of=AS_OF)


@pytest.fixture(scope="session")
def small_extract(tmp_path_factory, small_generated) -> Path:
    """A generated extract (scale 0.02, seed 11) in CSV, with key.csv beside the tables."""
    out = tmp_path_factory.mktemp("extract")
    write_extract(small_generated, out)
    return out


@pytest.fixture(scope="session")
def force_export(tmp_path_factory, small_generated) -> Path:
    """The same data as a force's systems export it, with its profile.yaml (generate --shape force)."""
    out = tmp_path_factory.mktemp("force")
    write_force_export(small_generated, out)
    return out
