"""The lexicons' own test cases: each group's sentences it must and must not find affirmed, and
the assertion terms' sentences of each kind, screened by the same SQL a run uses."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from recordcheck.checks.base.database import insert_rows
from recordcheck.checks.narrative.lexicon import Lexicons
from recordcheck.checks.narrative.screen import HIT_TABLE, screen


@dataclass(frozen=True)
class SentenceCase:
    lexicon: str
    """`context`, or the group id."""
    expect: str
    """For a group: `flagged` or `not_flagged`; for context: an assertion kind, or `idiom`."""
    sentence: str


@dataclass(frozen=True)
class SentenceOutcome:
    case: SentenceCase
    passed: bool
    found: tuple[tuple[str, str], ...]
    """(group, assertion) of every hit in the sentence."""

    @property
    def message(self) -> str:
        found = ", ".join(f"{group} {assertion}" for group, assertion in self.found) or "no cue"
        return f"lexicon {self.case.lexicon}, {self.case.expect}: {self.case.sentence!r}: found {found}"


def sentence_cases(lexicons: Lexicons) -> list[SentenceCase]:
    cases = [SentenceCase(g.id, "flagged", s) for g in lexicons.groups for s in g.flagged]
    cases += [SentenceCase(g.id, "not_flagged", s) for g in lexicons.groups for s in g.not_flagged]
    cases += [SentenceCase("context", kind, s) for kind, sentences in lexicons.cases.items() for s in sentences]
    return cases


def _passed(case: SentenceCase, found: list[tuple[str, str]]) -> bool:
    affirmed = [group for group, assertion in found if assertion == "affirmed"]
    if case.lexicon != "context":
        return (case.lexicon in affirmed) == (case.expect == "flagged")
    if case.expect == "affirmed":
        return bool(affirmed)
    if case.expect == "idiom":
        return not affirmed
    # a modifier's sentence: a cue is found, and every cue found is modified by that kind
    return bool(found) and all(assertion == case.expect for _, assertion in found)


def run_sentence_cases(lexicons: Lexicons, cases: list[SentenceCase] | None = None) -> list[SentenceOutcome]:
    """Screen each sentence as a referral's summary and judge what was found."""
    cases = sentence_cases(lexicons) if cases is None else cases
    con = duckdb.connect()
    try:
        con.execute("CREATE TABLE referrals (referral_id VARCHAR, summary VARCHAR)")
        insert_rows(con, "referrals", [(str(i), c.sentence) for i, c in enumerate(cases)])
        con.execute("CREATE TABLE incidents (incident_id VARCHAR, summary VARCHAR)")
        con.execute("CREATE TABLE incident_log (incident_id VARCHAR, entry_at TIMESTAMPTZ, text VARCHAR)")
        screen(con, lexicons)
        found: dict[str, list[tuple[str, str]]] = {}
        for record_id, group, assertion in con.execute(
            f"SELECT record_id, offence_group, assertion FROM {HIT_TABLE} ORDER BY ALL"
        ).fetchall():
            found.setdefault(record_id, []).append((group, assertion))
    finally:
        con.close()
    return [
        SentenceOutcome(case, _passed(case, found.get(str(i), [])), tuple(found.get(str(i), [])))
        for i, case in enumerate(cases)
    ]
