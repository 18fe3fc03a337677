"""The nightly batch and its neighbours: validate an export, run it, run every force, render again."""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

import click

from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.nightly.publish import PUBLISH_MODES
from recordcheck.commands.common import (
    as_of_for,
    as_of_option,
    config_option,
    engine_options,
    export_as_of,
    handle_errors,
    load_setup,
    parse_as_of,
    print_counts,
    profile_option,
    renderer,
    rules_dir_option,
    step,
    store_option,
    validator_option,
)


@click.command()
@click.argument("extract_dir", type=click.Path(path_type=Path))
@profile_option
@config_option
@as_of_option
@rules_dir_option
@click.option(
    "--quarantine",
    "quarantine_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("quarantine.csv"),
    show_default=True,
    help="Where to write the quarantined rows and their reasons.",
)
@validator_option
@handle_errors
def validate(
    extract_dir: Path,
    profile_path: Path | None,
    config_path: Path | None,
    as_of: str | None,
    rules_dir: Path | None,
    quarantine_path: Path,
    validator: str,
) -> None:
    """Validate EXTRACT_DIR before a run: rows read, accepted and quarantined per table, by check
    and column; codes the profile does not map; rules the export cannot feed.

    Exits RUN_INCOMPLETE (9) when a run on this export would be incomplete."""
    from recordcheck.checks.engine.rules import rules_that_cannot_run, table_readers
    from recordcheck.checks.extract.coverage import defaulted_advice, unmapped_code_advice
    from recordcheck.checks.nightly.run import quarantine_over_share, write_quarantine
    from recordcheck.checks.validation.pipeline import load_extract
    from recordcheck.checks.validation.runners import make_runner

    profile, config, reference, pack = load_setup(profile_path, config_path, rules_dir)
    with step("Validating the extract"):
        loaded = load_extract(
            extract_dir,
            profile,
            reference,
            as_of_for(as_of, extract_dir),
            make_runner(validator),
            config.engine,
            pack.suites_dir,
        )
    loaded.close()
    print_counts(loaded)
    tmp = quarantine_path.with_name(f".{quarantine_path.name}.tmp")
    write_quarantine(tmp, loaded)
    tmp.replace(quarantine_path)
    click.echo(f"Quarantine: {quarantine_path}")
    advice = unmapped_code_advice(loaded.validation.unmapped_codes)
    if advice:
        click.echo("Codes that are not the contract's (their rows are quarantined):")
        for line in advice:
            click.echo(line)
    if dates := loaded.date_order_advice():
        click.echo(f"Dates: {dates}")
    defaulted = defaulted_advice(loaded.defaulted, profile)
    if defaulted:
        click.echo("Derived columns (check the map for a typo):")
        for line in defaulted:
            click.echo(line)
    unable = [
        (rule_id, why)
        for rule_id, why in rules_that_cannot_run(pack, list(loaded.validation.counts), loaded.unusable)
        if rule_id not in config.disabled_rules
    ]
    for rule_id, why in unable:
        click.echo(f"Rule {rule_id} cannot run on this export: {why}")
    problems = quarantine_over_share(
        {name: (c.read, c.quarantined, c.by_check) for name, c in loaded.validation.counts.items()}, config
    )
    if unable:
        problems.append(f"{len(unable)} rule(s) cannot run: {', '.join(r for r, _ in unable)}")
    readers = table_readers(pack, list(loaded.validation.counts), loaded.unusable, config.disabled_rules)
    gaps, warnings = loaded.profile_gaps(readers, config)
    for gap in gaps:
        click.echo(f"Profile gap: {gap}")
    for warning in warnings:
        click.echo(f"Warning: {warning}")
    problems += gaps
    if problems:
        click.echo("A run on this export would be incomplete: " + " | ".join(problems), err=True)
        sys.exit(int(ExitCode.RUN_INCOMPLETE))


@click.command()
@click.argument("extract_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder that receives a new run folder (and a 'latest' link to it).",
)
@as_of_option
@profile_option
@config_option
@rules_dir_option
@click.option(
    "--redact",
    is_flag=True,
    help="Also write report-redacted.html: ids pseudonymised (keyed hash), small counts suppressed.",
)
@validator_option
@store_option
@click.option("--keep", type=click.IntRange(min=1), help="Keep only the newest N run folders (the store keeps all history).")
@click.option(
    "--new-store",
    is_flag=True,
    help="Start a new run store though OUT_DIR holds runs it will not know (a lost or replaced store).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: every line on stderr is one JSON object (stages, warnings, the verdict, errors) for a log "
    "collector, and stdout stays empty unless --headline.",
)
@click.option("--headline", "print_headline", is_flag=True, help="With --log-format json, still print the text headline.")
@click.option(
    "--purpose",
    type=click.Choice(["nightly", "due"]),
    default="nightly",
    show_default=True,
    help="due: a daytime run to refresh the due list; stored, but never a night's baseline or a trend point.",
)
@click.option("--quiet", is_flag=True, help="No progress display, even on a terminal.")
@handle_errors
def run(
    extract_dir: Path,
    out_dir: Path,
    as_of: str | None,
    profile_path: Path | None,
    config_path: Path | None,
    rules_dir: Path | None,
    redact: bool,
    validator: str,
    store_path: Path | None,
    keep: int | None,
    new_store: bool,
    log_format: str,
    print_headline: bool,
    purpose: str,
    quiet: bool,
) -> None:
    """Validate EXTRACT_DIR, run the rule pack, and publish a run folder under OUT_DIR."""
    from recordcheck.checks.base import logs
    from recordcheck.checks.base.progress import reporter
    from recordcheck.checks.nightly.run import execute_run

    logs.configure(log_format)
    text = log_format == "text" or print_headline

    profile, config, reference, pack = load_setup(profile_path, config_path, rules_dir)
    if redact:
        from recordcheck.reports.keys import redaction_key

        redaction_key()  # a weak key stops the run here (exit 2), before anything is published
    outcome = execute_run(
        extract_dir,
        out_dir,
        profile,
        reference,
        config,
        as_of_for(as_of, extract_dir),
        pack,
        progress=reporter(log_format, quiet),
        render=renderer(config, redact),
        validator=validator,
        store_path=store_path,
        keep=keep,
        new_store=new_store,
        purpose=purpose,
    )
    import json

    from recordcheck.checks.nightly.run import headline

    run_summary = json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))
    lines = headline(run_summary)
    report_path = outcome.run_dir / "report.html"
    if text:
        print_counts(outcome.loaded)
        click.echo(f"Run {outcome.run_id}: {outcome.run_dir}")
        for name in (
            "exceptions.csv",
            "summary.json",
            "quarantine.csv",
            "manifest.json",
            "report.html",
            "report-redacted.html",
        ):
            if (outcome.run_dir / name).exists():
                click.echo(f"  {name:<22}{outcome.run_dir / name}")
        for line in lines:
            click.echo(line)
        if report_path.exists():
            click.echo(f"Report: {report_path}")
        if outcome.notified:
            click.echo(outcome.notified)
    code = (
        ExitCode.RUN_INCOMPLETE
        if outcome.incomplete
        else ExitCode.THRESHOLD_BREACHED
        if outcome.threshold_breaches
        else ExitCode.SUCCESS
    )
    for warning in (run_summary.get("input_checks") or {}).get("warnings") or []:
        logs.event("warning", logging.WARNING, reason=warning)
    logs.event(
        "run_finished",
        logging.INFO
        if code == ExitCode.SUCCESS
        else logging.WARNING
        if code == ExitCode.THRESHOLD_BREACHED
        else logging.ERROR,
        exit_code=int(code),
        exit_name=code.name,
        reason=list(outcome.incomplete or outcome.threshold_breaches or []),
        verdict=lines[-1],
        findings=run_summary["register_rows"],
        new=run_summary["changes"]["new"],
        resolved=run_summary["changes"]["resolved"],
        high_open=run_summary["open_high"],
        recording=run_summary["headline"]["recording"],
        run_dir=str(outcome.run_dir),
        report=str(report_path) if report_path.exists() else None,
    )
    if outcome.incomplete:
        if not logs.json_logs():
            click.echo("Run published but incomplete: " + " | ".join(outcome.incomplete), err=True)
        sys.exit(int(ExitCode.RUN_INCOMPLETE))
    if outcome.threshold_breaches:
        if not logs.json_logs():
            click.echo(f"Error threshold breached by: {', '.join(outcome.threshold_breaches)}", err=True)
        sys.exit(int(ExitCode.THRESHOLD_BREACHED))


def national_as_of(as_of: str | None, forces: Path) -> datetime:
    """--as-of; without it, the forces' own export time when every local extract states the same
    one (as_of.txt or generation.json); otherwise now, said so."""
    from recordcheck.checks.national.forces import load_forces

    if as_of is not None:
        return parse_as_of(as_of)
    stated = set()
    for force in load_forces(forces):
        own = export_as_of(None if force.is_uri and not force.extract.startswith("file://") else force.local_extract)
        stated.add(own[0] if own else None)
    if len(stated) == 1 and None not in stated:
        (instant,) = stated
        click.echo(f"--as-of not given: the forces' exports' own time, {instant}", err=True)
        return parse_as_of(instant)
    if stated - {None}:
        click.echo("--as-of not given and the forces' exports state different times (or some none): now", err=True)
    return parse_as_of(None)


@click.command()
@click.argument("forces", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@as_of_option
@rules_dir_option
@validator_option
@engine_options
@click.option(
    "--redact",
    is_flag=True,
    help="Also write national-redacted.html, the page that leaves policing: rates only, small counts suppressed.",
)
@click.option(
    "--redact-below",
    type=click.IntRange(2, 1000),
    default=5,
    show_default=True,
    help="k for --redact: no count below it, and no rate resting on one.",
)
@click.option(
    "--publish",
    type=click.Choice(PUBLISH_MODES),
    default="folder",
    show_default=True,
    help="folder: renamed into place, `latest` a link. object: OUT is object storage (no rename, no link): "
    "each file written once, then OUT/<run id>/_COMMITTED, then the OUT/_latest pointer.",
)
@click.option(
    "--staging",
    "staging_root",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --publish object: where the run is staged first (a folder every Spark executor sees on a "
    "cluster; default recordcheck-national in the system's temporary folder).",
)
@handle_errors
def national(
    forces: Path,
    out_dir: Path,
    as_of: str | None,
    redact: bool,
    redact_below: int,
    publish: str,
    staging_root: Path | None,
    rules_dir: Path | None,
    validator: str,
    engine: str,
    master: str | None,
    verbose: bool,
) -> None:
    """Check every force in FORCES (a manifest, or a folder of force folders) with one pack.

    Publishes OUT_DIR/<run id>/ with exceptions/ (Parquet, by force), summary.json,
    quarantine.parquet, manifest.json and national.html. A refused force is named and the
    others are still checked (exit 11)."""
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack
    from recordcheck.checks.national.job import execute_national, headline_lines
    from recordcheck.reports.national import REDACTED_PAGE, render_national

    if engine == "spark":
        from recordcheck.checks.spark.session import require_pyspark

        require_pyspark()
    pack = load_pack(rules_dir or RULES_DIR)
    from recordcheck.reports.keys import redaction_key

    redaction_key()  # a weak key stops the run here (exit 2), before anything is published
    outcome = execute_national(
        forces,
        out_dir,
        national_as_of(as_of, forces),
        pack,
        engine=engine,
        master=master,
        verbose=verbose,
        validator=validator,
        render=lambda run_dir: render_national(run_dir, redact_below if redact else None),
        on_force=lambda code, state: click.echo(f"  {code}: {state}", err=True) if state != "checking" else None,
        publish=publish,
        staging_root=staging_root,
    )
    click.echo(f"National run {outcome.run_id}: {outcome.run_dir}")
    for line in headline_lines(outcome):
        click.echo(line)
    click.echo(f"Report: {outcome.run_dir / 'national.html'}")
    if redact:
        click.echo(f"Disclosure-safe: {outcome.run_dir / REDACTED_PAGE}")
    if outcome.refused:
        sys.exit(int(ExitCode.FORCES_REFUSED))


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--redact", is_flag=True, help="Write the disclosure-safe variant (report-redacted.html).")
@config_option
@handle_errors
def report(run_dir: Path, redact: bool, config_path: Path | None) -> None:
    """Render the HTML report again from RUN_DIR's own results."""
    import json

    from recordcheck.checks.base.config import load_config
    from recordcheck.checks.nightly.store import RELEASED, STORE_NAME, RunStore
    from recordcheck.reports.render import render_run

    options = load_config(config_path).report
    store_file = run_dir.resolve().parent / STORE_NAME
    if not (redact and store_file.is_file()):
        click.echo(f"Report: {render_run(run_dir, options, redact=redact)}")
        return
    # a disclosure-safe release: measured against the last one, and remembered in the store
    from datetime import UTC, datetime

    from recordcheck.checks.nightly.comparison import single_writer

    with single_writer(store_file.parent, store_file, "recordcheck report --redact"), RunStore(store_file) as store:
        path = render_run(run_dir, options, redact=True, released=store.latest_release(before_run=run_dir.resolve().name))
        cells = json.loads((path.parent / RELEASED).read_text(encoding="utf-8"))
        store.add_release(run_dir.resolve().name, cells, datetime.now(UTC))
    click.echo(f"Report: {path}")


@click.command()
def keygen() -> None:
    """Print a new 256-bit redaction key (64 hex characters) for RECORDCHECK_REDACTION_KEY, and its
    key id. Keep it with the force's secrets: whoever holds it can test ids against pseudonyms. A
    new key (rotation) gives new pseudonyms; reports name the key id they used."""
    from recordcheck.reports.keys import key_id, new_key

    key = new_key()
    click.echo(key)
    click.echo(f"key id {key_id(bytes.fromhex(key))}", err=True)
