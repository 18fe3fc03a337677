"""The rule-change recipes in deploy/ci/ run as written (issue 27): each recipe's steps are run in
bash, in the order and with the failure rules of its CI system, against a throwaway force rules
repository with a pull-request branch. `gh`, `curl` and `pip` are stubs (the comment body is kept,
recordcheck is this one); everything else is the recipe's own text.

Two changes per recipe: a SQL change to REC001 that drops its findings and is not approved must fail
the job, with the comment saying what changed; a refactor of TIM001's SQL that changes nothing
passes, its comment saying so."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, pack_of_only

pytestmark = pytest.mark.slow

RECIPES = ROOT / "deploy" / "ci"
FORCE_RULES = ("REC001", "TIM001", "OUT001")
BIN = Path(sys.executable).parent


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body + "\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture(scope="module")
def force_repo(tmp_path_factory) -> Path:
    """A force's rules repository: its pack (FORCE_RULES), a sample extract with as_of.txt, and the
    snapshot approved on it, committed on main and pushed to a bare origin."""
    top = tmp_path_factory.mktemp("force-ci")
    origin, repo = top / "origin.git", top / "repo"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(origin)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    for key, value in (("user.email", "registrar@example.police.uk"), ("user.name", "Registrar")):
        _git(repo, "config", key, value)
    # a force's pack of three rules: the two the changes edit and one they leave alone (the
    # recipes' steps are what is tested; the whole pack's cases made each job four times longer)
    pack_of_only(repo / "rules", FORCE_RULES)
    extract = repo / "sample_extract"
    shutil.copytree(ROOT / "sample_data" / "extract", extract)
    (extract / "generation.json").unlink()
    (extract / "key.csv").unlink()
    (extract / "as_of.txt").write_text("2026-04-01T00:00:00Z\n", encoding="utf-8")
    subprocess.run(
        [BIN / "recordcheck", "rules", "approve", "--rules", "rules", "--snapshot", "expected"]
        + ["--extract", "sample_extract"],
        cwd=repo,
        check=True,
        capture_output=True,
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "the force's pack, sample and approved findings")
    _git(repo, "remote", "add", "origin", str(origin))
    _git(repo, "push", "-q", "origin", "main")
    return repo


def _branch(force_repo: Path, tmp_path: Path, name: str, rule: str, old: str, new: str) -> Path:
    """A clone of the force repository on a pull-request branch that edits one rule file."""
    clone = tmp_path / "work"
    subprocess.run(
        ["git", "clone", "-q", str(_git(force_repo, "remote", "get-url", "origin").strip()), str(clone)], check=True
    )
    for key, value in (("user.email", "analyst@example.police.uk"), ("user.name", "Analyst")):
        _git(clone, "config", key, value)
    _git(clone, "checkout", "-q", "-b", name)
    (path,) = (clone / "rules").glob(f"*/{rule}.yaml")
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    _git(clone, "commit", "-qam", f"{rule}: {name}")
    return clone


def _stubs(tmp_path: Path) -> tuple[Path, Path]:
    stubs, comment = tmp_path / "stubs", tmp_path / "comment.md"
    stubs.mkdir()
    # gh pr comment N --body-file FILE [--edit-last]: the body is what the reviewer reads
    _stub(stubs, "gh", f'while [ $# -gt 0 ]; do [ "$1" = --body-file ] && cp "$2" "{comment}"; shift; done')
    _stub(stubs, "curl", f'for a in "$@"; do case "$a" in body@*) cp "${{a#body@}}" "{comment}";; esac; done')
    _stub(stubs, "pip", 'echo "pip $*" >&2')
    return stubs, comment


def _env(stubs: Path, extra: dict[str, str]) -> dict[str, str]:
    path = f"{stubs}:{BIN}:{os.environ['PATH']}"
    return {"PATH": path, "HOME": str(stubs.parent), "LANG": "C.UTF-8", **extra}


def _run_github(recipe: dict[str, Any], clone: Path, stubs: Path) -> tuple[bool, list[str]]:
    """The job's steps as GitHub runs them: `bash -e`, a failed step skips the rest unless their
    `if:` holds always(); step outputs through $GITHUB_OUTPUT; ${{ }} expressions filled in."""
    job = recipe["jobs"]["rules"]
    outputs: dict[str, dict[str, str]] = {}
    failed, ran = False, []
    for step in job["steps"]:
        if "run" not in step:
            continue  # uses: checkout and setup-python (the clone and this interpreter stand in)
        condition = str(step.get("if", "success()"))
        wanted = [m.groups() for m in re.finditer(r"steps\.(\w+)\.outputs\.(\w+) != ''", condition)]
        if (failed and "always()" not in condition) or any(not outputs.get(s, {}).get(k) for s, k in wanted):
            continue

        def fill(match: re.Match[str]) -> str:
            expression = match.group(1).strip()
            if expression.startswith("steps."):
                _, step_id, _, key = expression.split(".")
                return outputs.get(step_id, {}).get(key, "")
            return {"github.token": "token", "github.event.pull_request.number": "7"}[expression]

        script = re.sub(r"\$\{\{(.*?)\}\}", fill, step["run"])
        env = {k: re.sub(r"\$\{\{(.*?)\}\}", fill, str(v)) for k, v in {**job.get("env", {}), **step.get("env", {})}.items()}
        output_file = clone.parent / "github_output"
        output_file.write_text("", encoding="utf-8")
        done = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=clone,
            env=_env(stubs, {**env, "GITHUB_BASE_REF": "main", "GITHUB_OUTPUT": str(output_file)}),
            capture_output=True,
            text=True,
            timeout=300,
        )
        ran.append(f"{step.get('name')}: {done.returncode}")
        if "id" in step:
            outputs[step["id"]] = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
        failed = failed or done.returncode != 0
    return not failed, ran


def _run_gitlab(recipe: dict[str, Any], clone: Path, stubs: Path) -> tuple[bool, list[str]]:
    """The job's script as GitLab's shell runs it: one shell, `set -eo pipefail`, the lines in order."""
    job = recipe["rule-change-review"]
    script = "set -eo pipefail\n" + "\n".join(job["script"])
    env = {
        **{k: str(v) for k, v in job["variables"].items()},
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "BOT_TOKEN": "token",
        "CI_API_V4_URL": "https://gitlab.example/api/v4",
        "CI_PROJECT_ID": "1",
        "CI_MERGE_REQUEST_IID": "7",
    }
    done = subprocess.run(
        ["bash", "-c", script], cwd=clone, env=_env(stubs, env), capture_output=True, text=True, timeout=600
    )
    return done.returncode == 0, [done.stderr[-2000:]]


RUNNERS = {"github-rules.yml": _run_github, "gitlab-rules.yml": _run_gitlab}


def _review(recipe_file: str, clone: Path, tmp_path: Path) -> tuple[bool, list[str], str]:
    """The recipe's job on the pull-request clone: (passed, its log, the comment body posted)."""
    stubs, comment = _stubs(tmp_path)
    recipe = yaml.safe_load((RECIPES / recipe_file).read_text(encoding="utf-8"))
    passed, log = RUNNERS[recipe_file](recipe, clone, stubs)
    return passed, log, comment.read_text(encoding="utf-8")


@pytest.mark.parametrize("recipe_file", sorted(RUNNERS))
def test_an_unapproved_change_to_the_findings_fails_the_job_and_the_comment_shows_it(force_repo, tmp_path, recipe_file):
    clone = _branch(
        force_repo,
        tmp_path,
        "narrower",
        "REC001",
        "WHERE linked_crimes = 0 AND (",
        "WHERE linked_crimes = 0 AND false AND (",
    )
    passed, log, body = _review(recipe_file, clone, tmp_path)
    assert not passed, log
    assert body.startswith("**Rule pack ") and "findings changed." in body.splitlines()[0]
    assert "| REC001 | changed |" in body
    assert re.search(r"- :x: the change needs a major version step", body), body


@pytest.mark.parametrize("recipe_file", sorted(RUNNERS))
def test_a_refactor_that_changes_nothing_passes(force_repo, tmp_path, recipe_file):
    clone = _branch(
        force_repo,
        tmp_path,
        "refactor",
        "TIM001",
        "WHERE hours_to_record > limit_hours",
        "WHERE NOT (hours_to_record <= limit_hours)",
    )
    passed, log, body = _review(recipe_file, clone, tmp_path)
    assert passed, log
    assert "no finding changed." in body.splitlines()[0] and "- Version step this change needs: patch" in body


def test_each_recipe_pins_the_wheel_make_wheel_builds_and_never_the_package_index():
    version = next(
        line.split('"')[1] for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.startswith("version")
    )
    for name in RUNNERS:
        text = (RECIPES / name).read_text(encoding="utf-8")
        assert f"RECORDCHECK_WHEEL: ci/recordcheck-{version}-py3-none-any.whl" in text
        assert "pip install recordcheck" not in text and 'pip install "$RECORDCHECK_WHEEL"' in text
        assert "git merge-base HEAD" in text and "--check-version" in text
    github = yaml.safe_load((RECIPES / "github-rules.yml").read_text(encoding="utf-8"))
    assert github["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert "--edit-last" in (RECIPES / "github-rules.yml").read_text(encoding="utf-8")


@pytest.mark.parametrize("recipe_file", sorted(RUNNERS))
def test_a_severity_change_approved_at_its_version_with_its_changelog_passes(force_repo, tmp_path, recipe_file):
    clone = _branch(force_repo, tmp_path, "late-is-high", "TIM001", "severity: medium", "severity: high")
    pack = clone / "rules" / "pack.yaml"
    major, minor = re.search(r'version: "(\d+)\.(\d+)\.', pack.read_text()).groups()
    new = f"{major}.{int(minor) + 1}.0"
    pack.write_text(re.sub(r'version: "[\d.]+"', f'version: "{new}"', pack.read_text(), count=1))
    changelog = clone / "rules" / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## ", f"## {new} (2026-12-05)\n\nTIM001 is high.\n\n## ", 1))
    subprocess.run(
        [
            BIN / "recordcheck",
            "rules",
            "approve",
            "--rules",
            "rules",
            "--snapshot",
            "expected",
            "--extract",
            "sample_extract",
        ],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    _git(clone, "commit", "-qam", f"pack {new}: TIM001 high, approved")
    passed, log, body = _review(recipe_file, clone, tmp_path)
    assert passed, log
    assert "findings changed." in body.splitlines()[0] and ":x:" not in body
    assert "| TIM001 | changed | 0 | 0 | 3 | severity of 3 changed |" in body
