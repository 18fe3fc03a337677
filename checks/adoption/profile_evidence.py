"""What a force's export says about itself, for `profile draft`: the ideas in its column names,
the shape of its values (dates, yes/no, numbers, codes), each file's encoding, and which of its
codes name a contract value plainly. Names, shapes and code-like values only, never free text."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path

import polars as pl

from recordcheck.checks.extract.contract import CODE_LIKE, Column
from recordcheck.checks.extract.profile import SUFFIXES

SAMPLE_ROWS = 5000
SAMPLE_BYTES = 8 << 20

# Words a force may use for one idea: each maps to a concept the canonical names use too.
CONCEPTS: dict[str, tuple[str, ...]] = {
    "id": ("id", "ref", "reference", "no", "number", "num", "urn", "identifier", "key"),
    "at": ("at", "on", "time", "date", "datetime", "when", "dt", "timestamp"),
    "received": ("received", "receipt", "referred", "arrival"),
    "reported": ("reported", "report", "call", "called", "first"),
    "recorded": ("recorded", "record", "created", "creation", "crimed"),
    "district": ("district", "area", "lpa", "division", "sector", "borough", "bcu", "neighbourhood", "locality"),
    "referrer": ("referrer", "source", "referring", "reporter", "informant", "caller", "requester"),
    "agency": ("agency", "organisation", "organization", "org", "partner", "body", "service"),
    "type": ("type", "category", "class", "classification", "kind", "cat", "group", "code"),
    "concern": ("concern", "theme", "issue"),
    "subject": ("subject", "child", "young", "yp", "about", "adult"),
    "person": ("person", "nominal", "individual", "people", "pid"),
    "dob": ("dob", "birth", "born", "birthdate"),
    "sex": ("sex", "gender"),
    "vulnerable": ("vulnerable", "vulnerability", "risk", "vuln"),
    "offence": ("offence", "offense", "ho", "hocr", "crime", "crimes"),
    "count": ("count", "total", "how", "many", "quantity"),
    "victim": ("victim", "victims", "ip", "aggrieved", "injured"),
    "decision": ("decision", "outcome", "result", "disposal", "determination"),
    "reason": ("reason", "ncr", "why", "grounds"),
    "rationale": ("rationale", "justification", "explanation", "account", "notes", "note", "comments", "remarks"),
    "summary": ("summary", "narrative", "description", "details", "synopsis", "text", "circumstances"),
    "status": ("status", "state", "stage"),
    "cancel": ("cancel", "cancelled", "cancellation", "canceled", "cancellations", "cxl", "nfa"),
    "authoriser": ("authoriser", "authorizer", "authorised", "authorized", "approver", "approved", "by", "role"),
    "suspect": ("suspect", "offender", "named", "perpetrator"),
    "relationship": ("relationship", "relation", "related"),
    "cse": ("cse", "exploitation"),
    "opening": ("opening", "initial", "open", "start"),
    "closing": ("closing", "final", "close", "closure", "closed", "end"),
    "child": ("child", "juvenile", "minor", "under18", "involved"),
    "contact": ("contact", "contacted", "update", "told", "informed", "notified"),
    "link": ("link", "links", "linked"),
    "entry": ("entry", "entries", "logged", "line"),
}
_CONCEPT_OF = {word: concept for concept, words in CONCEPTS.items() for word in words}
CODE_PATTERN = re.compile(CODE_LIKE)
OFFENCE_CODE = re.compile(r"^\d{1,3}[A-Z]?\d?$")
DAY_MONTH = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})")
BOOL_WORDS = {
    "y": True,
    "yes": True,
    "true": True,
    "t": True,
    "1": True,
    "n": False,
    "no": False,
    "false": False,
    "f": False,
    "0": False,
}
TABLE_WORDS = {
    "referrals": ("referral", "referrals", "mash", "ppu", "pvp", "safeguarding"),
    "incidents": ("incident", "incidents", "log", "command", "cad", "storm", "calls", "call"),
    "crimes": ("crime", "crimes", "rms", "niche", "athena", "records"),
    "crime_links": ("link", "links", "linked"),
    "victim_contacts": ("contact", "contacts", "victim", "vcop", "updates"),
    "incident_log": ("entries", "entry", "lines", "remarks", "narratives"),
}
_ISO_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S%:z")
_DAYFIRST_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M")


def words(name: str) -> list[str]:
    """'HO Code' -> ['ho', 'code']; 'receivedAt' -> ['received', 'at']; 'subject_dob' -> ['subject', 'dob']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name).lower()
    spaced = re.sub(r"\b(number|no|num|count)\s+of\b", "count", spaced)  # 'Number Of Victims' is a count
    return [w for w in re.split(r"[^a-z0-9]+", spaced) if w]


def concepts(name: str) -> set[str]:
    return {_CONCEPT_OF.get(word, word) for word in words(name)}


def name_score(canonical: str, force: str) -> float:
    """Overlap of the ideas in two names (0..1), with plain spelling similarity as a tie-breaker."""
    a, b = concepts(canonical), concepts(force)
    overlap = len(a & b) / len(a | b) if a | b else 0.0
    spelling = SequenceMatcher(None, canonical.replace("_", " "), force.lower()).ratio()
    return 0.85 * overlap + 0.15 * spelling


@dataclass
class SampledFile:
    path: Path
    encoding: str
    why_encoding: str
    columns: list[str]
    sample: pl.DataFrame
    """Up to SAMPLE_ROWS rows, every column as text."""


def _decode(path: Path) -> tuple[str, str, str]:
    """(text of the first part of the file, encoding, evidence): a verdict for this file alone.

    Windows text (cp1252) has single bytes above 0x7F that are never valid UTF-8 sequences; UTF-8
    text has multi-byte sequences. A file with more valid UTF-8 characters than stray bytes is a
    UTF-8 file with a few bad bytes ("mixed"): read as cp1252 it would garble every accent, so it
    stays UTF-8 and the draft says where the first bad byte is, for the force to fix at source."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if len(head) == SAMPLE_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    try:
        text = head.decode("utf-8-sig")
        return text, "utf-8", "plain ASCII" if head.isascii() else "reads as UTF-8"
    except UnicodeDecodeError as exc:
        first_line = head[: exc.start].count(b"\n") + 1
        lenient = head.decode("utf-8-sig", errors="replace")
        stray = lenient.count("\ufffd")
        utf8_chars = sum(1 for ch in lenient if ord(ch) > 0x7F and ch != "\ufffd")
        if utf8_chars > stray:
            return (
                lenient,
                "utf-8",
                (
                    f"mixed: {utf8_chars:,} UTF-8 character(s) and {stray:,} byte(s) that are not UTF-8 (the first on "
                    f"line {first_line}); read as UTF-8, those lines are refused until the export is fixed"
                ),
            )
        return (
            head.decode("cp1252", errors="replace"),
            "cp1252",
            (
                f"byte 0x{head[exc.start]:02X} on line {first_line} is not UTF-8, and no UTF-8 character was seen"
                if not utf8_chars
                else f"{stray:,} byte(s) that are not UTF-8 (the first, 0x{head[exc.start]:02X}, on line {first_line}) "
                f"against {utf8_chars:,} UTF-8 character(s)"
            ),
        )


def sample_file(path: Path) -> SampledFile | None:
    fmt = SUFFIXES.get(path.suffix.lower())
    try:
        if fmt == "csv":
            text, encoding, why = _decode(path)
            frame = pl.read_csv(io.StringIO(text), infer_schema=False, n_rows=SAMPLE_ROWS, truncate_ragged_lines=True)
        elif fmt == "parquet":
            frame, encoding, why = pl.read_parquet(path, n_rows=SAMPLE_ROWS), "utf-8", "Parquet"
        elif fmt == "jsonl":
            frame, encoding, why = pl.read_ndjson(path, n_rows=SAMPLE_ROWS), "utf-8", "JSON Lines"
        else:
            return None
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None
    frame = frame.select([pl.col(c).cast(pl.String) for c in frame.columns])
    return SampledFile(path, encoding, why, list(frame.columns), frame)


def values_of(sample: pl.DataFrame, column: str) -> pl.Series:
    if column not in sample.columns:
        return pl.Series(column, [], pl.String)
    values = sample[column].drop_nulls().str.strip_chars()
    return values.filter(values != "")


def _mean(mask: pl.Series) -> float:
    """Share of True in a boolean series (0 when empty)."""
    return mask.to_list().count(True) / len(mask) if len(mask) else 0.0


def _parse_share(values: pl.Series, formats: tuple[str, ...], date_only: bool = False) -> float:
    if values.is_empty():
        return 0.0
    frame = values.to_frame("v")
    if date_only:
        parsed = pl.coalesce([pl.col("v").str.to_date(f, strict=False) for f in formats])
    else:
        parsed = pl.coalesce(
            [pl.col("v").str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC") for f in formats]
        )
    return _mean(frame.select(parsed.is_not_null())["v"])


def _normal(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


def value_fit(column: Column, values: pl.Series, id_column: bool) -> tuple[float, str]:
    """How well a force column's values fit a canonical column (0..1) and why, in counts and codes."""
    n = len(values)
    if n == 0:
        return 0.3, "empty in the sample"
    if column.type == "timestamp":
        share = _parse_share(values.str.replace(r"(Z|[+-]\d{2}:?\d{2})$", ""), _ISO_FORMATS[:3] + _DAYFIRST_FORMATS)
        return share, f"{share:.0%} read as date and time"
    if column.type == "date":
        share = _parse_share(values, ("%Y-%m-%d", "%d/%m/%Y"), date_only=True)
        return share, f"{share:.0%} read as dates"
    if column.type == "bool":
        share = _mean(values.str.to_lowercase().is_in(list(BOOL_WORDS)))
        return share, f"{share:.0%} yes/no values"
    if column.type == "int":
        share = _mean(values.str.contains(r"^\d+$"))
        return share, f"{share:.0%} whole numbers"
    if column.offence_code:
        share = _mean(values.str.contains(OFFENCE_CODE.pattern))
        return share, f"{share:.0%} look like Home Office codes"
    if column.enum:
        allowed = {_normal(v) for v in column.enum}
        share = _mean(values.map_elements(_normal, return_dtype=pl.String).is_in(list(allowed)))
        codes = _mean(values.str.contains(CODE_PATTERN.pattern))
        return max(share, 0.5 * codes), f"{share:.0%} are the contract's values"
    if id_column:
        unique = values.n_unique() / n
        return unique, f"{unique:.0%} unique"
    if column.free_text:
        long = _mean(values.str.len_chars() > 15)
        return long, "free text" if long > 0.5 else "short values"
    short = _mean(values.str.len_chars() <= 40)
    return 0.5 * short, "short text"


def _abbreviates(code: str, tokens: list[str]) -> bool:
    """'vdec' abbreviates victim_declined: it splits into prefixes of the tokens, in order."""
    if not code:
        return not tokens
    if not tokens:
        return False
    head, rest = tokens[0], tokens[1:]
    return any(code[:k] == head[:k] and _abbreviates(code[k:], rest) for k in range(1, min(len(code), len(head)) + 1))


def match_code(code: str, allowed: tuple[str, ...]) -> str | None:
    """A force code's canonical value, when its name says so plainly: the same word; the initials
    or an abbreviation of each word (VDEC: victim_declined); a single canonical letter it starts
    with (Female: F); or one word it begins (ACK: written_acknowledgement). Among several, the
    shortest value; none when the evidence is thinner than that."""
    normal = _normal(code)
    squeezed = normal.replace("_", "")
    tests: tuple[Callable[[str], bool], ...] = (
        lambda value: normal == _normal(value),
        lambda value: "_" in value and _abbreviates(squeezed, value.lower().split("_")),
        lambda value: len(value) == 1 and squeezed.startswith(value.lower()),
        lambda value: len(squeezed) >= 3 and any(t.startswith(squeezed) for t in value.lower().split("_")),
    )
    for test in tests:
        hits = [value for value in allowed if test(value)]
        if hits:
            return min(hits, key=len)
    return None
