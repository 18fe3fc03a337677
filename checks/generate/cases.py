"""Edge cases and injected breaches: records built to breach exactly one rule each, every one listed
in the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from recordcheck.checks.generate.background_crimes import _links
from recordcheck.checks.generate.common import (
    AGENCIES,
    AGENCY_WEIGHTS,
    DAY,
    DISTRICTS,
    HOUR,
    NULL_TS,
    SUMMARIES,
    US,
    _Gen,
    _to_us,
    age_on,
    dob_for_age,
    local_dates,
)


def _edge_cases(g: _Gen) -> None:
    """Compliant records at the rules' edges: exactly 24 hours, clock changes, birthdays."""
    spring = _to_us(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))  # 12:00 GMT, the day before BST starts
    autumn_day = _to_us(datetime(2025, 10, 25, 11, 0, tzinfo=UTC))  # 12:00 BST, the day before GMT
    cases = [
        # (first report, recorded) : exactly 24h; spring 23.5h elapsed (24.5h on the wall clock)
        (g.start + 100 * DAY, g.start + 100 * DAY + 24 * HOUR),
        (spring, spring + 23 * HOUR + 30 * 60 * US),
        (autumn_day, autumn_day + 23 * HOUR + 59 * 60 * US),
    ]
    for first, recorded in cases:
        if not (g.start <= first < g.end):
            continue
        on = local_dates(np.array([first]))
        crime_id = g.ids("CR", 1)
        g.add(
            "crimes",
            crime_id=crime_id,
            reported_at=np.array([first]),
            recorded_at=np.array([recorded]),
            offence_code=np.array(["8N"], dtype=object),
            offence_date=on,
            district=np.array(["Sheffield"], dtype=object),
            status=np.array(["recorded"], dtype=object),
        )
    # a girl who turned 13 between the offence and the report: 20B is right (age at the offence)
    report = np.array([g.start + 200 * DAY])
    on = local_dates(report)
    offence_date = on - np.timedelta64(30, "D")
    dob = offence_date - np.timedelta64(13 * 365 + 3 - 10, "D")  # 13th birthday ~10 days after the offence
    while age_on(dob, offence_date)[0] != 12 or age_on(dob, on)[0] != 13:
        dob = dob - np.timedelta64(1, "D")
    g.add(
        "crimes",
        crime_id=g.ids("CR", 1),
        reported_at=report,
        recorded_at=report + HOUR,
        offence_code=np.array(["20B"], dtype=object),
        offence_date=offence_date,
        district=np.array(["Rotherham"], dtype=object),
        victim_dob=dob,
        victim_sex=np.array(["F"], dtype=object),
        status=np.array(["recorded"], dtype=object),
    )


# ---------------------------------------------------------------- injected breaches


class _Injector:
    """Builds records that each breach one rule, and lists every one in the key."""

    def __init__(self, g: _Gen) -> None:
        self.g = g

    def t(self) -> int:
        """A first-report time early enough to leave room for follow-up."""
        return int(self.g.rng.integers(self.g.start, self.g.as_of - 40 * DAY))

    def referral(self, ref_id: str, received: int, code: str | None, decision: str, **kw: Any) -> None:
        g = self.g
        row: dict[str, Any] = {
            "referral_id": [ref_id],
            "received_at": [received],
            "district": [str(g.choice(DISTRICTS, 1)[0])],
            "referrer_type": [kw.pop("referrer_type", "professional_third_party")],
            "referrer_agency": [kw.pop("referrer_agency", str(g.choice(AGENCIES, 1, p=AGENCY_WEIGHTS)[0]))],
            "concern_type": [kw.pop("concern_type", "csa")],
            "subject_person_id": [kw.pop("person", g.ids("P", 1)[0])],
            "subject_dob": [kw.pop("dob", local_dates(np.array([received]))[0] - np.timedelta64(11 * 365, "D"))],
            "subject_sex": [kw.pop("sex", "F")],
            "disclosed_offence_code": [code],
            "offence_date": [local_dates(np.array([received]))[0] - np.timedelta64(5, "D")],
            "decision": [decision],
            "summary": [str(g.choice(SUMMARIES, 1)[0])],
            "decided_by_role": ["pvp_officer"],
            "supervised_at": [received + 2 * HOUR],
            "receiving_unit": ["MASH"],
        }
        for k, v in kw.items():
            row[k] = [v]
        g.add("referrals", **row)

    def incident(self, inc_id: str, reported: int, code: str | None, closure: str, **kw: Any) -> None:
        g = self.g
        row: dict[str, Any] = {
            "incident_id": [inc_id],
            "reported_at": [reported],
            "district": [str(g.choice(DISTRICTS, 1)[0])],
            "caller_type": [kw.pop("caller_type", "victim")],
            "closure_class": [closure],
            "reported_offence_code": [code],
            "summary": [str(g.choice(SUMMARIES, 1)[0])],
        }
        for k, v in kw.items():
            row[k] = [v]
        g.add("incidents", **row)

    def crime(
        self,
        first: int,
        code: str,
        age: int,
        sex: str,
        told_at: int | None = None,
        referred: bool = True,
        referred_at: int | None = None,
        spoken_to: str = "victim",
        **kw: Any,
    ) -> str:
        g, rng = self.g, self.g.rng
        crime_id = str(g.ids("CR", 1)[0])
        on = local_dates(np.array([first]))
        dob = dob_for_age(np.array([age]), on, rng)[0]
        row: dict[str, Any] = {
            "crime_id": [crime_id],
            "reported_at": [first],
            "recorded_at": [first + 2 * HOUR],
            "offence_code": [code],
            "offence_date": [on[0]],
            "district": [str(g.choice(DISTRICTS, 1)[0])],
            "victim_person_id": [g.ids("P", 1)[0]],
            "victim_dob": [dob],
            "victim_sex": [sex],
            "status": ["recorded"],
        }
        for k, v in kw.items():
            row[k] = [v]
        g.add("crimes", **row)
        if row["status"][0] == "recorded" and row["victim_person_id"][0] is not None and not kw.get("no_contacts"):
            outcome_at = row.get("outcome_at", [NULL_TS])[0]
            _contacts_every(g, crime_id, row["recorded_at"][0], outcome_at, spoken_to=spoken_to)
            if outcome_at != NULL_TS:  # the victim told of the outcome within the hour, unless a case says when
                told = told_at if told_at is not None else outcome_at + HOUR // 2
                g.add(
                    "victim_contacts",
                    crime_id=[crime_id],
                    contact_at=[told],
                    contact_type=["decision_notification"],
                    contact_with=[spoken_to],
                )
            if age < 18 and referred:  # a child referred to support within the hour of the report
                g.add(
                    "victim_contacts",
                    crime_id=[crime_id],
                    contact_at=[referred_at if referred_at is not None else first + HOUR // 2],
                    contact_type=["support_referral"],
                    contact_with=["parent_or_carer" if spoken_to == "victim" else spoken_to],
                )
        return crime_id

    def key(self, finding: str, record_type: str, record_id: str) -> None:
        g = self.g
        g.key.append((finding, record_type, record_id))

    def unaccepted_reasons(self) -> None:
        """Recording: professional third-party reports about children closed for unaccepted reasons."""
        g, rng, t, referral, incident, key = self.g, self.g.rng, self.t, self.referral, self.incident, self.key
        for reason, decision in (
            ("victim_declined", "crime_related_incident"),
            ("not_notifiable", "no_offence_disclosed"),
            (None, "crime_related_incident"),
        ):
            rid = str(g.ids("REF", 1)[0])
            referral(
                rid,
                t(),
                str(g.choice(["20B", "21", "11A", "8N", "71"], 1)[0]),
                decision,
                no_crime_reason=reason,
                decision_rationale="Victim's family did not want police involvement",
            )
            key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # says a crime was recorded, but none is linked
        referral(rid, t(), "11A", "crime_recorded")
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # still pending long after the limit
        referral(rid, g.as_of - int(rng.integers(26, 24 * 20)) * HOUR, "20B", "pending")
        key("decision_overdue", "referral", rid)  # not unrecorded: undecided (REC006)
        rid = str(g.ids("REF", 1)[0])  # N100 used for a non-rape offence, reason not accepted
        referral(
            rid,
            t(),
            "20B",
            "n100",
            no_crime_reason="victim_declined",
            decision_rationale="Mother declined on child's behalf",
        )
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # N100 for rape, reason not accepted for an N100
        referral(rid, t(), "19E", "n100", no_crime_reason="duplicate", decision_rationale="Said to be a duplicate")
        key("unrecorded_crime", "referral", rid)
        rid = str(g.ids("REF", 1)[0])  # an adult, but vulnerable: victim_declined not accepted
        referral(
            rid,
            t(),
            "8N",
            "crime_related_incident",
            referrer_type="member_of_public",
            referrer_agency=None,
            dob=local_dates(np.array([g.start]))[0] - np.timedelta64(40 * 365, "D"),
            subject_vulnerable=True,
            no_crime_reason="victim_declined",
            decision_rationale="Declined",
        )
        key("unrecorded_crime", "referral", rid)
        iid = str(g.ids("INC", 1)[0])  # a child victim's incident closed as CRI, victim declined
        incident(
            iid,
            t(),
            "8N",
            "crime_related_incident",
            child_victim=True,
            no_crime_reason="victim_declined",
            decision_rationale="Declined",
        )
        key("unrecorded_crime", "incident", iid)
        iid = str(g.ids("INC", 1)[0])  # closed non-crime although an offence was disclosed, no reason
        incident(iid, t(), "105A", "non_crime", caller_type="member_of_public")
        key("unrecorded_crime", "incident", iid)

    def rape_without_n100(self) -> None:
        """Rape reports closed without a crime or an N100."""
        g, t, referral, incident, key = self.g, self.t, self.referral, self.incident, self.key
        rid = str(g.ids("REF", 1)[0])
        referral(
            rid,
            t(),
            "19E",
            "crime_related_incident",
            no_crime_reason="victim_declined",
            decision_rationale="Child would not engage",
        )
        key("n100_missing", "referral", rid)
        iid = str(g.ids("INC", 1)[0])
        incident(
            iid,
            t(),
            "19C",
            "non_crime",
            caller_type="family_or_carer",
            no_crime_reason="credible_evidence_contrary",
            decision_rationale="Officer doubted account",
        )
        key("n100_missing", "incident", iid)

    def late_recording(self) -> None:
        """Late recording: own report time, a linked earlier referral, and the autumn clock change."""
        g, rng, t, referral, crime, key = self.g, self.g.rng, self.t, self.referral, self.crime, self.key
        first = t()
        cid = crime(first, "8N", 30, "M", recorded_at=first + int(rng.integers(25, 96)) * HOUR)
        key("late_recording", "crime", cid)
        received = t()
        cid = crime(received + 50 * HOUR, "20B", 10, "F", recorded_at=received + 52 * HOUR, referred_at=received + HOUR)
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "20B", "crime_recorded")
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("late_recording", "crime", cid)
        autumn = _to_us(datetime(2025, 10, 25, 11, 0, tzinfo=UTC))  # 12:00 BST; 24.5h later is 11:30 GMT next day
        if g.start <= autumn < g.end:
            cid = crime(autumn, "105A", 40, "F", recorded_at=autumn + 24 * HOUR + 30 * 60 * US)
            key("late_recording", "crime", cid)

    def misclassification(self) -> None:
        """Misclassification: wrong age band, wrong sex, rape disclosure recorded under a lesser code."""
        g, t, referral, crime, key = self.g, self.t, self.referral, self.crime, self.key
        cid = crime(t(), "20A", 11, "F")
        key("misclassification", "crime", cid)
        cid = crime(t(), "19D", 12, "F")
        key("misclassification", "crime", cid)
        cid = crime(t(), "19C", 30, "M")
        key("misclassification", "crime", cid)
        cid = crime(t(), "22B", 16, "M")
        key("misclassification", "crime", cid)
        received = t()
        cid = crime(received, "20A", 15, "F")
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "19D", "crime_recorded", dob=None)
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("misclassification", "crime", cid)

    def undercounting(self) -> None:
        """One crime per victim: three victims disclosed, one crime recorded."""
        g, t, referral, incident, crime, key = self.g, self.t, self.referral, self.incident, self.crime, self.key
        received = t()
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "11A", "crime_recorded", victim_count=3)
        cid = crime(received, "11A", 8, "M")
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("undercounting", "referral", rid)
        reported = t()
        iid = str(g.ids("INC", 1)[0])
        incident(iid, reported, "8N", "crime", victim_count=2)
        cid = crime(reported, "8N", 35, "F")
        _links(g, np.array([cid], dtype=object), "incident", np.array([iid], dtype=object))
        key("undercounting", "incident", iid)

    def improper_cancellations(self) -> None:
        """Cancellations and transfers that lack what the rules require."""
        t, crime, key = self.t, self.crime, self.key

        def cancelled(code: str, **kw: Any) -> None:
            first = t()
            base: dict[str, Any] = {
                "status": "cancelled",
                "cancelled_at": first + 5 * DAY,
                "cancellation_code": "C2",
                "cancellation_authoriser_role": "ddm",
                "cancellation_rationale": "AVI: CCTV shows no offence",
                "victim_informed_of_cancellation_at": first + 6 * DAY,
            }
            base.update(kw)
            cid = crime(first, code, 30, "F", **base)
            key("improper_cancellation", "crime", cid)

        cancelled("8N", cancellation_code=None)
        cancelled("105A", cancellation_rationale=None)
        cancelled("58A", cancellation_authoriser_role="investigator")
        cancelled("20A", cancellation_authoriser_role="supervisor")
        cancelled("8L", victim_informed_of_cancellation_at=None)
        cancelled("8N", status="transferred", cancellation_code="C3", cancellation_authoriser_role=None)

    def inconsistent_outcomes(self) -> None:
        """Outcomes that contradict the record."""
        t, crime, key = self.t, self.crime, self.key
        first = t()
        cid = crime(first, "8N", 25, "M", outcome_code=15, outcome_at=first + 30 * DAY, suspect_identified=False)
        key("outcome_inconsistent", "crime", cid)
        first = t()
        cid = crime(first, "105A", 25, "F", outcome_code=18, outcome_at=first + 30 * DAY, suspect_identified=True)
        key("outcome_inconsistent", "crime", cid)

    def outcome_quality(self) -> None:
        """Outcomes the framework rules out: a charge with no suspect, a caution for rape, outcome 16
        for a child, and outcome 22 given in 2015, before it existed."""
        g, t, crime, key = self.g, self.t, self.crime, self.key

        def in_2015() -> int:
            return _to_us(datetime(2015, 6, 1, 10, 0, tzinfo=UTC)) + int(g.rng.integers(0, 30)) * DAY

        for when, code, age, sex, outcome, days, suspect in (
            (t, "105A", 30, "M", 1, 20, False),
            (t, "19C", 24, "F", 3, 40, True),
            (t, "8N", 10, "F", 16, 25, True),
            (in_2015, "8N", 33, "M", 22, 60, True),
        ):
            first = when()
            cid = crime(
                first, code, age, sex, outcome_code=outcome, outcome_at=first + days * DAY, suspect_identified=suspect
            )
            key("outcome_inconsistent", "crime", cid)

    def cse_flags(self) -> None:
        """A crime from a CSE referral left unflagged; a CSE flag on abuse within the family."""
        g, t, referral, crime, key = self.g, self.t, self.referral, self.crime, self.key
        received = t()
        rid = str(g.ids("REF", 1)[0])
        referral(rid, received, "88A", "crime_recorded", concern_type="cse")
        cid = crime(received, "88A", 14, "F", cse_flag=False, offender_relationship="acquaintance")
        _links(g, np.array([cid], dtype=object), "referral", np.array([rid], dtype=object))
        key("data_quality", "crime", cid)
        cid = crime(t(), "71", 13, "F", cse_flag=True, offender_relationship="family")
        key("data_quality", "crime", cid)

    def overdue_victim_updates(self) -> None:
        """A victim left without an update for more than 28 days."""
        g, rng, crime, key = self.g, self.g.rng, self.crime, self.key
        first = int(rng.integers(g.start, g.as_of - 60 * DAY))
        cid = crime(first, "8N", 45, "F", no_contacts=True)
        g.add(
            "victim_contacts",
            crime_id=[cid],
            contact_at=[first + 3 * DAY],
            contact_type=["written_acknowledgement"],
        )
        _contacts_every(g, cid, first + 35 * DAY, NULL_TS, skip_first=True)
        key("victim_update_overdue", "crime", cid)

    def missing_rationales(self) -> None:
        """Closed without a crime for an accepted reason, with no account of the decision."""
        g, t, referral, incident, key = self.g, self.t, self.referral, self.incident, self.key
        rid = str(g.ids("REF", 1)[0])
        referral(rid, t(), "8N", "crime_related_incident", no_crime_reason="credible_evidence_contrary")
        key("missing_rationale", "referral", rid)
        iid = str(g.ids("INC", 1)[0])
        incident(
            iid,
            t(),
            "58A",
            "crime_related_incident",
            caller_type="anonymous",
            child_victim=False,
            vulnerable_victim=False,
            no_crime_reason="victim_not_traced",
        )
        key("missing_rationale", "incident", iid)

    def repeat_subjects(self) -> None:
        """The same child referred twice inside the window, each referral closed with no offence
        disclosed: the second is the review item (the first, alone, is not)."""
        g, rng, referral, key = self.g, self.g.rng, self.referral, self.key
        first = int(rng.integers(g.start, g.as_of - 100 * DAY))
        person = str(g.ids("P", 1)[0])
        dob = local_dates(np.array([first]))[0] - np.timedelta64(13 * 365, "D")
        earlier, later = (str(i) for i in g.ids("REF", 2))
        for rid, received in ((earlier, first), (later, first + int(rng.integers(20, 90)) * DAY)):
            referral(rid, received, None, "no_offence_disclosed", person=person, dob=dob, concern_type="missing")
        key("repeat_subject", "referral", later)

    def child_not_told(self) -> None:
        """A child's crime finalised, and the child told four days later: past the next working day
        whatever the weekday (Friday's is Monday, three days on)."""
        first = self.t()
        outcome_at = first + 10 * DAY
        cid = self.crime(
            first,
            "8N",
            12,
            "F",
            outcome_code=15,
            outcome_at=outcome_at,
            suspect_identified=True,
            told_at=outcome_at + 4 * DAY,
        )
        self.key("victim_update_overdue", "crime", cid)

    def children_and_the_victims_code(self) -> None:
        """A child never referred to support; a child only ever reached through a professional."""
        cid = self.crime(self.t(), "8N", 13, "F", referred=False)
        self.key("victims_code", "crime", cid)
        cid = self.crime(self.t(), "8N", 15, "F", spoken_to="professional")
        self.key("victims_code", "crime", cid)

    def withdrawn_code(self) -> None:
        """A burglary recorded under 28A, withdrawn in April 2017 (DQ003)."""
        cid = self.crime(self.t(), "28A", 40, "M")
        self.key("data_quality", "crime", cid)

    def unsupervised_decision(self) -> None:
        """A referral about a child closed by the officer, with no supervisory review."""
        rid = str(self.g.ids("REF", 1)[0])
        self.referral(rid, self.t(), None, "no_offence_disclosed", decided_by_role="mash_officer", supervised_at=NULL_TS)
        self.key("unsupervised_decision", "referral", rid)

    def data_quality(self) -> None:
        """Data quality: a child-coded crime without a date of birth, or with unknown sex."""
        t, crime, key = self.t, self.crime, self.key
        cid = crime(t(), "19E", 9, "F", victim_dob=None)
        key("data_quality", "crime", cid)
        cid = crime(t(), "17B", 9, "U")
        key("data_quality", "crime", cid)


def _inject(g: _Gen, per_kind: int) -> None:
    """Records built to breach exactly one rule each; every one goes into the key. The kinds are
    made in the same order each round, so a seed always gives the same extract."""
    injector = _Injector(g)
    kinds = (
        injector.unaccepted_reasons,
        injector.rape_without_n100,
        injector.late_recording,
        injector.misclassification,
        injector.undercounting,
        injector.improper_cancellations,
        injector.inconsistent_outcomes,
        injector.overdue_victim_updates,
        injector.missing_rationales,
        injector.data_quality,
        injector.outcome_quality,
        injector.cse_flags,
        injector.repeat_subjects,
        injector.child_not_told,
        injector.unsupervised_decision,
        injector.children_and_the_victims_code,
        injector.withdrawn_code,
    )
    for _ in range(per_kind):
        for make in kinds:
            make()


def _contacts_every(
    g: _Gen, crime_id: str, start: int, outcome_at: int, skip_first: bool = False, spoken_to: str = "victim"
) -> None:
    end = outcome_at if outcome_at != NULL_TS else g.as_of
    at = []
    current = start
    if skip_first:
        at.append(start)
    while end - current > 20 * DAY:
        current += 20 * DAY
        at.append(current)
    if at:
        g.add(
            "victim_contacts",
            crime_id=[crime_id] * len(at),
            contact_at=at,
            contact_type=["update"] * len(at),
            contact_with=[spoken_to] * len(at),
        )
