"""The rule pack: list, explain, test, diff and approve its rules; show or write its suites."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.extract.contract import TABLES
from recordcheck.commands.common import (
    as_of_for,
    as_of_option,
    config_option,
    engine_options,
    export_as_of,
    handle_errors,
    load_setup,
    parse_as_of,
    profile_option,
    rules_dir_option,
    step,
)


@click.group()
def rules() -> None:
    """List, explain and test the rule pack."""


@rules.command("list")
@rules_dir_option
@handle_errors
def rules_list(rules_dir: Path | None) -> None:
    """One line per rule: id, name, finding, severity, title."""
    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack

    pack = load_pack(rules_dir or RULES_DIR)
    limits = load_reference(pack.reference_dir).limits
    for rule in pack.rules:
        click.echo(f"{rule.id:<8}{rule.name:<52}{rule.finding:<24}{rule.severity:<8}{rule.title_for(limits)}")


@rules.command("explain")
@click.argument("rule_id")
@rules_dir_option
@handle_errors
def rules_explain(rule_id: str, rules_dir: Path | None) -> None:
    """What RULE_ID checks, why it matters, an example, its reference and its SQL."""
    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack

    pack = load_pack(rules_dir or RULES_DIR)
    rule = pack.get(rule_id)
    sections = [
        (f"{rule.id} {rule.name}", rule.title_for(load_reference(pack.reference_dir).limits)),
        (
            "What it does",
            f"Finding: {rule.finding}; severity: {rule.severity}; tables: {', '.join(rule.requires)}"
            + (
                f"; not run when any of these is absent or empty: {', '.join(f'{t}.{c}' for t, c in rule.needs)}."
                if rule.needs
                else "."
            ),
        ),
        ("Why it matters", rule.rationale),
        ("Example", rule.example or "See the test cases in " + str(rule.path)),
        ("Reference", rule.reference),
        ("Assumptions (where public text is silent)", "\n".join(f"- {a}" for a in rule.assumptions) or "none"),
        ("Population (the denominator)", rule.population),
        ("Breaches", rule.breaches),
        ("Register detail", rule.detail),
        ("Test cases", ", ".join(c.name for c in rule.cases)),
        (
            "Case defaults (pack.yaml: what a case's row holds in a column it leaves out)",
            "\n".join(
                f"{table}: " + ", ".join(f"{column}={value}" for column, value in columns.items())
                for table, columns in pack.case_defaults.items()
                if table in {*rule.requires, *(t for c in rule.cases for t in c.given)}
            )
            or "none",
        ),
    ]
    for heading, body in sections:
        click.echo(click.style(heading, bold=True))
        click.echo(body + "\n")


@rules.command("test")
@click.argument("rule_ids", nargs=-1)
@rules_dir_option
@config_option
@engine_options
@handle_errors
def rules_test(
    rule_ids: tuple[str, ...],
    rules_dir: Path | None,
    config_path: Path | None,
    engine: str,
    master: str | None,
    verbose: bool,
) -> None:
    """Run the rules' own test cases (all, or RULE_IDS) on DuckDB or Spark; exit 1 if any case fails."""
    from recordcheck.checks.base.config import load_config
    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack
    from recordcheck.checks.rulechange.ruletest import case_workers, run_cases

    pack = load_pack(rules_dir or RULES_DIR)
    config = load_config(config_path)
    reference = load_reference(pack.reference_dir, overrides=config.reference, config_path=config.path)
    rule_ids = tuple(r.upper() for r in rule_ids)
    unknown = [r for r in rule_ids if r not in {x.id for x in pack.rules}]
    if unknown:
        raise click.BadParameter(f"unknown rule(s) {', '.join(unknown)}", param_hint="RULE_IDS")
    if engine == "spark":
        from recordcheck.checks.spark.engine import SPARK_CASE_WORKERS, spark_case_engine
        from recordcheck.checks.spark.session import at_once, spark_session

        spark = spark_session(master, verbose)
        workers = at_once(spark, SPARK_CASE_WORKERS)
        outcomes = run_cases(
            pack, reference, list(rule_ids) or None, spark_case_engine(spark), workers=workers, batched=True
        )
    else:
        outcomes = run_cases(pack, reference, list(rule_ids) or None, workers=case_workers())
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        click.echo(f"FAIL {outcome.message}")
    click.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if pack.lexicons is not None and not rule_ids:
        from recordcheck.checks.narrative.cases import run_sentence_cases

        sentences = run_sentence_cases(pack.lexicons)
        wrong = [o for o in sentences if not o.passed]
        for sentence in wrong:
            click.echo(f"FAIL {sentence.message}")
        click.echo(f"lexicons: {len(sentences) - len(wrong)} sentences passed, {len(wrong)} failed")
        if wrong:
            sys.exit(1)
    if failed:
        sys.exit(1)


@rules.command("mutate")
@click.argument("rule_ids", nargs=-1)
@rules_dir_option
@click.option("--show", type=int, default=20, show_default=True, help="Surviving mutants to list per rule.")
@handle_errors
def rules_mutate(rule_ids: tuple[str, ...], rules_dir: Path | None, show: int) -> None:
    """Mutation-test the rules (all, or RULE_IDS): change one thing at a time in each rule's SQL
    and run the rule's own cases against it. Prints the kill rate per rule and every surviving
    mutant that `mutants.yaml` in the pack does not explain; exits 1 if any is unexplained."""
    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack
    from recordcheck.checks.rulechange.mutate import explained_survivors, mutate_rule, score
    from recordcheck.checks.rulechange.ruletest import case_workers

    pack = load_pack(rules_dir or RULES_DIR)
    reference = load_reference(pack.reference_dir)
    wanted = {r.upper() for r in rule_ids}
    explained = explained_survivors(pack.directory)
    unexplained = 0
    for rule in pack.rules:
        if wanted and rule.id not in wanted:
            continue
        result = score(rule.id, mutate_rule(pack, reference, rule, workers=case_workers()))
        reasons = explained.get(rule.id, {})
        open_ = [m for m in result.survived if f"{m.part}: {m.description}" not in reasons]
        unexplained += len(open_)
        rate = f"{result.kill_rate:.0%}" if result.kill_rate is not None else "n/a"
        click.echo(
            f"{rule.id}: {result.killed} of {result.valid} mutants killed ({rate}); "
            f"{len(result.survived) - len(open_)} survivor(s) explained, {len(open_)} not; {result.invalid} invalid"
        )
        for mutant in open_[:show]:
            click.echo(f"  survived  {mutant.part}: {mutant.description}")
    sys.exit(1 if unexplained else 0)


@rules.command("diff")
@click.argument("extract_dir", type=click.Path(path_type=Path))
@click.option(
    "--base",
    required=True,
    metavar="DIR|git:REF",
    help="The pack to compare against: a rules folder, or git:REF for the pack at that revision.",
)
@rules_dir_option
@as_of_option
@profile_option
@config_option
@click.option("--format", "fmt", type=click.Choice(["text", "md", "json"]), default="text", show_default=True)
@click.option("--examples", type=click.IntRange(0, 100), default=5, show_default=True, help="Example records per side.")
@click.option(
    "--check-version",
    is_flag=True,
    help="Exit 2 when the pack's version step is smaller than the change needs, or the changelog has no "
    "entry for a new version (for CI; the findings are printed first).",
)
@handle_errors
def rules_diff(
    extract_dir: Path,
    base: str,
    rules_dir: Path | None,
    as_of: str | None,
    profile_path: Path | None,
    config_path: Path | None,
    fmt: str,
    examples: int,
    check_version: bool,
) -> None:
    """What the pack (--rules, default the bundled one) finds on EXTRACT_DIR that BASE does not, and
    the reverse, and the kept findings whose severity, detail or evidence changed.

    Exits 4 (findings changed) when any of that differs; with --check-version, 2 when the pack's
    version step is smaller than the change needs, or rules/CHANGELOG.md has no entry for a new
    version (said in the output, which is still printed in full)."""
    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack
    from recordcheck.checks.rulechange.diff import BasePack, diff_packs, render
    from recordcheck.checks.rulechange.snapshot import changelog_versions
    from recordcheck.checks.validation.pipeline import load_extract
    from recordcheck.checks.validation.runners import make_runner

    profile, config, reference, pack = load_setup(profile_path, config_path, rules_dir)
    with BasePack(base, rules_dir or RULES_DIR) as base_dir:
        base_pack = load_pack(base_dir)
        base_reference = load_reference(
            base_pack.reference_dir, overrides=config.reference, config_path=config.path, other_version=True
        )
        moment = as_of_for(as_of, extract_dir)
        with step("Validating the extract"):
            loaded = load_extract(extract_dir, profile, reference, moment, make_runner(), config.engine, pack.suites_dir)
        try:
            with step("Running both packs"):
                result = diff_packs(
                    loaded.validation.accepted, moment, base_pack, base_reference, pack, reference, examples, loaded.unusable
                )
        finally:
            loaded.close()
    result.extract = str(extract_dir)
    result.rows = sum(c.read for c in loaded.validation.counts.values())
    result.as_of = moment.isoformat().replace("+00:00", "Z")
    result.changelog_versions = changelog_versions(pack.directory / "CHANGELOG.md")
    click.echo(render(result, fmt))
    if check_version and result.version_problems:
        click.echo("recordcheck: error: " + "; ".join(result.version_problems), err=True)
        sys.exit(int(ExitCode.USAGE_ERROR))
    if result.findings_changed:
        sys.exit(int(ExitCode.FINDINGS_CHANGED))


@rules.command("approve")
@rules_dir_option
@click.option(
    "--snapshot",
    "snapshot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the approved findings (default: sample_data/expected).",
)
@click.option(
    "--extract",
    "extract_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Extract the snapshot is taken on (default: the bundled sample).",
)
@as_of_option
@profile_option
@config_option
@handle_errors
def rules_approve(
    rules_dir: Path | None,
    snapshot_dir: Path | None,
    extract_dir: Path | None,
    as_of: str | None,
    profile_path: Path | None,
    config_path: Path | None,
) -> None:
    """Record the pack's findings on the sample as approved, after a person has read the diff.

    Refuses unless pack.yaml's version moved as the change requires (minor: findings added or a
    severity changed; major: findings removed or a rule retired). The as-of defaults to the one the
    snapshot was approved at, then to the extract's own time, then to the bundled sample's."""
    from recordcheck.checks.base.errors import ConfigError
    from recordcheck.checks.engine.engine import run_pack
    from recordcheck.checks.rulechange.snapshot import (
        SAMPLE_AS_OF,
        SAMPLE_EXTRACT,
        SNAPSHOT_DIR,
        approve,
        findings_of,
        read_approval,
        read_findings,
    )
    from recordcheck.checks.validation.pipeline import load_extract

    profile, config, reference, pack = load_setup(profile_path, config_path, rules_dir)
    directory = snapshot_dir or SNAPSHOT_DIR
    extract = extract_dir or SAMPLE_EXTRACT
    if not extract.is_dir():
        raise ConfigError(f"no sample extract at {extract} (an installed copy has none): give --extract and --snapshot")
    approval = read_approval(directory)
    stated = export_as_of(extract)
    moment = parse_as_of(
        as_of or (approval.as_of if approval and approval.as_of else None) or (stated[0] if stated else SAMPLE_AS_OF)
    )
    loaded = load_extract(extract, profile, reference, moment, settings=config.engine, suites_dir=pack.suites_dir)
    try:
        result = run_pack(pack, reference, moment, loaded.validation.accepted, "approve", unusable=loaded.unusable)
    finally:
        loaded.close()
    current = findings_of(result.register)
    retired = bool(set(read_findings(directory)["rule_id"]) - {r.id for r in pack.rules})
    click.echo(approve(current, pack.version, retired, directory, moment.isoformat().replace("+00:00", "Z")))


@click.command()
@click.option("--write", is_flag=True, help="Regenerate rules/expectations/*.json from the contract.")
def suites(write: bool) -> None:
    """Show (or --write) the Great Expectations suites generated from the extract contract."""
    from recordcheck.checks.base.resources import SUITES_DIR
    from recordcheck.checks.validation.suites import build_suite, write_suites

    if write:
        for path in write_suites():
            click.echo(f"wrote {path}")
        return
    for table in TABLES.values():
        click.echo(
            f"{table.name}: {len(build_suite(table)['expectations'])} expectations ({SUITES_DIR / (table.name + '.json')})"
        )
