"""The narrative screen as SQL: texts to sentences to clauses, a prefilter of every cue, the
ConText modifiers by position in the clause, then one hit per text and offence group.

Everything runs in the engine's DuckDB. Only candidate clauses (those holding a cue) are
examined beyond one regular expression. The hits table holds ids, places, groups, cue ids and
assertions: never a word of the text. A text longer than the lexicons' `max_chars` is screened
up to it and listed in `narrative_note`.
"""

from __future__ import annotations

from typing import Any

from recordcheck.checks.narrative.lexicon import ASSERTIONS, Lexicons

HIT_TABLE = "narrative_hit"
NOTE_TABLE = "narrative_note"
CUE_TABLE = "narrative_cue"
GROUP_TABLE = "narrative_group"
SCREEN_TABLES = (HIT_TABLE, NOTE_TABLE, CUE_TABLE, GROUP_TABLE)
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


def _texts(max_chars: int) -> str:
    """Every text the screen reads, cut to max_chars, with where it is."""
    return """
    SELECT 'referral' AS record_type, CAST(referral_id AS VARCHAR) AS record_id, 'summary' AS place,
           0 AS entry_no, NULL::TIMESTAMPTZ AS entry_at, summary AS body
    FROM referrals WHERE summary IS NOT NULL
    UNION ALL
    SELECT 'incident', CAST(incident_id AS VARCHAR), 'summary', 0, NULL::TIMESTAMPTZ, summary
    FROM incidents WHERE summary IS NOT NULL
    UNION ALL
    SELECT 'incident', CAST(incident_id AS VARCHAR), 'log',
           CAST(row_number() OVER (PARTITION BY incident_id ORDER BY entry_at, md5(coalesce(text, ''))) AS INTEGER),
           entry_at, text
    FROM incident_log"""


def _start(pattern: str, prefix: str) -> str:
    """Where a match of pattern starts in `clause` (the characters before it), or NULL: the first
    match with a lazy prefix `^(.*?)`, the last with a greedy `^(.*)`."""
    before = f"length(regexp_extract(clause, {_lit(prefix + pattern)}, 1))"
    return f"CASE WHEN regexp_matches(clause, {_lit(pattern)}) THEN {before} END"


def _first(pattern: str) -> str:
    return _start(pattern, "^(.*?)")


def _last(pattern: str) -> str:
    return _start(pattern, "^(.*)")


def _modifier_columns(lexicons: Lexicons) -> list[str]:
    columns = []
    for m in lexicons.modifiers:
        columns.append(f"{_first(m.forward) if m.forward else 'NULL::BIGINT'} AS {m.kind}_fwd")
        columns.append(f"{_last(m.backward) if m.backward else 'NULL::BIGINT'} AS {m.kind}_bwd")
        columns.append(f"{'regexp_matches(clause, ' + _lit(m.both) + ')' if m.both else 'false'} AS {m.kind}_both")
    return columns


def _modified(kind: str, at: str) -> str:
    """Whether a cue starting at `at` lies in the scope of a trigger of this kind."""
    return f"(coalesce({kind}_fwd < {at}, false) OR coalesce({kind}_bwd > {at}, false) OR {kind}_both)"


def _assertion(lexicons: Lexicons) -> str:
    kinds = [m.kind for m in lexicons.modifiers]
    if not kinds:
        return "'affirmed'"
    first = " OR ".join(_modified(k, "first_at") for k in kinds)
    last = " OR ".join(_modified(k, "last_at") for k in kinds)
    which = " ".join(f"WHEN {_modified(k, 'first_at')} THEN '{k}'" for k in kinds)
    return f"CASE WHEN NOT ({first}) OR NOT ({last}) THEN 'affirmed' {which} ELSE 'affirmed' END"


def screen_sql(lexicons: Lexicons) -> str:
    """The query from the contract tables to one row per cue found in a clause."""
    idioms = f"regexp_replace(words, {_lit(lexicons.idioms)}, ' ', 'g')" if lexicons.idioms else "words"
    keys = "record_type, record_id, place, entry_no, entry_at"
    per_group = "\n    UNION ALL\n".join(
        f"""    SELECT {keys}, {_lit(g.id)} AS offence_group, trim(regexp_extract(clause, {_lit(g.pattern)})) AS cue_text,
           length(regexp_extract(clause, {_lit("^(.*?)" + g.pattern)}, 1)) AS first_at,
           length(regexp_extract(clause, {_lit("^(.*)" + g.pattern)}, 1)) AS last_at, * EXCLUDE ({keys}, clause)
    FROM marked WHERE regexp_matches(clause, {_lit(g.pattern)})"""
        for g in lexicons.groups
    )
    return f"""
WITH texts AS ({_texts(lexicons.max_chars)}
), sentences AS (
    SELECT {keys},
           unnest(regexp_split_to_array(lower(left(body, {int(lexicons.max_chars)})), {_lit(SENTENCE_ENDS)})) AS sentence
    FROM texts
), normal AS (
    SELECT {keys}, ' ' || regexp_replace(sentence, '[^a-z0-9]+', ' ', 'g') || ' ' AS words
    FROM sentences
), candidate AS (
    SELECT {keys}, {idioms} AS words
    FROM normal WHERE regexp_matches(words, {_lit(lexicons.any_cue)})
), clauses AS (
    SELECT {keys}, ' ' || unnest(regexp_split_to_array(words, {_lit(lexicons.terminators)})) || ' ' AS clause
    FROM candidate
), marked AS (
    SELECT {keys}, clause, {", ".join(_modifier_columns(lexicons))}
    FROM clauses WHERE regexp_matches(clause, {_lit(lexicons.any_cue)})
), cued AS (
{per_group}
)
SELECT {keys}, offence_group, cue_text, {_assertion(lexicons)} AS assertion FROM cued"""


def screen(con: Any, lexicons: Lexicons) -> dict[str, int]:
    """Build the hit, note and cue tables in the connection's current schema; counts back."""
    cues = [(g.id, c.id, "^(?:" + c.terms + ")$") for g in lexicons.groups for c in g.cues]
    empty_screen(con)
    con.executemany(f"INSERT INTO {GROUP_TABLE} VALUES (?, ?, ?)", [(g.id, g.title, list(g.codes)) for g in lexicons.groups])
    con.executemany(f"INSERT INTO {CUE_TABLE} VALUES (?, ?, ?)", cues)
    rank = " ".join(f"WHEN '{kind}' THEN {i}" for i, kind in enumerate(ASSERTIONS))
    con.execute(f"""CREATE OR REPLACE TEMP TABLE narrative_cued AS {screen_sql(lexicons)}""")
    con.execute(
        f"""CREATE OR REPLACE TABLE {HIT_TABLE} AS
        WITH named AS (
            SELECT DISTINCT h.offence_group, h.cue_text, first(c.cue_id ORDER BY c.cue_id) OVER w AS cue_id
            FROM (SELECT DISTINCT offence_group, cue_text FROM narrative_cued) h
            LEFT JOIN {CUE_TABLE} c ON c.offence_group = h.offence_group AND regexp_full_match(h.cue_text, c.terms)
            WINDOW w AS (PARTITION BY h.offence_group, h.cue_text)
        )
        SELECT h.record_type, h.record_id, h.place, h.entry_no, h.entry_at, h.offence_group,
               arg_min(n.cue_id, CASE h.assertion {rank} END) AS cue_id,
               arg_min(h.assertion, CASE h.assertion {rank} END) AS assertion
        FROM narrative_cued h JOIN named n USING (offence_group, cue_text)
        GROUP BY ALL"""
    )
    con.execute("DROP TABLE narrative_cued")
    con.execute(
        f"""CREATE OR REPLACE TABLE {NOTE_TABLE} AS
        SELECT record_type, record_id, place, entry_no, length(body) AS chars
        FROM ({_texts(lexicons.max_chars)}) WHERE length(body) > {int(lexicons.max_chars)}"""
    )
    hits, affirmed = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE assertion = 'affirmed') FROM {HIT_TABLE}"
    ).fetchone()
    return {"hits": int(hits), "affirmed": int(affirmed)}


def empty_screen(con: Any) -> None:
    """The screen's tables with no rows: where no pack lexicons exist."""
    columns = ", ".join(f"{name} {kind}" for name, kind in HIT_COLUMNS.items())
    con.execute(f"CREATE OR REPLACE TABLE {HIT_TABLE} ({columns})")
    note = "record_type VARCHAR, record_id VARCHAR, place VARCHAR, entry_no INTEGER, chars BIGINT"
    con.execute(f"CREATE OR REPLACE TABLE {NOTE_TABLE} ({note})")
    con.execute(f"CREATE OR REPLACE TABLE {CUE_TABLE} (offence_group VARCHAR, cue_id VARCHAR, terms VARCHAR)")
    con.execute(f"CREATE OR REPLACE TABLE {GROUP_TABLE} (offence_group VARCHAR, title VARCHAR, codes VARCHAR[])")
