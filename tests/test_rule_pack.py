"""Meta-tests of the pack: every rule documented and tested; the loader refuses bad rules; a
deliberately broken rule fails its own cases with a message naming the rule and the case."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.refdata import load_reference
from recordcheck.checks.engine.engine import RuleEngine, RuleError
from recordcheck.checks.engine.rules import Rule, load_pack
from recordcheck.checks.extract.contract import FINDINGS
from recordcheck.checks.rulechange.ruletest import as_of_of, case_tables, run_cases
from tests.conftest import TEST_PACK, TEST_REFERENCE

ROOT = Path(__file__).resolve().parent.parent


def test_every_rule_is_documented_and_has_pass_and_fail_cases(pack):
    for rule in pack.rules:
        assert rule.title and rule.rationale and rule.reference, rule.id
        assert any(c.passing or c.not_flagged for c in rule.cases if not c.absent), f"{rule.id} lacks a passing case"
        assert any(c.flagged for c in rule.cases), f"{rule.id} lacks a failing case"


READINGS = re.compile(r"project default|project reading|unconfirmed|domain brief|not settled|not confirmed", re.I)


def test_references_cite_sources_and_readings_are_stated_as_assumptions(pack):
    """A rule's reference and rationale cite published sources; where public text is silent the rule
    states an assumption (printed once, in the report's appendix), never a marker in the reference."""
    for rule in pack.rules:
        assert not READINGS.search(rule.reference), (rule.id, READINGS.search(rule.reference))
        assert not READINGS.search(rule.rationale), rule.id
        assert all(len(a) > 40 and a.endswith(".") for a in rule.assumptions), rule.id
    assert sum(bool(r.assumptions) for r in pack.rules) >= 10


def test_ids_unique_and_every_finding_kind_covered(pack):
    ids = [r.id for r in pack.rules]
    assert len(ids) == len(set(ids))
    covered = {r.finding for r in pack.rules}
    assert covered == set(FINDINGS), set(FINDINGS) - covered


def test_every_rule_is_listed_in_the_docs(pack):
    docs = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    for rule in pack.rules:
        assert rule.id in docs and rule.name in docs, rule.id


def _copy_pack(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(TEST_PACK, target)
    return target


def _edited_pack(tmp_path: Path, rule_file: str, old: str, new: str) -> Path:
    """A copy of the pack with one edit to one rule file; fails if the text to edit is not there."""
    rules = _copy_pack(tmp_path)
    path = rules / rule_file
    text = path.read_text()
    assert old in text, f"{rule_file} no longer contains {old!r}: update the test"
    path.write_text(text.replace(old, new))
    return rules


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # a part declared and never guarded would always run, absent column or not
        (
            "CASE WHEN checked('victim_told') AND",
            "CASE WHEN",
            r"parts: rationale, authority, victim_told; guards: authority, rationale",
        ),
        # a guard naming no part would be silently TRUE
        ("checked('rationale')", "checked('rationale_text')", r"guards: authority, rationale_text, victim_told"),
    ],
)
def test_every_part_is_guarded_and_every_guard_names_a_part(tmp_path, old, new, message):
    rules = _edited_pack(tmp_path, "cancellation/CAN001.yaml", old, new)
    with pytest.raises(ConfigError, match=message):
        load_pack(rules)


def test_unknown_key_names_file_line_and_known_keys(tmp_path):
    rules = _edited_pack(tmp_path, "outcomes/OUT001.yaml", "severity: medium", "severity: medium\nseverty: high")
    with pytest.raises(ConfigError) as err:
        load_pack(rules)
    message = str(err.value)
    assert "OUT001.yaml line" in message and "'severty'" in message and "known keys:" in message


def test_file_name_must_match_id(tmp_path):
    rules = _copy_pack(tmp_path)
    (rules / "outcomes" / "OUT001.yaml").rename(rules / "outcomes" / "OUT009.yaml")
    with pytest.raises(ConfigError, match="differs from the file name"):
        load_pack(rules)


def test_duplicate_id_rejected(tmp_path):
    rules = _copy_pack(tmp_path)
    shutil.copy(rules / "outcomes" / "OUT001.yaml", rules / "victim_care" / "OUT001.yaml")
    with pytest.raises(ConfigError, match="duplicate rule id OUT001"):
        load_pack(rules)


def test_sql_that_does_not_parse_is_rejected(tmp_path):
    rules = _edited_pack(tmp_path, "outcomes/OUT001.yaml", "SELECT * FROM population", "SELEC * FROM population")
    with pytest.raises(ConfigError, match="OUT001.yaml line .* breaches SQL does not parse"):
        load_pack(rules)


def test_free_text_in_detail_rejected(tmp_path):
    rules = _edited_pack(tmp_path, "outcomes/OUT001.yaml", "Crime {record_id} has", "Crime {record_id} {summary} has")
    with pytest.raises(ConfigError, match="free text"):
        load_pack(rules)


def test_broken_time_limit_fails_with_rule_and_case_named(tmp_path):
    """A timeliness limit changed to 25 hours in a copy of the pack makes the cases fail."""
    rules = _edited_pack(tmp_path, "timeliness/TIM001.yaml", "hours_to_record > limit_hours", "hours_to_record > 25")
    failed = [o for o in run_cases(load_pack(rules), load_reference(TEST_REFERENCE), ["TIM001"]) if not o.passed]
    assert failed
    assert any("TIM001 case 'exactly_24_hours_is_on_time'" in o.message for o in failed)


@pytest.mark.slow
def test_a_rules_cases_in_batches_get_each_its_own_verdict(tmp_path):
    """Batched (as on Spark): cases of one night judged in one engine, each rule run once, each
    case held to its own rule and records; a case that fails in its batch is judged again alone,
    so the verdicts and their messages are the single runs' own, pass or fail."""
    from recordcheck.checks.rulechange.ruletest import _batch_key, duckdb_engine

    def counted(runs):
        def build(*args, **kwargs):
            runs.append(args[2])
            return duckdb_engine(*args, **kwargs)

        return build

    reference = load_reference(TEST_REFERENCE)
    pack = load_pack(TEST_PACK)
    cases = [c for rule_id in ("REC001", "TIM001") for c in pack.get(rule_id).cases]
    runs: list = []
    outcomes = run_cases(pack, reference, ["REC001", "TIM001"], counted(runs), batched=True)
    assert [o.case for o in outcomes] == [c.name for c in cases]
    assert all(o.passed for o in outcomes), [o.message for o in outcomes if not o.passed]
    assert len(runs) == len({_batch_key(c) for c in cases}) == 2  # 20 cases of two rules, two nights
    # split over two workers (as `rules test --engine spark` does), a night's rules run apart, in
    # engines of their own side by side, and every verdict is the same
    runs.clear()
    assert run_cases(pack, reference, ["REC001", "TIM001"], counted(runs), workers=2, batched=True) == outcomes
    assert len(runs) == 3  # the night both rules share is split, one rule to each worker
    broken = load_pack(
        _edited_pack(tmp_path, "timeliness/TIM001.yaml", "hours_to_record > limit_hours", "hours_to_record > 25")
    )
    alone = run_cases(broken, reference, ["TIM001"])
    assert not all(o.passed for o in alone)
    assert run_cases(broken, reference, ["TIM001"], batched=True) == alone
    # case by case on two workers, as `rules test` runs on DuckDB: the same verdicts, in order
    assert run_cases(broken, reference, ["TIM001"], workers=2) == alone


def test_force_override_of_limit_changes_the_outcome(tmp_path):
    reference = load_reference(TEST_REFERENCE, overrides={"limits": {"recording_hours": 72}})
    outcomes = run_cases(load_pack(TEST_PACK), reference, ["TIM001"])
    assert not all(o.passed for o in outcomes)  # the pack's 24h cases no longer hold at 72h


def test_inline_view_must_name_a_view_of_the_pack(tmp_path):
    rules = _edited_pack(
        tmp_path, "pack.yaml", "inline_views: [report_reason, narrative_scope]", "inline_views: [report_reasons]"
    )
    with pytest.raises(ConfigError, match="pack.yaml line .*inline_views names no view report_reasons"):
        load_pack(rules)


@pytest.mark.slow
def test_inline_and_materialised_views_give_the_same_findings(tmp_path, small_extract, reference):
    """Whether a view is materialised is a speed choice: the register must not change."""
    from recordcheck.checks.engine.engine import run_pack
    from recordcheck.checks.extract.profile import load_profile
    from recordcheck.checks.validation.pipeline import load_extract
    from tests.conftest import AS_OF

    accepted = load_extract(small_extract, load_profile(), reference, AS_OF).validation.accepted
    materialised = load_pack(
        _edited_pack(tmp_path, "pack.yaml", "inline_views: [report_reason, narrative_scope]", "inline_views: []")
    )
    inline = load_pack(TEST_PACK)
    assert inline.inline_views == ("report_reason", "narrative_scope") and materialised.inline_views == ()
    a = run_pack(inline, reference, AS_OF, accepted, "r").register
    b = run_pack(materialised, reference, AS_OF, accepted, "r").register
    assert a.height > 0 and a.equals(b)


@pytest.mark.parametrize(
    ("rule_file", "old", "new", "message"),
    [
        # a second statement after a view, a rule query or a macro: refused at load, by name
        (
            "pack.yaml",
            "GROUP BY l.source_type, l.source_id",
            "GROUP BY l.source_type, l.source_id; COPY (SELECT 1) TO 'leak.csv'",
            "views report_link_counts must be one SELECT statement; found SELECT, COPY",
        ),
        (
            "outcomes/OUT001.yaml",
            "breaches: |\n  SELECT",
            "breaches: |\n  SELECT 1; DROP TABLE crimes;\n  SELECT",
            "breaches must be one SELECT statement; found SELECT, DROP, SELECT",
        ),
        (
            "pack.yaml",
            "(value IS NOT NULL AND trim(value) <> '')",
            "(value IS NOT NULL AND trim(value) <> ''); COPY (SELECT * FROM read_csv('/etc/passwd')) TO 'leak.csv'",
            "macro has_text must be one CREATE statement; found CREATE, COPY",
        ),
    ],
)
def test_pack_sql_is_one_statement_of_its_kind(tmp_path, rule_file, old, new, message):
    """Defect: a macro ran any statement appended to it (a file was written out)."""
    rules = _edited_pack(tmp_path, rule_file, old, new)
    with pytest.raises(ConfigError, match=message):
        load_pack(rules)


def test_rule_sql_cannot_read_or_write_files(tmp_path, small_extract, reference):
    """Defect: DuckDB's file access was on; a rule could read /etc/passwd or write a file."""
    from recordcheck.checks.engine.engine import RuleError, run_pack
    from recordcheck.checks.extract.profile import load_profile
    from recordcheck.checks.validation.pipeline import load_extract
    from tests.conftest import AS_OF

    rules = _edited_pack(
        tmp_path,
        "outcomes/OUT001.yaml",
        "SELECT * FROM population",
        "SELECT * FROM population CROSS JOIN (SELECT count(*) AS lines FROM read_csv('/etc/passwd'))",
    )
    loaded = load_extract(small_extract, load_profile(), reference, AS_OF)
    try:
        with pytest.raises(RuleError, match="OUT001 breaches: refused: rule SQL may not read or write files"):
            run_pack(load_pack(rules), reference, AS_OF, loaded.validation.accepted, "r")
        with pytest.raises(Exception, match="lock"):
            loaded.database.con.execute("SET enable_external_access = true")
    finally:
        loaded.close()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "SELECT * FROM crime\n",
            "SELECT * FROM crime UNION ALL SELECT * FROM crime\n",
            "population lists a record more than once",
        ),
        # two rows for one record, differing: which one the register kept was left to chance
        (
            "breaches: |\n  SELECT * FROM population",
            "breaches: |\n  SELECT * FROM population UNION ALL SELECT * REPLACE ('x' AS district) FROM population",
            "breaches list a record more than once",
        ),
        (
            "breaches: |\n  SELECT * FROM population",
            "breaches: |\n  SELECT * REPLACE (record_id || 'x' AS record_id) FROM population",
            r"breaches include \d+ record\(s\) outside the population",
        ),
    ],
)
def test_the_engine_refuses_a_rule_that_breaks_its_contract(tmp_path, old, new, message):
    """Each record once in the population and once in the breaches, and breaches only from the
    population: a rule that breaks this cannot run, and its failing case says why."""
    rules = _edited_pack(tmp_path, "outcomes/OUT001.yaml", old, new)
    outcomes = run_cases(load_pack(rules), load_reference(TEST_REFERENCE), ["OUT001"])
    refused = [o for o in outcomes if o.error]
    assert refused, "no OUT001 case has a row to break the contract with: update the test"
    assert all(re.search(message, o.message) for o in refused), [o.message for o in refused]


def test_breaches_may_start_with_a_comment_or_with(tmp_path):
    rules = _edited_pack(
        tmp_path,
        "outcomes/OUT001.yaml",
        "breaches: |\n  SELECT * FROM population",
        "breaches: |\n  -- the inconsistent ones\n  WITH p AS (SELECT * FROM population) SELECT * FROM p",
    )
    failed = [o for o in run_cases(load_pack(rules), load_reference(TEST_REFERENCE), ["OUT001"]) if not o.passed]
    assert failed == []


def test_every_needed_column_is_read_by_the_rule_or_the_pack_views(pack):
    """A rule's `needs` must name columns its SQL (or the views it reads) actually uses."""
    pack_text = (pack.directory / "pack.yaml").read_text(encoding="utf-8")
    for rule in pack.rules:
        for table, column in rule.needs:
            assert table in rule.requires or table in ("referrals", "incidents"), f"{rule.id} needs {table}.{column}"
            assert column in rule.population + rule.breaches or column in pack_text, f"{rule.id} needs {table}.{column}"


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        ("[crimes.nope]", r"needs 'crimes.nope', which is not a contract column"),
        ("[cancellation_code]", r"needs 'cancellation_code', which is not a contract column \(write table.column"),
        ("[crimes.crime_id]", r"crimes.crime_id is required by the contract; needs lists optional columns"),
    ],
)
def test_needs_must_name_optional_contract_columns(tmp_path, needs, message):
    rules = _edited_pack(
        tmp_path, "outcomes/OUT001.yaml", "needs: [crimes.outcome_code, crimes.suspect_identified]", f"needs: {needs}"
    )
    with pytest.raises(ConfigError, match=message):
        load_pack(rules)


def test_titles_take_their_limits_from_the_reference_data(pack):
    vic = pack.get("VIC001")
    assert "{limit:victim_update_days}" in vic.title
    assert (
        vic.title_for({"victim_update_days": 21})
        == "The victim went more than 21 days without contact while the crime was open"
    )
    assert vic.title_for({"victim_update_days": 28.5}).startswith("The victim went more than 28.5 days")
    assert "{limit_days}" in vic.detail, "the detail says the limit in force too"


def test_rule_and_pack_files_are_checked_by_their_schemas(tmp_path):
    """A misspelt key inside a case, or a value of the wrong shape, is refused with file and line;
    the published JSON Schemas accept every shipped rule and the pack (what an editor checks)."""
    rules = _edited_pack(tmp_path, "outcomes/OUT001.yaml", "    flagged: [C1, C2, C3, C4, C5]", "    flaged: [C1]")
    with pytest.raises(ConfigError, match=r"OUT001.yaml line \d+: unknown key 'flaged' in tests.0; known keys: name,"):
        load_pack(rules)
    rules = _edited_pack(tmp_path / "b", "pack.yaml", f'version: "{load_pack(TEST_PACK).version}"', "version: one")
    with pytest.raises(ConfigError, match=r"pack.yaml line \d+: version: String should match pattern"):
        load_pack(rules)
    jsonschema = pytest.importorskip("jsonschema")
    from recordcheck.checks.base.yamlfile import load_yaml

    schemas = {path.name: json.loads(path.read_text()) for path in (TEST_PACK / "schema").glob("*.json")}
    jsonschema.validate(load_yaml(TEST_PACK / "pack.yaml"), schemas["pack.schema.json"])
    for path in sorted((TEST_PACK).glob("*/*.yaml")):
        if path.parent.name == "lexicons":
            schema = "context.schema.json" if path.name == "context.yaml" else "lexicon.schema.json"
            jsonschema.validate(load_yaml(path), schemas[schema])
        elif path.parent.name not in ("reference",):
            jsonschema.validate(load_yaml(path), schemas["rule.schema.json"])


def test_a_case_states_who_is_judged_and_what_the_sentence_says(reference):
    """`population:` and `details:` fail a case that gets them wrong, and a case whose SQL cannot
    run is an error, not a verdict (mutation testing counts those apart)."""
    import dataclasses

    from recordcheck.checks.rulechange.ruletest import run_case

    pack = load_pack(TEST_PACK)
    rule = pack.get("CNT001")
    case = rule.cases[0]
    assert run_case(pack, reference, rule, case).passed
    wrong = dataclasses.replace(case, population=("R1", "R2", "R4"), details={"R1": "disclosed 9 victims"})
    outcome = run_case(pack, reference, rule, wrong)
    assert not outcome.passed and not outcome.error
    assert "population holds I1, R3, which the case leaves out" in outcome.message
    assert "population lacks R4" in outcome.message
    assert "detail of R1 should contain 'disclosed 9 victims'" in outcome.message
    broken = run_case(pack, reference, dataclasses.replace(rule, breaches="SELECT nope FROM population"), case)
    assert not broken.passed and broken.error and "could not run" in broken.message


def test_a_rules_cases_build_only_the_views_it_reads():
    pack = load_pack(TEST_PACK)
    assert list(pack.for_rules([pack.get("OUT001")]).views) == ["crime_first_report", "crime_agency", "crime"]
    assert list(pack.for_rules([pack.get("CNT001")]).views) == ["report_link_counts", "report"]
    both = pack.for_rules([pack.get("REC001"), pack.get("TIM001")])
    assert list(both.views) == [v for v in pack.views if v != "narrative_scope"]
    assert both.inline_views == ("report_reason",)
    # a rule that reads the narrative screen keeps the view naming what the screen reads
    assert "narrative_scope" in pack.for_rules([pack.get("NAR001")]).views


def test_case_defaults_name_contract_tables(tmp_path):
    rules = _edited_pack(
        tmp_path, "pack.yaml", "  crime_links:\n    source_type: referral", "  crime_link:\n    source_type: referral"
    )
    with pytest.raises(ConfigError, match=r"pack.yaml line \d+: case_defaults names no table crime_link"):
        load_pack(rules)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # a statement riding in a view's name once replaced the crimes view with an empty one
        ("views:\n", 'views:\n  "crime AS SELECT 1 WHERE false; --": SELECT 1\n', r"views name 'crime AS SELECT 1"),
        ("views:\n", "views:\n  crimes: SELECT * FROM main.crimes WHERE false\n", r"views name 'crimes' .* \(crimes\)"),
        ("measures:\n", 'measures:\n  "x; DROP TABLE crimes": SELECT 1\n', r"measures name 'x; DROP TABLE crimes'"),
    ],
)
def test_a_pack_cannot_replace_a_table_by_its_names(tmp_path, old, new, message):
    rules = _edited_pack(tmp_path, "pack.yaml", old, new)
    with pytest.raises(ConfigError, match=message):
        load_pack(rules)


@pytest.mark.slow
def test_a_runaway_rule_is_stopped_and_reported_not_run(tmp_path):
    """A rule with a runaway cross join hung `run` until it was killed. Past engine.query_seconds its
    query is interrupted; the rule is not run, with its reason, and the night is incomplete."""
    import time

    from click.testing import CliRunner

    from recordcheck.checks.base.exitcodes import ExitCode
    from recordcheck.cli import cli
    from tests.conftest import AS_OF_TEXT

    rules = _edited_pack(
        tmp_path,
        "outcomes/OUT001.yaml",
        "population: |\n  SELECT * FROM crime",
        "population: |\n  SELECT c.* FROM crime c, range(100000) a, range(100000) b WHERE a.range + b.range = -1 AND c.crime_id IS NOT NULL\n  UNION ALL SELECT * FROM crime",
    )
    config = tmp_path / "c.yaml"
    config.write_text("config: 1\nengine: {query_seconds: 1}\n", encoding="utf-8")
    started = time.monotonic()
    result = CliRunner().invoke(
        cli,
        ["run", str(ROOT / "sample_data" / "extract"), "--out", str(tmp_path / "out"), "--as-of", AS_OF_TEXT]
        + ["--rules", str(rules), "--config", str(config)],
    )
    assert time.monotonic() - started < 60
    assert result.exit_code == ExitCode.RUN_INCOMPLETE, result.output
    assert "OUT001 (over the time limit of 1 s (engine.query_seconds)" in result.output


def test_a_sub_check_guard_is_found_in_any_case_and_spacing():
    """checked('part') is a SQL call, so CHECKED('part') (as SQLGlot writes it back) and
    checked ( 'part' ) are the same guard; each is made TRUE, or FALSE for a part that cannot run."""
    from recordcheck.checks.engine.rules import with_parts

    sql = "SELECT checked('a') AND CHECKED('b') AND Checked ( 'c' ) AND unchecked('a')"
    assert with_parts(sql, {"b"}) == "SELECT TRUE AND FALSE AND TRUE AND unchecked('a')"


@contextmanager
def _tim001_on_a_flagged_case() -> Iterator[tuple[Rule, RuleEngine]]:
    """TIM001 and an engine over the tables of its first case that flags a record (only the
    rule's views), closed afterwards: for tests of what the engine makes of a changed rule."""
    pack, reference = load_pack(TEST_PACK), load_reference(TEST_REFERENCE)
    rule = pack.get("TIM001")
    case = next(c for c in rule.cases if c.flagged)
    engine = RuleEngine(pack.for_rules([rule]), reference, as_of_of(case), case_tables(case, pack.case_defaults))
    try:
        yield rule, engine
    finally:
        engine.close()


@pytest.mark.parametrize("flagged", [True, False], ids=["a-case-that-breaches", "a-case-that-does-not"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"detail": "Recorded {no_such_column} late"}, "breaches detail uses {no_such_column} but the breaches query has"),
        ({"evidence": ("crime_id", "no_such_column")}, "evidence names no_such_column but the breaches query has"),
    ],
    ids=["detail", "evidence"],
)
def test_a_detail_or_evidence_naming_a_missing_column_stops_the_rule_whether_or_not_it_breaches(change, message, flagged):
    """A night with nothing to register still checks what the register would say: a rule whose
    detail or evidence names a column its breaches lack fails on a clean night too, not first on
    the night it finds something."""
    with _tim001_on_a_flagged_case() as (rule, engine):
        if not flagged:  # the same rows and columns, nothing breaching
            rule = dataclasses.replace(rule, breaches=f"SELECT * FROM (\n{rule.breaches}\n) WHERE false")
        result, _ = engine.run_rule(rule, "t")
        assert result.status == "run" and bool(result.breaches) is flagged
        with pytest.raises(RuleError, match=re.escape(f"TIM001: {message}")):
            engine.run_rule(dataclasses.replace(rule, **change), "t")


@pytest.mark.parametrize(
    ("template", "sentence"),
    [
        ("late: crime {record_id} was recorded late", "Late: crime "),  # the template's own first letter
        ("{record_type} {record_id} was recorded late", "Crime "),  # the value it starts with
        ("élan: crime {record_id}", "Élan: crime "),  # not ASCII: capitalised by DuckDB, as before
        ("3 days late for {record_id}", "3 days late for "),  # no letter to capitalise
    ],
)
def test_a_detail_sentence_starts_with_a_capital(template, sentence):
    """A register sentence starts with a capital whatever its template starts with: a template's
    own lower-case first letter is capitalised in Python, a placeholder's value in SQL."""
    with _tim001_on_a_flagged_case() as (rule, engine):
        result, register = engine.run_rule(dataclasses.replace(rule, detail=template), "t")
    assert result.status == "run" and register.height >= 1
    assert all(detail.startswith(sentence) for detail in register["detail"]), register["detail"].to_list()
