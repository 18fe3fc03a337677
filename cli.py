"""recordcheck command line: thin commands over the `checks` engine and the `reports` renderer."""

from __future__ import annotations

import errno
import functools
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from recordcheck.checks.contract import TABLES
from recordcheck.checks.errors import Interrupted, RecordcheckError
from recordcheck.checks.exitcodes import ExitCode


def _parse_as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 instant (e.g. 2026-04-01T00:00:00Z)") from None
    if parsed.tzinfo is None:
        from recordcheck.checks.london import LONDON

        parsed = parsed.replace(tzinfo=LONDON)
    return parsed.astimezone(UTC)


ERROR_LOG = "recordcheck-error.log"


def _log_internal_error(exc: BaseException, folder: Path) -> Path | None:
    """Write where the error happened (frames only: file, line, function) and its type.

    Never the exception's message or local values: a parser's message can quote a record."""
    frames = traceback.extract_tb(exc.__traceback__)
    lines = [f"{datetime.now(UTC).isoformat()} internal error: {type(exc).__module__}.{type(exc).__name__}"]
    lines += [f"  {f.filename}:{f.lineno} in {f.name}" for f in frames]
    for target in (folder, Path.cwd()):
        try:
            target.mkdir(parents=True, exist_ok=True)
            with (target / ERROR_LOG).open("a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            return target / ERROR_LOG
        except OSError:
            continue
    return None


def _fail(code: ExitCode, message: str) -> None:
    click.echo(f"recordcheck: {message}", err=True)
    sys.exit(int(code))


_SIGNALLED: list[str] = []
"""Signals received: a library may turn the Interrupted we raise into its own error on the way up."""


def _on_signal(signum: int, _frame: Any) -> None:
    _SIGNALLED.append(signal.Signals(signum).name)
    raise Interrupted(signal.Signals(signum).name)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn every way a command can end into one clear line and its own documented exit code.

    SIGTERM and SIGINT unwind like an error (the staging folder is removed) and exit INTERRUPTED;
    an unexpected error exits INTERNAL_ERROR, never a code that means something else."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _on_signal)
        try:
            return func(*args, **kwargs)
        except RecordcheckError as exc:
            label = "input rejected" if exc.exit_code == ExitCode.INPUT_REJECTED else "error"
            click.echo(f"recordcheck: {label}: {exc}", err=True)
            if exc.exit_code in (ExitCode.INPUT_REJECTED, ExitCode.OUTPUT_UNAVAILABLE):
                click.echo("Nothing was published.", err=True)
            sys.exit(int(exc.exit_code))
        except (Interrupted, KeyboardInterrupt, Exception) as exc:
            code, message = _classify(exc)
            if code == ExitCode.INTERNAL_ERROR:
                message += f"; details in {_log_internal_error(exc, Path(kwargs.get('out_dir') or '.'))}"
            _fail(code, message)

    return wrapper


def _classify(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one line for a failure that is not one of recordcheck's own errors."""
    if isinstance(exc, Interrupted | KeyboardInterrupt) or _SIGNALLED:
        # a library may turn the Interrupted raised by the handler into its own error
        return ExitCode.INTERRUPTED, f"interrupted ({_SIGNALLED[0] if _SIGNALLED else 'SIGINT'}); nothing was published"
    # DuckDB's is matched by name, so that --help need not import DuckDB
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryException":
        return ExitCode.RESOURCE_EXHAUSTED, "out of memory; nothing was published (raise engine.memory_limit)"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        where = f" ({exc.filename})" if exc.filename else ""
        return ExitCode.OUTPUT_UNAVAILABLE, f"cannot write{where}: {os.strerror(exc.errno)}; nothing was published"
    return ExitCode.INTERNAL_ERROR, f"internal error ({type(exc).__name__})"


def profile_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--profile",
        "profile_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Source profile YAML mapping the force's export onto the contract (default: canonical names).",
    )(func)


def store_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--store",
        "store_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="The run store (default: OUT_DIR/recordcheck.duckdb).",
    )(func)


def config_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Run config YAML: reference-data overrides, disabled rules, thresholds.",
    )(func)


def as_of_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--as-of",
        "as_of",
        metavar="ISO_INSTANT",
        help="Reference instant for 'still pending' and 'overdue' (default: now). No offset = Europe/London.",
    )(func)


def rules_dir_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--rules",
        "rules_dir",
        type=click.Path(file_okay=False, exists=True, path_type=Path),
        help="Rule pack folder (default: the bundled rules/).",
    )(func)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, --master and --verbose: where the rule SQL runs (DuckDB here, or Spark)."""
    func = click.option("--verbose", is_flag=True, help="Let Spark's own INFO and WARN logging through.")(func)
    func = click.option(
        "--master",
        metavar="URL",
        help="Spark master: local[N], spark://host:port, yarn, k8s://... (default: spark-submit's, else local[*]).",
    )(func)
    return click.option(
        "--engine",
        type=click.Choice(["duckdb", "spark"]),
        default="duckdb",
        show_default=True,
        help="Embedded DuckDB, or Apache Spark (pip install 'recordcheck[spark]').",
    )(func)


def validator_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--validator",
        type=click.Choice(["sql", "great-expectations"]),
        default="sql",
        show_default=True,
        help="How the expectation suites are executed: compiled to SQL in DuckDB, or by Great Expectations "
        "(slower; for cross-checking). Both give the same quarantine.",
    )(func)


@contextmanager
def _step(label: str) -> Iterator[None]:
    """Show a step on a terminal; stay silent in a scheduler's log. Never shows record content."""
    interactive = sys.stderr.isatty()
    started = time.perf_counter()
    if interactive:
        click.echo(f"{label} ...", err=True, nl=False)
    yield
    if interactive:
        click.echo(f" done ({time.perf_counter() - started:.1f} s)", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recordcheck")
def cli() -> None:
    """Check a police force's crime-recording extracts against the Crime Recording Rules."""


def _load_setup(
    profile_path: Path | None, config_path: Path | None, rules_dir: Path | None = None
) -> tuple[Any, Any, Any, Any]:
    """Profile, config, rule pack and its reference data (with the config's overrides), all
    checked before any reading. A pack given with --rules is the whole pack: its rules, macros,
    reference data and suites."""
    from recordcheck.checks.config import load_config
    from recordcheck.checks.profile import load_profile
    from recordcheck.checks.refdata import load_reference
    from recordcheck.checks.rules import RULES_DIR, load_pack

    config = load_config(config_path)
    pack = load_pack(rules_dir or RULES_DIR)
    config.check_rule_ids([r.id for r in pack.rules])
    config.check_families(sorted({r.family for r in pack.rules}))
    reference = load_reference(pack.reference_dir, overrides=config.reference, config_path=config.path)
    return load_profile(profile_path), config, reference, pack


def _print_counts(loaded: Any) -> None:
    counts = loaded.validation.counts
    by_column = loaded.validation.quarantine.group_by(["table", "check", "column"]).agg(rows=_n_unique_rows())
    click.echo(f"{'table':<16}{'read':>10}{'accepted':>10}{'quarantined':>13}")
    for name, c in counts.items():
        click.echo(f"{name:<16}{c.read:>10}{c.accepted:>10}{c.quarantined:>13}")
        for check, column, n in (
            by_column.filter(table=name)
            .sort("rows", "check", descending=[True, False])
            .select("check", "column", "rows")
            .iter_rows()
        ):
            click.echo(f"{'':<18}{check}" + (f" ({column})" if column else "") + f": {n} row(s)")
    total_read = sum(c.read for c in counts.values())
    total_q = sum(c.quarantined for c in counts.values())
    click.echo(f"{'all tables':<16}{total_read:>10}{total_read - total_q:>10}{total_q:>13}")


def _n_unique_rows() -> Any:
    import polars as pl

    return pl.col("row_number").n_unique()


@cli.command()
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
    from recordcheck.checks.coverage import defaulted_advice, rules_that_cannot_run, unmapped_code_advice
    from recordcheck.checks.pipeline import load_extract
    from recordcheck.checks.run import quarantine_over_share, write_quarantine
    from recordcheck.checks.validate import make_runner

    profile, config, reference, pack = _load_setup(profile_path, config_path, rules_dir)
    with _step("Validating the extract"):
        loaded = load_extract(
            extract_dir, profile, reference, _parse_as_of(as_of), make_runner(validator), config.engine, pack.suites_dir
        )
    loaded.close()
    _print_counts(loaded)
    tmp = quarantine_path.with_name(f".{quarantine_path.name}.tmp")
    write_quarantine(tmp, loaded)
    tmp.replace(quarantine_path)
    click.echo(f"Quarantine: {quarantine_path}")
    advice = unmapped_code_advice(loaded.validation.unmapped_codes)
    if advice:
        click.echo("Codes that are not the contract's (their rows are quarantined):")
        for line in advice:
            click.echo(line)
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
    if problems:
        click.echo("A run on this export would be incomplete: " + " | ".join(problems), err=True)
        sys.exit(int(ExitCode.RUN_INCOMPLETE))


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed; same seed, same extract.")
@click.option(
    "--scale",
    type=click.FloatRange(min=0.0001, max=50),
    default=0.05,
    show_default=True,
    help="1 = one year of a large force (~40k referrals, ~600k incidents, ~170k crimes).",
)
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@click.option(
    "--shape",
    type=click.Choice(["canonical", "force"]),
    default="canonical",
    show_default=True,
    help="force: the same data as a force's own systems export it (names, codes, dd/mm/yyyy, Y/N, cp1252, "
    "links in a delimited column), with profile.yaml to map it.",
)
@click.option(
    "--nights",
    type=click.IntRange(min=1, max=366),
    help="Write N consecutive nights (night-01 ...), a day apart, each grown and changed, each with its key.",
)
@click.option(
    "--forces",
    type=click.IntRange(min=2, max=60),
    help="Write N force extracts of different sizes (adding up to --scale), seeds and districts, with forces.yaml.",
)
@as_of_option
@handle_errors
def generate(
    out_dir: Path, seed: int, scale: float, fmt: str, shape: str, nights: int | None, forces: int | None, as_of: str | None
) -> None:
    """Write a synthetic extract with its answer key (key.csv) into OUT_DIR."""
    from recordcheck.checks.errors import ConfigError
    from recordcheck.checks.generate import DEFAULT_AS_OF, write_extract
    from recordcheck.checks.generate import generate as build

    if shape == "force" and fmt != "csv":
        raise ConfigError("--shape force writes CSV, as force systems export; leave out --format")
    moment = _parse_as_of(as_of) if as_of else DEFAULT_AS_OF
    if forces is not None:
        from recordcheck.checks.generate.forces import write_forces

        if shape != "canonical" or fmt != "csv" or nights is not None:
            raise ConfigError("--forces chooses each force's shape itself; leave out --shape, --format and --nights")
        with _step(f"Generating {forces} forces, total scale {scale} (seed {seed})"):
            written = write_forces(out_dir, forces, seed, scale, moment)
        for force in written:
            extra = f", {force.bad_rows} bad rows" if force.bad_rows else ""
            click.echo(f"{force.code}  scale {force.scale:<8} {force.shape:<9} {force.findings:>5} finding(s) in key{extra}")
        manifest = out_dir / "forces.yaml"
        click.echo(f"Manifest: {manifest}  (as-of {moment.isoformat()}; recordcheck national {manifest} --out OUT)")
        return
    with _step(f"Generating scale {scale} (seed {seed})"):
        extract = build(seed=seed, scale=scale, as_of=moment)
        if nights is not None:
            from recordcheck.checks.generate.nights import write_nights

            if shape != "canonical" or fmt != "csv":
                raise ConfigError("--nights writes canonical CSV extracts")
            for night in write_nights(extract, out_dir, nights):
                click.echo(f"night {night.number:02d} as of {night.as_of.isoformat()}: {night.key.height} finding(s) in key")
                for change in night.changes:
                    click.echo(f"    {change}")
            click.echo(f"Nights: {out_dir}/night-01 ... night-{nights:02d} (each with key.csv; run each with its as-of)")
            return
        elif shape == "force":
            from recordcheck.checks.generate.force_shape import write_force_export

            write_force_export(extract, out_dir)
        else:
            write_extract(extract, out_dir, fmt)
    for name, n in extract.counts.items():
        click.echo(f"{name:<16}{n:>10} rows")
    click.echo(f"{'key.csv':<16}{extract.key.height:>10} injected breaches")
    click.echo(f"Extract: {out_dir}  (as-of {moment.isoformat()}; pass --as-of to run)")
    if shape == "force":
        click.echo(f"Profile: {out_dir / 'profile.yaml'}  (pass --profile to run)")


@cli.command()
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
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object per stage on stderr (stage, seconds, counts) for a scheduler's log collector.",
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
    log_format: str,
    quiet: bool,
) -> None:
    """Validate EXTRACT_DIR, run the rule pack, and publish a run folder under OUT_DIR."""
    from recordcheck.checks.progress import reporter
    from recordcheck.checks.run import execute_run

    profile, config, reference, pack = _load_setup(profile_path, config_path, rules_dir)
    outcome = execute_run(
        extract_dir,
        out_dir,
        profile,
        reference,
        config,
        _parse_as_of(as_of),
        pack,
        progress=reporter(log_format, quiet),
        render=_renderer(config, redact),
        validator=validator,
        store_path=store_path,
        keep=keep,
    )
    _print_counts(outcome.loaded)
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
    import json

    from recordcheck.checks.run import headline

    for line in headline(json.loads((outcome.run_dir / "summary.json").read_text(encoding="utf-8"))):
        click.echo(line)
    report_path = outcome.run_dir / "report.html"
    if report_path.exists():
        click.echo(f"Report: {report_path}")
    if outcome.incomplete:
        click.echo("Run published but incomplete: " + " | ".join(outcome.incomplete), err=True)
        sys.exit(int(ExitCode.RUN_INCOMPLETE))
    if outcome.threshold_breaches:
        click.echo(f"Error threshold breached by: {', '.join(outcome.threshold_breaches)}", err=True)
        sys.exit(int(ExitCode.THRESHOLD_BREACHED))


@cli.command()
@click.argument("forces", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@as_of_option
@rules_dir_option
@validator_option
@engine_options
@handle_errors
def national(
    forces: Path,
    out_dir: Path,
    as_of: str | None,
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
    from recordcheck.checks.national.job import execute_national, headline_lines
    from recordcheck.checks.rules import RULES_DIR, load_pack
    from recordcheck.reports.national import render_national

    if engine == "spark":
        from recordcheck.checks.spark.session import require_pyspark

        require_pyspark()
    pack = load_pack(rules_dir or RULES_DIR)
    outcome = execute_national(
        forces,
        out_dir,
        _parse_as_of(as_of),
        pack,
        engine=engine,
        master=master,
        verbose=verbose,
        validator=validator,
        render=render_national,
        on_force=lambda code, state: click.echo(f"  {code}: {state}", err=True) if state != "checking" else None,
    )
    click.echo(f"National run {outcome.run_id}: {outcome.run_dir}")
    for line in headline_lines(outcome):
        click.echo(line)
    click.echo(f"Report: {outcome.run_dir / 'national.html'}")
    if outcome.refused:
        sys.exit(int(ExitCode.FORCES_REFUSED))


def _renderer(config: Any, redact: bool = False) -> Any:
    """The reports layer: it reads the run folder's own results, never the extract."""
    from recordcheck.reports.render import render_run

    def render(run_dir: Path, _manifest: dict[str, Any]) -> None:
        render_run(run_dir, config.report)
        if redact:
            render_run(run_dir, config.report, redact=True)

    return render


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--redact", is_flag=True, help="Write the disclosure-safe variant (report-redacted.html).")
@config_option
@handle_errors
def report(run_dir: Path, redact: bool, config_path: Path | None) -> None:
    """Render the HTML report again from RUN_DIR's own results."""
    from recordcheck.checks.config import load_config
    from recordcheck.reports.render import render_run

    path = render_run(run_dir, load_config(config_path).report, redact=redact)
    click.echo(f"Report: {path}")


@cli.group()
def rules() -> None:
    """List, explain and test the rule pack."""


@rules.command("list")
@rules_dir_option
@handle_errors
def rules_list(rules_dir: Path | None) -> None:
    """One line per rule: id, name, finding, severity, title."""
    from recordcheck.checks.refdata import load_reference
    from recordcheck.checks.rules import RULES_DIR, load_pack

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
    from recordcheck.checks.refdata import load_reference
    from recordcheck.checks.rules import RULES_DIR, load_pack

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
        ("Population (the denominator)", rule.population),
        ("Breaches", rule.breaches),
        ("Register detail", rule.detail),
        ("Test cases", ", ".join(c.name for c in rule.cases)),
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
    from recordcheck.checks.config import load_config
    from recordcheck.checks.refdata import load_reference
    from recordcheck.checks.rules import RULES_DIR, load_pack
    from recordcheck.checks.ruletest import run_cases

    pack = load_pack(rules_dir or RULES_DIR)
    config = load_config(config_path)
    reference = load_reference(pack.reference_dir, overrides=config.reference, config_path=config.path)
    rule_ids = tuple(r.upper() for r in rule_ids)
    unknown = [r for r in rule_ids if r not in {x.id for x in pack.rules}]
    if unknown:
        raise click.BadParameter(f"unknown rule(s) {', '.join(unknown)}", param_hint="RULE_IDS")
    if engine == "spark":
        from recordcheck.checks.spark.engine import SPARK_CASE_WORKERS, spark_case_engine
        from recordcheck.checks.spark.session import spark_session

        engine_for = spark_case_engine(spark_session(master, verbose))
        outcomes = run_cases(pack, reference, list(rule_ids) or None, engine_for, workers=SPARK_CASE_WORKERS)
    else:
        outcomes = run_cases(pack, reference, list(rule_ids) or None)
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        click.echo(f"FAIL {outcome.message}")
    click.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed:
        sys.exit(1)


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
) -> None:
    """What the pack (--rules, default the bundled one) finds on EXTRACT_DIR that BASE does not, and
    the reverse. Exits 4 (findings changed) when any rule's findings differ."""
    from recordcheck.checks.diff import BasePack, diff_packs, render
    from recordcheck.checks.pipeline import load_extract
    from recordcheck.checks.refdata import load_reference
    from recordcheck.checks.rules import RULES_DIR, load_pack
    from recordcheck.checks.validate import make_runner

    profile, config, reference, pack = _load_setup(profile_path, config_path, rules_dir)
    with BasePack(base, rules_dir or RULES_DIR) as base_dir:
        base_pack = load_pack(base_dir)
        base_reference = load_reference(base_pack.reference_dir, overrides=config.reference, config_path=config.path)
        moment = _parse_as_of(as_of)
        with _step("Validating the extract"):
            loaded = load_extract(extract_dir, profile, reference, moment, make_runner(), config.engine, pack.suites_dir)
        try:
            with _step("Running both packs"):
                result = diff_packs(
                    loaded.validation.accepted, moment, base_pack, base_reference, pack, reference, examples, loaded.unusable
                )
        finally:
            loaded.close()
    click.echo(render(result, fmt))
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
@handle_errors
def rules_approve(rules_dir: Path | None, snapshot_dir: Path | None, extract_dir: Path | None, as_of: str | None) -> None:
    """Record the pack's findings on the sample as approved, after a person has read the diff.

    Refuses unless pack.yaml's version moved as the change requires (minor: findings added;
    major: findings removed or a rule retired)."""
    from recordcheck.checks.engine import run_pack
    from recordcheck.checks.errors import ConfigError
    from recordcheck.checks.pipeline import load_extract
    from recordcheck.checks.snapshot import SAMPLE_AS_OF, SAMPLE_EXTRACT, SNAPSHOT_DIR, approve, findings_of, read_findings

    profile, _, reference, pack = _load_setup(None, None, rules_dir)
    directory = snapshot_dir or SNAPSHOT_DIR
    extract = extract_dir or SAMPLE_EXTRACT
    if not extract.is_dir():
        raise ConfigError(f"no sample extract at {extract} (an installed copy has none): give --extract and --snapshot")
    moment = _parse_as_of(as_of or SAMPLE_AS_OF)
    loaded = load_extract(extract, profile, reference, moment, suites_dir=pack.suites_dir)
    try:
        result = run_pack(pack, reference, moment, loaded.validation.accepted, "approve", unusable=loaded.unusable)
    finally:
        loaded.close()
    current = findings_of(result.register)
    retired = bool(set(read_findings(directory)["rule_id"]) - {r.id for r in pack.rules})
    click.echo(approve(current, pack.version, retired, directory))


@cli.command()
@click.option("--write", is_flag=True, help="Regenerate rules/expectations/*.json from the contract.")
def suites(write: bool) -> None:
    """Show (or --write) the Great Expectations suites generated from the extract contract."""
    from recordcheck.checks.contract import TABLES
    from recordcheck.checks.suites import SUITES_DIR, build_suite, write_suites

    if write:
        for path in write_suites():
            click.echo(f"wrote {path}")
        return
    for table in TABLES.values():
        click.echo(
            f"{table.name}: {len(build_suite(table)['expectations'])} expectations ({SUITES_DIR / (table.name + '.json')})"
        )


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--size", type=click.IntRange(min=1), help="Reports to sample (or give --margin).")
@click.option("--margin", type=click.FloatRange(min=0.001, max=0.5), help="Target 95% margin of error; sets the size.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same run, same seed: same sample.")
@click.option("--allocation", type=click.Choice(["proportional", "neyman"]), default="proportional", show_default=True)
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), required=True, help=".xlsx or .csv")
@config_option
@handle_errors
def sample(
    run_dir: Path, size: int | None, margin: float | None, seed: int, allocation: str, file: Path, config_path: Path | None
) -> None:
    """Draw a stratified random sample of RUN_DIR's reports for review by hand: a worksheet with
    empty verdict columns, and the screen's findings in FILE.screen.csv beside it."""
    from recordcheck.checks.config import load_config
    from recordcheck.checks.errors import ConfigError
    from recordcheck.checks.sample import take_sample

    if (size is None) == (margin is None):
        raise ConfigError("give one of --size and --margin")
    strata = load_config(config_path).sample_strata
    drawn = take_sample(run_dir, file, size, seed, allocation, margin, strata)
    click.echo(f"Sample: {file} ({drawn['size']:,} reports; seed {seed}; {allocation} allocation)")
    for stratum, n in drawn["allocation"].items():
        click.echo(f"  {stratum:<45}{n:>6} of {drawn['population'][stratum]:>8,}")
    click.echo(f"Screen's findings (do not show the reviewers): {file.with_name(file.stem + '.screen.csv')}")


@cli.command()
@click.argument("worksheet", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the estimate as JSON.")
@click.option("--annual-recorded", type=click.IntRange(min=1), help="Recorded crimes a year, for the unrecorded estimate.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Keep the estimate in this OUT_DIR's run store: later reports show it beside the screen's rate.",
)
@store_option
@config_option
@handle_errors
def estimate(
    worksheet: Path,
    json_path: Path | None,
    annual_recorded: int | None,
    out_dir: Path | None,
    store_path: Path | None,
    config_path: Path | None,
) -> None:
    """Estimate the recording, timeliness and classification rates from a reviewed audit sample
    (stratified combined ratio estimator), and measure the nightly screen against the reviewers."""
    import json

    from recordcheck.checks.config import load_config
    from recordcheck.checks.estimate import estimate as compute

    annual = annual_recorded or load_config(config_path).report.get("annual_recorded_crime")
    result = compute(worksheet, annual)

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1%}"

    for name in ("recording", "timeliness", "classification"):
        m = result[name]
        click.echo(
            f"{name:<15}{pct(m['rate']):>8}  95% CI {pct(m['ci_low'])} to {pct(m['ci_high'])}  "
            f"(inspection-style +/-{pct(m['margin_normal'])}; Wilson {pct(m['wilson_low'])} to {pct(m['wilson_high'])}; "
            f"{m['y']:,} of {m['x']:,} in {m['reviewed']:,} reviewed)"
        )
        for warning in m["warnings"]:
            click.echo(f"  note: {warning}")
    if result["unrecorded_per_year"]:
        u = result["unrecorded_per_year"]
        click.echo(f"unrecorded a year: {u['estimate']:,.0f} (95% CI {u['low']:,.0f} to {u['high']:,.0f})")
    if result["calibration"]:
        click.echo("the nightly screen against the reviewers:")
        for case, c in result["calibration"].items():
            click.echo(
                f"  {case:<18} tp {c['tp']:>4} fp {c['fp']:>4} fn {c['fn']:>4} tn {c['tn']:>5}  "
                f"precision {pct(c['precision'])}  recall {pct(c['recall'])}"
            )
    click.echo(f"{result['skipped_rows']:,} row(s) not yet reviewed were left out")
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if out_dir is not None:
        from datetime import UTC, datetime

        from recordcheck.checks.nightly import single_writer
        from recordcheck.checks.store import STORE_NAME, RunStore

        store_file = store_path or out_dir / STORE_NAME
        with single_writer(out_dir, store_file, "recordcheck estimate"), RunStore(store_file) as store:
            store.add_audit(result, worksheet.name, datetime.now(UTC))
        click.echo(f"Kept in {store_file}: the next report shows it beside the screen's rate")


@cli.group()
def review() -> None:
    """Auditors' decisions on findings: export a worklist, import the decisions made on it."""


@review.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), required=True, help=".xlsx or .csv")
@handle_errors
def review_export(out_dir: Path, file: Path) -> None:
    """Write the latest run's findings as a worklist (open ones first) with empty decision columns."""
    from recordcheck.checks.review import export_worklist

    rows = export_worklist(out_dir, file)
    click.echo(f"Worklist: {file} ({rows:,} finding(s)); fill decision, reviewer, reason (and until for a waiver)")


@review.command("import")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@store_option
@handle_errors
def review_import(out_dir: Path, file: Path, store_path: Path | None) -> None:
    """Take decisions back from a worklist: all of them, or none when any row is bad."""
    from recordcheck.checks.nightly import single_writer
    from recordcheck.checks.review import import_decisions
    from recordcheck.checks.store import STORE_NAME, RunStore

    store_path = store_path or out_dir / STORE_NAME
    with single_writer(out_dir, store_path, "recordcheck review import"), RunStore(store_path) as store:
        count = import_decisions(file, store)
    click.echo(f"Imported {count:,} decision(s) from {file}; they apply from the next run")


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@store_option
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@handle_errors
def history(out_dir: Path, store_path: Path | None, limit: int) -> None:
    """The last runs, one line each: id, as-of, exit code, rows read, exceptions, new, resolved,
    open high-severity findings, recording rate."""
    from recordcheck.checks.store import STORE_NAME, RunStore

    with RunStore(store_path or out_dir / STORE_NAME) as store:
        runs = store.history(limit)
    click.echo(
        f"{'run':<32}{'as of':<18}{'exit':>5}{'rows read':>11}{'exceptions':>11}{'new':>6}{'resolved':>9}"
        f"{'open high':>10}{'recording':>11}"
    )
    for r in runs.iter_rows(named=True):
        rate = "-" if r["recording_rate"] is None else f"{r['recording_rate']:.2%}"
        click.echo(
            f"{r['run_id']:<32}{r['as_of']:%Y-%m-%d %H:%M} {r['exit_code']:>5}{r['rows_read']:>11,}{r['exceptions']:>11,}"
            f"{r['new_findings']:>6,}{r['resolved']:>9,}{r['open_high']:>10,}{rate:>11}"
        )


@cli.group()
def profile() -> None:
    """Adopt an export: draft a source profile from it, then check what the profile covers."""


@profile.command("draft")
@click.argument("export_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@handle_errors
def profile_draft(export_dir: Path, out_path: Path, force: bool) -> None:
    """Draft a profile from the files in EXPORT_DIR: each choice with its evidence as a comment,
    and a TODO line for whatever needs a person. Reads names, codes and value shapes, never free text."""
    from recordcheck.checks.errors import ConfigError
    from recordcheck.checks.profile_draft import draft_profile, render, todos

    if out_path.exists() and not force:
        raise ConfigError(f"{out_path} exists; give --force to overwrite it")
    with _step(f"Drafting a profile from {export_dir}"):
        text = render(draft_profile(export_dir))
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)
    left = todos(text)
    click.echo(f"Draft: {out_path} ({len(left)} TODO line(s) for a person)")
    for path in left:
        click.echo(f"  TODO {path}")
    click.echo(f"Next: recordcheck profile check {export_dir} --profile {out_path}")


@profile.command("check")
@click.argument("export_dir", type=click.Path(path_type=Path))
@profile_option
@config_option
@rules_dir_option
@as_of_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@handle_errors
def profile_check(
    export_dir: Path,
    profile_path: Path | None,
    config_path: Path | None,
    rules_dir: Path | None,
    as_of: str | None,
    fmt: str,
) -> None:
    """What a profile makes of EXPORT_DIR: per canonical column the force column that fills it, how
    full and how readable it is; unused force columns; unmapped codes; rules that cannot run.

    Exits RUN_INCOMPLETE (9) when a needed column is missing or empty, or a column is mostly
    unreadable; INPUT_REJECTED (3) when a required file or column is missing."""
    import json

    from recordcheck.checks.pipeline import load_extract
    from recordcheck.checks.profile_check import check_profile, render_json, render_text

    source_profile, config, reference, pack = _load_setup(profile_path, config_path, rules_dir)
    with _step("Reading the export through the profile"):
        loaded = load_extract(
            export_dir, source_profile, reference, _parse_as_of(as_of), settings=config.engine, suites_dir=pack.suites_dir
        )
    try:
        result = check_profile(loaded, pack, config, source_profile)
    finally:
        loaded.close()
    if fmt == "json":
        click.echo(json.dumps(render_json(result), indent=2))
    else:
        for line in render_text(result):
            click.echo(line)
    if result.problems:
        click.echo("This profile would give an incomplete run: " + " | ".join(result.problems), err=True)
        sys.exit(int(ExitCode.RUN_INCOMPLETE))


@cli.command()
@click.argument("table", required=False, type=click.Choice(list(TABLES)))
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
def contract(table: str | None, fmt: str) -> None:
    """Print the canonical extract contract: every table and column, its type, whether it is
    required, its allowed values and what it means. docs/contract.md is this output."""
    from recordcheck.checks.contract_doc import contract_json, contract_markdown

    click.echo(contract_json(table) if fmt == "json" else contract_markdown(table), nl=False)
    if fmt == "json":
        click.echo()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
