"""Taking the tool on: generated extracts to practise on, profiles for a force's own export,
and the contract those profiles map onto."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from recordcheck.checks.base.exitcodes import ExitCode
from recordcheck.checks.extract.contract import TABLES
from recordcheck.commands.common import (
    as_of_for,
    as_of_option,
    config_option,
    handle_errors,
    load_setup,
    parse_as_of,
    profile_option,
    rules_dir_option,
    step,
)


@click.command()
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
@click.option(
    "--hours",
    type=click.FloatRange(min=1, max=24 * 7),
    default=24,
    show_default=True,
    help="With --nights: the hours between exports (24 for nightly; 6 for the daytime runs of the due list).",
)
@click.option(
    "--parts",
    type=click.IntRange(min=1, max=1000),
    help="Write the extract in N generated parts appended to one set of files, so generating it needs one "
    "part's memory (default: 1 up to scale 10, else parts of scale 5; each part has a seed of its own).",
)
@click.option(
    "--phrasing",
    type=click.Choice(["tuned", "held_back"]),
    default="tuned",
    show_default=True,
    help="The narratives' templates: held_back are phrasings the lexicons were not tuned on, for measuring "
    "the narrative screen (narrative_key.csv lists what was planted).",
)
@rules_dir_option
@as_of_option
@handle_errors
def generate(
    out_dir: Path,
    rules_dir: Path | None,
    seed: int,
    scale: float,
    fmt: str,
    shape: str,
    nights: int | None,
    forces: int | None,
    hours: float,
    parts: int | None,
    phrasing: str,
    as_of: str | None,
) -> None:
    """Write a synthetic extract with its answer key (key.csv) into OUT_DIR."""
    from recordcheck.checks.base.errors import ConfigError
    from recordcheck.checks.generate import DEFAULT_AS_OF, write_extract
    from recordcheck.checks.generate import generate as build

    if shape == "force" and fmt != "csv":
        raise ConfigError("--shape force writes CSV, as force systems export; leave out --format")
    moment = parse_as_of(as_of) if as_of else DEFAULT_AS_OF
    if forces is not None:
        from recordcheck.checks.generate.forces import write_forces

        if shape != "canonical" or fmt != "csv" or nights is not None:
            raise ConfigError("--forces chooses each force's shape itself; leave out --shape, --format and --nights")
        with step(f"Generating {forces} forces, total scale {scale} (seed {seed})"):
            written = write_forces(out_dir, forces, seed, scale, moment)
        for force in written:
            extra = f", {force.bad_rows} bad rows" if force.bad_rows else ""
            click.echo(f"{force.code}  scale {force.scale:<8} {force.shape:<9} {force.findings:>5} finding(s) in key{extra}")
        manifest = out_dir / "forces.yaml"
        click.echo(f"Manifest: {manifest}  (as-of {moment.isoformat()}; recordcheck national {manifest} --out OUT)")
        return
    from recordcheck.checks.generate.parts import parts_for, write_parts

    parts = parts_for(scale, parts)
    if parts > 1:
        if shape != "canonical" or nights is not None or phrasing != "tuned":
            raise ConfigError("--parts writes one canonical extract; leave out --shape, --nights and --phrasing")
        with step(f"Generating scale {scale} in {parts} parts (seed {seed})"):
            counts = write_parts(out_dir, seed, scale, parts, moment, fmt)
        for name, n in counts.items():
            click.echo(f"{name:<16}{n:>10} rows")
        click.echo(f"Extract: {out_dir}  (as-of {moment.isoformat()}; pass --as-of to run)")
        return
    with step(f"Generating scale {scale} (seed {seed})"):
        extract = build(seed=seed, scale=scale, as_of=moment, phrasing=phrasing)
        if nights is not None:
            from recordcheck.checks.generate.nights import write_nights

            if shape != "canonical" or fmt != "csv":
                raise ConfigError("--nights writes canonical CSV extracts")
            from recordcheck.checks.base.refdata import load_reference
            from recordcheck.checks.base.resources import RULES_DIR
            from recordcheck.checks.engine.rules import load_pack

            # the nights' keys follow the limits of the pack they will be run with
            reference = load_reference(load_pack(rules_dir or RULES_DIR).reference_dir)
            for night in write_nights(extract, out_dir, nights, hours, reference):
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


@click.group()
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
    from recordcheck.checks.adoption.profile_draft import draft_profile, render, todos
    from recordcheck.checks.base.errors import ConfigError

    if out_path.exists() and not force:
        raise ConfigError(f"{out_path} exists; give --force to overwrite it")
    with step(f"Drafting a profile from {export_dir}"):
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

    from recordcheck.checks.adoption.profile_check import check_profile, render_json, render_text
    from recordcheck.checks.validation.pipeline import load_extract

    source_profile, config, reference, pack = load_setup(profile_path, config_path, rules_dir)
    with step("Reading the export through the profile"):
        loaded = load_extract(
            export_dir,
            source_profile,
            reference,
            as_of_for(as_of, export_dir),
            settings=config.engine,
            suites_dir=pack.suites_dir,
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


@click.command()
@click.argument("table", required=False, type=click.Choice(list(TABLES)))
@click.option("--format", "fmt", type=click.Choice(["md", "json"]), default="md", show_default=True)
def contract(table: str | None, fmt: str) -> None:
    """Print the canonical extract contract: every table and column, its type, whether it is
    required, its allowed values and what it means. docs/contract.md is this output."""
    from recordcheck.checks.adoption.contract_doc import contract_json, contract_markdown

    click.echo(contract_json(table) if fmt == "json" else contract_markdown(table), nl=False)
    if fmt == "json":
        click.echo()
