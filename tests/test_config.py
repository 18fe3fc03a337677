"""The config file's schema: every value typed and in range, checked at load, named by file, line
and key path, with the usage exit code before any work (hardening defects 4, 5 and 7)."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner

from recordcheck.checks.base.config import load_config
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.cli import cli
from tests.conftest import AS_OF_TEXT, ROOT, TEST_REFERENCE


def _config(tmp_path, text: str):
    path = tmp_path / "c.yaml"
    path.write_text("config: 1\n" + text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # defect 4: limits that published wrong results
        ("reference:\n  limits: {recording_hours: .nan}\n", r"line 3: reference\.limits\.recording_hours: .*finite"),
        (
            "reference:\n  limits: {victim_update_days: -1}\n",
            r"line 3: reference\.limits\.victim_update_days: .*greater than 0",
        ),
        # defect 5: type errors that surfaced late as tracebacks, or were misread
        ("reference:\n  limits: abc\n", r"line 3: reference\.limits: .*valid dictionary"),
        ("reference:\n  outcome_types: {labels: {abc: x}}\n", r"reference\.outcome_types\.labels: .*0\.\.22"),
        ("rules:\n  thresholds: {REC001: {error_rate: high}}\n", r"line 3: rules\.thresholds\.REC001\.error_rate: .*number"),
        (
            "rules:\n  thresholds: {REC001: {error_rate: 1.5}}\n",
            r"rules\.thresholds\.REC001\.error_rate: .*less than or equal to 1",
        ),
        ("rules:\n  disable: REC001\n", r"line 3: rules\.disable: .*valid list"),
        ("report: {max_rows_in_page: 0}\n", r"report\.max_rows_in_page: .*greater than or equal to 1"),
        # a final report names its force, author and audit period; a period runs forwards
        ("report: {status: final, force_name: X, author: Y}\n", r"report: .*final report needs audit_period"),
        ("report: {status: final}\n", r"final report needs force_name, author, audit_period"),
        ("report: {status: issued}\n", r"report\.status: .*'draft' or 'final'"),
        (
            "report: {audit_period: {start: 2026-03-31, end: 2025-04-01}}\n",
            r"report\.audit_period: .*ends \(2025-04-01\) before it starts",
        ),
        ("engine: {memory_limit: lots}\n", r"engine\.memory_limit: .*pattern"),
        ("engine: {threads: 0}\n", r"engine\.threads"),
        (
            "rules:\n  thresholds: {REC001: {error_rat: 0.1}}\n",
            r"line 3: unknown key 'error_rat' in rules\.thresholds\.REC001; known keys: warn_rate, error_rate",
        ),
    ],
)
def test_bad_values_are_refused_at_load_by_key_path(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(tmp_path, text))


def test_good_config_loads_typed(tmp_path):
    config = load_config(
        _config(
            tmp_path,
            "reference:\n  limits: {recording_hours: 72}\nrules:\n  disable: [VIC001]\n"
            "  thresholds: {REC001: {warn_rate: 0.02, error_count: 3}}\nreport: {redact_below: 10}\nengine: {threads: 1, memory_limit: 1GB}\n",
        )
    )
    assert config.reference == {"limits": {"recording_hours": 72.0}}
    assert config.disabled_rules == ["VIC001"] and config.thresholds["REC001"].error_count == 3
    assert config.report["redact_below"] == 10 and config.engine.memory_limit == "1GB"


@pytest.mark.parametrize("text", ["rules:\n  disable: [REC999]\n", "rules:\n  thresholds: {REC99: {error_count: 1}}\n"])
def test_unknown_rule_ids_exit_with_the_usage_code_before_any_work(tmp_path, text):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        [
            "run",
            str(ROOT / "sample_data" / "extract"),
            "--out",
            str(out),
            "--as-of",
            AS_OF_TEXT,
            "--config",
            str(_config(tmp_path, text)),
        ],
    )
    assert result.exit_code == ExitCode.USAGE_ERROR and "names no rule of the pack" in result.output
    assert not out.exists()


def test_an_alias_bomb_is_refused_quickly(tmp_path):
    """Defect 7: nested aliases ran until killed."""
    lines = ["x0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    path = _config(tmp_path, "\n".join(lines) + "\nrules: {disable: *a9}\n")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than"):
        load_config(path)
    assert time.perf_counter() - started < 5


def test_an_oversized_yaml_is_refused_unread(tmp_path):
    path = _config(tmp_path, "# " + "x" * (3 << 20) + "\n")
    with pytest.raises(ConfigError, match="too large"):
        load_config(path)


def test_config_schema_names_the_same_reference_keys_as_the_pack():
    """The override schema and the pack's reference files must not drift apart."""
    from recordcheck.checks.base.config import AuthorityModel, LimitsModel, ReasonsModel
    from recordcheck.checks.base.refdata import AUTHORITY_KEYS, LIMIT_KEYS, REASON_KEYS

    assert list(LimitsModel.model_fields) == list(LIMIT_KEYS)
    assert list(ReasonsModel.model_fields) == list(REASON_KEYS)
    assert list(AuthorityModel.model_fields) == list(AUTHORITY_KEYS)


def test_a_forces_grade_bands_carry_their_hmicfrs_names_through_the_config(tmp_path):
    """reference.grade_bands in a force's config, with hmicfrs: on a band, reach the reference
    data the run grades with; a band without one has none; an unknown key is refused."""
    from recordcheck.checks.base.refdata import load_reference

    path = tmp_path / "config.yaml"
    path.write_text(
        "config: 1\nreference:\n  grade_bands:\n    bands:\n"
        "      - {grade: Meets, min_percent: 95, hmicfrs: Good}\n"
        "      - {grade: Below, min_percent: 0}\n"
    )
    config = load_config(path)
    bands = load_reference(TEST_REFERENCE, overrides=config.reference, config_path=path).grade_bands
    assert [(b.grade, b.hmicfrs) for b in bands] == [("Meets", "Good"), ("Below", "")]
    path.write_text(
        "config: 1\nreference:\n  grade_bands:\n    bands:\n      - {grade: Meets, min_percent: 95, hmics: Good}\n"
    )
    with pytest.raises(ConfigError, match="hmics"):
        load_config(path)
