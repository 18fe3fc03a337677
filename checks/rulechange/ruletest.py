"""Run a rule's own YAML test cases: tiny inline tables in, exact flagged ids out.

The inline rows go through the same parser as a real extract (so '2026-03-29T01:30' is London
time and a bad value fails the case loudly), but not through Great Expectations: the cases test
the rule, not the extract. Columns a case leaves out take the pack's `case_defaults`
(`pack.yaml`), so a case states only what matters to it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from recordcheck.checks.base.refdata import ReferenceData, with_limits
from recordcheck.checks.engine.engine import BATCH_SEPARATOR, RuleEngine
from recordcheck.checks.engine.rules import Rule, RuleCase, RulePack
from recordcheck.checks.extract.contract import RECORD_KEYS, TABLES
from recordcheck.checks.extract.parse import parse_table
from recordcheck.checks.extract.profile import SourceProfile, load_profile
from recordcheck.checks.extract.reader import ROW, RawTable

DEFAULT_CASE_AS_OF = "2026-04-01T00:00:00Z"
MOST_CASE_WORKERS = 4
"""The most cases (or mutants) judged side by side on DuckDB, whatever the machine."""


def case_workers() -> int:
    """Cases judged side by side on DuckDB: one for each core this process may use, at most
    MOST_CASE_WORKERS. Each case has a database of its own, and DuckDB lets go of Python's lock
    while it plans and runs a query (the 108 cases on two cores: 9.7 s one at a time, 6.1 s two)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MOST_CASE_WORKERS, cores))


@dataclass(frozen=True)
class CaseOutcome:
    rule_id: str
    case: str
    passed: bool
    message: str
    error: bool = False
    """The case could not run at all (its tables, or the SQL, were refused): not a verdict."""


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@functools.cache
def _canonical_profile() -> SourceProfile:
    return load_profile()


@functools.cache
def _empty_table(name: str) -> pl.DataFrame:
    """A table the case gives no rows: the parser's typed empty frame, made once (most of a
    case's tables are empty, and parsing each cost more than the rule's own queries; a Polars
    frame is never changed in place, so the one frame serves every case)."""
    typed, _ = parse_table(RawTable(name, Path(f"{name}.yaml"), _raw_frame(name, {})), _canonical_profile())
    return typed


def _raw_frame(name: str, data: dict[str, list[str | None]]) -> pl.DataFrame:
    """The case's rows as the reader gives a table: text columns after a row number."""
    columns = TABLES[name].column_names
    frame = pl.DataFrame(data or None, schema={c: pl.String for c in columns}).with_row_index(ROW, offset=1)
    return frame.with_columns(pl.col(ROW).cast(pl.Int64))


def case_tables(case: RuleCase, defaults: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, pl.DataFrame]:
    """The case's rows as parsed contract tables; a column a row leaves out takes `defaults`."""
    defaults = defaults or {}
    profile = _canonical_profile()
    tables: dict[str, pl.DataFrame] = {}
    for name, contract in TABLES.items():
        if name in case.absent:
            continue
        rows = case.given.get(name, [])
        if not rows:
            tables[name] = _empty_table(name)
            continue
        columns = contract.column_names
        for row in rows:
            unknown = [k for k in row if k not in columns]
            if unknown:
                raise ValueError(f"table {name} has no column(s) {', '.join(unknown)}")
        data = {col: [_text(row.get(col, defaults.get(name, {}).get(col))) for row in rows] for col in columns}
        frame = _raw_frame(name, data)
        typed, problems = parse_table(RawTable(name, Path(f"{name}.yaml"), frame), profile)
        if problems.height:
            first = problems.row(0, named=True)
            raise ValueError(f"table {name} row {first['row_number']}: {first['reason']}")
        tables[name] = typed
    return tables


def as_of_of(case: RuleCase) -> datetime:
    text = (case.as_of or DEFAULT_CASE_AS_OF).replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        from recordcheck.checks.base.london import LONDON

        moment = moment.replace(tzinfo=LONDON)
    return moment.astimezone(UTC)


class EngineFactory(Protocol):
    """Builds the engine a case runs on: DuckDB by default, Spark for `rules test --engine spark`;
    `batches` for a batch of cases (`RuleEngine(batches=...)`)."""

    def __call__(
        self,
        pack: RulePack,
        reference: ReferenceData,
        as_of: datetime,
        tables: dict[str, pl.DataFrame],
        batches: tuple[str, ...] = (),
    ) -> RuleEngine: ...


def duckdb_engine(
    pack: RulePack,
    reference: ReferenceData,
    as_of: datetime,
    tables: dict[str, pl.DataFrame],
    batches: tuple[str, ...] = (),
) -> RuleEngine:
    return RuleEngine(pack, reference, as_of, tables, threads=1, batches=batches)


def run_case(
    pack: RulePack, reference: ReferenceData, rule: Rule, case: RuleCase, engine_for: EngineFactory = duckdb_engine
) -> CaseOutcome:
    where = f"{rule.id} case {case.name!r} ({rule.path})"
    try:
        judged = _judge(pack, reference, [rule], case, engine_for, where)[rule.id][""]
    except Exception as exc:  # noqa: BLE001 - a broken case is a failed case, reported plainly
        return CaseOutcome(rule.id, case.name, False, f"{where}: could not run: {exc}", error=True)
    return _verdict(rule, case, judged)


@dataclass(frozen=True)
class _Judged:
    """What one engine run of a rule gave a case: enough for its verdict."""

    status: str
    details: dict[str, str]
    population_ids: frozenset[str] | None
    due: Any
    lists_due: bool


def _judge(
    pack: RulePack,
    reference: ReferenceData,
    rules: list[Rule],
    case: RuleCase,
    engine_for: EngineFactory,
    where: str,
    batches: tuple[str, ...] = (),
) -> dict[str, dict[str, _Judged]]:
    """Each rule run once over the case's tables, in one engine: rule id -> batch -> what it
    gave (the one batch '' when the case is not a batch of cases)."""
    if case.limits:
        reference = with_limits(reference, case.limits, where)
    tables = case_tables(case, pack.case_defaults)
    engine = engine_for(pack.for_rules(rules), reference, as_of_of(case), tables, batches=batches)
    try:
        unusable = {(t, c): "absent in the case" for t, _, c in (item.partition(".") for item in case.unusable)}
        judged: dict[str, dict[str, _Judged]] = {}
        for rule in rules:
            result, register = engine.run_rule(rule, "test", population_ids=case.population is not None, unusable=unusable)
            if not batches:
                details = register_details(register)
                judged[rule.id] = {"": _Judged(result.status, details, result.population_ids, result.due, engine.lists_due)}
                continue
            by_batch = _details_by_batch(register)
            judged[rule.id] = {
                batch: _Judged(result.status, by_batch.get(batch, {}), _own_ids(result.population_ids, batch), None, False)
                for batch in batches
            }
        return judged
    finally:
        engine.close()


def _own_ids(held: frozenset[str] | None, batch: str) -> frozenset[str] | None:
    """A batch's own record ids, untagged, of a batched run's population ids."""
    tag = batch + BATCH_SEPARATOR
    return None if held is None else frozenset(rid[len(tag) :] for rid in held if rid.startswith(tag))


def _verdict(rule: Rule, case: RuleCase, judged: _Judged) -> CaseOutcome:
    where = f"{rule.id} case {case.name!r} ({rule.path})"
    if case.absent:
        if judged.status != "not_run":
            return CaseOutcome(rule.id, case.name, False, f"{where}: expected 'not run' with {case.absent} absent")
        return CaseOutcome(rule.id, case.name, True, "")
    details = judged.details
    flagged, expected = set(details), set(case.flagged)
    problems = []
    if case.population is not None and judged.population_ids != frozenset(case.population):
        held = judged.population_ids or frozenset()
        if outside := sorted(held - set(case.population)):
            problems.append(f"population holds {', '.join(outside)}, which the case leaves out")
        if left_out := sorted(set(case.population) - held):
            problems.append(f"population lacks {', '.join(left_out)}")
    for record_id, text in sorted(case.details.items()):
        if text not in details.get(record_id, ""):
            problems.append(f"detail of {record_id} should contain {text!r}; it reads {details.get(record_id)!r}")
    if case.due is not None and judged.lists_due:  # an engine that lists no due (Spark) is held to the rest
        problems += _due_problems(case.due, judged.due)
    if missed := sorted(expected - flagged):
        problems.append(f"should flag {', '.join(missed)} but did not")
    if wrongly := sorted(flagged & set(case.not_flagged)):
        problems.append(f"must not flag {', '.join(wrongly)} but did")
    elif extra := sorted(flagged - expected):
        problems.append(f"flagged {', '.join(extra)}, which the case does not expect")
    if problems:
        return CaseOutcome(rule.id, case.name, False, f"{where}: " + "; ".join(problems))
    return CaseOutcome(rule.id, case.name, True, "")


def _batch_key(case: RuleCase) -> tuple[Any, ...]:
    """Cases one engine can judge: the same night, limits and missing tables or columns."""
    return (case.as_of, tuple(sorted(case.limits.items())), case.absent, case.unusable)


def _batches(rules: list[Rule], workers: int) -> list[list[tuple[Rule, RuleCase]]]:
    """The rules' cases in batches: those of one batch key together, split by rule into as many
    batches as there are workers (a rule's cases stay together, so it runs once; the largest rules
    first, each to the batch with fewest cases)."""
    keyed: dict[tuple[Any, ...], dict[str, list[tuple[Rule, RuleCase]]]] = {}
    for rule in rules:
        for case in rule.cases:
            keyed.setdefault(_batch_key(case), {}).setdefault(rule.id, []).append((rule, case))
    batches: list[list[tuple[Rule, RuleCase]]] = []
    for by_rule in keyed.values():
        chunks: list[list[tuple[Rule, RuleCase]]] = [[] for _ in range(max(1, min(workers, len(by_rule))))]
        for members in sorted(by_rule.values(), key=len, reverse=True):
            min(chunks, key=len).extend(members)
        batches += chunks
    return batches


def _tag(case: RuleCase, batch: str, defaults: Mapping[str, Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The case's rows, defaults filled in, with every record and person key tagged with `batch`
    as the engine's batched mode reads them (BATCH_SEPARATOR)."""
    return {
        table: [
            {
                column: f"{batch}{BATCH_SEPARATOR}{value}" if column in RECORD_KEYS and value is not None else value
                for column, value in {**defaults.get(table, {}), **row}.items()
            }
            for row in rows
        ]
        for table, rows in case.given.items()
    }


def run_batch(
    pack: RulePack, reference: ReferenceData, members: list[tuple[Rule, RuleCase]], engine_for: EngineFactory
) -> list[CaseOutcome]:
    """Cases that share a batch key (of one rule or several), judged by one engine over all their
    rows in its batched mode (each case a batch: its keys tagged apart, its results and register
    rows the engine's own for it), each rule run once (an engine whose every query waits
    on a scheduler, Spark, pays per run and per view, not per row). Each case is held to its own
    rule and its own records. A batch in which any case fails, or which cannot run, is judged
    again case by case, and those verdicts stand: rows of one case can only meet another's through
    a column that is not a key, and the single run is the case as written. A batch never lists due
    items (a rule's due list is the single run's to check)."""
    if len(members) == 1:
        rule, case = members[0]
        return [run_case(pack, reference, rule, case, engine_for)]
    tags = tuple(f"k{number}" for number in range(len(members)))
    given: dict[str, list[dict[str, Any]]] = {}
    for (_, case), tag in zip(members, tags, strict=True):
        for table, rows in _tag(case, tag, pack.case_defaults).items():
            given.setdefault(table, []).extend(rows)
    first = members[0][1]
    batch = RuleCase(
        name=f"{len(members)} cases",
        given=given,
        flagged=(),
        not_flagged=(),
        as_of=first.as_of,
        absent=first.absent,
        unusable=first.unusable,
        population=() if any(case.population is not None for _, case in members) else None,
        limits=first.limits,
    )
    rules = list({rule.id: rule for rule, _ in members}.values())
    try:
        judged = _judge(pack, reference, rules, batch, engine_for, f"a batch of {len(members)} cases", tags)
    except Exception:  # noqa: BLE001 - judged again case by case, where the error is reported
        judged = None
    if judged is not None:
        outcomes = [_verdict(rule, case, judged[rule.id][tag]) for (rule, case), tag in zip(members, tags, strict=True)]
        if all(outcome.passed for outcome in outcomes):
            return outcomes
    return [run_case(pack, reference, rule, case, engine_for) for rule, case in members]


def _due_problems(expected: dict[str, str], due: Any) -> list[str]:
    """The case's due list against the rule's: the same records, each deadline to the second."""
    if due is None:
        return ["expects a due list, but the rule lists none on this engine"]
    listed = {
        str(record_id): deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for record_id, deadline in due.select("record_id", "deadline_at").iter_rows()
    }
    wanted = {
        record_id: datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for record_id, text in expected.items()
    }
    problems = []
    if missing := sorted(set(wanted) - set(listed)):
        problems.append(f"should list {', '.join(missing)} as due but did not")
    if extra := sorted(set(listed) - set(wanted)):
        problems.append(f"listed {', '.join(extra)} as due, which the case does not expect")
    problems += [
        f"due {record_id} at {listed[record_id]}, the case says {deadline}"
        for record_id, deadline in sorted(wanted.items())
        if record_id in listed and listed[record_id] != deadline
    ]
    return problems


def register_details(register: Any) -> dict[str, str]:
    """record id -> detail sentence of one rule's register rows: a Polars frame, or another
    engine's frame that can select and collect (Spark's; a case's register is a handful of rows,
    fetched once for the flagged ids and the sentences alike)."""
    if register is None:
        return {}
    if isinstance(register, pl.DataFrame):
        return dict(zip(register["record_id"].to_list(), register["detail"].to_list(), strict=True))
    return {str(row[0]): str(row[1]) for row in register.select("record_id", "detail").collect()}


def _details_by_batch(register: Any) -> dict[str, dict[str, str]]:
    """batch -> record id -> detail sentence, of a batched run's register rows (led by `force`,
    the batch; fetched once for every case of the batch)."""
    if register is None:
        return {}
    if isinstance(register, pl.DataFrame):
        rows = register.select("force", "record_id", "detail").iter_rows()
    else:
        rows = (tuple(row) for row in register.select("force", "record_id", "detail").collect())
    details: dict[str, dict[str, str]] = {}
    for batch, record_id, detail in rows:
        details.setdefault(str(batch), {})[str(record_id)] = str(detail)
    return details


def run_cases(
    pack: RulePack,
    reference: ReferenceData,
    only: list[str] | None = None,
    engine_for: EngineFactory = duckdb_engine,
    workers: int = 1,
    batched: bool = False,
) -> list[CaseOutcome]:
    """Every case of every rule (or `only` these), in the pack's order. `workers` > 1 runs cases
    side by side, and `batched` runs the cases that share a night in an engine each, split over
    the workers (`run_batch`): both for an engine whose every query waits on a scheduler, Spark."""
    selected = [rule for rule in pack.rules if not only or rule.id in only]
    if batched:
        batches = _batches(selected, workers)
        with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
            judged = list(pool.map(lambda members: run_batch(pack, reference, members, engine_for), batches))
        by_case = {
            (rule.id, case.name): outcome
            for members, outcomes in zip(batches, judged, strict=True)
            for (rule, case), outcome in zip(members, outcomes, strict=True)
        }
        return [by_case[(rule.id, case.name)] for rule in selected for case in rule.cases]
    cases = [(rule, case) for rule in selected for case in rule.cases]
    if workers <= 1:
        return [run_case(pack, reference, rule, case, engine_for) for rule, case in cases]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda item: run_case(pack, reference, item[0], item[1], engine_for), cases))
