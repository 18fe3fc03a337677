"""The disclosure-safe outputs attacked as a motivated outsider would (issue 24): the regression
gate for every change to what the redacted report shows. Part: the pseudonym key."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math
import re
import string

import pytest
from click.testing import CliRunner

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.cli import cli
from recordcheck.reports.disclosure import Pseudonymiser
from recordcheck.reports.keys import REDACTION_KEY_ENV, key_id, parse_key

SEQUENTIAL_IDS = [f"REF{n:07d}" for n in range(1, 501)]
"""What an attacker guesses ids to be: a force's own sequence."""


def brute_force(pseudonyms: set[str], candidate_keys: list[bytes]) -> dict[str, str]:
    """Pseudonym -> id for every pseudonym some candidate key explains, trying every sequential id."""
    recovered: dict[str, str] = {}
    for key in candidate_keys:
        for record_id in SEQUENTIAL_IDS:
            token = "ID-" + hmac.new(key, f"ID|{record_id}".encode(), hashlib.sha256).hexdigest()[:12].upper()
            if token in pseudonyms:
                recovered[token] = record_id
        if recovered:
            return recovered
    return recovered


SHORT_KEYS = [
    "".join(chars).encode()
    for length in (1, 2)
    for chars in itertools.product(string.ascii_lowercase + string.digits, repeat=length)
] + [b"secret", b"password", b"key", b"test-key", b"recordcheck"]
"""Keys a person types: every one or two characters, and the usual words."""


def test_a_weak_key_falls_to_brute_force_and_is_refused():
    """The attack works (so the gate means something): pseudonyms under the key 'x' give up their
    ids at once. Such a key is now refused, naming how to make a proper one and never echoing it."""
    published = {Pseudonymiser(b"x")(record_id) for record_id in SEQUENTIAL_IDS[100:120]}
    recovered = brute_force(published, SHORT_KEYS)
    assert len(recovered) == 20 and recovered[Pseudonymiser(b"x")("REF0000101")] == "REF0000101"
    for weak in ("x", "test-key", "0f" * 15, "c2hvcnQ="):  # 120 bits of hex, 5 bytes of base64
        with pytest.raises(ConfigError, match="at least 128 bits.*recordcheck keygen") as err:
            parse_key(weak)
        assert len(weak) < 3 or weak not in str(err.value)


@pytest.mark.slow
def test_a_proper_key_gives_nothing_up():
    key = parse_key("5e" * 32)
    published = {Pseudonymiser(key)(record_id) for record_id in SEQUENTIAL_IDS[100:120]}
    assert brute_force(published, SHORT_KEYS) == {}
    assert len(parse_key("a" * 32)) == 16 and len(parse_key("c2VjcmV0IG9mIHRoZSBmb3JjZSwgMTYrIGJ5dGVz")) >= 16


def test_a_weak_key_stops_the_run_before_anything_is_published(tmp_path, monkeypatch):
    from tests.conftest import AS_OF_TEXT, ROOT

    monkeypatch.setenv(REDACTION_KEY_ENV, "hunter2")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", AS_OF_TEXT, "--redact"]
    )
    assert result.exit_code == ExitCode.USAGE_ERROR and "recordcheck keygen" in result.output
    assert "hunter2" not in result.output
    assert not (out / "latest").exists(), "nothing published"


def test_keygen_makes_a_key_the_reports_name_by_its_id(tmp_path):
    made = CliRunner().invoke(cli, ["keygen"])
    key = made.output.splitlines()[0]
    assert made.exit_code == 0 and re.fullmatch(r"[0-9a-f]{64}", key)
    assert f"key id {key_id(bytes.fromhex(key))}" in made.output
    assert key_id(parse_key(key)) != key_id(parse_key("5e" * 32)), "a rotated key has a new id"


# ---------------------------------------------------------------- rates inverted to counts

Z = 1.959963984540054
CELL = re.compile(r"(?<![\d,.])(\d{1,3})%\s*\((\d{1,3})%\s*[–-]\s*(\d{1,3})%\)")


def feasible_failures(rate: int, low: int, high: int, most: int = 4000) -> tuple[set[int], int]:
    """Every failure count n - x of a pair (x, n), n up to `most`, that prints as 'rate% (low%-high%)'
    (whole percent, never 100% below 100%; the Wilson interval outward to whole percents), and the
    smallest n among them: what an attacker learns from one printed rate."""
    import numpy as np

    failures: set[int] = set()
    smallest = 0
    for n in range(1, most + 1):
        x = np.arange(
            max(0, math.ceil((rate - 0.5) / 100 * n - 1e-9)), min(n, math.floor((rate + 0.5) / 100 * n + 1e-9)) + 1
        )
        if x.size == 0:
            continue
        p = x / n
        centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
        half = Z * np.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
        shown = np.where((p < 1) & (np.round(p * 100) >= 100), 99, np.round(p * 100))
        ok = (
            (shown == rate)
            & (np.floor(np.maximum(0, centre - half) * 100 + 1e-9) == low)
            & (np.minimum(100, np.ceil(np.minimum(1, centre + half) * 100 - 1e-9)) == high)
        )
        for value in x[ok]:
            failures.add(n - int(value))
            smallest = smallest or n
    return failures, smallest


@pytest.fixture(scope="module")
def small_cells_run(tmp_path_factory, pack, reference):
    """A generated extract (seed 77, scale 0.01) small enough that every family of figures the
    redacted report shows has cells under k: the attacks below have something to find."""
    from recordcheck.checks.generate import generate, write_extract
    from tests.conftest import AS_OF, run_with_report

    extract = tmp_path_factory.mktemp("small-cells")
    write_extract(generate(seed=77, scale=0.01, as_of=AS_OF), extract)
    return run_with_report(extract, tmp_path_factory.mktemp("small-cells-run"), pack, reference)


@pytest.fixture(params=["sample", "small cells"])
def attacked_run(request):
    """Each attack runs on the bundled sample and on the generated extract with small cells."""
    return request.getfixturevalue("sample_run" if request.param == "sample" else "small_cells_run")


@pytest.mark.slow
def test_the_generated_extract_has_small_cells_in_every_family(small_cells_run):
    """The gate means something: every family of figures (each table, the victim groups, the
    offence groups, the CSE conversion, the rules and their districts and victims) has a cell
    resting on fewer than k records before disclosure control."""
    from recordcheck.reports.build import build_context
    from recordcheck.reports.disclosure import cells_of, small

    ctx = build_context(small_cells_run, {"redact_below": 5}, b"\x5e" * 32, "test")
    families: dict[str, list[bool]] = {}
    for key, rate in cells_of(ctx).items():
        parts = key.split(".")
        family = (
            f"rule.{parts[2]}"
            if parts[0] == "rule" and len(parts) > 2
            else ".".join(parts[:2])
            if parts[0] == "pvp"
            else parts[0]
        )
        families.setdefault(family, []).append(small(rate, 5))
    families_expected = {"victims", "group", "pvp.agency", "pvp.district", "pvp.victim", "cse", "rule"}
    families_expected |= {"rule.district", "rule.victim"}
    for family in sorted(families_expected):
        assert any(families[family]), f"no small cell in {family}"
    # one-cell figures (a total, the headline rates) aside, those are all the families there are
    assert set(families) - {"pvp.total", "headline"} == families_expected


def _redacted(run_dir, tmp_path, monkeypatch) -> str:
    from recordcheck.reports.render import render_run

    monkeypatch.setenv(REDACTION_KEY_ENV, "5e" * 32)
    return render_run(run_dir, {"redact_below": 5}, redact=True, output=tmp_path / "r.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_no_printed_rate_inverts_to_a_small_count(attacked_run, tmp_path, monkeypatch):
    """Every rate the redacted report prints, inverted with its interval: no rate leaves only failure
    counts of 1 to k-1, and none rests on fewer than 30 records. (To 0.1%, 89.5% (84.3-93.1) was
    exactly 20 of 190.)"""
    from bs4 import BeautifulSoup

    text = " ".join(BeautifulSoup(_redacted(attacked_run, tmp_path, monkeypatch), "html.parser").get_text().split())
    cells = {tuple(int(v) for v in m) for m in CELL.findall(text)}
    cells |= {tuple(int(v) for v in m) for m in re.findall(r"(?<![\d,.])(\d{1,3})% 95% CI (\d{1,3})%[–-](\d{1,3})%", text)}
    assert len(cells) >= 10 and not re.search(r"\d+\.\d%", text), "whole percents only"
    for cell in sorted(cells):
        failures, smallest = feasible_failures(*cell)
        assert failures, cell
        assert not failures <= set(range(1, 5)), f"{cell} pins a failure count under 5: {sorted(failures)}"
        assert smallest >= 25, f"{cell} is consistent with only {smallest} records"


def test_a_suppressed_district_cannot_be_worked_out_from_its_rule_and_the_other_districts(
    attacked_run, tmp_path, monkeypatch
):
    """The subtraction attack on each rule's district table: the rule's failures less the other
    districts' give the suppressed district's, if each is pinned closely enough. Interval arithmetic
    over every count consistent with the printed rates must leave more than the values 1 to k-1."""
    from bs4 import BeautifulSoup

    page = BeautifulSoup(_redacted(attacked_run, tmp_path, monkeypatch), "html.parser")
    with_hidden = 0
    for block in page.select("#rules .rule"):
        overall = CELL.search(" ".join(block.find("p").get_text().split()))
        table = block.find("table")
        if overall is None or table is None:
            continue
        rows = [" ".join(td.get_text().split()) for td in table.select("tbody tr td:nth-of-type(2)")]
        hidden = [r for r in rows if r == "suppressed"]
        with_hidden += bool(hidden)
        if len(hidden) != 1:
            continue  # none hidden, or two or more (complementary suppression): the sum leaves them mixed
        total, _ = feasible_failures(*(int(v) for v in overall.groups()))
        others = [feasible_failures(*(int(v) for v in CELL.search(r).groups()))[0] for r in rows if r != "suppressed"]
        low = min(total) - sum(max(o) for o in others)
        high = max(total) - sum(min(o) for o in others)
        assert not (low >= 1 and high <= 4), f"{block['data-rule']}: the suppressed district holds {low} to {high}"
    assert with_hidden >= 1, "the sample has suppressed districts to attack"


# ---------------------------------------------------------------- every artefact marked


@pytest.mark.slow
def test_every_artefact_carries_the_marking_set_in_the_config(tmp_path):
    """The run folder's README names every file under the config's marking; the worklist and the
    audit sample carry it in each XLSX sheet's header and footer and the document's properties; a
    CSV worklist or sample gets a companion note."""
    from openpyxl import load_workbook

    from tests.conftest import AS_OF_TEXT, ROOT

    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nreport: {marking: OFFICIAL-SENSITIVE PERSONAL}\n", encoding="utf-8")
    out = tmp_path / "out"
    ran = CliRunner().invoke(
        cli,
        ["run", str(ROOT / "sample_data" / "extract"), "--out", str(out), "--as-of", AS_OF_TEXT, "--config", str(config)],
    )
    assert ran.exit_code == 0, ran.output
    readme = (out / "latest" / "README.txt").read_text(encoding="utf-8")
    assert readme.startswith("OFFICIAL-SENSITIVE PERSONAL\n")
    for name in ("exceptions.csv", "quarantine.csv", "resolved.csv", "decisions.csv", "report.html"):
        assert f"  {name}\n" in readme
    for command, file in (
        (["review", "export", str(out), "--file"], tmp_path / "w.xlsx"),
        (["sample", str(out / "latest"), "--size", "250", "--file"], tmp_path / "s.xlsx"),
    ):
        assert CliRunner().invoke(cli, [*command, str(file)]).exit_code == 0
        book = load_workbook(file)
        assert book.properties.subject == "OFFICIAL-SENSITIVE PERSONAL"
        for sheet in book.worksheets:
            assert sheet.oddHeader.center.text == sheet.oddFooter.center.text == "OFFICIAL-SENSITIVE PERSONAL"
    assert CliRunner().invoke(cli, ["review", "export", str(out), "--file", str(tmp_path / "w.csv")]).exit_code == 0
    note = (tmp_path / "w.README.txt").read_text(encoding="utf-8")
    assert note.startswith("OFFICIAL-SENSITIVE PERSONAL") and "  w.csv\n" in note
    assert "  s.xlsx\n" in (tmp_path / "s.README.txt").read_text(encoding="utf-8")


# ---------------------------------------------------------------- the register against the tables


def test_the_redacted_register_lists_only_what_every_table_publishes(attacked_run):
    """Counting the register's rows by rule and district, agency or month gives nothing under k, and
    no row sits in a district the rule's table suppresses or an agency the PVP table suppresses
    (the register once listed 3 youth-justice referrals the agency table hid). With a threshold of
    2, the sample's register lists rows, so the filter is exercised."""
    from recordcheck.reports.build import build_context
    from recordcheck.reports.disclosure import disclosure_safe

    for k in (2, 5):
        ctx = build_context(attacked_run, {"redact_below": k}, b"\x5e" * 32, "test")
        safe = disclosure_safe(ctx)
        assert len(safe.exceptions) < len(ctx.exceptions)
        if k == 2:
            assert safe.exceptions, "the filter lets publishable rows through"
        hidden_districts = {v.id: {r.label for r in v.by_district if r.suppressed} for f in safe.families for v in f.rules}
        hidden_agencies = {r.label for r in safe.pvp_by_agency if r.rate.suppressed}
        counts: dict[tuple[str, str, str], int] = {}
        for row in safe.exceptions:
            assert row.district not in hidden_districts[row.rule_id] and row.agency not in hidden_agencies
            month = re.search(r"\b\d{4}-\d{2}\b", row.detail)
            for cell in (
                (row.rule_id, "d", row.district),
                (row.rule_id, "a", row.agency),
                (row.rule_id, "m", month and month.group(0)),
            ):
                if cell[2]:
                    counts[cell] = counts.get(cell, 0) + 1
        assert all(n >= k for n in counts.values()), {c: n for c, n in counts.items() if n < k}


# ---------------------------------------------------------------- nights in series


@pytest.mark.slow
def test_two_consecutive_releases_give_no_difference_under_k(tmp_path, monkeypatch):
    """Night 2's extract loses one referral's crime link, so one more referral is unrecorded: a
    difference of one in the recording figures. Released night after night, the cells it moves are
    held back (suppressed) on night 2 and carry night 1's counts, so diffing the two releases
    finds no change of 1 to k-1 in any cell; the store keeps both releases."""
    import json
    import shutil

    import polars as pl

    from recordcheck.checks.nightly.store import RunStore
    from tests.conftest import ROOT

    monkeypatch.setenv(REDACTION_KEY_ENV, "5e" * 32)
    extract, out = tmp_path / "extract", tmp_path / "out"
    shutil.copytree(ROOT / "sample_data" / "extract", extract)
    releases, pages = [], []
    for night, as_of in enumerate(("2026-04-01T00:00:00Z", "2026-04-02T00:00:00Z")):
        if night == 1:
            links = pl.read_csv(extract / "crime_links.csv", infer_schema=False)
            first = links.with_row_index().filter(pl.col("source_type") == "referral")["index"][0]
            links.with_row_index().filter(pl.col("index") != first).drop("index").write_csv(extract / "crime_links.csv")
        ran = CliRunner().invoke(cli, ["run", str(extract), "--out", str(out), "--as-of", as_of, "--redact"])
        assert ran.exit_code in (0, 1), ran.output
        releases.append(json.loads((out / "latest" / "redacted-cells.json").read_text()))
        pages.append((out / "latest" / "report-redacted.html").read_text(encoding="utf-8"))
    before, after = releases
    for key in before.keys() & after.keys():
        (met0, all0), (met1, all1) = before[key], after[key]
        moves = (met1 - met0, (all1 - met1) - (all0 - met0), all1 - all0)
        assert all(m == 0 or abs(m) >= 5 for m in moves), (key, before[key], after[key])
    headline_night2 = json.loads((out / "latest" / "summary.json").read_text())["headline"]["recording"]
    assert (
        after["headline.recording"]
        == before["headline.recording"]
        != [
            headline_night2["compliant"],
            headline_night2["total"],
        ]
    ), "the headline moved by one: held at night 1's counts"
    assert "suppressed" in pages[1].split('data-figure="Recording rate"')[1].split("</div>\n  </div>")[0]
    with RunStore(out / "recordcheck.duckdb") as store:
        assert store.con.execute("SELECT count(*) FROM releases").fetchone()[0] == 2


@pytest.mark.slow
def test_report_redact_records_its_release_in_the_store_and_names_its_key(tmp_path, monkeypatch):
    """`report --redact` on a published run measures against the store's last release and records
    its own; the page names the key id it used."""
    import json

    from recordcheck.checks.nightly.store import RunStore
    from tests.conftest import run_sample_cli

    key = "5e" * 32
    monkeypatch.setenv(REDACTION_KEY_ENV, key)
    out = tmp_path / "out"
    assert run_sample_cli(out).exit_code == 0
    for _ in range(2):
        assert CliRunner().invoke(cli, ["report", str(out / "latest"), "--redact"]).exit_code == 0
    with RunStore(out / "recordcheck.duckdb") as store:
        releases = store.con.execute("SELECT run_id, cells FROM releases ORDER BY released_at").fetchall()
    assert len(releases) == 2 and releases[0][0] == releases[1][0] == (out / "latest").resolve().name
    assert json.loads(releases[0][1]) == json.loads(releases[1][1]), "the same run released twice: nothing moved"
    page = (out / "latest" / "report-redacted.html").read_text(encoding="utf-8")
    assert f'data-key-id="{key_id(parse_key(key))}"' in page


# ---------------------------------------------------------------- the national page that leaves policing


@pytest.fixture(scope="module")
def national_pages(tmp_path_factory, pack):
    """A three-force national run (F03 with 3 quarantined rows) with its disclosure-safe page."""
    from recordcheck.checks.national.job import execute_national
    from recordcheck.reports.national import REDACTED_PAGE, render_national
    from tests.conftest import AS_OF
    from tests.national_data import national_extract

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(REDACTION_KEY_ENV, "5e" * 32)
        manifest = national_extract(tmp_path_factory.mktemp("forces"))
        outcome = execute_national(
            manifest, tmp_path_factory.mktemp("national"), AS_OF, pack, render=lambda d: render_national(d, 5)
        )
    return outcome, (outcome.run_dir / REDACTED_PAGE).read_text(encoding="utf-8")


def breach_counts(rate: int, low: int, high: int) -> tuple[set[int], int]:
    """For a printed breach rate: every breach count consistent with it, and the smallest population.
    A breach rate is the complement of a compliance rate, so the compliance cell's failures are the
    breaches (the rounding of a half, which the complement moves, is covered by trying both)."""
    found: set[int] = set()
    smallest = 0
    for cell in ((100 - rate, 100 - high, 100 - low), (100 - rate - 1, 100 - high, 100 - low)):
        failures, least = feasible_failures(*cell)
        found |= failures
        smallest = min(smallest or least, least or smallest)
    return found, smallest


@pytest.mark.slow
def test_the_national_page_that_leaves_policing_gives_no_count_under_k(national_pages):
    """The attacker's methods on national-redacted.html: no count is printed under k (F03's three
    quarantined rows are suppressed), no population or breach count is printed at all, every rate
    and interval inverts to nothing under k, no funnel point rests on a small count, and no id or
    example is on the page."""
    from bs4 import BeautifulSoup

    from tests.national_data import register

    outcome, html = national_pages
    page = BeautifulSoup(html, "html.parser")
    for tag in page(["style", "script"]):
        tag.decompose()
    text = " ".join(page.get_text(" ").split())
    assert "Disclosure-safe" in text and not re.search(r"\d+\.\d%", text.split("Funnel plots")[0])
    f03 = page.find("a", href="#force-F03").find_parent("tr")
    assert [td.get_text() for td in f03.find_all("td")][-1] == "suppressed", "3 quarantined rows: under k"
    for row in page.select("#force-table tbody tr"):
        for cell in row.find_all("td")[-2:]:
            value = cell.get_text().replace(",", "")
            assert value == "suppressed" or int(value) == 0 or int(value) >= 5, value
    assert " of " not in text.split("Forces")[1], "no 'x of n' anywhere"
    cells = {tuple(int(v) for v in m) for m in re.findall(r"(\d{1,3})% (\d{1,3})% to (\d{1,3})%", text)}
    assert len(cells) >= 12
    for forces_row in page.select("#force-table tbody tr"):
        shown = re.findall(r"(\d{1,3})% (\d{1,3})% to (\d{1,3})%", " ".join(forces_row.get_text(" ").split()))
        for cell in shown:
            failures, smallest = feasible_failures(*(int(v) for v in cell))
            assert not failures <= set(range(1, 5)) and smallest >= 25, cell
    for section in page.select("#sections .rule"):
        for row in section.select("tbody tr"):
            for cell in re.findall(r"(\d{1,3})% (\d{1,3})% to (\d{1,3})%", " ".join(row.get_text(" ").split())):
                breaches, smallest = breach_counts(*(int(v) for v in cell))
                assert not breaches <= set(range(1, 5)) and smallest >= 25, (section["id"], cell)
    for plot in outcome.summary["funnels"]:
        block = page.find(id=f"funnel-{plot['rule']}")
        drawn = {t.get_text().split(":")[0] for t in block.select("circle title")} if block else set()
        for point in plot["points"]:
            few = (
                any(0 < n < 5 for n in (point["breaches"], point["population"] - point["breaches"]))
                or point["population"] < 30
            )
            assert not (few and point["force"] in drawn), (plot["rule"], point["force"])
        for title in block.select("circle title") if block else []:
            assert " of " not in title.get_text()
    ids = set(register(outcome.run_dir)["record_id"])
    assert not ids & set(re.findall(r"[A-Za-z0-9]+", html)) and "ID-" not in html, "no ids and no examples"
    full = (outcome.run_dir / "national.html").read_text(encoding="utf-8")
    assert "3 of " not in text and ">3</td>" in full.replace('data-value="3">', ">"), "the full page keeps its counts"


def test_a_narrative_count_that_moved_by_under_k_since_the_last_release_is_held(sample_run):
    """Nights in series for the narrative screen's counts: a count that moved by 1..k-1 since it
    was last released is held back (suppressed), one that moved by k or more shows, and the
    release records the counts it showed."""
    from recordcheck.reports.build import build_context
    from recordcheck.reports.disclosure import disclosure_safe, released_cells

    ctx = build_context(sample_run, {"redact_below": 5}, b"\x5e" * 32, "test")
    flagged = ctx.narrative.flagged
    assert flagged >= 10
    assert disclosure_safe(ctx, {"narrative.flagged": [flagged - 2, flagged - 2]}).narrative.flagged is None
    assert disclosure_safe(ctx, {"narrative.flagged": [flagged - 5, flagged - 5]}).narrative.flagged == flagged
    safe = disclosure_safe(ctx)
    release = released_cells(ctx, safe, {})
    assert release["narrative.flagged"] == [flagged, flagged]
    hidden = [r for r in safe.narrative.groups if r.total is None]
    assert all(f"narrative.{r.label}" not in release for r in hidden), "a suppressed count is not recorded as shown"


def test_the_redacted_register_lists_no_narrative_flag(sample_run):
    """The narrative screen's flags reach the redacted report as counts only: even at k = 2, where
    the register lists rows, no NAR001 record is among them."""
    from recordcheck.reports.build import build_context
    from recordcheck.reports.disclosure import disclosure_safe

    ctx = build_context(sample_run, {"redact_below": 2}, b"\x5e" * 32, "test")
    assert sum(r.rule_id == "NAR001" for r in ctx.exceptions) >= 10
    safe = disclosure_safe(ctx)
    assert safe.exceptions and not [r for r in safe.exceptions if r.rule_id == "NAR001"]
