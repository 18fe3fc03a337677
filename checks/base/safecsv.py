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


def neutralise(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe; everything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def neutralised(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with formula-like cells prefixed; other columns (numbers, dates) as text."""
    pattern = r"^[=+\-@\t\r]"
    exprs = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.String:
            exprs.append(pl.when(column.str.contains(pattern)).then(pl.lit("'") + column).otherwise(column).alias(name))
        elif dtype in (pl.Date, pl.Time) or isinstance(dtype, pl.Datetime):
            exprs.append(column.cast(pl.String))
    return frame.with_columns(exprs) if exprs else frame


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    neutralised(frame).write_csv(path)


def read_rows(file: Path, what: str) -> list[dict[str, Any]]:
    """The rows of a CSV or of an XLSX's first sheet, as dicts by header: what auditors send back."""
    if not file.is_file():
        raise ConfigError(f"{file}: not found")
    suffix = file.suffix.lower()
    if suffix == ".csv":
        with file.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    if suffix != ".xlsx":
        raise ConfigError(f"{file}: {what} are read from .xlsx or .csv")
    from openpyxl import load_workbook

    try:
        book = load_workbook(file, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise ConfigError(f"{file}: not a readable .xlsx ({type(exc).__name__})") from None
    values = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    if not values:
        return []
    header = [str(h) if h is not None else "" for h in values[0]]
    return [dict(zip(header, row, strict=False)) for row in values[1:]]


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
