"""A generated extract written the way a force's own systems export it, with the profile that maps
it back: `recordcheck generate --shape force`.

The export differs from the contract in every way a profile can map: file and column names, code
values, day-first dates, Y/N flags, Windows-1252 text, and crime links carried in a delimited
column of the referral and incident files. Run through `profile.yaml` it gives exactly the
findings of the canonical extract, so it is the honest test bed for `profile draft` and
`profile check`. Its names are deliberately not the examples the draft's heuristics list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import yaml

from recordcheck.checks.base.london import in_london
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.generate.common import Extract
from recordcheck.checks.generate.shapes import local_text, write_generation

LINK_COLUMN = "Crime Reference(s)"
LINK_SEPARATOR = "|"

FILES = {
    "referrals": "PPU_Referral_Register.csv",
    "incidents": "CommandLog_Export.csv",
    "crimes": "RMS_CrimeRecords.csv",
    "victim_contacts": "VictimContactLog.csv",
    "incident_log": "CommandLog_Entries.csv",
}

COLUMNS: dict[str, dict[str, str]] = {
    "referrals": {
        "referral_id": "Referral Number",
        "received_at": "Received On",
        "district": "Local Policing Area",
        "referrer_type": "Referrer Category",
        "referrer_agency": "Referring Organisation",
        "concern_type": "Concern",
        "subject_person_id": "Subject Person",
        "subject_dob": "Subject Birth Date",
        "subject_sex": "Subject Gender",
        "subject_vulnerable": "Adult At Risk",
        "disclosed_offence_code": "Offence Classification",
        "offence_date": "Date Of Offence",
        "victim_count": "Number Of Victims",
        "decision": "Referral Outcome",
        "decision_at": "Outcome Time",
        "no_crime_reason": "Non Crime Reason",
        "decision_rationale": "Decision Notes",
        "summary": "Referral Narrative",
        "decided_by_role": "Decision Maker Role",
        "supervised_at": "Supervisor Review Time",
        "receiving_unit": "Receiving Team",
    },
    "incidents": {
        "incident_id": "Log Number",
        "reported_at": "Call Time",
        "district": "Local Policing Area",
        "caller_type": "Caller Category",
        "opening_code": "Initial Category",
        "closing_code": "Final Category",
        "closure_class": "Closure Category",
        "reported_offence_code": "Offence Classification",
        "victim_count": "Number Of Victims",
        "child_victim": "Child Involved",
        "vulnerable_victim": "Vulnerable Person",
        "no_crime_reason": "Non Crime Reason",
        "decision_rationale": "Closure Notes",
        "summary": "Log Narrative",
    },
    "crimes": {
        "crime_id": "Crime Number",
        "reported_at": "First Reported",
        "recorded_at": "Record Created",
        "offence_code": "Offence Classification",
        "offence_date": "Date Of Offence",
        "district": "Local Policing Area",
        "victim_person_id": "Victim Person",
        "victim_dob": "Victim Birth Date",
        "victim_sex": "Victim Gender",
        "victim_vulnerable": "Vulnerable Victim",
        "offender_relationship": "Suspect Relationship",
        "cse_flag": "CSE Marker",
        "suspect_identified": "Suspect Named",
        "status": "Record State",
        "cancellation_code": "Cancellation Category",
        "cancelled_at": "Cancelled On",
        "cancellation_authoriser_role": "Cancelled By Role",
        "cancellation_rationale": "Cancellation Notes",
        "victim_informed_of_cancellation_at": "Victim Told On",
        "outcome_code": "Outcome Type",
        "outcome_at": "Outcome Time",
    },
    "victim_contacts": {
        "crime_id": "Crime Number",
        "contact_at": "Contact Time",
        "contact_type": "Contact Category",
        "contact_with": "Contact With",
    },
    "incident_log": {"incident_id": "Log Number", "entry_at": "Entry Time", "text": "Entry Text"},
}

_REPORTERS = {
    "professional_third_party": "PRO",
    "victim": "VIC",
    "family_or_carer": "FAM",
    "member_of_public": "MOP",
    "anonymous": "ANO",
    "police": "POL",
}
_SEXES = {"F": "Female", "M": "Male", "U": "Unknown"}
_NO_CRIME = {
    "credible_evidence_contrary": "CEC",
    "victim_declined": "VDEC",
    "victim_not_traced": "VNT",
    "other_force_recording": "OFR",
    "duplicate": "DUP",
    "not_notifiable": "NN",
    "other": "OTH",
}
VALUES: dict[str, dict[str, dict[str, str]]] = {
    "referrals": {
        "referrer_type": _REPORTERS,
        "referrer_agency": {
            "children_social_care": "CSC",
            "adult_social_care": "ASC",
            "health": "NHS",
            "education": "SCH",
            "youth_justice": "YOT",
            "voluntary_sector": "VOL",
            "other_force": "OFO",
            "police": "POL",
            "other": "OTH",
        },
        "concern_type": {
            "cse": "CSE",
            "csa": "CSA",
            "cce": "CCE",
            "domestic_abuse": "DA",
            "neglect": "NEG",
            "missing": "MFH",
            "online_harm": "ONL",
            "other": "OTH",
        },
        "subject_sex": _SEXES,
        "decision": {
            "crime_recorded": "CRIMED",
            "n100": "N100",
            "crime_related_incident": "CRI",
            "no_offence_disclosed": "NOD",
            "transferred": "XFER",
            "pending": "OPEN",
        },
        "no_crime_reason": _NO_CRIME,
    },
    "incidents": {
        "caller_type": _REPORTERS,
        "closure_class": {
            "crime": "CRIME",
            "crime_related_incident": "CRI",
            "n100": "N100",
            "non_crime": "NONCRIME",
            "transferred": "XFER",
            "duplicate": "DUPL",
            "open": "OPEN",
        },
        "no_crime_reason": _NO_CRIME,
    },
    "crimes": {
        "victim_sex": _SEXES,
        "offender_relationship": {
            "family": "FAM",
            "partner_or_ex": "PTNR",
            "position_of_trust": "POT",
            "acquaintance": "ACQ",
            "stranger": "STR",
            "unknown": "UNK",
        },
        "status": {"recorded": "CONFIRMED", "cancelled": "CANCELLED", "transferred": "TRANSFERRED"},
        "cancellation_authoriser_role": {
            "fcr": "FCR",
            "ddm": "DDM",
            "supervisor": "SGT",
            "investigator": "OIC",
            "other": "OTHER",
        },
    },
    "victim_contacts": {
        "contact_type": {
            "update": "UPD",
            "needs_assessment": "VNA",
            "written_acknowledgement": "ACK",
            "decision_notification": "DEC",
            "support_referral": "REFSUP",
            "other": "OTH",
        },
        "contact_with": {"victim": "VIC", "parent_or_carer": "PAR", "professional": "PRO", "other": "OTH"},
    },
}
TRUE, FALSE = "Y", "N"


def _force_time(column: str) -> pl.Expr:
    """dd/mm/yyyy hh:mm:ss London wall clock; the repeated autumn hour keeps its ISO offset, as
    some systems do, so every instant stays exact."""
    iso = local_text(column)
    day_first = in_london(column).dt.strftime("%d/%m/%Y %H:%M:%S")
    return pl.when(iso.str.len_chars() > 19).then(iso).otherwise(day_first).alias(column)


def _force_table(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    contract = TABLES[name]
    exprs = []
    for column in contract.columns:
        col = pl.col(column.name)
        if column.type == "timestamp":
            exprs.append(_force_time(column.name))
        elif column.type == "date":
            exprs.append(col.dt.strftime("%d/%m/%Y"))
        elif column.type == "bool":
            exprs.append(pl.when(col).then(pl.lit(TRUE)).when(~col).then(pl.lit(FALSE)).alias(column.name))
        elif column.name in VALUES.get(name, {}):
            exprs.append(col.replace_strict(VALUES[name][column.name], return_dtype=pl.String))
        else:
            exprs.append(col)
    return frame.with_columns(exprs).rename(COLUMNS[name])


def _with_links(frame: pl.DataFrame, links: pl.DataFrame, source_type: str, id_column: str) -> pl.DataFrame:
    carried = (
        links.filter(pl.col("source_type") == source_type)
        .group_by("source_id", maintain_order=True)
        .agg(pl.col("crime_id").str.join(LINK_SEPARATOR).alias(LINK_COLUMN))
    )
    return frame.join(carried, left_on=id_column, right_on="source_id", how="left", maintain_order="left")


def force_profile() -> dict[str, Any]:
    """The profile that maps this export onto the contract."""
    tables: dict[str, Any] = {}
    for name, file in FILES.items():
        tables[name] = {"file": file, "columns": dict(COLUMNS[name])}
        values = {
            column: {force: canonical for canonical, force in codes.items()}
            for column, codes in VALUES.get(name, {}).items()
        }
        if values:
            tables[name]["values"] = values
    tables["crime_links"] = {
        "build_from": [
            {"table": "referrals", "column": LINK_COLUMN, "separator": LINK_SEPARATOR, "source_type": "referral"},
            {"table": "incidents", "column": LINK_COLUMN, "separator": LINK_SEPARATOR, "source_type": "incident"},
        ]
    }
    return {
        "profile": 1,
        "name": "generated-force-shape",
        "description": "Maps the force-shaped export written by recordcheck generate --shape force.",
        "encoding": "cp1252",
        "dayfirst": True,
        "booleans": {"true_values": [TRUE], "false_values": [FALSE]},
        "tables": tables,
    }


def write_force_export(extract: Extract, out_dir: Path) -> list[Path]:
    """Write the force-shaped files, profile.yaml, key.csv and generation.json into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    links = extract.tables["crime_links"]
    written = []
    for name, file in FILES.items():
        if name not in extract.tables:
            continue
        frame = _force_table(name, extract.tables[name])
        if name in ("referrals", "incidents"):
            source_type = name.removesuffix("s")
            frame = _with_links(frame, links, source_type, COLUMNS[name][TABLES[name].id_column or ""])
        path = out_dir / file
        path.write_bytes(frame.write_csv().encode("cp1252"))
        written.append(path)
    profile = out_dir / "profile.yaml"
    profile.write_text(
        "# The profile of a force-shaped export from `recordcheck generate --shape force`.\n"
        + yaml.safe_dump(force_profile(), sort_keys=False, allow_unicode=True, width=120),
        encoding="utf-8",
    )
    extract.key.write_csv(out_dir / "key.csv")
    if extract.narratives is not None:
        extract.narratives.write_csv(out_dir / "narrative_key.csv")
    write_generation(
        out_dir,
        {
            "seed": extract.seed,
            "scale": extract.scale,
            "as_of": extract.as_of.isoformat(),
            "shape": "force",
            "phrasing": extract.phrasing,
            "rows": extract.counts,
        },
    )
    return [*written, profile]
