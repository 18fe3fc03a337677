"""Loading the rule pack: one YAML file per rule, checked strictly before anything runs.

The loader rejects unknown keys (naming file, line and the known keys), a file whose name and id
differ, duplicate ids, an unknown finding or severity, SQL that does not parse, and detail
templates that would put free text into the register.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.resources import RULES_DIR
from recordcheck.checks.base.schema import validate
from recordcheck.checks.base.yamlfile import MAX_YAML_BYTES, line_of, load_yaml, require_mapping
from recordcheck.checks.engine.rule_schema import PackFile, RuleFile
from recordcheck.checks.extract.contract import FINDINGS, FREE_TEXT_COLUMNS, SEVERITIES, TABLES
from recordcheck.checks.narrative.lexicon import LEXICON_DIR_NAME, Lexicons, load_lexicons
from recordcheck.checks.narrative.screen import SCOPE_VIEW, SCREEN_TABLES

STRATA = ("district", "referrer_agency", "offence_group", "month", "victim_group", "receiving_unit")
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
LIMIT_PLACEHOLDER = re.compile(r"\{limit:([a-z_][a-z0-9_]*)\}")


@dataclass(frozen=True)
class RuleCase:
    name: str
    given: dict[str, list[dict[str, Any]]]
    flagged: tuple[str, ...]
    not_flagged: tuple[str, ...]
    as_of: str | None = None
    absent: tuple[str, ...] = ()
    unusable: tuple[str, ...] = ()
    """table.column taken as absent from the case's export: the parts needing them do not run."""
    description: str = ""
    population: tuple[str, ...] | None = None
    """When given, exactly the records the rule's population must hold (the denominator of its
    rate), so a case pins down who is judged as well as who is flagged."""
    details: dict[str, str] = field(default_factory=dict)
    """record id -> text its register detail sentence must contain (what the auditor reads)."""
    due: dict[str, str] | None = None
    """When given, exactly the records the rule's due list must hold, with their deadlines (UTC)."""
    limits: dict[str, float] = field(default_factory=dict)
    """Limits in force for this case instead of the pack's (a bound too large to write out)."""

    @property
    def passing(self) -> bool:
        """A passing case expects nothing flagged."""
        return not self.flagged


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    title: str
    finding: str
    severity: str
    rationale: str
    reference: str
    requires: tuple[str, ...]
    strata: tuple[str, ...]
    population: str
    breaches: str
    detail: str
    path: Path
    family: str
    example: str = ""
    cases: tuple[RuleCase, ...] = field(default=())
    assumptions: tuple[str, ...] = ()
    """What the rule assumes where public text is silent; the report states each once, in an appendix."""
    evidence: tuple[str, ...] = ()
    """Breach columns an auditor's decision rests on: when one changes, the decision reopens.
    Default: the columns the detail sentence shows."""
    needs: tuple[tuple[str, str], ...] = ()
    due: str = ""
    """SQL over `population`: records not yet breaching that will at `deadline_at` ('' = none)."""
    due_detail: str = ""
    parts: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    """Independent sub-checks (name, the optional columns each needs): the SQL guards each with
    `checked('name')`, which the engine makes FALSE where a column is unusable, so one absent
    column costs its own sub-check and not the whole rule."""
    """(table, column) pairs of optional columns the rule cannot judge without: when one is absent
    from the export or empty in every row, the rule is reported as not run instead of raising
    false findings (or quietly none)."""

    def title_for(self, limits: dict[str, float]) -> str:
        """The title with its `{limit:NAME}` placeholders filled from the reference data in force,
        so a force's override (a 21-day victim update interval) shows in the words."""

        def value(match: re.Match[str]) -> str:
            number = limits[match.group(1)]
            return str(int(number)) if float(number).is_integer() else f"{number:g}"

        return LIMIT_PLACEHOLDER.sub(value, self.title)


@dataclass
class RulePack:
    name: str
    version: str
    description: str
    macros: dict[str, str]
    views: dict[str, str]
    measures: dict[str, str]
    rules: list[Rule]
    directory: Path
    digest: str = ""
    inline_views: tuple[str, ...] = ()
    """Views kept as views (computed by each query that reads them) rather than materialised:
    for a view that only adds a few columns to a materialised one, copying it costs more than
    computing it on the rows a rule selects."""
    spark_macros: dict[str, str] = field(default_factory=dict)
    """Spark SQL definitions of the macros whose DuckDB body would change meaning on Spark."""
    case_defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per table, the value a test case's row takes for a column it leaves out."""
    lexicons: Lexicons | None = None
    """The narrative screen's cue lexicons and assertion terms (`lexicons/`); None: no screen."""

    @property
    def screens(self) -> bool:
        """Whether a rule of this pack reads the narrative screen's tables (so the screen runs)."""
        return self.lexicons is not None and any(reads_screen(rule) for rule in self.rules)

    @property
    def reference_dir(self) -> Path:
        """The pack's own reference data: a pack given with --rules brings its own."""
        return self.directory / "reference"

    @property
    def suites_dir(self) -> Path:
        return self.directory / "expectations"

    def for_rules(self, rules: list[Rule]) -> RulePack:
        """This pack with only the views these rules read, directly or through other views (in
        the pack's order): one rule's cases need not build, nor an engine analyse, the rest."""
        wanted: set[str] = set()
        stack = [name for rule in rules for sql in (rule.population, rule.breaches) for name in _tables_in(sql, self.views)]
        if SCOPE_VIEW in self.views and any(reads_screen(rule) for rule in rules):
            stack.append(SCOPE_VIEW)  # the screen reads it
        while stack:
            name = stack.pop()
            if name not in wanted:
                wanted.add(name)
                stack.extend(_tables_in(self.views[name], self.views))
        views = {name: sql for name, sql in self.views.items() if name in wanted}
        inline = tuple(v for v in self.inline_views if v in wanted)
        return dataclasses.replace(self, views=views, inline_views=inline, rules=list(rules))

    def get(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id.upper() == rule_id.upper() or rule.name == rule_id.lower():
                return rule
        raise ConfigError(f"no rule {rule_id!r} in {self.directory}; known: {', '.join(r.id for r in self.rules)}")


@functools.lru_cache(maxsize=512)
def _table_names(sql: str) -> frozenset[str]:
    return frozenset(table.name for table in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table))


def _tables_in(sql: str, views: Mapping[str, str]) -> set[str]:
    """The pack views a query names (a CTE that shares a view's name only adds a view)."""
    return set(_table_names(sql)) & set(views)


@functools.cache
def _sql_parser() -> duckdb.DuckDBPyConnection:
    """One in-memory connection that only parses SQL (opening one for each query cost 13 ms, a
    third of every start-up)."""
    return duckdb.connect()


_PARSER_LOCK = threading.Lock()


def _check_sql(sql: str, path: Path, line: int | str, key: str) -> None:
    """Parse (not bind) the SQL, so a typo is caught at load time, not mid-run; and confine it to
    one query. A rule, view or measure is one SELECT (or WITH ... SELECT), never a second
    statement that could write a file or change a setting."""
    _one_statement(sql, "SELECT", path, line, key)
    if error := _parse_error(sql):
        raise ConfigError(f"{path} line {line}: {key} SQL does not parse ({error})")


@functools.lru_cache(maxsize=512)
def _parse_error(sql: str) -> str | None:
    """DuckDB's parse error for the SQL, or None: a function of the text alone, so a process that
    loads the pack night after night (tests, `rules diff`) parses each query once."""
    with _PARSER_LOCK:
        text = str(_sql_parser().execute("SELECT json_serialize_sql(?::VARCHAR)", [sql]).fetchall()[0][0])
    if '"error":true' not in text.replace(" ", ""):
        return None
    message = re.search(r'"error_message":"(.*?)"', text)
    return message.group(1) if message else "syntax error"


def _one_statement(sql: str, kind: str, path: Path, line: int | str, key: str) -> None:
    """Exactly one statement, of the kind allowed, by DuckDB's own statement splitter."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"{path} line {line}: {key} SQL does not parse ({str(exc).splitlines()[0]})") from None
    kinds = [s.type.name for s in statements]
    if kinds != [kind]:
        found = ", ".join(kinds) or "nothing"
        raise ConfigError(
            f"{path} line {line}: {key} must be one {kind} statement; found {found}. "
            "Rules, views, measures and macros cannot run other statements."
        )


def _check_macro(name: str, definition: str, path: Path, line: int | str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ConfigError(f"{path} line {line}: macro name {name!r} must be lower-case letters, digits and _")
    _one_statement(f"CREATE MACRO {name}{definition}", "CREATE", path, line, f"macro {name}")


def _case(case: dict[str, Any], path: Path) -> RuleCase:
    """One case, its shape already checked by the rule's schema; its tables checked here."""
    given = case["given"]
    for table in given:
        if table not in TABLES:
            raise ConfigError(
                f"{path} line {line_of(given, table)}: test case {case['name']!r} gives unknown table "
                f"{table!r}; known tables: {', '.join(TABLES)}"
            )
    return RuleCase(
        name=str(case["name"]),
        given={t: [dict(r) for r in (rows or [])] for t, rows in given.items()},
        flagged=tuple(str(x) for x in case.get("flagged") or []),
        not_flagged=tuple(str(x) for x in case.get("not_flagged") or []),
        as_of=None if case.get("as_of") is None else str(case["as_of"]),
        absent=tuple(str(x) for x in case.get("absent") or []),
        unusable=tuple(str(x) for x in case.get("unusable") or []),
        description=str(case.get("description") or ""),
        population=None if case.get("population") is None else tuple(str(x) for x in case["population"]),
        details={str(k): str(v) for k, v in (case.get("details") or {}).items()},
        due=None if case.get("due") is None else {str(k): str(v) for k, v in case["due"].items()},
        limits={str(k): float(v) for k, v in (case.get("limits") or {}).items()},
    )


_LOADED_RULES: dict[tuple[str, bytes], Rule] = {}


def load_rule(path: Path) -> Rule:
    """The rule in one file, checked. A file read before with the same bytes gives the same
    (immutable) Rule: a process that loads the pack for every run parses each file once."""
    if not path.is_file() or path.stat().st_size > MAX_YAML_BYTES:
        return _load_rule(path)  # load_yaml says what is wrong with it
    key = (str(path), hashlib.sha256(path.read_bytes()).digest())
    if (rule := _LOADED_RULES.get(key)) is None:
        rule = _LOADED_RULES[key] = _load_rule(path)
    return rule


def _load_rule(path: Path) -> Rule:
    raw = require_mapping(load_yaml(path), path, "the rule")
    validate(RuleFile, raw, path, "the rule")
    rule_id = str(raw["id"])
    if rule_id != path.stem:
        raise ConfigError(f"{path} line {line_of(raw, 'id')}: id {rule_id!r} differs from the file name {path.stem!r}")
    if raw["finding"] not in FINDINGS:
        raise ConfigError(
            f"{path} line {line_of(raw, 'finding')}: finding {raw['finding']!r} is not one of {', '.join(FINDINGS)}"
        )
    if raw["severity"] not in SEVERITIES:
        raise ConfigError(f"{path} line {line_of(raw, 'severity')}: severity must be one of {', '.join(SEVERITIES)}")
    requires = tuple(str(t) for t in raw["requires"] or [])
    for table in requires:
        if table not in TABLES:
            raise ConfigError(f"{path} line {line_of(raw, 'requires')}: requires unknown table {table!r}")
    needs = tuple(_needed_column(str(item), path, raw) for item in raw.get("needs") or [])
    parts = tuple(
        (str(name), tuple(_needed_column(str(item), path, raw) for item in columns or []))
        for name, columns in (raw.get("parts") or {}).items()
    )
    guarded = set(PART_GUARD.findall(str(raw["population"]) + "\n" + str(raw["breaches"])))
    if guarded != {name for name, _ in parts}:
        raise ConfigError(
            f"{path} line {line_of(raw, 'parts') if parts else line_of(raw, 'breaches')}: each part is guarded "
            f"by checked('NAME') in the SQL and each guard names a part; parts: "
            f"{', '.join(n for n, _ in parts) or 'none'}; guards: {', '.join(sorted(guarded)) or 'none'}"
        )
    strata = tuple(str(s) for s in raw.get("strata") or ("district",))
    for stratum in strata:
        if stratum not in STRATA:
            raise ConfigError(
                f"{path} line {line_of(raw, 'strata')}: unknown stratum {stratum!r}; known: {', '.join(STRATA)}"
            )
    for key in ("population", "breaches", "due"):
        if raw.get(key):
            _check_sql(str(raw[key]), path, line_of(raw, key), key)
    if bool(raw.get("due")) != bool(raw.get("due_detail")):
        raise ConfigError(
            f"{path} line {line_of(raw, 'due') if raw.get('due') else line_of(raw, 'due_detail')}: "
            "due and due_detail go together"
        )
    due_detail = str(raw.get("due_detail") or "").strip()
    for name in PLACEHOLDER.findall(due_detail):
        if name in FREE_TEXT_COLUMNS:
            raise ConfigError(f"{path} line {line_of(raw, 'due_detail')}: due_detail may not quote free text ({{{name}}})")
    detail = str(raw["detail"]).strip()
    for name in PLACEHOLDER.findall(detail):
        if name in FREE_TEXT_COLUMNS:
            raise ConfigError(
                f"{path} line {line_of(raw, 'detail')}: detail may not quote free text ({{{name}}}); "
                "build it from codes, dates and ids"
            )
    evidence = tuple(str(c) for c in raw.get("evidence") or PLACEHOLDER.findall(detail))
    for name in evidence:
        if name in FREE_TEXT_COLUMNS:
            raise ConfigError(f"{path} line {line_of(raw, 'evidence')}: evidence may not use free text ({name})")
    cases = tuple(_case(c, path) for c in raw["tests"] or [])
    return Rule(
        id=rule_id,
        name=str(raw["name"]),
        title=str(raw["title"]).strip(),
        finding=str(raw["finding"]),
        severity=str(raw["severity"]),
        rationale=str(raw["rationale"]).strip(),
        reference=str(raw["reference"]).strip(),
        requires=requires,
        needs=needs,
        parts=parts,
        evidence=evidence,
        strata=strata,
        population=str(raw["population"]).strip(),
        breaches=str(raw["breaches"]).strip(),
        detail=detail,
        due=str(raw.get("due") or "").strip(),
        due_detail=due_detail,
        path=path,
        family=path.parent.name,
        example=str(raw.get("example") or "").strip(),
        cases=cases,
        assumptions=tuple(" ".join(str(a).split()) for a in raw.get("assumptions") or []),
    )


def _needed_column(item: str, path: Path, raw: dict[str, Any]) -> tuple[str, str]:
    table, _, column = item.partition(".")
    if table not in TABLES or column not in TABLES[table].column_names:
        raise ConfigError(
            f"{path} line {line_of(raw, 'needs')}: needs {item!r}, which is not a contract column "
            "(write table.column, e.g. crimes.cancellation_code)"
        )
    if TABLES[table].column(column).required:
        raise ConfigError(
            f"{path} line {line_of(raw, 'needs')}: {item} is required by the contract; needs lists optional columns"
        )
    return table, column


def load_pack(directory: Path = RULES_DIR) -> RulePack:
    """Load pack.yaml and every rule file under directory/<family>/."""
    pack_path = directory / "pack.yaml"
    raw = require_mapping(load_yaml(pack_path), pack_path, "the pack")
    validate(PackFile, raw, pack_path, "the pack")
    case_defaults = {str(t): dict(cols or {}) for t, cols in (raw.get("case_defaults") or {}).items()}
    unknown_tables = [name for name in case_defaults if name not in TABLES]
    if unknown_tables:
        raise ConfigError(
            f"{pack_path} line {line_of(raw, 'case_defaults')}: case_defaults names no table {', '.join(unknown_tables)}"
        )
    macros = {str(k): str(v) for k, v in (raw.get("macros") or {}).items()}
    views = {str(k): str(v) for k, v in (raw.get("views") or {}).items()}
    measures = {str(k): str(v) for k, v in (raw.get("measures") or {}).items()}
    inline_views = tuple(str(v) for v in raw.get("inline_views") or ())
    spark_definitions = {str(k): str(v) for k, v in (raw.get("spark_macros") or {}).items()}
    unknown_macros = [name for name in spark_definitions if name not in macros]
    if unknown_macros:
        raise ConfigError(
            f"{pack_path} line {line_of(raw, 'spark_macros')}: spark_macros names no macro {', '.join(unknown_macros)}"
        )
    unknown_views = [v for v in inline_views if v not in views]
    if unknown_views:
        raise ConfigError(
            f"{pack_path} line {line_of(raw, 'inline_views')}: inline_views names no view {', '.join(unknown_views)}"
        )
    for section, names in (("macros", macros), ("views", views), ("measures", measures)):
        for name in names:
            # a name is an identifier: statements cannot ride in it, and it cannot replace a table
            if not IDENTIFIER.match(name) or (section != "measures" and name in RESERVED_NAMES):
                raise ConfigError(
                    f"{pack_path} line {line_of(raw.get(section), name)}: {section} name {name!r} must be a "
                    "lower-case identifier (letters, digits, _) and not a contract table or one the engine keeps"
                    + (f" ({name})" if name in RESERVED_NAMES else "")
                )
    for name, definition in macros.items():
        _check_macro(name, definition, pack_path, line_of(raw.get("macros"), name))
    for section, queries in (("views", views), ("measures", measures)):
        for name, sql in queries.items():
            _check_sql(sql, pack_path, line_of(raw.get(section), name), f"{section} {name}")
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    digest = hashlib.sha256(pack_path.read_bytes())
    for path in sorted(directory.glob("*/*.yaml")):
        if path.parent.name in ("reference", "expectations", "schema", LEXICON_DIR_NAME):
            continue
        rule = load_rule(path)
        if rule.id in seen:
            raise ConfigError(f"{path}: duplicate rule id {rule.id} (also in {seen[rule.id]})")
        if rule.name in {r.name for r in rules}:
            raise ConfigError(f"{path}: duplicate rule name {rule.name}")
        seen[rule.id] = path
        rules.append(rule)
    if not rules:
        raise ConfigError(f"{directory}: no rule files found (expected <family>/<ID>.yaml)")
    for sub in ("reference", "expectations"):
        if not (directory / sub).is_dir():
            raise ConfigError(f"{directory}: the pack has no {sub}/ folder (a pack brings its own {sub})")
    # the hash covers every file the run reads from the pack: rules, reference data and suites
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in (".yaml", ".csv", ".json")):
        if path != pack_path and path.parent.name != "schema":
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return RulePack(
        name=str(raw["name"]),
        version=str(raw["version"]),
        description=str(raw.get("description") or "").strip(),
        macros=macros,
        views=views,
        measures=measures,
        rules=rules,
        directory=directory,
        digest=digest.hexdigest(),
        inline_views=inline_views,
        spark_macros=spark_definitions,
        case_defaults=case_defaults,
        lexicons=load_lexicons(directory / LEXICON_DIR_NAME),
    )


def reads_screen(rule: Rule) -> bool:
    """Whether the rule's SQL reads a table the narrative screen writes."""
    return any(set(SCREEN_TABLES) & _table_names(sql) for sql in (rule.population, rule.breaches))


IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
RESERVED_NAMES = frozenset(
    {
        *TABLES,
        *SCREEN_TABLES,
        "population",
        "breaches",
        "untagged",
        "finding",
        "finding_rows",
        "authority_list",
        "judged_record",
        "limits",
        "offence_catalogue",
        "outcome_list",
        "outcome_type",
        "reason_list",
        "reason_period",
        "run_settings",
    }
)
"""Names a pack may not give a macro or view: the contract's tables and the engine's own (a
measure is a query whose rows go to measures.json, never a table, so it may share a name)."""

PART_GUARD = re.compile(r"\b(?i:checked)\s*\(\s*'([a-z_]+)'\s*\)")
"""A sub-check's guard in a rule's SQL: checked('name'), in any case, as SQL names are (SQLGlot
writes it CHECKED('name'): the mutation run's round trip of CAN001 failed on the lower-case match)."""


def parts_not_run(
    rule: Rule, unusable: Mapping[tuple[str, str], str], disabled: list[str] | None = None
) -> list[tuple[str, str]]:
    """(part, why) for each of the rule's parts the config disables (rules.disable: ID.part) or a
    column it needs is unusable for."""
    skipped = []
    for name, columns in rule.parts:
        if f"{rule.id}.{name}" in (disabled or []):
            skipped.append((name, "disabled in the config"))
            continue
        missing = [f"{t}.{c} ({unusable[(t, c)]})" for t, c in columns if (t, c) in unusable]
        if missing:
            skipped.append((name, "needs " + ", ".join(missing)))
    return skipped


def with_parts(sql: str, skipped: set[str]) -> str:
    """The SQL with each checked('part') guard made TRUE, or FALSE for a part that cannot run."""
    return PART_GUARD.sub(lambda m: "FALSE" if m.group(1) in skipped else "TRUE", sql)


def unmet_needs(rule: Rule, unusable: Mapping[tuple[str, str], str]) -> str:
    """'needs crimes.a, crimes.b (not in the export); crimes.c (empty in every row of 'X')', or ''."""
    by_why: dict[str, list[str]] = {}
    for table, column in rule.needs:
        if (table, column) in unusable:
            by_why.setdefault(unusable[(table, column)], []).append(f"{table}.{column}")
    return "needs " + "; ".join(f"{', '.join(cols)} ({why})" for why, cols in by_why.items()) if by_why else ""


def rules_that_cannot_run(
    pack: RulePack, present: list[str], unusable: Mapping[tuple[str, str], str]
) -> list[tuple[str, str]]:
    """(rule id, why) for each rule the export cannot feed: a table absent, or a needed column
    absent or empty; and (rule id.part, why) for each part of a rule that runs without it. The
    same reasons the engine gives when it skips them."""
    unable = []
    for rule in pack.rules:
        missing = [t for t in rule.requires if t not in present]
        if missing:
            unable.append((rule.id, f"table absent: {', '.join(missing)}"))
        elif reason := unmet_needs(rule, unusable):
            unable.append((rule.id, reason))
        else:
            unable += [
                (f"{rule.id}.{part}", f"{why}; the rest of {rule.id} runs") for part, why in parts_not_run(rule, unusable)
            ]
    return unable


def table_readers(
    pack: RulePack, present: list[str], unusable: Mapping[tuple[str, str], str], disabled: list[str]
) -> dict[str, list[str]]:
    """Table -> the ids of the rules that will run and read it (enabled, and fed by this export)."""
    unable = {rule_id for rule_id, _ in rules_that_cannot_run(pack, present, unusable) if "." not in rule_id}
    readers: dict[str, list[str]] = {}
    for rule in pack.rules:
        if rule.id not in unable and rule.id not in disabled:
            for table in rule.requires:
                readers.setdefault(table, []).append(rule.id)
    return readers
