"""A large extract written in parts, so generating it needs the memory of one part, not the whole.

Scale 40 (about 80 million rows, every force in England and Wales for a year) does not fit in
memory as one set of tables: the generator holds each column as numpy and Polars arrays while it
builds them. Written in parts, each part is an ordinary generated extract of scale / parts, with a
seed of its own and record numbers after the parts before it (so no id repeats). Each part's
tables are appended to the extract's files as they are made (Parquet row groups, or CSV rows
after one header) and its answer key to key.csv, then the part is dropped. The result is one
extract with one key, as `recordcheck run` expects: the whole is the parts side by side, and every
injected breach in a part is a breach in the whole, because no record of one part links to
another's.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.generate import generate
from recordcheck.checks.generate.shapes import as_exported, write_generation

PART_IDS = 10_000_000
"""Record numbers each part may use: part k numbers its records from k * PART_IDS + 1."""
MAX_PART_SCALE = 5.0
"""A part's largest scale: its busiest id series (incidents, about 600,000 per unit of scale)
stays well within PART_IDS, and its tables within about 5 GB while they are built (measured at
scale 40 in parts of 5: a 4.9 GB peak)."""
WHOLE_UP_TO = 10.0
"""Up to this scale an extract is generated whole by default (its ids and records as they always
were for a seed); above it, in parts of MAX_PART_SCALE."""


def parts_for(scale: float, parts: int | None) -> int:
    """The parts an extract of `scale` is written in: as asked, else one up to WHOLE_UP_TO, else
    as few as keep each part within MAX_PART_SCALE."""
    if parts is not None:
        return parts
    return 1 if scale <= WHOLE_UP_TO else math.ceil(scale / MAX_PART_SCALE)


def part_seed(seed: int, part: int) -> int:
    """Part 0 is the seed's ordinary extract at the part's scale; the others draw from seeds of their own."""
    return seed if part == 0 else seed * 100_003 + part


def write_parts(out_dir: Path, seed: int, scale: float, parts: int, as_of: datetime, fmt: str = "csv") -> dict[str, int]:
    """Write an extract of `scale` as `parts` generated parts appended to one set of files; the row counts."""
    part_scale = scale / parts
    if part_scale > MAX_PART_SCALE:
        raise ConfigError(f"scale {scale:g} in {parts} parts is {part_scale:g} a part; at most {MAX_PART_SCALE:g}")
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {name: 0 for name in TABLES}
    writers: dict[str, pq.ParquetWriter] = {}
    findings = 0
    try:
        for part in range(parts):
            extract = generate(seed=part_seed(seed, part), scale=part_scale, as_of=as_of, first_id=part * PART_IDS)
            for name, frame in extract.tables.items():
                counts[name] += frame.height
                if fmt == "parquet":
                    table = frame.to_arrow()
                    if name not in writers:
                        writers[name] = pq.ParquetWriter(out_dir / f"{name}.parquet", table.schema)
                    writers[name].write_table(table.cast(writers[name].schema))
                else:
                    with (out_dir / f"{name}.csv").open("ab" if part else "wb") as out:
                        as_exported(name, frame).write_csv(out, include_header=part == 0)
            with (out_dir / "key.csv").open("ab" if part else "wb") as out:
                extract.key.write_csv(out, include_header=part == 0)
            findings += extract.key.height
            if extract.narratives is not None:
                with (out_dir / "narrative_key.csv").open("ab" if part else "wb") as out:
                    extract.narratives.write_csv(out, include_header=part == 0)
            del extract
    finally:
        for writer in writers.values():
            writer.close()
    # the key sorted as one extract's is (finding, record_type, record_id)
    key = pl.read_csv(out_dir / "key.csv", infer_schema=False).sort(["finding", "record_type", "record_id"])
    key.write_csv(out_dir / "key.csv")
    write_generation(
        out_dir,
        {
            "seed": seed,
            "scale": scale,
            "parts": parts,
            "as_of": as_of.isoformat(),
            "phrasing": "tuned",
            "rows": counts,
            "findings": findings,
        },
    )
    return counts
