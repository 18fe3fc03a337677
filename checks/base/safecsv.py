"""Text outputs that are safe to open in a spreadsheet.

Auditors open the register and the quarantine in Excel. A cell that begins with `=`, `+`, `-`,
`@`, a tab or a carriage return is read there as a formula, and a crafted value in an extract
(an id `=HYPERLINK(...)`, a district `+cmd|...`) would run. Every such text cell written to a CSV
or XLSX gets a leading apostrophe, as OWASP advises. Parquet keeps the exact values.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.errors import ConfigError

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = "^[" + "".join(f"\\x{{{ord(c):X}}}" for c in FORMULA_START) + "]"
"""A cell that starts with one of FORMULA_START, as a regular expression (for Polars): made from
the list, each character by its code point, so the two never differ."""


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; everything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with formula-like cells prefixed; other columns (numbers, dates) as text."""
    exprs = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.String:
            exprs.append(
                pl.when(column.str.contains(FORMULA_PATTERN)).then(pl.lit("'") + column).otherwise(column).alias(name)
            )
        elif dtype in (pl.Date, pl.Time) or isinstance(dtype, pl.Datetime):
            exprs.append(column.cast(pl.String))
    return frame.with_columns(exprs) if exprs else frame


def neutralised_sql(column: str) -> str:
    """`neutralised` for one text column in DuckDB's SQL: for a CSV written by COPY from the run's
    database, whose rows never pass through Python. The first character against a list, not a
    regular expression: millions of cells at national scale."""
    starts = ", ".join(f"chr({ord(c)})" for c in FORMULA_START)
    return f"CASE WHEN left({column}, 1) IN ({starts}) THEN '''' || {column} ELSE {column} END"


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    neutralised(frame).write_csv(path)


MAX_SHEET_BYTES = 20 * 1024 * 1024
"""The largest worklist or worksheet read back (a force's worklist is a few MB at most)."""
MAX_SHEET_XML_BYTES = 200 * 1024 * 1024
"""The most an XLSX may hold unpacked: a 3.5 MB workbook once held 1 GB of sheet XML."""
MAX_CELL_CHARS = 10_000
"""The longest cell read back: a decision's reason is a sentence or two."""


def read_rows(file: Path, what: str) -> list[dict[str, Any]]:
    """The rows of a CSV or of an XLSX's first sheet, as dicts by header: what auditors send back.
    Read under limits (file size, unpacked size, cell length), XML through defusedxml, and a CSV
    as UTF-8 or refused by name: a hostile file ends in a usage error (exit 2), never a hang."""
    if not file.is_file():
        raise ConfigError(f"{file}: not found")
    if file.stat().st_size > MAX_SHEET_BYTES:
        raise ConfigError(f"{file}: {file.stat().st_size:,} bytes is more than {MAX_SHEET_BYTES:,} for {what}")
    suffix = file.suffix.lower()
    if suffix == ".csv":
        try:
            with file.open(encoding="utf-8-sig", newline="") as handle:
                rows = list(csv.DictReader(handle))
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{file}: byte {exc.start} is not UTF-8; save it as CSV UTF-8") from None
        except csv.Error as exc:
            raise ConfigError(f"{file}: not a readable CSV ({exc})") from None
        _check_cells(file, rows)
        return rows
    if suffix != ".xlsx":
        raise ConfigError(f"{file}: {what} are read from .xlsx or .csv")
    import zipfile

    try:
        with zipfile.ZipFile(file) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile:
        raise ConfigError(f"{file}: not a readable .xlsx (not a zip archive)") from None
    if unpacked > MAX_SHEET_XML_BYTES:
        raise ConfigError(f"{file}: unpacks to {unpacked:,} bytes, more than {MAX_SHEET_XML_BYTES:,} for {what}")
    import defusedxml  # noqa: F401 - openpyxl parses through it when it is installed (entity bombs refused)

    try:
        values = _sheet(file, data_only=True)
        written = _sheet(file, data_only=False)  # the formulas, where a cell holds one
    except Exception as exc:  # noqa: BLE001 - openpyxl and the XML parser raise many kinds for a bad file
        raise ConfigError(f"{file}: not a readable .xlsx ({type(exc).__name__})") from None
    if not values:
        return []
    header = [str(h) if h is not None else "" for h in values[0]]
    _check_formulas(file, header, values, written)
    rows = [dict(zip(header, row, strict=False)) for row in values[1:]]
    _check_cells(file, rows)
    return rows


def _sheet(file: Path, data_only: bool) -> list[Any]:
    """The first sheet's rows: the stored values, or (data_only False) what was typed, formulas too.
    The file is opened here, so it is closed however openpyxl fails on it."""
    from openpyxl import load_workbook

    with file.open("rb") as handle:
        book = load_workbook(handle, read_only=True, data_only=data_only)
        try:
            return list(book.worksheets[0].iter_rows(values_only=True))
        finally:
            book.close()


def _check_formulas(file: Path, header: list[str], values: list[Any], written: list[Any]) -> None:
    """A formula whose result the workbook does not hold would read as empty, a verdict silently
    lost: refused by line and column (a program that saves without calculating leaves none)."""
    for line, (shown, typed) in enumerate(zip(values, written, strict=False), start=1):
        for index, (value, formula) in enumerate(zip(shown, typed, strict=False)):
            if value is None and isinstance(formula, str) and formula.startswith("="):
                column = header[index] if index < len(header) and header[index] else f"number {index + 1}"
                raise ConfigError(
                    f"{file}: line {line}, column {column}: a formula with no stored value (the workbook was "
                    "saved without calculating): open it in a spreadsheet program and save it, or type the value"
                )


def _check_cells(file: Path, rows: list[dict[str, Any]]) -> None:
    for line, row in enumerate(rows, start=2):
        for column, value in row.items():
            if isinstance(value, str) and len(value) > MAX_CELL_CHARS:
                raise ConfigError(f"{file}: line {line}, column {column}: more than {MAX_CELL_CHARS:,} characters")


def write_xlsx(
    rows: pl.DataFrame,
    path: Path,
    title: str,
    checks: dict[str, dict[str, Any]] | None = None,
    dates: tuple[str, ...] = (),
    wide: tuple[str, ...] = (),
    more: dict[str, pl.DataFrame] | None = None,
    marking: str | None = None,
) -> None:
    """A worksheet auditors can work in: a frozen header, filters, dates as dates, every text cell
    text (never a formula, and neutralised), and a data check on the columns in `checks`
    (column -> openpyxl DataValidation arguments). `more`: further sheets by title, for reading
    only (what is read back is the first sheet). `marking`: the protective marking, in every
    sheet's printed header and footer and in the document's properties."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    _fill(sheet, rows, checks or {}, dates, wide)
    for name, frame in (more or {}).items():
        _fill(book.create_sheet(name), frame, {}, dates, wide)
    if marking:
        for each in book.worksheets:
            each.oddHeader.center.text = marking
            each.oddFooter.center.text = marking
        book.properties.title = f"{title} ({marking})"
        book.properties.subject = marking
        book.properties.keywords = marking
        book.properties.category = marking
    book.save(path)


def _fill(
    sheet: Any, rows: pl.DataFrame, checks: dict[str, dict[str, Any]], dates: tuple[str, ...], wide: tuple[str, ...]
) -> None:
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    sheet.append(list(rows.columns))
    for row in rows.iter_rows():
        sheet.append([neutralise(v) for v in row])
    last = max(2, rows.height + 1)
    for index, name in enumerate(rows.columns, start=1):
        letter = get_column_letter(index)
        for cell in sheet[letter][1:]:
            if name in dates:
                cell.number_format = "yyyy-mm-dd"
            if isinstance(cell.value, str):
                cell.data_type = "s"  # text, never a formula
        sheet.column_dimensions[letter].width = 60 if name in wide else 18
        if name in checks:
            validation = DataValidation(allow_blank=True, **checks[name])
            validation.add(f"{letter}2:{letter}{last}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
