"""The narrative screen as SQL: texts to sentences to clauses, a prefilter of every cue, the
ConText modifiers by position in the clause, then one hit per text and offence group.

Everything runs in the engine's DuckDB. Only candidate clauses (those holding a cue) are
examined beyond one regular expression. The hits table holds ids, places, groups, cue ids and
assertions: never a word of the text. A text longer than the lexicons' `max_chars` is screened
up to it and listed in `narrative_note`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from recordcheck.checks.base.database import DUCKDB_TYPES, insert_rows
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.narrative.lexicon import ASSERTIONS, Lexicons, whole_words

HIT_TABLE = "narrative_hit"
NOTE_TABLE = "narrative_note"
CUE_TABLE = "narrative_cue"
GROUP_TABLE = "narrative_group"
ROLE_TABLE = "narrative_term_role"
SCREEN_TABLES = (HIT_TABLE, NOTE_TABLE, CUE_TABLE, GROUP_TABLE)
SCOPE_VIEW = "narrative_scope"
"""A pack view (record_type, record_id) naming the reports the screen reads; without one, every report."""
"""The tables the screen leaves in the engine's schema for rules to read."""

HIT_COLUMNS = {
    "record_type": "VARCHAR",
    "record_id": "VARCHAR",
    "place": "VARCHAR",
    "entry_no": "INTEGER",
    "entry_at": "TIMESTAMPTZ",
    "offence_group": "VARCHAR",
    "cue_id": "VARCHAR",
    "assertion": "VARCHAR",
}
"""A hit: where (`summary`, or `log` entry `entry_no` written at `entry_at`), which group, which
cue, and whether it is affirmed or which modifier applies."""

SENTENCE_ENDS = r"[.!?;\r\n]+"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _texts(scoped: bool) -> str:
    """Every text the screen reads (of the reports in the pack's scope, where it has one), with
    where it is."""
    scope = {
        kind: f" AND {column} IN (SELECT record_id FROM {SCOPE_VIEW} WHERE record_type = '{kind}')" if scoped else ""
        for kind, column in (("referral", "referral_id"), ("incident", "incident_id"))
    }
    return f"""
    SELECT 'referral' AS record_type, CAST(referral_id AS VARCHAR) AS record_id, 'summary' AS place,
           0 AS entry_no, NULL::TIMESTAMPTZ AS entry_at, summary AS body
    FROM referrals WHERE summary IS NOT NULL{scope["referral"]}
    UNION ALL
    SELECT 'incident', CAST(incident_id AS VARCHAR), 'summary', 0, NULL::TIMESTAMPTZ, summary
    FROM incidents WHERE summary IS NOT NULL{scope["incident"]}
    UNION ALL
    SELECT 'incident', CAST(incident_id AS VARCHAR), 'log',
           CAST(row_number() OVER (PARTITION BY incident_id ORDER BY entry_at, md5(coalesce(text, ''))) AS INTEGER),
           entry_at, text
    FROM incident_log WHERE true{scope["incident"]}"""


def _modified(kind: str) -> str:
    """Whether the cue lies in the scope of a trigger of this kind: one before it looking forward,
    one after it looking back, or one looking both ways, in its clause."""
    return f"(coalesce({kind}_fwd < term_no, false) OR coalesce({kind}_bwd > term_no, false) OR {kind}_both)"


def _assertion(lexicons: Lexicons) -> str:
    kinds = [m.kind for m in lexicons.modifiers]
    if not kinds:
        return "'affirmed'"
    which = " ".join(f"WHEN {_modified(k)} THEN '{k}'" for k in kinds)
    return f"CASE {which} ELSE 'affirmed' END"


def _scopes(lexicons: Lexicons) -> str:
    """Per clause, where each kind's triggers are: the first looking forward, the last looking back."""
    columns = []
    for m in lexicons.modifiers:
        k = _lit(m.kind)
        columns += [
            f"min(CASE WHEN kind = {k} AND direction = 'forward' THEN term_no END) OVER clause AS {m.kind}_fwd",
            f"max(CASE WHEN kind = {k} AND direction = 'backward' THEN term_no END) OVER clause AS {m.kind}_bwd",
            f"coalesce(bool_or(kind = {k} AND direction = 'both') OVER clause, false) AS {m.kind}_both",
        ]
    return ",\n           ".join(columns)


KEYS = "record_type, record_id, place, entry_no, entry_at"
SENTENCE = f"{KEYS}, sentence_no"


DEFAULT_MAX_CHARS = 20_000
"""The characters of one text screened where no limit is given (limits.narrative_max_chars)."""


def terms_sql(lexicons: Lexicons, scoped: bool = False, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """Texts to the terms of their candidate sentences, in order: one row per term found."""
    idioms = f"regexp_replace(words, {_lit(whole_words(lexicons.idioms))}, ' ', 'g')" if lexicons.idioms else "words"
    return f"""
WITH texts AS ({_texts(scoped)}
), split AS (
    -- the prefilter: a text none of whose words is a cue goes no further
    SELECT {KEYS}, regexp_split_to_array(lowered, {_lit(SENTENCE_ENDS)}) AS parts
    FROM (SELECT {KEYS}, lower(left(body, {int(max_chars)})) AS lowered FROM texts)
    WHERE regexp_matches(lowered, {_lit(lexicons.any_cue_raw)})
), sentences AS (
    SELECT {KEYS}, unnest(parts) AS sentence, generate_subscripts(parts, 1) AS sentence_no FROM split
), candidate AS (
    SELECT {SENTENCE}, {idioms} AS words
    FROM (SELECT {SENTENCE}, ' ' || regexp_replace(sentence, '[^a-z0-9]+', ' ', 'g') || ' ' AS words FROM sentences)
    WHERE regexp_matches(words, {_lit(lexicons.any_cue)})
), found AS (
    SELECT {SENTENCE}, regexp_extract_all(words, {_lit(lexicons.any_term)}) AS found FROM candidate
)
SELECT {SENTENCE}, unnest(found) AS term, generate_subscripts(found, 1) AS term_no FROM found"""


def hits_sql(lexicons: Lexicons) -> str:
    """Terms with their roles to one row per cue with its assertion (ConText over the term order:
    a trigger's scope ends at a terminator, which ends the clause)."""
    return f"""
WITH roles AS (
    SELECT t.*, r.role, r.offence_group, r.cue_id, r.kind, r.direction
    FROM narrative_term_found t JOIN {ROLE_TABLE} r ON r.term = t.term
), clauses AS (
    SELECT *, sum(CASE WHEN role = 'terminator' THEN 1 ELSE 0 END)
                OVER (PARTITION BY {SENTENCE} ORDER BY term_no ROWS UNBOUNDED PRECEDING) AS clause_no
    FROM roles
), scoped AS (
    SELECT *,
           {_scopes(lexicons)}
    FROM clauses
    WINDOW clause AS (PARTITION BY {SENTENCE}, clause_no)
)
SELECT {KEYS}, offence_group, cue_id, {_assertion(lexicons)} AS assertion FROM scoped WHERE role = 'cue'"""


def _role_rows(lexicons: Lexicons, found: list[str]) -> list[tuple[Any, ...]]:
    """Each distinct term found, with every role it plays: the lexicon's vocabulary, not the
    records, so this Python loop is bounded by the lexicons' size. A cue inside a longer term is
    found too ("exposed himself" in "exposed himself to her"): each group reads the words on its
    own. A trigger or terminator is the whole term."""
    compiled = [
        (role, re.compile(whole_words(role.terms)).search if role.role == "cue" else re.compile(role.terms).fullmatch)
        for role in lexicons.roles()
    ]
    return [
        (term, role.role, role.offence_group, role.cue_id, role.kind, role.direction)
        for term in found
        for role, matches in compiled
        if matches(term)
    ]


def screen(con: Any, lexicons: Lexicons, scoped: bool = False, max_chars: int = DEFAULT_MAX_CHARS) -> dict[str, int]:
    """Build the screen's tables in the connection's current schema; counts back. `scoped`: read
    only the reports the pack's `narrative_scope` view names."""
    empty_screen(con)
    insert_rows(con, GROUP_TABLE, [(g.id, g.title, list(g.codes)) for g in lexicons.groups])
    insert_rows(con, CUE_TABLE, [(g.id, c.id, c.terms) for g in lexicons.groups for c in g.cues])
    con.execute(f"CREATE OR REPLACE TEMP TABLE narrative_term_found AS {terms_sql(lexicons, scoped, max_chars)}")
    found = [term for (term,) in con.execute("SELECT DISTINCT term FROM narrative_term_found ORDER BY term").fetchall()]
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {ROLE_TABLE} (term VARCHAR, role VARCHAR, offence_group VARCHAR, "
        "cue_id VARCHAR, kind VARCHAR, direction VARCHAR)"
    )
    insert_rows(con, ROLE_TABLE, _role_rows(lexicons, found))
    rank = " ".join(f"WHEN '{kind}' THEN {i}" for i, kind in enumerate(ASSERTIONS))
    con.execute(
        f"""INSERT INTO {HIT_TABLE}
        SELECT {KEYS}, offence_group,
               arg_min(cue_id, CASE assertion {rank} END) AS cue_id,
               arg_min(assertion, CASE assertion {rank} END) AS assertion
        FROM ({hits_sql(lexicons)}) GROUP BY ALL"""
    )
    con.execute("DROP TABLE narrative_term_found")
    con.execute(f"DROP TABLE {ROLE_TABLE}")
    con.execute(
        f"""INSERT INTO {NOTE_TABLE}
        SELECT record_type, record_id, place, entry_no, length(body) AS chars
        FROM ({_texts(scoped)}) WHERE length(body) > {int(max_chars)}"""
    )
    ((hits, affirmed),) = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE assertion = 'affirmed') FROM {HIT_TABLE}"
    ).fetchall()
    return {"hits": int(hits), "affirmed": int(affirmed)}


def empty_screen(con: Any) -> None:
    """The screen's tables with no rows: where no pack lexicons exist."""
    columns = ", ".join(f"{name} {kind}" for name, kind in HIT_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE {HIT_TABLE} ({columns})")
    note = "record_type VARCHAR, record_id VARCHAR, place VARCHAR, entry_no INTEGER, chars BIGINT"
    con.execute(f"CREATE OR REPLACE TABLE {NOTE_TABLE} ({note})")
    con.execute(f"CREATE OR REPLACE TABLE {CUE_TABLE} (offence_group VARCHAR, cue_id VARCHAR, terms VARCHAR)")
    con.execute(f"CREATE OR REPLACE TABLE {GROUP_TABLE} (offence_group VARCHAR, title VARCHAR, codes VARCHAR[])")


def screen_frames(frames: Mapping[str, Any], lexicons: Lexicons, max_chars: int = DEFAULT_MAX_CHARS) -> dict[str, Any]:
    """The screen over tables held as frames (a rule case's, a national force's accepted tables),
    in a DuckDB of its own: each screen table back as Arrow, for an engine that is not DuckDB."""
    import duckdb

    con = duckdb.connect()
    try:
        for name, contract in TABLES.items():
            if name in frames:
                con.register(f"_{name}", frames[name].select(contract.column_names).to_arrow())
                con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM "_{name}"')
            else:
                columns = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.type]}' for c in contract.columns)
                con.execute(f'CREATE TABLE "{name}" ({columns})')
        screen(con, lexicons, max_chars=max_chars)
        return {name: con.sql(f"SELECT * FROM {name}").to_arrow_table() for name in SCREEN_TABLES}
    finally:
        con.close()
