"""Consecutive nights of one force's export: `recordcheck generate OUT --nights N`.

Night 1 is the generated extract. Each later night is the export a day on, grown and changed as
a real one would be:

- an unrecorded referral is recorded, late: its unrecorded finding resolves and a late-recording
  one appears on the new crime;
- an improper cancellation is put right;
- an incident with a finding leaves the export;
- a new report arrives that discloses an offence and is closed without a crime;
- a new pending report arrives, and ages past the 24-hour limit by the next night;
- open crimes get their nightly victim updates.

Each night has its own answer key (`key.csv`), and its expected due list (`due_key.csv`: what
will breach, and when, unless someone acts). Two findings depend on the as-of instant, so the key states
them from the data as the rules define them (independently of the rule SQL): a pending report
with a notifiable disclosure and no crime is unrecorded once 24 hours old, and an open crime's
victim is overdue when any gap between its recording, its contacts and the night exceeds 28 days.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recordcheck.checks.base.london import LONDON, LONDON_TZ
from recordcheck.checks.base.refdata import ReferenceData, load_reference
from recordcheck.checks.generate.common import Extract, age_on
from recordcheck.checks.generate.shapes import write_extract

KEY_SCHEMA = {"finding": pl.String, "record_type": pl.String, "record_id": pl.String}
AS_OF_DEPENDENT = ("victim_update_overdue",)


@dataclass
class Night:
    number: int
    as_of: datetime
    tables: dict[str, pl.DataFrame]
    key: pl.DataFrame
    changes: list[str]
    """What changed since the night before, in words (ids only)."""
    due: pl.DataFrame | None = None
    """The night's expected due list (rule, record_type, record_id, deadline_at UTC)."""


def _key(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=KEY_SCHEMA, orient="row")


def _notifiable(reference: ReferenceData) -> list[str]:
    catalogue = reference.offence_catalogue
    return catalogue.filter(pl.col("notifiable").fill_null(False))["code"].to_list()


def pending_overdue(tables: dict[str, pl.DataFrame], as_of: datetime, notifiable: list[str], hours: float) -> pl.DataFrame:
    """Open reports (pending referrals, open incidents) with a notifiable disclosure, no crime and
    more than `hours` since they were first reported: decisions overdue (REC006)."""
    linked = tables["crime_links"].select("source_type", "source_id").unique()
    limit = as_of - timedelta(hours=hours)
    referrals = tables["referrals"].filter(
        (pl.col("decision") == "pending")
        & pl.col("disclosed_offence_code").is_in(notifiable)
        & (pl.col("received_at") < limit)
    )
    incidents = tables["incidents"].filter(
        (pl.col("closure_class") == "open")
        & pl.col("reported_offence_code").is_in(notifiable)
        & (pl.col("reported_at") < limit)
    )
    rows = [
        ("decision_overdue", "referral", r)
        for r in referrals.join(
            linked.filter(pl.col("source_type") == "referral"), left_on="referral_id", right_on="source_id", how="anti"
        )["referral_id"].to_list()
    ] + [
        ("decision_overdue", "incident", i)
        for i in incidents.join(
            linked.filter(pl.col("source_type") == "incident"), left_on="incident_id", right_on="source_id", how="anti"
        )["incident_id"].to_list()
    ]
    return _key(rows)


def victims_overdue(tables: dict[str, pl.DataFrame], as_of: datetime, days: float) -> pl.DataFrame:
    """Open recorded crimes with a victim where some gap between recording, contacts and the end of
    the window (the outcome, or tonight) is longer than `days`."""
    crimes = tables["crimes"].filter((pl.col("status") == "recorded") & pl.col("victim_person_id").is_not_null())
    final = pl.col("outcome_code").is_between(1, 22) & pl.col("outcome_at").is_not_null()
    crimes = crimes.select(
        "crime_id", "recorded_at", pl.when(final).then(pl.col("outcome_at")).otherwise(pl.lit(as_of)).alias("window_end")
    )
    contacts = (
        tables["victim_contacts"]
        .join(crimes, on="crime_id")
        .filter((pl.col("contact_at") >= pl.col("recorded_at")) & (pl.col("contact_at") <= pl.col("window_end")))
        .select("crime_id", pl.col("contact_at").alias("point"))
    )
    points = pl.concat(
        [
            crimes.select("crime_id", pl.col("recorded_at").alias("point")),
            contacts,
            crimes.select("crime_id", pl.col("window_end").alias("point")),
        ]
    ).sort("crime_id", "point")
    gaps = points.with_columns((pl.col("point") - pl.col("point").shift(1).over("crime_id")).alias("gap"))
    longest = gaps.group_by("crime_id").agg(pl.col("gap").max())
    overdue = longest.filter(pl.col("gap").dt.total_seconds() / 86400.0 > days)["crime_id"].sort().to_list()
    return _key([("victim_update_overdue", "crime", c) for c in overdue])


DUE_KEY_SCHEMA = {"rule": pl.String, "record_type": pl.String, "record_id": pl.String, "deadline_at": pl.String}


def due_key(
    tables: dict[str, pl.DataFrame], as_of: datetime, notifiable: list[str], hours: float, days: float
) -> pl.DataFrame:
    """The night's expected due list, stated from the data (independently of the rule SQL): an
    open report with a notifiable disclosure and no crime, at most `hours` old, is due at its first
    report plus `hours` (REC006); an open crime with a victim that is not overdue owes its next
    update `days` after the last of its recording and its contacts (VIC001). Deadlines in UTC."""
    linked = tables["crime_links"].select("source_type", "source_id").unique()
    parts = []
    for kind, table, id_col, at, code, state, open_value in (
        ("referral", "referrals", "referral_id", "received_at", "disclosed_offence_code", "decision", "pending"),
        ("incident", "incidents", "incident_id", "reported_at", "reported_offence_code", "closure_class", "open"),
    ):
        reports = tables[table].filter(
            (pl.col(state) == open_value) & pl.col(code).is_in(notifiable) & (pl.col(at) >= as_of - timedelta(hours=hours))
        )
        reports = reports.join(
            linked.filter(pl.col("source_type") == kind), left_on=id_col, right_on="source_id", how="anti"
        )
        parts.append(
            reports.select(
                pl.lit("REC006").alias("rule"),
                pl.lit(kind).alias("record_type"),
                pl.col(id_col).alias("record_id"),
                (pl.col(at) + pl.duration(hours=hours)).alias("deadline"),
            )
        )
    crimes = tables["crimes"].filter((pl.col("status") == "recorded") & pl.col("victim_person_id").is_not_null())
    final = (pl.col("outcome_code").is_between(1, 22) & pl.col("outcome_at").is_not_null()).fill_null(False)
    open_crimes = crimes.filter(~final).select("crime_id", "recorded_at")
    overdue = victims_overdue(tables, as_of, days)["record_id"].to_list()
    contacts = (
        tables["victim_contacts"]
        .join(open_crimes, on="crime_id")
        .filter((pl.col("contact_at") >= pl.col("recorded_at")) & (pl.col("contact_at") <= as_of))
        .select("crime_id", pl.col("contact_at").alias("point"))
    )
    last = (
        pl.concat([open_crimes.select("crime_id", pl.col("recorded_at").alias("point")), contacts])
        .group_by("crime_id")
        .agg(pl.col("point").max())
        .filter(~pl.col("crime_id").is_in(overdue))
    )
    parts.append(
        last.select(
            pl.lit("VIC001").alias("rule"),
            pl.lit("crime").alias("record_type"),
            pl.col("crime_id").alias("record_id"),
            (pl.col("point") + pl.duration(seconds=int(days * 86400))).alias("deadline"),
        )
    )
    frame = pl.concat(parts)
    return frame.select(
        "rule",
        "record_type",
        "record_id",
        pl.col("deadline").dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%SZ").alias("deadline_at"),
    ).sort("rule", "record_type", "record_id")


def children_not_told(tables: dict[str, pl.DataFrame], as_of: datetime, child_under: int) -> pl.DataFrame:
    """Crimes finalised (outcomes 1 to 22) when their victim was a child, whose first decision
    notification came after the end of the next working day (London days), or not yet by tonight."""
    crimes = tables["crimes"].filter(
        (pl.col("status") == "recorded")
        & pl.col("victim_person_id").is_not_null()
        & pl.col("victim_dob").is_not_null()
        & pl.col("outcome_code").is_between(1, 22)
        & pl.col("outcome_at").is_not_null()
    )
    crimes = crimes.with_columns(pl.col("outcome_at").dt.convert_time_zone(LONDON_TZ).dt.date().alias("decided_on"))
    ages = age_on(
        crimes["victim_dob"].to_numpy().astype("datetime64[D]"), crimes["decided_on"].to_numpy().astype("datetime64[D]")
    )
    weekday = pl.col("decided_on").dt.weekday()  # Monday 1
    told_by = pl.col("decided_on") + pl.duration(days=pl.when(weekday == 5).then(3).when(weekday == 6).then(2).otherwise(1))
    children = crimes.filter(pl.Series(ages) < child_under).select("crime_id", "outcome_at", told_by.alias("told_by"))
    children = children.filter(pl.col("told_by") < as_of.astimezone(LONDON).date())
    told = (
        tables["victim_contacts"]
        .filter(pl.col("contact_type") == "decision_notification")
        .join(children, on="crime_id")
        .filter(pl.col("contact_at") >= pl.col("outcome_at"))
        .group_by("crime_id")
        .agg(pl.col("contact_at").min().dt.convert_time_zone(LONDON_TZ).dt.date().alias("first_told_on"))
    )
    late = children.join(told, on="crime_id", how="left").filter(
        pl.col("first_told_on").is_null() | (pl.col("first_told_on") > pl.col("told_by"))
    )
    return _key([("victim_update_overdue", "crime", c) for c in late["crime_id"].sort().to_list()])


class NightlyExport:
    """Night after night of one generated export, with a key per night."""

    def __init__(
        self, extract: Extract, reference: ReferenceData | None = None, step: timedelta = timedelta(days=1)
    ) -> None:
        reference = reference or load_reference()
        self.step = step
        """How far the clock moves between exports: a day for nights, a few hours for daytime runs."""
        self.notifiable = _notifiable(reference)
        self.pending_hours = float(reference.limits["pending_hours"])
        self.update_days = float(reference.limits["victim_update_days"])
        self.child_under = int(reference.limits["child_under_age"])
        self.tables = {name: frame.clone() for name, frame in extract.tables.items()}
        self.as_of = extract.as_of
        self.rng = np.random.default_rng(extract.seed + 1009)
        dynamic = pl.concat([pending_overdue(self.tables, self.as_of, self.notifiable, self.pending_hours), _key([])])
        # the part of the key that does not move with the clock; the rest is restated each night
        self.static = extract.key.filter(~pl.col("finding").is_in(AS_OF_DEPENDENT)).join(
            dynamic, on=list(KEY_SCHEMA), how="anti"
        )
        self.number = 1
        self._serial = 0
        restated = self.night().key
        if not restated.equals(extract.key.sort(list(KEY_SCHEMA))):
            raise RuntimeError(
                "the nightly key's statement of the clock-dependent findings disagrees with the generator's key"
            )

    def night(self, changes: list[str] | None = None) -> Night:
        key = (
            pl.concat(
                [
                    self.static,
                    pending_overdue(self.tables, self.as_of, self.notifiable, self.pending_hours),
                    victims_overdue(self.tables, self.as_of, self.update_days),
                    children_not_told(self.tables, self.as_of, self.child_under),
                ]
            )
            .unique()
            .sort(list(KEY_SCHEMA))
        )
        due = due_key(self.tables, self.as_of, self.notifiable, self.pending_hours, self.update_days)
        return Night(self.number, self.as_of, {n: f.clone() for n, f in self.tables.items()}, key, changes or [], due)

    # ---------------------------------------------------------------- one day on

    def advance(self) -> Night:
        self.as_of += self.step
        self.number += 1
        done = [
            # of the reports due at the last export, the oldest is recorded before its deadline
            self._record_in_time(),
            self._record_late(),
            self._put_cancellation_right(),
            self._drop_incident(),
            self._new_report("no_offence_disclosed", hours_ago=30),
            self._new_report("pending", hours_ago=12),
            self._victim_updates(),
        ]
        return self.night([d for d in done if d])

    def _id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}N{self.number:02d}{self._serial:04d}"

    def _static_ids(self, finding: str, record_type: str) -> list[str]:
        """Records whose only finding in the key is this one (so a change has one known effect)."""
        counts = self.static.group_by("record_type", "record_id").len()
        single = counts.filter(pl.col("len") == 1).select("record_type", "record_id")
        return (
            self.static.join(single, on=["record_type", "record_id"])
            .filter((pl.col("finding") == finding) & (pl.col("record_type") == record_type))["record_id"]
            .sort()
            .to_list()
        )

    def _record_late(self) -> str:
        referrals = self.tables["referrals"]
        candidates = referrals.filter(
            pl.col("referral_id").is_in(self._static_ids("unrecorded_crime", "referral"))
            & (pl.col("decision") != "pending")
            & pl.col("subject_dob").is_not_null()
            & pl.col("subject_sex").is_in(["F", "M"])
            & (pl.col("victim_count").is_null() | (pl.col("victim_count") <= 1))
        )
        if candidates.height == 0:
            return ""
        referral = candidates.row(int(self.rng.integers(candidates.height)), named=True)
        crime_id = self._id("CR")
        self._add_crime(referral, crime_id, self.as_of - timedelta(hours=1))
        self.static = pl.concat(
            [
                self.static.filter(
                    ~((pl.col("record_type") == "referral") & (pl.col("record_id") == referral["referral_id"]))
                ),
                _key([("late_recording", "crime", crime_id)]),
            ]
        )
        return f"referral {referral['referral_id']} recorded late as crime {crime_id}"

    def _record_in_time(self) -> str:
        """Of the pending referrals that were due at the last export (not yet past their limit),
        the oldest gets its crime, recorded two hours before its deadline (or an hour ago, if that
        is sooner): a due item met in time. The others go on to be missed."""
        referrals = self.tables["referrals"]
        linked = self.tables["crime_links"].filter(pl.col("source_type") == "referral")["source_id"]
        last_export = self.as_of - self.step
        pending = referrals.filter(
            (pl.col("decision") == "pending")
            & pl.col("disclosed_offence_code").is_in(self.notifiable)
            & (pl.col("received_at") + pl.duration(hours=self.pending_hours) > last_export)
            & (pl.col("received_at") <= last_export)
            & pl.col("subject_dob").is_not_null()
            & pl.col("subject_sex").is_in(["F", "M"])
            & (pl.col("victim_count").is_null() | (pl.col("victim_count") <= 1))
            & ~pl.col("referral_id").is_in(linked.implode())
        ).sort("received_at", "referral_id")
        if pending.height == 0:
            return ""
        referral = pending.row(0, named=True)
        recorded = min(referral["received_at"] + timedelta(hours=self.pending_hours - 2), self.as_of - timedelta(hours=1))
        if recorded <= referral["received_at"]:
            return ""
        crime_id = self._id("CR")
        self._add_crime(referral, crime_id, recorded)
        when = pl.col("referral_id") == referral["referral_id"]
        self.tables["referrals"] = referrals.with_columns(
            pl.when(when).then(pl.lit("crime_recorded")).otherwise(pl.col("decision")).alias("decision"),
            pl.when(when).then(pl.lit(recorded)).otherwise(pl.col("decision_at")).alias("decision_at"),
            pl.when(when)
            .then(pl.lit(recorded + timedelta(minutes=30)))
            .otherwise(pl.col("supervised_at"))
            .alias("supervised_at"),
        )
        return f"referral {referral['referral_id']} recorded in time as crime {crime_id}"

    def _add_crime(self, referral: dict[str, Any], crime_id: str, recorded: datetime) -> None:
        """A crime for the referral's disclosure, linked to it, its child victim referred to support."""
        crime = {
            "crime_id": crime_id,
            "reported_at": referral["received_at"],
            "recorded_at": recorded,
            "offence_code": referral["disclosed_offence_code"],
            "offence_date": referral["offence_date"],
            "district": referral["district"],
            "victim_person_id": referral["subject_person_id"],
            "victim_dob": referral["subject_dob"],
            "victim_sex": referral["subject_sex"],
            "status": "recorded",
            "suspect_identified": False,
        }
        crimes = self.tables["crimes"]
        self.tables["crimes"] = pl.concat(
            [crimes, pl.DataFrame([crime], schema={k: crimes.schema[k] for k in crime})], how="diagonal"
        )
        links = self.tables["crime_links"]
        self.tables["crime_links"] = pl.concat(
            [links, pl.DataFrame([{"crime_id": crime_id, "source_type": "referral", "source_id": referral["referral_id"]}])]
        )
        contacts = self.tables["victim_contacts"]
        referred = {  # the child referred to support when the referral came in (Victims' Code, right 4)
            "crime_id": crime_id,
            "contact_at": referral["received_at"] + timedelta(minutes=30),
            "contact_type": "support_referral",
            "contact_with": "parent_or_carer",
        }
        self.tables["victim_contacts"] = pl.concat([contacts, pl.DataFrame([referred], schema=contacts.schema)])

    def _put_cancellation_right(self) -> str:
        crimes = self.tables["crimes"]
        ids = crimes.filter(
            pl.col("crime_id").is_in(self._static_ids("improper_cancellation", "crime")) & (pl.col("status") == "cancelled")
        )["crime_id"].to_list()
        if not ids:
            return ""
        crime_id = ids[int(self.rng.integers(len(ids)))]
        when = pl.col("crime_id") == crime_id
        cancelled = pl.coalesce(pl.col("cancelled_at"), pl.col("recorded_at") + pl.duration(days=1))
        self.tables["crimes"] = crimes.with_columns(
            pl.when(when).then(pl.lit("C2")).otherwise(pl.col("cancellation_code")).alias("cancellation_code"),
            pl.when(when)
            .then(pl.lit("fcr"))
            .otherwise(pl.col("cancellation_authoriser_role"))
            .alias("cancellation_authoriser_role"),
            pl.when(when)
            .then(pl.lit("Additional verifiable information recorded on review"))
            .otherwise(pl.col("cancellation_rationale"))
            .alias("cancellation_rationale"),
            pl.when(when).then(cancelled).otherwise(pl.col("cancelled_at")).alias("cancelled_at"),
            pl.when(when)
            .then(cancelled + pl.duration(hours=2))
            .otherwise(pl.col("victim_informed_of_cancellation_at"))
            .alias("victim_informed_of_cancellation_at"),
        )
        self.static = self.static.filter(~((pl.col("record_type") == "crime") & (pl.col("record_id") == crime_id)))
        return f"crime {crime_id}: cancellation put right"

    def _drop_incident(self) -> str:
        ids = self._static_ids("unrecorded_crime", "incident")
        linked = set(self.tables["crime_links"].filter(pl.col("source_type") == "incident")["source_id"].to_list())
        ids = [i for i in ids if i not in linked]
        if not ids:
            return ""
        incident_id = ids[int(self.rng.integers(len(ids)))]
        self.tables["incidents"] = self.tables["incidents"].filter(pl.col("incident_id") != incident_id)
        if "incident_log" in self.tables:  # its log leaves with it
            self.tables["incident_log"] = self.tables["incident_log"].filter(pl.col("incident_id") != incident_id)
        self.static = self.static.filter(~((pl.col("record_type") == "incident") & (pl.col("record_id") == incident_id)))
        return f"incident {incident_id} left the export"

    def _new_report(self, decision: str, hours_ago: float) -> str:
        referrals = self.tables["referrals"]
        referral_id = self._id("REF")
        received = self.as_of - timedelta(hours=hours_ago)
        row = {
            "referral_id": referral_id,
            "received_at": received,
            "district": "Sheffield",
            "referrer_type": "professional_third_party",
            "referrer_agency": "education",
            "concern_type": "csa",
            "subject_person_id": self._id("P"),
            "subject_dob": (received - timedelta(days=365 * 11)).date(),
            "subject_sex": "F",
            "subject_vulnerable": False,
            "disclosed_offence_code": "8N",
            "offence_date": (received - timedelta(days=2)).date(),
            "decision": decision,
            "decision_at": received + timedelta(hours=1) if decision != "pending" else None,
            "decided_by_role": "pvp_officer",
            "supervised_at": received + timedelta(hours=1) if decision != "pending" else None,
            "receiving_unit": "MASH",
        }
        self.tables["referrals"] = pl.concat(
            [referrals, pl.DataFrame([row], schema={k: referrals.schema[k] for k in row})], how="diagonal"
        )
        if decision != "pending":
            self.static = pl.concat([self.static, _key([("unrecorded_crime", "referral", referral_id)])])
        return f"referral {referral_id} arrived ({decision})"

    def _victim_updates(self) -> str:
        crimes = self.tables["crimes"]
        final = pl.col("outcome_code").is_between(1, 22) & pl.col("outcome_at").is_not_null()
        open_crimes = crimes.filter(
            (pl.col("status") == "recorded")
            & pl.col("victim_person_id").is_not_null()
            & ~final.fill_null(False)
            & (pl.col("recorded_at") < self.as_of - timedelta(hours=2))
        )["crime_id"]
        contacts = self.tables["victim_contacts"]
        update = pl.DataFrame(
            {
                "crime_id": open_crimes,
                "contact_at": [self.as_of - timedelta(hours=2)] * open_crimes.len(),
                "contact_type": "update",
                # not said: the night's updates count neither way for who was spoken to (VIC004)
                "contact_with": None,
            },
            schema=contacts.schema,
        )
        self.tables["victim_contacts"] = pl.concat([contacts, update])
        return f"{open_crimes.len():,} open crimes' victims updated"


def write_nights(
    extract: Extract, out_dir: Path, nights: int, hours: float = 24, reference: ReferenceData | None = None
) -> list[Night]:
    """Write night-01 ... night-NN under out_dir, each a full extract with its own key.csv, `hours`
    apart (24: nightly; fewer: the daytime runs that list what is due). The keys follow
    `reference`'s limits (the pack the nights will be run with; default: the bundled one)."""
    export = NightlyExport(extract, reference, step=timedelta(hours=hours))
    written = []
    night = export.night()
    for number in range(1, nights + 1):
        if number > 1:
            night = export.advance()
        folder = out_dir / f"night-{number:02d}"
        write_extract(Extract(night.tables, night.key, night.as_of, extract.seed, extract.scale), folder)
        if night.due is not None:
            night.due.write_csv(folder / "due_key.csv")
        meta = json.loads((folder / "generation.json").read_text(encoding="utf-8"))
        meta.update({"night": number, "changes": night.changes})
        (folder / "generation.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        written.append(night)
    return written
