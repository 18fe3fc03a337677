"""Render report.html from a run folder: one Jinja2 environment, autoescaped, StrictUndefined."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from recordcheck.checks.base.resources import TEMPLATES_DIR
from recordcheck.checks.base.stats import percent
from recordcheck.checks.nightly.store import RELEASED
from recordcheck.reports.build import build_context
from recordcheck.reports.context import ReportContext
from recordcheck.reports.disclosure import (
    Released,
    disclosure_safe,
    released_cells,
    whole_percent,
    whole_percent_high,
    whole_percent_low,
)
from recordcheck.reports.keys import redaction_key


@functools.cache
def environment(redact_below: int | None = None) -> Environment:
    """The templates and filters, compiled once a process (0.2 s: a test session renders hundreds)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def css_string(value: str) -> Markup:
        """A quoted CSS string for the page margins: every character but letters, digits and spaces
        as a CSS escape, so no value can close the string or the style element."""
        escaped = "".join(c if c.isascii() and (c.isalnum() or c == " ") else f"\\{ord(c):x} " for c in value)
        return Markup(f'"{escaped}"')  # noqa: S704 - every character but [A-Za-z0-9 ] is a CSS escape

    pct = percent

    def pct_low(value: float | None) -> str:
        """An interval's lower bound, rounded down: the printed interval holds the printed estimate."""
        return "n/a" if value is None else f"{math.floor(value * 1000 + 1e-9) / 10:.1f}%"

    def pct_high(value: float | None) -> str:
        """An interval's upper bound, rounded up."""
        return "n/a" if value is None else f"{min(1000, math.ceil(value * 1000 - 1e-9)) / 10:.1f}%"

    def count(value: int | None) -> str:
        if value is None:
            return "n/a"
        if redact_below and 0 < int(value) < redact_below:
            return f"fewer than {redact_below}"
        return f"{int(value):,}"

    redacted = redact_below is not None
    env.filters["pct"] = whole_percent if redacted else pct
    env.filters["css_string"] = css_string
    env.filters["tuple_of"] = lambda rate: (f"{rate.label}: recording rate", rate)
    env.filters["pct_low"] = whole_percent_low if redacted else pct_low
    env.filters["pct_high"] = whole_percent_high if redacted else pct_high
    env.filters["count"] = count
    return env


def render_context(ctx: ReportContext, released: Released | None = None) -> str:
    return _render(ctx, released)[0]


def _render(ctx: ReportContext, released: Released | None) -> tuple[str, ReportContext | None]:
    """The page, and for a redacted report the disclosure-safe context it shows (made once)."""
    env = environment(ctx.redact_below if ctx.redacted else None)
    if ctx.redacted:
        safe = disclosure_safe(ctx, released)
        return env.get_template("report-redacted.html").render(ctx=safe), safe
    return env.get_template("report.html").render(ctx=ctx), None


def render_run(
    run_dir: Path,
    options: dict[str, Any] | None = None,
    redact: bool = False,
    output: Path | None = None,
    released: Released | None = None,
) -> Path:
    """Write report.html (or report-redacted.html) into run_dir from its own results. A redacted
    report holds back each cell that moved by fewer than k records since `released` (the last
    release), and writes what it released, with what came before, to redacted-cells.json."""
    key, name = redaction_key() if redact else (None, "")
    ctx = build_context(run_dir, options, key, name)
    target = output or run_dir / ("report-redacted.html" if redact else "report.html")
    tmp = target.with_name(f".{target.name}.tmp")
    page, safe = _render(ctx, released)
    tmp.write_text(page, encoding="utf-8")
    if safe is not None:
        kept = target.with_name(RELEASED)
        kept_tmp = kept.with_name(f".{kept.name}.tmp")
        kept_tmp.write_text(json.dumps(released_cells(ctx, safe, released or {}), sort_keys=True), encoding="utf-8")
        kept_tmp.replace(kept)
    tmp.replace(target)
    return target
