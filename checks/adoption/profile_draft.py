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

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from recordcheck.checks.adoption.profile_evidence import (
    BOOL_WORDS,
    CODE_PATTERN,
    DAY_MONTH,
    TABLE_WORDS,
    SampledFile,
    match_code,
    name_score,
    sample_file,
    value_fit,
    values_of,
    words,
)
from recordcheck.checks.extract.contract import TABLES, Table


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
            fit, why = value_fit(column, values_of(sampled.sample, force), column.name == table.id_column)
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


def _code_values(
    table: Table, sampled: SampledFile, choices: list[ColumnChoice]
) -> dict[str, tuple[dict[str, str], dict[str, int]]]:
    found: dict[str, tuple[dict[str, str], dict[str, int]]] = {}
    for choice in choices:
        column = table.column(choice.canonical)
        if choice.force is None or not column.enum:
            continue
        counts = Counter(v for v in values_of(sampled.sample, choice.force).to_list() if CODE_PATTERN.match(v))
        mapped, unmapped = {}, {}
        for code, rows in counts.most_common(40):
            target = match_code(code, column.enum)
            if target is None:
                unmapped[code] = rows
            elif code != target:
                mapped[code] = target
        found[choice.canonical] = (mapped, unmapped)
    return found


def _file_score(table: Table, sampled: SampledFile) -> float:
    names = sum(max((name_score(c.name, f) for f in sampled.columns), default=0) for c in table.columns) / len(table.columns)
    stem = set(words(sampled.path.stem))
    return names + (0.3 if stem & set(TABLE_WORDS[table.name]) else 0.0)


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
            parts = values_of(sampled.sample, column).str.extract_groups(DAY_MONTH.pattern).drop_nulls()
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
                seen.update(values_of(draft.file.sample, choice.force).to_list())
    true = sorted(v for v in seen if BOOL_WORDS.get(v.lower()) is True)
    false = sorted(v for v in seen if BOOL_WORDS.get(v.lower()) is False)
    return true, false


def _link_columns(drafts: dict[str, TableDraft]) -> list[tuple[str, str, str, str]]:
    crimes = drafts.get("crimes")
    if crimes is None or crimes.file is None:
        return []
    id_choice = next((c for c in crimes.columns if c.canonical == "crime_id"), None)
    if id_choice is None or id_choice.force is None:
        return []
    crime_ids = set(values_of(crimes.file.sample, id_choice.force).to_list())
    found = []
    for table in ("referrals", "incidents"):
        draft = drafts.get(table)
        if draft is None or draft.file is None:
            continue
        used = {c.force for c in draft.columns if c.force}
        for column in draft.file.columns:
            if column in used:
                continue
            values = values_of(draft.file.sample, column)
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
    """A value as YAML, always on one line (through the YAML dumper, never by formatting): a file
    or column name cannot end its line and start a key of its own."""
    text: str = yaml.safe_dump(value, default_style=None, width=10**9)
    text = text.strip().removesuffix("...").strip()
    if "\n" in text or "\r" in text:
        text = yaml.safe_dump(value, default_style='"', width=10**9).strip().removesuffix("...").strip()
    return text


_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _one_line(line: str) -> str:
    """A line of the draft with any control character (a newline in a folder's name, say) made a
    space: names reach comments too, and a comment has no escapes."""
    return _CONTROL.sub(" ", line)


def _render_header(draft: Draft) -> list[str]:
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
    return out


def _render_links(draft: Draft) -> list[str]:
    if not draft.links:
        return ["    build_from: []", "    # TODO tables.crime_links: no links file and no column of crime ids found"]
    return ["    build_from:"] + [
        f"      - {{table: {source}, column: {_yaml_value(column)}, separator: {_yaml_value(separator)}, "
        f"source_type: {source.removesuffix('s')}}}   # {evidence}"
        for source, column, separator, evidence in draft.links
    ]


def _render_columns(name: str, table: TableDraft, draft: Draft) -> list[str]:
    assert table.file is not None
    out = ["    columns:"]
    for choice in table.columns:
        if choice.force is None:
            out.append(f"      # TODO tables.{name}.columns.{choice.canonical}: {choice.evidence}")
            continue
        also = f"; also close: {', '.join(repr(a) for a in choice.alternatives)}" if choice.alternatives else ""
        out.append(f"      {choice.canonical}: {_yaml_value(choice.force)}   # {choice.evidence}{also}")
    placed = {ch.force for ch in table.columns} | {link[1] for link in draft.links}
    unused = [c for c in table.file.columns if c not in placed]
    if unused:
        out.append(f"      # not used: {', '.join(repr(c) for c in unused)}")
    return out


def _render_values(name: str, table: TableDraft) -> list[str]:
    coded = {c: v for c, v in table.values.items() if v[0] or v[1]}
    if not coded:
        return []
    out = ["    values:"]
    for column, (mapped, unmapped) in coded.items():
        allowed = ", ".join(TABLES[name].column(column).enum or ())
        out.append(f"      {column}:" + ("" if mapped else " {}"))
        out += [f"        {_yaml_value(code)}: {value}   # matched by name" for code, value in mapped.items()]
        out += [
            f"        # TODO tables.{name}.values.{column}.{code}: {rows} row(s) in the sample; one of {allowed}"
            for code, rows in unmapped.items()
        ]
    return out


def render(draft: Draft) -> str:
    """The draft as commented YAML: valid as it stands, with TODO lines for what needs a person."""
    out = _render_header(draft) + ["tables:"]
    for name, table in draft.tables.items():
        out.append(f"  {name}:")
        if name == "crime_links" and table.file is None:
            out += _render_links(draft)
            continue
        if table.file is None:
            required = "required" if TABLES[name].required else "optional"
            out += [
                f"    file: null   # no file found ({required} table)",
                f"    # TODO tables.{name}.file: {table.why_file}",
            ]
            continue
        out.append(f"    file: {_yaml_value(table.file.path.name)}   # {table.why_file}")
        if table.file.encoding != draft.encoding and table.file.why_encoding != "plain ASCII":
            out.append(f"    encoding: {table.file.encoding}   # {table.file.why_encoding}")
        if table.file.why_encoding.startswith("mixed"):
            out.append(f"    # TODO tables.{name}.encoding: {table.file.why_encoding}")
        out += _render_columns(name, table, draft) + _render_values(name, table)
    return "\n".join(_one_line(line) for line in out) + "\n"


TODO = re.compile(r"# TODO (\S+):")


def todos(text: str) -> list[str]:
    """The dotted paths a draft leaves for a person."""
    return TODO.findall(text)
