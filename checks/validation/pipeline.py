"""The front half of every run: read the extract, parse it, validate it, quarantine bad rows.

Tables are streamed: each batch of rows is read, mapped through the profile, parsed, and
appended to its `parsed_<table>` table in the run's DuckDB database, so memory stays flat while
the extract grows (DuckDB holds the tables under its memory limit and spills past it). Validation
then runs where the tables are, and leaves the accepted rows there for the rule pack.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.base.database import DUCKDB_TYPES, Database, EngineSettings
from recordcheck.checks.base.london import LONDON
from recordcheck.checks.base.refdata import ReferenceData
from recordcheck.checks.base.resources import SUITES_DIR
from recordcheck.checks.extract.contract import EARLIEST_YEAR, TABLES, Table
from recordcheck.checks.extract.coverage import TableCoverage, measure_coverage, unusable_columns
from recordcheck.checks.extract.link_columns import LinkColumn, candidate_columns, sample_tokens, unlinked_columns
from recordcheck.checks.extract.parse import PROBLEM_SCHEMA, parse_table
from recordcheck.checks.extract.profile import SourceProfile
from recordcheck.checks.extract.reader import ORIGIN, ROW, RawTable, TableSource, link_builders, links_from, open_extract
from recordcheck.checks.validation.runners import SuiteRunner, make_runner
from recordcheck.checks.validation.seam import parsed_table
from recordcheck.checks.validation.validate import CODE_CHECKS, ValidationResult, validate


@dataclass(frozen=True)
class InputFile:
    table: str
    path: Path
    size_bytes: int
    sha256: str


@dataclass
class LoadedExtract:
    validation: ValidationResult
    files: list[InputFile]
    database: Database
    """Holds the accepted tables until the run is over; close() when done."""
    timings: dict[str, float] = field(default_factory=dict)
    coverage: dict[str, TableCoverage] = field(default_factory=dict)
    """Per table: which force column fills each canonical one, and how full it is."""
    defaulted: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    """(table, derived column) -> {source code: rows} that took the derive map's default."""
    link_columns: list[LinkColumn] = field(default_factory=list)
    """Unused force columns that mostly name crimes of the export: links the profile left out."""

    @property
    def unusable(self) -> dict[tuple[str, str], str]:
        """Optional columns absent or empty: the rules that need them do not run."""
        return unusable_columns(self.coverage)

    def close(self) -> None:
        self.database.close()

    def profile_gaps(self, readers: dict[str, list[str]], config: RunConfig) -> tuple[list[str], list[str]]:
        """What the profile left out that the rules need: rows a rule reads set aside for codes it
        does not map, and force columns naming crimes that no link builder reads. Returns (reasons
        the night is incomplete, warnings), as the config's validation.unmapped_codes and
        validation.unlinked_columns place each kind."""
        incomplete: list[str] = []
        warnings: list[str] = []
        for mode, found in (
            (config.unmapped_codes, self.unmapped_code_reasons(readers)),
            (config.unlinked_columns, [column.reason for column in self.link_columns]),
        ):
            (warnings if mode == "warn" else incomplete).extend(found)
        return incomplete, warnings

    def date_order_advice(self) -> str | None:
        """One line when unread dates show the profile's `dayfirst` is wrong (their reasons say so)."""
        reasons = self.validation.quarantine.filter(pl.col("check").str.starts_with("parse_"))["reason"]
        day_first = int(reasons.str.ends_with("set dayfirst: true").sum())
        month_first = int(reasons.str.ends_with("ISO 8601 dates in the export").sum())
        if day_first:
            return f"{day_first:,} unread date(s) are written day first (dd/mm/yyyy): set dayfirst: true in the profile"
        if month_first:
            return (
                f"{month_first:,} unread date(s) are written month first (mm/dd/yyyy), which cannot be read "
                "unambiguously: ask for ISO 8601 dates in the export"
            )
        return None

    def unmapped_code_reasons(self, readers: dict[str, list[str]]) -> list[str]:
        """A line per table a rule reads with rows quarantined for a code that is not the
        contract's (a code the profile does not map, or one outside the offence catalogue): those
        records were judged by no rule, and a high-severity finding may be among them."""
        quarantine = self.validation.quarantine
        hit = (
            quarantine.filter(pl.col("check").is_in(CODE_CHECKS))
            .group_by("table", maintain_order=True)
            .agg(pl.col("row_number").n_unique().alias("rows"), pl.col("column").unique(maintain_order=True))
        )
        named = self.validation.unmapped_codes
        reasons = []
        for table, rows, columns in hit.iter_rows():
            if readers.get(table):
                where = []
                for column in columns:
                    codes = named.filter((pl.col("table") == table) & (pl.col("column") == column))["code"].to_list()
                    shown = ", ".join(repr(code) for code in codes[:5]) + (", ..." if len(codes) > 5 else "")
                    where.append(f"{column}: {shown}" if shown else str(column))
                reasons.append(
                    f"{table}: {rows:,} row(s) quarantined for codes that are not the contract's "
                    f"({'; '.join(where)}), so {', '.join(readers[table])} did not judge them: "
                    "map the codes in the profile (recordcheck validate lists them), "
                    "or set validation.unmapped_codes: warn"
                )
        return reasons


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _create_parsed_table(database: Database, contract: Table) -> None:
    """An empty typed table for one contract table (row number first; origin on crime_links)."""
    columns = [f'"{ROW}" BIGINT']
    if contract.name == "crime_links":
        columns.append(f'"{ORIGIN}" VARCHAR')
    columns += [f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in contract.columns]
    database.con.execute(f"CREATE TABLE {parsed_table(contract.name)} ({', '.join(columns)})")


def _append(database: Database, contract: Table, typed: pl.DataFrame, origin: str | None) -> None:
    """Append a parsed batch: contract columns only (a force's extra columns are not kept)."""
    if typed.height == 0:
        return
    keep = [ROW, *contract.column_names]
    if contract.name == "crime_links":
        typed = typed.with_columns(pl.col(ORIGIN) if ORIGIN in typed.columns else pl.lit(origin).alias(ORIGIN))
        keep.insert(1, ORIGIN)
    database.con.register("_batch", typed.select(keep).to_arrow())
    try:
        database.con.execute(f"INSERT INTO {parsed_table(contract.name)} BY NAME SELECT * FROM _batch")
    finally:
        database.con.unregister("_batch")


def _ragged_problems(batch: RawTable, source: TableSource) -> pl.DataFrame:
    """Rows of this batch whose field count is not the header's: quarantined, with the counts."""
    contract = TABLES[batch.name]
    wanted = len(source.columns)
    ragged = pl.DataFrame(
        {ROW: list(source.ragged), "fields": list(source.ragged.values())}, schema={ROW: pl.Int64, "fields": pl.Int64}
    )
    hit = batch.frame.join(ragged, on=ROW, how="inner")
    return hit.select(
        pl.lit(batch.name).alias("table"),
        pl.col(ROW).alias("row_number"),
        pl.lit(source.path.name).alias("origin"),
        pl.col(contract.record_column).cast(pl.String).alias("record_id"),
        pl.lit("field_count").alias("check"),
        pl.lit(None, pl.String).alias("column"),
        (pl.lit("the row has ") + pl.col("fields").cast(pl.String) + pl.lit(f" fields; the header has {wanted}")).alias(
            "reason"
        ),
    ).cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]


def _stream_file(
    database: Database,
    source: TableSource,
    profile: SourceProfile,
    timings: dict[str, float],
    defaulted: dict[tuple[str, str], dict[str, int]],
    on_rows: Callable[[str, int], None] | None,
    problems: list[pl.DataFrame],
    link_specs: list[Any] | None,
    built_links: list[pl.DataFrame],
    link_samples: dict[str, pl.DataFrame],
) -> int:
    """One table's file, batch by batch: read, count, parse, collect links, append. Returns its rows."""
    name, contract = source.name, TABLES[source.name]
    rows_from_file = 0
    batches = source.batches()
    while True:
        started = time.perf_counter()
        batch = next(batches, None)
        timings["read"] += time.perf_counter() - started
        if batch is None:
            return rows_from_file
        rows_from_file += batch.frame.height
        if on_rows is not None:
            on_rows(name, rows_from_file)
        for column, codes in batch.defaulted.items():
            counts = defaulted.setdefault((name, column), {})
            for code, rows in codes.items():
                counts[code] = counts.get(code, 0) + rows
        started = time.perf_counter()
        typed, batch_problems = parse_table(batch, profile)
        problems.append(batch_problems)
        if source.ragged:
            problems.append(_ragged_problems(batch, source))
        if link_specs:
            built_links.append(links_from(batch, link_specs))
        if name not in link_samples:
            link_samples[name] = sample_tokens(batch, candidate_columns(name, source.columns, profile))
        timings["parse"] += time.perf_counter() - started
        started = time.perf_counter()
        _append(database, contract, typed, source.path.name if name == "crime_links" else None)
        timings["load"] += time.perf_counter() - started


def _stream_tables(
    database: Database,
    sources: dict[str, TableSource],
    profile: SourceProfile,
    timings: dict[str, float],
    defaulted: dict[tuple[str, str], dict[str, int]],
    link_samples: dict[str, pl.DataFrame],
    on_rows: Callable[[str, int], None] | None = None,
) -> tuple[list[str], dict[str, pl.DataFrame], dict[str, str]]:
    """Read, map and parse every table batch by batch into the database.

    Returns the tables present, the parse problems per table, and the file each came from;
    adds the seconds spent reading, parsing and loading to `timings`, and a sample of each unused
    column of the referral and incident files to `link_samples`."""
    for stage in ("read", "parse", "load"):
        timings.setdefault(stage, 0.0)
    builders = link_builders(sources, profile)
    built_links: list[pl.DataFrame] = []
    problems: dict[str, list[pl.DataFrame]] = {}
    present: list[str] = []
    file_names: dict[str, str] = {}
    for name, contract in TABLES.items():
        source = sources.get(name)
        if source is None and not (name == "crime_links" and built_links):
            continue
        _create_parsed_table(database, contract)
        present.append(name)
        problems[name] = []
        rows_from_file = 0
        if source is not None:
            file_names[name] = source.path.name
            rows_from_file = _stream_file(
                database,
                source,
                profile,
                timings,
                defaulted,
                on_rows,
                problems[name],
                builders.get(name),
                built_links,
                link_samples,
            )
        if name == "crime_links" and built_links:
            # links carried in delimited columns of the referral and incident files
            # numbered after the crime_links file's own rows: every link has an identity of its own
            built = pl.concat(built_links).with_row_index(ROW, offset=rows_from_file + 1)
            links = RawTable("crime_links", None, built.with_columns(pl.col(ROW).cast(pl.Int64)))
            typed, batch_problems = parse_table(links, profile)
            problems[name].append(batch_problems)
            _append(database, contract, typed, None)
    merged = {
        name: pl.concat(parts).cast(PROBLEM_SCHEMA) if parts else pl.DataFrame(schema=PROBLEM_SCHEMA)  # type: ignore[arg-type]
        for name, parts in problems.items()
    }
    return present, merged, file_names


def load_extract(
    extract_dir: Path,
    profile: SourceProfile,
    reference: ReferenceData,
    as_of: datetime,
    runner: SuiteRunner | None = None,
    settings: EngineSettings | None = None,
    suites_dir: Path | None = None,
    on_rows: Callable[[str, int], None] | None = None,
    outbox: Path | None = None,
) -> LoadedExtract:
    """Read, parse and validate; raises InputRejected before anything is written.

    The returned extract owns the run's database: close it when the run is over. `outbox`: the
    one folder its DuckDB may write (a run's outputs are copied there from its tables)."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    sources = open_extract(extract_dir, profile)
    timings["open"] = time.perf_counter() - started
    database = Database(settings, outbox)
    try:
        defaulted: dict[tuple[str, str], dict[str, int]] = {}
        link_samples: dict[str, pl.DataFrame] = {}
        present, problems, file_names = _stream_tables(database, sources, profile, timings, defaulted, link_samples, on_rows)
        crimes = parsed_table("crimes") if "crimes" in present else None
        link_columns = [
            found
            for table, sample in link_samples.items()
            for found in unlinked_columns(database.con, table, sample, crimes)
        ]
        coverage = measure_coverage(
            database, present, sources, profile, problems, {name: parsed_table(name) for name in present}
        )

        # hashed in the same pass that checked and counted each file (open_extract)
        inputs = [InputFile(s.name, s.path, s.size_bytes, s.sha256) for s in sorted(sources.values(), key=lambda s: s.name)]

        started = time.perf_counter()
        parameters = {
            "as_of": as_of,
            # the London calendar date of the as-of instant, as a UTC midnight (dates are compared so)
            "as_of_date": datetime.combine(as_of.astimezone(LONDON).date(), datetime.min.time(), UTC),
            "offence_codes": reference.offence_codes,
            "earliest": datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC),
        }
        result = validate(
            database,
            present,
            problems,
            file_names,
            parameters,
            runner or make_runner(),
            suites_dir or SUITES_DIR,
            {name: profile.table(name).columns for name in present},
            {name: {column: list(codes) for column, codes in profile.table(name).values.items()} for name in present},
        )
        timings["validate"] = time.perf_counter() - started
    except BaseException:
        database.close()
        for source in sources.values():
            source.close()
        raise
    return LoadedExtract(result, inputs, database, timings, coverage, defaulted, link_columns)
