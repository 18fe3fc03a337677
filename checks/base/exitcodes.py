"""The one list of process exit codes, so a nightly scheduler can tell outcomes apart."""

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit status of every `recordcheck` command."""

    SUCCESS = 0
    """The command did what was asked; no threshold was breached."""
    THRESHOLD_BREACHED = 1
    """The run completed and was published, but a rule breached a configured error threshold."""
    USAGE_ERROR = 2
    """Bad command line, profile, config or rule pack: nothing was read or published."""
    INPUT_REJECTED = 3
    """An extract could not be used (missing table, column or file; unreadable file): nothing published."""
    FINDINGS_CHANGED = 4
    """`rules diff`: the two packs' findings differ on the extract (so CI can ask for approval)."""
    INTERNAL_ERROR = 5
    """An unexpected error (a defect): one line on stderr, where it happened (no record values) in
    recordcheck-error.log in OUT_DIR (or the system's temporary folder); nothing published."""
    INTERRUPTED = 6
    """Stopped by SIGTERM or SIGINT: the staging folder was removed, nothing published. (A signal
    that came after the store recorded the run, or that a library swallowed while the command went
    on to finish, exits 6 too, and the message says what was published.)"""
    OUTPUT_UNAVAILABLE = 7
    """OUT_DIR cannot take a run (not a folder, not writable, `latest` not a link, disk full):
    checked before any work where it can be; nothing published."""
    RESOURCE_EXHAUSTED = 8
    """Memory ran out (raise engine.memory_limit or give the machine more): nothing published."""
    RUN_INCOMPLETE = 9
    """The run was published, but it could not check everything: more than the configured share
    of a table was quarantined (validation.max_quarantine_share, default 5%), or a rule could not
    run (its table absent, or a column it needs absent or empty) without the config disabling it.
    Takes precedence over 1."""
    BUSY = 10
    """Another run or review import holds OUT_DIR (or the run store): nothing was done; the
    message names the holder."""
    FORCES_REFUSED = 11
    """`national`: the run was published, but one or more forces' extracts were refused (missing
    table or column, bad profile or config); each is named in the headline and summary.json, and
    the other forces were checked."""
    STORE_UNAVAILABLE = 12
    """The run store cannot be used (damaged, not a DuckDB file, read-only, or newer than this
    recordcheck): nothing published; restore it from a backup, or start a new one knowingly with
    `run --new-store`."""
