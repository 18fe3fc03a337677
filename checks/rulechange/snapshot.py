"""The approved findings of the rule pack on the bundled sample, and the version rule that guards them.

`sample_data/expected/findings.csv` lists what the current pack finds on the sample (fingerprint,
rule, record type and id); `approved.json` beside it records the pack version that approved it
and the file's hash. A test compares the pack's findings with the snapshot, so a change to a
rule shows in review as a change to this file. `recordcheck rules approve` rewrites it, and
refuses unless the pack's version moved as the change requires:

- patch (or no change): no finding changed on the sample;
- minor: findings were added;
- major: findings were removed, or a rule retired.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.resources import RULES_DIR

# The snapshot belongs to the source checkout (the repository root holds rules/ and sample_data/);
# an installed copy has no sample_data/, and the commands that need it say so.
SNAPSHOT_DIR = RULES_DIR.parent / "sample_data" / "expected"
SAMPLE_EXTRACT = RULES_DIR.parent / "sample_data" / "extract"
SAMPLE_AS_OF = "2026-04-01T00:00:00Z"
COLUMNS = ["fingerprint", "rule_id", "record_type", "record_id"]
_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def findings_of(register: pl.DataFrame) -> pl.DataFrame:
    """A register's rule findings in the snapshot's shape and order."""
    return (
        register.filter(pl.col("rule_id") != "QUARANTINE")
        .select(COLUMNS)
        .unique()
        .sort("rule_id", "record_type", "record_id")
    )


def read_findings(directory: Path = SNAPSHOT_DIR) -> pl.DataFrame:
    path = directory / "findings.csv"
    if not path.is_file():
        return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    return pl.read_csv(path, infer_schema=False).select(COLUMNS)


@dataclass(frozen=True)
class Approval:
    pack_version: str
    findings: int
    sha256: str


def read_approval(directory: Path = SNAPSHOT_DIR) -> Approval | None:
    path = directory / "approved.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Approval(str(raw["pack_version"]), int(raw["findings"]), str(raw["sha256"]))


def file_hash(directory: Path = SNAPSHOT_DIR) -> str:
    return hashlib.sha256((directory / "findings.csv").read_bytes()).hexdigest()


def parse_version(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise ConfigError(f"pack version {version!r} is not semantic (MAJOR.MINOR.PATCH)")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def required_bump(approved: pl.DataFrame, current: pl.DataFrame, retired_rules: bool = False) -> str | None:
    """The smallest version step the change needs: 'major', 'minor', or None (patch or nothing)."""
    keys = ["rule_id", "record_type", "record_id"]
    if retired_rules or approved.join(current, on=keys, how="anti").height:
        return "major"
    if current.join(approved, on=keys, how="anti").height:
        return "minor"
    return None


def bump_is_enough(old: str, new: str, bump: str | None) -> bool:
    """Whether moving from version `old` to `new` is the step `bump` asks for (or larger)."""
    before, after = parse_version(old), parse_version(new)
    if bump == "major":
        return after[0] > before[0]
    if bump == "minor":
        return after[0] > before[0] or (after[0] == before[0] and after[1] > before[1])
    return after >= before


def approve(current: pl.DataFrame, version: str, retired_rules: bool, directory: Path = SNAPSHOT_DIR) -> str:
    """Write the snapshot if the pack's version allows it; return what was approved."""
    approval = read_approval(directory)
    approved = read_findings(directory)
    bump = required_bump(approved, current, retired_rules)
    if approval is not None and not bump_is_enough(approval.pack_version, version, bump):
        major, minor, _ = parse_version(approval.pack_version)
        wanted = f"{major + 1}.0.0" if bump == "major" else f"{major}.{minor + 1}.0"
        why = "findings were removed or a rule retired" if bump == "major" else "findings were added"
        raise ConfigError(
            f"{why} on the sample: set the pack's version to {wanted} or later in pack.yaml "
            f"(it is {version}; approved at {approval.pack_version}), record why in rules/CHANGELOG.md, "
            "then approve again"
        )
    directory.mkdir(parents=True, exist_ok=True)
    current.write_csv(directory / "findings.csv")
    record = {"pack_version": version, "findings": current.height, "sha256": file_hash(directory)}
    (directory / "approved.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if approval is None:
        return f"approved {current.height} findings at pack version {version} (first approval)"
    change = {"major": "findings removed", "minor": "findings added", None: "no finding changed"}[bump]
    return f"approved {current.height} findings at pack version {version} ({change})"
