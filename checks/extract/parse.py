"""Turn the text read from a file into canonical types, row by row, without losing a row.

Timestamps without an offset are Europe/London wall-clock times and become UTC instants here;
from this point on every timestamp is an instant. A value that does not parse becomes null in
the typed frame and a problem naming the row, column and what was expected (never the value).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from recordcheck.checks.base.london import LONDON_TZ
from recordcheck.checks.extract.contract import TABLES, Column
from recordcheck.checks.extract.profile import SourceProfile
from recordcheck.checks.extract.reader import ORIGIN, ROW, RawTable

LOCAL_TZ = LONDON_TZ
TIMESTAMP = pl.Datetime("us", "UTC")

PROBLEM_SCHEMA = {
    "table": pl.String,
    "row_number": pl.Int64,
    "origin": pl.String,
    "record_id": pl.String,
    "check": pl.String,
    "column": pl.String,
    "reason": pl.String,
}

_OFFSET = r"(Z|z|[+-]\d{2}:?\d{2})$"
_ISO_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
_DAYFIRST_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")
_SLASHED = r"^\d{1,2}/\d{1,2}/\d{4}"
"""A date written with slashes: its order (day or month first) is what dayfirst says."""


def _timestamp(col: pl.Expr, dayfirst: bool) -> tuple[pl.Expr, pl.Expr]:
    """(UTC instant, local-parse-succeeded) for ISO 8601 text, with or without an offset."""
    text = col.str.strip_chars()
    offset = text.str.extract(_OFFSET, 1)
    local_text = text.str.replace(_OFFSET, "").str.replace("T", " ", literal=True)
    formats = _ISO_TIME_FORMATS + (_DAYFIRST_TIME_FORMATS if dayfirst else ())
    local = pl.coalesce([local_text.str.to_datetime(f, strict=False, time_unit="us") for f in formats])
    sign = pl.when(offset.str.starts_with("-")).then(-1).otherwise(1)
    digits = offset.str.replace_all(r"[^0-9]", "")
    offset_minutes = (
        pl.when(offset.str.to_uppercase() == "Z")
        .then(0)
        .otherwise(
            sign
            * (
                digits.str.slice(0, 2).str.to_integer(strict=False) * 60
                + digits.str.slice(2, 2).str.to_integer(strict=False)
            )
        )
    )
    from_offset = (local - pl.duration(minutes=offset_minutes)).dt.replace_time_zone("UTC")
    from_local = local.dt.replace_time_zone(LOCAL_TZ, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    instant = pl.when(offset.is_not_null()).then(from_offset).otherwise(from_local)
    return instant, local.is_not_null()


def _date(col: pl.Expr, dayfirst: bool) -> pl.Expr:
    text = col.str.strip_chars()
    formats = ("%Y-%m-%d",) + (("%d/%m/%Y",) if dayfirst else ())
    return pl.coalesce([text.str.to_date(f, strict=False) for f in formats])


def _bool(col: pl.Expr, profile: SourceProfile) -> pl.Expr:
    text = col.str.strip_chars().str.to_lowercase()
    return (
        pl.when(text.is_in(list(profile.true_values)))
        .then(True)
        .when(text.is_in(list(profile.false_values)))
        .then(False)
        .otherwise(None)
    )


_FAST_TIMESTAMP = "%Y-%m-%dT%H:%M:%S"
"""The contract's own spelling (ISO 8601, seconds, no offset): parsed for every row in one cheap
pass; anything else (an offset, fractions, a space, day-first) takes the full parse, on its rows only."""


def _fast(column: Column) -> pl.Expr | None:
    """A cheap parse of the canonical spelling, or None when the type has no faster path."""
    col = pl.col(column.name)
    if column.type == "timestamp":
        local = col.str.to_datetime(_FAST_TIMESTAMP, strict=False, time_unit="us")
        return local.dt.replace_time_zone(LOCAL_TZ, ambiguous="earliest", non_existent="null").dt.convert_time_zone("UTC")
    if column.type == "date":
        return col.str.to_date("%Y-%m-%d", strict=False)
    return None


def _typed(column: Column, profile: SourceProfile) -> tuple[pl.Expr, str, pl.Expr | None]:
    """(typed expression, expected-format text, local-parse-succeeded expression or None)."""
    col = pl.col(column.name)
    if column.type == "timestamp":
        instant, local_ok = _timestamp(col, profile.dayfirst)
        return (
            instant,
            "an ISO 8601 timestamp" + (" or dd/mm/yyyy hh:mm" if profile.dayfirst else ""),
            local_ok,
        )
    if column.type == "date":
        return (
            _date(col, profile.dayfirst),
            "a date (yyyy-mm-dd" + (" or dd/mm/yyyy)" if profile.dayfirst else ")"),
            None,
        )
    if column.type == "bool":
        spellings = "/".join(profile.true_values[:2] + profile.false_values[:2])
        return _bool(col, profile), f"a yes/no value ({spellings}, ...)", None
    if column.type == "int":
        return col.str.strip_chars().str.to_integer(strict=False), "a whole number", None
    stripped = col.str.strip_chars()
    return pl.when(stripped == "").then(None).otherwise(col), "text", None


def _native(column: Column, dtype: pl.DataType) -> pl.Expr | None:
    """The column as it is, when a typed file already holds it exactly (a UTC instant, a date)."""
    if column.type == "timestamp" and isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return pl.col(column.name).dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if column.type == "date" and dtype == pl.Date:
        return pl.col(column.name)
    return None


def _present(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars().fill_null("") != ""


def _unread(frame: pl.DataFrame, typed: pl.DataFrame, name: str) -> pl.DataFrame:
    """The rows whose text in `name` is not blank but whose typed value is null.

    A null bitmap test first (cheap, and usually empty), then text is looked at on those rows only."""
    mask = frame[name].is_not_null() & typed[name].is_null()
    if not mask.any():
        return frame.clear()
    return frame.filter(mask).filter(_present(name))


def _problems(
    table: str,
    frame: pl.DataFrame,
    typed_frame: pl.DataFrame,
    text_columns: list[Column],
    full: dict[str, Any],
    origin: pl.Expr,
    id_col: str,
    dayfirst: bool,
) -> list[pl.DataFrame]:
    """One problem row per value neither pass could read: its row, column and what was expected
    (a local time skipped by the clock change is named as such; a date whose order says the
    profile's dayfirst is wrong says so), never the value."""
    problem_frames = []
    for column in text_columns:
        if column.type == "string":
            continue
        _, expected, local_ok = full[column.name]
        failed = _unread(frame, typed_frame, column.name)
        if failed.height == 0:
            continue
        local_parsed = (
            failed.select(local_ok).to_series() if local_ok is not None else pl.repeat(False, failed.height, eager=True)
        )
        slashed = pl.col(column.name).str.strip_chars().str.extract(_SLASHED, 0)
        first = slashed.str.extract(r"^(\d{1,2})", 1).cast(pl.Int32, strict=False)
        second = slashed.str.extract(r"^\d{1,2}/(\d{1,2})", 1).cast(pl.Int32, strict=False)
        reason = (
            pl.when(pl.Series(local_parsed))
            .then(pl.lit(f"{column.name} is a local time that does not exist in {LOCAL_TZ} (clock change)"))
            .when(pl.lit(not dayfirst) & slashed.is_not_null() & (first <= 31) & (second <= 12))
            .then(pl.lit(f"{column.name} is not {expected}: it is written day first (dd/mm/yyyy); set dayfirst: true"))
            .when(pl.lit(dayfirst) & slashed.is_not_null() & (second > 12) & (first <= 12))
            .then(
                pl.lit(
                    f"{column.name} is not {expected}: it is written month first (mm/dd/yyyy), which cannot be "
                    "read unambiguously; ask for ISO 8601 dates in the export"
                )
            )
            .otherwise(pl.lit(f"{column.name} is not {expected}"))
        )
        problem_frames.append(
            failed.select(
                pl.lit(table).alias("table"),
                pl.col(ROW).alias("row_number"),
                origin.alias("origin"),
                pl.col(id_col).alias("record_id"),
                pl.lit(f"parse_{column.type}").alias("check"),
                pl.lit(column.name).alias("column"),
                reason.alias("reason"),
            )
        )
    return problem_frames


def parse_table(raw: RawTable, profile: SourceProfile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed frame (same rows, same order) and one problem row per value that did not parse.

    Each column is parsed once over all rows: the canonical spelling by a cheap pass, and only
    the rows it could not read by the full parse (offsets, other layouts, day-first), so a
    well-formed extract pays for one pass per column.
    """
    contract = TABLES[raw.name]
    frame = raw.frame
    id_col = contract.record_column
    origin = pl.col(ORIGIN) if ORIGIN in frame.columns else pl.lit(raw.path.name if raw.path else raw.name)
    bookkeeping = [c for c in (ROW, ORIGIN) if c in frame.columns]
    extra = [c for c in frame.columns if c not in contract.column_names and c not in bookkeeping]

    native = {c.name for c in contract.columns if _native(c, frame.schema[c.name]) is not None}
    text_columns = [c for c in contract.columns if c.name not in native]
    frame = frame.with_columns(pl.col(c.name).cast(pl.String) for c in text_columns if frame.schema[c.name] != pl.String)
    full = {c.name: _typed(c, profile) for c in text_columns}
    first_pass = [
        (
            _native(c, frame.schema[c.name]) if c.name in native else (_fast(c) if _fast(c) is not None else full[c.name][0])
        ).alias(c.name)  # type: ignore[union-attr]
        for c in contract.columns
    ]
    typed_frame = frame.select(*bookkeeping, *first_pass, *extra)
    if ROW not in typed_frame.columns:
        raise AssertionError("parse_table needs the row number column")

    # Rows the cheap pass could not read: give them the full parse, then scatter back by row.
    for column in text_columns:
        if _fast(column) is None:
            continue
        retry = _unread(frame, typed_frame, column.name)
        if retry.height == 0:
            continue
        reparsed = retry.select(ROW, full[column.name][0].alias(column.name)).filter(pl.col(column.name).is_not_null())
        if reparsed.height:
            typed_frame = typed_frame.update(reparsed, on=ROW, how="left")

    problem_frames = _problems(raw.name, frame, typed_frame, text_columns, full, origin, id_col, profile.dayfirst)
    problems = pl.concat(problem_frames) if problem_frames else pl.DataFrame(schema=PROBLEM_SCHEMA)
    return typed_frame, problems.cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
