"""Source profile errors name the file, line and key, and list the known keys."""

from __future__ import annotations

import pytest

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.extract.profile import load_profile


def test_default_profile_loads():
    assert load_profile().name == "canonical"


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            "profile: 1\nname: x\ncolums: {}\n",
            r"p\.yaml line 3: unknown key 'colums' in the profile; known keys: profile, name",
        ),
        (
            "profile: 1\nname: x\ntables:\n  referals: {}\n",
            r"line 4: unknown table 'referals'.*known tables: referrals",
        ),
        (
            "profile: 1\nname: x\ntables:\n  referrals:\n    columns: {referal_id: RefNo}\n",
            r"line 5: .*unknown canonical column 'referal_id'",
        ),
        ("profile: 1\nname: x\nencoding: latin1\n", r"line 3: encoding: Input should be 'utf-8' or 'cp1252'"),
        ("profile: 1\nname: x\ndayfirst: perhaps\n", r"line 3: dayfirst: Input should be a valid boolean"),
        (
            "profile: 1\nname: x\ntables:\n  crime_links:\n    build_from: [{table: crimes, column: c, source_type: referral}]\n",
            r"line 5: tables\.crime_links\.build_from\.0\.table: Input should be 'referrals' or 'incidents'",
        ),
        (
            "profile: 1\nname: x\nbooleans: {true_values: Y}\n",
            r"line 3: booleans\.true_values: Input should be a valid list",
        ),
        (
            "profile: 1\nname: x\ntables:\n  incidents:\n    derive:\n      closure_class: {map: {A: crime}}\n",
            r"line 6: tables\.incidents\.derive\.closure_class\.from: missing required key",
        ),
        ("profile: 2\nname: x\n", r"profile format 2 is not supported"),
        ("profile: 1\nname: [x\n", r"p\.yaml line"),
    ],
)
def test_profile_errors(tmp_path, text, pattern):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_profile(path)


def test_profile_file_must_stay_inside_the_extract_folder(small_extract, tmp_path, reference):
    """Hardening defect 13: a profile's `file:` could be absolute, go up with ../ or follow a link out."""
    import shutil

    from recordcheck.checks.base.errors import InputRejected
    from recordcheck.checks.validation.pipeline import load_extract
    from tests.conftest import AS_OF

    folder = tmp_path / "extract"
    shutil.copytree(small_extract, folder)
    outside = tmp_path / "elsewhere.csv"
    shutil.move(folder / "crimes.csv", outside)
    (folder / "crimes.csv").symlink_to(outside)
    for spec in ("file: ../elsewhere.csv", f"file: {outside}", None):
        profile = tmp_path / "p.yaml"
        tables = f"tables:\n  crimes: {{{spec}}}\n" if spec else ""
        profile.write_text("profile: 1\nname: t\n" + tables)
        with pytest.raises(InputRejected, match="resolves outside the extract folder"):
            load_extract(folder, load_profile(profile), reference, AS_OF)
    profile.write_text("profile: 1\nname: t\nallow_files_outside_extract: true\n")
    loaded = load_extract(folder, load_profile(profile), reference, AS_OF)
    assert loaded.validation.counts["crimes"].read > 0
    loaded.close()
