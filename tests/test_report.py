"""The HTML report: figures equal summary.json, free text escaped, no network, redaction, browser."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import struct
import typing
import zlib
from pathlib import Path

import polars as pl
import pytest
from bs4 import BeautifulSoup

from recordcheck.checks.base.config import RunConfig
from recordcheck.reports import context as report_context
from recordcheck.reports.render import render_run
from tests.browser import MM, open_page, overlaps, printed_pages
from tests.conftest import ROOT, TEST_REFERENCE, run_with_report


def soup_of(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_every_context_field_is_documented():
    for _, cls in vars(report_context).items():
        if dataclasses.is_dataclass(cls) and isinstance(cls, type):
            for f in dataclasses.fields(cls):
                assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"


@pytest.mark.slow
def test_figures_match_summary(sample_run):
    summary = json.loads((sample_run / "summary.json").read_text())
    soup = soup_of(sample_run / "report.html")
    for rule in summary["rules"]:
        section = soup.select_one(f'div.rule[data-rule="{rule["id"]}"]')
        assert section is not None, rule["id"]
        text = section.get_text(" ", strip=True)
        if rule["status"] == "run":
            assert f"{rule['breaches']:,} flagged of {rule['population']:,} records checked" in text, rule["id"]
        else:
            assert "Not run" in text
    register = pl.read_csv(sample_run / "exceptions.csv", infer_schema=False)
    rows = soup.select("#exceptions tbody tr")
    assert len(rows) == register.height
    # derived from the extract's answer key, not from the code: 3 of the 3,540 crimes were recorded late
    key = pl.read_csv(ROOT / "sample_data" / "extract" / "key.csv")
    late = key.filter(pl.col("finding") == "late_recording").height
    crimes = pl.read_csv(ROOT / "sample_data" / "extract" / "crimes.csv", infer_schema=False).height
    assert (late, crimes) == (3, 3540)
    card = soup.select_one('div.card[data-figure="Recorded within 24 hours"]')
    assert card.select_one(".big").get_text() == "99.9%"  # 3,537 / 3,540 = 99.915%, to one decimal
    assert "95% CI 99.7%–100.0% (Wilson)" in card.get_text(" ", strip=True).replace("\u2013", "–")
    quality = {
        tr["data-table"]: [td.get_text() for td in tr.find_all("td")] for tr in soup.select("#quality tr[data-table]")
    }
    for table, counts in summary["tables"].items():
        if counts:
            assert quality[table][1] == f"{counts['read']:,}" and quality[table][3] == f"{counts['quarantined']:,}"


def test_no_external_resources(sample_run):
    soup = soup_of(sample_run / "report.html")
    for tag in soup.find_all(src=True):
        pytest.fail(f"unexpected src on {tag.name}")
    for tag in soup.find_all(href=True):
        assert tag["href"].startswith("#"), tag["href"]
    assert "http://" not in str(soup.find("style")) and "@import" not in str(soup.find("style"))


@pytest.mark.slow
def test_free_text_and_hostile_values_are_escaped(tmp_path, pack, reference):
    folder = tmp_path / "x"
    shutil.copytree(ROOT / "sample_data" / "extract", folder)
    crimes = pl.read_csv(folder / "crimes.csv", infer_schema=False)
    crimes = crimes.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("<script>alert('d')</script>"))
        .otherwise(pl.col("district"))
        .alias("district"),
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("2026-03-30T10:00:00"))
        .otherwise(pl.col("reported_at"))
        .alias("reported_at"),
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("2026-03-31T20:00:00"))
        .otherwise(pl.col("recorded_at"))
        .alias("recorded_at"),
    )
    crimes.write_csv(folder / "crimes.csv")
    html = (run_with_report(folder, tmp_path / "out", pack, reference) / "report.html").read_text()
    assert "&lt;script&gt;alert(&#39;d&#39;)&lt;/script&gt;" in html
    assert "<script>alert" not in html
    assert "<script>" in html  # the page's own inline script, and only that
    assert html.count("<script") == 1


def test_register_is_capped_with_a_pointer(sample_run, tmp_path):
    out = render_run(sample_run, {"max_rows_in_page": 5}, output=tmp_path / "capped.html")
    soup = soup_of(out)
    assert len(soup.select("#exceptions tbody tr")) == 5
    assert "exceptions.csv" in soup.select_one("#register").get_text()


def test_redacted_report_hides_ids_and_small_counts(sample_run, monkeypatch):
    monkeypatch.setenv("RECORDCHECK_REDACTION_KEY", "a1" * 16)
    path = render_run(sample_run, {"redact_below": 5}, redact=True)
    html = path.read_text()
    register = pl.read_csv(sample_run / "exceptions.csv", infer_schema=False)
    for record_id in register["record_id"].drop_nulls().to_list():
        assert record_id not in html
    assert "suppressed" in html and "disclosure-safe" in html
    again = render_run(sample_run, {"redact_below": 5}, redact=True).read_text()
    assert again == html  # same key, same pseudonyms


def _png_is_blank(png: bytes) -> bool:
    """Decode the PNG's image bytes with zlib and see whether more than a few values occur."""
    pos, idat = 8, b""
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos : pos + 8])
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    pixels = zlib.decompress(idat)
    return len(set(pixels[:2_000_000])) < 8


@pytest.mark.browser
def test_report_in_a_real_browser(sample_run, tmp_path):
    with open_page(sample_run / "report.html") as opened:
        page, errors, requests = opened.page, opened.errors, opened.requests
        assert page.locator("#headline .big").count() == 5  # three headline rates, rape, other sexual offences
        total = page.locator("#exceptions tbody tr").count()
        page.select_option('select[data-filter="rule"]', "REC001")
        visible = page.locator("#exceptions tbody tr:visible").count()
        expected = (
            pl.read_csv(sample_run / "exceptions.csv", infer_schema=False).filter(pl.col("rule_id") == "REC001").height
        )
        assert visible == expected and visible < total
        page.select_option('select[data-filter="rule"]', "")
        page.locator("#exceptions th.sortable").nth(4).click()
        assert page.locator("#exceptions tbody tr:visible").count() == total
        # severity sorts by rank (high, medium, low), not alphabetically
        page.locator("#exceptions th.sortable").nth(2).click()
        severities = page.locator("#exceptions tbody tr td:nth-child(3)").all_inner_texts()
        assert severities == sorted(severities, key=["high", "medium", "low"].index) and severities[-1] == "low"
        page.locator("#exceptions th.sortable").nth(2).click()  # again: lowest rank first
        severities = page.locator("#exceptions tbody tr td:nth-child(3)").all_inner_texts()
        assert severities == sorted(severities, key=["high", "medium", "low"].index, reverse=True)
        assert severities[0] == "low"
        # text search: every word must appear in the row
        register = pl.read_csv(sample_run / "exceptions.csv", infer_schema=False)
        some = register.filter(pl.col("rule_id") == "CAN001")["record_id"][0]
        page.fill("#register-search", some.lower())
        assert (
            page.locator("#exceptions tbody tr:visible").count()
            == register.filter(pl.col("detail").str.contains(some, literal=True) | (pl.col("record_id") == some)).height
        )
        page.fill("#register-search", "")
        shot = page.screenshot(full_page=False)
        (tmp_path / "report.png").write_bytes(shot)
        # 800 px wide: nothing runs off the page
        page.set_viewport_size({"width": 800, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{overflow} px of horizontal overflow at 800 px"
        # printed: the rationale (collapsed on screen) and the marking are on the pages
        pdf = page.pdf(format="A4", prefer_css_page_size=True)
    import unicodedata

    pages = printed_pages(pdf)
    text = unicodedata.normalize("NFKC", " ".join(w["text"] for _, _, words in pages for w in words))  # "ﬀ" -> "ff"
    summary = json.loads((sample_run / "summary.json").read_text())
    rationale = next(r for r in summary["rules"] if r["id"] == "REC001")["rationale"]
    assert " ".join(rationale.split()[:6]) in text
    assert text.count("OFFICIAL-SENSITIVE") >= 2 * len(pages), "the marking at the top and foot of every page"
    assert errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in requests), requests
    assert not _png_is_blank(shot)


def test_the_report_context_is_typed_end_to_end():
    """Every field of every context class has a concrete type (no Any), and the classes are frozen."""
    classes = [c for c in vars(report_context).values() if dataclasses.is_dataclass(c) and isinstance(c, type)]
    assert len(classes) >= 10
    for cls in classes:
        hints = typing.get_type_hints(cls)
        assert hints and all(h is not typing.Any for h in hints.values()), cls.__name__
        assert cls.__dataclass_params__.frozen, cls.__name__  # type: ignore[attr-defined]


@pytest.mark.slow
def test_grades_follow_the_forces_grade_bands(tmp_path, pack):
    """A grade band override in the config reaches the report (it reads the run's reference data)."""
    from recordcheck.checks.base.refdata import load_reference

    bands = {
        "bands": [
            {"grade": "Meets the standard", "min_percent": 99.99, "hmicfrs": "Outstanding"},
            {"grade": "Below the standard", "min_percent": 0},
        ]
    }
    reference = load_reference(TEST_REFERENCE, overrides={"grade_bands": bands})
    run_dir = run_with_report(ROOT / "sample_data" / "extract", tmp_path, pack, reference)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["reference"]["grade_bands"][0]["grade"] == "Meets the standard"
    grades = {g.get_text() for g in soup_of(run_dir / "report.html").select("div.card .grade")}
    bands = ("Meets the standard", "Below the standard")
    spans = {f"between {low} and {high}" for low in bands for high in bands if low != high}
    assert grades <= {*bands, *spans} and "Below the standard" in grades
    # the force's own HMICFRS pairing, where it gives one, and none where it does not
    scale = soup_of(run_dir / "report.html").select_one("#grade-scale").get_text(" ", strip=True)
    assert "Meets the standard, 99.99% and above (HMICFRS: Outstanding); Below the standard, 0% and above." in scale


def _crimes_by_hand(extract: Path, referrals_only: bool) -> tuple[int, int, int]:
    """Reports judged, crimes due and crimes recorded, from the extract and its answer key alone:
    a report that disclosed a notifiable offence and has a crime linked, or that the key finds
    unrecorded, is due one crime per victim (one per premises for burglary); its linked crimes
    count their distinct victims (a crime with no victim id is one), never more than are due.
    `referrals_only`: the professional third parties' referrals."""
    catalogue = pl.read_csv(TEST_REFERENCE / "offence_catalogue.csv", comment_prefix="#", infer_schema=False)
    notifiable = catalogue.filter(pl.col("notifiable") == "true")["code"].to_list()
    per_victim = catalogue.filter(pl.col("counting_unit") == "victim")["code"].to_list()
    referrals = pl.read_csv(extract / "referrals.csv", infer_schema=False)
    reports = referrals.filter(pl.col("referrer_type") == "professional_third_party") if referrals_only else referrals
    reports = reports.select(
        pl.lit("referral").alias("source_type"),
        pl.col("referral_id").alias("source_id"),
        pl.col("disclosed_offence_code").alias("code"),
        "victim_count",
    )
    if not referrals_only:
        incidents = pl.read_csv(extract / "incidents.csv", infer_schema=False).select(
            pl.lit("incident").alias("source_type"),
            pl.col("incident_id").alias("source_id"),
            pl.col("reported_offence_code").alias("code"),
            "victim_count",
        )
        reports = pl.concat([reports, incidents])
    crimes = pl.read_csv(extract / "crimes.csv", infer_schema=False).select("crime_id", "victim_person_id")
    victims = (
        pl.read_csv(extract / "crime_links.csv", infer_schema=False)
        .join(crimes, on="crime_id")
        .with_columns(victim=pl.coalesce("victim_person_id", pl.lit("crime:") + pl.col("crime_id")))
        .group_by("source_type", "source_id")
        .agg(pl.col("victim").n_unique().alias("victims"))
    )
    key = pl.read_csv(extract / "key.csv").filter(pl.col("finding").is_in(["unrecorded_crime", "n100_missing"]))
    missed = key.select(
        pl.col("record_type").alias("source_type"), pl.col("record_id").alias("source_id"), pl.lit(True).alias("missed")
    )
    judged = (
        reports.join(victims, on=["source_type", "source_id"], how="left")
        .join(missed.unique(), on=["source_type", "source_id"], how="left")
        .with_columns(
            due=pl.when(pl.col("code").is_in(per_victim))
            .then(pl.col("victim_count").cast(pl.Int64).fill_null(1).clip(1))
            .otherwise(1),
            recorded=pl.col("code").is_in(notifiable) & pl.col("victims").is_not_null(),
        )
        .filter(pl.col("recorded") | pl.col("missed").fill_null(False))
    )
    counted = pl.when(pl.col("code").is_in(per_victim)).then(pl.col("victims")).otherwise(1)
    done = judged.filter("recorded").select(pl.min_horizontal(pl.col("due"), counted).sum()).item()
    return judged.height, int(judged["due"].sum()), int(done)


def test_pvp_figures_match_the_extract(sample_run):
    """'Of N referrals, those that should have been recorded stand for M crimes; K were recorded',
    from the extract and its key (_crimes_by_hand), not from the code under test."""
    extract = ROOT / "sample_data" / "extract"
    referrals = pl.read_csv(extract / "referrals.csv", infer_schema=False).filter(
        pl.col("referrer_type") == "professional_third_party"
    )
    judged, due, done = _crimes_by_hand(extract, referrals_only=True)
    assert 0 < done < due and due > judged  # unrecorded and multi-victim referrals are both in it
    text = soup_of(sample_run / "report.html").select_one("#pvp p").get_text(" ", strip=True)
    assert f"Of {referrals.height:,} referrals" in text
    assert f"stand for {due:,} crimes (one per victim); {done:,} were recorded" in text


def test_the_headline_rate_counts_crimes_as_the_extract_does(sample_run):
    """The headline recording rate, in crimes, equals the count by hand from the extract and key
    (3,464 of 3,478); in reports it is the reports judged (3,359)."""
    judged, due, done = _crimes_by_hand(ROOT / "sample_data" / "extract", referrals_only=False)
    headline = json.loads((sample_run / "summary.json").read_text())["headline"]
    assert (headline["recording"]["compliant"], headline["recording"]["total"]) == (done, due) == (3464, 3478)
    assert headline["recording_reports"]["total"] == judged == 3359
    text = soup_of(sample_run / "report.html").select_one("#recording-reports").get_text(" ", strip=True)
    assert text.startswith("Counted in reports: 3,348 of 3,359 reports have a crime")


@pytest.mark.slow
def test_the_report_reads_like_an_audit(tmp_path, pack, reference):
    """Issue 11: a cover, an executive summary in words, every rule at a glance, the screen's
    rate labelled as such, rape and other sexual offences as their own figures."""
    config = RunConfig(report={"force_name": "Northshire Police", "marking": "OFFICIAL-SENSITIVE"})
    run = run_with_report(ROOT / "sample_data" / "extract", tmp_path / "out", pack, reference, config)
    soup = soup_of(run / "report.html")
    cover = soup.select_one("#cover table.cover").get_text(" ", strip=True)
    # the audit period from the extract itself: the first and last report, as London dates
    from zoneinfo import ZoneInfo

    times = pl.concat(
        [
            pl.read_csv(ROOT / "sample_data" / "extract" / "referrals.csv", infer_schema=False).select(
                pl.col("received_at").alias("t")
            ),
            pl.read_csv(ROOT / "sample_data" / "extract" / "incidents.csv", infer_schema=False).select(
                pl.col("reported_at").alias("t")
            ),
        ]
    )["t"].str.slice(0, 10)
    assert "Northshire Police" in cover and f"first made {times.min()}, last {times.max()}" in cover
    assert "01 April 2026 01:00 London time" in cover and f"core {pack.version}" in cover and "OFFICIAL-SENSITIVE" in cover
    assert ZoneInfo  # the as-of 2026-04-01T00:00Z is 01:00 in London (BST)
    summary = [p.get_text(" ", strip=True) for p in soup.select("#cover p.summary")]
    key = pl.read_csv(ROOT / "sample_data" / "extract" / "key.csv")
    assert summary[0].startswith(f"{key.height} exception(s) are open")
    assert (
        "The recording rate seen by the nightly screen, in crimes (one per victim), is 99.6% (95% CI 99.3% to 99.8%; "
        "3,464 of 3,478)" in summary[1]
    )
    assert summary[2].startswith("The rules with the worst compliance: REC006")  # 1 of 17 overdue: 94.1%
    # no auditor has judged a finding yet: no precision is claimed
    assert "Precision in use: not yet reviewed" in soup.select_one("#rule-REC001").get_text(" ", strip=True)
    glance = soup.select("#glance tbody tr")
    assert [tr["data-rule"] for tr in glance] == sorted(tr["data-rule"] for tr in glance) and len(glance) == len(pack.rules)
    assert "(automated screen)" in soup.select_one('div.card[data-figure="Recording rate"]').get_text()
    assert "upper bound" in soup.select_one("#screen-note").get_text()
    groups = {tr["data-group"]: tr for tr in soup.select("#offence-groups tbody tr")}
    assert {"Rape", "Other sexual offences"} <= set(groups)
    card = soup.select_one('div.card[data-figure="Other sexual offences: recording rate"]')
    row = groups["Other sexual offences"].find_all("td")
    assert card is not None and f"{row[2].get_text()} of {row[1].get_text()}" in card.get_text(" ", strip=True)
    assert soup.select_one('a[data-show-rule="CAN001"]') is not None


def test_areas_for_improvement_come_from_the_rates_and_the_high_severity_rules(sample_run):
    """Every run states its areas for improvement: each rate below the good bands (Excellent,
    Good) with the grade its interval supports, and each rule with high-severity findings. A good
    rate whose interval also reaches lower is not one (Rotherham's public protection, 41 of 43)."""
    areas = [li.get_text(" ", strip=True) for li in soup_of(sample_run / "report.html").select("#improvements li")]
    # 76 of 85 is 89.4%, Fair; its interval 81.0% to 94.4% spans Fair and Good
    assert "Recording rate, child under 13: 89.4% (95% CI 81.0% to 94.4%; 76 of 85), graded between Fair and Good." in areas
    assert any(a.startswith("Public protection, agency health: 86.5%") for a in areas)
    assert not any("Rotherham:" in a for a in areas)
    high = {a.split(":")[0] for a in areas if "high-severity finding(s)" in a}
    assert high == {"CAN001", "CLS001", "CLS002", "OUT003", "REC001", "REC002", "REC003", "REC004"}
    (rec001,) = [a for a in areas if a.startswith("REC001:")]
    # the worst rate, not the largest count: the voluntary sector's 2 of 19
    assert "7 high-severity finding(s); worst in agency voluntary sector (2 of 19)" in rec001


def test_the_grade_scale_is_printed_with_the_hmicfrs_names_beside_it(sample_run):
    """The force's bands, best first, each with the HMICFRS name the reference data pairs it with."""
    scale = soup_of(sample_run / "report.html").select_one("#grade-scale").get_text(" ", strip=True)
    assert (
        "Excellent, above 95% (HMICFRS: Outstanding); Good, 90% and above (HMICFRS: Good); "
        "Fair, 80% and above (HMICFRS: Requires improvement); Poor, 0% and above (HMICFRS: Inadequate)"
    ) in scale
    assert "publishes no percentage thresholds" in scale


def test_a_backlog_shorter_than_a_year_is_never_annualised():
    """Crimes recorded over 100 days are not grossed up to a year: the estimate uses the period's
    own count and says so; a span of a year or more is annualised; the config's figure is a year's."""
    from recordcheck.reports.figures import annual_crimes

    def crimes(first: str, last: str, count: int) -> pl.DataFrame:
        return pl.DataFrame(
            {"status": ["recorded"], "crimes": [count], "first_recorded_at": [first], "last_recorded_at": [last]}
        )

    assert annual_crimes(crimes("2026-01-01T00:00:00Z", "2026-04-11T00:00:00Z", 500), None) == (500, 100)
    # 730.5 days: 2,000 crimes are 1,000 a year
    assert annual_crimes(crimes("2024-04-01T00:00:00Z", "2026-04-01T12:00:00Z", 2000), None) == (1000, None)
    assert annual_crimes(crimes("2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", 5), 12_000) == (12_000, None)


def test_the_sample_estimate_is_annualised_and_says_so(sample_run):
    """The sample spans more than a year (22 March 2025 to 31 March 2026): annualised, a year."""
    text = soup_of(sample_run / "report.html").select_one("#estimate").get_text(" ", strip=True)
    assert "crimes a year go unrecorded" in text and "not annualised" not in text


REGISTER_HEADER = ["rule", "finding", "severity", "record", "district", "agency", "change", "first", "decision", "detail"]


@pytest.mark.browser
def test_the_printed_report_is_fit_to_issue(sample_run):
    """Printed to A4: the marking sits in the page margins, top and foot, and overlaps no other text on
    any page; nothing else prints in the margins; every register column prints inside the page; no
    register row splits across pages; sort arrows and the strata of rules with no finding do not print."""
    with open_page(sample_run / "report.html") as opened:
        page = opened.page
        page.emulate_media(media="print")
        assert page.evaluate("getComputedStyle(document.querySelector('th.sortable'), '::after').content") in (
            "none",
            "normal",
        )
        assert not page.locator(".rule.clear .rule-strata").first.is_visible()
        assert page.locator(".rule:not(.clear) .rule-strata").first.is_visible()
        assert not page.locator(".marking").first.is_visible()
        pdf = page.pdf(format="A4", prefer_css_page_size=True)
    pages = printed_pages(pdf)
    margin = 18 * MM  # the @page margin, top and bottom
    register_pages = 0
    for number, (width, height, words) in enumerate(pages, start=1):
        cover_row = [w["top"] for w in words if w["text"] == "marking"]  # the cover's "Protective marking" row
        marks = [w for w in words if w["text"] == "OFFICIAL-SENSITIVE" and not any(abs(w["top"] - t) < 2 for t in cover_row)]
        assert sorted(w["top"] < margin for w in marks) == [False, True], f"page {number}: one marking at top and foot"
        assert all(w["bottom"] <= margin or w["top"] >= height - margin for w in marks), (
            f"page {number}: marking in the content"
        )
        for mark in marks:
            assert not any(overlaps(mark, w) for w in words if w is not mark), f"page {number}: the marking overlaps text"
        footer = [w["text"] for w in words if w not in marks and w["top"] >= height - margin]
        assert footer == ["page", str(number), "of", str(len(pages))], f"page {number}: {footer}"
        assert not [w for w in words if w not in marks and w["bottom"] <= margin], f"page {number}: text in the top margin"
        assert "\u2195" not in "".join(w["text"] for w in words)
        by_left = sorted(words, key=lambda w: w["x0"])
        for i, word in enumerate(by_left):  # no text overlaps other text (a sweep from the left)
            for other in by_left[i + 1 :]:
                if other["x0"] >= word["x1"]:
                    break
                assert not overlaps(word, other), f"page {number}: {word['text']!r} overlaps {other['text']!r}"
        for rule_word in (w for w in words if w["text"] == "rule"):
            row = sorted((w for w in words if abs(w["top"] - rule_word["top"]) < 2), key=lambda w: w["x0"])
            if [w["text"] for w in row] != REGISTER_HEADER:
                continue
            register_pages += 1
            assert max(w["x1"] for w in row) <= width - 12 * MM, f"page {number}: a register column runs off the page"
            header_bottom = max(
                w["bottom"]
                for w in words
                if rule_word["top"] - 2 <= w["top"] <= rule_word["top"] + 14
                and w["x0"] >= 0
                and w["text"] in REGISTER_HEADER + ["seen"]
            )
            body = [w for w in words if w["top"] > header_bottom + 1 and w["bottom"] < height - margin]
            first = min(body, key=lambda w: (round(w["top"]), w["x0"]))
            # a row that split would continue at the top of the next page without its rule id
            assert abs(first["x0"] - rule_word["x0"]) < 2 and re.fullmatch(r"[A-Z]{2,4}[0-9]{3}", first["text"]), (
                f"page {number}: the register's first line is not the start of a row ({first['text']})"
            )
    register = pl.read_csv(sample_run / "exceptions.csv", infer_schema=False)
    assert register_pages >= 2 and register.height > 20  # the register runs over pages: the split check bites


FINAL = {
    "status": "final",
    "force_name": "Northshire Police",
    "author": "Force Crime Registrar",
    "issued": "2026-04-14",
    "version": "1.0",
    "handling": "not for onward release without the registrar's consent",
    "distribution": ["Chief Constable", "Force Crime Registrar", "PVP senior leadership team"],
    "audit_period": {"start": "2025-04-01", "end": "2026-03-31"},
}


def _front(html: str) -> dict[str, str]:
    soup = BeautifulSoup(html, "html.parser")
    return {td["data-front"]: " ".join(td.get_text().split()) for td in soup.select("#front-matter td[data-front]")}


def test_the_cover_carries_the_front_matter_a_final_report_needs(sample_run, tmp_path):
    """The config's front matter reaches the cover: status, author, issue date, version, handling,
    distribution and the declared audit period, beside the extract's own date range."""
    front = _front(render_run(sample_run, FINAL, output=tmp_path / "final.html").read_text())
    assert front["force"] == "Northshire Police" and front["status"] == "Final"
    assert front["author"] == "Force Crime Registrar" and front["issued"] == "14 April 2026"
    assert front["version"] == "1.0"
    assert front["audit-period"] == "1 April 2025 to 31 March 2026"
    # the sample's reports start before the declared period: the cover says so, and that all were checked
    assert front["data-range"].startswith("first made 2025-03-22, last 2026-03-31. The extract's reports run")
    assert front["marking"] == "OFFICIAL-SENSITIVE. Handling: not for onward release without the registrar's consent"
    assert front["distribution"] == "Chief Constable; Force Crime Registrar; PVP senior leadership team"
    inside = dict(FINAL, audit_period={"start": "2025-03-01", "end": "2026-03-31"})
    assert _front(render_run(sample_run, inside, output=tmp_path / "inside.html").read_text())["data-range"] == (
        "first made 2025-03-22, last 2026-03-31"
    )


def test_a_report_without_front_matter_is_a_draft_and_says_what_is_missing(sample_run):
    front = _front((sample_run / "report.html").read_text())
    assert front["status"] == "Draft: not for issue" and front["version"] == "draft"
    assert front["audit-period"].startswith("not declared") and "not an audit period" in front["audit-period"]
    assert front["author"] == "(set report.author in the config)"
    assert front["issued"] == "1 April 2026"  # the as-of date, London time


def test_assumptions_are_stated_once_in_an_appendix_and_references_cite_sources(sample_run, pack):
    """Each assumption the rules make appears once, in the appendix, numbered and linked from each rule
    that rests on it; no reading marker appears anywhere else in the report."""
    html = (sample_run / "report.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    text = " ".join(soup.get_text().split())
    stated = {a for rule in pack.rules for a in rule.assumptions}
    assert stated and all(text.count(a) == 1 for a in stated)
    items = soup.select("#assumptions li[data-assumption]")
    assert len(items) == len(stated)  # REC001 and REC002 share one, as do VIC002 and VIC003
    shared = next(li for li in items if "REC001, REC002" in li.get_text())
    label = shared["data-assumption"]
    assert soup.select(f'#rule-REC001 a[href="#assumption-{label}"]') and soup.select(
        f'#rule-REC002 a[href="#assumption-{label}"]'
    )
    outside = " ".join(soup.select_one("main").get_text().split()).replace(
        " ".join(soup.select_one("#assumptions").get_text().split()), ""
    )
    for marker in ("project default", "project reading", "[unconfirmed]", "domain brief"):
        assert marker not in text.lower() and marker not in outside.lower()


def test_the_page_margins_carry_the_marking_as_a_css_string_that_cannot_break_out():
    from recordcheck.reports.render import environment

    quote = environment().filters["css_string"]
    assert str(quote("OFFICIAL-SENSITIVE")) == '"OFFICIAL\\2d SENSITIVE"'
    hostile = str(quote('x"; } </style><script>alert(1)</script>'))
    assert '"' not in hostile[1:-1] and "<" not in hostile and "}" not in hostile
