"""Force columns that hold crime ids and that no link builder reads.

A referral or incident file often carries its crimes in a column of its own ("Crime Reference(s)",
"CRN"). When the profile does not build `crime_links` from it, every referral it links looks
unrecorded: measured on a generated force export, one such column left out gave 346 false
"unrecorded crime" findings and a 73.7% recording rate at exit 0. So the reader keeps a sample of
each unused column's id-shaped tokens (from the first batch: bounded work, whatever the export's
size), and once the crimes are loaded the share of filled cells naming a crime in the export is
measured. Names and counts only: a cell's value is never quoted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from recordcheck.checks.extract.coverage import printable_header
from recordcheck.checks.extract.profile import SourceProfile
from recordcheck.checks.extract.reader import RawTable, known_headers

LINK_SOURCE_TABLES = ("referrals", "incidents")
"""The tables whose rows a crime_links row can come from (source_type referral or incident)."""
SAMPLE_CELLS = 20_000
"""Filled cells per column looked at: enough for a share, small beside any batch."""
MIN_CELLS = 20
"""Fewer filled cells than this say nothing either way."""
LINK_SHARE = 0.5
"""A column whose filled cells name a crime of the export this often is a link column."""
_ID_SHAPE = r"[A-Za-z0-9][A-Za-z0-9/_.\-]{2,39}"


@dataclass(frozen=True)
class LinkColumn:
    """An unused force column whose filled cells mostly name crimes in the export."""

    table: str
    column: str
    cells: int
    """Filled cells sampled."""
    matched: int
    """Of those, cells naming at least one crime id in the export."""

    @property
    def reason(self) -> str:
        return (
            f"{self.table}: force column {self.column!r} names a crime of this export in {self.matched:,} of "
            f"{self.cells:,} filled rows sampled ({self.matched / self.cells:.0%}) and no link builder reads it, "
            f"so the reports it links would look unrecorded: add it under crime_links.build_from in the profile, "
            f"or list it under tables.{self.table}.not_links if it is not a link"
        )


def candidate_columns(table: str, headers: list[str], profile: SourceProfile) -> list[str]:
    """The file's columns the profile neither maps, derives from, links from nor sets aside, whose
    names are fit to print (a name shaped like data is never a candidate: it may be a value)."""
    if table not in LINK_SOURCE_TABLES:
        return []
    used = known_headers(table, profile) | set(profile.table(table).not_links)
    return [name for name in headers if name not in used and printable_header(name)]


def sample_tokens(batch: RawTable, columns: list[str]) -> pl.DataFrame:
    """(column, cell, token) for up to SAMPLE_CELLS filled cells of each column; a cell with no
    id-shaped token keeps one row with a null token, so it still counts as filled."""
    parts = [
        batch.frame.select(pl.col(column).cast(pl.String).alias("value"))
        .filter(pl.col("value").is_not_null() & (pl.col("value").str.strip_chars() != ""))
        .head(SAMPLE_CELLS)
        .with_row_index("cell")
        .select(
            pl.lit(column).alias("column"),
            pl.col("cell").cast(pl.Int64),
            pl.col("value").str.extract_all(_ID_SHAPE).alias("token"),
        )
        .explode("token")
        for column in columns
        if column in batch.frame.columns
    ]
    schema = {"column": pl.String, "cell": pl.Int64, "token": pl.String}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def unlinked_columns(con: Any, table: str, sample: pl.DataFrame, crimes_relation: str | None) -> list[LinkColumn]:
    """The sampled columns of `table` whose filled cells mostly name a crime in `crimes_relation`."""
    if crimes_relation is None or sample.is_empty():
        return []
    con.register("_link_sample", sample.to_arrow())
    try:
        rows = con.execute(
            f"""
            WITH crime AS (SELECT DISTINCT CAST(crime_id AS VARCHAR) AS token FROM {crimes_relation})
            SELECT s.column, count(DISTINCT s.cell) AS cells,
                   count(DISTINCT s.cell) FILTER (WHERE crime.token IS NOT NULL) AS matched
            FROM _link_sample s LEFT JOIN crime ON s.token = crime.token
            GROUP BY s.column ORDER BY s.column
            """
        ).fetchall()
    finally:
        con.unregister("_link_sample")
    return [
        LinkColumn(table, str(column), int(cells), int(matched))
        for column, cells, matched in rows
        if cells >= MIN_CELLS and matched / cells >= LINK_SHARE
    ]
