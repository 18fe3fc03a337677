"""The screen's data: one lexicon file per offence group, and the ConText assertion terms.

A term is written as words. Matching ignores case and punctuation, and a trailing `*` stands
for any ending, so an author never writes a regular expression: `term_pattern` writes it, and
every pattern the screen runs is built here from checked words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.schema import validate
from recordcheck.checks.base.yamlfile import load_yaml, require_mapping

LEXICON_DIR_NAME = "lexicons"
CONTEXT_FILE = "context.yaml"
ASSERTIONS = ("affirmed", "negated", "hypothetical", "not_real", "accidental")
"""What a matched cue can be: a real offence, or one of the ConText modifier kinds (in this order
of precedence when several apply)."""
MODIFIER_KINDS = ASSERTIONS[1:]
TERM = re.compile(r"^[a-z0-9]+\*?( [a-z0-9]+\*?)*$")


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CueFile(_Shape):
    id: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$", description="Stable cue id, e.g. csa.touching.")
    terms: list[str] = Field(min_length=1, description="Words and phrases, their variants and misspellings.")


class GroupCases(_Shape):
    flagged: list[str] = Field(min_length=1, description="Sentences the group must find, affirmed.")
    not_flagged: list[str] = Field(min_length=1, description="Sentences it must not find affirmed.")


class LexiconFile(_Shape):
    """One offence group's cues: what words point to it, the codes it points to, and its cases."""

    lexicon: int = Field(description="The lexicon format (1).")
    group: str = Field(pattern=r"^[a-z_]+$", description="The group's id; also the file name.")
    title: str
    codes: list[str | int] = Field(min_length=1, description="Home Office codes the group points to.")
    reference: str
    cues: list[CueFile] = Field(min_length=1)
    cases: GroupCases


class ModifierFile(_Shape):
    description: str
    forward: list[str] = Field(default_factory=list, description="Triggers that modify the cues after them.")
    backward: list[str] = Field(default_factory=list, description="Triggers that modify the cues before them.")
    both: list[str] = Field(default_factory=list, description="Triggers that modify every cue in their clause.")


class ContextFile(_Shape):
    """The assertion layer's terms (ConText): modifiers by kind, terminators, idioms, and cases."""

    lexicon: int
    reference: str
    modifiers: dict[Literal["negated", "hypothetical", "not_real", "accidental"], ModifierFile]
    terminators: list[str] = Field(min_length=1, description="Terms that end a trigger's scope.")
    idioms: list[str] = Field(default_factory=list, description="Phrases removed before matching.")
    cases: dict[Literal["affirmed", "negated", "hypothetical", "not_real", "accidental", "idiom"], list[str]]


def normalise(text: str) -> str:
    """Text as the screen matches it: lower case, every run of other characters one space."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def term_pattern(term: str) -> str:
    """A term's regular expression over normalised text (words; `*` any ending)."""
    words = " ".join(re.sub(r"[^a-z0-9*]+", " ", term.lower()).split())
    if not TERM.match(words):
        raise ValueError(term)
    return " ".join(re.escape(w.rstrip("*")) + ("[a-z0-9]*" if w.endswith("*") else "") for w in words.split())


def alternatives(terms: list[str]) -> str:
    """The terms' patterns as one alternation, longest first (unbounded: see `whole_words`)."""
    return "|".join(sorted({term_pattern(t) for t in terms}, key=lambda p: (-len(p), p)))


def whole_words(alternation: str) -> str:
    """An alternation matched only as whole words."""
    return r"\b(?:" + alternation + r")\b"


@dataclass(frozen=True)
class Cue:
    id: str
    terms: str
    """The alternation of its terms' patterns."""


@dataclass(frozen=True)
class Group:
    id: str
    title: str
    codes: tuple[str, ...]
    reference: str
    cues: tuple[Cue, ...]
    flagged: tuple[str, ...]
    not_flagged: tuple[str, ...]
    path: Path

    @property
    def pattern(self) -> str:
        return whole_words("|".join(c.terms for c in self.cues))


@dataclass(frozen=True)
class Modifier:
    kind: str
    description: str
    forward: str | None
    backward: str | None
    both: str | None


@dataclass(frozen=True)
class Lexicons:
    """Every group and the assertion terms, with the patterns the screen runs."""

    groups: tuple[Group, ...]
    modifiers: tuple[Modifier, ...]
    terminators: str
    idioms: str | None
    cases: dict[str, tuple[str, ...]]
    reference: str

    @property
    def any_cue(self) -> str:
        """The prefilter: any cue of any group."""
        return whole_words("|".join(c.terms for g in self.groups for c in g.cues))

    @property
    def any_cue_raw(self) -> str:
        """The prefilter over lower-cased text as written: words apart by any run of other characters."""
        return self.any_cue.replace(" ", "[^a-z0-9]+")

    def roles(self) -> list[TermRole]:
        """Every term's role: a cue of a group, a modifier's trigger (kind, direction), a terminator."""
        roles = [TermRole("cue", c.terms, g.id, c.id) for g in self.groups for c in g.cues]
        for m in self.modifiers:
            for direction, terms in (("forward", m.forward), ("backward", m.backward), ("both", m.both)):
                if terms:
                    roles.append(TermRole("trigger", terms, kind=m.kind, direction=direction))
        roles.append(TermRole("terminator", self.terminators))
        return roles

    @property
    def any_term(self) -> str:
        """One pattern for every cue, trigger and terminator, longest first: its matches, in
        order and not overlapping, are a sentence's terms."""
        inner = "|".join(role.terms for role in self.roles())
        return whole_words("|".join(sorted(set(inner.split("|")), key=lambda p: (-len(p), p))))


@dataclass(frozen=True)
class TermRole:
    role: str
    """`cue`, `trigger` or `terminator`."""
    terms: str
    """The alternation of its terms' patterns."""
    offence_group: str | None = None
    cue_id: str | None = None
    kind: str | None = None
    direction: str | None = None


def _terms(raw: list[str], where: str) -> str | None:
    """The terms' alternation (unbounded), or None for no terms."""
    if not raw:
        return None
    try:
        return alternatives(raw)
    except ValueError as exc:
        raise ConfigError(f"{where}: term {str(exc)!r} has no words (letters and digits; * only at a word's end)") from None


def load_lexicons(directory: Path) -> Lexicons | None:
    """The pack's lexicons folder, or None where the pack has none (the screen does not run)."""
    if not directory.is_dir():
        return None
    context_path = directory / CONTEXT_FILE
    if not context_path.is_file():
        raise ConfigError(f"{directory}: the lexicons folder has no {CONTEXT_FILE} (the assertion terms)")
    context = validate(
        ContextFile,
        require_mapping(load_yaml(context_path), context_path, "the context terms"),
        context_path,
        "the context terms",
    )
    modifiers = tuple(
        Modifier(
            kind,
            spec.description,
            _terms(spec.forward, f"{context_path} {kind}.forward"),
            _terms(spec.backward, f"{context_path} {kind}.backward"),
            _terms(spec.both, f"{context_path} {kind}.both"),
        )
        for kind in MODIFIER_KINDS
        if (spec := context.modifiers.get(kind))  # type: ignore[call-overload]
    )
    groups = []
    cue_ids: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name == CONTEXT_FILE:
            continue
        raw = validate(LexiconFile, require_mapping(load_yaml(path), path, "a lexicon"), path, "a lexicon")
        if raw.group != path.stem:
            raise ConfigError(f"{path}: group {raw.group!r} must match the file name {path.stem!r}")
        cues = []
        for cue in raw.cues:
            if cue.id in cue_ids:
                raise ConfigError(f"{path}: cue id {cue.id} is also in {cue_ids[cue.id]}")
            cue_ids[cue.id] = path
            try:
                cues.append(Cue(cue.id, alternatives(cue.terms)))
            except ValueError as exc:
                raise ConfigError(f"{path} cue {cue.id}: term {str(exc)!r} has no words") from None
        groups.append(
            Group(
                raw.group,
                raw.title,
                tuple(str(code) for code in raw.codes),
                raw.reference.strip(),
                tuple(cues),
                tuple(raw.cases.flagged),
                tuple(raw.cases.not_flagged),
                path,
            )
        )
    if not groups:
        raise ConfigError(f"{directory}: no lexicon files (one <group>.yaml per offence group)")
    terminators = _terms(context.terminators, f"{context_path} terminators")
    assert terminators is not None
    return Lexicons(
        tuple(groups),
        modifiers,
        terminators,
        _terms(context.idioms, f"{context_path} idioms"),
        {kind: tuple(sentences) for kind, sentences in context.cases.items()},
        context.reference.strip(),
    )
