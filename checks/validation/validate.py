"""Validate parsed tables against their expectation suites and quarantine the rows that fail.

The suites are data (`rules/expectations/`); how they are executed is behind `SuiteRunner`, so
the execution path can change without changing a suite. The default runner compiles each suite to
SQL and runs it in DuckDB (`checks.runner_sql`); Great Expectations on pandas
(`checks.runner_gx`) stays selectable for cross-checking. The parsed tables live in the run's
database (`parsed_<table>`); only the failing rows come back to Python, and the accepted rows
stay there as `acc_<table>` for the rule pack. Whatever the runner, every row read ends up either
accepted or in the quarantine with a reason: rows read = rows accepted + rows quarantined.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from recordcheck.checks.base.database import Database
from recordcheck.checks.base.resources import SUITES_DIR
from recordcheck.checks.extract.contract import CODE_LIKE, TABLES
from recordcheck.checks.extract.parse import PROBLEM_SCHEMA
from recordcheck.checks.extract.reader import ORIGIN, ROW
from recordcheck.checks.validation.seam import (
    FAILURE_SCHEMA,
    CheckedTable,
    ListParameter,
    SuiteRunner,
    accepted_table,
    parsed_table,
)
from recordcheck.checks.validation.suite_sql import param_table
from recordcheck.checks.validation.suites import load_suite

UNMAPPED_SCHEMA: dict[str, type[pl.DataType]] = {
    "table": pl.String,
    "column": pl.String,
    "source_column": pl.String,
    "code": pl.String,
    "rows": pl.Int64,
}


@dataclass
class TableCounts:
    read: int
    accepted: int
    quarantined: int
    by_check: dict[str, int] = field(default_factory=dict)


class AcceptedTables(Mapping[str, pl.DataFrame]):
    """The rule inputs: per table, the rows that passed, typed, ROW kept, held in the database.

    The engine reads them where they are; indexing fetches one as a Polars frame (for tests and
    small tools), in row order."""

    def __init__(self, database: Database, names: list[str]) -> None:
        self.database = database
        self.names = names

    def relation(self, name: str) -> str:
        return accepted_table(name)

    def __getitem__(self, name: str) -> pl.DataFrame:
        if name not in self.names:
            raise KeyError(name)
        frame = pl.from_arrow(
            self.database.con.sql(f'SELECT * FROM "{accepted_table(name)}" ORDER BY "{ROW}"').to_arrow_table()
        )
        assert isinstance(frame, pl.DataFrame)
        return frame

    def __contains__(self, name: object) -> bool:
        # Mapping's default would fetch the whole table to answer
        return name in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class ValidationResult:
    accepted: AcceptedTables
    quarantine: pl.DataFrame
    """One row per failed check per row: table, row_number, origin, record_id, check, column, reason."""
    counts: dict[str, TableCounts]
    runner: str
    unmapped_codes: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=UNMAPPED_SCHEMA))
    """table, column, source_column, code, rows: coded values that are not the contract's (codes are
    not personal data; a value that does not look like a code is counted, never shown)."""


CODE_CHECKS = ("unknown_value", "unknown_offence_code")
"""Checks on coded columns: their failing values are codes, safe to name in a reason."""


OFFENCE_CODE_SHAPE = r"^[0-9]{1,3}(\.[0-9]{1,2})?[A-Z]{0,2}$"
"""The shape of a Home Office offence code (1, 3A, 4.10, 105A)."""
CONTRACT_CODE_SHAPE = r"^[a-z0-9_]{1,40}$"
"""The shape of the contract's own coded values (recorded, victim_declined)."""


def code_shape(codes: list[str]) -> str:
    """A regex for values shaped like `codes` (a profile's force codes for a column): the kinds of
    character they use and their range of lengths. A value outside it (a surname in capitals in a
    lower-case column, a name where codes are three letters) is counted, never quoted."""
    if not codes:
        return CONTRACT_CODE_SHAPE
    kinds = ""
    if any(c.isupper() for code in codes for c in code):
        kinds += "A-Z"
    if any(c.islower() for code in codes for c in code):
        kinds += "a-z"
    if any(c.isdigit() for code in codes for c in code):
        kinds += "0-9"
    kinds += "".join(sorted({re.escape(c) for code in codes for c in code if not c.isalnum()}))
    # one character of slack each way: an unmapped code beside CEC and VNT may be VDEC
    shortest, longest = max(1, min(len(c) for c in codes) - 1), max(len(c) for c in codes) + 1
    return f"^[{kinds or 'a-z'}]{{{shortest},{longest}}}$"


def _shown_code(column: str, shape: str) -> pl.Expr:
    """The value quoted when it has the column's code shape; otherwise only its length."""
    value = pl.col(column).cast(pl.String)
    return (
        pl.when(value.str.contains(shape) & value.str.contains(CODE_LIKE))
        .then(pl.lit("'") + value + pl.lit("'"))
        .otherwise(pl.lit("a value of ") + value.str.len_chars().cast(pl.String) + pl.lit(" characters"))
    )


def _code_reason(column: str, source_column: str | None, allowed: str, shape: str) -> pl.Expr:
    where = f"column {source_column!r} (canonical {column})" if source_column and source_column != column else column
    return pl.lit(f"{where} holds ") + _shown_code(column, shape) + pl.lit(f", which is not {allowed}")


def _column_of(expectation: dict[str, Any]) -> str:
    kwargs = expectation["kwargs"]
    return str(kwargs.get("column") or kwargs.get("column_A") or "")


LIST_PARAMETERS = ("offence_codes", "crime_ids", "source_refs", "incident_ids")
"""The run-dependent value lists the suites name as parameters."""


def _list_parameters(con: duckdb.DuckDBPyConnection, present: list[str], offence_codes: Any) -> dict[str, ListParameter]:
    """The offence catalogue and the ids other tables may name, as `param_*` tables."""
    codes = pl.DataFrame({"value": sorted({str(c) for c in offence_codes})}, schema={"value": pl.String})
    con.register("_codes", codes.to_arrow())
    con.execute(f'CREATE OR REPLACE TABLE "{param_table("offence_codes")}" AS SELECT value FROM _codes')
    con.unregister("_codes")
    crimes = (
        f"SELECT DISTINCT crime_id AS value FROM {parsed_table('crimes')} WHERE crime_id IS NOT NULL"
        if "crimes" in present
        else "SELECT NULL::VARCHAR AS value WHERE false"
    )
    con.execute(f'CREATE OR REPLACE TABLE "{param_table("crime_ids")}" AS {crimes}')
    refs = ["SELECT NULL::VARCHAR AS value WHERE false"]
    for table, source_type in (("referrals", "referral"), ("incidents", "incident")):
        if table in present:
            id_col = TABLES[table].id_column
            refs.append(
                f"SELECT DISTINCT '{source_type}:' || {id_col} FROM {parsed_table(table)} WHERE {id_col} IS NOT NULL"
            )
    con.execute(f'CREATE OR REPLACE TABLE "{param_table("source_refs")}" AS {" UNION ALL ".join(refs)}')
    incidents = (
        f"SELECT DISTINCT incident_id AS value FROM {parsed_table('incidents')} WHERE incident_id IS NOT NULL"
        if "incidents" in present
        else "SELECT NULL::VARCHAR AS value WHERE false"
    )
    con.execute(f'CREATE OR REPLACE TABLE "{param_table("incident_ids")}" AS {incidents}')
    return {n: ListParameter(n) for n in LIST_PARAMETERS}


def _checked_relation(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The relation the suite runs over: the parsed table, plus derived columns where a suite needs them."""
    if name == "crime_links":
        con.execute(
            f"CREATE OR REPLACE VIEW check_crime_links AS "
            f"SELECT *, source_type || ':' || source_id AS source_ref FROM {parsed_table(name)}"
        )
        return "check_crime_links"
    return parsed_table(name)


@dataclass
class _TableCheck:
    """One table's suite outcome: its problems, its rows by failing check, and unmapped codes."""

    problems: pl.DataFrame
    counts: TableCounts
    bad_rows: pl.DataFrame
    unmapped: list[pl.DataFrame]


def _failing_rows(con: Any, name: str, suite: dict[str, Any], failures: pl.DataFrame) -> pl.DataFrame:
    """Only the failing rows come back to Python: their identity and the values the reasons need."""
    id_col = TABLES[name].record_column
    wanted = {
        ROW,
        id_col,
        *(
            e["kwargs"]["column"]
            for e in suite["expectations"]
            if e["meta"].get("keep_first") or e["meta"]["check"] in CODE_CHECKS
        ),
    }
    if name == "crime_links":
        wanted.add(ORIGIN)
    con.register("_failures", failures.select(ROW).unique().to_arrow())
    selected = ", ".join(f'"{c}"' for c in sorted(wanted))
    frame = pl.from_arrow(
        con.sql(f'SELECT {selected} FROM {parsed_table(name)} SEMI JOIN _failures USING ("{ROW}")').to_arrow_table()
    )
    con.unregister("_failures")
    assert isinstance(frame, pl.DataFrame)
    return frame


def _unmapped(name: str, column: str, source_column: str | None, hit: pl.DataFrame, shape: str) -> pl.DataFrame:
    """Values of a coded column that are not the contract's and have its code shape, with their
    counts (a value of another shape is counted in the quarantine, never named)."""
    return (
        hit.filter(
            pl.col(column).cast(pl.String).str.contains(CODE_LIKE) & pl.col(column).cast(pl.String).str.contains(shape)
        )
        .group_by(pl.col(column).cast(pl.String).alias("code"))
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .select(
            pl.lit(name).alias("table"),
            pl.lit(column).alias("column"),
            pl.lit(source_column or column).alias("source_column"),
            "code",
            "rows",
        )
    )


def _check_table(
    con: Any,
    name: str,
    suite: dict[str, Any],
    failures: pl.DataFrame,
    read: int,
    parsed: pl.DataFrame,
    file_name: str,
    source_columns: dict[str, str],
    code_examples: dict[str, list[str]] | None = None,
) -> _TableCheck:
    """Turn a table's failing (expectation, row) pairs into quarantine rows with their reasons.
    `code_examples` (column -> the profile's force codes for it) gives each coded column the
    shape a value must have to be quoted; by default, the contract's own values' shape."""
    code_examples = code_examples or {}
    frame = _failing_rows(con, name, suite, failures)
    id_col = TABLES[name].record_column
    origin = pl.col(ORIGIN) if name == "crime_links" else pl.lit(file_name)
    problems, unmapped = [parsed], []
    for index, rows in failures.sort("expectation", ROW).group_by("expectation", maintain_order=True):
        exp = suite["expectations"][int(index[0])]
        hit = frame.join(rows.select(ROW), on=ROW, how="semi")
        if exp["meta"].get("keep_first"):
            column = exp["kwargs"]["column"]
            first = hit.group_by(column).agg(pl.col(ROW).min().alias("_first"))
            hit = hit.join(first, on=column).filter(pl.col(ROW) != pl.col("_first")).drop("_first")
        column = _column_of(exp)
        if exp["meta"]["check"] == "required_value":
            # A value that did not parse is already quarantined with the sharper reason.
            unparsed = parsed.filter(pl.col("column") == column).select(pl.col("row_number").alias(ROW))
            hit = hit.join(unparsed, on=ROW, how="anti")
        reason = pl.lit(exp["meta"]["reason"])
        if exp["meta"]["check"] in CODE_CHECKS and column in frame.columns:
            source_column = source_columns.get(column)
            shape = (
                OFFENCE_CODE_SHAPE
                if exp["meta"]["check"] == "unknown_offence_code"
                else code_shape(code_examples.get(column, []))
            )
            reason = _code_reason(column, source_column, exp["meta"]["reason"].split(" is not ", 1)[-1], shape)
            unmapped.append(_unmapped(name, column, source_column, hit, shape))
        problems.append(
            hit.select(
                pl.lit(name).alias("table"),
                pl.col(ROW).alias("row_number"),
                origin.alias("origin"),
                pl.col(id_col).cast(pl.String).alias("record_id"),
                pl.lit(exp["meta"]["check"]).alias("check"),
                pl.lit(column).alias("column"),
                reason.alias("reason"),
            ).cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
        )
    table_problems = pl.concat(problems).unique(maintain_order=True)
    bad_rows = table_problems.select(pl.col("row_number").alias(ROW)).unique()
    by_check = dict(table_problems.group_by("check").agg(pl.col("row_number").n_unique()).iter_rows())
    counts = TableCounts(
        read=read,
        accepted=read - bad_rows.height,
        quarantined=bad_rows.height,
        by_check={k: int(v) for k, v in sorted(by_check.items())},
    )
    return _TableCheck(table_problems, counts, bad_rows, unmapped)


def _keep_accepted(con: Any, present: list[str], checks: dict[str, _TableCheck]) -> None:
    """Each parsed table becomes its accepted table, copied only where rows were quarantined (the
    usual night quarantines nothing); the checks' own relations go."""
    con.execute("DROP VIEW IF EXISTS check_crime_links")
    for name in LIST_PARAMETERS:
        con.execute(f'DROP TABLE IF EXISTS "{param_table(name)}"')
    for name in present:
        bad_rows = checks[name].bad_rows
        if bad_rows.height:
            con.register("_bad", bad_rows.to_arrow())
            con.execute(
                f"CREATE TABLE {accepted_table(name)} AS SELECT * FROM {parsed_table(name)} "
                f'ANTI JOIN _bad USING ("{ROW}") ORDER BY "{ROW}"'
            )
            con.unregister("_bad")
            con.execute(f"DROP TABLE {parsed_table(name)}")
        else:
            con.execute(f"ALTER TABLE {parsed_table(name)} RENAME TO {accepted_table(name)}")
        accepted = int(con.execute(f"SELECT count(*) FROM {accepted_table(name)}").fetchall()[0][0])
        if accepted != checks[name].counts.accepted:
            raise RuntimeError(
                f"validation lost track of rows in {name}: {accepted} accepted, expected {checks[name].counts.accepted}"
            )


def validate(
    database: Database,
    present: list[str],
    parse_problems: dict[str, pl.DataFrame],
    file_names: dict[str, str],
    parameters: dict[str, Any],
    runner: SuiteRunner,
    suites_dir: Path = SUITES_DIR,
    source_columns: dict[str, dict[str, str]] | None = None,
    code_examples: dict[str, dict[str, list[str]]] | None = None,
) -> ValidationResult:
    """Run each table's suite over `parsed_<table>`; quarantine failing rows; leave `acc_<table>`.

    `source_columns` (table -> canonical column -> the force's column) lets a reason about an
    unknown code name the force's own column."""
    source_columns = source_columns or {}
    con = database.con
    params = {**parameters, **_list_parameters(con, present, parameters.get("offence_codes") or ())}
    checks: dict[str, _TableCheck] = {}
    for name in present:
        suite = load_suite(name, suites_dir)
        read = int(con.execute(f"SELECT count(*) FROM {parsed_table(name)}").fetchall()[0][0])
        failures = (
            runner.run(name, CheckedTable(con, _checked_relation(con, name)), suite, params)
            if read
            else pl.DataFrame(schema=FAILURE_SCHEMA)
        )
        checks[name] = _check_table(
            con,
            name,
            suite,
            failures,
            read,
            parse_problems.get(name, pl.DataFrame(schema=PROBLEM_SCHEMA)),
            file_names.get(name, name),
            source_columns.get(name, {}),
            (code_examples or {}).get(name, {}),
        )
    _keep_accepted(con, present, checks)
    parts = [c.problems for c in checks.values()]
    quarantine = (
        pl.concat(parts).sort(["table", "row_number", "check", "column", "origin"], maintain_order=True)
        if parts
        else pl.DataFrame(schema=PROBLEM_SCHEMA)
    )
    unmapped_parts = [u for c in checks.values() for u in c.unmapped]
    unmapped = (
        pl.concat(unmapped_parts)
        .cast(UNMAPPED_SCHEMA)  # type: ignore[arg-type]
        .sort(["table", "column", "rows", "code"], descending=[False, False, True, False])
        if unmapped_parts
        else pl.DataFrame(schema=UNMAPPED_SCHEMA)
    )
    counts = {name: c.counts for name, c in checks.items()}
    return ValidationResult(AcceptedTables(database, list(present)), quarantine, counts, runner.name, unmapped)
