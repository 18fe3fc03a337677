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


def test_a_link_column_is_one_whose_filled_cells_mostly_name_crimes_of_the_export():
    """The edges of the unmapped-link-column test: half the sampled cells naming a crime is a link
    column, one fewer is not; fewer than MIN_CELLS filled cells say nothing; separators and other
    text around an id do not hide it; an empty cell is not filled."""
    import duckdb
    import polars as pl

    from recordcheck.checks.extract.link_columns import MIN_CELLS, sample_tokens, unlinked_columns
    from recordcheck.checks.extract.reader import RawTable

    con = duckdb.connect()
    con.execute("CREATE TABLE crimes AS SELECT 'CR' || lpad(i::VARCHAR, 5, '0') AS crime_id FROM range(100) t(i)")
    cells = 2 * MIN_CELLS

    def column(hits: int, filled: int = cells) -> list[str | None]:
        named = [f"see CR{i:05d}; CR99999" for i in range(hits)]
        return named + ["PRV/123"] * (filled - hits) + [None, "  "]

    frame = pl.DataFrame(
        {
            "half": column(MIN_CELLS),
            "under_half": column(MIN_CELLS - 1),
            "too_few": column(MIN_CELLS - 1, MIN_CELLS - 1) + [None] * (cells - MIN_CELLS + 1),
        }
    )
    sample = sample_tokens(RawTable("referrals", None, frame), ["half", "under_half", "too_few"])
    found = unlinked_columns(con, "referrals", sample, "crimes")
    assert [(c.column, c.cells, c.matched) for c in found] == [("half", cells, MIN_CELLS)]
    assert "'half' names a crime of this export in 20 of 40 filled rows sampled (50%)" in found[0].reason
    assert unlinked_columns(con, "referrals", sample, None) == []
