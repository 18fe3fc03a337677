"""recordcheck command line: one click group that wires the commands of `commands/` together.

The commands are thin: each parses its options, calls `checks` (the engine) and `reports` (the
renderer), and prints what a registrar needs. What they share (options, the as-of parser, exit
codes for failures) is in `commands/common.py`."""

from __future__ import annotations

import click

from recordcheck.commands import adoption, audit, rule_pack, runs


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="recordcheck")
def cli() -> None:
    """Check a police force's crime-recording extracts against the Crime Recording Rules."""


for command in (
    # the nightly batch
    runs.validate,
    runs.run,
    runs.report,
    runs.national,
    runs.keygen,
    # the rule pack
    rule_pack.rules,
    rule_pack.suites,
    # audit work on published runs
    audit.sample,
    audit.estimate,
    audit.review,
    audit.history,
    audit.due,
    # taking the tool on
    adoption.generate,
    adoption.profile,
    adoption.contract,
):
    cli.add_command(command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
