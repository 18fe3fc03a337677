"""The narrative screen measured: precision and recall of NAR001 on a generated extract whose
phrasings the lexicons were not tuned on (`generate --phrasing held_back`), by offence group and
by trap kind, and the screen's time beside the run's.

    python benchmarks/narrative_screen.py [--scale 0.3] [--seed 21] [--phrasing held_back]
        [--medspacy PYTHON]

`--medspacy PYTHON` also times and scores medspaCy's ConText (over spaCy's blank English pipeline,
no model download) with the same lexicons and assertion terms, run by that interpreter (an
environment with medspacy installed; recordcheck does not depend on it). Figures only: no
assertion lives here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "recordcheck.cli", *args], check=False, capture_output=True, cwd=ROOT)


def wilson(x: int, n: int) -> str:
    from recordcheck.checks.base.stats import wilson

    interval = wilson(x, n)
    if n == 0 or interval is None:
        return "n/a"
    low, high = interval
    return f"{x / n:.3f} ({low:.3f} to {high:.3f})"


def score(planted: pl.DataFrame, flagged: set[tuple[str, str]], extra: int) -> dict[str, object]:
    """Recall over planted disclosures; precision over everything flagged (extra: flags on records
    nothing was planted on)."""
    marked = planted.with_columns(
        pl.struct("record_type", "record_id")
        .map_elements(lambda r: (r["record_type"], r["record_id"]) in flagged, return_dtype=pl.Boolean)
        .alias("flagged")
    )
    disclosures = marked.filter(pl.col("kind") == "disclosure")
    tp = int(disclosures["flagged"].sum())
    fp = int(marked.filter(pl.col("kind") != "disclosure")["flagged"].sum()) + extra
    by_group = disclosures.group_by("offence_group").agg(pl.len().alias("planted"), pl.col("flagged").sum().alias("found"))
    by_trap = (
        marked.filter(pl.col("kind") != "disclosure")
        .group_by("kind")
        .agg(pl.len().alias("planted"), pl.col("flagged").sum().alias("flagged"))
    )
    return {
        "recall": wilson(tp, disclosures.height),
        "precision": wilson(tp, tp + fp),
        "tp": tp,
        "fp": fp,
        "fn": disclosures.height - tp,
        "by_group": by_group.sort("offence_group").rows(),
        "by_trap": by_trap.sort("kind").rows(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--phrasing", default="held_back", choices=["tuned", "held_back"])
    parser.add_argument("--medspacy", help="a Python interpreter with medspacy installed, to compare")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        extract, out = Path(work) / "extract", Path(work) / "out"
        _cli("generate", str(extract), "--seed", str(args.seed), "--scale", str(args.scale), "--phrasing", args.phrasing)
        started = time.perf_counter()
        _cli("run", str(extract), "--out", str(out))
        seconds = time.perf_counter() - started
        manifest = json.loads((out / "latest" / "manifest.json").read_text())
        register = pl.read_csv(out / "latest" / "exceptions.csv", infer_schema=False)
        planted = pl.read_csv(extract / "narrative_key.csv", infer_schema=False).fill_null("")
        found = register.filter(pl.col("rule_id") == "NAR001").select("record_type", "record_id").rows()
        on_planted = set(planted.select("record_type", "record_id").rows())
        result = score(planted, set(found), sum(1 for r in found if r not in on_planted))
        timings = manifest["timings_seconds"]
        print(f"extract: seed {args.seed}, scale {args.scale}, phrasing {args.phrasing}")
        print(f"run {seconds:.2f} s; screen {timings.get('rules.screen', 0):.2f} s; rules {timings['rules']:.2f} s")
        texts_read = sum(
            pl.read_csv(extract / f"{name}.csv", infer_schema=False, columns=[column])[column].drop_nulls().len()
            for name, column in (("referrals", "summary"), ("incidents", "summary"), ("incident_log", "text"))
        )
        print(f"texts read: {texts_read}")
        _print("recordcheck", result)
        if args.medspacy:
            texts = _planted_texts(extract, planted)
            payload = Path(work) / "texts.json"
            timing = _sample_texts(extract, 20_000)
            payload.write_text(json.dumps({"texts": texts, "timing": timing, "lexicons": str(ROOT / "rules" / "lexicons")}))
            done = subprocess.run(
                [args.medspacy, str(Path(__file__).with_name("medspacy_context.py")), str(payload)],
                check=True,
                capture_output=True,
                text=True,
            )
            answer = json.loads(done.stdout)
            flagged = {(t, i) for t, i in answer["affirmed"]}
            per_text = answer["seconds"] / max(1, answer["texts"])
            print(
                f"medspaCy ConText: {answer['seconds']:.2f} s for {answer['texts']} texts sampled "
                f"({per_text * 1e3:.2f} ms a text; {per_text * texts_read:.1f} s for the extract's {texts_read})"
            )
            _print("medspaCy (planted texts only)", score(planted, flagged, 0))


def _print(name: str, result: dict[str, object]) -> None:
    counts = f"tp {result['tp']}, fp {result['fp']}, fn {result['fn']}"
    print(f"{name}: recall {result['recall']}, precision {result['precision']} ({counts})")
    print("  by group (planted, found): " + "; ".join(f"{g} {p}/{f}" for g, p, f in result["by_group"]))  # type: ignore[attr-defined]
    print("  traps (planted, flagged): " + "; ".join(f"{k} {p}/{f}" for k, p, f in result["by_trap"]))  # type: ignore[attr-defined]


def _sample_texts(extract: Path, n: int) -> list[str]:
    """A random sample of every text in the extract (summaries and log entries), for timing."""
    frames = [
        pl.read_csv(extract / f"{name}.csv", infer_schema=False, columns=[column]).rename({column: "text"})
        for name, column in (("referrals", "summary"), ("incidents", "summary"), ("incident_log", "text"))
    ]
    texts = pl.concat(frames).drop_nulls()
    return texts.sample(min(n, texts.height), seed=1)["text"].to_list()


def _planted_texts(extract: Path, planted: pl.DataFrame) -> list[tuple[str, str, str]]:
    """The summaries and log entries of the planted records (the texts both screens judge)."""
    wanted = set(planted.select("record_type", "record_id").rows())
    texts = []
    for name, record_type, id_col, column in (
        ("referrals", "referral", "referral_id", "summary"),
        ("incidents", "incident", "incident_id", "summary"),
        ("incident_log", "incident", "incident_id", "text"),
    ):
        frame = pl.read_csv(extract / f"{name}.csv", infer_schema=False)
        for record_id, text in frame.select(id_col, column).rows():
            if (record_type, record_id) in wanted and text:
                texts.append((record_type, record_id, text))
    return texts


if __name__ == "__main__":
    main()
