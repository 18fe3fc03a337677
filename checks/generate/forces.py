"""A national extract: several synthetic forces of different sizes, seeds and districts.

Each force is its own generated extract with its own answer key (key.csv), so a national run
can be checked force by force exactly as a single-force run is. The second force exports in a
force's own shape and brings the profile that maps it back; the third carries a few rows that
break the contract (new ids, so its answer key still holds: the rows are quarantined, never
checked); the first injects four times the breaches of the others, so the funnel plots have an
outlier to find. A manifest, forces.yaml, lists them all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import polars as pl
import yaml

from recordcheck.checks.generate import generate, write_extract
from recordcheck.checks.generate.force_shape import write_force_export

SIZES = (1.0, 0.55, 0.8, 0.35, 1.3, 0.65)
"""Relative sizes of forces 1, 2, 3, ... (cycled), scaled so that the forces add up to the scale."""
COMPASS = ("North", "East", "South", "West", "Central")


@dataclass(frozen=True)
class WrittenForce:
    code: str
    name: str
    folder: Path
    shape: str
    scale: float
    bad_rows: int
    findings: int


def _districts(frame: pl.DataFrame, code: str, count: int) -> pl.DataFrame:
    """The generator's four districts renamed as this force's own (the first `count` of them)."""
    if "district" not in frame.columns:
        return frame
    names = sorted(set(frame["district"].drop_nulls().to_list()))
    mapping = {old: f"{code} {COMPASS[i % count]}" for i, old in enumerate(names)}
    return frame.with_columns(pl.col("district").replace(mapping))


def _add_bad_rows(folder: Path) -> int:
    """Referrals that break the contract three ways, each under a new id (so nothing links to them)."""
    path = folder / "referrals.csv"
    frame = pl.read_csv(path, infer_schema=False)
    template = frame.head(1)
    bad = [
        ("received_at", "not a time"),  # cannot be read
        ("referrer_type", "alien"),  # not a contract code
        ("disclosed_offence_code", "ZZ9"),  # not in the offence catalogue
    ]
    rows = [
        template.with_columns(pl.lit(f"RBAD{i + 1:03d}").alias("referral_id"), pl.lit(value).alias(column))
        for i, (column, value) in enumerate(bad)
    ]
    pl.concat([frame, *rows]).write_csv(path)
    return len(rows)


def write_forces(out_dir: Path, forces: int, seed: int, scale: float, as_of: datetime) -> list[WrittenForce]:
    """Write `forces` force extracts and forces.yaml into out_dir; deterministic for the arguments."""
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = [SIZES[i % len(SIZES)] for i in range(forces)]
    written = []
    for i in range(forces):
        code = f"F{i + 1:02d}"
        force_scale = round(scale * weights[i] / sum(weights), 5)
        # the first force injects four times the breaches: the funnel plots have an outlier to find
        extract = generate(
            seed=seed * 1000 + i,
            scale=force_scale,
            as_of=as_of,
            per_kind=4 * max(1, round(40 * force_scale)) if i == 0 else None,
        )
        extract.tables = {name: _districts(frame, code, 3 + i % 3) for name, frame in extract.tables.items()}
        folder = out_dir / code
        shape = "force" if i == 1 else "canonical"
        if shape == "force":
            write_force_export(extract, folder)
        else:
            write_extract(extract, folder)
        bad = _add_bad_rows(folder) if i == 2 else 0
        written.append(WrittenForce(code, f"Synthetic force {i + 1}", folder, shape, force_scale, bad, extract.key.height))
    manifest = {
        "forces": [
            {
                "code": f.code,
                "name": f.name,
                "extract": f.code,
                **({"profile": f"{f.code}/profile.yaml"} if f.shape == "force" else {}),
            }
            for f in written
        ]
    }
    (out_dir / "forces.yaml").write_text(
        "# A generated national extract: `recordcheck national forces.yaml --out OUT`.\n"
        + yaml.safe_dump(manifest, sort_keys=False),
        encoding="utf-8",
    )
    return written
