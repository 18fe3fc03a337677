"""A generated extract with known bad rows: every kind of check the suites make, each on known rows.

Used by the quarantine test (exactly these rows, each with its reason) and by the runner parity
and same-answers tests (every expectation type in the suites fails somewhere).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl


def corrupt_extract(source: Path, folder: Path) -> dict[str, set[int]]:
    """Copy `source` to `folder`, corrupt known rows, and return {table: corrupted row numbers}."""
    shutil.copytree(source, folder)
    corrupt: dict[str, set[int]] = {t: set() for t in ("referrals", "crimes", "incidents", "crime_links", "victim_contacts")}

    def set_value(table: str, rows: list[int], column: str, value: str | None) -> None:
        path = folder / f"{table}.csv"
        frame = pl.read_csv(path, infer_schema=False)
        idx = pl.Series(range(frame.height))
        frame = frame.with_columns(
            pl.when(idx.is_in([r - 1 for r in rows])).then(pl.lit(value, pl.String)).otherwise(pl.col(column)).alias(column)
        )
        frame.write_csv(path)
        corrupt[table].update(rows)

    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False)
    referenced = set(pl.read_csv(folder / "crime_links.csv", infer_schema=False)["crime_id"]) | set(
        pl.read_csv(folder / "victim_contacts.csv", infer_schema=False)["crime_id"]
    )
    # a crime nothing refers to, so giving it another crime's id orphans no link or contact
    dup_row = next(i + 1 for i, cid in enumerate(crimes["crime_id"]) if i >= 10 and cid not in referenced)
    set_value("crimes", [3, 4], "recorded_at", "not a time")  # unparseable timestamp
    set_value("crimes", [5], "offence_code", "ZZ9")  # unknown offence code
    set_value("crimes", [6], "status", "deleted")  # unknown enum value
    set_value("crimes", [dup_row], "crime_id", crimes["crime_id"][0])  # duplicate id (row 1 kept)
    set_value("crimes", [7, 8], "recorded_at", "2000-01-01T00:00:00")  # recorded before reported
    set_value("crimes", [9], "victim_dob", "31/02/2020")  # unparseable date
    set_value("crimes", [10], "outcome_code", "99")  # out of range
    set_value("referrals", [2], "decision", "maybe")  # unknown enum
    set_value("referrals", [3], "received_at", None)  # required value missing
    set_value("referrals", [4], "received_at", "2030-01-01T00:00:00")  # after as-of
    set_value("referrals", [5], "subject_vulnerable", "perhaps")  # unparseable bool
    set_value("incidents", [4], "victim_count", "two")  # unparseable int
    set_value("incidents", [2], "closure_class", "closed")  # unknown enum
    set_value("incidents", [3], "reported_at", "2026-03-29T01:30:00")  # does not exist in London
    set_value("crime_links", [2], "crime_id", "NO-SUCH-CRIME")  # unresolved crime
    set_value("crime_links", [3], "source_id", "NO-SUCH-SOURCE")  # unresolved source
    set_value("victim_contacts", [2], "contact_type", "text")  # unknown enum
    set_value("victim_contacts", [3], "contact_at", "")  # required value missing
    return corrupt


def corrupt_more(folder: Path) -> dict[str, set[int]]:
    """Further bad rows the runners must agree on: a lower bound, a date after the as-of, and a
    row that fails two checks at once."""
    extra: dict[str, set[int]] = {"referrals": set(), "incidents": set()}

    def set_values(table: str, row: int, values: dict[str, str]) -> None:
        path = folder / f"{table}.csv"
        frame = pl.read_csv(path, infer_schema=False)
        idx = pl.Series(range(frame.height))
        frame = frame.with_columns(
            [pl.when(idx == row - 1).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items()]
        )
        frame.write_csv(path)
        extra[table].add(row)

    set_values("incidents", 6, {"victim_count": "0"})  # below the lower bound
    set_values("referrals", 7, {"offence_date": "2031-05-05"})  # a date after the as-of date
    set_values("referrals", 8, {"referrer_type": "alien", "district": ""})  # two checks on one row
    set_values("referrals", 9, {"subject_dob": "0001-01-01"})  # an implausible date
    set_values("incidents", 7, {"victim_count": "5000"})  # above the plausible bound
    return extra
