"""What a change to the rule pack does to the findings: two packs on one loaded extract.

The extract is read and validated once; each pack runs on the same accepted tables (in a schema
of its own), and the findings are compared by identity (rule, record type, record id). The
result says, per rule, what was added, removed and kept, how the population moved, and which
reference values changed, in text, Markdown (for a pull-request comment) or JSON.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.refdata import LimitPeriod, ReferenceData
from recordcheck.checks.engine.engine import EngineResult, run_pack
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.narrative.lexicon import Lexicons
from recordcheck.checks.rulechange.snapshot import JUDGED, bump_is_enough, least_version, parse_version
from recordcheck.checks.validation.validate import AcceptedTables

IDENTITY = ["rule_id", "record_type", "record_id"]


@dataclass
class RuleDiff:
    rule_id: str
    status: str
    """changed, unchanged, added or removed."""
    added: int
    removed: int
    unchanged: int
    population_base: int | None
    population: int | None
    examples_added: list[tuple[str, str]] = field(default_factory=list)
    """(record id, detail sentence) of findings only the new pack raises."""
    examples_removed: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""
    changed: dict[str, int] = field(default_factory=dict)
    """Kept findings whose severity, evidence or detail changed: column -> how many."""
    examples_changed: list[tuple[str, str, str]] = field(default_factory=list)
    """(record id, what it said, what it says) of kept findings whose wording or severity changed."""
    title_base: str = ""
    title: str = ""

    @property
    def findings_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass
class PackDiff:
    base_version: str
    version: str
    rules: list[RuleDiff]
    reference_changes: list[dict[str, Any]]
    extract: str = ""
    rows: int = 0
    as_of: str = ""
    changelog_versions: list[str] | None = None
    """The versions rules/CHANGELOG.md has an entry for (None: the pack keeps no changelog)."""

    @property
    def findings_changed(self) -> bool:
        return any(r.findings_changed for r in self.rules)

    @property
    def bump(self) -> str | None:
        """The version step the change needs, as `rules approve` judges it: major (findings
        removed, a rule retired), minor (findings added, a rule added, a severity changed), or
        None (a patch: wording, evidence, documentation)."""
        if any(r.removed or r.status == "removed" for r in self.rules):
            return "major"
        if any(r.added or r.status == "added" or r.changed.get("severity") for r in self.rules):
            return "minor"
        return None

    @property
    def version_problems(self) -> list[str]:
        """Why the pack's version or changelog does not fit the change (empty when they do)."""
        problems = []
        if not bump_is_enough(self.base_version, self.version, self.bump):
            wanted = least_version(self.base_version, self.bump)
            problems.append(
                f"the change needs a {self.bump} version step: set pack.yaml's version to {wanted} or later "
                f"(it is {self.version}; the base is {self.base_version})"
            )
        elif parse_version(self.version) < parse_version(self.base_version):
            problems.append(f"the pack's version went back from {self.base_version} to {self.version}")
        if (
            self.changelog_versions is not None
            and self.version != self.base_version
            and self.version not in self.changelog_versions
        ):
            problems.append(f"rules/CHANGELOG.md has no entry for {self.version}: add '## {self.version}' saying why")
        return problems

    def as_json(self) -> dict[str, Any]:
        return {
            "base_version": self.base_version,
            "version": self.version,
            "extract": self.extract,
            "rows": self.rows,
            "as_of": self.as_of,
            "findings_changed": self.findings_changed,
            "bump_needed": self.bump or "patch",
            "version_problems": self.version_problems,
            "rules": [
                {
                    "rule_id": r.rule_id,
                    "status": r.status,
                    "added": r.added,
                    "removed": r.removed,
                    "unchanged": r.unchanged,
                    "population_base": r.population_base,
                    "population": r.population,
                    "changed": r.changed,
                    "title": {"old": r.title_base, "new": r.title} if r.title_base != r.title else None,
                    "examples": {
                        "added": [i for i, _ in r.examples_added],
                        "removed": [i for i, _ in r.examples_removed],
                        "changed": [i for i, _, _ in r.examples_changed],
                    },
                }
                for r in self.rules
            ],
            "reference_changes": self.reference_changes,
        }


def _findings(result: EngineResult) -> pl.DataFrame:
    return result.register.select(*IDENTITY, *JUDGED).unique(subset=IDENTITY, keep="first")


def _said(row: dict[str, Any], suffix: str = "") -> str:
    return f"[{row['severity' + suffix]}] {row['detail' + suffix]}"


def _examples(frame: pl.DataFrame, rule_id: str, limit: int) -> list[tuple[str, str]]:
    rows = frame.filter(pl.col("rule_id") == rule_id).sort("record_type", "record_id").head(limit)
    return [(str(r["record_id"]), str(r["detail"])) for r in rows.iter_rows(named=True)]


def compare_results(
    base_pack: RulePack,
    base: EngineResult,
    pack: RulePack,
    new: EngineResult,
    examples: int,
    limits: tuple[dict[str, float], dict[str, float]] = ({}, {}),
) -> list[RuleDiff]:
    """Per rule of either pack: findings added, removed, kept and reworded, the populations, and
    the title as each pack's reference data fills it (`limits`: base's, new's)."""
    base_findings, new_findings = _findings(base), _findings(new)
    added = new_findings.join(base_findings, on=IDENTITY, how="anti")
    removed = base_findings.join(new_findings, on=IDENTITY, how="anti")
    kept = new_findings.join(base_findings, on=IDENTITY, how="semi")
    both = new_findings.join(base_findings, on=IDENTITY, how="inner", suffix="_base")
    moved = {column: both.filter(pl.col(column).ne_missing(pl.col(f"{column}_base"))) for column in JUDGED}
    base_results = {r.rule.id: r for r in base.results}
    new_results = {r.rule.id: r for r in new.results}
    base_rules = {r.id: r for r in base_pack.rules}
    new_rules = {r.id: r for r in pack.rules}

    def count(frame: pl.DataFrame, rule_id: str) -> int:
        return frame.filter(pl.col("rule_id") == rule_id).height

    diffs = []
    for rule_id in sorted(set(base_rules) | set(new_rules)):
        before, after = base_results.get(rule_id), new_results.get(rule_id)
        n_added, n_removed = count(added, rule_id), count(removed, rule_id)
        changed = {column: n for column, frame in moved.items() if (n := count(frame, rule_id))}
        reworded = (
            both.filter(
                (pl.col("rule_id") == rule_id)
                & (
                    pl.col("detail").ne_missing(pl.col("detail_base"))
                    | pl.col("severity").ne_missing(pl.col("severity_base"))
                )
            )
            .sort("record_type", "record_id")
            .head(examples)
        )
        pop_base = before.population if before and before.status == "run" else None
        pop_new = after.population if after and after.status == "run" else None
        titles = [
            base_rules[rule_id].title_for(limits[0]) if rule_id in base_rules and limits[0] else "",
            new_rules[rule_id].title_for(limits[1]) if rule_id in new_rules and limits[1] else "",
        ]
        if rule_id not in base_rules:
            status = "added"
        elif rule_id not in new_rules:
            status = "removed"
        elif n_added or n_removed or changed or pop_base != pop_new or titles[0] != titles[1]:
            status = "changed"
        else:
            status = "unchanged"
        note = ""
        if rule_id in base_rules and rule_id in new_rules and base_rules[rule_id].name != new_rules[rule_id].name:
            note = f"renamed from {base_rules[rule_id].name} to {new_rules[rule_id].name}"
        diffs.append(
            RuleDiff(
                rule_id,
                status,
                n_added,
                n_removed,
                count(kept, rule_id),
                pop_base,
                pop_new,
                _examples(added, rule_id, examples),
                _examples(removed, rule_id, examples),
                note,
                changed,
                [(str(r["record_id"]), _said(r, "_base"), _said(r)) for r in reworded.iter_rows(named=True)],
                *titles,
            )
        )
    return diffs


def _period_text(period: LimitPeriod) -> str:
    if period.valid_from and period.valid_to:
        return f"{period.value:g} from {period.valid_from} until {period.valid_to}"
    if period.valid_to:
        return f"{period.value:g} until {period.valid_to}"
    return f"{period.value:g} from {period.valid_from}" if period.valid_from else f"{period.value:g}"


def _flat(reference: ReferenceData) -> dict[tuple[str, str], Any]:
    """Reference values as (file, key) -> value, comparable across packs."""
    flat: dict[tuple[str, str], Any] = {}
    for key, value in reference.limits.items():
        periods = [p for p in reference.limit_periods if p.name == key]
        flat[("limits.yaml", key)] = value if len(periods) < 2 else "; ".join(map(_period_text, periods))
    for key, items in reference.no_crime_reasons.items():
        flat[("no_crime_reasons.yaml", key)] = sorted(items)
    for key, items in reference.cancellation_authority.items():
        flat[("cancellation_authority.yaml", key)] = sorted(items)
    flat[("grade_bands.yaml", "bands")] = [f"{b.grade} >= {b.min_percent:g}" for b in reference.grade_bands]
    for code, label in reference.outcome_labels.items():
        flat[("outcome_types.yaml", f"labels.{code}")] = label
    return flat


def _catalogue_rows(reference: ReferenceData) -> dict[str, dict[str, Any]]:
    return {
        str(row["code"]): {k: v for k, v in row.items() if k != "code"}
        for row in reference.offence_catalogue.iter_rows(named=True)
    }


def as_written(value: Any) -> str:
    """A reference value as a rule author writes it in YAML: 24, not 24.0; C2, A1, not a list."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return ", ".join(as_written(v) for v in value) or "(empty)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {as_written(v)}" for k, v in value.items())
    return f"{value:g}" if isinstance(value, float) else str(value)


def reference_changes(base: ReferenceData, new: ReferenceData) -> list[dict[str, Any]]:
    """Each changed value; for the offence catalogue, each changed field of a code (a code added or
    removed is one change holding its row), so a reviewer reads `88E.sexual_offence: False → True`."""
    old_values, new_values = _flat(base), _flat(new)
    changes = []
    for key in sorted(set(old_values) | set(new_values)):
        old, now = old_values.get(key), new_values.get(key)
        if old != now:
            changes.append({"file": key[0], "key": key[1], "old": old, "new": now})
    old_rows, new_rows = _catalogue_rows(base), _catalogue_rows(new)
    for code in sorted(set(old_rows) | set(new_rows)):
        before, after = old_rows.get(code), new_rows.get(code)
        if before is None or after is None:
            changes.append({"file": "offence_catalogue.csv", "key": code, "old": before, "new": after})
            continue
        for column in sorted(set(before) | set(after)):
            if before.get(column) != after.get(column):
                changes.append(
                    {
                        "file": "offence_catalogue.csv",
                        "key": f"{code}.{column}",
                        "old": before.get(column),
                        "new": after.get(column),
                    }
                )
    return changes


def diff_packs(
    tables: AcceptedTables,
    as_of: datetime,
    base_pack: RulePack,
    base_reference: ReferenceData,
    pack: RulePack,
    reference: ReferenceData,
    examples: int = 5,
    unusable: dict[tuple[str, str], str] | None = None,
) -> PackDiff:
    """Run both packs on the same validated tables and compare what they find. A rule the change
    leaves as it was, in a pack whose shared SQL and reference data it leaves as they were, finds
    what it found in the base: it is run once (a change to one rule of 27 ran 27 twice)."""
    base = run_pack(base_pack, base_reference, as_of, tables, "base", unusable=unusable)
    kept = unchanged_rules(base_pack, base_reference, pack, reference)
    changed = [rule.id for rule in pack.rules if rule.id not in kept]
    new = run_pack(pack, reference, as_of, tables, "new", only=changed, unusable=unusable) if changed else None
    return PackDiff(
        base_pack.version,
        pack.version,
        compare_results(
            base_pack, base, pack, _with_kept(pack, base, new, kept), examples, (base_reference.limits, reference.limits)
        ),
        reference_changes(base_reference, reference),
    )


def unchanged_rules(
    base_pack: RulePack, base_reference: ReferenceData, pack: RulePack, reference: ReferenceData
) -> frozenset[str]:
    """The rules of `pack` that must find what they find in `base_pack`: the same definition
    (every field but the file it was read from), over the same macros, views, lexicons and
    reference data (every field, the offence catalogue row by row). Anything else differs: the
    rule runs again."""
    if (base_pack.macros, base_pack.views, base_pack.inline_views) != (pack.macros, pack.views, pack.inline_views):
        return frozenset()
    if _unplaced(base_pack.lexicons) != _unplaced(pack.lexicons):
        return frozenset()
    if not _same_reference(base_reference, reference):
        return frozenset()
    base_rules = {rule.id: dataclasses.replace(rule, path=Path()) for rule in base_pack.rules}
    return frozenset(rule.id for rule in pack.rules if base_rules.get(rule.id) == dataclasses.replace(rule, path=Path()))


def _unplaced(lexicons: Lexicons | None) -> Lexicons | None:
    """The lexicons without the files they were read from (the base pack is another folder)."""
    if lexicons is None:
        return None
    return dataclasses.replace(lexicons, groups=tuple(dataclasses.replace(g, path=Path()) for g in lexicons.groups))


def _same_reference(base: ReferenceData, new: ReferenceData) -> bool:
    for field_ in dataclasses.fields(base):
        old, now = getattr(base, field_.name), getattr(new, field_.name)
        if isinstance(old, pl.DataFrame):
            if not (isinstance(now, pl.DataFrame) and old.equals(now)):
                return False
        elif old != now:
            return False
    return True


def _with_kept(pack: RulePack, base: EngineResult, new: EngineResult | None, kept: frozenset[str]) -> EngineResult:
    """The new pack's results: its changed rules as run, its kept ones as the base found them
    (the results and register rows a comparison reads; no measures, which it does not)."""
    found = {r.rule.id: r for r in base.results if r.rule.id in kept} | {r.rule.id: r for r in (new.results if new else [])}
    results = [found[rule.id] for rule in pack.rules if rule.id in found]
    kept_rows = base.register.filter(pl.col("rule_id").is_in(sorted(kept)))
    register = pl.concat([kept_rows, new.register]) if new is not None else kept_rows
    return EngineResult(results, register, dict(new.seconds) if new else {})


def pack_at_revision(rules_dir: Path, ref: str, into: Path) -> Path:
    """The rules folder as it was at git revision `ref` of the repository holding `rules_dir`."""

    def git(*args: str, where: Path = rules_dir) -> bytes:
        try:
            done = subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True)
        except FileNotFoundError:
            raise ConfigError("git is not installed; give --base as a folder instead of git:REF") from None
        except subprocess.CalledProcessError as exc:
            message = exc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise ConfigError(f"git:{ref}: {message[-1] if message else 'git failed'}") from None
        return done.stdout

    if not ref or ref.startswith("-") or any(c.isspace() or ord(c) < 32 for c in ref):
        # a ref starting with '-' would reach git as an option (--output=FILE truncated a file)
        raise ConfigError(f"git:{ref!r} is not a revision: give a branch, tag or commit")
    try:
        commit = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").decode().strip()
    except ConfigError:
        raise ConfigError(f"git:{ref}: no such revision in {rules_dir}'s repository") from None
    prefix = git("rev-parse", "--show-prefix").decode().strip()
    top = Path(git("rev-parse", "--show-toplevel").decode().strip())
    archive = into / "pack.tar"
    archive.write_bytes(git("archive", "--format=tar", commit, "--", prefix or ".", where=top))
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")
    archive.unlink()
    folder = into / "tree" / prefix
    if not (folder / "pack.yaml").is_file():
        raise ConfigError(f"git:{ref}: no pack.yaml under {prefix or 'the repository root'} at that revision")
    return folder


class BasePack:
    """`--base`: a rules folder, or git:REF (checked out into a temporary folder, removed after)."""

    def __init__(self, base: str, rules_dir: Path) -> None:
        self._temp: Path | None = None
        if base.startswith("git:"):
            self._temp = Path(tempfile.mkdtemp(prefix="recordcheck-base-"))
            self.directory = pack_at_revision(rules_dir, base[4:], self._temp)
        else:
            self.directory = Path(base)

    def __enter__(self) -> Path:
        return self.directory

    def __exit__(self, *_: object) -> None:
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)


def _population(diff: RuleDiff) -> str:
    if diff.population_base == diff.population:
        return "same" if diff.population is not None else "not run"
    if diff.population_base is None or diff.population is None:
        before = "-" if diff.population_base is None else diff.population_base
        after = "-" if diff.population is None else diff.population
        return f"{before} → {after}"
    change = diff.population - diff.population_base
    return f"{diff.population_base} → {diff.population} ({change:+d})"


def _changed_words(rule: RuleDiff) -> str:
    return ", ".join(f"{column} of {n} changed" for column, n in rule.changed.items())


def _header(diff: PackDiff) -> list[str]:
    bump = diff.bump or "patch"
    lines = [f"Rule pack {diff.base_version} → {diff.version}"]
    if diff.extract:
        lines.append(f"Extract {diff.extract} ({diff.rows:,} rows), as of {diff.as_of}")
    lines.append(f"Version step this change needs: {bump}" + ("" if diff.findings_changed else " (no finding changed)"))
    return lines


def render_text(diff: PackDiff) -> str:
    lines = _header(diff)
    for rule in diff.rules:
        counts = f"+{rule.added} -{rule.removed} ={rule.unchanged}"
        head = f"{rule.rule_id:<8}{rule.status:<10} {counts}  population {_population(rule)}"
        extra = [rule.note] if rule.note else []
        if rule.changed:
            extra.append(_changed_words(rule))
        lines.append(head + (f"  ({'; '.join(extra)})" if extra else ""))
        if rule.title_base != rule.title:
            lines.append(f"    title: {rule.title_base!r} → {rule.title!r}")
        for sign, examples in (("+", rule.examples_added), ("-", rule.examples_removed)):
            lines += [f"    {sign} {record_id}: {detail}" for record_id, detail in examples]
        lines += [f"    ~ {record_id}: {old} → {new}" for record_id, old, new in rule.examples_changed]
    if diff.reference_changes:
        lines.append("Reference data changed:")
        lines += [
            f"  {c['file']} {c['key']}: {as_written(c['old'])} → {as_written(c['new'])}" for c in diff.reference_changes
        ]
    lines.append("Findings changed." if diff.findings_changed else "No finding changed.")
    lines += [f"Version: {problem}" for problem in diff.version_problems]
    return "\n".join(lines)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _html(text: object) -> str:
    """Text for inside <details> (HTML in Markdown): escaped, on one line."""
    import html

    return html.escape(str(text)).replace("\n", " ")


def render_markdown(diff: PackDiff) -> str:
    """The pull-request comment: a header (extract, rows, as-of, the version step needed), the
    changed rules first with example sentences folded in <details>, the unchanged ones folded."""
    header = _header(diff)
    lines = [
        f"**{header[0]}**: " + ("findings changed." if diff.findings_changed else "no finding changed."),
        "",
        *[f"- {line}" for line in header[1:]],
        *[f"- :x: {problem}" for problem in diff.version_problems],
        "",
    ]
    changed = [r for r in diff.rules if r.status != "unchanged"]
    unchanged = [r for r in diff.rules if r.status == "unchanged"]
    if changed:
        lines += [
            "| rule | status | added | removed | unchanged | reworded | population |",
            "|---|---|---:|---:|---:|---|---|",
        ]
        for rule in changed:
            status = rule.status + (f" ({rule.note})" if rule.note else "")
            lines.append(
                f"| {rule.rule_id} | {_cell(status)} | {rule.added} | {rule.removed} | {rule.unchanged} | "
                f"{_cell(_changed_words(rule) or '-')} | {_cell(_population(rule))} |"
            )
        for rule in changed:
            items = (
                [f"<li>title: {_html(rule.title_base)} → {_html(rule.title)}</li>"] if rule.title_base != rule.title else []
            )
            items += [f"<li>+ {_html(i)}: {_html(d)}</li>" for i, d in rule.examples_added]
            items += [f"<li>− {_html(i)}: {_html(d)}</li>" for i, d in rule.examples_removed]
            items += [f"<li>~ {_html(i)}: {_html(o)} → {_html(n)}</li>" for i, o, n in rule.examples_changed]
            if items:
                lines += [
                    "",
                    f"<details><summary>{rule.rule_id}: examples</summary>",
                    "",
                    "<ul>",
                    *items,
                    "</ul>",
                    "</details>",
                ]
    if unchanged:
        lines += [
            "",
            f"<details><summary>{len(unchanged)} rule(s) unchanged</summary>",
            "",
            ", ".join(f"{r.rule_id} ({r.unchanged})" for r in unchanged),
            "</details>",
        ]
    if diff.reference_changes:
        lines += ["", "| reference file | key | old | new |", "|---|---|---|---|"]
        lines += [
            f"| {_cell(c['file'])} | {_cell(c['key'])} | {_cell(as_written(c['old']))} | {_cell(as_written(c['new']))} |"
            for c in diff.reference_changes
        ]
    return "\n".join(lines)


def render(diff: PackDiff, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(diff.as_json(), indent=2, default=str)
    if fmt == "md":
        return render_markdown(diff)
    return render_text(diff)
