"""recordcheck command line: thin commands over the `checks` engine and the `reports` renderer."""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from checks.errors import RecordcheckError
from checks.exitcodes import ExitCode


def _parse_as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 instant (e.g. 2026-04-01T00:00:00Z)") from None
    if parsed.tzinfo is None:
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/London"))
    return parsed.astimezone(UTC)


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the engine's errors into one clear message and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RecordcheckError as exc:
            label = "input rejected" if exc.exit_code == ExitCode.INPUT_REJECTED else "error"
            click.echo(f"recordcheck: {label}: {exc}", err=True)
            if exc.exit_code == ExitCode.INPUT_REJECTED:
                click.echo("Nothing was published.", err=True)
            sys.exit(int(exc.exit_code))

    return wrapper


def profile_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--profile",
        "profile_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Source profile YAML mapping the force's export onto the contract (default: canonical names).",
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


def _print_counts(loaded: Any) -> None:
    counts = loaded.validation.counts
    click.echo(f"{'table':<16}{'read':>10}{'accepted':>10}{'quarantined':>13}")
    for name, c in counts.items():
        click.echo(f"{name:<16}{c.read:>10}{c.accepted:>10}{c.quarantined:>13}")
        for check, n in c.by_check.items():
            click.echo(f"{'':<18}{check}: {n} row(s)")
    total_read = sum(c.read for c in counts.values())
    total_q = sum(c.quarantined for c in counts.values())
    click.echo(f"{'all tables':<16}{total_read:>10}{total_read - total_q:>10}{total_q:>13}")


@cli.command()
@click.argument("extract_dir", type=click.Path(path_type=Path))
@profile_option
@config_option
@as_of_option
@click.option(
    "--quarantine",
    "quarantine_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("quarantine.csv"),
    show_default=True,
    help="Where to write the quarantined rows and their reasons.",
)
@handle_errors
def validate(
    extract_dir: Path, profile_path: Path | None, config_path: Path | None, as_of: str | None, quarantine_path: Path
) -> None:
    """Validate EXTRACT_DIR: rows read, accepted and quarantined per table, by reason."""
    from checks.config import load_config
    from checks.pipeline import load_extract
    from checks.profile import load_profile
    from checks.refdata import load_reference
    from checks.run import write_quarantine

    profile = load_profile(profile_path)
    config = load_config(config_path)
    reference = load_reference(overrides=config.reference, config_path=config.path)
    with _step("Validating the extract"):
        loaded = load_extract(extract_dir, profile, reference, _parse_as_of(as_of))
    _print_counts(loaded)
    tmp = quarantine_path.with_name(f".{quarantine_path.name}.tmp")
    write_quarantine(tmp, loaded)
    tmp.replace(quarantine_path)
    click.echo(f"Quarantine: {quarantine_path}")


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed; same seed, same extract.")
@click.option("--scale", type=click.FloatRange(min=0.0001, max=50), default=0.05, show_default=True,
              help="1 = one year of a large force (~40k referrals, ~600k incidents, ~170k crimes).")
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet"]), default="csv", show_default=True)
@as_of_option
@handle_errors
def generate(out_dir: Path, seed: int, scale: float, fmt: str, as_of: str | None) -> None:
    """Write a synthetic extract with its answer key (key.csv) into OUT_DIR."""
    from checks.generate import DEFAULT_AS_OF, generate as build, write_extract

    moment = _parse_as_of(as_of) if as_of else DEFAULT_AS_OF
    with _step(f"Generating scale {scale} (seed {seed})"):
        extract = build(seed=seed, scale=scale, as_of=moment)
        write_extract(extract, out_dir, fmt)
    for name, n in extract.counts.items():
        click.echo(f"{name:<16}{n:>10} rows")
    click.echo(f"{'key.csv':<16}{extract.key.height:>10} injected breaches")
    click.echo(f"Extract: {out_dir}  (as-of {moment.isoformat()}; pass --as-of to run)")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
