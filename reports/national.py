"""national.html: the forces side by side, a funnel plot per key rule, and a section per force.

Built from the national run folder's own summary.json and examples.json (never the extracts).
Examples are redacted as in the force's disclosure-safe report: ids are keyed pseudonyms, dates
are to the month and ages in bands, because a national comparison is shared outside any force.

national-redacted.html (`recordcheck national --redact`) is the page that leaves policing: it is
disclosure-controlled as the force's redacted report is. Rates are whole percents with intervals
rounded outward, and any rate resting on fewer than k records met, failed or checked (or fewer
than 30 in all) is suppressed. It prints no populations or breach counts. A per-force count
under k is suppressed. A funnel draws only the forces whose rate is shown, and names no
suppressed force as an outlier. Examples, which are records, are left out.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordcheck.checks.base.marking import DEFAULT_MARKING
from recordcheck.checks.national.funnel import Z95, Z998, limits
from recordcheck.reports.disclosure import Pseudonymiser, coarsen, pseudonymise_ids, rests_on_few
from recordcheck.reports.keys import redaction_key
from recordcheck.reports.render import environment

WIDTH, HEIGHT = 640, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 14, 40
MARKING = DEFAULT_MARKING


@dataclass(frozen=True)
class RateCell:
    rate: float | None
    low: float | None
    high: float | None
    compliant: int
    total: int
    suppressed: bool = False


@dataclass(frozen=True)
class ForceRow:
    code: str
    name: str
    status: str
    reason: str
    recording: RateCell | None
    timeliness: RateCell | None
    findings: int | None
    """None where suppressed (1..k-1 on the disclosure-safe page)."""
    quarantined: int | None


@dataclass(frozen=True)
class FunnelPoint:
    force: str
    x: float
    y: float
    rate: float
    population: int
    breaches: int
    position: str


@dataclass(frozen=True)
class FunnelView:
    rule: str
    title: str
    national_rate: float
    points: list[FunnelPoint]
    paths: dict[str, str]
    """'mean', 'low95', 'high95', 'low998', 'high998': SVG polyline points."""
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    outliers: list[str]
    alerts: list[str]
    method: str
    """How the limits were drawn: the target each force is judged against, exact or normal limits,
    and the between-force variance allowed for."""


@dataclass(frozen=True)
class RuleLine:
    id: str
    title: str
    status: str
    population: int
    breaches: int
    rate: float | None
    low: float | None
    high: float | None
    suppressed: bool = False


@dataclass(frozen=True)
class Example:
    rule: str
    record: str
    district: str
    detail: str


@dataclass(frozen=True)
class ForceSection:
    code: str
    name: str
    rules: list[RuleLine]
    examples: list[Example]


@dataclass(frozen=True)
class NationalContext:
    title: str
    run_id: str
    as_of: str
    engine: str
    pack: str
    marking: str
    national: RateCell
    forces: list[ForceRow]
    funnels: list[FunnelView]
    sections: list[ForceSection]
    refused: list[dict[str, str]] = field(default_factory=list)
    redact_below: int | None = None
    """k, on the disclosure-safe page (national-redacted.html); None on national.html."""
    not_drawn: dict[str, list[str]] = field(default_factory=dict)
    """On the disclosure-safe page: by rule, the forces whose funnel point rests on a small count."""


def _cell(figure: dict[str, Any] | None) -> RateCell | None:
    if not figure:
        return None
    return RateCell(figure["rate"], figure["wilson_low"], figure["wilson_high"], figure["compliant"], figure["total"])


def _ticks(top: float, count: int = 5) -> list[float]:
    step = top / count
    return [step * i for i in range(count + 1)]


def funnel_view(plot: dict[str, Any]) -> FunnelView:
    """The plot's geometry: x is population, y the breach rate; limits drawn as curves."""
    p0 = plot["national_rate"]
    points = plot["points"]
    n_max = max(p["population"] for p in points) * 1.08
    n_min = max(1, min(p["population"] for p in points) // 2)
    tau2 = float(plot.get("tau2") or 0.0)
    y_top = max([p["rate"] for p in points] + [limits(p0, n_min, Z998, tau2)[1]]) * 1.1 or 0.05
    y_top = min(1.0, y_top)

    def x(n: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * n / n_max

    def y(rate: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - min(rate, y_top) / y_top)

    grid = [n_min + (n_max - n_min) * (i / 80) ** 2 for i in range(81)]
    paths = {"mean": f"{x(0):.1f},{y(p0):.1f} {x(n_max):.1f},{y(p0):.1f}"}
    for name, z in (("95", Z95), ("998", Z998)):
        curves = [limits(p0, round(n), z, tau2) for n in grid]
        paths["low" + name] = " ".join(f"{x(n):.1f},{y(lo):.1f}" for n, (lo, _) in zip(grid, curves, strict=True))
        paths["high" + name] = " ".join(f"{x(n):.1f},{y(hi):.1f}" for n, (_, hi) in zip(grid, curves, strict=True))
    return FunnelView(
        rule=plot["rule"],
        title=plot["title"],
        national_rate=p0,
        points=[
            FunnelPoint(
                p["force"], x(p["population"]), y(p["rate"]), p["rate"], p["population"], p["breaches"], p["position"]
            )
            for p in points
        ],
        paths=paths,
        x_ticks=[(x(v), f"{round(v):,}") for v in _ticks(n_max)],
        y_ticks=[(y(v), f"{v * 100:.1f}%") for v in _ticks(y_top)],
        outliers=[p["force"] for p in points if p["position"].startswith("outlier")],
        alerts=[p["force"] for p in points if p["position"].startswith("alert")],
        method=str(plot.get("method") or "each force against the national rate; normal limits"),
    )


def build_national_context(summary: dict[str, Any], examples: dict[str, Any], key: bytes | None) -> NationalContext:
    """The page's context from the run folder's summary.json and examples.json."""
    pseudonym = Pseudonymiser(key)
    forces, sections = [], []
    for force in summary["forces"]:
        checked = force["status"] == "checked"
        headline = force.get("headline") or {}
        forces.append(
            ForceRow(
                code=force["code"],
                name=force["name"],
                status=force["status"],
                reason=force.get("reason") or "",
                recording=_cell(headline.get("recording")) if checked else None,
                timeliness=_cell(headline.get("timeliness")) if checked else None,
                findings=int(force.get("register_rows") or 0),
                quarantined=int(force.get("quarantined_rows") or 0),
            )
        )
        if checked:
            sections.append(
                ForceSection(
                    code=force["code"],
                    name=force["name"],
                    rules=[
                        RuleLine(
                            r["id"],
                            r["title"],
                            r["status"],
                            r["population"],
                            r["breaches"],
                            r["rate"],
                            r["rate_low"],
                            r["rate_high"],
                        )
                        for r in force["rules"]
                    ],
                    examples=[
                        Example(
                            e["rule_id"],
                            pseudonym(str(e["record_id"]), "ID"),
                            e["district"] or "",
                            coarsen(pseudonymise_ids(e["detail"] or "", pseudonym, str(e["record_id"] or ""))),
                        )
                        for e in examples.get(force["code"], [])
                    ],
                )
            )
    national = summary["national"]
    return NationalContext(
        title="National crime-recording comparison",
        run_id=summary["run_id"],
        as_of=summary["as_of"],
        engine=summary["engine"],
        pack=f"{summary['rule_pack']['name']} {summary['rule_pack']['version']}",
        marking=MARKING,
        national=_cell(national["headline"]["recording"]) or RateCell(None, None, None, 0, 0),
        forces=forces,
        funnels=[funnel_view(plot) for plot in summary["funnels"]],
        sections=sections,
        refused=summary["refused"],
    )


def _safe_cell(cell: RateCell | None, k: int) -> RateCell | None:
    """A rate on the disclosure-safe page: no counts, and nothing at all if it rests on a few records."""
    if cell is None:
        return None
    if cell.rate is None or rests_on_few(cell.compliant, cell.total, k):
        return RateCell(None, None, None, 0, 0, suppressed=True)
    return RateCell(cell.rate, cell.low, cell.high, 0, 0)


def _safe_rule(line: RuleLine, k: int) -> RuleLine:
    if line.status != "run":
        return dataclasses.replace(line, population=0, breaches=0)
    if line.rate is None or rests_on_few(line.population - line.breaches, line.population, k):
        return RuleLine(line.id, line.title, line.status, 0, 0, None, None, None, suppressed=True)
    return dataclasses.replace(line, population=0, breaches=0)


def _safe_plot(plot: dict[str, Any], k: int) -> tuple[dict[str, Any], list[str]]:
    """A funnel for the disclosure-safe page: only the forces whose rate is shown, drawn at their
    rate to a whole percent and their population to two significant figures (a point drawn to a
    tenth of a pixel would pin both), and no suppressed force named as an outlier. The curves are
    drawn around the national rate to a whole percent; the verdicts are those of the full page."""
    few = sorted({p["force"] for p in plot["points"] if rests_on_few(p["population"] - p["breaches"], p["population"], k)})
    points = [
        {**p, "rate": round(p["rate"], 2), "population": int(float(f"{p['population']:.2g}")), "breaches": 0}
        for p in plot["points"]
        if p["force"] not in few
    ]
    shown = {**plot, "national_rate": round(plot["national_rate"], 2), "points": points}
    return shown, few


def _safe_count(value: int | None, k: int) -> int | None:
    """A per-force count: None (suppressed) when it is 1..k-1."""
    return None if value is None or 0 < value < k else value


def disclosure_safe_national(ctx: NationalContext, plots: list[dict[str, Any]], k: int) -> NationalContext:
    """The context of national-redacted.html: rates without counts, every rate or count resting on
    fewer than k records suppressed, no examples. No figure on the page is a sum of others shown,
    so primary suppression leaves nothing to subtract."""
    funnels, not_drawn = [], {}
    for plot in plots:
        safe, few = _safe_plot(plot, k)
        if safe["points"]:
            funnels.append(funnel_view(safe))
        if few:
            not_drawn[plot["rule"]] = few
    return dataclasses.replace(
        ctx,
        title=f"{ctx.title} (disclosure-safe)",
        national=_safe_cell(ctx.national, k) or ctx.national,
        forces=[
            dataclasses.replace(
                row,
                recording=_safe_cell(row.recording, k),
                timeliness=_safe_cell(row.timeliness, k),
                findings=_safe_count(row.findings, k),
                quarantined=_safe_count(row.quarantined, k),
            )
            for row in ctx.forces
        ],
        funnels=funnels,
        sections=[
            dataclasses.replace(section, rules=[_safe_rule(r, k) for r in section.rules], examples=[])
            for section in ctx.sections
        ],
        redact_below=k,
        not_drawn=not_drawn,
    )


REDACTED_PAGE = "national-redacted.html"


def render_national(run_dir: Path, redact_below: int | None = None) -> Path:
    """Write national.html into the run folder (atomically), from the folder's own results; with
    `redact_below` (k), also the disclosure-safe national-redacted.html."""
    key, _ = redaction_key()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    examples = json.loads((run_dir / "examples.json").read_text(encoding="utf-8"))
    ctx = build_national_context(summary, examples, key)
    pages = [("national.html", ctx, environment())]
    if redact_below is not None:
        safe = disclosure_safe_national(ctx, summary["funnels"], redact_below)
        pages.append((REDACTED_PAGE, safe, environment(redact_below)))
    for name, page, env in pages:
        target = run_dir / name
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(env.get_template("national.html").render(ctx=page), encoding="utf-8")
        tmp.replace(target)
    return run_dir / "national.html"
