"""DuckDB SQL to Spark SQL: the pack's macros expanded in place, then SQLGlot's transpiler.

Spark has no SQL macros, so each call of a pack macro is replaced by its body with the call's
arguments put in for its parameters, as DuckDB itself does. A macro whose DuckDB body would not
keep its meaning on Spark (elapsed time between instants, London wall-clock, a list test inside
a projection) has a Spark definition in the pack's `spark_macros`; the rest transpile as they are.
Anything that will not translate is an error naming what it was, never a silent skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from recordcheck.checks.base.errors import ConfigError

_DEFINITION = re.compile(r"^\s*\((?P<params>[^)]*)\)\s*AS\s+(?P<body>.+)$", re.S | re.I)
_MAX_DEPTH = 20


class TranslationError(ConfigError):
    """A query of the pack that cannot be written in Spark SQL (names the rule, view or macro)."""


@dataclass(frozen=True)
class Macro:
    name: str
    params: tuple[str, ...]
    body: exp.Expr


def parse_macro(name: str, definition: str, dialect: str) -> Macro:
    """`(a, b) AS expr` (the pack's macro syntax) as parameters and a parsed body."""
    match = _DEFINITION.match(definition)
    if not match:
        raise TranslationError(f"macro {name}: definition must read '(params) AS expression'")
    params = tuple(p.strip().lower() for p in match.group("params").split(",") if p.strip())
    try:
        body = sqlglot.parse_one(f"SELECT {match.group('body')}", read=dialect).expressions[0]
    except SqlglotError as exc:
        raise TranslationError(f"macro {name}: {str(exc).splitlines()[0]}") from None
    return Macro(name, params, body)


def spark_macros(duckdb_macros: dict[str, str], spark_definitions: dict[str, str]) -> dict[str, Macro]:
    """Every pack macro as Spark will expand it: its Spark definition where it has one."""
    macros = {name: parse_macro(name, text, "duckdb") for name, text in duckdb_macros.items()}
    for name, text in spark_definitions.items():
        if name not in duckdb_macros:
            raise TranslationError(f"spark_macros: {name} is not a macro of the pack")
        macros[name] = parse_macro(name, text, "spark")
    return macros


def _substitute(macro: Macro, args: list[exp.Expr]) -> exp.Expr:
    if len(args) != len(macro.params):
        raise TranslationError(f"macro {macro.name} takes {len(macro.params)} argument(s), given {len(args)}")
    given = dict(zip(macro.params, args, strict=True))

    def put(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in given:
            return given[node.name.lower()].copy()
        return node

    return exp.Paren(this=macro.body.copy().transform(put))


def expand(tree: exp.Expr, macros: dict[str, Macro]) -> exp.Expr:
    """Replace every call of a macro by its body, until none is left (macros may call macros)."""
    for _ in range(_MAX_DEPTH):
        calls = [node for node in tree.find_all(exp.Anonymous) if isinstance(node.this, str) and node.this.lower() in macros]
        if not calls:
            return tree
        for call in calls:
            call.replace(_substitute(macros[str(call.this).lower()], list(call.expressions)))
    raise TranslationError(f"macros nest more than {_MAX_DEPTH} deep (a macro that calls itself?)")


class SparkTranslator:
    """Translates the pack's and the engine's DuckDB queries to Spark SQL."""

    def __init__(self, duckdb_macros: dict[str, str], spark_definitions: dict[str, str]) -> None:
        self.macros = spark_macros(duckdb_macros, spark_definitions)
        self._done: dict[str, str] = {}
        """DuckDB text -> Spark text: a force's rules and a rule's cases send the same queries again."""

    def translate(self, sql: str, what: str) -> str:
        if (done := self._done.get(sql)) is not None:
            return done
        self._done[sql] = self._translate(sql, what)
        return self._done[sql]

    def _translate(self, sql: str, what: str) -> str:
        try:
            tree = sqlglot.parse_one(sql, read="duckdb")
            tree = expand(tree, self.macros)
            return tree.sql(dialect="spark", unsupported_level=sqlglot.ErrorLevel.RAISE)
        except TranslationError as exc:
            raise TranslationError(f"{what}: {exc}") from None
        except SqlglotError as exc:
            raise TranslationError(f"{what}: cannot be written in Spark SQL ({str(exc).splitlines()[0]})") from None
