"""Great Expectations suites for the canonical tables, generated from the contract.

The generated suites are kept in `rules/expectations/` so that a reviewer sees every check the
extract must pass; `recordcheck suites --write` regenerates them and a test keeps them in sync.
Values that depend on the run (the as-of instant, the offence catalogue, the ids of other tables)
are GX suite parameters (`{"$PARAMETER": name}`), filled in at validation time.

Each expectation's `meta` carries `check` (a short stable name) and `reason` (the sentence
written to quarantine.csv), and `keep_first` where only repeats after the first are bad.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.resources import SUITES_DIR
from recordcheck.checks.extract.contract import CONTRACT_VERSION, EARLIEST_YEAR, TABLES, Column, Table

# Columns the validator derives before handing a table to GX (name -> (table, description)).
DERIVED_COLUMNS = {
    ("crime_links", "source_ref"): "source_type and source_id joined by ':'",
}


def _expectation(type_: str, check: str, reason: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_, "kwargs": kwargs, "meta": {"check": check, "reason": reason}}


def _range_reason(name: str, low: int | None, high: int | None) -> str:
    if low is not None and high is not None:
        return f"{name} is outside {low}..{high}"
    if low is not None:
        return f"{name} is below {low}"
    return f"{name} is above {high}"


def _required_and_unique(table: Table) -> list[dict[str, Any]]:
    """Required values, then one row per id (later repeats quarantined, the first kept)."""
    exps = [
        _expectation(
            "expect_column_values_to_not_be_null", "required_value", f"{c.name} is required but empty", column=c.name
        )
        for c in table.columns
        if c.required
    ]
    if table.id_column:
        unique = _expectation(
            "expect_column_values_to_be_unique",
            "duplicate_id",
            f"{table.id_column} repeats an id already used in an earlier row",
            column=table.id_column,
        )
        unique["meta"]["keep_first"] = True
        exps.append(unique)
    return exps


def _column_checks(col: Column) -> list[dict[str, Any]]:
    """A column's own checks: allowed values, offence codes, range, plausible dates, not after the as-of."""
    exps = []
    if col.enum:
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "unknown_value",
                f"{col.name} is not one of the contract's values ({', '.join(col.enum)})",
                column=col.name,
                value_set=list(col.enum),
            )
        )
    if col.offence_code:
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "unknown_offence_code",
                f"{col.name} is not a code in the offence catalogue",
                column=col.name,
                value_set={"$PARAMETER": "offence_codes"},
            )
        )
    if col.min_value is not None or col.max_value is not None:
        bounds = {k: v for k, v in (("min_value", col.min_value), ("max_value", col.max_value)) if v is not None}
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "out_of_range",
                _range_reason(col.name, col.min_value, col.max_value),
                column=col.name,
                **bounds,
            )
        )
    if col.type in ("timestamp", "date"):
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "implausible_date",
                f"{col.name} is before {EARLIEST_YEAR}",
                column=col.name,
                min_value={"$PARAMETER": "earliest"},
            )
        )
        exps.append(
            _expectation(
                "expect_column_values_to_be_between",
                "after_as_of",
                f"{col.name} is after the run's as-of time",
                column=col.name,
                max_value={"$PARAMETER": "as_of" if col.type == "timestamp" else "as_of_date"},
            )
        )
    return exps


def _table_checks(table: Table) -> list[dict[str, Any]]:
    """Checks across columns and tables: time order, and links that resolve."""
    exps = [
        _expectation(
            "expect_column_pair_values_a_to_be_greater_than_b",
            "order",
            f"{later} is before {earlier}",
            column_A=later,
            column_B=earlier,
            or_equal=True,
            ignore_row_if="either_value_is_missing",
        )
        for earlier, later in table.order_pairs
    ]
    if table.name in ("crime_links", "victim_contacts"):
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "unresolved_crime",
                "crime_id names no crime in the crimes table",
                column="crime_id",
                value_set={"$PARAMETER": "crime_ids"},
            )
        )
    if table.name == "incident_log":
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "unresolved_incident",
                "incident_id names no incident in the incidents table",
                column="incident_id",
                value_set={"$PARAMETER": "incident_ids"},
            )
        )
    if table.name == "crime_links":
        exps.append(
            _expectation(
                "expect_column_values_to_be_in_set",
                "unresolved_source",
                "source_id names no referral or incident of that source_type",
                column="source_ref",
                value_set={"$PARAMETER": "source_refs"},
            )
        )
    return exps


def build_suite(table: Table) -> dict[str, Any]:
    """The expectation suite for one canonical table, as a GX suite dictionary."""
    exps = _required_and_unique(table)
    for col in table.columns:
        exps += _column_checks(col)
    exps += _table_checks(table)
    return {
        "name": f"recordcheck.{table.name}",
        "expectations": exps,
        "meta": {
            "generated_by": "recordcheck suites --write",
            "contract_version": CONTRACT_VERSION,
            "derived_columns": {name: how for (tbl, name), how in DERIVED_COLUMNS.items() if tbl == table.name},
        },
    }


def suite_path(table: str, directory: Path = SUITES_DIR) -> Path:
    return directory / f"{table}.json"


def render(suite: dict[str, Any]) -> str:
    return json.dumps(suite, indent=2, sort_keys=False) + "\n"


def write_suites(directory: Path = SUITES_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for table in TABLES.values():
        path = suite_path(table.name, directory)
        path.write_text(render(build_suite(table)), encoding="utf-8")
        written.append(path)
    return written


def load_suite(table: str, directory: Path = SUITES_DIR) -> dict[str, Any]:
    """A table's suite, checked before any SQL is built from it: a column it names must be one of
    the contract's (a name carrying SQL is refused), and each expectation a known kind."""
    path = suite_path(table, directory)
    try:
        result: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable suite ({type(exc).__name__})") from None
    expectations = result.get("expectations") if isinstance(result, dict) else None
    if not isinstance(expectations, list):
        raise ConfigError(f"{path}: a suite is an object with a list of expectations")
    known = set(TABLES[table].column_names) | {column for (owner, column) in DERIVED_COLUMNS if owner == table}
    for number, expectation in enumerate(expectations, start=1):
        kind = expectation.get("type") if isinstance(expectation, dict) else None
        kwargs = expectation.get("kwargs") if isinstance(expectation, dict) else None
        if not isinstance(kind, str) or not re.fullmatch(r"expect_[a-z_]+", kind) or not isinstance(kwargs, dict):
            raise ConfigError(f"{path}: expectation {number} has no known type and kwargs")
        for key, value in kwargs.items():
            if "column" not in key:
                continue
            names = value if isinstance(value, list) else [value]
            unknown = [n for n in names if not isinstance(n, str) or n not in known]
            if unknown:
                raise ConfigError(
                    f"{path}: expectation {number} ({kind}) names {len(unknown)} column(s) that table {table} "
                    "does not have; a suite reads only the contract's columns"
                )
    return result
