"""The installed distribution works on its own: built as a wheel, installed into a fresh virtual
environment and run from another folder, it finds its rules, reference data, suites, profile and
templates inside itself, and claims no import name but `recordcheck`.

The fresh environment borrows the third-party dependencies (DuckDB, Polars, GX...) from the
development environment through a path file, so the test does not download them again; recordcheck
itself comes only from the wheel.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from recordcheck.checks.base.resources import RULES_ENV
from tests.conftest import AS_OF_TEXT, ROOT

pytestmark = pytest.mark.slow

SKIP_IN_COPY = shutil.ignore_patterns(
    ".git", ".venv", "out", "build", "*.egg-info", ".bench-cache", "__pycache__", ".*_cache", ".hypothesis"
)


def _tracked(folder: str) -> set[str]:
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", folder], capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    return {line for line in listed.stdout.splitlines() if line}


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv holding only the wheel of this tree; returns its bin/ folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=SKIP_IN_COPY)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            ".",
        ],
        cwd=source,
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "dist").glob("recordcheck-*.whl")
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "--quiet",
            "--no-deps",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    fresh_site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (fresh_site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (work / "elsewhere").mkdir()
    return venv / "bin"


def _run(installed: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed command with the wheel's own pack: not the frozen test pack the other tests set."""
    env = {k: v for k, v in os.environ.items() if k != RULES_ENV}
    return subprocess.run(
        [str(installed / "recordcheck"), *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env
    )


def test_wheel_holds_one_namespace_and_the_whole_pack(installed):
    (wheel,) = (installed.parent.parent / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top == {"recordcheck"}
    shipped = {name.removeprefix("recordcheck/") for name in names if name.startswith("recordcheck/rules/")}
    assert shipped == _tracked("rules"), "pyproject's package-data misses (or adds) files of rules/"
    shipped_templates = {
        name.removeprefix("recordcheck/") for name in names if name.startswith("recordcheck/reports/templates/")
    }
    assert shipped_templates == _tracked("reports/templates")


def test_installed_code_comes_from_the_wheel_and_claims_no_generic_names(installed):
    elsewhere = installed.parent.parent / "elsewhere"
    probe = (
        "import importlib.util, recordcheck.checks as c; print(c.__file__);"
        "print(sorted(n for n in ('checks', 'reports', 'cli', 'rules') if importlib.util.find_spec(n)))"
    )
    done = subprocess.run(
        [str(installed / "python"), "-c", probe], cwd=elsewhere, capture_output=True, text=True, check=True
    )
    where, generic = done.stdout.splitlines()
    assert Path(where).is_relative_to(installed.parent)
    assert generic == "[]"


def test_installed_rules_list_and_override(installed, tmp_path):
    elsewhere = installed.parent.parent / "elsewhere"
    listed = _run(installed, "rules", "list", cwd=elsewhere)
    assert listed.returncode == 0, listed.stderr
    packaged = {line.split()[0] for line in listed.stdout.splitlines() if line[:3].isupper()}
    assert "REC001" in packaged

    own = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", own, ignore=shutil.ignore_patterns("__pycache__"))
    (own / "recording" / "REC001.yaml").unlink()
    overridden = _run(installed, "rules", "list", "--rules", str(own), cwd=elsewhere)
    assert overridden.returncode == 0, overridden.stderr
    assert "REC001" not in overridden.stdout and "REC002" in overridden.stdout


def test_installed_full_run_on_the_sample_matches_the_snapshot(installed):
    elsewhere = installed.parent.parent / "elsewhere"
    done = _run(
        installed, "run", str(ROOT / "sample_data" / "extract"), "--out", "out", "--as-of", AS_OF_TEXT, cwd=elsewhere
    )
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "out" / "latest" / "report.html").is_file()
    with (elsewhere / "out" / "latest" / "exceptions.csv").open(newline="") as handle:
        raised = {row["fingerprint"] for row in csv.DictReader(handle)}
    with (ROOT / "sample_data" / "expected" / "findings.csv").open(newline="") as handle:
        approved = {row["fingerprint"] for row in csv.DictReader(handle)}
    assert raised == approved
