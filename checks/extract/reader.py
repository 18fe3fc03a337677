"""Read an extract folder table by table, in batches of text rows with their row numbers.

Everything is read as text first, with each row's position in its file, so that a value that
will not parse can be quarantined with its row number rather than crash the run or vanish.
Table-level problems (missing file or column, unreadable file) raise InputRejected, and the
header-level ones are found by `open_extract` before a single row is read. Rows then arrive in
batches (`TableSource.batches`), so memory stays flat whatever the size of the extract.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from recordcheck.checks.base.errors import InputRejected
from recordcheck.checks.extract.contract import CODE_LIKE, TABLES, Table
from recordcheck.checks.extract.csvscan import CsvShape, inspect_file
from recordcheck.checks.extract.profile import SUFFIXES, LinkSource, SourceProfile

ROW = "__row"
"""1-based position of the row among the data rows of its file (header not counted)."""
ORIGIN = "__origin"
"""Only on crime_links built from other tables: which file and column a row came from."""


@dataclass
class RawTable:
    name: str
    path: Path | None
    """None when the table was built from columns of other tables (crime_links)."""
    frame: pl.DataFrame
    """All canonical columns present (missing optional ones as nulls), plus ROW: text, except
    instants and dates a typed file (Parquet) already holds exactly, which stay typed."""
    defaulted: dict[str, dict[str, int]] = field(default_factory=dict)
    """Derived column -> {source code: rows} for code-like source values the derive map does not
    name, which took its default: a typo in the map shows here instead of passing silently."""


def _candidate_files(folder: Path, table: str, profile: SourceProfile) -> list[Path]:
    spec = profile.table(table)
    if spec.file:
        return [folder / spec.file]
    return [folder / f"{table}{suffix}" for suffix in SUFFIXES]


def _inside(folder: Path, path: Path, table: str, profile: SourceProfile) -> Path:
    """A table's file must resolve (links followed) inside the extract folder, unless the profile
    explicitly allows files elsewhere."""
    resolved = path.resolve()
    if not profile.allow_files_outside_extract and not resolved.is_relative_to(folder.resolve()):
        raise InputRejected(
            f"{folder}: the file for table {table} resolves outside the extract folder; "
            "set allow_files_outside_extract: true in the profile if that is intended"
        )
    return path


def find_table_file(folder: Path, table: str, profile: SourceProfile) -> Path | None:
    found = [_inside(folder, p, table, profile) for p in _candidate_files(folder, table, profile) if p.is_file()]
    if len(found) > 1:
        raise InputRejected(
            f"{folder}: table {table} is present more than once ({', '.join(p.name for p in found)}); "
            "keep one file per table"
        )
    return found[0] if found else None


def _format_of(path: Path, table: str, profile: SourceProfile) -> str:
    declared = profile.table(table).format
    if declared:
        return declared
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputRejected(
            f"{path}: cannot tell the format from the suffix {path.suffix!r}; "
            f"set tables.{table}.format in the profile ({', '.join(sorted(set(SUFFIXES.values())))})"
        )
    return fmt


def _as_strings(frame: pl.DataFrame) -> pl.DataFrame:
    """Cast columns to text, except values that are already exact: instants with a time zone
    (kept as UTC instants) and dates. Naive timestamps are London wall-clock and are written in
    the contract's spelling so the parser reads them as such."""
    casts = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                casts.append(col.dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias(name))
            elif frame.select((col.dt.microsecond() != 0).any()).item():
                casts.append(col.dt.strftime("%Y-%m-%dT%H:%M:%S%.f").alias(name))
            else:
                casts.append(col.dt.strftime("%Y-%m-%dT%H:%M:%S").alias(name))
        elif dtype == pl.Date or dtype == pl.String:
            casts.append(col)
        else:
            casts.append(col.cast(pl.String).alias(name))
    return frame.select(casts)


BATCH_ROWS = 125_000
"""Rows read, mapped and parsed at a time: memory stays flat whatever the extract's size. At
scale 40 (Parquet), 250,000 held the load's peak at 3,033 MB and 125,000 at 2,894 MB, sampled
every second, with DuckDB's 2 GB beside them."""


def _unreadable(path: Path, fmt: str, exc: BaseException) -> InputRejected:
    """Name the file and the kind of fault, never the parser's text: it quotes record contents."""
    return InputRejected(
        f"{path}: not readable as {fmt} ({type(exc).__name__}: a row does not fit the header, "
        "or quoting or the delimiter is broken; check the export)"
    )


def release_arrow_memory() -> None:
    """Hand back to the system what Arrow's allocator kept of freed batches (mimalloc holds them
    for reuse): measured at scale 40, about 300 MB above DuckDB's limit for the rest of the run.
    Called between stages; nothing to do where Arrow was never imported."""
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()


@dataclass
class TableSource:
    """One table's file, opened lazily: the header is checked at once, rows arrive in batches."""

    name: str
    path: Path
    fmt: str
    profile: SourceProfile
    columns: list[str]
    """The file's own column names."""
    _scan_path: Path
    _cleanup: Path | None = None
    shape: CsvShape | None = None
    """For CSV: the independent count of records and fields the rows read are held to."""
    sha256: str = ""
    size_bytes: int = 0

    @property
    def ragged(self) -> dict[int, int]:
        """Row number -> fields, for rows whose field count is not the header's (CSV)."""
        return dict(self.shape.ragged) if self.shape else {}

    def batches(self) -> Iterator[RawTable]:
        """Batches of rows in file order, row numbers continuing, the profile applied."""
        contract = TABLES[self.name]
        rows = 0
        try:
            for frame in self._frames():
                batch = frame.with_row_index(ROW, offset=rows + 1).with_columns(pl.col(ROW).cast(pl.Int64))
                rows += batch.height
                if self.fmt != "csv":
                    batch = _as_strings(batch)
                yield _apply_profile(batch, contract, self.profile, self.path)
            if self.shape is not None and rows != self.shape.records:
                raise InputRejected(
                    f"{self.path}: the file holds {self.shape.records} records but {rows} rows were read; "
                    "a quote or delimiter is broken somewhere: check the export"
                )
        except InputRejected:
            raise
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise _unreadable(self.path, self.fmt, exc) from None
        finally:
            self.close()

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup.unlink(missing_ok=True)
            self._cleanup = None

    def _frames(self) -> Iterator[pl.DataFrame]:
        """The file's rows, BATCH_ROWS at a time. A Parquet file is read a batch when the parser
        asks for one: Polars' collect_batches decodes ahead of a slow consumer and held most of a
        23.6 M-row incidents file (3.5 GB) while its batches waited to be parsed."""
        if self.fmt == "parquet":
            import pyarrow.parquet as pq  # only for Parquet: not on a CSV run's start-up

            with pq.ParquetFile(self._scan_path) as file:
                for record_batch in file.iter_batches(batch_size=BATCH_ROWS):
                    frame = pl.from_arrow(record_batch)
                    assert isinstance(frame, pl.DataFrame)
                    yield frame
            release_arrow_memory()
            return
        yield from self._lazy().collect_batches(chunk_size=BATCH_ROWS)

    def _lazy(self) -> pl.LazyFrame:
        if self.fmt == "csv":
            # a row with too many fields is cut to the header's (and quarantined from the shape)
            return pl.scan_csv(
                self._scan_path,
                infer_schema=False,
                empty_string_is_null=True,
                raise_if_empty=True,
                truncate_ragged_lines=True,
            )
        if self.fmt == "parquet":
            return pl.scan_parquet(self._scan_path)
        return pl.scan_ndjson(self._scan_path, infer_schema_length=None)


def _check_shape(path: Path, shape: CsvShape, columns: list[str], known: set[str] | None = None) -> None:
    """Refuse a CSV whose quoting or header is broken (from the independent count)."""
    if shape.open_quote:
        raise InputRejected(
            f"{path}: a quote is opened and never closed, so the rows cannot be told apart; "
            'check the header and the rows for a stray " character'
        )
    if shape.lone_returns:
        raise InputRejected(
            f"{path}: {shape.lone_returns:,} line(s) end with a carriage return alone (old Mac line endings), "
            "which would hide the rows they end; save the file with LF or CRLF line endings"
        )
    empty = [str(i + 1) for i, name in enumerate(shape.header) if not name.strip()]
    if empty:
        raise InputRejected(f"{path}: the header has no name for column(s) {', '.join(empty)}")
    repeated = sorted({n for n in shape.header if shape.header.count(n) > 1})
    if repeated:
        shown, hidden = header_names(repeated, known or set())
        names = ", ".join(repr(n) for n in shown) + (f"{', ' if shown else ''}{hidden} other name(s)" if hidden else "")
        raise InputRejected(
            f"{path}: the header names {names} more than once"
            + (
                "; the first line may be a record, not a header (names the profile does not know are not quoted)"
                if hidden
                else ""
            )
        )
    if shape.header != columns:
        raise InputRejected(f"{path}: the header cannot be read consistently (check its quoting)")


def open_table(path: Path, table: str, profile: SourceProfile) -> TableSource:
    """Check the file (size, encoding, header, the profile's columns) and return its source.

    Everything that can reject the table as a whole is found here, before any row is read."""
    fmt = _format_of(path, table, profile)
    size = path.stat().st_size
    if size == 0:
        raise InputRejected(f"{path}: the file is empty (0 bytes); expected at least a header row")
    facts = inspect_file(path, fmt, profile.encoding_for(table))
    source = TableSource(
        table, path, fmt, profile, [], facts.utf8_copy or path, facts.utf8_copy, facts.shape, facts.sha256, size
    )
    try:
        try:
            source.columns = list(source._lazy().collect_schema())
        except pl.exceptions.NoDataError:
            raise InputRejected(f"{path}: no header row; expected at least a header row") from None
        except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
            raise _unreadable(path, fmt, exc) from None
        if facts.shape is not None:
            _check_shape(path, facts.shape, source.columns, known_headers(table, profile))
        header = pl.DataFrame(schema={ROW: pl.Int64, **dict.fromkeys(source.columns, pl.String)})
        _apply_profile(header, TABLES[table], profile, path)  # missing or ambiguous columns, now
    except BaseException:
        source.close()
        raise
    return source


def known_headers(table: str, profile: SourceProfile) -> set[str]:
    """The column names a message may quote: the contract's and the profile's own (mapped, derived
    from, linked from). Any other name in a file may be a record's value (a file whose header row
    is missing, a surname in capitals), and a message never echoes a record."""
    spec = profile.table(table)
    names = set(TABLES[table].column_names) | set(spec.columns.values()) | set(spec.columns)
    names |= {d.source_column for d in spec.derive.values()}
    names |= {b.column for b in profile.table("crime_links").build_from if b.table == table}
    return names


def header_names(headers: list[str], known: set[str]) -> tuple[list[str], int]:
    """The header names fit to print (those the contract or profile knows), and how many others."""
    shown = [h for h in headers if h in known]
    return shown, len(headers) - len(shown)


def _apply_profile(frame: pl.DataFrame, contract: Table, profile: SourceProfile, path: Path) -> RawTable:
    spec = profile.table(contract.name)
    headers = [c for c in frame.columns if c != ROW]  # the file's own names, before the profile renames them
    source_to_canonical = {src: canon for canon, src in spec.columns.items()}
    # A canonical name the force also uses for something else would be ambiguous: refuse it.
    for canon, src in spec.columns.items():
        if canon in frame.columns and canon != src and canon not in source_to_canonical:
            raise InputRejected(f"{path}: column {canon!r} is present and the profile also maps {src!r} onto it")
    frame = frame.rename({s: c for s, c in source_to_canonical.items() if s in frame.columns})
    defaulted: dict[str, dict[str, int]] = {}
    for canon, derivation in spec.derive.items():
        # `from` names the force's column, which may already carry its canonical name
        source = source_to_canonical.get(derivation.source_column, derivation.source_column)
        if source not in frame.columns:
            raise InputRejected(f"{path}: column {derivation.source_column!r} (needed to derive {canon}) is missing")
        if derivation.default is not None and frame.height:
            codes = pl.col(source).cast(pl.String)
            missed = (
                frame.filter(codes.is_not_null() & ~codes.is_in(list(derivation.mapping)) & codes.str.contains(CODE_LIKE))
                .group_by(codes.alias("code"))
                .len()
            )
            if missed.height:
                defaulted[canon] = {str(code): int(rows) for code, rows in missed.iter_rows()}
        mapped = (
            pl.col(source)
            .cast(pl.String)
            .replace_strict(derivation.mapping, default=derivation.default, return_dtype=pl.String)
        )
        if canon in frame.columns:
            mapped = pl.coalesce(pl.col(canon), mapped)
        frame = frame.with_columns(mapped.alias(canon))
    missing = [c for c in contract.required_columns if c not in frame.columns]
    if missing:
        wanted = [f"{spec.columns.get(c, c)!r}" + (f" (canonical {c})" if c in spec.columns else "") for c in missing]
        shown, hidden = header_names(headers, known_headers(contract.name, profile))
        # a near miss is quoted when it is a likely typo of the name wanted (80% alike and shaped like
        # a column name), which a record's value almost never is
        wanted_name = spec.columns.get(missing[0], missing[0])
        typo = [h for h in headers if re.fullmatch(r"[A-Za-z][A-Za-z _]{2,39}", h)]
        near = difflib.get_close_matches(wanted_name, typo, n=1, cutoff=0.8) or difflib.get_close_matches(
            wanted_name, shown, n=1, cutoff=0.5
        )
        hint = f"; nearest: {near[0]!r}" if near else ""
        listed = ", ".join(repr(h) for h in shown) or "none the contract or profile knows"
        if hidden:
            listed += f"; {hidden} other name(s), not quoted (a name the profile does not know may be a record's value)"
            if hidden >= len(shown):
                listed += "; the first line may be a record: does the file have its header row?"
        raise InputRejected(
            f"{path}: required column{'s' if len(missing) > 1 else ''} {', '.join(wanted)} "
            f"missing from table {contract.name}{hint}; the file's columns: {listed}"
        )
    for canon, mapping in spec.values.items():
        if canon in frame.columns:
            frame = frame.with_columns(pl.col(canon).cast(pl.String).replace(mapping))
    extra = [c for c in frame.columns if c not in contract.column_names and c != ROW]
    absent = [pl.lit(None, pl.String).alias(c) for c in contract.column_names if c not in frame.columns]
    frame = frame.with_columns(absent)
    return RawTable(contract.name, path, frame.select([ROW, *contract.column_names, *extra]), defaulted)


def link_builders(sources: dict[str, TableSource], profile: SourceProfile) -> dict[str, list[LinkSource]]:
    """Per table, the delimited link columns the profile builds crime_links from (checked now)."""
    builders: dict[str, list[LinkSource]] = {}
    for spec in profile.table("crime_links").build_from:
        source = sources.get(spec.table)
        if source is None:
            raise InputRejected(
                f"the profile builds crime_links from {spec.table}.{spec.column}, but table {spec.table} is absent"
            )
        if spec.column not in source.columns:
            raise InputRejected(f"{source.path}: column {spec.column!r} (used to build crime_links) is missing")
        builders.setdefault(spec.table, []).append(spec)
    return builders


def links_from(batch: RawTable, specs: list[LinkSource]) -> pl.DataFrame:
    """crime_links rows from one batch's delimited link columns.

    Each link keeps where it came from (file, column, row and position in the cell) as its
    origin; the caller gives it a row number of its own, so links from different files or from
    one cell never share an identity."""
    id_col = TABLES[batch.name].id_column
    assert id_col is not None
    file_name = batch.path.name if batch.path else batch.name
    parts = [
        batch.frame.select(
            pl.col(ROW).alias("_source_row"),
            pl.col(spec.column).str.split(spec.separator).alias("crime_id"),
            pl.lit(spec.source_type).alias("source_type"),
            pl.col(id_col).alias("source_id"),
        )
        .with_columns(pl.int_ranges(1, pl.col("crime_id").list.len() + 1).alias("_item"))
        .explode("crime_id", "_item")
        .with_columns(pl.col("crime_id").str.strip_chars())
        .filter(pl.col("crime_id").is_not_null() & (pl.col("crime_id") != ""))
        .select(
            "crime_id",
            "source_type",
            "source_id",
            pl.concat_str(
                [
                    pl.lit(f"{file_name}:{spec.column} row "),
                    pl.col("_source_row").cast(pl.String),
                    pl.lit(" item "),
                    pl.col("_item").cast(pl.String),
                ]
            ).alias(ORIGIN),
        )
        for spec in specs
    ]
    return pl.concat(parts)


def _nearest_file(folder: Path, wanted: str) -> str:
    """'; nearest: NAME' for a data file in the folder whose name is close to the one the profile
    gives (a typo, a date in the name that changed), else ''."""
    names = [p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES]
    near = difflib.get_close_matches(Path(wanted).name, names, n=1, cutoff=0.6)
    return f"; nearest: {near[0]!r}" if near else ""


def _profile_hint(folder: Path, profile: SourceProfile) -> str:
    """For a run with the canonical profile on a folder of other files: say --profile."""
    if profile.tables:
        return ""
    data = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not data:
        return ""
    shown = ", ".join(data[:5]) + (", ..." if len(data) > 5 else "")
    beside = " (profile.yaml is in the folder)" if (folder / "profile.yaml").is_file() else ""
    return (
        f". The folder holds {shown}: if this is a force's own export, give --profile FILE{beside}; "
        f"recordcheck profile draft {folder} --out profile.yaml drafts one"
    )


def open_extract(folder: Path, profile: SourceProfile) -> dict[str, TableSource]:
    """Open every table present; raise InputRejected for a missing required table or column.

    Nothing is read beyond headers here, so a rejected extract costs nothing and leaves nothing."""
    if not folder.is_dir():
        raise InputRejected(f"{folder}: extract folder not found")
    sources: dict[str, TableSource] = {}
    built_links = bool(profile.table("crime_links").build_from)
    paths: dict[str, Path] = {}
    for name, contract in TABLES.items():
        path = find_table_file(folder, name, profile)
        if path is None and profile.table(name).file:
            raise InputRejected(
                f"{folder}: the profile names {profile.table(name).file!r} for table {name}, and it is not there"
                + _nearest_file(folder, str(profile.table(name).file))
            )
        if path is None:
            if contract.required and not (name == "crime_links" and built_links):
                names = ", ".join(p.name for p in _candidate_files(folder, name, profile))
                raise InputRejected(
                    f"{folder}: required table {name} is missing (looked for {names}){_profile_hint(folder, profile)}"
                )
            continue
        paths[name] = path
    # the files are checked and counted side by side (the counting releases the interpreter)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(open_table, path, name, profile) for name, path in paths.items()}
        errors = []
        for name, future in futures.items():
            try:
                sources[name] = future.result()
            except BaseException as exc:  # noqa: BLE001 - collected, the first re-raised below
                errors.append(exc)
    if errors:
        for source in sources.values():
            source.close()
        raise errors[0]
    return sources
