"""`recordcheck profile check`: what a profile makes of an export, before a run relies on it.

Per canonical table: the file used; per canonical column, the force column that fills it, the
share of rows with a value and the share of those that could be read; the force's columns left
unused; the codes left unmapped, with counts. Then the rules that cannot run on this export and
why. Counts, names and codes only: never a record's content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.engine.rules import RulePack, rules_that_cannot_run, table_readers
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.extract.coverage import TableCoverage, defaulted_advice
from recordcheck.checks.extract.profile import SourceProfile
from recordcheck.checks.nightly.run import quarantine_over_share
from recordcheck.checks.validation.pipeline import LoadedExtract


@dataclass
class ProfileCheck:
    coverage: dict[str, TableCoverage]
    unmapped: pl.DataFrame
    rules_unable: list[tuple[str, str]]
    poorly_parsed: list[str] = field(default_factory=list)
    """'table.column: x% of filled rows unreadable' past the allowed share."""
    over_share: list[str] = field(default_factory=list)
    """Tables whose quarantined share is past the allowed share (unmapped codes, bad values)."""
    disabled: list[str] = field(default_factory=list)
    defaulted: list[str] = field(default_factory=list)
    """Source codes a derive map does not list, which took its default."""
    gaps: list[str] = field(default_factory=list)
    """What the profile left out that rules need: unmapped codes in tables they read, link columns
    no builder reads (those the config makes incomplete; the rest are in `warnings`)."""
    warnings: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """Why a run on this export would not be complete (empty when the profile is fit)."""
        unable = [rule_id for rule_id, _ in self.rules_unable if rule_id not in self.disabled]
        found = [*self.poorly_parsed, *self.over_share, *self.gaps]
        if unable:
            found.append(f"{len(unable)} rule(s) cannot run: {', '.join(unable)}")
        return found


def check_profile(loaded: LoadedExtract, pack: RulePack, config: RunConfig, profile: SourceProfile) -> ProfileCheck:
    poorly = []
    for table in loaded.coverage.values():
        for column in table.columns:
            if column.filled and (column.filled - column.parsed) / column.filled > config.max_quarantine_share:
                share = (column.filled - column.parsed) / column.filled
                poorly.append(
                    f"{table.table}.{column.column}: {share:.1%} of the filled rows of {column.source!r} cannot be read "
                    f"as {TABLES[table.table].column(column.column).type} (over {config.max_quarantine_share:.0%})"
                )
    readers = table_readers(pack, list(loaded.coverage), loaded.unusable, config.disabled_rules)
    gaps, warnings = loaded.profile_gaps(readers, config)
    if advice := loaded.date_order_advice():
        warnings.append(advice)
    return ProfileCheck(
        coverage=loaded.coverage,
        unmapped=loaded.validation.unmapped_codes,
        rules_unable=rules_that_cannot_run(pack, list(loaded.coverage), loaded.unusable),
        poorly_parsed=poorly,
        over_share=quarantine_over_share(
            {name: (c.read, c.quarantined, c.by_check) for name, c in loaded.validation.counts.items()}, config
        ),
        disabled=list(config.disabled_rules),
        defaulted=defaulted_advice(loaded.defaulted, profile),
        gaps=gaps,
        warnings=warnings,
    )


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "-"


def render_text(check: ProfileCheck) -> list[str]:
    lines: list[str] = []
    for name in TABLES:
        table = check.coverage.get(name)
        if table is None:
            lines += [f"{name}: absent", ""]
            continue
        source = table.file or "built from link columns"
        lines.append(f"{name} <- {source} ({table.rows:,} rows)")
        lines.append(f"  {'canonical column':<36}{'force column':<32}{'filled':>8}{'read':>8}")
        for column in table.columns:
            force = column.source if column.source is not None else "(none)"
            if column.derived:
                force = f"derived from {force}"
            flag = "" if column.source is not None else "   <- nothing fills it"
            if column.source is not None and table.rows and column.filled == 0:
                flag = "   <- empty in every row"
            lines.append(
                f"  {column.column:<36}{force[:31]:<32}{_share(column.filled, column.rows):>8}"
                f"{_share(column.parsed, column.filled):>8}{flag}"
            )
        if table.unused:
            lines.append(f"  force columns not used: {', '.join(repr(c) for c in table.unused)}")
        codes = check.unmapped.filter(pl.col("table") == name)
        for (column, source_column), group in codes.group_by(["column", "source_column"], maintain_order=True):
            counted = ", ".join(f"{code!r} {rows:,}" for code, rows in group.select("code", "rows").iter_rows())
            lines.append(f"  codes not mapped in {source_column!r} ({column}): {counted}")
        lines.append("")
    if check.rules_unable:
        lines.append("Rules that cannot run on this export:")
        for rule_id, why in check.rules_unable:
            note = " (disabled in the config)" if rule_id in check.disabled else ""
            lines.append(f"  {rule_id}: {why}{note}")
    else:
        lines.append("Every rule can run on this export.")
    if check.defaulted:
        lines.append("Derived columns (check the map for a typo):")
        lines += check.defaulted
    for problem in check.poorly_parsed:
        lines.append(f"Unreadable: {problem}")
    for problem in check.over_share:
        lines.append(f"Quarantined: {problem}")
    for problem in check.gaps:
        lines.append(f"Profile gap: {problem}")
    for warning in check.warnings:
        lines.append(f"Warning: {warning}")
    return lines


def render_json(check: ProfileCheck) -> dict[str, Any]:
    return {
        "tables": {
            name: {
                "file": table.file,
                "rows": table.rows,
                "columns": [
                    {
                        "column": c.column,
                        "force_column": c.source,
                        "derived": c.derived,
                        "filled": c.filled,
                        "parsed": c.parsed,
                    }
                    for c in table.columns
                ],
                "unused_force_columns": table.unused,
                "unmapped_codes": check.unmapped.filter(pl.col("table") == name).drop("table").to_dicts(),
            }
            for name, table in check.coverage.items()
        },
        "rules_that_cannot_run": [{"rule": r, "why": why} for r, why in check.rules_unable],
        "defaulted": check.defaulted,
        "warnings": check.warnings,
        "problems": check.problems,
    }
