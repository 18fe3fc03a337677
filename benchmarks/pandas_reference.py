"""The core rules the way an analyst writes them today: pandas, read_csv, merge and filter.

A reference for the benchmark only (how long the obvious approach takes), not a second
implementation to trust: it covers the heaviest core rules (unrecorded notifiable referrals and
incidents, late recording, rape disclosures recorded as another offence, overdue victim updates)
with the contract's defaults, and prints how many records each flags.

    python benchmarks/pandas_reference.py EXTRACT_DIR --as-of 2026-04-01T00:00:00Z
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

HOURS = pd.Timedelta(hours=1)


def read(folder: Path, table: str) -> pd.DataFrame:
    csv = folder / f"{table}.csv"
    if csv.exists():
        return pd.read_csv(csv, dtype=str, keep_default_na=False, na_values=[""])
    frame = pd.read_parquet(folder / f"{table}.parquet")
    # instants stay typed; everything else as text, as from CSV
    for column in frame.columns:
        if not isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].astype("string")
    return frame


def instants(column: pd.Series) -> pd.Series:
    """Naive times are London wall-clock; a few carry their own offset. Typed instants pass."""
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        return column.dt.tz_convert("UTC")
    has_offset = column.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", na=False)
    local = pd.to_datetime(column.where(~has_offset), format="ISO8601", errors="coerce")
    result = local.dt.tz_localize("Europe/London", ambiguous=True, nonexistent="NaT").dt.tz_convert("UTC")
    if has_offset.any():
        result[has_offset] = pd.to_datetime(column[has_offset], format="ISO8601", utc=True, errors="coerce")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("extract", type=Path)
    parser.add_argument("--as-of", default="2026-04-01T00:00:00Z")
    args = parser.parse_args()
    as_of = pd.Timestamp(args.as_of)
    root = Path(__file__).resolve().parent.parent
    catalogue = pd.read_csv(root / "rules" / "reference" / "offence_catalogue.csv", dtype=str, comment="#")
    catalogue["notifiable"] = catalogue["notifiable"].str.lower() == "true"
    catalogue["rape"] = catalogue["rape"].str.lower() == "true"

    referrals = read(args.extract, "referrals")
    incidents = read(args.extract, "incidents")
    crimes = read(args.extract, "crimes")
    links = read(args.extract, "crime_links")
    contacts = read(args.extract, "victim_contacts")
    referrals["received_at"] = instants(referrals["received_at"])
    incidents["reported_at"] = instants(incidents["reported_at"])
    for column in ("reported_at", "recorded_at", "outcome_at"):
        crimes[column] = instants(crimes[column])
    contacts["contact_at"] = instants(contacts["contact_at"])

    found = {}
    # Unrecorded: a notifiable disclosure with no linked crime, closed as a crime or left open too long.
    linked = links.groupby(["source_type", "source_id"]).size().rename("linked").reset_index()
    for name, frame, id_col, code_col, closure_col, at_col in (
        ("unrecorded_referrals", referrals, "referral_id", "disclosed_offence_code", "decision", "received_at"),
        ("unrecorded_incidents", incidents, "incident_id", "reported_offence_code", "closure_class", "reported_at"),
    ):
        merged = frame.merge(catalogue[["code", "notifiable", "rape"]], left_on=code_col, right_on="code", how="left")
        merged = merged[merged["notifiable"].fillna(False).astype(bool)]
        kind = "referral" if name.endswith("referrals") else "incident"
        merged = merged.merge(linked[linked["source_type"] == kind], left_on=id_col, right_on="source_id", how="left")
        unlinked = merged[merged["linked"].isna()]
        closed_as_crime = unlinked[closure_col].isin(["crime_recorded", "crime"])
        pending_too_long = unlinked[closure_col].isin(["pending", "open"]) & ((as_of - unlinked[at_col]) > 24 * HOURS)
        no_reason = unlinked[closure_col].isin(["n100", "no_offence_disclosed", "crime_related_incident", "non_crime"]) & (
            unlinked["no_crime_reason"].isna()
        )
        found[name] = int((closed_as_crime | pending_too_long | no_reason).sum())

    # First report of each crime: its own reported_at or the earliest linked referral or incident.
    sources = pd.concat(
        [
            links.merge(referrals[["referral_id", "received_at"]], left_on="source_id", right_on="referral_id")[
                ["crime_id", "received_at"]
            ],
            links.merge(incidents[["incident_id", "reported_at"]], left_on="source_id", right_on="incident_id")[
                ["crime_id", "reported_at"]
            ].rename(columns={"reported_at": "received_at"}),
        ]
    )
    first = sources.groupby("crime_id")["received_at"].min().rename("first_linked").reset_index()
    crimes = crimes.merge(first, on="crime_id", how="left")
    crimes["first_report_at"] = crimes[["reported_at", "first_linked"]].min(axis=1)
    found["late_recording"] = int(((crimes["recorded_at"] - crimes["first_report_at"]) > 24 * HOURS).sum())

    # A rape disclosed in a linked report, recorded as something else.
    rape_codes = set(catalogue.loc[catalogue["rape"], "code"])
    disclosed = pd.concat(
        [
            links.merge(referrals, left_on="source_id", right_on="referral_id")[["crime_id", "disclosed_offence_code"]],
            links.merge(incidents, left_on="source_id", right_on="incident_id")[
                ["crime_id", "reported_offence_code"]
            ].rename(columns={"reported_offence_code": "disclosed_offence_code"}),
        ]
    )
    raped = disclosed[disclosed["disclosed_offence_code"].isin(rape_codes)]["crime_id"].unique()
    found["rape_misclassified"] = int((crimes["crime_id"].isin(raped) & ~crimes["offence_code"].isin(rape_codes)).sum())

    # Victim updates: the longest gap between recording, each contact and the window's end.
    open_crimes = crimes[(crimes["status"] == "recorded") & crimes["victim_person_id"].notna()].copy()
    outcome_code = pd.to_numeric(open_crimes["outcome_code"], errors="coerce")
    open_crimes["window_end"] = open_crimes["outcome_at"].where(
        outcome_code.between(1, 22) & open_crimes["outcome_at"].notna(), as_of
    )
    points = contacts.merge(open_crimes[["crime_id", "recorded_at", "window_end"]], on="crime_id")
    points = points[(points["contact_at"] >= points["recorded_at"]) & (points["contact_at"] <= points["window_end"])]
    all_points = pd.concat(
        [
            open_crimes[["crime_id", "recorded_at"]].rename(columns={"recorded_at": "at"}),
            points[["crime_id", "contact_at"]].rename(columns={"contact_at": "at"}),
            open_crimes[["crime_id", "window_end"]].rename(columns={"window_end": "at"}),
        ]
    ).sort_values(["crime_id", "at"])
    all_points["gap"] = all_points.groupby("crime_id")["at"].diff()
    longest = all_points.groupby("crime_id")["gap"].max()
    found["victim_update_overdue"] = int((longest > pd.Timedelta(days=28)).sum())

    for name, count in found.items():
        print(f"{name}: {count}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
