"""The lines a scheduler's log collector reads: with `--log-format json` every line recordcheck
writes to stderr is one JSON object, through the standard library's logging.

Each object has `ts` (UTC, ISO 8601), `level`, `event`, `version`, and once they are known
`run_id` and `as_of`; a failure adds `reason` and `exit_code` (and `exit_name`). Events are
`stage` (one per stage of a run, with its seconds and counts), `run_finished`, `warning`,
`incomplete`, `threshold_breached` and `exit` (any command ending in an error). Fields are
counts, names, codes and recordcheck's own messages, which never quote a record.

With text logs nothing here is installed: messages go to stderr as plain lines, as before.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from recordcheck.checks import __version__

LOGGER = logging.getLogger("recordcheck")
_CONTEXT: dict[str, Any] = {}


class JsonFormatter(logging.Formatter):
    """One object per record: the common fields, the bound context, then the event's own."""

    def format(self, record: logging.LogRecord) -> str:
        # a library's warning (captured from the warnings module) is named by where it came from,
        # never quoted: its text may hold a value
        name = "python_warning" if record.name == "py.warnings" else record.getMessage()
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "event": name,
            "version": __version__,
            **_CONTEXT,
            **getattr(record, "fields", {}),
        }
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure(log_format: str) -> None:
    """Send recordcheck's log events to stderr as JSON lines (`json`), or leave them off (`text`)."""
    for handler in list(LOGGER.handlers):
        LOGGER.removeHandler(handler)
    _CONTEXT.clear()
    if log_format != "json":
        LOGGER.disabled = True
        logging.captureWarnings(False)
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    LOGGER.disabled = False
    # a library's warning would otherwise be a plain line among the JSON ones
    logging.captureWarnings(True)
    captured = logging.getLogger("py.warnings")
    captured.handlers = [handler]
    captured.propagate = False


def json_logs() -> bool:
    """True when stderr takes JSON lines (the command was given --log-format json)."""
    return bool(LOGGER.handlers) and not LOGGER.disabled


def bind(**fields: Any) -> None:
    """Fields every later line carries (run_id, as_of) once they are known."""
    _CONTEXT.update({key: value for key, value in fields.items() if value is not None})


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """One JSON line (nothing with text logs)."""
    if json_logs():
        LOGGER.log(level, name, extra={"fields": fields})
        for handler in LOGGER.handlers:
            handler.flush()
