"""Render report.html from a run folder: one Jinja2 environment, autoescaped, StrictUndefined."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from recordcheck.checks.resources import TEMPLATES_DIR
from recordcheck.reports.build import build_context
from recordcheck.reports.context import ReportContext

REDACTION_KEY_ENV = "RECORDCHECK_REDACTION_KEY"


def environment(redact_below: int | None = None) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )

    def pct(value: float | None) -> str:
        """One decimal; two near 100% so that a handful of breaches never reads as 100.0%."""
        if value is None:
            return "n/a"
        if 0.99 <= value < 1:
            return f"{min(value * 100, 99.99):.2f}%"
        return f"{value * 100:.1f}%"

    def count(value: int | None) -> str:
        if value is None:
            return "n/a"
        if redact_below and 0 < int(value) < redact_below:
            return f"fewer than {redact_below}"
        return f"{int(value):,}"

    env.filters["pct"] = pct
    env.filters["count"] = count
    return env


def render_context(ctx: ReportContext) -> str:
    env = environment(ctx.redact_below if ctx.redacted else None)
    return env.get_template("report.html").render(ctx=ctx)


def render_run(
    run_dir: Path, options: dict[str, Any] | None = None, redact: bool = False, output: Path | None = None
) -> Path:
    """Write report.html (or report-redacted.html) into run_dir from its own results."""
    key = None
    if redact:
        configured = os.environ.get(REDACTION_KEY_ENV)
        key = configured.encode() if configured else secrets.token_bytes(32)
    ctx = build_context(run_dir, options, key)
    target = output or run_dir / ("report-redacted.html" if redact else "report.html")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(render_context(ctx), encoding="utf-8")
    tmp.replace(target)
    return target
