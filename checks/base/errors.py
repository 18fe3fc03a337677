"""Errors that end a command with a named exit code and a message safe to print.

Messages name files, lines, tables, columns and keys, never the contents of a record.
"""

from recordcheck.checks.base.exitcodes import ExitCode


class RecordcheckError(Exception):
    exit_code = ExitCode.USAGE_ERROR


class ConfigError(RecordcheckError):
    """A profile, config file or rule pack is wrong."""

    exit_code = ExitCode.USAGE_ERROR


class InputRejected(RecordcheckError):
    """The extract as a whole cannot be used; the run stops before publishing anything."""

    exit_code = ExitCode.INPUT_REJECTED


class OutputUnavailable(RecordcheckError):
    """The output folder cannot take a run; nothing was published."""

    exit_code = ExitCode.OUTPUT_UNAVAILABLE


class StoreUnavailable(RecordcheckError):
    """The run store is damaged, read-only or of a newer schema."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class Busy(RecordcheckError):
    """Another recordcheck process is writing to the same OUT_DIR or run store."""

    exit_code = ExitCode.BUSY


class Interrupted(BaseException):
    """SIGTERM or SIGINT arrived: unwind (removing the staging folder) and exit INTERRUPTED.

    A BaseException, like KeyboardInterrupt, so no `except Exception` swallows it."""
