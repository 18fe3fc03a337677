"""Europe/London, defined once. Timestamps without an offset are London wall-clock times; every
instant is held in UTC; dates, months and the report's times are London ones."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl

LONDON_TZ = "Europe/London"
LONDON = ZoneInfo(LONDON_TZ)


def london_date(moment: datetime) -> date:
    """The London calendar date of an instant."""
    return moment.astimezone(LONDON).date()


def in_london(column: str | pl.Expr) -> pl.Expr:
    """A UTC datetime column as London wall-clock time."""
    expr = pl.col(column) if isinstance(column, str) else column
    return expr.dt.convert_time_zone(LONDON_TZ)
