"""Turn the text read from a file into canonical types, row by row, without losing a row.

Timestamps without an offset are Europe/London wall-clock times and become UTC instants here;
from this point on every timestamp is an instant. A value that does not parse becomes null in
the typed frame and a problem naming the row, column and what was expected (never the value).
"""

from __future__ import annotations

import polars as pl

from checks.contract import TABLES, Column
from checks.profile import SourceProfile
from checks.reader import ORIGIN, ROW, RawTable

LOCAL_TZ = "Europe/London"
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
    from_local = local.dt.replace_time_zone(
        LOCAL_TZ, ambiguous="earliest", non_existent="null"
    ).dt.convert_time_zone("UTC")
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


def _typed(column: Column, profile: SourceProfile) -> tuple[pl.Expr, str, pl.Expr | None]:
    """(typed expression, expected-format text, extra failure expression or None)."""
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


def parse_table(raw: RawTable, profile: SourceProfile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed frame (same rows, same order) and one problem row per value that did not parse."""
    contract = TABLES[raw.name]
    frame = raw.frame
    typed_exprs = []
    problem_frames = []
    id_col = contract.id_column or "crime_id"
    origin = pl.col(ORIGIN) if ORIGIN in frame.columns else pl.lit(raw.path.name if raw.path else raw.name)
    for column in contract.columns:
        typed, expected, local_ok = _typed(column, profile)
        typed_exprs.append(typed.alias(column.name))
        if column.type == "string":
            continue
        present = pl.col(column.name).str.strip_chars().fill_null("") != ""
        failed = frame.select(
            pl.col(ROW),
            origin.alias("origin"),
            pl.col(id_col).alias("record_id"),
            present.alias("present"),
            typed.is_null().alias("typed_null"),
            (local_ok if local_ok is not None else pl.lit(False)).alias("local_ok"),
        ).filter(pl.col("present") & pl.col("typed_null"))
        if failed.height == 0:
            continue
        reason = (
            pl.when(pl.col("local_ok"))
            .then(pl.lit(f"{column.name} is a local time that does not exist in {LOCAL_TZ} (clock change)"))
            .otherwise(pl.lit(f"{column.name} is not {expected}"))
        )
        problem_frames.append(
            failed.select(
                pl.lit(raw.name).alias("table"),
                pl.col(ROW).alias("row_number"),
                pl.col("origin"),
                pl.col("record_id"),
                pl.lit(f"parse_{column.type}").alias("check"),
                pl.lit(column.name).alias("column"),
                reason.alias("reason"),
            )
        )
    # row bookkeeping first, then the canonical columns typed, then the force's extra columns as read
    bookkeeping = [c for c in (ROW, ORIGIN) if c in frame.columns]
    extra = [c for c in frame.columns if c not in contract.column_names and c not in bookkeeping]
    typed_frame = frame.select(*bookkeeping, *typed_exprs, *extra)
    problems = pl.concat(problem_frames) if problem_frames else pl.DataFrame(schema=PROBLEM_SCHEMA)
    return typed_frame, problems.cast(PROBLEM_SCHEMA)  # type: ignore[arg-type]
