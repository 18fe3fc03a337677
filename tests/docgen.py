"""The parts of the docs that are facts about the code, generated from it so they cannot drift:
the README's command synopsis (from the click commands), `docs/rules.md`'s pack version and
rule table (from the pack), and the rule and pack files' JSON Schemas (from their pydantic models).

`python -m tests.docgen --write` (`make docs`) rewrites the blocks between
`<!-- generated: NAME -->` and `<!-- end generated: NAME -->`; a test fails while they differ.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

METAVARS = {"DIRECTORY": "DIR", "INTEGER RANGE": "N", "INTEGER": "N", "FLOAT RANGE": "X", "FLOAT": "X"}


def _synopsis_line(path: str, command: click.Command) -> str:
    context = click.Context(command, info_name=path)
    parts = [f"recordcheck {path}"]
    for param in command.params:
        if isinstance(param, click.Argument):
            parts.append(param.make_metavar(context))
            continue
        if not isinstance(param, click.Option) or param.hidden:
            continue
        name = max(param.opts, key=len)
        if param.is_flag:
            shown = name if not param.secondary_opts else f"{name}|{param.secondary_opts[0]}"
        else:
            if param.metavar:
                metavar = param.metavar
            elif isinstance(param.type, click.Choice):
                metavar = "|".join(str(c) for c in param.type.choices)
            else:
                metavar = param.make_metavar(context)
            shown = f"{name} {METAVARS.get(metavar, metavar)}"
        parts.append(shown if param.required else f"[{shown}]")
    return " ".join(parts)


def synopsis(group: click.Group) -> str:
    """One line per command and sub-command, in the order the group lists them."""
    lines = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            lines += [_synopsis_line(f"{name} {sub}", child) for sub, child in command.commands.items()]
        else:
            lines.append(_synopsis_line(name, command))
    return "```sh\n" + "\n".join(lines) + "\n```"


def rules_table(rules_dir: Path | None = None) -> str:
    from recordcheck.checks.engine.rules import RULES_DIR, load_pack

    pack = load_pack(rules_dir or RULES_DIR)
    rows = [
        f"| {r.id} | `{r.name}` | {r.finding} | {r.severity} | {r.title} |" for r in sorted(pack.rules, key=lambda r: r.id)
    ]
    return "\n".join(
        [
            f"Pack `{pack.name}` version {pack.version}, {len(pack.rules)} rules.",
            "",
            "| id | name | finding | severity | what it flags |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def replace_block(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- generated: {name} -->\n).*?(\n<!-- end generated: {name} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"no generated block {name!r}")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def generated(root: Path) -> dict[Path, str]:
    """Each generated file's text as it should be."""
    from recordcheck.checks.engine.rule_schema import json_schemas
    from recordcheck.cli import cli

    readme, rules_md = root / "README.md", root / "docs" / "rules.md"
    files = {
        readme: replace_block(readme.read_text(encoding="utf-8"), "synopsis", synopsis(cli)),
        rules_md: replace_block(rules_md.read_text(encoding="utf-8"), "rules", rules_table()),
    }
    files.update({root / "rules" / "schema" / name: text for name, text in json_schemas().items()})
    return files


def main(argv: list[str]) -> int:
    files = generated(Path.cwd())
    stale = [path for path, text in files.items() if not path.exists() or path.read_text(encoding="utf-8") != text]
    if "--write" in argv:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return 0
    for path in stale:
        print(f"{path} is stale: make docs")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
