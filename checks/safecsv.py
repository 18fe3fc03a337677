"""Text outputs that are safe to open in a spreadsheet.

Auditors open the register and the quarantine in Excel. A cell that begins with `=`, `+`, `-`,
`@`, a tab or a carriage return is read there as a formula, and a crafted value in an extract
(an id `=HYPERLINK(...)`, a district `+cmd|...`) would run. Every such text cell written to a CSV
or XLSX gets a leading apostrophe, as OWASP advises. Parquet keeps the exact values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

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
