"""Typed schemas of the rule pack's YAML (`pack.yaml` and one file per rule), checked with pydantic
as configs and profiles are, and published as JSON Schema for rule authors' editors
(`rules/schema/rule.schema.json`, `rules/schema/pack.schema.json`; `make docs` writes them).

The shapes live here; what needs the contract or SQL (a finding kind, a table, a column, SQL
that parses) is checked by `rules.load_rule` and `rules.load_pack` after the shape passes. The
patterns of a rule's id and name live here only.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from recordcheck.checks.extract.contract import FINDINGS, SEVERITIES, TABLES

CaseValue = str | int | float | bool | None
CaseId = str | int


class _Shape(BaseModel):
    """No unknown keys (a misspelt key is an error, not ignored)."""

    model_config = ConfigDict(extra="forbid")


class CaseFile(_Shape):
    """One test case: tiny tables in, the records the rule must (and must not) flag out."""

    name: str = Field(description="Short snake_case name, unique within the rule.")
    description: str = Field("", description="What the case shows, in a sentence.")
    as_of: str | None = Field(None, description="The run's as-of instant (ISO 8601; naive means London time).")
    given: dict[str, list[dict[str, CaseValue]] | None] = Field(
        description="Rows per contract table; columns left out take the pack's case_defaults."
    )
    flagged: list[CaseId] = Field(default_factory=list, description="Record ids the rule must flag (exactly these).")
    not_flagged: list[CaseId] = Field(default_factory=list, description="Record ids the rule must not flag.")
    population: list[CaseId] | None = Field(
        None, description="When given, exactly the record ids the rule's population must hold (its denominator)."
    )
    details: dict[str, str] = Field(
        default_factory=dict, description="Record id -> text its register detail sentence must contain."
    )
    absent: list[str] = Field(default_factory=list, description="Tables absent from the extract: the rule must not run.")
    unusable: list[str] = Field(
        default_factory=list,
        description="Optional columns (table.column) taken as absent from the export: the parts that need them do not run.",
    )
    limits: dict[str, float] | None = Field(
        None,
        description="Limits (rules/reference/limits.yaml) in force for this case instead of the pack's, "
        "e.g. a text bound too large to write out in a case.",
    )
    due: dict[str, str] | None = Field(
        None,
        description="For a rule with `due:`, exactly the record ids its due list must hold, each with its deadline "
        "(ISO 8601 UTC instant, to the second): the records that will breach then unless someone acts.",
    )


class RuleFile(_Shape):
    """One rule: what it checks, why, where the rules say so, its SQL and its own cases."""

    id: str = Field(pattern=r"^[A-Z]{2,4}[0-9]{3}$", description="Stable code, e.g. REC001; also the file name.")
    name: str = Field(pattern=r"^[a-z_]+(\.[a-z_0-9]+)+$", description="Dotted name, e.g. recording.referral.unrecorded.")
    title: str = Field(description="What a finding means, in one sentence; {limit:NAME} takes a reference limit.")
    finding: str = Field(json_schema_extra={"enum": list(FINDINGS)}, description="The contract's finding kind.")
    severity: str = Field(json_schema_extra={"enum": list(SEVERITIES)})
    rationale: str = Field(description="Why it matters.")
    reference: str = Field(description="The Crime Recording Rules or counting rules section it follows.")
    assumptions: list[str] | None = Field(
        None,
        description="Where public text is silent, what the rule assumes (a project default, an unconfirmed "
        "reading): printed once in the report's appendix of assumptions, never in the reference.",
    )
    requires: list[str] | None = Field(description="Tables the rule reads; absent ones make it 'not run'.")
    needs: list[str] | None = Field(None, description="Optional columns (table.column) it cannot judge without.")
    parts: dict[str, list[str]] | None = Field(
        None,
        description="Independent sub-checks by name, each with the optional columns it needs: the SQL guards "
        "each with checked('NAME'); a part whose column is absent or empty is not run (and said so), the rest run.",
    )
    strata: list[str] | None = Field(None, description="Columns its rate is broken down by (default: district).")
    population: str = Field(description="SQL: the records the rule applies to (the denominator).")
    breaches: str = Field(description="SQL over `population`: the failing records.")
    detail: str = Field(description="The register sentence, from codes, dates and ids ({column} placeholders).")
    due: str | None = Field(
        None,
        description="SQL over `population`: the records that do not breach yet and will, if nothing changes, at "
        "`deadline_at` (a UTC instant; elapsed-time arithmetic, safe across clock changes).",
    )
    due_detail: str | None = Field(None, description="The due list's sentence ({column} placeholders over `due`).")
    evidence: list[str] | None = Field(None, description="Columns whose change reopens an auditor's decision.")
    example: str | None = Field(None, description="A worked example for `rules explain`.")
    tests: list[CaseFile] | None = Field(description="The rule's own cases: at least one that flags and one that does not.")


class PackFile(_Shape):
    """pack.yaml: the pack's identity and the macros, views and measures every rule may use."""

    pack: int = Field(description="The pack format (1).")
    name: str
    version: str = Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$", description="Semantic version, judged on the sample.")
    description: str = ""
    macros: dict[str, str] | None = None
    spark_macros: dict[str, str] | None = None
    views: dict[str, str] | None = None
    inline_views: list[str] | None = None
    measures: dict[str, str] | None = None
    case_defaults: dict[str, dict[str, CaseValue]] | None = Field(
        None,
        description="Per table, the value a test case's row takes for a column it leaves out.",
        json_schema_extra={"propertyNames": {"enum": list(TABLES)}},
    )


def json_schemas() -> dict[str, str]:
    """File name -> JSON Schema text, for editors (`# yaml-language-server: $schema=...`)."""
    from recordcheck.checks.narrative.lexicon import ContextFile, LexiconFile

    schemas: dict[str, Any] = {
        "rule.schema.json": RuleFile,
        "pack.schema.json": PackFile,
        "lexicon.schema.json": LexiconFile,
        "context.schema.json": ContextFile,
    }
    return {name: json.dumps(model.model_json_schema(), indent=2) + "\n" for name, model in schemas.items()}
