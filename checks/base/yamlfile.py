"""YAML loading that remembers line numbers, so every config error can name file, line and key."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from recordcheck.checks.base.errors import ConfigError


class LineDict(dict):  # type: ignore[type-arg]
    """A mapping from YAML that knows the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


class _LineLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader, on libyaml's parser where PyYAML was built with it (ten times faster: the
    pack's YAML is read at every start)."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    mapping = LineDict()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# Keep ISO timestamps and dates as the strings they were written as: parsing is ours to do.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


MAX_YAML_BYTES = 2 << 20
"""No profile, config or rule file is anywhere near this; a larger one is refused unread."""
MAX_YAML_NODES = 100_000
"""Nodes a document may expand to, aliases followed: an alias bomb is refused, not expanded."""


def _expanded_size(root: yaml.Node) -> int:
    """Nodes in the document with every alias expanded, counted up to just past the budget."""
    count, stack = 0, [root]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            break
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend((key, value))
    return count


def load_yaml(path: Path) -> Any:
    """Parse a YAML file; a syntax error becomes a ConfigError naming the file and line.

    Files over MAX_YAML_BYTES, and documents whose aliases expand past MAX_YAML_NODES, are refused."""
    try:
        if path.exists() and not path.is_file():
            # a device or a pipe (/dev/zero) reports size 0 and never ends: read nothing from it
            raise ConfigError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: {path.stat().st_size:,} bytes is too large for a YAML file here")
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)  # the size checked above can change while we read
        if len(raw) > MAX_YAML_BYTES:
            raise ConfigError(f"{path}: too large for a YAML file here")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        loader = _LineLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _expanded_size(node) > MAX_YAML_NODES:
                raise ConfigError(
                    f"{path}: the YAML expands to more than {MAX_YAML_NODES:,} values (aliases nested too deep)"
                )
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        # The fault is usually where the construct opened (an unclosed bracket or quote), which
        # YAML reports as the context; the problem mark is where the parser gave up.
        mark, opened = exc.problem_mark, exc.context_mark
        line = mark.line + 1 if mark else "?"
        if opened is not None and (mark is None or opened.line < mark.line):
            construct = str(exc.context).removeprefix("while parsing ")
            raise ConfigError(
                f"{path} line {opened.line + 1}: {construct} opened here is not closed "
                f"(the parser gave up at line {line}: {exc.problem})"
            ) from None
        raise ConfigError(f"{path} line {line}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None


def line_of(mapping: Any, key: Any = None) -> int | str:
    """Line of `key` in `mapping` (or of the mapping itself), '?' if unknown."""
    if isinstance(mapping, LineDict):
        if key is not None and key in mapping.key_lines:
            return mapping.key_lines[key]
        return mapping.line
    return "?"


def require_mapping(value: Any, path: Path, where: str) -> LineDict:
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where} must be a mapping, got {type(value).__name__}")
    if not isinstance(value, LineDict):
        wrapped = LineDict(value)
        wrapped.key_lines = {}
        return wrapped
    return value


def check_keys(
    mapping: Any,
    known: Iterable[str],
    path: Path,
    where: str,
    required: Iterable[str] = (),
) -> None:
    """Reject unknown and missing keys, naming the file, line and the known keys."""
    known_list = list(known)
    for key in mapping:
        if key not in known_list:
            raise ConfigError(
                f"{path} line {line_of(mapping, key)}: unknown key {key!r} in {where}; known keys: {', '.join(known_list)}"
            )
    for key in required:
        if key not in mapping:
            raise ConfigError(
                f"{path} line {line_of(mapping)}: {where} is missing required key {key!r}; "
                f"known keys: {', '.join(known_list)}"
            )
