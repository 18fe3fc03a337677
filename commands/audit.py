"""Audit work on published runs: samples for review by hand, estimates from them, decisions on
findings, the run history, and the due list."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from recordcheck.commands.common import config_option, existing_store, handle_errors, store_option


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--size", type=click.IntRange(min=1), help="Reports to sample (or give --margin).")
@click.option(
    "--margin",
    type=click.FloatRange(min=0.001, max=0.5),
    help="Target 95% margin of error on the recording rate in crimes due; sets the size.",
)
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
    from recordcheck.checks.audit.sample import take_sample
    from recordcheck.checks.base.config import load_config
    from recordcheck.checks.base.errors import ConfigError

    if (size is None) == (margin is None):
        raise ConfigError("give one of --size and --margin")
    config = load_config(config_path)
    drawn = take_sample(
        run_dir,
        file,
        size,
        seed,
        allocation,
        margin,
        config.sample_strata,
        config.sample_minimum,
        config.sample_neyman_floor,
    )
    click.echo(
        f"Sample: {file} ({drawn['size']:,} reports, about {drawn['expected_crimes_due']:,} crimes due by the screen; "
        f"seed {seed}; {allocation} allocation)"
    )
    if drawn["raised_to_minimum"]:
        click.echo(
            f"  raised from {drawn['asked']:,} so that each stratum has {drawn['minimum']} reviewed reports "
            "(or all it holds): sample.min_per_stratum"
        )
    click.echo(f"  {'stratum':<45}{'sample':>6}    {'reports':>8} {'crimes due':>11}")
    for stratum, n in drawn["allocation"].items():
        click.echo(f"  {stratum:<45}{n:>6} of {drawn['population'][stratum]:>8,} {drawn['crimes_due'][stratum]:>11,}")
    click.echo(f"Screen's findings (do not show the reviewers): {file.with_name(file.stem + '.screen.csv')}")


@click.command()
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

    from recordcheck.checks.audit.estimate import estimate as compute
    from recordcheck.checks.base.config import load_config

    annual = annual_recorded or load_config(config_path).report.get("annual_recorded_crime")
    result = compute(worksheet, annual)

    from recordcheck.checks.base.stats import percent as pct  # the report's rounding, so the two agree

    if result["sampled_run"]:
        click.echo(f"sample drawn from run {result['sampled_run']} (reports first made {result['period'] or '?'})")

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

        from recordcheck.checks.nightly.comparison import single_writer
        from recordcheck.checks.nightly.store import STORE_NAME, RunStore

        store_file = store_path or out_dir / STORE_NAME
        with single_writer(out_dir, store_file, "recordcheck estimate"), RunStore(store_file) as store:
            store.add_audit(result, worksheet.name, datetime.now(UTC))
        click.echo(f"Kept in {store_file}: the next report shows it beside the screen's rate")


@click.group()
def review() -> None:
    """Auditors' decisions on findings: export a worklist, import the decisions made on it."""


@review.command("export")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--file", "file", type=click.Path(dir_okay=False, path_type=Path), required=True, help=".xlsx or .csv")
@store_option
@handle_errors
def review_export(out_dir: Path, file: Path, store_path: Path | None) -> None:
    """Write the latest run's findings as a worklist (open ones first) with empty decision columns.
    Decisions imported since the run show in it: from --store, or OUT_DIR's own store if it has one."""
    from recordcheck.checks.nightly.comparison import single_writer
    from recordcheck.checks.nightly.review import decision_log_file, decisions_now, export_worklist
    from recordcheck.checks.nightly.store import STORE_NAME, RunStore

    decisions = log = None
    if store_path is not None or (out_dir / STORE_NAME).is_file():
        store_path = existing_store(out_dir, store_path)
        with single_writer(out_dir, store_path, "recordcheck review export"), RunStore(store_path) as store:
            decisions, log = decisions_now(out_dir, store), store.decision_log()
    rows = export_worklist(out_dir, file, decisions, log)
    click.echo(
        f"Worklist: {file} ({rows:,} finding(s)); fill decision, reviewer, reason (and until for a waiver or "
        "a remediation's due date); the decision log is "
        + ("its second sheet" if file.suffix.lower() == ".xlsx" else f"in {decision_log_file(file)}")
    )


@review.command("import")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@store_option
@handle_errors
def review_import(out_dir: Path, file: Path, store_path: Path | None) -> None:
    """Take decisions back from a worklist: all of them, or none when any row is bad."""
    from recordcheck.checks.nightly.comparison import single_writer
    from recordcheck.checks.nightly.review import import_decisions
    from recordcheck.checks.nightly.store import RunStore

    store_path = existing_store(out_dir, store_path)
    with single_writer(out_dir, store_path, "recordcheck review import"), RunStore(store_path) as store:
        count = import_decisions(file, store)
    click.echo(f"Imported {count:,} decision(s) from {file}; they apply from the next run")


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@store_option
@click.option("--limit", type=click.IntRange(min=1), default=30, show_default=True)
@handle_errors
def history(out_dir: Path, store_path: Path | None, limit: int) -> None:
    """The last runs, one line each: id, as-of, exit code, rows read, exceptions, new, resolved,
    open high-severity findings, recording rate."""
    from datetime import UTC

    from recordcheck.checks.base.london import LONDON
    from recordcheck.checks.nightly.store import RunStore

    with RunStore(existing_store(out_dir, store_path)) as store:
        runs = store.history(limit)
        weeks = store.due_weeks()
    # the as-of in London time with its zone (GMT or BST), as the registrar's day is kept
    click.echo(
        f"{'run':<32}{'as of (London)':<22}{'exit':>5}{'rows read':>11}{'exceptions':>11}{'new':>7}{'resolved':>9}"
        f"{'open high':>10}{'recording':>11}"
    )

    def shown(value: Any, spec: str) -> str:
        """A store value as the table prints it; '?' where a damaged store lost it."""
        return format("?" if value is None else value, spec.replace(",", "") if value is None else spec)

    for r in runs.iter_rows(named=True):
        rate = "-" if r["recording_rate"] is None else f"{r['recording_rate']:.2%}"
        as_of = r["as_of"] if r["as_of"] is None or r["as_of"].tzinfo else r["as_of"].replace(tzinfo=UTC)
        when = "?" if as_of is None else f"{as_of.astimezone(LONDON):%Y-%m-%d %H:%M %Z}"
        click.echo(
            f"{shown(r['run_id'], '<32')}{when}".ljust(54)
            + shown(r["exit_code"], ">5")
            + "".join(shown(r[c], f">{w},") for c, w in (("rows_read", 11), ("exceptions", 11), ("new_findings", 7)))
            + "".join(shown(r[c], f">{w},") for c, w in (("resolved", 9), ("open_high", 10)))
            + f"{rate:>11}"
        )
    if weeks:
        click.echo("")
        click.echo(f"{'due lists, week of':<20}{'listed':>8}{'met':>8}{'missed':>8}{'open':>8}{'median hours to act':>21}")
        for w in weeks:
            median = "-" if w["median_hours_to_act"] is None else f"{w['median_hours_to_act']:.1f}"
            click.echo(f"{w['week']:<20}{w['listed']:>8,}{w['met']:>8,}{w['missed']:>8,}{w['open']:>8,}{median:>21}")


def _hours(text: str) -> float:
    """--within: '12h', '90m' or a number of hours."""
    value = text.strip().lower()
    try:
        if value.endswith("m"):
            return float(value[:-1]) / 60
        return float(value[:-1] if value.endswith("h") else value)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time span (12h, 90m)", param_hint="--within") from None


@click.command("due")
@click.argument("out_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--within", default=None, metavar="SPAN", help="Only what falls due within this span of the run's as-of (12h, 90m)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "xlsx"]), default="text", show_default=True)
@click.option("--file", type=click.Path(dir_okay=False, path_type=Path), help="Where --format csv or xlsx writes.")
@handle_errors
def due(out_dir: Path, within: str | None, fmt: str, file: Path | None) -> None:
    """The latest run's due list: the records that will breach, and when, unless someone acts;
    earliest deadline first, hours left counted from the run's as-of."""
    import polars as pl

    from recordcheck.checks.base.errors import ConfigError
    from recordcheck.checks.base.marking import companion, run_marking, write_note
    from recordcheck.checks.base.safecsv import write_csv, write_xlsx
    from recordcheck.checks.nightly.due import DUE_PARQUET

    run_dir = (out_dir / "latest").resolve()
    source = run_dir / DUE_PARQUET
    if not source.is_file():
        raise ConfigError(f"{out_dir}: the latest run has no due list ({DUE_PARQUET}); run recordcheck run first")
    rows = pl.read_parquet(source)
    if within is not None:
        rows = rows.filter(pl.col("hours_left") <= _hours(within))
    if fmt == "text":
        as_of = json.loads((run_dir / "summary.json").read_text(encoding="utf-8")).get("as_of", "?")
        click.echo(f"Due list of run {run_dir.name} (as of {as_of}): {rows.height:,} record(s)")
        click.echo(f"{'deadline (London)':<22}{'hours left':>11}  {'rule':<8}{'record':<24}district")
        for r in rows.iter_rows(named=True):
            record = f"{r['record_type']} {r['record_id']}"
            click.echo(f"{r['deadline_local']:<22}{r['hours_left']:>11.1f}  {r['rule']:<8}{record:<24}{r['district'] or ''}")
        return
    if file is None:
        raise click.UsageError("--format csv or xlsx writes a file: give --file")
    marking = run_marking(run_dir)
    tmp = file.with_name(f".{file.name}.tmp")
    if fmt == "csv":
        write_csv(rows, tmp)
        write_note(companion(file), marking, "A due list from recordcheck", [file.name])
    else:
        write_xlsx(rows, tmp, "due", wide=("detail",), marking=marking)
    os.replace(tmp, file)
    click.echo(f"Due list: {rows.height:,} record(s) -> {file}")
