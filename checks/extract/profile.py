"""Source profiles: how one force's export maps onto the canonical contract.

A profile renames files and columns, maps a force's code values onto canonical ones, says how
its dates and booleans are written, and can build `crime_links` from a delimited column.
It can never change what a canonical column means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.resources import PROFILES_DIR
from recordcheck.checks.base.schema import Strict, validate
from recordcheck.checks.base.yamlfile import line_of, load_yaml
from recordcheck.checks.extract.contract import TABLES

DEFAULT_PROFILE = PROFILES_DIR / "default.yaml"

SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_TRUE = ("true", "yes", "y", "1")
DEFAULT_FALSE = ("false", "no", "n", "0")


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
    not_links: tuple[str, ...] = ()
    """Force columns set aside as not links: never reported as an unmapped link column."""


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


Scalar = str | int | float | bool


def _text(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class DeriveModel(Strict):
    source: str = Field(alias="from")
    map: dict[str, Scalar]
    default: Scalar | None = None


class LinkModel(Strict):
    table: Literal["referrals", "incidents"]
    column: str
    separator: str = ";"
    source_type: Literal["referral", "incident"]


class TableModel(Strict):
    file: str | None = None
    format: Literal["csv", "parquet", "jsonl"] | None = None
    encoding: Literal["utf-8", "cp1252"] | None = None
    columns: dict[str, Scalar] = {}
    values: dict[str, dict[str, Scalar]] = {}
    derive: dict[str, DeriveModel] = {}
    build_from: list[LinkModel] = []
    not_links: list[str] = []
    """Force columns that hold crime-like ids and are not links (a previous crime, another force's)."""


class BooleansModel(Strict):
    true_values: list[Scalar] | None = None
    false_values: list[Scalar] | None = None


class ProfileModel(Strict):
    profile: int
    name: Scalar
    description: str | None = None
    encoding: Literal["utf-8", "cp1252"] = "utf-8"
    dayfirst: bool = False
    booleans: BooleansModel | None = None
    tables: dict[str, TableModel | None] = {}
    allow_files_outside_extract: bool = False


def _known_columns(path: Path, raw: Any, where: str, table: str, names: Any) -> None:
    """Every canonical column a profile names must be one of the contract's."""
    contract = TABLES[table]
    for canonical in names:
        if canonical not in contract.column_names:
            raise ConfigError(
                f"{path} line {line_of(raw, canonical)}: {where} names unknown canonical column "
                f"{canonical!r}; known columns: {', '.join(contract.column_names)}"
            )


def _each_force_column_once(path: Path, raw: Any, where: str, columns: dict[str, Scalar]) -> None:
    """A force column fills one canonical column: mapped to two, one of them would silently stay
    empty (the file's column is renamed once). Say which, and how to fill the other."""
    seen: dict[str, str] = {}
    for canonical, force in columns.items():
        first = seen.setdefault(str(force), canonical)
        if first != canonical:
            raise ConfigError(
                f"{path} line {line_of(raw, canonical)}: {where}.columns maps force column {str(force)!r} to both "
                f"{first} and {canonical}; a column fills one canonical column (use derive: to fill another "
                "from its values)"
            )


def _table_profile(name: str, spec: TableModel, raw: Any, path: Path) -> TableProfile:
    where = f"tables.{name}"
    raw = raw if isinstance(raw, dict) else {}
    if spec.build_from and name != "crime_links":
        raise ConfigError(f"{path} line {line_of(raw, 'build_from')}: {where}.build_from is for crime_links only")
    _known_columns(path, raw.get("columns"), f"{where}.columns maps", name, spec.columns)
    _each_force_column_once(path, raw.get("columns"), where, spec.columns)
    _known_columns(path, raw.get("values"), f"{where}.values", name, spec.values)
    _known_columns(path, raw.get("derive"), f"{where}.derive", name, spec.derive)
    return TableProfile(
        file=spec.file,
        format=spec.format,
        encoding=spec.encoding,
        columns={canonical: _text(source) for canonical, source in spec.columns.items()},
        values={c: {k: _text(v) for k, v in m.items()} for c, m in spec.values.items()},
        derive={
            canonical: Derivation(
                source_column=rule.source,
                mapping={k: _text(v) for k, v in rule.map.items()},
                default=None if rule.default is None else _text(rule.default),
            )
            for canonical, rule in spec.derive.items()
        },
        build_from=tuple(LinkSource(b.table, b.column, b.separator, b.source_type) for b in spec.build_from),
        not_links=tuple(spec.not_links),
    )


def load_profile(path: Path | None = None) -> SourceProfile:
    """Load and check a profile (typed schema, then the contract's names); default: canonical names."""
    path = path or DEFAULT_PROFILE
    raw = load_yaml(path)
    model = validate(ProfileModel, raw, path, "the profile")
    if model.profile != 1:
        raise ConfigError(
            f"{path} line {line_of(raw, 'profile')}: profile format {model.profile!r} is not "
            "supported; this version reads profile: 1"
        )
    tables_raw = raw.get("tables") or {}
    for name in model.tables:
        if name not in TABLES:
            raise ConfigError(
                f"{path} line {line_of(tables_raw, name)}: unknown table {name!r} under tables; "
                f"known tables: {', '.join(TABLES)}"
            )
    booleans = model.booleans or BooleansModel()
    return SourceProfile(
        allow_files_outside_extract=model.allow_files_outside_extract,
        name=_text(model.name),
        path=path,
        description=model.description or "",
        encoding=model.encoding,
        dayfirst=model.dayfirst,
        true_values=tuple(_text(v).lower() for v in (booleans.true_values or DEFAULT_TRUE)),
        false_values=tuple(_text(v).lower() for v in (booleans.false_values or DEFAULT_FALSE)),
        tables={
            name: _table_profile(name, spec or TableModel(), tables_raw.get(name), path)
            for name, spec in model.tables.items()
        },
    )
