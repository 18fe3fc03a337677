"""`recordcheck profile draft`: a first profile for a force's export, for a person to check.

It looks at the export's file names, column names and values, never at free text, and proposes
for each canonical table a file, and for each canonical column a force column, with the evidence
as a YAML comment beside the choice: the header, the share of values that read as the column's
type, and sample codes (only values that look like codes). It decides the date order from values
above 12, the yes/no spellings, each file's encoding, the code mappings it can match by name, and
a delimited column of crime ids. Whatever it cannot place is a `# TODO dotted.path: why` line: the
draft is a starting point, never a silent guess.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

import polars as pl
import yaml

from recordcheck.checks.contract import CODE_LIKE, TABLES, Column, Table
from recordcheck.checks.profile import SUFFIXES

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
}
_CONCEPT_OF = {word: concept for concept, words in CONCEPTS.items() for word in words}
_CODE_LIKE = re.compile(CODE_LIKE)
_OFFENCE_CODE = re.compile(r"^\d{1,3}[A-Z]?\d?$")
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4})")
_BOOL_WORDS = {
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
_TABLE_WORDS = {
    "referrals": ("referral", "referrals", "mash", "ppu", "pvp", "safeguarding"),
    "incidents": ("incident", "incidents", "log", "command", "cad", "storm", "calls", "call"),
    "crimes": ("crime", "crimes", "rms", "niche", "athena", "records"),
    "crime_links": ("link", "links", "linked"),
    "victim_contacts": ("contact", "contacts", "victim", "vcop", "updates"),
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
    """(text of the first part of the file, encoding, evidence)."""
    with path.open("rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    if len(head) == SAMPLE_BYTES and b"\n" in head:
        head = head[: head.rindex(b"\n") + 1]
    try:
        text = head.decode("utf-8-sig")
        return text, "utf-8", "plain ASCII" if head.isascii() else "reads as UTF-8"
    except UnicodeDecodeError as exc:
        return head.decode("cp1252", errors="replace"), "cp1252", f"byte 0x{head[exc.start]:02X} is not UTF-8"


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


def _values(sample: pl.DataFrame, column: str) -> pl.Series:
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
        share = _mean(values.str.to_lowercase().is_in(list(_BOOL_WORDS)))
        return share, f"{share:.0%} yes/no values"
    if column.type == "int":
        share = _mean(values.str.contains(r"^\d+$"))
        return share, f"{share:.0%} whole numbers"
    if column.offence_code:
        share = _mean(values.str.contains(_OFFENCE_CODE.pattern))
        return share, f"{share:.0%} look like Home Office codes"
    if column.enum:
        allowed = {_normal(v) for v in column.enum}
        share = _mean(values.map_elements(_normal, return_dtype=pl.String).is_in(list(allowed)))
        codes = _mean(values.str.contains(_CODE_LIKE.pattern))
        return max(share, 0.5 * codes), f"{share:.0%} are the contract's values"
    if id_column:
        unique = values.n_unique() / n
        return unique, f"{unique:.0%} unique"
    if column.name in ("summary", "decision_rationale", "cancellation_rationale"):
        long = _mean(values.str.len_chars() > 15)
        return long, "free text" if long > 0.5 else "short values"
    short = _mean(values.str.len_chars() <= 40)
    return 0.5 * short, "short text"


@dataclass
class ColumnChoice:
    canonical: str
    force: str | None
    evidence: str
    alternatives: list[str] = field(default_factory=list)


@dataclass
class TableDraft:
    table: str
    file: SampledFile | None
    why_file: str
    columns: list[ColumnChoice]
    values: dict[str, tuple[dict[str, str], dict[str, int]]] = field(default_factory=dict)
    """canonical column -> (force code -> canonical value, force code -> rows left unmapped)."""


def _choose_columns(table: Table, sampled: SampledFile, taken_links: set[str]) -> list[ColumnChoice]:
    scored = []
    for column in table.columns:
        for force in sampled.columns:
            if force in taken_links:
                continue
            name = name_score(column.name, force)
            fit, why = value_fit(column, _values(sampled.sample, force), column.name == table.id_column)
            if fit < 0.5 and column.type != "string":
                continue  # the values contradict the type: never a match on the name alone
            scored.append((name + 0.3 * fit, name, column.name, force, f"header {force!r}; {why}"))
    scored.sort(key=lambda s: -s[0])
    chosen: dict[str, ColumnChoice] = {}
    used: set[str] = set()
    for score, name, canonical, force, evidence in scored:
        if canonical in chosen or force in used or name < 0.3:
            continue
        others = [f for s, n, c, f, _ in scored if c == canonical and f != force and n >= 0.3 and score - s < 0.05]
        chosen[canonical] = ColumnChoice(canonical, force, evidence, others[:2])
        used.add(force)
    return [chosen.get(c.name) or ColumnChoice(c.name, None, "no column's name and values fit") for c in table.columns]


def _abbreviates(code: str, tokens: list[str]) -> bool:
    """'vdec' abbreviates victim_declined: it splits into prefixes of the tokens, in order."""
    if not code:
        return not tokens
    if not tokens:
        return False
    head, rest = tokens[0], tokens[1:]
    return any(code[:k] == head[:k] and _abbreviates(code[k:], rest) for k in range(1, min(len(code), len(head)) + 1))


def _match_code(code: str, allowed: tuple[str, ...]) -> str | None:
    """A force code's canonical value, when its name says so plainly: the same word; the initials
    or an abbreviation of each word (VDEC: victim_declined); a single canonical letter it starts
    with (Female: F); or one word it begins (ACK: written_acknowledgement). Among several, the
    shortest value; none when the evidence is thinner than that."""
    normal = _normal(code)
    squeezed = normal.replace("_", "")
    tests = (
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


def _code_values(
    table: Table, sampled: SampledFile, choices: list[ColumnChoice]
) -> dict[str, tuple[dict[str, str], dict[str, int]]]:
    found: dict[str, tuple[dict[str, str], dict[str, int]]] = {}
    for choice in choices:
        column = table.column(choice.canonical)
        if choice.force is None or not column.enum:
            continue
        counts = Counter(v for v in _values(sampled.sample, choice.force).to_list() if _CODE_LIKE.match(v))
        mapped, unmapped = {}, {}
        for code, rows in counts.most_common(40):
            target = _match_code(code, column.enum)
            if target is None:
                unmapped[code] = rows
            elif code != target:
                mapped[code] = target
        found[choice.canonical] = (mapped, unmapped)
    return found


def _file_score(table: Table, sampled: SampledFile) -> float:
    names = sum(max((name_score(c.name, f) for f in sampled.columns), default=0) for c in table.columns) / len(table.columns)
    stem = set(words(sampled.path.stem))
    return names + (0.3 if stem & set(_TABLE_WORDS[table.name]) else 0.0)


@dataclass
class Draft:
    folder: Path
    tables: dict[str, TableDraft]
    encoding: str
    dayfirst: bool | None
    why_dates: str
    true_values: list[str]
    false_values: list[str]
    links: list[tuple[str, str, str, str]]
    """(table, force column, separator, evidence) of delimited crime-id columns."""


def _date_order(files: list[SampledFile]) -> tuple[bool | None, str]:
    first = second = 0
    for sampled in files:
        for column in sampled.columns:
            parts = _values(sampled.sample, column).str.extract_groups(_DAY_MONTH.pattern).drop_nulls()
            if parts.is_empty():
                continue
            first = max([first, *(int(v) for v in parts.struct.field("1").to_list() if v is not None)])
            second = max([second, *(int(v) for v in parts.struct.field("2").to_list() if v is not None)])
    if first > 12 and second <= 12:
        return True, f"dates like nn/nn/yyyy whose first number reaches {first}: day first"
    if second > 12 and first <= 12:
        return (
            False,
            f"dates like nn/nn/yyyy whose second number reaches {second}: month first, which the reader cannot take",
        )
    if first or second:
        return None, "dates like nn/nn/yyyy, but no number above 12 to tell day from month"
    return False, "no nn/nn/yyyy dates seen (ISO dates need no setting)"


def _booleans(drafts: dict[str, TableDraft]) -> tuple[list[str], list[str]]:
    seen: Counter[str] = Counter()
    for draft in drafts.values():
        if draft.file is None:
            continue
        for choice in draft.columns:
            if choice.force and TABLES[draft.table].column(choice.canonical).type == "bool":
                seen.update(_values(draft.file.sample, choice.force).to_list())
    true = sorted(v for v in seen if _BOOL_WORDS.get(v.lower()) is True)
    false = sorted(v for v in seen if _BOOL_WORDS.get(v.lower()) is False)
    return true, false


def _link_columns(drafts: dict[str, TableDraft]) -> list[tuple[str, str, str, str]]:
    crimes = drafts.get("crimes")
    if crimes is None or crimes.file is None:
        return []
    id_choice = next((c for c in crimes.columns if c.canonical == "crime_id"), None)
    if id_choice is None or id_choice.force is None:
        return []
    crime_ids = set(_values(crimes.file.sample, id_choice.force).to_list())
    found = []
    for table in ("referrals", "incidents"):
        draft = drafts.get(table)
        if draft is None or draft.file is None:
            continue
        used = {c.force for c in draft.columns if c.force}
        for column in draft.file.columns:
            if column in used:
                continue
            values = _values(draft.file.sample, column)
            if values.is_empty():
                continue
            separators = Counter(s for v in values.to_list() for s in ";|,/" if s in v)
            separator = separators.most_common(1)[0][0] if separators else ";"
            items = [i.strip() for v in values.to_list() for i in v.split(separator) if i.strip()]
            if not items:
                continue
            known = sum(i in crime_ids for i in items) / len(items)
            if known >= 0.5 or (crime_ids and _looks_like_ids(items, crime_ids)):
                found.append(
                    (
                        table,
                        column,
                        separator,
                        f"{known:.0%} of its items are crime ids of the sample; separator {separator!r}",
                    )
                )
    return found


def _looks_like_ids(items: list[str], crime_ids: set[str]) -> bool:
    """Items shaped like the crime ids (same letters, same length) though the sample does not hold them."""
    shape = Counter(re.sub(r"\d", "9", i) for i in list(crime_ids)[:200])
    common = shape.most_common(1)[0][0] if shape else None
    return common is not None and sum(re.sub(r"\d", "9", i) == common for i in items) / len(items) >= 0.8


def draft_profile(folder: Path) -> Draft:
    files = [s for p in sorted(folder.iterdir()) if p.is_file() and (s := sample_file(p)) is not None]
    pairs = sorted(
        ((_file_score(table, sampled), name, sampled) for name, table in TABLES.items() for sampled in files),
        key=lambda t: -t[0],
    )
    chosen: dict[str, tuple[SampledFile, float]] = {}
    used: set[Path] = set()
    for score, name, sampled in pairs:
        if name in chosen or sampled.path in used or score < 0.35:
            continue
        chosen[name] = (sampled, score)
        used.add(sampled.path)
    drafts: dict[str, TableDraft] = {}
    for name, table in TABLES.items():
        if name not in chosen:
            drafts[name] = TableDraft(name, None, "no file's name and columns fit", [])
            continue
        sampled, score = chosen[name]
        columns = _choose_columns(table, sampled, set())
        unplaced = [c.canonical for c in columns if c.force is None and table.column(c.canonical).required]
        if unplaced:
            why = f"{sampled.path.name} fits best, but nothing in it fills required {', '.join(unplaced)}"
            drafts[name] = TableDraft(name, None, why, [])
            continue
        matched = sum(c.force is not None for c in columns)
        why = f"{matched} of {len(columns)} canonical columns placed; {sampled.why_encoding}"
        drafts[name] = TableDraft(name, sampled, why, columns, _code_values(table, sampled, columns))
    links = _link_columns(drafts) if drafts["crime_links"].file is None else []
    for source, column, _, _ in links:  # a link column is not also a canonical column
        for choice in drafts[source].columns:
            if choice.force == column:
                choice.force, choice.evidence = None, "its best match carries the crime links"
    dayfirst, why_dates = _date_order(files)
    encodings = {d.file.encoding for d in drafts.values() if d.file and d.file.why_encoding != "plain ASCII"}
    true, false = _booleans(drafts)
    return Draft(
        folder,
        drafts,
        "cp1252" if encodings == {"cp1252"} else "utf-8",
        dayfirst,
        why_dates,
        true,
        false,
        links,
    )


def _yaml_value(value: str) -> str:
    return yaml.safe_dump(value, default_style=None, width=1000).strip().removesuffix("...").strip()


def render(draft: Draft) -> str:
    """The draft as commented YAML: valid as it stands, with TODO lines for what needs a person."""
    out = [
        f"# Draft profile for the export in {draft.folder.name}/, written by recordcheck profile draft.",
        "# Each choice says why. Check every one; the TODO lines need a person.",
        "# Then run: recordcheck profile check EXPORT_DIR --profile THIS_FILE",
        "profile: 1",
        "name: draft",
        f"encoding: {draft.encoding}",
    ]
    if draft.dayfirst is None:
        out += ["dayfirst: true", f"# TODO dayfirst: {draft.why_dates}; true assumed (UK forces write day first)"]
    else:
        out.append(f"dayfirst: {'true' if draft.dayfirst else 'false'}   # {draft.why_dates}")
        if "month first" in draft.why_dates:
            out.append("# TODO dayfirst: month-first dates cannot be read; ask for ISO dates in the export")
    if draft.true_values or draft.false_values:
        out += [
            "booleans:   # the spellings seen in the yes/no columns",
            f"  true_values: [{', '.join(_yaml_value(v) for v in draft.true_values)}]",
            f"  false_values: [{', '.join(_yaml_value(v) for v in draft.false_values)}]",
        ]
    out.append("tables:")
    for name, table in draft.tables.items():
        out.append(f"  {name}:")
        if name == "crime_links" and table.file is None:
            if draft.links:
                out.append("    build_from:")
                for source, column, separator, evidence in draft.links:
                    out.append(
                        f"      - {{table: {source}, column: {_yaml_value(column)}, separator: {_yaml_value(separator)}, "
                        f"source_type: {source.removesuffix('s')}}}   # {evidence}"
                    )
            else:
                out.append("    build_from: []")
                out.append("    # TODO tables.crime_links: no links file and no column of crime ids found")
            continue
        if table.file is None:
            required = "required" if TABLES[name].required else "optional"
            out.append(f"    file: null   # no file found ({required} table)")
            out.append(f"    # TODO tables.{name}.file: {table.why_file}")
            continue
        out.append(f"    file: {_yaml_value(table.file.path.name)}   # {table.why_file}")
        if table.file.encoding != draft.encoding and table.file.why_encoding != "plain ASCII":
            out.append(f"    encoding: {table.file.encoding}   # {table.file.why_encoding}")
        out.append("    columns:")
        for choice in table.columns:
            if choice.force is None:
                out.append(f"      # TODO tables.{name}.columns.{choice.canonical}: {choice.evidence}")
                continue
            note = choice.evidence + (
                f"; also close: {', '.join(repr(a) for a in choice.alternatives)}" if choice.alternatives else ""
            )
            out.append(f"      {choice.canonical}: {_yaml_value(choice.force)}   # {note}")
        unused = [
            c
            for c in table.file.columns
            if c not in {ch.force for ch in table.columns} and c not in {lk[1] for lk in draft.links}
        ]
        if unused:
            out.append(f"      # not used: {', '.join(repr(c) for c in unused)}")
        coded = {c: v for c, v in table.values.items() if v[0] or v[1]}
        if coded:
            out.append("    values:")
            for column, (mapped, unmapped) in coded.items():
                allowed = ", ".join(TABLES[name].column(column).enum or ())
                out.append(f"      {column}:" + ("" if mapped else " {}"))
                for code, value in mapped.items():
                    out.append(f"        {_yaml_value(code)}: {value}   # matched by name")
                for code, rows in unmapped.items():
                    out.append(
                        f"        # TODO tables.{name}.values.{column}.{code}: {rows} row(s) in the sample; one of {allowed}"
                    )
    return "\n".join(out) + "\n"


TODO = re.compile(r"# TODO (\S+):")


def todos(text: str) -> list[str]:
    """The dotted paths a draft leaves for a person."""
    return TODO.findall(text)
