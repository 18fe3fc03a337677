"""The approved findings of the rule pack on the bundled sample, and the version rule that guards them.

`sample_data/expected/findings.csv` lists what the current pack finds on the sample (fingerprint,
rule, record type and id); `approved.json` beside it records the pack version that approved it
and the file's hash. A test compares the pack's findings with the snapshot, so a change to a
rule shows in review as a change to this file. `recordcheck rules approve` rewrites it, and
refuses unless the pack's version moved as the change requires:

- patch (or no change): no finding added or removed on the sample (a changed detail sentence or
  evidence is a patch, and still needs approval);
- minor: findings were added, or a finding's severity changed;
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
KEYS = ["rule_id", "record_type", "record_id"]
"""A finding's identity: the same record flagged by the same rule."""
JUDGED = ["severity", "evidence", "detail"]
"""What a kept finding says of its record: a change to any of them needs approval (a new detail
sentence or evidence reopens an auditor's decision; a severity moves thresholds)."""
COLUMNS = ["fingerprint", *KEYS, *JUDGED]
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
    """The approved findings; a snapshot from before severity, evidence and detail were kept
    reads with them empty, and they are not compared until it is approved again."""
    path = directory / "findings.csv"
    if not path.is_file():
        return pl.DataFrame(schema=dict.fromkeys(COLUMNS, pl.String))
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.with_columns(pl.lit(None, pl.String).alias(c) for c in COLUMNS if c not in frame.columns)
    return frame.select(COLUMNS)


@dataclass(frozen=True)
class Approval:
    pack_version: str
    findings: int
    sha256: str
    as_of: str | None = None
    """The instant the findings were taken at (a diff at "now" moves every day)."""
    recordcheck_version: str | None = None
    """The recordcheck that approved them: CI installs this one."""


def read_approval(directory: Path = SNAPSHOT_DIR) -> Approval | None:
    path = directory / "approved.json"
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return Approval(
        str(raw["pack_version"]),
        int(raw["findings"]),
        str(raw["sha256"]),
        raw.get("as_of"),
        raw.get("recordcheck_version"),
    )


def changelog_versions(path: Path) -> list[str] | None:
    """The versions a changelog has an entry for ('## 3.0.2 (date)'), or None when there is none."""
    if not path.is_file():
        return None
    return re.findall(r"^##\s+v?(\d+\.\d+\.\d+)\b", path.read_text(encoding="utf-8"), flags=re.MULTILINE)


def file_hash(directory: Path = SNAPSHOT_DIR) -> str:
    return hashlib.sha256((directory / "findings.csv").read_bytes()).hexdigest()


def parse_version(version: str) -> tuple[int, int, int]:
    match = _SEMVER.match(version)
    if not match:
        raise ConfigError(f"pack version {version!r} is not semantic (MAJOR.MINOR.PATCH)")
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def reworded(approved: pl.DataFrame, current: pl.DataFrame) -> dict[str, int]:
    """Kept findings whose severity, evidence or detail changed: column -> how many."""
    both = current.join(approved, on=KEYS, how="inner", suffix="_approved")
    kept = [c for c in JUDGED if approved[c].null_count() < approved.height]  # an older snapshot kept none
    return {
        column: n for column in kept if (n := both.filter(pl.col(column).ne_missing(pl.col(f"{column}_approved"))).height)
    }


def required_bump(approved: pl.DataFrame, current: pl.DataFrame, retired_rules: bool = False) -> str | None:
    """The smallest version step the change needs: 'major' (findings removed, a rule retired),
    'minor' (findings added, or a severity changed: thresholds and fail_on count severities), or
    None (patch or nothing; a detail or evidence change is a patch, still to be approved)."""
    if retired_rules or approved.join(current, on=KEYS, how="anti").height:
        return "major"
    if current.join(approved, on=KEYS, how="anti").height or "severity" in reworded(approved, current):
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


def least_version(old: str, bump: str | None) -> str:
    """The smallest version after `old` that takes the step `bump` (major, minor, or a patch)."""
    major, minor, patch = parse_version(old)
    if bump == "major":
        return f"{major + 1}.0.0"
    return f"{major}.{minor + 1}.0" if bump == "minor" else f"{major}.{minor}.{patch + 1}"


def approve(
    current: pl.DataFrame, version: str, retired_rules: bool, directory: Path = SNAPSHOT_DIR, as_of: str | None = None
) -> str:
    """Write the snapshot if the pack's version allows it; return what was approved."""
    approval = read_approval(directory)
    approved = read_findings(directory)
    bump = required_bump(approved, current, retired_rules)
    if approval is not None and not bump_is_enough(approval.pack_version, version, bump):
        wanted = least_version(approval.pack_version, bump)
        why = "findings were removed or a rule retired" if bump == "major" else "findings were added or a severity changed"
        raise ConfigError(
            f"{why} on the sample: set the pack's version to {wanted} or later in pack.yaml "
            f"(it is {version}; approved at {approval.pack_version}), record why in rules/CHANGELOG.md, "
            "then approve again"
        )
    directory.mkdir(parents=True, exist_ok=True)
    current.write_csv(directory / "findings.csv")
    from recordcheck.checks import __version__

    record = {
        "pack_version": version,
        "findings": current.height,
        "sha256": file_hash(directory),
        "as_of": as_of or (approval.as_of if approval else None) or SAMPLE_AS_OF,
        "recordcheck_version": __version__,
    }
    (directory / "approved.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if approval is None:
        return f"approved {current.height} findings at pack version {version} (first approval)"
    change = {"major": "findings removed", "minor": "findings added or their severity changed"}.get(
        bump or "", "no finding added or removed"
    )
    if bump is None and (changed := reworded(approved, current)):
        change += "; " + ", ".join(f"{column} of {n} changed" for column, n in changed.items())
    return f"approved {current.height} findings at pack version {version} ({change})"
