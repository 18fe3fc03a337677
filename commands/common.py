"""What every command shares: option decorators, the as-of parser, the set-up every run loads,
and the one place where a failure becomes its documented exit code and one line."""

from __future__ import annotations

import errno
import functools
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from recordcheck.checks.base.errors import Interrupted, RecordcheckError
from recordcheck.checks.base.exitcodes import ExitCode

EXPORT_AS_OF_FILES = ("as_of.txt", "generation.json")
"""Where an export states its own time: `as_of.txt` (one ISO 8601 line, written by the export job)
or the generator's `generation.json` (its `as_of`)."""


def export_as_of(folder: Path | None) -> tuple[str, str] | None:
    """(the instant as written, the file it came from) when the export states its own time."""
    if folder is None or not folder.is_dir():
        return None
    import json

    for name in EXPORT_AS_OF_FILES:
        path = folder / name
        if not path.is_file() or path.stat().st_size > 65_536:
            continue
        try:
            text = path.read_text(encoding="utf-8")
            stated = json.loads(text).get("as_of") if name.endswith(".json") else text.strip().splitlines()[0]
        except (ValueError, IndexError, AttributeError, UnicodeDecodeError):
            stated = None
        if isinstance(stated, str) and stated.strip():
            return stated.strip(), name
    return None


def as_of_for(value: str | None, extract_dir: Path | None) -> datetime:
    """--as-of; without it the export's own time when it states one (a night is judged as of when
    its export was taken: a run at "now" on an old export finds every deadline passed), else now.
    The choice is said on stderr (a JSON `as_of_default` event with JSON logs)."""
    if value is None:
        own = export_as_of(extract_dir)
        if own is not None:
            from recordcheck.checks.base.logs import event, json_logs

            stated, source = own
            if json_logs():
                event("as_of_default", as_of_source=source, stated=stated)
            else:
                click.echo(f"--as-of not given: the export's own time, {stated} ({source})", err=True)
            try:
                return parse_as_of(stated)
            except click.BadParameter as exc:
                raise click.BadParameter(exc.message, param_hint=f"--as-of (from {extract_dir}/{source})") from None
    return parse_as_of(value)


def parse_as_of(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 instant (e.g. 2026-04-01T00:00:00Z)", param_hint="--as-of"
        ) from None
    if parsed.tzinfo is None:
        from recordcheck.checks.base.london import LONDON

        parsed = parsed.replace(tzinfo=LONDON)
    parsed = parsed.astimezone(UTC)
    # an as-of in year 9999 was stored, after which every waiver was refused as past its date
    latest = datetime.now(UTC) + timedelta(days=1)
    if not EARLIEST_AS_OF <= parsed <= latest:
        raise click.BadParameter(
            param_hint="--as-of",
            message=f"{value!r} is outside {EARLIEST_AS_OF:%Y-%m-%d} to {latest:%Y-%m-%d} (a day past now): a night "
            "is checked as of a time that has come",
        )
    return parsed


EARLIEST_AS_OF = datetime(1990, 1, 1, tzinfo=UTC)


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
            log = target / ERROR_LOG
            with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            return target / ERROR_LOG
        except OSError:
            continue
    return None


def _fail(code: ExitCode, message: str, lines: tuple[str, ...] = ()) -> None:
    """End the command: one line on stderr (a JSON `exit` event with --log-format json), then the
    code. `lines` are further plain lines (text logs only; the event carries the message)."""
    from recordcheck.checks.base.logs import event, json_logs

    if json_logs():
        event("exit", logging.ERROR, reason=message, exit_code=int(code), exit_name=code.name)
    else:
        click.echo(f"recordcheck: {message}", err=True)
        for line in lines:
            click.echo(line, err=True)
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
        _SIGNALLED.clear()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _on_signal)
        try:
            result = func(*args, **kwargs)
            if _SIGNALLED:
                # the handler's Interrupted was swallowed on the way up (a finaliser, a library's
                # catch-all) and the command went on to finish: never a quiet success
                _fail(
                    ExitCode.INTERRUPTED,
                    f"interrupted ({_SIGNALLED[0]}) while it worked, and it went on to finish: what it "
                    "wrote stands (a run: published and in the store); check it before relying on it",
                )
            return result
        except click.UsageError as exc:  # a bad value found once the command runs (--as-of): a usage error
            _fail(ExitCode.USAGE_ERROR, f"error: {exc.format_message()}")
        except RecordcheckError as exc:
            label = "input rejected" if exc.exit_code == ExitCode.INPUT_REJECTED else "error"
            unpublished = exc.exit_code in (ExitCode.INPUT_REJECTED, ExitCode.OUTPUT_UNAVAILABLE)
            _fail(ExitCode(exc.exit_code), f"{label}: {exc}", ("Nothing was published.",) if unpublished else ())
        except (SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # a Rust panic (Polars) is a BaseException: it too gets its code
            code, message = _classify(exc)
            if code == ExitCode.INTERNAL_ERROR:
                message += f"; details in {_log_internal_error(exc, _log_folder(kwargs.get('out_dir')))}"
            _fail(code, message)

    return wrapper


def _log_folder(out_dir: Any) -> Path:
    """Where an internal error's log goes: OUT_DIR when it exists, else the system's temporary
    folder (a command never leaves a file in the folder it was started from)."""
    if out_dir is not None and Path(out_dir).is_dir():
        return Path(out_dir)
    import tempfile

    return Path(tempfile.gettempdir())


def _classify(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one line for a failure that is not one of recordcheck's own errors."""
    if isinstance(exc, Interrupted | KeyboardInterrupt) or _SIGNALLED:
        # a library may turn the Interrupted raised by the handler into its own error
        signal_name = _SIGNALLED[0] if _SIGNALLED else "SIGINT"
        if published := getattr(exc, "published", None):
            return ExitCode.INTERRUPTED, (
                f"interrupted ({signal_name}) as it finished publishing: run {published} is published and in the store"
            )
        return ExitCode.INTERRUPTED, f"interrupted ({signal_name}); nothing was published"
    if type(exc).__name__ == "PanicException":
        # Polars panics when an allocation fails under memory pressure; its text is never shown
        text = str(exc).lower()
        if any(word in text for word in ("memory", "alloc", "capacity overflow")):
            return ExitCode.RESOURCE_EXHAUSTED, "out of memory (a Polars allocation failed); nothing was published"
    # DuckDB's is matched by name, so that --help need not import DuckDB
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryException":
        return ExitCode.RESOURCE_EXHAUSTED, "out of memory; nothing was published (raise engine.memory_limit)"
    if _spark_out_of_memory(exc):
        return ExitCode.RESOURCE_EXHAUSTED, (
            "Spark ran out of memory; nothing was published (raise spark.driver.memory, or "
            "spark.executor.memory on a cluster; or set spark.recordcheck.forcesAtOnce lower)"
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
        where = f" ({exc.filename})" if exc.filename else ""
        return ExitCode.OUTPUT_UNAVAILABLE, f"cannot write{where}: {os.strerror(exc.errno)}; nothing was published"
    return ExitCode.INTERNAL_ERROR, f"internal error ({type(exc).__name__})"


SPARK_MEMORY_SIGNS = ("java.lang.OutOfMemoryError", "Not enough memory to build and broadcast")


def _spark_out_of_memory(exc: BaseException) -> bool:
    """A JVM error from Spark that is about memory (matched by name and by Spark's own words, which
    are searched, never printed: a Java message can quote a value)."""
    if type(exc).__name__ != "Py4JJavaError":
        return False
    java = getattr(exc, "java_exception", None)
    try:
        text = str(java.toString()) if java is not None else ""
    except Exception:  # noqa: BLE001 - the JVM may already be gone
        text = ""
    return any(sign in text for sign in SPARK_MEMORY_SIGNS)


profile_option = click.option(
    "--profile",
    "profile_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Source profile YAML mapping the force's export onto the contract (default: canonical names).",
)


def existing_store(out_dir: Path, store_path: Path | None) -> Path:
    """The run store a command reads, which must already exist: a command that only reads or
    adds decisions never creates an empty store in a folder no run has written."""
    from recordcheck.checks.base.errors import ConfigError
    from recordcheck.checks.nightly.store import STORE_NAME

    path = store_path or out_dir / STORE_NAME
    if not path.is_file():
        raise ConfigError(
            f"no run store at {path}: run `recordcheck run EXTRACT_DIR --out {out_dir}` first, "
            "or name the store with --store"
        )
    return path


store_option = click.option(
    "--store",
    "store_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The run store (default: OUT_DIR/recordcheck.duckdb).",
)


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Run config YAML: reference-data overrides, disabled rules, thresholds.",
)


as_of_option = click.option(
    "--as-of",
    "as_of",
    metavar="ISO_INSTANT",
    help="Reference instant for 'still pending' and 'overdue' (default: now). No offset = Europe/London.",
)


rules_dir_option = click.option(
    "--rules",
    "rules_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    envvar="RECORDCHECK_RULES",
    help="Rule pack folder: its rules, reference data and suites (default: $RECORDCHECK_RULES, else the bundled rules/).",
)


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


validator_option = click.option(
    "--validator",
    type=click.Choice(["sql", "great-expectations"]),  # checks.validate.RUNNERS (a test holds them equal)
    default="sql",
    show_default=True,
    help="How the expectation suites are executed: compiled to SQL in DuckDB, or by Great Expectations "
    "(slower; for cross-checking). Both give the same quarantine.",
)


@contextmanager
def step(label: str) -> Iterator[None]:
    """Show a step on a terminal; stay silent in a scheduler's log. Never shows record content."""
    interactive = sys.stderr.isatty()
    started = time.perf_counter()
    if interactive:
        click.echo(f"{label} ...", err=True, nl=False)
    yield
    if interactive:
        click.echo(f" done ({time.perf_counter() - started:.1f} s)", err=True)


def load_setup(
    profile_path: Path | None, config_path: Path | None, rules_dir: Path | None = None
) -> tuple[Any, Any, Any, Any]:
    """Profile, config, rule pack and its reference data (with the config's overrides), all
    checked before any reading. A pack given with --rules is the whole pack: its rules, macros,
    reference data and suites."""
    from recordcheck.checks.base.config import load_config
    from recordcheck.checks.base.refdata import load_reference
    from recordcheck.checks.base.resources import RULES_DIR
    from recordcheck.checks.engine.rules import load_pack
    from recordcheck.checks.extract.profile import load_profile

    config = load_config(config_path)
    pack = load_pack(rules_dir or RULES_DIR)
    config.check_rule_ids([r.id for r in pack.rules] + [f"{r.id}.{part}" for r in pack.rules for part, _ in r.parts])
    config.check_families(sorted({r.family for r in pack.rules}))
    reference = load_reference(pack.reference_dir, overrides=config.reference, config_path=config.path)
    return load_profile(profile_path), config, reference, pack


def print_counts(loaded: Any) -> None:
    counts = loaded.validation.counts
    by_column = loaded.validation.quarantine.group_by(["table", "check", "column"]).agg(rows=n_unique_rows())
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


def n_unique_rows() -> Any:
    import polars as pl

    return pl.col("row_number").n_unique()


def renderer(config: Any, redact: bool = False) -> Any:
    """The reports layer: it reads the run folder's own results, never the extract."""
    from recordcheck.reports.render import render_run

    def render(run_dir: Path, _manifest: dict[str, Any], released: dict[str, list[int]] | None = None) -> None:
        render_run(run_dir, config.report)
        if redact:
            render_run(run_dir, config.report, redact=True, released=released)

    return render
