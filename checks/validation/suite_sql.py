"""Expectation suites compiled to SQL: one query per table returning (expectation, row) failures.

The suites in `rules/expectations/` stay the one declaration of the checks; this module is the
translation of each expectation type into a SQL predicate that is true for a failing row, with
the same semantics Great Expectations gives it (nulls are skipped by every column check except
not-null; bounds are inclusive unless `strict_*`; a value repeated anywhere fails every copy).
The query is built as a SQLGlot expression, so it renders for DuckDB today and can be transpiled
for another engine (Spark) without rewriting the checks. Identifiers are always quoted and values
are always literals, so nothing from a suite or a parameter is pasted into SQL text.

List-valued parameters (the offence catalogue, the ids of other tables) are not inlined: each is
a one-column table `param_<name>(value)` that the runner provides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, cast

import sqlglot
from sqlglot import exp

from recordcheck.checks.base.errors import ConfigError

ROW_COLUMN = "__row"
EXPECTATION_COLUMN = "expectation"


def param_table(name: str) -> str:
    """The table that holds a list-valued suite parameter's values."""
    return f"param_{name}"


def _col(name: str) -> exp.Column:
    return exp.column(exp.to_identifier(name, quoted=True))


def _table(name: str) -> exp.Table:
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def _literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ConfigError("a timestamp suite parameter must carry a time zone")
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("TIMESTAMPTZ"))
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))
    if isinstance(value, str):
        return exp.Literal.string(value)
    raise ConfigError(f"a suite value of type {type(value).__name__} cannot be used in SQL")


class _Kwargs:
    """An expectation's kwargs with $PARAMETER references resolved; unknown keys are refused."""

    def __init__(self, expectation: dict[str, Any], allowed: set[str], parameters: dict[str, Any]):
        self.type = expectation["type"]
        self.raw: dict[str, Any] = dict(expectation.get("kwargs", {}))
        unknown = sorted(set(self.raw) - allowed)
        if unknown:
            raise ConfigError(
                f"{self.type}: the SQL runner does not support {', '.join(unknown)} "
                f"(supported: {', '.join(sorted(allowed))})"
            )
        self.parameters = parameters

    def name_of_parameter(self, key: str) -> str | None:
        value = self.raw.get(key)
        if isinstance(value, dict) and "$PARAMETER" in value:
            return str(value["$PARAMETER"])
        return None

    def value(self, key: str, default: Any = None) -> Any:
        value = self.raw.get(key, default)
        name = self.name_of_parameter(key)
        if name is not None:
            if name not in self.parameters:
                raise ConfigError(f"{self.type}: suite parameter {name!r} was not supplied")
            return self.parameters[name]
        return value

    def column(self, key: str = "column") -> exp.Column:
        name = self.raw.get(key)
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.type}: kwarg {key!r} must name a column")
        return _col(name)


def _not_null(kw: _Kwargs, table: str) -> exp.Expression:
    return kw.column().is_(exp.null())


def _unique(kw: _Kwargs, table: str) -> exp.Expression:
    column = kw.column()
    repeated = (
        exp.select(column.copy())
        .from_(_table(table))
        .where(column.copy().is_(exp.null()).not_())
        .group_by(column.copy())
        .having(exp.Count(this=exp.Star()) > 1)
    )
    return column.isin(query=repeated)


def _in_set(kw: _Kwargs, table: str) -> exp.Expression:
    column = kw.column()
    parameter = kw.name_of_parameter("value_set")
    if parameter is not None:
        if parameter not in kw.parameters:
            raise ConfigError(f"{kw.type}: suite parameter {parameter!r} was not supplied")
        members: exp.Expression = column.copy().isin(query=exp.select(_col("value")).from_(_table(param_table(parameter))))
    else:
        values = kw.value("value_set")
        if not isinstance(values, list | tuple) or not values:
            raise ConfigError(f"{kw.type}: value_set must be a non-empty list")
        members = column.copy().isin(*[_literal(v) for v in values])
    return cast(exp.Expression, exp.and_(column.is_(exp.null()).not_(), exp.not_(members)))


def _between(kw: _Kwargs, table: str) -> exp.Expression:
    column = kw.column()
    lower, upper = kw.value("min_value"), kw.value("max_value")
    if lower is None and upper is None:
        raise ConfigError(f"{kw.type}: give min_value, max_value or both")
    inside: list[exp.Expression] = []
    if lower is not None:
        bound = _literal(lower)
        inside.append(column.copy() > bound if kw.value("strict_min", False) else column.copy() >= bound)
    if upper is not None:
        bound = _literal(upper)
        inside.append(column.copy() < bound if kw.value("strict_max", False) else column.copy() <= bound)
    return cast(exp.Expression, exp.and_(column.is_(exp.null()).not_(), exp.not_(exp.and_(*inside))))


def _a_greater_than_b(kw: _Kwargs, table: str) -> exp.Expression:
    a, b = kw.column("column_A"), kw.column("column_B")
    ignore = kw.value("ignore_row_if", "both_values_are_missing")
    if ignore != "either_value_is_missing":
        raise ConfigError(f"{kw.type}: the SQL runner supports ignore_row_if: either_value_is_missing only")
    holds = a.copy() >= b.copy() if kw.value("or_equal", False) else a.copy() > b.copy()
    return cast(exp.Expression, exp.and_(a.is_(exp.null()).not_(), b.is_(exp.null()).not_(), exp.not_(holds)))


_COMPILERS: dict[str, tuple[Callable[[_Kwargs, str], exp.Expression], set[str]]] = {
    "expect_column_values_to_not_be_null": (_not_null, {"column"}),
    "expect_column_values_to_be_unique": (_unique, {"column"}),
    "expect_column_values_to_be_in_set": (_in_set, {"column", "value_set"}),
    "expect_column_values_to_be_between": (
        _between,
        {"column", "min_value", "max_value", "strict_min", "strict_max"},
    ),
    "expect_column_pair_values_a_to_be_greater_than_b": (
        _a_greater_than_b,
        {"column_A", "column_B", "or_equal", "ignore_row_if"},
    ),
}
SUPPORTED_TYPES = tuple(_COMPILERS)


def failing_rows_predicate(expectation: dict[str, Any], table: str, parameters: dict[str, Any]) -> exp.Expression:
    """The predicate that is true exactly for the rows that fail this expectation."""
    entry = _COMPILERS.get(expectation.get("type", ""))
    if entry is None:
        raise ConfigError(
            f"expectation type {expectation.get('type')!r} has no SQL translation (supported: {', '.join(SUPPORTED_TYPES)})"
        )
    compile_, allowed = entry
    return compile_(_Kwargs(expectation, allowed, parameters), table)


def compile_suite(suite: dict[str, Any], table: str, parameters: dict[str, Any]) -> exp.Expression:
    """One query over `table`: a row (expectation index, __row) for every failure in the suite."""
    selects = [
        exp.select(exp.alias_(exp.Literal.number(i), EXPECTATION_COLUMN), _col(ROW_COLUMN))
        .from_(_table(table))
        .where(failing_rows_predicate(expectation, table, parameters))
        for i, expectation in enumerate(suite["expectations"])
    ]
    if not selects:
        raise ConfigError(f"suite {suite.get('name')!r} has no expectations")
    query: exp.Expression = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


def render(query: exp.Expression, dialect: str = "duckdb") -> str:
    """The query as SQL text for an engine (duckdb today; spark for national runs)."""
    return query.sql(dialect=dialect)


def transpile(sql: str, read: str = "duckdb", write: str = "spark") -> str:
    return sqlglot.transpile(sql, read=read, write=write)[0]
