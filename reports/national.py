"""national.html: the forces side by side, a funnel plot per key rule, and a section per force.

Built from the national run folder's own summary.json and examples.json (never the extracts).
Examples are redacted as in the force's disclosure-safe report: ids are keyed pseudonyms, dates
are to the month and ages in bands, because a national comparison is shared outside any force.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recordcheck.checks.base.marking import DEFAULT_MARKING
from recordcheck.checks.national.funnel import Z95, Z998, limits
from recordcheck.reports.disclosure import Pseudonymiser, coarsen, pseudonymise_ids
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


@dataclass(frozen=True)
class ForceRow:
    code: str
    name: str
    status: str
    reason: str
    recording: RateCell | None
    timeliness: RateCell | None
    findings: int
    quarantined: int


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


def build_national_context(run_dir: Path, key: bytes | None) -> NationalContext:
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    examples = json.loads((run_dir / "examples.json").read_text(encoding="utf-8"))
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


def render_national(run_dir: Path) -> Path:
    """Write national.html into the run folder (atomically), from the folder's own results."""
    key, _ = redaction_key()
    ctx = build_national_context(run_dir, key)
    target = run_dir / "national.html"
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(environment().get_template("national.html").render(ctx=ctx), encoding="utf-8")
    tmp.replace(target)
    return target
