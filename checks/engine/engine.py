"""Runs the rule pack in DuckDB over the validated tables.

Tables arrive as Polars frames and DuckDB scans their Arrow buffers in place (no copy, no
Python rows). The pack's shared views are materialised once, except those the pack lists as
`inline_views`; then for each rule the population and breach queries run, counts are taken by
stratum, and the breaching records become register rows (detail sentence and fingerprint built
in SQL). Rules whose required table is absent are reported as not run.
This module is the one execution seam: a distributed engine would implement `run_pack` again.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import polars as pl

from recordcheck.checks.base.database import DUCKDB_TYPES, Database, EngineSettings, connect, insert_rows, time_limit
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.refdata import ReferenceData, reference_tables
from recordcheck.checks.engine.rules import (
    PLACEHOLDER,
    STRATA,
    Rule,
    RulePack,
    parts_not_run,
    reads_screen,
    unmet_needs,
    with_parts,
)
from recordcheck.checks.extract.contract import MEASURE_OF_FINDING, REGISTER_COLUMNS, REGISTER_EXTRA_COLUMNS, TABLES
from recordcheck.checks.narrative.screen import DEFAULT_MAX_CHARS, SCOPE_VIEW, empty_screen, screen
from recordcheck.checks.validation.validate import AcceptedTables

OPTIONAL_STRATA = ("source", "victim_group", "receiving_unit")
"""Register columns a rule's breaches carry when it has them (null otherwise)."""
REQUIRED_OUTPUT = ("record_type", "record_id", "district", *(s for s in STRATA[1:] if s not in OPTIONAL_STRATA))


class RuleError(ConfigError):
    """A rule's SQL failed or broke the engine's contract (named rule, plain message)."""


DUE_SCHEMA: dict[str, pl.DataType] = {
    "rule_id": pl.String(),
    "finding": pl.String(),
    "severity": pl.String(),
    "record_type": pl.String(),
    "record_id": pl.String(),
    "district": pl.String(),
    "deadline_at": pl.Datetime("us", "UTC"),
    "detail": pl.String(),
}
"""A due list's rows: the record, its deadline (a UTC instant) and the sentence saying why."""


@dataclass
class RuleResult:
    rule: Rule
    status: str
    """'run' or 'not_run'"""
    reason: str = ""
    population: int = 0
    breaches: int = 0
    strata: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    seconds: float = 0.0
    population_ids: frozenset[str] | None = None
    """The population's record ids, when the caller asked (rule cases that state a population)."""
    parts_not_run: tuple[tuple[str, str], ...] = ()
    """(part, why) for each of the rule's sub-checks that could not run: the rest ran."""
    due: Any = None
    """The rule's due list (records that will breach at a deadline unless someone acts), or None."""
    by_batch: dict[str, RuleResult] = field(default_factory=dict)
    """In a batched run (`RuleEngine(batches=...)`), each batch's own result: its population,
    breaches and strata, as a run over its tables alone would give them."""

    @property
    def rate(self) -> float | None:
        return self.breaches / self.population if self.population else None


@dataclass
class EngineResult:
    results: list[RuleResult]
    register: pl.DataFrame
    seconds: dict[str, float]
    measures: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    due_table: str | None = None
    """The table in the run's database that holds every rule's due list (what will breach, and
    when, unless someone acts); None when the rules ran on frames in a database of their own."""


BATCH_SEPARATOR = "\x1f"
"""In a batched run, between a batch's name and each record or person key of its rows
("F01\x1fCR12"): the unit separator, a control character that no force's reference numbers use.
Untagging removes "<batch>\x1f" from every text column of a breach (a sentence may quote a key)."""
BATCH_OF = "split_part(CAST(record_id AS VARCHAR), chr(31), 1)"
"""The batch of a row, from its tagged record id (SQL)."""


def _sql_list(values: list[str]) -> str:
    return "[" + ", ".join(_sql_str(v) for v in values) + "]::VARCHAR[]"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class RuleEngine:
    """A DuckDB connection holding one extract's tables, the reference data and the pack's views."""

    def __init__(
        self,
        pack: RulePack,
        reference: ReferenceData,
        as_of: datetime,
        tables: Mapping[str, pl.DataFrame],
        threads: int | None = None,
        con: duckdb.DuckDBPyConnection | None = None,
        districts: list[str] | None = None,
        query_seconds: float | None = EngineSettings.query_seconds,
        skipped: frozenset[str] = frozenset(),
        batches: tuple[str, ...] = (),
        due_into: str | None = None,
    ) -> None:
        self.pack = pack
        self.due_into = due_into
        """The table a run's due rows are added to: at national scale they are millions, and stay
        in DuckDB; None: each rule's result holds its own (a rule's test cases read them)."""
        self.batches = batches
        """Several extracts' tables as one, each record and person key tagged with its batch
        (BATCH_SEPARATOR): a rule runs once over all, and each result and register row is said
        per batch, keys untagged. Empty: one extract."""
        self.skipped = skipped
        """Rules that will not run (disabled, or not asked for): the screen is left out when only
        they read it."""
        self.query_seconds = query_seconds
        self.present = set(tables)
        self.limits = dict(reference.limits)
        self._database: Database | None = None
        self._judged_started = False
        self._connect(con, threads)
        timings: dict[str, float] = {}
        started = time.perf_counter()
        self._load_tables(tables, districts)
        self._load_reference(reference, as_of)
        timings["load"] = time.perf_counter() - started
        started = time.perf_counter()
        self._create_pack_objects()
        timings["views"] = time.perf_counter() - started
        started = time.perf_counter()
        self.screen_counts: dict[str, int] = {}
        self.unscreened = ""
        """Why the narrative screen's tables are not this extract's (a rule reading them does not run)."""
        self._screen_narratives(tables)
        timings["screen"] = time.perf_counter() - started
        self.timings = timings

    def _connect(self, con: duckdb.DuckDBPyConnection | None, threads: int | None) -> None:
        if con is None:
            # a database of its own, opened and confined like a run's (rule cases, tests)
            self._database = Database(EngineSettings(threads=threads))
            con = self._database.con
        self.con = con

    def _load_tables(self, tables: Mapping[str, Any], districts: list[str] | None) -> None:
        """Each contract table as a relation named after it (an empty one where the extract lacks it)."""
        for name, contract in TABLES.items():
            if isinstance(tables, AcceptedTables) and name in tables:
                # the validated rows are already in this database: read them where they are
                columns = ", ".join(
                    f'CASE WHEN "{c}" IN (SELECT unnest(?::VARCHAR[])) THEN "{c}" END AS "{c}"'
                    if c == "district" and districts
                    else f'"{c}"'
                    for c in contract.column_names
                )
                if districts:  # a value outside the force's list is no district: never its own stratum
                    columns = columns.replace("?::VARCHAR[]", _sql_list(districts))
                self.con.execute(f"CREATE VIEW {name} AS SELECT {columns} FROM main.{tables.relation(name)}")
            elif name in tables:
                frame = tables[name].select(contract.column_names)
                # zero-copy: DuckDB scans the Arrow buffers where they are
                self.con.register(name, frame.to_arrow())
            else:
                cols = ", ".join(f"{c.name} {DUCKDB_TYPES[c.type]}" for c in contract.columns)
                self.con.execute(f"CREATE TABLE {name} ({cols})")

    def _screen_narratives(self, tables: Mapping[str, Any]) -> None:
        """The narrative screen's tables, where a rule reads them (empty otherwise)."""
        wanted = any(reads_screen(rule) and rule.id not in self.skipped for rule in self.pack.rules)
        if wanted and self.pack.lexicons is not None:
            self.screen_counts = screen(
                self.con,
                self.pack.lexicons,
                scoped=SCOPE_VIEW in self.pack.views,
                max_chars=int(self.limits.get("narrative_max_chars", DEFAULT_MAX_CHARS)),
            )
        else:
            empty_screen(self.con)

    def _create_pack_objects(self) -> None:
        """The pack's macros, then its shared views (materialised unless listed inline)."""
        for name, definition in self.pack.macros.items():
            self._exec(f"CREATE MACRO {name}{definition}", f"pack macro {name}")
        for name, sql in self.pack.views.items():
            self._create(name, sql, f"pack view {name}", materialise=name not in self.pack.inline_views)

    # The engine's primitives: everything below them is SQL in DuckDB's dialect, so another
    # engine (checks/spark) overrides these and inherits the rest.

    lists_due = True
    """Whether this engine runs rules' `due` queries (the nightly DuckDB engine does)."""

    def _create(self, name: str, sql: str, what: str, materialise: bool = True, temporary: bool = False) -> None:
        kind = ("TEMP TABLE" if temporary else "TABLE") if materialise else "VIEW"
        self._exec(f"CREATE OR REPLACE {kind} {name} AS {sql}\n", what)

    def _drop(self, *names: str) -> None:
        for name in names:
            self.con.execute(f"DROP TABLE IF EXISTS {name}")

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.con.execute(sql).fetchall()

    def _register_frame(self, sql: str) -> Any:
        """The register rows a query returns, as the engine hands them on (here a Polars frame)."""
        return self.con.sql(sql).pl()

    def _rows_view(self, name: str, register: Any) -> None:
        """The register rows as a relation the SQL can read (here a Polars frame, scanned in place)."""
        self.con.register(name, register.select(FINDING_COLUMNS).to_arrow())

    def _keep_judged(self, measure: str, population: str) -> None:
        """Keep who a headline measure's rule judged (its population's records) in `judged_record`,
        so the measure's denominator counts each record once however many rules judged it."""
        self._expose_judged()
        record = "CAST(record_id AS VARCHAR)"
        self.con.execute(f"INSERT INTO judged_record SELECT {_sql_str(measure)}, record_type, {record} FROM {population}")

    def _expose_judged(self) -> None:
        """`judged_record` exists from the first headline rule on (empty when none ran)."""
        if not self._judged_started:
            self.con.execute("CREATE TABLE judged_record (measure VARCHAR, record_type VARCHAR, record_id VARCHAR)")
            self._judged_started = True

    def expose_findings(self, register: Any) -> None:
        """The night's findings as the view `finding` (rule, kind, record and the headline measure
        the kind counts in), and who the headline measures' rules judged as `judged_record`, for
        the pack's measures: the recording rate of a group of reports counts its reports with a
        recording finding, in SQL, beside its recorded ones."""
        self._expose_judged()
        self._rows_view("finding_rows", register)
        measure = " ".join(f"WHEN {_sql_str(kind)} THEN {_sql_str(m)}" for kind, m in MEASURE_OF_FINDING.items())
        self._create(
            "finding",
            f"SELECT {', '.join(FINDING_COLUMNS)}, CASE finding {measure} END AS measure FROM finding_rows",
            "the findings view",
            materialise=False,
        )

    def close(self) -> None:
        """Close the database the engine opened for itself (never one it was given)."""
        if self._database is not None:
            self._database.close()

    def _exec(self, sql: str, what: str) -> None:
        try:
            self.con.execute(sql)
        except duckdb.InterruptException:
            raise QueryTimeout(what) from None
        except duckdb.PermissionException:
            raise RuleError(f"{what}: refused: rule SQL may not read or write files or change settings") from None
        except duckdb.Error as exc:
            raise RuleError(f"{what}: {str(exc).splitlines()[0]}") from None

    def _load_reference(self, reference: ReferenceData, as_of: datetime) -> None:
        self.con.register("_catalogue", reference.offence_catalogue.to_arrow())
        self.con.execute("CREATE TABLE offence_catalogue AS SELECT * FROM _catalogue")
        self.con.unregister("_catalogue")
        for table, columns, rows in reference_tables(reference):
            self.con.execute(f"CREATE TABLE {table} ({columns})")
            insert_rows(self.con, table, rows)
        self.con.execute("CREATE TABLE run_settings (name VARCHAR, value_ts TIMESTAMPTZ)")
        self.con.execute("INSERT INTO run_settings VALUES ('as_of', ?)", [as_of])

    def _columns(self, table: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.con.execute(f"DESCRIBE {table}").fetchall()}

    def _detail_sql(self, rule: Rule, columns: dict[str, str], template: str | None = None) -> str:
        """The sentence a register row (or, with the due template, a due row) says."""
        text = rule.detail if template is None else template
        query = "breaches" if template is None else "due"
        parts: list[str] = []
        last = 0
        for match in PLACEHOLDER.finditer(text):
            parts.append(_sql_str(text[last : match.start()]))
            name = match.group(1)
            if name not in columns:
                raise RuleError(f"{rule.id}: {query} detail uses {{{name}}} but the {query} query has no such column")
            kind = columns[name]
            if kind.startswith("TIMESTAMP"):
                # London wall clock, said so: the header's as-of is UTC, and a clock change
                # otherwise reads as a false positive ("recorded 11:30, 24.5 hours after 12:00")
                expr = f"local_text({name}) || ' London time'"
            elif kind == "DATE":
                expr = f"strftime({name}, '%Y-%m-%d')"
            elif kind in ("DOUBLE", "FLOAT") or kind.startswith("DECIMAL"):
                # one decimal, none for a whole number ("the limit is 28", "24.5 hours")
                expr = (
                    f"CASE WHEN {name} = round({name}) THEN CAST(CAST({name} AS BIGINT) AS VARCHAR) "
                    f"ELSE CAST(round({name}, 1) AS VARCHAR) END"
                )
            elif name in OFFENCE_CODE_FIELDS:
                # a Home Office code with its title from the catalogue: "8N: Assault with injury"
                expr = (
                    f"(CAST({name} AS VARCHAR) || coalesce(': ' || (SELECT max(t.title) FROM offence_catalogue t "
                    f"WHERE t.code = CAST({name} AS VARCHAR)), ''))"
                )
            elif name in WORDED_FIELDS:
                expr = f"replace(CAST({name} AS VARCHAR), '_', ' ')"  # contract codes in words
            else:
                expr = f"CAST({name} AS VARCHAR)"
            parts.append(f"coalesce({expr}, 'unknown')")
            last = match.end()
        parts.append(_sql_str(text[last:]))
        # a sentence starts with a capital: the template's own first letter where it starts with
        # one (the sentence is then built once a row, not twice), else the value it starts with
        first = PLACEHOLDER.search(text)
        opening = text[: first.start()] if first else text
        if opening[:1].isascii() and opening[:1].isalpha():
            parts[0] = _sql_str(opening[0].upper() + opening[1:])
            return "concat(" + ", ".join(parts) + ")"
        sentence = "concat(" + ", ".join(parts) + ")"
        return f"(upper(left({sentence}, 1)) || substr({sentence}, 2))"

    def _evidence_sql(self, rule: Rule, columns: dict[str, str]) -> str:
        """A short hash of the values a decision on this finding rests on (rule.evidence)."""
        missing = [name for name in rule.evidence if name not in columns]
        if missing:
            raise RuleError(f"{rule.id}: evidence names {', '.join(missing)} but the breaches query has no such column")
        values = ", ".join(f"coalesce({self._as_text(name, columns[name])}, '')" for name in rule.evidence)
        return f"substr(sha256(concat_ws('|', {_sql_str(rule.id)}{', ' + values if values else ''})), 1, 16)"

    def _as_text(self, name: str, kind: str) -> str:
        """A value as DuckDB writes it as text: what the evidence hash is taken over (an engine
        that writes values differently overrides this, so the hash stays the same)."""
        return f"CAST({name} AS VARCHAR)"

    def measure(self, name: str, sql: str) -> list[dict[str, Any]]:
        """An aggregate for the reports, as plain rows (timestamps as ISO text)."""
        try:
            frame = pl.from_arrow(self.con.sql(sql).to_arrow_table())
        except duckdb.Error as exc:
            raise RuleError(f"pack measure {name}: {str(exc).splitlines()[0]}") from None
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_columns(
            [pl.col(c).dt.strftime("%Y-%m-%dT%H:%M:%SZ") for c, t in frame.schema.items() if isinstance(t, pl.Datetime)]
        )
        return frame.to_dicts()

    def _check_outputs(self, rule: Rule, pop: str, br: str) -> tuple[dict[str, str], int, int]:
        """The engine's contract with a rule: the columns it needs, each record once in the
        population and once in the breaches (the register keeps one row a record, and two
        differing rows would leave which one to chance), and breaches only from the population.
        Returns the breaches' columns, the population and the breaching records (one query: each
        is a job on a cluster engine)."""
        columns = self._columns(br)
        pop_columns = self._columns(pop)
        lacking = [c for c in REQUIRED_OUTPUT if c not in pop_columns or c not in columns]
        if lacking:
            raise RuleError(f"{rule.id}: population and breaches must return {', '.join(lacking)}")
        population, distinct, rows, breaches, stray = self._rows(
            f"""SELECT (SELECT count(*) FROM {pop}), (SELECT count(DISTINCT (record_type, record_id)) FROM {pop}),
                       (SELECT count(*) FROM {br}), (SELECT count(DISTINCT (record_type, record_id)) FROM {br}),
                       (SELECT count(*) FROM {br} b ANTI JOIN {pop} p USING (record_type, record_id))"""
        )[0]
        if population != distinct:
            raise RuleError(f"{rule.id}: population lists a record more than once")
        if rows != breaches:
            raise RuleError(f"{rule.id}: breaches list a record more than once")
        if stray:
            raise RuleError(f"{rule.id}: breaches include {stray} record(s) outside the population")
        return columns, int(population), int(breaches)

    def _strata(self, rule: Rule, pop: str, br: str) -> dict[str, list[dict[str, Any]]]:
        """Population and breaches per value of each of the rule's strata (district, agency, ...),
        all strata in one query; values in code-point order."""
        if not rule.strata:
            return {}
        strata: dict[str, list[dict[str, Any]]] = {stratum: [] for stratum in rule.strata}
        for _, stratum, value, population, breaches in self._stratum_rows(rule, pop, br, batched=False):
            strata[stratum].append({"value": value, "population": int(population), "breaches": int(breaches)})
        return strata

    def _stratum_rows(self, rule: Rule, pop: str, br: str, batched: bool) -> list[tuple[Any, ...]]:
        """(batch, stratum, value, population, breaches) for each value of each of the rule's
        strata, in one query, sorted; batched, also each batch's totals (stratum '') and the batch
        of each row (else '')."""
        batch = BATCH_OF.replace("record_id", "p.record_id") if batched else "''"
        totals = ["SELECT _batch, '', '', count(*), count(*) FILTER (WHERE breached) FROM marked GROUP BY 1"]
        parts = (totals if batched else []) + [
            f"""SELECT _batch, '{stratum}', coalesce(CAST({stratum} AS VARCHAR), '(not recorded)'),
                       count(*), count(*) FILTER (WHERE breached)
                FROM marked GROUP BY 1, 2, 3"""
            for stratum in rule.strata
        ]
        rows = self._rows(
            f"""WITH marked AS (
                  SELECT p.*, {batch} AS _batch, b.record_id IS NOT NULL AS breached
                  FROM {pop} p LEFT JOIN (SELECT DISTINCT record_type, record_id FROM {br}) b
                       ON b.record_type = p.record_type AND b.record_id = p.record_id)
                {" UNION ALL ".join(parts)}"""
        )
        return sorted(rows, key=lambda row: (row[0], row[1], row[2]))

    def _register_rows(self, rule: Rule, run_id: str, br: str, columns: dict[str, str]) -> Any:
        """One register row per breaching record: fingerprint, detail sentence, evidence hash,
        strata. In a batched run, from the breaches untagged, led by the batch as `force`."""
        batch = ""
        if self.batches:
            texts = {c for c, kind in columns.items() if kind in ("VARCHAR", "STRING")}
            select = ", ".join(f"replace({c}, {BATCH_OF} || chr(31), '') AS {c}" if c in texts else c for c in columns)
            self._create("untagged", f"SELECT {BATCH_OF} AS _batch, {select} FROM {br}", "untagged", materialise=False)
            br, batch = "untagged", "_batch"
        try:
            return self._register_frame(
                f"""SELECT DISTINCT ON ({batch + ", " if batch else ""}record_type, record_id)
                       {batch + " AS force, " if batch else ""}
                       {_sql_str(run_id)} AS run_id, {_sql_str(rule.id)} AS rule_id,
                       {_sql_str(rule.finding)} AS finding, {_sql_str(rule.severity)} AS severity,
                       record_type, CAST(record_id AS VARCHAR) AS record_id, district,
                       substr(sha256(concat_ws('|', {_sql_str(rule.id)}, record_type, CAST(record_id AS VARCHAR))), 1, 16)
                           AS fingerprint,
                       {self._detail_sql(rule, columns)} AS detail,
                       {self._evidence_sql(rule, columns)} AS evidence,
                       {_sql_str(rule.title_for(self.limits))} AS title,
                       CAST(referrer_agency AS VARCHAR) AS referrer_agency,
                       CAST(offence_group AS VARCHAR) AS offence_group,
                       CAST(month AS VARCHAR) AS month,
                       {
                    ", ".join(
                        f"CAST({c} AS VARCHAR) AS {c}" if c in columns else f"NULL::VARCHAR AS {c}" for c in OPTIONAL_STRATA
                    )
                }
                FROM {br} ORDER BY {batch + ", " if batch else ""}record_type, record_id"""
            )
        finally:
            if batch:
                self._drop_view("untagged")

    def _drop_view(self, name: str) -> None:
        self.con.execute(f"DROP VIEW IF EXISTS {name}")

    def _batch_figures(self, rule: Rule, pop: str, br: str, result: RuleResult) -> dict[str, RuleResult]:
        """Each batch's population, breaches and strata (one query), as `result` for that batch."""
        figures = {
            batch: dataclasses.replace(result, population=0, breaches=0, strata={s: [] for s in rule.strata})
            for batch in self.batches
        }
        for batch, stratum, value, population, breaches in self._stratum_rows(rule, pop, br, batched=True):
            if batch not in figures:
                raise RuleError(f"{rule.id}: population holds a record of no batch of this run")
            if stratum:
                figures[batch].strata[stratum].append(
                    {"value": value, "population": int(population), "breaches": int(breaches)}
                )
            else:
                figures[batch].population, figures[batch].breaches = int(population), int(breaches)
        return figures

    def run_rule(
        self,
        rule: Rule,
        run_id: str,
        population_ids: bool = False,
        unusable: Mapping[tuple[str, str], str] | None = None,
        disabled: list[str] | None = None,
    ) -> tuple[RuleResult, Any]:
        """The rule's result and its register rows; `population_ids` also lists who it judged. A
        part (sub-check) that needs an `unusable` column does not run; the others do."""
        missing = [t for t in rule.requires if t not in self.present]
        if missing:
            return RuleResult(rule, "not_run", f"table absent: {', '.join(missing)}"), None
        if self.unscreened and reads_screen(rule):
            return RuleResult(rule, "not_run", self.unscreened), None
        started = time.perf_counter()
        # The population is a table named `population` that the breaches query reads as it is
        # written: no SQL is spliced into another (a breaches query may start with a comment or WITH).
        pop, br = "population", "breaches"
        try:
            with self._time_limit():
                return self._judge_rule(rule, run_id, population_ids, unusable, disabled, started)
        except (QueryTimeout, duckdb.InterruptException):
            self._drop(pop, br)
            why = f"over the time limit of {self.query_seconds:g} s (engine.query_seconds): its query was stopped"
            return RuleResult(rule, "not_run", why), None

    def _time_limit(self) -> AbstractContextManager[None]:
        """The watchdog over one rule's queries (engine.query_seconds): DuckDB's interrupt here;
        another backend brings its own."""
        return time_limit(self.con, self.query_seconds)

    def _judge_rule(
        self,
        rule: Rule,
        run_id: str,
        population_ids: bool,
        unusable: Mapping[tuple[str, str], str] | None,
        disabled: list[str] | None,
        started: float,
    ) -> tuple[RuleResult, Any]:
        pop, br = "population", "breaches"
        skipped = parts_not_run(rule, unusable or {}, disabled)
        off = {name for name, _ in skipped}
        self._create(pop, with_parts(rule.population, off), f"{rule.id} population", temporary=True)
        self._create(br, with_parts(rule.breaches, off), f"{rule.id} breaches", temporary=True)
        columns, population, breaches = self._check_outputs(rule, pop, br)
        if measure := MEASURE_OF_FINDING.get(rule.finding):
            self._keep_judged(measure, pop)
        strata = {} if self.batches else self._strata(rule, pop, br)
        register = self._register_rows(rule, run_id, br, columns)
        due = self._due_rows(rule, pop, br) if rule.due and self.lists_due and not self.batches else None
        ids = (
            frozenset(str(row[0]) for row in self._rows(f"SELECT CAST(record_id AS VARCHAR) FROM {pop}"))
            if population_ids
            else None
        )
        result = RuleResult(rule, "run", "", population, breaches, strata, 0.0, ids, tuple(skipped), due)
        if self.batches:
            result.by_batch = self._batch_figures(rule, pop, br, result)
        self._drop(pop, br)
        result.seconds = time.perf_counter() - started
        for each in result.by_batch.values():
            each.seconds = result.seconds
        return result, register

    def _due_rows(self, rule: Rule, pop: str, br: str) -> pl.DataFrame | None:
        """The rule's due list: its `due` query's records, each once, with its deadline. A record
        it lists must be in the population; one already breaching is a finding, not due, and is
        left out here (so a due query need not repeat the breaches query's logic). Added to
        `due_into` when the engine has one (and None returned), else returned as a frame."""
        self._create("due", rule.due, f"{rule.id} due", temporary=True)
        try:
            columns = self._columns("due")
            lacking = [c for c in (*REQUIRED_OUTPUT, "deadline_at") if c not in columns]
            if lacking:
                raise RuleError(f"{rule.id}: due must return {', '.join(lacking)}")
            ((stray,),) = self._rows(f"SELECT count(*) FROM due d ANTI JOIN {pop} p USING (record_type, record_id)")
            if stray:
                raise RuleError(f"{rule.id}: due lists {stray} record(s) outside the population")
            listed = f"""SELECT DISTINCT ON (record_type, record_id)
                           {_sql_str(rule.id)} AS rule_id, {_sql_str(rule.finding)} AS finding,
                           {_sql_str(rule.severity)} AS severity, record_type, CAST(record_id AS VARCHAR) AS record_id,
                           CAST(district AS VARCHAR) AS district, CAST(deadline_at AS TIMESTAMPTZ) AS deadline_at,
                           {self._detail_sql(rule, columns, rule.due_detail)} AS detail
                    FROM due ANTI JOIN {br} USING (record_type, record_id)
                    ORDER BY record_type, record_id, deadline_at"""
            if self.due_into is not None:
                self.con.execute(f"INSERT INTO {self.due_into} {listed}")
                return None
            frame: pl.DataFrame = self.con.sql(listed).pl()
            return frame.cast(DUE_SCHEMA)  # type: ignore[arg-type]
        finally:
            self._drop("due")


class QueryTimeout(Exception):  # noqa: N818 - it names what happened, as DuckDB's own do
    """A query the watchdog interrupted (engine.query_seconds)."""


OFFENCE_CODE_FIELDS = frozenset({"offence_code", "disclosed_code"})
"""Detail placeholders that hold Home Office offence codes: shown with their catalogue titles."""
WORDED_FIELDS = frozenset({"decision", "no_crime_reason", "cancellation_authoriser_role", "source", "referrer_agency"})
"""Detail placeholders that hold contract codes (victim_declined): shown in words (victim declined)."""

FINDING_COLUMNS = ("rule_id", "finding", "record_type", "record_id")
"""What the `finding` view holds of each register row (with the kind's headline measure)."""

REGISTER_SCHEMA = dict.fromkeys((*REGISTER_COLUMNS, *REGISTER_EXTRA_COLUMNS), pl.String)
"""The register as the engine builds it: the contract's columns, then its extras; all text."""


def run_pack(
    pack: RulePack,
    reference: ReferenceData,
    as_of: datetime,
    tables: Mapping[str, pl.DataFrame],
    run_id: str,
    only: list[str] | None = None,
    disabled: list[str] | None = None,
    settings: EngineSettings | None = None,
    unusable: Mapping[tuple[str, str], str] | None = None,
    districts: list[str] | None = None,
) -> EngineResult:
    """Run every rule (or `only` these) and return per-rule results and the register rows.

    Accepted tables from validation are read in their own database, the pack's objects kept in
    a schema of their own that is dropped afterwards (so two packs can run on one loaded
    extract); frames given directly are run in a database of their own. `unusable` names the
    optional columns that are absent from the export or empty in every row (table, column ->
    why): a rule that needs one is reported as not run. A rule over `settings.query_seconds` is
    stopped and reported as not run."""
    seconds = (settings or EngineSettings()).query_seconds
    skipped = frozenset(
        rule.id for rule in pack.rules if (only and rule.id not in only) or skip_reason(rule, disabled, unusable or {})
    )
    if not isinstance(tables, AcceptedTables):
        with connect(settings) as con:
            return _run_pack(
                RuleEngine(
                    pack, reference, as_of, tables, con=con, districts=districts, query_seconds=seconds, skipped=skipped
                ),
                run_id,
                only,
                disabled,
                unusable or {},
            )
    con = tables.database.con
    schema = f"pack_{next(_SCHEMAS)}"
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"SET schema = '{schema}'")
    due_table = f"main.due_{schema}"  # outlives the pack's schema: the run writes and stores it
    con.register("due_shape", pl.DataFrame(schema=DUE_SCHEMA).to_arrow())  # DUE_SCHEMA in DuckDB's types
    try:
        con.execute(f"CREATE OR REPLACE TABLE {due_table} AS SELECT * FROM due_shape")
    finally:
        con.unregister("due_shape")
    try:
        engine = RuleEngine(
            pack,
            reference,
            as_of,
            tables,
            con=con,
            districts=districts,
            query_seconds=seconds,
            skipped=skipped,
            due_into=due_table,
        )
        result = _run_pack(engine, run_id, only, disabled, unusable or {})
        result.due_table = due_table
        return result
    finally:
        con.execute("SET schema = 'main'")
        con.execute(f"DROP SCHEMA {schema} CASCADE")


_SCHEMAS = itertools.count(1)


def skip_reason(rule: Rule, disabled: list[str] | None, unusable: Mapping[tuple[str, str], str]) -> str | None:
    """Why a rule will not run on this extract (disabled, or a column it needs unusable); None: it runs."""
    if disabled and rule.id in disabled:
        return "disabled in the config"
    return unmet_needs(rule, unusable) or None


def _run_pack(
    engine: RuleEngine,
    run_id: str,
    only: list[str] | None,
    disabled: list[str] | None,
    unusable: Mapping[tuple[str, str], str],
) -> EngineResult:
    started = time.perf_counter()
    pack = engine.pack
    results: list[RuleResult] = []
    registers = []
    for rule in pack.rules:
        if only and rule.id not in only:
            continue
        if reason := skip_reason(rule, disabled, unusable):
            results.append(RuleResult(rule, "not_run", reason))
            continue
        result, register = engine.run_rule(rule, run_id, unusable=unusable, disabled=disabled)
        results.append(result)
        if register is not None and register.height:
            registers.append(register.cast(REGISTER_SCHEMA))
    register_frame = pl.concat(registers) if registers else pl.DataFrame(schema=REGISTER_SCHEMA)
    ran = time.perf_counter()
    engine.expose_findings(register_frame)
    try:
        measures = {name: engine.measure(name, sql) for name, sql in pack.measures.items()}
    finally:
        engine.con.unregister("finding_rows")
    seconds = {**engine.timings, "rules": ran - started, "measures": time.perf_counter() - ran}
    return EngineResult(results, register_frame, seconds, measures)
