"""Dated reference data: limits and outcome types by date, the catalogue's optional columns, and
what is refused when a file says something impossible."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.refdata import LimitPeriod, load_reference, read_catalogue
from tests.conftest import TEST_REFERENCE


def _reference_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "reference"
    shutil.copytree(TEST_REFERENCE, folder)
    return folder


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer contains {old!r}: update the test"
    path.write_text(text.replace(old, new))


def test_recording_hours_are_72_before_april_2015_and_24_from_then():
    reference = load_reference(TEST_REFERENCE)
    periods = [p for p in reference.limit_periods if p.name == "recording_hours"]
    assert periods == [
        LimitPeriod("recording_hours", 72.0, None, date(2015, 4, 1)),
        LimitPeriod("recording_hours", 24.0, date(2015, 4, 1), None),
    ]
    assert reference.limits["recording_hours"] == 24.0


def test_a_force_override_sets_the_value_in_force_now_and_keeps_the_history():
    reference = load_reference(TEST_REFERENCE, overrides={"limits": {"recording_hours": 48, "victim_update_days": 30}})
    recording = [(p.value, p.valid_from, p.valid_to) for p in reference.limit_periods if p.name == "recording_hours"]
    assert recording == [(72.0, None, date(2015, 4, 1)), (48.0, date(2015, 4, 1), None)]
    assert reference.limits == {**load_reference(TEST_REFERENCE).limits, "recording_hours": 48.0, "victim_update_days": 30.0}
    with pytest.raises(ConfigError, match=r"reference\.limits\.pending_hours must be a finite number above zero"):
        load_reference(TEST_REFERENCE, overrides={"limits": {"pending_hours": 0}})


@pytest.mark.parametrize(
    "periods, message",
    [
        ("[{value: 72, valid_to: 2015-04-01}, {value: 24, valid_from: 2015-03-01}]", "date order and must not overlap"),
        (
            "[{value: 72, valid_to: 2015-04-01}, {value: 24, valid_from: 2015-04-01, valid_to: 2020-01-01}]",
            "last period must be open",
        ),
        (
            "[{value: 72, valid_to: 1 April}, {value: 24, valid_from: 2015-04-01}]",
            r"period 1 valid_to is not a YYYY-MM-DD date",
        ),
        ("[{value: -1, valid_to: 2015-04-01}, {value: 24, valid_from: 2015-04-01}]", r"period 1 value must be a finite"),
        ("[{hours: 24}]", "each period needs value"),
    ],
)
def test_impossible_limit_periods_are_refused(tmp_path, periods, message):
    folder = _reference_copy(tmp_path)
    limits = folder / "limits.yaml"
    text = limits.read_text()
    start = text.index("\nrecording_hours:\n") + 1
    end = text.index("\npending_hours:") + 1
    limits.write_text(text[:start] + f"recording_hours: {periods}\n" + text[end:])
    with pytest.raises(ConfigError, match=message):
        load_reference(folder)


def test_outcome_types_carry_the_dates_they_came_in():
    periods = load_reference(TEST_REFERENCE).outcome_periods
    assert periods[1] == periods[20] == (date(2013, 4, 1), None)
    assert periods[21] == (date(2016, 1, 1), None)
    assert periods[22] == (date(2019, 4, 1), None)
    assert 23 not in periods


def test_an_outcome_range_must_be_codes(tmp_path):
    folder = _reference_copy(tmp_path)
    _replace(folder / "outcome_types.yaml", "  21: {valid_from: 2016-01-01}", "  21-x: {valid_from: 2016-01-01}")
    with pytest.raises(ConfigError, match=r"valid\.21-x: expected a code or a range of codes"):
        load_reference(folder)


def test_a_force_catalogue_without_the_newer_columns_reads_with_their_defaults(tmp_path):
    extra = tmp_path / "extra.csv"
    extra.write_text(
        "code,title,category,offence_group,notifiable,sexual_offence,rape,victim_sex,min_age,max_age,max_sentence_years\n"
        "99X,Local code,Miscellaneous crimes against society,Miscellaneous,true,false,false,,,,2\n"
    )
    row = read_catalogue(extra).row(0, named=True)
    assert (row["counting_unit"], row["valid_from"], row["valid_to"]) == ("victim", None, None)


@pytest.mark.parametrize(
    "edit, message",
    [
        ((",victim,2015-12-29,\n", ",victim,29/12/2015,\n"), r"valid_from of code\(s\) 8U is not a YYYY-MM-DD date"),
        ((",victim,2015-12-29,\n", ",household,2015-12-29,\n"), r"counting_unit of code\(s\) 8U is not one of"),
        ((",victim,2015-12-29,\n", ",victim,2015-12-29,2015-12-29\n"), r"code\(s\) 8U end on or before they start"),
    ],
)
def test_impossible_catalogue_dates_and_units_are_refused(tmp_path, edit, message):
    folder = _reference_copy(tmp_path)
    _replace(folder / "offence_catalogue.csv", *edit)
    with pytest.raises(ConfigError, match=message):
        load_reference(folder)


def test_a_key_of_another_pack_version_is_kept_only_when_asked(tmp_path):
    """`rules diff --base` runs an older pack whose files use names this version does not know."""
    folder = _reference_copy(tmp_path)
    _replace(folder / "cancellation_authority.yaml", "registrar_roles:", "sexual_offence_roles:")
    with pytest.raises(ConfigError, match="unknown key 'sexual_offence_roles' in cancellation_authority"):
        load_reference(folder)
    older = load_reference(folder, other_version=True)
    assert older.cancellation_authority["sexual_offence_roles"] == ["fcr", "ddm"]


def test_a_no_crime_reason_stands_only_inside_its_dates(pack):
    """A force that withdrew "victim not traced" from 1 January 2026: a public report about an
    adult closed for that reason in December 2025 stands; the same closure in January does not.
    Reasons with no dates (the bundled default) stand at any time."""
    from recordcheck.checks.engine.engine import run_pack
    from recordcheck.checks.engine.rules import RuleCase
    from recordcheck.checks.rulechange.ruletest import case_tables
    from tests.conftest import AS_OF

    assert load_reference(TEST_REFERENCE).reason_periods == {}
    reference = load_reference(
        TEST_REFERENCE, overrides={"no_crime_reasons": {"valid": {"victim_not_traced": {"valid_to": "2026-01-01"}}}}
    )
    assert reference.reason_periods == {"victim_not_traced": (None, date(2026, 1, 1))}
    closed = {
        "referrer_type": "member_of_public",
        "disclosed_offence_code": "8L",
        "decision": "crime_related_incident",
        "no_crime_reason": "victim_not_traced",
        "subject_dob": "1980-01-01",
        "decision_rationale": "not traced",
    }
    given = {
        "referrals": [
            {"referral_id": "R1", "received_at": "2025-12-31T23:30:00Z", **closed},  # 31 December in London
            {"referral_id": "R2", "received_at": "2026-01-01T00:30:00Z", **closed},
        ]
    }
    tables = case_tables(RuleCase("dated", given, (), ()), pack.case_defaults)
    flagged = run_pack(pack, reference, AS_OF, tables, "t", only=["REC001"]).register["record_id"].to_list()
    assert flagged == ["R2"]
    assert run_pack(pack, load_reference(TEST_REFERENCE), AS_OF, tables, "t", only=["REC001"]).register.height == 0
    with pytest.raises(ConfigError, match="valid_to must come after valid_from"):
        load_reference(
            overrides={"no_crime_reasons": {"valid": {"duplicate": {"valid_from": "2020-01-01", "valid_to": "2019-01-01"}}}}
        )


@pytest.mark.slow
def test_a_limit_override_changes_what_the_rules_find(pack):
    """The rules read their limits from the reference data, so a force's override changes the findings."""
    from recordcheck.checks.engine.engine import run_pack
    from recordcheck.checks.extract.profile import load_profile
    from recordcheck.checks.validation.pipeline import load_extract
    from tests.conftest import AS_OF, ROOT, TEST_REFERENCE

    default = load_reference(TEST_REFERENCE)
    longer = load_reference(TEST_REFERENCE, overrides={"limits": {"victim_update_days": 3650, "recording_hours": 24 * 365}})
    assert (default.limits["victim_update_days"], longer.limits["victim_update_days"]) == (28, 3650)
    loaded = load_extract(ROOT / "sample_data" / "extract", load_profile(), default, AS_OF)
    try:
        before = {r.rule.id: r.breaches for r in run_pack(pack, default, AS_OF, loaded.validation.accepted, "a").results}
        after = {r.rule.id: r.breaches for r in run_pack(pack, longer, AS_OF, loaded.validation.accepted, "b").results}
    finally:
        loaded.close()
    assert before["VIC001"] > 0 and after["VIC001"] == 0
    assert before["TIM001"] > 0 and after["TIM001"] == 0
    assert after["REC001"] <= before["REC001"], "a longer pending limit never finds more"
