"""The contract is shipped: `recordcheck contract` prints it, docs/contract.md is that output,
and every column says what it means."""

from __future__ import annotations

import json

from click.testing import CliRunner

from recordcheck.checks.adoption.contract_doc import contract_markdown
from recordcheck.checks.extract.contract import TABLES
from recordcheck.cli import cli
from tests.conftest import ROOT


def test_docs_contract_is_the_generated_text():
    assert (ROOT / "docs" / "contract.md").read_text(encoding="utf-8") == contract_markdown(), (
        "docs/contract.md is stale: run recordcheck contract --format md > docs/contract.md"
    )


def test_every_table_and_column_says_what_it_means():
    for table in TABLES.values():
        assert table.meaning, table.name
        for column in table.columns:
            assert column.meaning, f"{table.name}.{column.name}"


def test_json_lists_every_column_with_its_allowed_values():
    result = CliRunner().invoke(cli, ["contract", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert [t["name"] for t in document["tables"]] == list(TABLES)
    crimes = next(t for t in document["tables"] if t["name"] == "crimes")
    status = next(c for c in crimes["columns"] if c["name"] == "status")
    assert status == {**status, "required": True, "allowed_values": ["recorded", "cancelled", "transferred"]}
    rationale = next(c for c in crimes["columns"] if c["name"] == "cancellation_rationale")
    assert rationale["free_text"] is True
    assert [c["name"] for c in crimes["columns"]] == TABLES["crimes"].column_names


def test_one_table_in_markdown():
    result = CliRunner().invoke(cli, ["contract", "victim_contacts"])
    assert result.exit_code == 0
    assert result.output.startswith("## victim_contacts (optional)")
    assert "| `contact_type` | string | yes | `update`, `needs_assessment`" in result.output
    assert "## crimes" not in result.output
    unknown = CliRunner().invoke(cli, ["contract", "victims"])
    assert unknown.exit_code == 2 and "victims" in unknown.output
