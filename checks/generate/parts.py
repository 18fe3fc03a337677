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

import json
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.extract.contract import TABLES
from recordcheck.checks.generate import generate
from recordcheck.checks.generate.shapes import local_text

PART_IDS = 10_000_000
"""Record numbers each part may use: part k numbers its records from k * PART_IDS + 1."""
MAX_PART_SCALE = 5.0
"""A part's largest scale: its busiest id series (victim contacts, about 1.7 million per unit of
scale) must stay within PART_IDS, and its tables within a few GB while they are built."""


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
                    ts_cols = [c.name for c in TABLES[name].columns if c.type == "timestamp"]
                    with (out_dir / f"{name}.csv").open("ab" if part else "wb") as out:
                        frame.with_columns([local_text(c) for c in ts_cols]).write_csv(out, include_header=part == 0)
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
    (out_dir / "generation.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "scale": scale,
                "parts": parts,
                "as_of": as_of.isoformat(),
                "phrasing": "tuned",
                "rows": counts,
                "findings": findings,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    return counts
