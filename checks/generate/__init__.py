"""Synthetic, contract-shaped extracts with an exact answer key.

The background is compliant with every rule of the core pack by construction; each injected
breach is a record built for one finding and listed in the key (finding, record_type,
record_id). So a correct rule pack reproduces the key exactly: a missed row is a missed breach,
an extra row a false alarm. The data is realistic enough to exercise the rules: four districts,
third-party agencies, child and adult victims with codes that fit their age at the offence and
their sex, historic disclosures, incidents that precede referrals, many-to-many links, both
clock changes, and free text with commas, quotes, newlines, non-ASCII and markup.

Scale 1 is one year of a large force: ~40,000 referrals, ~600,000 incidents, ~170,000 crimes,
~1,000,000 victim contacts. The bulk is generated with numpy, so scale 1 takes seconds.

May import: `checks.base`, `checks.extract`.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from recordcheck.checks.generate.background_crimes import _direct_crimes
from recordcheck.checks.generate.background_reports import _incidents, _referrals
from recordcheck.checks.generate.cases import _edge_cases, _inject
from recordcheck.checks.generate.common import DEFAULT_AS_OF, Extract, _Gen
from recordcheck.checks.generate.narratives import add_narratives
from recordcheck.checks.generate.shapes import _assemble, local_text, write_extract

__all__ = ["DEFAULT_AS_OF", "Extract", "generate", "local_text", "write_extract"]


def generate(
    seed: int = 1,
    scale: float = 0.05,
    as_of: datetime = DEFAULT_AS_OF,
    per_kind: int | None = None,
    phrasing: str = "tuned",
    first_id: int = 0,
) -> Extract:
    """Build an extract and its answer key; deterministic for (seed, scale, as_of, per_kind, phrasing).

    `per_kind`: injected breaches of each kind (default: 40 per unit of scale, at least 1).
    `phrasing`: the narratives' templates, `tuned` or `held_back` (checks.generate.narratives).
    `first_id`: where record numbers start (a part of an extract written in parts)."""
    g = _Gen(seed, scale, as_of, first_id)
    _incidents(g, round(595_000 * scale))
    _referrals(g, round(40_000 * scale))
    _direct_crimes(g, round(6_000 * scale))
    _edge_cases(g)
    injected = per_kind or max(1, round(40 * scale))
    _inject(g, injected)
    tables = _assemble(g)
    tables, narrative_key, planted = add_narratives(tables, seed, g.as_of, max(2, injected), phrasing)
    key = pl.DataFrame(
        [*g.key, *narrative_key],
        schema={"finding": pl.String, "record_type": pl.String, "record_id": pl.String},
        orient="row",
    ).sort(["finding", "record_type", "record_id"])
    counts = {n: t.height for n, t in tables.items()}
    return Extract(tables, key, as_of, seed, scale, counts, planted.rows, phrasing)
