"""National runs on the embedded engine: the forces kept apart, each exactly its own answer key
and its own single-force run; a refused force named while the others publish; funnel limits."""

from __future__ import annotations

import json
import math
import re

import polars as pl
import pytest
from click.testing import CliRunner

from recordcheck.checks.base.config import RunConfig
from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.extract.profile import load_profile
from recordcheck.checks.national.forces import load_forces
from recordcheck.checks.national.funnel import Z95, Z998, funnel, limits, overdispersion, position
from recordcheck.checks.national.job import execute_national, headline_lines
from recordcheck.checks.nightly.run import execute_run
from recordcheck.cli import cli
from recordcheck.reports.national import render_national
from tests.browser import open_page
from tests.conftest import AS_OF, AS_OF_TEXT
from tests.national_data import KEY, national_extract, register


@pytest.fixture(scope="module")
def national(tmp_path_factory, pack):
    """The generated national extract and its DuckDB national run."""
    manifest = national_extract(tmp_path_factory.mktemp("forces"))
    outcome = execute_national(manifest, tmp_path_factory.mktemp("national"), AS_OF, pack, render=render_national)
    return manifest, outcome


@pytest.mark.slow
def test_each_force_finds_exactly_its_answer_key(national):
    manifest, outcome = national
    found = register(outcome.run_dir)
    assert sorted(found["force"].unique()) == ["F01", "F02", "F03"]
    for code in ("F01", "F02", "F03"):
        key = pl.read_csv(manifest.parent / code / "key.csv").sort(KEY)
        mine = found.filter(pl.col("force") == code).select(KEY).unique().sort(KEY)
        assert mine.equals(key), code
    assert (outcome.run_dir / "exceptions" / "force=F02").is_dir()


def test_bad_rows_are_quarantined_under_their_force(national):
    _, outcome = national
    quarantine = pl.read_parquet(outcome.run_dir / "quarantine.parquet")
    assert quarantine.columns[0] == "force"
    assert quarantine.group_by("force").len().rows() == [("F03", 3)]
    assert set(quarantine["record_id"]) == {"RBAD001", "RBAD002", "RBAD003"}
    f03 = next(f for f in outcome.summary["forces"] if f["code"] == "F03")
    assert f03["quarantined_rows"] == 3


@pytest.mark.slow
def test_a_force_is_its_own_single_force_run(national, tmp_path, pack, reference):
    """F02 (a force-shaped export through its profile): the national partition equals the
    register of `recordcheck run` on that force alone, row for row."""
    manifest, outcome = national
    profile = load_profile(manifest.parent / "F02" / "profile.yaml")
    single = execute_run(manifest.parent / "F02", tmp_path, profile, reference, RunConfig(), AS_OF, pack)
    alone = pl.read_parquet(single.run_dir / "exceptions.parquet").filter(pl.col("rule_id") != "QUARANTINE")
    columns = ["rule_id", "record_type", "record_id", "fingerprint", "detail", "evidence", "district"]
    national_rows = register(outcome.run_dir).filter(pl.col("force") == "F02").select(columns).sort(columns)
    assert national_rows.equals(alone.select(columns).sort(columns))
    alone_summary = json.loads((single.run_dir / "summary.json").read_text())
    f02 = next(f for f in outcome.summary["forces"] if f["code"] == "F02")
    assert {r["id"]: (r["population"], r["breaches"], r["strata"]) for r in f02["rules"]} == {
        r["id"]: (r["population"], r["breaches"], r["strata"]) for r in alone_summary["rules"]
    }


def test_summary_adds_up_nationally(national):
    _, outcome = national
    national_rules = {r["id"]: r for r in outcome.summary["national"]["rules"]}
    for rule_id, figures in national_rules.items():
        per_force = [r for f in outcome.summary["forces"] for r in f["rules"] if r["id"] == rule_id and r["status"] == "run"]
        assert figures["population"] == sum(r["population"] for r in per_force)
        assert figures["breaches"] == sum(r["breaches"] for r in per_force)
    assert outcome.summary["national"]["register_rows"] == register(outcome.run_dir).height
    # the victims in public protection: each group's national figure is its forces' sum
    checked = [f for f in outcome.summary["forces"] if f["status"] == "checked"]
    national_groups = {g["group"]: g for g in outcome.summary["national"]["headline"]["groups"]}
    assert set(national_groups) >= {"children", "vulnerable_adults", "cse"}
    for key, figure in national_groups.items():
        per_force = [g for f in checked for g in f["headline"]["groups"] if g["group"] == key]
        assert (figure["compliant"], figure["total"]) == (
            sum(g["compliant"] for g in per_force),
            sum(g["total"] for g in per_force),
        )


def test_national_report_is_offline_and_names_outliers(national):
    _, outcome = national
    html = (outcome.run_dir / "national.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert html.count('<svg class="funnel"') == len(outcome.summary["funnels"]) >= 5
    for code in ("F01", "F02", "F03"):
        assert f'id="force-{code}"' in html and f'href="#force-{code}"' in html
    for plot in outcome.summary["funnels"]:
        for point in plot["points"]:
            if point["position"].startswith("outlier"):
                assert point["force"] in html.split(f'id="funnel-{plot["rule"]}"')[1].split("</p>")[0]
        # how the limits were drawn, under each plot (three forces: no between-force variance)
        method = html.split(f'id="funnel-{plot["rule"]}"')[1].split("data-method>")[1].split("</p>")[0]
        assert method.startswith("Limits: each force against the other forces&#39; rate") or method.startswith(
            "Limits: each force against the other forces' rate"
        )
        assert "(fewer than 10 forces)" in method
    # examples are redacted: no record id appears in the report, in a cell or inside a sentence
    ids = set(register(outcome.run_dir)["record_id"])
    tokens = set(re.findall(r"[A-Za-z0-9]+", html))
    assert not ids & tokens
    assert not re.search(r"\b(REF|INC|CR)\d{7}\b", html), "an id of the generator's shape inside a sentence"
    assert re.search(r"\bID-[0-9A-F]{12}\b", html), "the examples carry their pseudonyms"


def test_headline_names_the_forces_outside_each_limit(national):
    """The headline's standouts are the funnel points outside 99.8% and 95%, counted here from
    the points themselves: each named once, with its side."""
    _, outcome = national
    lines = headline_lines(outcome)
    points = [(plot["rule"], point) for plot in outcome.summary["funnels"] for point in plot["points"]]
    for bounds, kind in (("99.8%", "outlier"), ("95%", "alert")):
        (line,) = [x for x in lines if x.startswith(f"Outside the {bounds} limits: ")]
        expected = [
            f"{rule} {p['force']} {p['position'].split('-')[1]}" for rule, p in points if p["position"].startswith(kind)
        ]
        named = line.removeprefix(f"Outside the {bounds} limits: ").rstrip(".")
        assert named.split(", ") == expected if expected else named == "none"
    assert any(p["position"] != "within" for _, p in points), "the generated national extract has a force that stands out"
    recording = outcome.summary["national"]["headline"]["recording"]
    assert lines[0] == (
        f"Forces: 3 checked, 0 refused; national recording rate {recording['rate'] * 100:.2f}% "
        f"(95% CI {recording['wilson_low'] * 100:.2f}% to {recording['wilson_high'] * 100:.2f}%; "
        f"{recording['compliant']:,} of {recording['total']:,} crimes); "
        f"{outcome.summary['national']['register_rows']:,} finding(s)."
    )
    assert lines[-1] == "Verdict: every force checked."


@pytest.mark.slow
def test_refused_force_is_named_and_the_others_publish(tmp_path, small_extract):
    forces = tmp_path / "forces"
    (forces / "GOOD").mkdir(parents=True)
    (forces / "BROKEN").mkdir()
    for path in small_extract.glob("*.csv"):
        (forces / "GOOD" / path.name).write_bytes(path.read_bytes())
        if path.name != "crimes.csv":
            (forces / "BROKEN" / path.name).write_bytes(path.read_bytes())
    result = CliRunner().invoke(cli, ["national", str(forces), "--out", str(tmp_path / "out"), "--as-of", AS_OF_TEXT])
    assert result.exit_code == ExitCode.FORCES_REFUSED, result.output
    assert "REFUSED BROKEN" in result.output and "crimes" in result.output
    assert "Forces: 1 checked, 1 refused;" in result.output
    assert "Verdict: 1 force(s) refused, the others published." in result.output
    run_dir = tmp_path / "out" / "latest"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert [f["code"] for f in summary["refused"]] == ["BROKEN"]
    assert (run_dir / "exceptions" / "force=GOOD").is_dir()
    assert not (run_dir / "exceptions" / "force=BROKEN").exists()
    assert "BROKEN" in (run_dir / "national.html").read_text(encoding="utf-8")


@pytest.mark.slow
def test_an_unreadable_force_is_refused_and_the_others_are_checked(tmp_path, small_extract, monkeypatch):
    """One force's file cannot be read (permissions; as root the open is made to fail): that force
    is refused by name with the reason, the other is checked, and the run exits 11, never 3 or 7."""
    forces = tmp_path / "forces"
    for code in ("GOOD", "LOCKED"):
        (forces / code).mkdir(parents=True)
        for path in small_extract.glob("*.csv"):
            (forces / code / path.name).write_bytes(path.read_bytes())
    from tests.conftest import make_unreadable

    make_unreadable(monkeypatch, forces / "LOCKED" / "referrals.csv")
    result = CliRunner().invoke(cli, ["national", str(forces), "--out", str(tmp_path / "out"), "--as-of", AS_OF_TEXT])
    assert result.exit_code == ExitCode.FORCES_REFUSED, result.output
    assert "REFUSED LOCKED" in result.output and "referrals.csv: cannot be read (Permission denied)" in result.output
    assert "Forces: 1 checked, 1 refused;" in result.output
    assert (tmp_path / "out" / "latest" / "exceptions" / "force=GOOD").is_dir()


def test_funnel_limits_match_a_hand_calculation():
    # p0 = 0.1, n = 100 (10 expected breaches: normal limits): standard error sqrt(0.1 * 0.9 / 100) = 0.03
    low95, high95 = limits(0.1, 100, Z95)
    assert (round(low95, 6), round(high95, 6)) == (0.041201, 0.158799)  # 0.1 -/+ 1.959964 * 0.03
    low998, high998 = limits(0.1, 100, Z998)
    assert (round(low998, 6), round(high998, 6)) == (0.007293, 0.192707)  # 0.1 -/+ 3.090232 * 0.03
    assert position(0.20, 0.1, 100) == "outlier-high"
    assert position(0.17, 0.1, 100) == "alert-high"
    assert position(0.15, 0.1, 100) == "within"
    assert position(0.03, 0.1, 100) == "alert-low"
    assert position(0.0, 0.1, 100) == "outlier-low"
    # each force against the others: A's target is B's 80 of 900, B's is A's 20 of 100 ... but A
    # holds fewer records than B, so B is judged against the national 100 of 1,000
    plot = funnel("R", "t", [("A", 100, 20), ("B", 900, 80), ("C", 0, 0)])
    assert plot is not None and plot["national_rate"] == pytest.approx(0.1)
    assert [p["force"] for p in plot["points"]] == ["A", "B"]  # a force with no population is not a point
    a, b = plot["points"]
    assert a["target"] == pytest.approx(80 / 900) and b["target"] == pytest.approx(0.1)
    assert math.isclose(b["limits95"][1], 0.1 + Z95 * math.sqrt(0.09 / 900))
    # A: 8.9 breaches expected, so exact: P(X >= 20 | Bin(100, 0.0889)) = 0.00046, below 0.1%
    assert a["position"] == "outlier-high" and plot["tau2"] == 0.0 and plot["phi"] is None


def test_funnel_exact_binomial_limits_by_hand_and_a_rare_rules_low_outlier():
    """Bin(10, 0.5): F(1) = 11/1024, F(2) = 56/1024, F(7) = 968/1024, F(8) = 1013/1024. The 2.5%
    limit is (2 - (56/1024 - 0.025) / (45/1024)) / 10 = 0.132444; the 97.5% limit is
    (8 - (1013/1024 - 0.975) / (45/1024)) / 10 = 0.767556 (Spiegelhalter 2005, appendix A.1.1)."""
    low, high = limits(0.5, 10, Z95)
    assert (round(low, 6), round(high, 6)) == (0.132444, 0.767556)
    # a rare rule (1%): 700 records with no breach has probability 0.99^700 = 0.00088, below 0.1%:
    # a low outlier, where the normal lower limit (0.01 - 3.09 * sqrt(0.0099 / 700) < 0) is cut at 0
    assert 0.01 - Z998 * math.sqrt(0.0099 / 700) < 0
    assert position(0.0, 0.01, 700) == "outlier-low"
    assert position(0.0, 0.01, 300) == "within"  # 0.99^300 = 0.049
    assert position(1.0, 0.25, 1) == "within"  # one breach in one record: P = 0.25


def test_funnel_overdispersion_widens_the_limits_for_ordinary_variation_between_forces():
    """Ten forces of 10,000 records, breach rates 5%, 10% and 15% (national 10%). z-scores
    +/-16.667 (eight) and 0 (two), unchanged by winsorising at the 2nd and 9th values:
    phi = 8 * 277.78 / 10 = 222.22. w = 10,000 / 0.09 for each; sum(w) - sum(w^2) / sum(w) = 1,000,000;
    tau^2 = (10 * 222.22 - 9) / 1,000,000 = 0.0022132. On the binomial limits alone every 5% and
    15% force would be an outlier; with tau^2 none is."""
    rows = [(f"F{i}", 10_000, b) for i, b in enumerate([500] * 4 + [1000] * 2 + [1500] * 4)]
    plot = funnel("R", "t", rows)
    assert plot is not None
    assert plot["phi"] == pytest.approx(2000 / 9) and plot["tau2"] == pytest.approx((20000 / 9 - 9) / 1e6)
    assert {p["position"] for p in plot["points"]} == {"within"}
    assert "tau^2 = 0.00221 added" in plot["method"]
    # nine forces are too few to estimate it: the binomial limits alone
    few = funnel("R", "t", rows[:9])
    assert few is not None and few["tau2"] == 0.0
    assert {p["position"] for p in few["points"] if p["rate"] != 0.1} == {"outlier-low", "outlier-high"}


def test_funnel_edges_a_rate_on_a_limit_no_population_and_tiny_forces():
    """A rate exactly on a limit is inside it (beyond means strictly beyond); limits are cut to
    [0, 1] at both ends; a force of one record is still a point, with its own rate."""
    low95, high95 = limits(0.1, 100, Z95)
    low998, high998 = limits(0.1, 100, Z998)
    assert position(high95, 0.1, 100) == "within" and position(low95, 0.1, 100) == "within"
    assert position(high998, 0.1, 100) == "alert-high" and position(low998, 0.1, 100) == "alert-low"
    assert limits(0.1, 0, Z95) == (0.0, 1.0)  # no population: no information
    assert limits(0.9, 1, Z95) == (pytest.approx(0.9 - Z95 * 0.3), 1.0)  # a rate over one half: normal, cut at one
    # Bin(1, 0.1): F(0) = 0.9; the 97.5% limit is (1 - (1 - 0.975) / 0.1) / 1 = 0.75
    assert limits(0.1, 1, Z95) == (0.0, pytest.approx(0.75))
    plot = funnel("R", "t", [("A", 1, 1), ("B", 4, 1)])
    assert plot is not None and [p["force"] for p in plot["points"]] == ["A", "B"]
    assert [p["rate"] for p in plot["points"]] == [1.0, 0.25] and plot["national_rate"] == pytest.approx(0.4)
    # A against B's 1 of 4; B against the national rate (A holds fewer records)
    assert [p["target"] for p in plot["points"]] == [0.25, pytest.approx(0.4)]
    assert [p["position"] for p in plot["points"]] == ["within", "within"]


def test_folder_and_manifest_forms(tmp_path):
    (tmp_path / "folder" / "SY").mkdir(parents=True)
    (tmp_path / "folder" / "SY" / "profile.yaml").write_text("profile: 1\n")
    (tmp_path / "folder" / "WY").mkdir()
    forces = load_forces(tmp_path / "folder")
    assert [(f.code, f.profile is not None) for f in forces] == [("SY", True), ("WY", False)]
    manifest = tmp_path / "forces.yaml"
    manifest.write_text("forces:\n  - code: SY\n    extract: sy/\n    colour: red\n")
    with pytest.raises(ConfigError, match=r"line 4: unknown key 'colour'"):
        load_forces(manifest)
    manifest.write_text("forces:\n  - {code: SY, extract: a}\n  - {code: sy, extract: b}\n")
    with pytest.raises(ConfigError, match="appears twice"):
        load_forces(manifest)
    manifest.write_text("forces:\n  - {code: SY, extract: s3a://bucket/sy, config: {districts: [Sheffield]}}\n")
    (force,) = load_forces(manifest)
    assert force.extract == "s3a://bucket/sy" and force.config == {"districts": ["Sheffield"]}
    with pytest.raises(ConfigError, match="read through Spark's file systems: run with --engine spark"):
        _ = force.local_extract


def test_generate_forces_writes_a_manifest(tmp_path):
    result = CliRunner().invoke(
        cli, ["generate", str(tmp_path / "g"), "--forces", "2", "--scale", "0.01", "--as-of", AS_OF_TEXT]
    )
    assert result.exit_code == 0, result.output
    assert [f.code for f in load_forces(tmp_path / "g" / "forces.yaml")] == ["F01", "F02"]
    assert (tmp_path / "g" / "F02" / "profile.yaml").is_file()
    districts = set(pl.read_csv(tmp_path / "g" / "F01" / "referrals.csv")["district"])
    assert all(d.startswith("F01 ") for d in districts)


def test_engine_spark_without_pyspark_says_how_to_install(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_pyspark(name, *args, **kwargs):
        if name == "pyspark" or name.startswith("pyspark."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyspark)
    (tmp_path / "forces" / "A").mkdir(parents=True)
    result = CliRunner().invoke(
        cli, ["national", str(tmp_path / "forces"), "--out", str(tmp_path / "o"), "--engine", "spark"]
    )
    assert result.exit_code == ExitCode.USAGE_ERROR
    assert "pip install 'recordcheck[spark]'" in result.output


def test_great_expectations_is_refused_on_spark_before_anything_starts(tmp_path, pack):
    """On Spark the suites always run as Spark SQL; asking for GX there is a usage error, raised
    before a session starts or the output folder is touched."""
    (tmp_path / "forces" / "A").mkdir(parents=True)
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="--validator great-expectations runs with --engine duckdb; on Spark"):
        execute_national(tmp_path / "forces", out, AS_OF, pack, engine="spark", validator="great-expectations")
    assert not out.exists()
    with pytest.raises(ConfigError, match="unknown validator 'nope'; known: sql, great-expectations"):
        execute_national(tmp_path / "forces", out, AS_OF, pack, validator="nope")
    assert not out.exists()


def test_forces_at_once_is_one_in_local_mode_four_on_a_cluster_and_checked():
    from recordcheck.checks.national.spark_engine import FORCES_AT_ONCE, forces_at_once

    class Session:  # the session's own settings only: Spark Connect offers no SparkContext
        def __init__(self, master, settings):
            held = {"spark.master": master, **settings}
            self.conf = type("Conf", (), {"get": lambda _self, key, default: held.get(key, default)})()

    assert forces_at_once(Session("local[2]", {})) == 1
    assert forces_at_once(Session("spark://127.0.0.1:7077", {})) == 4
    assert forces_at_once(Session("yarn", {FORCES_AT_ONCE: "2"})) == 2
    for bad in ("0", "four", "-1"):
        with pytest.raises(
            ConfigError, match=f"spark.recordcheck.forcesAtOnce must be a whole number of at least 1, not '{bad}'"
        ):
            forces_at_once(Session("yarn", {FORCES_AT_ONCE: bad}))


@pytest.mark.browser
def test_national_report_sorts_its_forces_in_a_real_browser(national):
    """The forces table sorts by a rate column (numerically, both ways) and by name, with no
    script error and no request leaving the file."""
    _, outcome = national
    rates = {f["code"]: f["headline"]["recording"]["rate"] for f in outcome.summary["forces"]}
    with open_page(outcome.run_dir / "national.html") as opened:
        page = opened.page
        codes = lambda: page.locator("#force-table tbody tr td:first-child").all_inner_texts()  # noqa: E731
        rate_header = page.locator("#force-table th.sortable").nth(2)
        rate_header.click()
        assert codes() == sorted(rates, key=lambda code: rates[code])
        rate_header.click()
        assert codes() == sorted(rates, key=lambda code: rates[code], reverse=True)
        page.locator("#force-table th.sortable").nth(0).click()
        assert codes() == sorted(rates)
        assert page.locator("svg.funnel").count() == len(outcome.summary["funnels"])
    assert opened.errors == []
    assert all(url.startswith(("file:", "data:", "about:")) for url in opened.requests), opened.requests


def _binomial_cdf(n: int, p: float, r: int) -> float:
    """The distribution function by the textbook sum, for checking the module's log-space one."""
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(r + 1))


def test_funnel_exact_limits_and_tails_for_an_uneven_rate():
    """Bin(20, 0.2) (4 expected): each limit from the textbook distribution function and the
    appendix's interpolation; positions from the textbook tails."""
    n, p = 20, 0.2
    for z, (low_q, high_q) in ((Z95, (0.025, 0.975)), (Z998, (0.001, 0.999))):
        expected = []
        for q in (low_q, high_q):
            r = next(r for r in range(n + 1) if _binomial_cdf(n, p, r) >= q)
            f_r, f_before = _binomial_cdf(n, p, r), _binomial_cdf(n, p, r - 1) if r else 0.0
            expected.append(max(0.0, (r - (f_r - q) / (f_r - f_before)) / n))
        assert limits(p, n, z) == (pytest.approx(expected[0], abs=1e-12), pytest.approx(expected[1], abs=1e-12))
    for breaches in range(n + 1):
        above, below = 1 - _binomial_cdf(n, p, breaches - 1), _binomial_cdf(n, p, breaches)
        want = (
            "outlier-high"
            if above < 0.001
            else "outlier-low"
            if below < 0.001
            else "alert-high"
            if above < 0.025
            else "alert-low"
            if below < 0.025
            else "within"
        )
        assert position(breaches / n, p, n) == want, breaches


def test_funnel_winsorising_and_unequal_forces_in_the_overdispersion_estimate():
    """Nine forces at 10% and one at 20% (10,000 records each; national 11%): the one extreme
    z-score is pulled in to the ninth value before phi is taken, so phi = (0.01 / sd)^2, not a
    figure dominated by the outlier. Then forces of unequal size: tau^2 by the paper's formula."""
    rows = [(f"F{i}", 10_000, 1000) for i in range(9)] + [("F9", 10_000, 2000)]
    phi, tau2 = overdispersion([(n, b) for _, n, b in rows], 0.11)
    sd = math.sqrt(0.11 * 0.89 / 10_000)
    assert phi == pytest.approx((0.01 / sd) ** 2)
    weights = [10_000 / (0.11 * 0.89)] * 10
    assert tau2 == pytest.approx((10 * phi - 9) / (sum(weights) - sum(w * w for w in weights) / sum(weights)))
    sizes = [1000 * (i + 1) for i in range(10)]
    uneven = [(n, round(n * (0.08 if i % 2 else 0.12))) for i, n in enumerate(sizes)]
    p0 = sum(b for _, b in uneven) / sum(sizes)
    zs = sorted((b / n - p0) / math.sqrt(p0 * (1 - p0) / n) for n, b in uneven)
    clipped = [min(max(z, zs[1]), zs[8]) for z in zs]
    want_phi = sum(z * z for z in clipped) / 10
    w = [n / (p0 * (1 - p0)) for n in sizes]
    phi, tau2 = overdispersion(uneven, p0)
    assert phi == pytest.approx(want_phi) and want_phi > 1
    assert tau2 == pytest.approx((10 * want_phi - 9) / (sum(w) - sum(x * x for x in w) / sum(w)))
    # no excess variation: no tau^2
    assert overdispersion([(10_000, 1000)] * 10, 0.1) == (0.0, 0.0)


def test_funnel_edges_of_the_exact_and_normal_regimes():
    """9.5 expected breaches are still exact (below 10); a normal lower limit below zero is cut
    there; a rate of 0 has no spread; ten forces with no breaches (or all breaches) give no
    overdispersion estimate; two forces of equal size are each judged against the other."""
    n, p = 95, 0.1
    expected = []
    for q in (0.025, 0.975):
        r = next(r for r in range(n + 1) if _binomial_cdf(n, p, r) >= q)
        expected.append((r - (_binomial_cdf(n, p, r) - q) / (math.comb(n, r) * p**r * (1 - p) ** (n - r))) / n)
    assert limits(p, n, Z95) == (pytest.approx(expected[0], abs=1e-12), pytest.approx(expected[1], abs=1e-12))
    assert limits(0.1, 100, Z95, tau2=0.01) == (0.0, pytest.approx(0.1 + Z95 * math.sqrt(0.0009 + 0.01)))
    assert limits(0.0, 100, Z95) == (0.0, 0.0)
    assert overdispersion([(100, 0)] * 10, 0.0) == (None, 0.0)
    assert overdispersion([(100, 100)] * 10, 1.0) == (None, 0.0)
    plot = funnel("R", "t", [("A", 100, 10), ("B", 100, 20)])
    assert plot is not None and [p["target"] for p in plot["points"]] == [pytest.approx(0.2), pytest.approx(0.1)]


@pytest.mark.slow
def test_publishing_to_object_storage_never_renames_or_links_and_a_crash_keeps_the_last_run(tmp_path, pack, monkeypatch):
    """`national --publish object` on a local folder treated as object storage: nothing under OUT
    is ever renamed or linked (an object store can do neither); each run ends with its commit
    marker, then the `_latest` pointer. A crash half-way through writing the next run's objects
    leaves `_latest` on the last committed run, and its half-written folder is never read."""
    import os
    import shutil
    from pathlib import Path

    from recordcheck.checks.base.errors import OutputUnavailable
    from recordcheck.checks.nightly.objectstore import COMMITTED, LATEST_POINTER, latest_committed

    manifest = national_extract(tmp_path / "forces", scale=0.005)
    out = tmp_path / "bucket"

    def refuse(name, real):
        def guarded(*args, **kwargs):
            if any(str(out) in str(a) for a in args[:2]):
                raise AssertionError(f"{name} under an object store: {args[:2]}")
            return real(*args, **kwargs)

        return guarded

    for module, name in ((os, "replace"), (os, "rename"), (os, "symlink")):
        monkeypatch.setattr(module, name, refuse(name, getattr(module, name)))
    monkeypatch.setattr(Path, "symlink_to", refuse("symlink_to", Path.symlink_to))

    left = tmp_path / "stage" / ".staging-999999-an-old-run-x"  # a killed run's staging: personal data
    left.mkdir(parents=True)
    runner = CliRunner()
    arguments = ["national", str(manifest), "--out", str(out), "--as-of", AS_OF_TEXT, "--publish", "object"]
    first = runner.invoke(cli, [*arguments, "--staging", str(tmp_path / "stage")])
    assert first.exit_code == 0, first.output
    run_id = (out / LATEST_POINTER).read_text().strip()
    assert latest_committed(out) == out / run_id
    assert not (out / "latest").exists() and not list((tmp_path / "stage").glob(".staging-*"))  # staging removed
    assert not left.exists()
    listed = json.loads((out / run_id / COMMITTED).read_text())["files"]
    assert {"summary.json", "national.html", "exceptions/force=F02/part-0.parquet"} <= set(listed)
    assert register(out / run_id).height > 0

    written = []
    real_copy = shutil.copyfile

    def crash_after_three(source, destination, *args, **kwargs):
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        written.append(destination)
        return real_copy(source, destination, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", crash_after_three)
    second = runner.invoke(cli, arguments)
    assert second.exit_code != 0
    assert (out / LATEST_POINTER).read_text().strip() == run_id and latest_committed(out) == out / run_id
    (half,) = [p for p in out.iterdir() if p.is_dir() and p.name != run_id]
    assert len([p for p in half.rglob("*") if p.is_file()]) == 3 and not (half / COMMITTED).exists()

    # a committed folder that lost an object is refused, never read as the run
    (out / run_id / "summary.json").unlink()
    with pytest.raises(OutputUnavailable, match="does not hold what its commit marker lists"):
        latest_committed(out)
    # and a publish mode that is neither is refused before any force is read
    with pytest.raises(ConfigError, match="publish must be one of folder, object, not 's3'"):
        execute_national(tmp_path / "no-such-forces", out, AS_OF, pack, publish="s3")


def test_a_spark_connect_master_goes_to_the_server_and_its_work_runs_one_piece_at_a_time(monkeypatch):
    """`--master sc://host:port` (or SPARK_REMOTE) is a Spark Connect server, never a local JVM:
    an unreachable one is a ConfigError naming it. On a Connect session forces, cases and suites
    share the one session, one at a time (a checkpoint made in a second Connect session is not
    found there); on classic Spark each gets a session of its own, side by side."""
    pytest.importorskip("pyspark")
    from recordcheck.checks.national.spark_engine import FORCES_AT_ONCE, forces_at_once
    from recordcheck.checks.spark import session
    from recordcheck.checks.spark.session import at_once, is_connect, own_session, spark_session

    monkeypatch.delenv("SPARK_REMOTE", raising=False)
    # without the Connect client (one of its modules missing, whatever this machine has): the
    # install is named, and pyspark's own check (which exits 0 outside a script) is never reached
    monkeypatch.setattr(session, "CONNECT_CLIENT", ("grpc", "google.no_such_module"))
    with pytest.raises(ConfigError, match=r"^Spark Connect at sc://127\.0\.0\.1:1 needs .*'recordcheck\[spark-connect\]'"):
        spark_session("sc://127.0.0.1:1")
    monkeypatch.setenv("SPARK_REMOTE", "sc://127.0.0.1:2")
    with pytest.raises(ConfigError, match=r"^Spark Connect at sc://127\.0\.0\.1:2 needs"):
        spark_session()

    settings = {"spark.master": "spark://cluster:7077", FORCES_AT_ONCE: "3"}
    conf = type("Conf", (), {"get": lambda _self, key, default: settings.get(key, default)})()
    connect = type("SparkSession", (), {"__module__": "pyspark.sql.connect.session", "conf": conf})()
    classic = type("SparkSession", (), {"__module__": "pyspark.sql.session", "conf": conf, "newSession": lambda s: "new"})()
    assert is_connect(connect) and not is_connect(classic)
    assert own_session(connect) is connect and own_session(classic) == "new"
    assert (at_once(connect, 4), at_once(classic, 4)) == (1, 4)
    assert (forces_at_once(connect), forces_at_once(classic)) == (1, 3)


@pytest.mark.slow
def test_extracts_run_as_one_batch_are_each_judged_as_if_alone(small_extract, pack, reference):
    """The country run's engine (`RuleEngine(batches=...)`, checks/national/country.py on Spark):
    two extracts' tables as one, every record and person key tagged with its batch. Each rule's
    population, breaches, strata and register rows for a batch equal a run of that extract alone
    (the two share record ids, so a join that crossed batches would show)."""
    from recordcheck.checks.engine.engine import BATCH_SEPARATOR, REGISTER_SCHEMA, RuleEngine, run_pack
    from recordcheck.checks.extract.contract import RECORD_KEYS
    from recordcheck.checks.validation.pipeline import load_extract
    from tests.conftest import ROOT

    frames, alone = {}, {}
    for code, folder in (("A", ROOT / "sample_data" / "extract"), ("B", small_extract)):
        loaded = load_extract(folder, load_profile(), reference, AS_OF)
        try:
            frames[code] = {name: loaded.validation.accepted[name] for name in loaded.validation.accepted}
        finally:
            loaded.close()
        alone[code] = run_pack(pack, reference, AS_OF, frames[code], "r")
    shared = set(frames["A"]["crimes"]["crime_id"]) & set(frames["B"]["crimes"]["crime_id"])
    assert len(shared) > 100, "the extracts share record ids"

    def tag(frame: pl.DataFrame, code: str) -> pl.DataFrame:
        keys = [c for c in frame.columns if c in RECORD_KEYS]
        return frame.with_columns(pl.concat_str(pl.lit(code + BATCH_SEPARATOR), pl.col(c)).alias(c) for c in keys)

    tables = {name: pl.concat([tag(frames[code][name], code) for code in "AB"]) for name in frames["A"]}
    engine = RuleEngine(pack, reference, AS_OF, tables, batches=("A", "B"))
    try:
        for number, rule in enumerate(pack.rules):
            result, register = engine.run_rule(rule, "r")
            assert result.status == "run", result.reason
            for code in "AB":
                own, mine = alone[code].results[number], result.by_batch[code]
                assert (mine.population, mine.breaches, mine.strata) == (own.population, own.breaches, own.strata), (
                    rule.id,
                    code,
                )
                expected = alone[code].register.filter(pl.col("rule_id") == rule.id)
                got = register.filter(pl.col("force") == code).drop("force").cast(REGISTER_SCHEMA)
                assert got.sort("record_type", "record_id").equals(expected.sort("record_type", "record_id")), rule.id
            assert sum(by.breaches for by in result.by_batch.values()) == result.breaches
    finally:
        engine.close()
