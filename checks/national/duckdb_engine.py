"""A national run on the embedded DuckDB engine: one force after another, in this process.

Each force goes through exactly the single-force path (read, validate, run_pack), so its
register and figures are those of its own nightly run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from recordcheck.checks.engine.engine import run_pack
from recordcheck.checks.engine.headline import headline_figures
from recordcheck.checks.engine.rules import RulePack
from recordcheck.checks.national.figures import EXAMPLE_COLUMNS, EXAMPLES_PER_RULE, rule_figures
from recordcheck.checks.national.forces import Force
from recordcheck.checks.national.front import ForceRefused, front_facts, quarantine_with_force, read_force
from recordcheck.checks.validation.runners import make_runner


def check_force(
    force: Force, pack: RulePack, as_of: datetime, validator: str, run_id: str, staging: Path
) -> tuple[dict[str, Any], pl.DataFrame | None]:
    """The force's facts and figures, its register written to exceptions/force=CODE/; its
    quarantine returned (with a force column) for the national file."""
    try:
        setup, loaded = read_force(force, pack, as_of, make_runner(validator))
    except ForceRefused as exc:
        return {"code": force.code, "name": force.name, "status": "refused", "reason": str(exc)}, None
    try:
        facts = front_facts(force, setup, loaded)
        engine = run_pack(
            pack,
            setup.reference,
            as_of,
            loaded.validation.accepted,
            run_id,
            disabled=setup.config.disabled_rules,
            settings=setup.config.engine,
            unusable=loaded.unusable,
            districts=setup.config.districts,
        )
        quarantine = quarantine_with_force(loaded, force.code)
    finally:
        loaded.close()
    register = engine.register
    partition = staging / "exceptions" / f"force={force.code}"
    partition.mkdir(parents=True, exist_ok=True)
    register.write_parquet(partition / "part-0.parquet")
    rules = rule_figures(engine.results, setup.reference)
    examples = (
        register.sort("rule_id", "record_type", "record_id")
        .group_by("rule_id", maintain_order=True)
        .head(EXAMPLES_PER_RULE)
        .select(EXAMPLE_COLUMNS)
        .to_dicts()
    )
    figures = {
        **facts,
        "status": "checked",
        "rules": rules,
        "headline": headline_figures(rules, register, engine.measures),
        "register_rows": register.height,
        "examples": examples,
    }
    return figures, quarantine
