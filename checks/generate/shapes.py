"""Assembling the typed tables, and writing an extract as the contract's CSV or Parquet with its key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from recordcheck.checks.base.london import in_london
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.generate.common import NULL_TS, US, Extract, _Gen

# ---------------------------------------------------------------- assembling the tables


_DTYPES: dict[str, Any] = {
    "string": pl.String,
    "int": pl.Int64,
    "bool": pl.Boolean,
    "date": pl.Date,
    "timestamp": pl.Datetime("us", "UTC"),
}


def _series(name: str, values: Any, type_: str, n: int) -> pl.Series:
    if values is None:
        return pl.Series(name, [None] * n, dtype=_DTYPES[type_])
    if not isinstance(values, (np.ndarray, list)):
        values = [values] * n
    if type_ == "timestamp":
        raw = pl.Series(
            name,
            [NULL_TS if v is None else v for v in values] if isinstance(values, list) else values,
            dtype=pl.Int64,
        )
        # whole seconds, as force systems export them
        return pl.select(
            pl.when(raw == NULL_TS).then(None).otherwise(raw // US * US).cast(pl.Datetime("us", "UTC")).alias(name)
        ).to_series()
    if type_ == "int":
        raw = pl.Series(
            name,
            [-1 if v is None else v for v in values] if isinstance(values, list) else np.asarray(values, dtype=np.int64),
            dtype=pl.Int64,
        )
        return pl.select(pl.when(raw < 0).then(None).otherwise(raw).alias(name)).to_series()
    if type_ == "date":
        arr = (
            np.array([np.datetime64("NaT") if v is None else v for v in values], dtype="datetime64[D]")
            if isinstance(values, list)
            else values.astype("datetime64[D]")
        )
        return pl.Series(name, arr).cast(pl.Date)
    if type_ == "bool":
        return pl.Series(
            name,
            [None if v is None else bool(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)],
            dtype=pl.Boolean,
        )
    return pl.Series(
        name,
        [None if v is None else str(v) for v in (values.tolist() if isinstance(values, np.ndarray) else values)],
        dtype=pl.String,
    )


def _assemble(g: _Gen) -> dict[str, pl.DataFrame]:
    tables = {}
    for name, contract in TABLES.items():
        frames = []
        for block in g.blocks[name]:
            n = next(len(v) for v in block.values() if isinstance(v, (np.ndarray, list)))
            frames.append(pl.DataFrame([_series(c.name, block.get(c.name), c.type, n) for c in contract.columns]))
        tables[name] = (
            pl.concat(frames) if frames else pl.DataFrame(schema={c.name: _DTYPES[c.type] for c in contract.columns})
        )
    # shuffle crimes and incidents so files are not grouped by scenario (stable for the seed)
    for name in ("incidents", "crimes", "referrals"):
        tables[name] = tables[name].sample(fraction=1.0, shuffle=True, seed=int(g.rng.integers(0, 2**31)))
    return tables


def local_text(col: str) -> pl.Expr:
    """Europe/London wall-clock text without an offset, as forces export; the repeated autumn hour
    keeps an explicit offset so the instant is not ambiguous."""
    local = in_london(col)
    naive = local.dt.strftime("%Y-%m-%dT%H:%M:%S")
    with_offset = local.dt.strftime("%Y-%m-%dT%H:%M:%S%:z")
    # on the autumn change day 01:xx happens twice: the hour before or after is then also 01:xx
    utc = pl.col(col)
    is_repeat = (local.dt.hour() == 1) & (in_london(utc - pl.duration(hours=1)).dt.hour() == 1)
    first_pass = (local.dt.hour() == 1) & (in_london(utc + pl.duration(hours=1)).dt.hour() == 1)
    return pl.when(is_repeat | first_pass).then(with_offset).otherwise(naive).alias(col)


def as_exported(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """A table as the contract's CSV holds it: its timestamps as London wall-clock text."""
    return frame.with_columns([local_text(c.name) for c in TABLES[name].columns if c.type == "timestamp"])


def write_generation(out_dir: Path, facts: dict[str, Any]) -> None:
    """generation.json: what made the extract (seed, scale, as-of, rows, ...); a run without
    --as-of takes the extract's as-of from it."""
    (out_dir / "generation.json").write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")


def write_extract(extract: Extract, out_dir: Path, fmt: str = "csv") -> list[Path]:
    """Write the tables (and key.csv, generation.json) into out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in extract.tables.items():
        if fmt == "parquet":
            path = out_dir / f"{name}.parquet"
            frame.write_parquet(path)
        else:
            path = out_dir / f"{name}.csv"
            as_exported(name, frame).write_csv(path)
        written.append(path)
    extract.key.write_csv(out_dir / "key.csv")
    if extract.narratives is not None:
        extract.narratives.write_csv(out_dir / "narrative_key.csv")
    write_generation(
        out_dir,
        {
            "seed": extract.seed,
            "scale": extract.scale,
            "as_of": extract.as_of.isoformat(),
            "phrasing": extract.phrasing,
            "rows": extract.counts,
        },
    )
    return written
