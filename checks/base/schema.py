"""Typed schemas for the YAML files a force writes (config, source profile), checked with pydantic.

An error names the file, the line and the key path, and for an unknown key lists the known keys,
so a registrar can fix it without reading code. Values are checked where they are read: before
any work is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from recordcheck.checks.base.errors import ConfigError
from recordcheck.checks.base.yamlfile import line_of

Model = TypeVar("Model", bound=BaseModel)


class Strict(BaseModel):
    """No unknown keys; no silent coercion of a list from a string or a number from a word."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


def _line(raw: Any, loc: tuple[Any, ...]) -> int | str:
    """The line of the deepest key of `loc` that the YAML still has."""
    node, line = raw, line_of(raw)
    for key in loc:
        if isinstance(node, dict) and key in node:
            line = line_of(node, key)
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
            line = line_of(node) if isinstance(node, dict) else line
        else:
            break
    return line


def _types(annotation: Any) -> list[Any]:
    found, stack = [], [annotation]
    while stack:
        item = stack.pop()
        found.append(item)
        stack.extend(getattr(item, "__args__", ()))
    return found


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The schema model a key path leads to (to list its known keys)."""
    model: type[BaseModel] | None = root
    for key in loc:
        if model is None:
            return None
        info = model.model_fields.get(str(key)) or next((f for f in model.model_fields.values() if f.alias == key), None)
        if info is None:
            continue  # a mapping's own key (a rule id, a table name): the value's model follows
        model = next(
            (t for t in _types(info.annotation) if isinstance(t, type) and issubclass(t, BaseModel)),
            None,
        )
    return model


def _known(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def validate(model: type[Model], raw: Any, path: Path, what: str) -> Model:
    """`raw` (YAML with line numbers) checked against `model`; a ConfigError names file, line, key."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: {what} must be a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        loc = tuple(first["loc"])
        more = f" ({len(errors) - 1} more)" if len(errors) > 1 else ""
        if first["type"] == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            known = f"; known keys: {', '.join(_known(parent))}" if parent else ""
            where = ".".join(str(k) for k in loc[:-1]) or what
            raise ConfigError(f"{path} line {_line(raw, loc)}: unknown key {loc[-1]!r} in {where}{known}{more}") from None
        key_path = ".".join(str(k) for k in loc) or what
        message = "missing required key" if first["type"] == "missing" else first["msg"]
        raise ConfigError(f"{path} line {_line(raw, loc)}: {key_path}: {message}{more}") from None
