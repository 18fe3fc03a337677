"""What a profile makes of an export: for each canonical column, the force column that fills it,
how many rows have a value, and how many of those could be read.

A column nothing fills, or one that is empty in every row, cannot feed a rule: the rules that
need it (`needs:` in the rule file) are reported as not run rather than raising false findings.
The same figures are what `recordcheck profile check` prints, and the force's columns that the
profile leaves unused are listed beside them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from recordcheck.checks.base.database import Database
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.extract.profile import SourceProfile
from recordcheck.checks.extract.reader import ROW, TableSource, known_headers


@dataclass(frozen=True)
class ColumnCoverage:
    table: str
    column: str
    source: str | None
    """The force column that fills it (its own name when the file uses the canonical name), or
    None when no column of the file does."""
    derived: bool
    rows: int
    filled: int
    """Rows with a value in the export."""
    parsed: int
    """Of those, rows whose value could be read as the column's type."""

    @property
    def unusable(self) -> str | None:
        """Why no rule can rely on this column, or None when it has values."""
        if self.source is None:
            return "not in the export"
        if self.rows and self.filled == 0:
            return f"empty in every row of {self.source!r}"
        if self.rows and self.parsed == 0:
            return f"unreadable in every row of {self.source!r}"
        return None


@dataclass(frozen=True)
class TableCoverage:
    table: str
    file: str | None
    rows: int
    columns: list[ColumnCoverage]
    unused: list[str]
    """The force's columns the profile does not use (neither mapped, derived from nor linked)."""


def _sources(source: TableSource | None, profile: SourceProfile, table: str) -> dict[str, tuple[str | None, bool]]:
    """canonical column -> (force column, derived?) for the columns this file can fill."""
    spec = profile.table(table)
    found: dict[str, tuple[str | None, bool]] = {}
    headers = set(source.columns) if source else set()
    for column in TABLES[table].column_names:
        force = spec.columns.get(column, column)
        if force in headers:
            found[column] = (force, False)
        elif column in spec.derive and spec.derive[column].source_column in headers | set(spec.columns.values()):
            found[column] = (spec.derive[column].source_column, True)
        else:
            found[column] = (None, False)
    return found


def _unused(source: TableSource, profile: SourceProfile, table: str) -> list[str]:
    used = known_headers(table, profile)
    unused = [name for name in source.columns if name not in used]
    # a name shaped like data (a date, a long number, an address, long text) may be a record's
    # value in a file without its header row: it is counted, never quoted
    quoted = [name for name in unused if printable_header(name)]
    held = len(unused) - len(quoted)
    return quoted + ([f"({held} more that look like data, not quoted)"] if held else [])


_HEADER_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9 _\-/().#&]{0,39}$")
_DATA_SHAPE = re.compile(r"\d{4}|\d{1,2}[/.-]\d{1,2}[/.-]\d{2}|@")


def printable_header(name: str) -> bool:
    """A column name fit to quote: shaped like a header, not like a date, long number or address."""
    return bool(_HEADER_SHAPE.match(name)) and not _DATA_SHAPE.search(name)


def measure_coverage(
    database: Database,
    present: list[str],
    sources: dict[str, TableSource],
    profile: SourceProfile,
    problems: dict[str, pl.DataFrame],
    parsed_relation: dict[str, str],
) -> dict[str, TableCoverage]:
    """Coverage of each present table, counted on every row read (before validation)."""
    coverage: dict[str, TableCoverage] = {}
    for table in present:
        contract = TABLES[table]
        source = sources.get(table)
        columns = contract.column_names
        counts = ", ".join([f'count("{ROW}")', *(f'count("{c}")' for c in columns)])
        (row,) = database.con.execute(f"SELECT {counts} FROM {parsed_relation[table]}").fetchall()
        rows, non_null = int(row[0]), [int(v) for v in row[1:]]
        failed = (
            dict(
                problems[table]
                .filter(pl.col("check").str.starts_with("parse_"))
                .group_by("column")
                .agg(pl.col("row_number").n_unique())
                .iter_rows()
            )
            if table in problems
            else {}
        )
        origins = _sources(source, profile, table) if source else {c: (c, False) for c in columns}
        coverage[table] = TableCoverage(
            table=table,
            file=source.path.name if source else None,
            rows=rows,
            columns=[
                ColumnCoverage(
                    table,
                    column,
                    origins[column][0],
                    origins[column][1],
                    rows,
                    parsed + int(failed.get(column, 0)),
                    parsed,
                )
                for column, parsed in zip(columns, non_null, strict=True)
            ],
            unused=_unused(source, profile, table) if source else [],
        )
    return coverage


def unusable_columns(coverage: dict[str, TableCoverage]) -> dict[tuple[str, str], str]:
    """(table, column) -> why, for the optional columns no rule can rely on."""
    return {
        (c.table, c.column): reason
        for table in coverage.values()
        if table.rows
        for c in table.columns
        if not TABLES[c.table].column(c.column).required and (reason := c.unusable)
    }


def unmapped_code_advice(unmapped: pl.DataFrame) -> list[str]:
    """Lines for `validate`: each unknown code with its count, and the profile lines that would map it."""
    lines: list[str] = []
    for (table, column, source_column), group in unmapped.group_by(
        ["table", "column", "source_column"], maintain_order=True
    ):
        counted = ", ".join(f"{code!r} {rows:,} row(s)" for code, rows in group.select("code", "rows").iter_rows())
        where = f"force column {source_column!r}" if source_column != column else "no profile mapping"
        lines.append(f"  {table}.{column} ({where}): {counted}")
        allowed = TABLES[str(table)].column(str(column)).enum
        target = f"one of {', '.join(allowed)}" if allowed else "a code in the offence catalogue"
        lines.append("    to map them, add to the profile:")
        lines += ["      tables:", f"        {table}:", "          values:", f"            {column}:"]
        lines += [f"              {code!r}: ...   # {target}" for code in group["code"]]
    return lines


def defaulted_advice(defaulted: Mapping[tuple[str, str], dict[str, int]], profile: SourceProfile) -> list[str]:
    """Lines naming the source codes a derive map does not list, which took its default."""
    lines = []
    for (table, column), codes in sorted(defaulted.items()):
        derivation = profile.table(table).derive[column]
        counted = ", ".join(f"{code!r} {rows:,}" for code, rows in sorted(codes.items(), key=lambda kv: -kv[1]))
        lines.append(
            f"  {table}.{column}: codes in {derivation.source_column!r} that the derive map does not list took "
            f"the default {derivation.default!r}: {counted}"
        )
    return lines
