"""A force's run configuration: reference-data overrides, disabled rules, thresholds, reports.

Everything here is optional; with no config file the pack's defaults apply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.database import EngineSettings
from checks.errors import ConfigError
from checks.yamlfile import check_keys, line_of, load_yaml, require_mapping

CONFIG_KEYS = ("config", "reference", "rules", "report", "engine")
ENGINE_KEYS = ("threads", "memory_limit", "temp_directory")
_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
RULES_KEYS = ("disable", "thresholds")
THRESHOLD_KEYS = ("warn_rate", "error_rate", "warn_count", "error_count")
REPORT_KEYS = ("max_rows_in_page", "redact_below", "annual_recorded_crime")


@dataclass(frozen=True)
class Threshold:
    """Breach levels for one rule; the engine, never the rule, applies them."""

    warn_rate: float | None = None
    error_rate: float | None = None
    warn_count: int | None = None
    error_count: int | None = None


@dataclass
class RunConfig:
    path: Path | None = None
    reference: dict[str, Any] = field(default_factory=dict)
    disabled_rules: list[str] = field(default_factory=list)
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    engine: EngineSettings = field(default_factory=EngineSettings)


def _engine_settings(raw: Any, path: Path) -> EngineSettings:
    """`engine:` in the config: DuckDB threads, memory limit and spill folder, each checked."""
    spec = require_mapping(raw or {}, path, "engine")
    check_keys(spec, ENGINE_KEYS, path, "engine")
    threads = spec.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 256):
        raise ConfigError(f"{path} line {line_of(spec, 'threads')}: engine.threads must be a whole number 1..256")
    memory = spec.get("memory_limit")
    if memory is not None and not _MEMORY.match(str(memory)):
        raise ConfigError(
            f"{path} line {line_of(spec, 'memory_limit')}: engine.memory_limit must be a size such as 4GB or 512MB"
        )
    temp = spec.get("temp_directory")
    return EngineSettings(
        threads=threads,
        memory_limit=str(memory) if memory is not None else None,
        temp_directory=(path.parent / str(temp)) if temp is not None else None,
    )


def load_config(path: Path | None) -> RunConfig:
    if path is None:
        return RunConfig()
    raw = require_mapping(load_yaml(path), path, "the config")
    check_keys(raw, CONFIG_KEYS, path, "the config", required=("config",))
    if raw["config"] != 1:
        raise ConfigError(f"{path} line {line_of(raw, 'config')}: config format must be 1")
    rules = require_mapping(raw.get("rules") or {}, path, "rules")
    check_keys(rules, RULES_KEYS, path, "rules")
    thresholds: dict[str, Threshold] = {}
    raw_thresholds = require_mapping(rules.get("thresholds") or {}, path, "rules.thresholds")
    for rule_id, spec in raw_thresholds.items():
        spec_map = require_mapping(spec, path, f"rules.thresholds.{rule_id}")
        check_keys(spec_map, THRESHOLD_KEYS, path, f"rules.thresholds.{rule_id}")
        thresholds[str(rule_id)] = Threshold(**{k: spec_map[k] for k in spec_map})
    report = require_mapping(raw.get("report") or {}, path, "report")
    check_keys(report, REPORT_KEYS, path, "report")
    reference = require_mapping(raw.get("reference") or {}, path, "reference")
    return RunConfig(
        path=path,
        reference=dict(reference),
        disabled_rules=[str(r) for r in rules.get("disable") or []],
        thresholds=thresholds,
        report=dict(report),
        engine=_engine_settings(raw.get("engine"), path),
    )
