"""medspaCy's ConText with the pack's own lexicons and assertion terms, for comparison with the
narrative screen (run by `benchmarks/narrative_screen.py --medspacy PYTHON`, in an environment
with medspacy installed; recordcheck itself does not depend on it).

Reads {"texts": [[record_type, record_id, text], ...], "lexicons": folder} from the file named
on the command line; prints {"affirmed": [[record_type, record_id], ...], "seconds": s, "texts": n}.
spaCy's blank English pipeline: no model is downloaded.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import yaml

DIRECTIONS = {"forward": "FORWARD", "backward": "BACKWARD", "both": "BIDIRECTIONAL"}


def _pattern(term: str) -> list[dict[str, object]] | None:
    """A term with a trailing * as a token pattern; None: a literal phrase."""
    words = term.lower().split()
    if not any(w.endswith("*") for w in words):
        return None
    return [{"LOWER": {"REGEX": "^" + w.rstrip("*")}} if w.endswith("*") else {"LOWER": w} for w in words]


def build(lexicons: Path):  # noqa: ANN201 - a spaCy Language
    import medspacy
    from medspacy.context import ConTextRule
    from medspacy.target_matcher import TargetRule

    nlp = medspacy.load(enable=["medspacy_pyrush"])
    for name in ("medspacy_target_matcher", "medspacy_context"):
        if name in nlp.pipe_names:
            nlp.remove_pipe(name)
    matcher = nlp.add_pipe("medspacy_target_matcher")
    context = nlp.add_pipe("medspacy_context", config={"rules": None})
    targets = []
    for path in sorted(lexicons.glob("*.yaml")):
        if path.name == "context.yaml":
            continue
        spec = yaml.safe_load(path.read_text())
        for cue in spec["cues"]:
            for term in cue["terms"]:
                targets.append(TargetRule(term.lower(), spec["group"], pattern=_pattern(term)))
    spec = yaml.safe_load((lexicons / "context.yaml").read_text())
    for idiom in spec.get("idioms", []):
        targets.append(TargetRule(idiom, "IDIOM"))
    matcher.add(targets)
    rules = []
    for kind, modifier in spec["modifiers"].items():
        for direction, terms in modifier.items():
            if direction in DIRECTIONS:
                rules += [
                    ConTextRule(t.lower(), kind.upper(), direction=DIRECTIONS[direction], pattern=_pattern(t)) for t in terms
                ]
    rules += [ConTextRule(t.lower(), "TERMINATE", direction="TERMINATE") for t in spec["terminators"]]
    context.add(rules)
    return nlp


def main() -> None:
    from loguru import logger

    logger.remove()  # PyRuSH logs every sentence at DEBUG
    payload = json.loads(Path(sys.argv[1]).read_text())
    nlp = build(Path(payload["lexicons"]))
    affirmed = set()
    for (record_type, record_id, _), doc in zip(payload["texts"], nlp.pipe(t for _, _, t in payload["texts"]), strict=True):
        for ent in doc.ents:
            if ent.label_ != "IDIOM" and not ent._.modifiers:
                affirmed.add((record_type, record_id))
    timing = payload.get("timing", [])
    started = time.perf_counter()
    for _ in nlp.pipe(timing, batch_size=256):
        pass
    seconds = time.perf_counter() - started
    print(json.dumps({"affirmed": sorted(affirmed), "seconds": seconds, "texts": len(timing)}))


if __name__ == "__main__":
    main()
