"""Source profiles: how one force's export maps onto the canonical contract.

A profile renames files and columns, maps a force's code values onto canonical ones, says how
its dates and booleans are written, and can build `crime_links` from a delimited column.
It can never change what a canonical column means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checks.contract import TABLES
from checks.errors import ConfigError
from checks.yamlfile import check_keys, line_of, load_yaml, require_mapping

DEFAULT_PROFILE = Path(__file__).parent / "profiles" / "default.yaml"

ENCODINGS = ("utf-8", "cp1252")
FORMATS = ("csv", "parquet", "jsonl")
SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_TRUE = ("true", "yes", "y", "1")
DEFAULT_FALSE = ("false", "no", "n", "0")

PROFILE_KEYS = (
    "profile",
    "name",
    "description",
    "encoding",
    "dayfirst",
    "booleans",
    "tables",
    "allow_files_outside_extract",
)
TABLE_KEYS = ("file", "format", "encoding", "columns", "values", "derive")
LINKS_KEYS = (*TABLE_KEYS, "build_from")
DERIVE_KEYS = ("from", "map", "default")
BUILD_KEYS = ("table", "column", "separator", "source_type")
BOOLEAN_KEYS = ("true_values", "false_values")


@dataclass(frozen=True)
class Derivation:
    """Fill a canonical column by mapping another column's values (e.g. closing_code -> closure_class)."""

    source_column: str
    mapping: dict[str, str]
    default: str | None


@dataclass(frozen=True)
class LinkSource:
    """Build crime_links rows from a delimited column of crime ids on another table."""

    table: str
    column: str
    separator: str
    source_type: str


@dataclass(frozen=True)
class TableProfile:
    file: str | None = None
    format: str | None = None
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    """canonical column -> the force's column name"""
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    """canonical column -> {force value: canonical value}"""
    derive: dict[str, Derivation] = field(default_factory=dict)
    build_from: tuple[LinkSource, ...] = ()


@dataclass(frozen=True)
class SourceProfile:
    name: str
    path: Path
    description: str = ""
    encoding: str = "utf-8"
    dayfirst: bool = False
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE
    tables: dict[str, TableProfile] = field(default_factory=dict)
    allow_files_outside_extract: bool = False
    """A table's `file:` may name a file outside the extract folder only when this says so."""

    def table(self, name: str) -> TableProfile:
        return self.tables.get(name, TableProfile())

    def encoding_for(self, table: str) -> str:
        return self.table(table).encoding or self.encoding


def _str_map(value: Any, path: Path, where: str) -> dict[str, str]:
    mapping = require_mapping(value, path, where)
    out: dict[str, str] = {}
    for key, val in mapping.items():
        if val is None or isinstance(val, (dict, list)):
            raise ConfigError(f"{path} line {line_of(mapping, key)}: {where}.{key} must be a single value")
        out[_scalar(key)] = _scalar(val)
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _choice(value: Any, allowed: tuple[str, ...], path: Path, mapping: Any, key: str) -> str:
    if value not in allowed:
        raise ConfigError(
            f"{path} line {line_of(mapping, key)}: {key} must be one of {', '.join(allowed)}; got {value!r}"
        )
    return str(value)


def _table_profile(name: str, raw: Any, path: Path) -> TableProfile:
    where = f"tables.{name}"
    spec = require_mapping(raw, path, where)
    check_keys(spec, LINKS_KEYS if name == "crime_links" else TABLE_KEYS, path, where)
    contract = TABLES[name]
    columns = _str_map(spec.get("columns") or {}, path, f"{where}.columns")
    for canonical in columns:
        if canonical not in contract.column_names:
            raise ConfigError(
                f"{path} line {line_of(spec.get('columns'), canonical)}: {where}.columns maps "
                f"unknown canonical column {canonical!r}; known columns: "
                f"{', '.join(contract.column_names)}"
            )
    values_raw = require_mapping(spec.get("values") or {}, path, f"{where}.values")
    values: dict[str, dict[str, str]] = {}
    for canonical, mapping in values_raw.items():
        if canonical not in contract.column_names:
            raise ConfigError(
                f"{path} line {line_of(values_raw, canonical)}: {where}.values names unknown "
                f"canonical column {canonical!r}; known columns: {', '.join(contract.column_names)}"
            )
        values[canonical] = _str_map(mapping, path, f"{where}.values.{canonical}")
    derive: dict[str, Derivation] = {}
    derive_raw = require_mapping(spec.get("derive") or {}, path, f"{where}.derive")
    for canonical, rule in derive_raw.items():
        if canonical not in contract.column_names:
            raise ConfigError(
                f"{path} line {line_of(derive_raw, canonical)}: {where}.derive names unknown "
                f"canonical column {canonical!r}; known columns: {', '.join(contract.column_names)}"
            )
        rule_map = require_mapping(rule, path, f"{where}.derive.{canonical}")
        check_keys(rule_map, DERIVE_KEYS, path, f"{where}.derive.{canonical}", required=("from", "map"))
        default = rule_map.get("default")
        derive[canonical] = Derivation(
            source_column=str(rule_map["from"]),
            mapping=_str_map(rule_map["map"], path, f"{where}.derive.{canonical}.map"),
            default=None if default is None else _scalar(default),
        )
    build: list[LinkSource] = []
    for item in spec.get("build_from") or []:
        item_map = require_mapping(item, path, f"{where}.build_from[]")
        check_keys(
            item_map, BUILD_KEYS, path, f"{where}.build_from[]", required=("table", "column", "source_type")
        )
        source_table = _choice(item_map["table"], ("referrals", "incidents"), path, item_map, "table")
        source_type = _choice(
            item_map["source_type"], ("referral", "incident"), path, item_map, "source_type"
        )
        build.append(
            LinkSource(
                source_table, str(item_map["column"]), str(item_map.get("separator", ";")), source_type
            )
        )
    fmt = spec.get("format")
    enc = spec.get("encoding")
    return TableProfile(
        file=None if spec.get("file") is None else str(spec["file"]),
        format=None if fmt is None else _choice(fmt, FORMATS, path, spec, "format"),
        encoding=None if enc is None else _choice(enc, ENCODINGS, path, spec, "encoding"),
        columns=columns,
        values=values,
        derive=derive,
        build_from=tuple(build),
    )


def load_profile(path: Path | None = None) -> SourceProfile:
    """Load and check a profile; with no path, the default (canonical names) profile."""
    path = path or DEFAULT_PROFILE
    raw = require_mapping(load_yaml(path), path, "the profile")
    check_keys(raw, PROFILE_KEYS, path, "the profile", required=("profile", "name"))
    if raw["profile"] != 1:
        raise ConfigError(
            f"{path} line {line_of(raw, 'profile')}: profile format {raw['profile']!r} is not "
            "supported; this version reads profile: 1"
        )
    tables_raw = require_mapping(raw.get("tables") or {}, path, "tables")
    for name in tables_raw:
        if name not in TABLES:
            raise ConfigError(
                f"{path} line {line_of(tables_raw, name)}: unknown table {name!r} under tables; "
                f"known tables: {', '.join(TABLES)}"
            )
    booleans = require_mapping(raw.get("booleans") or {}, path, "booleans")
    check_keys(booleans, BOOLEAN_KEYS, path, "booleans")
    dayfirst = raw.get("dayfirst", False)
    if not isinstance(dayfirst, bool):
        raise ConfigError(f"{path} line {line_of(raw, 'dayfirst')}: dayfirst must be true or false")
    outside = raw.get("allow_files_outside_extract", False)
    if not isinstance(outside, bool):
        raise ConfigError(
            f"{path} line {line_of(raw, 'allow_files_outside_extract')}: allow_files_outside_extract must be true or false"
        )
    return SourceProfile(
        allow_files_outside_extract=outside,
        name=str(raw["name"]),
        path=path,
        description=str(raw.get("description") or ""),
        encoding=_choice(raw.get("encoding", "utf-8"), ENCODINGS, path, raw, "encoding"),
        dayfirst=dayfirst,
        true_values=tuple(_scalar(v).lower() for v in booleans.get("true_values", DEFAULT_TRUE)),
        false_values=tuple(_scalar(v).lower() for v in booleans.get("false_values", DEFAULT_FALSE)),
        tables={name: _table_profile(name, spec, path) for name, spec in tables_raw.items()},
    )
