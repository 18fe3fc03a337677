"""The forces of a national run: a YAML manifest, or a folder with one sub-folder per force.

Manifest form:

    forces:
      - code: SY                      # letters, digits, _ and - (the `force=` partition value)
        name: South Yorkshire
        extract: sy/                  # relative to the manifest, or a URI Spark can read
        profile: sy/profile.yaml      # optional: the force's source profile
        config: sy/config.yaml        # optional: the force's own config file, or a mapping

Folder form: FORCES/<code>/ holds the force's extract files, with `profile.yaml` beside them when
the force needs one; the force's name is its code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.yamlfile import check_keys, line_of, load_yaml, require_mapping

FORCE_KEYS = ("code", "name", "extract", "profile", "config")
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Force:
    code: str
    name: str
    extract: str
    """A local folder, or a URI (file:, hdfs:, s3a:, abfss:) that Spark's own configuration reaches."""
    profile: Path | None = None
    config_file: Path | None = None
    config: dict[str, Any] = field(default_factory=dict)
    """Inline config overrides (the single-force config's schema)."""

    @property
    def is_uri(self) -> bool:
        """A URI (scheme://...): read through Spark's file systems (the Spark engine only)."""
        return _is_uri(self.extract)

    @property
    def local_extract(self) -> Path:
        """The extract as a local folder; a URI other than file:// cannot be read without Spark."""
        if self.is_uri and not self.extract.startswith("file://"):
            raise ConfigError(
                f"force {self.code}: {self.extract} is read through Spark's file systems: run with --engine spark"
            )
        return Path(self.extract.removeprefix("file://"))


def _is_uri(text: str) -> bool:
    return bool(re.match(r"^[a-z][a-z0-9+.-]*://", text))


def _resolve(base: Path, text: str) -> str:
    if _is_uri(text):
        return text
    path = Path(text)
    return str(path if path.is_absolute() else (base / path))


def _manifest_force(item: Any, path: Path, index: int) -> Force:
    entry = require_mapping(item, path, f"force {index + 1}")
    check_keys(entry, FORCE_KEYS, path, f"force {index + 1}", required=("code", "extract"))
    code = str(entry["code"])
    if not _CODE.fullmatch(code):
        raise ConfigError(
            f"{path} line {line_of(entry, 'code')}: force code {code!r} must be 1 to 32 letters, digits, _ or -"
        )
    config = entry.get("config")
    config_file = None
    inline: dict[str, Any] = {}
    if isinstance(config, str):
        config_file = Path(_resolve(path.parent, config))
    elif isinstance(config, dict):
        inline = dict(config)
    elif config is not None:
        raise ConfigError(f"{path} line {line_of(entry, 'config')}: config must be a file name or a mapping")
    profile = entry.get("profile")
    return Force(
        code=code,
        name=str(entry.get("name") or code),
        extract=_resolve(path.parent, str(entry["extract"])),
        profile=Path(_resolve(path.parent, str(profile))) if profile else None,
        config_file=config_file,
        config=inline,
    )


def load_forces(source: Path) -> list[Force]:
    """The forces named by a manifest file or found in a folder, in a stable order."""
    if source.is_dir():
        forces = [
            Force(
                code=sub.name,
                name=sub.name,
                extract=str(sub),
                profile=sub / "profile.yaml" if (sub / "profile.yaml").is_file() else None,
            )
            for sub in sorted(source.iterdir())
            if sub.is_dir() and not sub.name.startswith(".")
        ]
        bad = [f.code for f in forces if not _CODE.fullmatch(f.code)]
        if bad:
            raise ConfigError(f"{source}: sub-folder name(s) {', '.join(bad)} are not force codes (letters, digits, _ or -)")
        if not forces:
            raise ConfigError(f"{source}: no force sub-folders (expected one folder per force, named by its code)")
        return forces
    if not source.is_file():
        raise ConfigError(f"{source}: no such manifest file or forces folder")
    raw = require_mapping(load_yaml(source), source, "the forces manifest")
    check_keys(raw, ("forces",), source, "the forces manifest", required=("forces",))
    items = raw["forces"]
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{source} line {line_of(raw, 'forces')}: forces must be a non-empty list")
    forces = [_manifest_force(item, source, i) for i, item in enumerate(items)]
    seen: set[str] = set()
    for force in forces:
        if force.code.upper() in seen:
            raise ConfigError(f"{source}: force code {force.code} appears twice")
        seen.add(force.code.upper())
    return forces
