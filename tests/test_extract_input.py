"""Reading and validating extracts: bad input is quarantined with a reason or rejected by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

from recordcheck.checks.base.errors import InputRejected
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.validation.pipeline import load_extract
from tests.conftest import AS_OF, ROOT
from tests.corruption import corrupt_extract


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _load(folder: Path, reference, profile_path: Path | None = None):
    return load_extract(folder, load_profile(profile_path), reference, AS_OF)


def test_generated_extract_quarantines_nothing(small_extract, reference):
    loaded = _load(small_extract, reference)
    assert loaded.validation.quarantine.height == 0
    for counts in loaded.validation.counts.values():
        assert counts.read == counts.accepted and counts.quarantined == 0


def _rewrite(path: Path, edit) -> None:
    frame = pl.read_csv(path, infer_schema=False)
    edit_frame = edit(frame)
    edit_frame.write_csv(path)


def test_twenty_corrupted_rows_are_exactly_the_twenty_quarantined(small_extract, tmp_path, reference):
    folder = tmp_path / "x"
    corrupt = corrupt_extract(small_extract, folder)
    crimes = pl.read_csv(small_extract / "crimes.csv", infer_schema=False)
    dup_row = max(corrupt["crimes"] - set(range(3, 11)))
    assert len(corrupt["crimes"]) == 9
    assert sum(len(v) for v in corrupt.values()) == 20

    loaded = _load(folder, reference)
    quarantine = loaded.validation.quarantine
    got = {(t, r) for t, r in quarantine.select("table", "row_number").unique().iter_rows()}
    want = {(t, r) for t, rows in corrupt.items() for r in rows}
    assert got == want
    assert quarantine["reason"].null_count() == 0
    duplicate = quarantine.filter((pl.col("table") == "crimes") & (pl.col("row_number") == dup_row))
    assert duplicate["check"].to_list() == ["duplicate_id"]
    for name, c in loaded.validation.counts.items():
        assert c.read == c.accepted + c.quarantined, name
    # a quarantined row is out of the rule inputs
    assert loaded.validation.accepted["crimes"].height == crimes.height - 9


def test_missing_required_column_names_file_and_column(small_extract, tmp_path, reference):
    folder = _copy(small_extract, tmp_path / "x")
    _rewrite(folder / "crimes.csv", lambda f: f.drop("recorded_at"))
    with pytest.raises(InputRejected, match=r"crimes\.csv: required column 'recorded_at' missing"):
        _load(folder, reference)


def test_missing_required_table(small_extract, tmp_path, reference):
    folder = _copy(small_extract, tmp_path / "x")
    (folder / "crime_links.csv").unlink()
    with pytest.raises(InputRejected, match="required table crime_links is missing"):
        _load(folder, reference)


def test_optional_table_absent_is_fine(small_extract, tmp_path, reference):
    folder = _copy(small_extract, tmp_path / "x")
    (folder / "victim_contacts.csv").unlink()
    loaded = _load(folder, reference)
    assert "victim_contacts" not in loaded.validation.accepted


def test_zero_byte_file_and_header_only_table(small_extract, tmp_path, reference):
    folder = _copy(small_extract, tmp_path / "x")
    (folder / "incidents.csv").write_bytes(b"")
    with pytest.raises(InputRejected, match=r"incidents\.csv: the file is empty \(0 bytes\)"):
        _load(folder, reference)
    header = pl.read_csv(small_extract / "incidents.csv", infer_schema=False, n_rows=0)
    header.write_csv(folder / "incidents.csv")
    loaded = _load(folder, reference)
    assert loaded.validation.counts["incidents"].read == 0


def test_bom_cp1252_and_free_text_round_trip(tmp_path, reference):
    folder = tmp_path / "x"
    folder.mkdir()
    text = 'Said "stop", then left\n<script>alert(1)</script>, café £5'
    referrals = pl.DataFrame(
        {
            "referral_id": ["R1"],
            "received_at": ["2026-03-01T10:00:00"],
            "district": ["Sheffield"],
            "referrer_type": ["professional_third_party"],
            "decision": ["no_offence_disclosed"],
            "summary": [text],
        }
    )
    crimes = pl.DataFrame(
        {
            "crime_id": [],
            "reported_at": [],
            "recorded_at": [],
            "offence_code": [],
            "district": [],
            "status": [],
        },
        schema={c: pl.String for c in ("crime_id", "reported_at", "recorded_at", "offence_code", "district", "status")},
    )
    links = pl.DataFrame(schema={"crime_id": pl.String, "source_type": pl.String, "source_id": pl.String})
    crimes.write_csv(folder / "crimes.csv")
    links.write_csv(folder / "crime_links.csv")
    # UTF-8 with a BOM
    (folder / "referrals.csv").write_bytes(b"\xef\xbb\xbf" + referrals.write_csv().encode("utf-8"))
    loaded = _load(folder, reference)
    assert loaded.validation.accepted["referrals"]["summary"][0] == text
    # cp1252, declared in a profile
    (folder / "referrals.csv").write_bytes(referrals.write_csv().encode("cp1252"))
    with pytest.raises(InputRejected, match="not valid UTF-8"):
        _load(folder, reference)
    profile = tmp_path / "p.yaml"
    profile.write_text("profile: 1\nname: t\nencoding: cp1252\n")
    loaded = _load(folder, reference, profile)
    assert loaded.validation.accepted["referrals"]["summary"][0] == text


@pytest.mark.slow
def test_parquet_and_jsonl_read_the_same(small_extract, tmp_path, reference):
    from recordcheck.checks.generate import generate, write_extract

    extract = generate(seed=11, scale=0.02, as_of=AS_OF)
    write_extract(extract, tmp_path / "pq", "parquet")
    loaded = _load(tmp_path / "pq", reference)
    assert loaded.validation.quarantine.height == 0
    csv_loaded = _load(small_extract, reference)
    assert (
        loaded.validation.accepted["crimes"]["recorded_at"].sort().to_list()
        == csv_loaded.validation.accepted["crimes"]["recorded_at"].sort().to_list()
    )
    jl = tmp_path / "jl"
    shutil.copytree(small_extract, jl)
    (jl / "referrals.csv").unlink()
    pl.read_csv(small_extract / "referrals.csv", infer_schema=False).write_ndjson(jl / "referrals.jsonl")
    assert _load(jl, reference).validation.counts["referrals"].quarantined == 0


def test_example_force_profile(reference):
    folder = ROOT / "sample_data" / "example_force"
    loaded = _load(folder / "extract", reference, folder / "profile.yaml")
    assert loaded.validation.quarantine.height == 0
    links = loaded.validation.accepted["crime_links"].sort("crime_id")
    assert links.height == 5 and set(links["source_type"]) == {"referral", "incident"}
    referrals = loaded.validation.accepted["referrals"]
    assert set(referrals["decision"]) == {"crime_recorded", "crime_related_incident", "no_offence_disclosed"}
    assert referrals.filter(pl.col("referral_id") == "NS-R1")["subject_dob"][0].isoformat() == "2016-05-14"


def _add_column(path: Path, header_name: str) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + "," + header_name] + [line + "," for line in lines[1:]]) + "\n")


@pytest.mark.parametrize(
    ("added", "message"),
    [
        # defect 1: `Force "notes` in crimes.csv's header made the reader return 0 rows, silently
        ('Force "notes', r"crimes\.csv: a quote is opened and never closed"),
        # defect 9: a second `district` was renamed district_duplicated_0 and a column was lost
        ("district", r"crimes\.csv: the header names 'district' more than once"),
        ("", r"crimes\.csv: the header has no name for column"),
    ],
)
def test_broken_header_is_refused_not_misread(small_extract, tmp_path, reference, added, message):
    folder = _copy(small_extract, tmp_path / "x")
    _add_column(folder / "crimes.csv", added)
    with pytest.raises(InputRejected, match=message):
        _load(folder, reference)


def test_short_and_long_rows_are_quarantined_with_their_row_numbers(small_extract, tmp_path, reference):
    """Defect 10: short rows were padded with nulls and accepted."""
    folder = _copy(small_extract, tmp_path / "x")
    path = folder / "victim_contacts.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0]  # data row 2 loses its last field
    lines[5] = lines[5] + ",extra"  # data row 5 has one too many
    path.write_text("\n".join(lines) + "\n")
    loaded = _load(folder, reference)
    ragged = loaded.validation.quarantine.filter(pl.col("check") == "field_count")
    assert sorted(ragged["row_number"]) == [2, 5]
    assert set(ragged["reason"]) == {"the row has 3 fields; the header has 4", "the row has 5 fields; the header has 4"}
    counts = loaded.validation.counts["victim_contacts"]
    assert counts.read == len(lines) - 1 and counts.read == counts.accepted + counts.quarantined


def test_minimum_only_bound_reason_and_plausibility_bounds(small_extract, tmp_path, reference):
    """Small defects: `victim_count is outside 1`; 9,223,372,036,854,775,807 victims; year 0001."""
    folder = _copy(small_extract, tmp_path / "x")
    frame = pl.read_csv(folder / "incidents.csv", infer_schema=False)
    idx = pl.Series(range(frame.height))
    frame = frame.with_columns(
        pl.when(idx == 0)
        .then(pl.lit("0"))
        .when(idx == 1)
        .then(pl.lit("9223372036854775807"))
        .otherwise(pl.col("victim_count"))
        .alias("victim_count"),
        pl.when(idx == 2).then(pl.lit("0001-01-01T10:00:00")).otherwise(pl.col("reported_at")).alias("reported_at"),
    )
    frame.write_csv(folder / "incidents.csv")
    quarantine = _load(folder, reference).validation.quarantine.filter(pl.col("table") == "incidents")
    reasons = dict(zip(quarantine["row_number"], quarantine["reason"], strict=True))
    assert reasons[1] == "victim_count is outside 1..1000"
    assert reasons[2] == "victim_count is outside 1..1000"
    assert reasons[3] == "reported_at is before 1900"


@pytest.mark.parametrize(
    ("edit", "quarantined"),
    [
        # registrar defect 1: one unknown id in a multi-link cell crashed validate and run
        (
            lambda data, profile: (data.replace(b"NS-C2;NS-C3", b"NS-C2;NS-C999"), profile),
            {"MASH_Referrals.csv:Linked Crimes row 2 item 2"},
        ),
        # a wrong separator: the whole cell is one unknown id, quarantined, never a crash
        (
            lambda data, profile: (
                data,
                profile.replace(
                    'column: Linked Crimes, separator: ";", source_type: referral',
                    'column: Linked Crimes, separator: "|", source_type: referral',
                ),
            ),
            {"MASH_Referrals.csv:Linked Crimes row 2 item 1"},
        ),
    ],
)
def test_links_from_a_delimited_column_each_have_their_own_identity(tmp_path, reference, edit, quarantined):
    folder = tmp_path / "force"
    shutil.copytree(ROOT / "sample_data" / "example_force", folder)
    referrals = folder / "extract" / "MASH_Referrals.csv"
    data, profile = edit(referrals.read_bytes(), (folder / "profile.yaml").read_text())
    referrals.write_bytes(data)
    (folder / "profile.yaml").write_text(profile)
    loaded = _load(folder / "extract", reference, folder / "profile.yaml")
    links = loaded.validation.quarantine.filter(pl.col("table") == "crime_links")
    assert set(links["origin"]) == quarantined and links["check"].to_list() == ["unresolved_crime"]
    counts = loaded.validation.counts["crime_links"]
    assert counts.read == counts.accepted + counts.quarantined and counts.quarantined == 1
    assert loaded.validation.accepted["crime_links"]["__row"].is_unique().all()


def test_lone_carriage_returns_refuse_the_file_by_name_and_count(tmp_path):
    """Old Mac line endings hid 185 of 556 crime rows, neither read nor quarantined. A return
    alone outside quotes now refuses the file, named, with the count; CRLF, and a return inside
    a quoted field, are read as before, wherever a chunk boundary falls."""
    from click.testing import CliRunner

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.checks.extract.csvscan import CsvCounter
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT

    def lone(*chunks: bytes) -> int:
        counter = CsvCounter()
        for chunk in chunks:
            counter.feed(chunk)
        return counter.shape().lone_returns

    assert lone(b"a,b\r\n1,2\r\n") == 0
    assert lone(b'a,b\n1,"x\ry"\n') == 0, "inside quotes: the field's own text"
    assert lone(b"a,b\r", b"\n1,2\r\n") == 0, "CRLF split across chunks"
    assert lone(b"a,b\r", b"1,2\r3,4\r") == 3
    assert lone(b"a,b\n1,2\r3,4\n") == 1
    extract = tmp_path / "extract"
    shutil.copytree(ROOT / "sample_data" / "extract", extract)
    text = (extract / "crimes.csv").read_text(encoding="utf-8")
    lines = text.split("\n")
    (extract / "crimes.csv").write_bytes(("\n".join(lines[:300]) + "\n" + "\r".join(lines[300:])).encode())
    result = CliRunner().invoke(
        cli, ["validate", str(extract), "--as-of", AS_OF_TEXT, "--quarantine", str(tmp_path / "q.csv")]
    )
    assert result.exit_code == ExitCode.INPUT_REJECTED
    assert "crimes.csv: 3,241 line(s) end with a carriage return alone" in result.output


def test_an_unreadable_input_exits_3_not_7(tmp_path, monkeypatch):
    """An export file that cannot be read is the input's fault (exit 3, INPUT_REJECTED), never
    'cannot write' (7). As root, permissions do not stop a read, so the open is made to fail."""
    from click.testing import CliRunner

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT

    extract = tmp_path / "extract"
    shutil.copytree(ROOT / "sample_data" / "extract", extract)
    from tests.conftest import make_unreadable

    make_unreadable(monkeypatch, extract / "crimes.csv")
    result = CliRunner().invoke(cli, ["run", str(extract), "--out", str(tmp_path / "out"), "--as-of", AS_OF_TEXT])
    assert result.exit_code == ExitCode.INPUT_REJECTED, result.output
    assert "crimes.csv: cannot be read (Permission denied)" in result.output
