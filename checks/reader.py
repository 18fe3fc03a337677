"""Read an extract folder into one string-typed Polars frame per canonical table.

Everything is read as text first, with each row's position in its file, so that a value that
will not parse can be quarantined with its row number rather than crash the run or vanish.
Table-level problems (missing file or column, unreadable file) raise InputRejected.
"""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from checks.contract import TABLES, Table
from checks.errors import InputRejected
from checks.profile import SUFFIXES, SourceProfile

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
    extra_columns: list[str]


def _candidate_files(folder: Path, table: str, profile: SourceProfile) -> list[Path]:
    spec = profile.table(table)
    if spec.file:
        return [folder / spec.file]
    return [folder / f"{table}{suffix}" for suffix in SUFFIXES]


def find_table_file(folder: Path, table: str, profile: SourceProfile) -> Path | None:
    found = [p for p in _candidate_files(folder, table, profile) if p.is_file()]
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


_CHUNK = 1 << 24


def _check_utf8(path: Path) -> None:
    """Stream the file through a UTF-8 decoder: constant memory, and the offending byte named."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise InputRejected(
                    f"{path}: byte {offset + exc.start} is not valid UTF-8; if the force exports Windows text, "
                    "set encoding: cp1252 in the profile"
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InputRejected(f"{path}: the file ends inside a UTF-8 character; check the profile's encoding") from None


def _read_csv(path: Path, encoding: str) -> pl.DataFrame:
    """Read a CSV as text columns. UTF-8 is read straight from the file (Polars drops a BOM);
    cp1252 is decoded in memory first (legacy exports, and the only way Polars can read them)."""
    if path.stat().st_size == 0:
        raise InputRejected(f"{path}: the file is empty (0 bytes); expected at least a header row")
    source: Path | io.BytesIO
    if encoding == "cp1252":
        data = path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            source = io.BytesIO(data.decode("cp1252").encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise InputRejected(
                f"{path}: byte {exc.start} is not valid cp1252 text; check the profile's encoding"
            ) from None
    else:
        _check_utf8(path)
        source = path
    try:
        return pl.read_csv(
            source,
            infer_schema=False,
            empty_string_is_null=True,
            raise_if_empty=True,
        )
    except pl.exceptions.NoDataError:
        raise InputRejected(f"{path}: no header row; expected at least a header row") from None
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputRejected(f"{path}: not readable as CSV ({first_line[:200]})") from None


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


def read_file(path: Path, table: str, profile: SourceProfile) -> pl.DataFrame:
    fmt = _format_of(path, table, profile)
    try:
        if fmt == "csv":
            frame = _read_csv(path, profile.encoding_for(table))
        elif fmt == "parquet":
            if path.stat().st_size == 0:
                raise InputRejected(f"{path}: the file is empty (0 bytes)")
            frame = _as_strings(pl.read_parquet(path))
        else:
            if path.stat().st_size == 0:
                raise InputRejected(f"{path}: the file is empty (0 bytes)")
            frame = _as_strings(pl.read_ndjson(path, infer_schema_length=None))
    except InputRejected:
        raise
    except (pl.exceptions.PolarsError, OSError, ValueError) as exc:
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputRejected(f"{path}: not readable as {fmt} ({first_line[:200]})") from None
    return frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64))


def _apply_profile(frame: pl.DataFrame, contract: Table, profile: SourceProfile, path: Path) -> RawTable:
    spec = profile.table(contract.name)
    source_to_canonical = {src: canon for canon, src in spec.columns.items()}
    # A canonical name the force also uses for something else would be ambiguous: refuse it.
    for canon, src in spec.columns.items():
        if canon in frame.columns and canon != src and canon not in source_to_canonical:
            raise InputRejected(
                f"{path}: column {canon!r} is present and the profile also maps {src!r} onto it"
            )
    frame = frame.rename({s: c for s, c in source_to_canonical.items() if s in frame.columns})
    for canon, derivation in spec.derive.items():
        # `from` names the force's column, which may already carry its canonical name
        source = source_to_canonical.get(derivation.source_column, derivation.source_column)
        if source not in frame.columns:
            raise InputRejected(
                f"{path}: column {derivation.source_column!r} (needed to derive {canon}) is missing"
            )
        mapped = pl.col(source).cast(pl.String).replace_strict(
            derivation.mapping, default=derivation.default, return_dtype=pl.String
        )
        if canon in frame.columns:
            mapped = pl.coalesce(pl.col(canon), mapped)
        frame = frame.with_columns(mapped.alias(canon))
    missing = [c for c in contract.required_columns if c not in frame.columns]
    if missing:
        wanted = [
            f"{spec.columns.get(c, c)!r}" + (f" (canonical {c})" if c in spec.columns else "")
            for c in missing
        ]
        raise InputRejected(
            f"{path}: required column{'s' if len(missing) > 1 else ''} {', '.join(wanted)} "
            f"missing from table {contract.name}"
        )
    for canon, mapping in spec.values.items():
        if canon in frame.columns:
            frame = frame.with_columns(pl.col(canon).cast(pl.String).replace(mapping))
    extra = [c for c in frame.columns if c not in contract.column_names and c != ROW]
    absent = [pl.lit(None, pl.String).alias(c) for c in contract.column_names if c not in frame.columns]
    frame = frame.with_columns(absent)
    return RawTable(contract.name, path, frame.select([ROW, *contract.column_names, *extra]), extra)


def _build_links(raw: dict[str, RawTable], profile: SourceProfile) -> pl.DataFrame | None:
    sources = profile.table("crime_links").build_from
    if not sources:
        return None
    parts = []
    for source in sources:
        table = raw.get(source.table)
        if table is None:
            raise InputRejected(
                f"the profile builds crime_links from {source.table}.{source.column}, "
                f"but table {source.table} is absent"
            )
        if source.column not in table.frame.columns:
            raise InputRejected(
                f"{table.path}: column {source.column!r} (used to build crime_links) is missing"
            )
        id_col = TABLES[source.table].id_column
        assert id_col is not None
        parts.append(
            table.frame.select(
                pl.col(ROW),
                pl.col(source.column).str.split(source.separator).alias("crime_id"),
                pl.lit(source.source_type).alias("source_type"),
                pl.col(id_col).alias("source_id"),
                pl.lit(f"{table.path.name if table.path else source.table}:{source.column}").alias(ORIGIN),
            )
            .explode("crime_id")
            .with_columns(pl.col("crime_id").str.strip_chars())
            .filter(pl.col("crime_id").is_not_null() & (pl.col("crime_id") != ""))
        )
    return pl.concat(parts)


def read_extract(folder: Path, profile: SourceProfile) -> dict[str, RawTable]:
    """Read every table present; raise InputRejected for a missing required table or column."""
    if not folder.is_dir():
        raise InputRejected(f"{folder}: extract folder not found")
    raw: dict[str, RawTable] = {}
    built_links = bool(profile.table("crime_links").build_from)
    for name, contract in TABLES.items():
        path = find_table_file(folder, name, profile)
        if path is None:
            if contract.required and not (name == "crime_links" and built_links):
                names = ", ".join(p.name for p in _candidate_files(folder, name, profile))
                raise InputRejected(f"{folder}: required table {name} is missing (looked for {names})")
            continue
        frame = read_file(path, name, profile)
        raw[name] = _apply_profile(frame, contract, profile, path)
    links = _build_links(raw, profile)
    if links is not None:
        built = RawTable("crime_links", None, links, [])
        if "crime_links" in raw:
            file_links = raw["crime_links"]
            name = file_links.path.name if file_links.path else "crime_links"
            existing = file_links.frame.select(
                ROW, "crime_id", "source_type", "source_id", pl.lit(name).alias(ORIGIN)
            )
            built.frame = pl.concat([existing, links])
            built.path = file_links.path
        raw["crime_links"] = built
    return raw
