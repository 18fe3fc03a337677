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
