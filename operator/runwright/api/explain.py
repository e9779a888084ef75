"""Pydantic's validation errors as sentences a user can act on.

One place turns an error of the models into "what is wrong and how to fix it",
naming the field as the user wrote it (camelCase, `spec.blocks[0].upstream`).
The manifest loader and the operator's Pipeline Ready condition both use it, so
`runwright validate` and `kubectl get pipeline` say the same words.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from runwright.api.common import DNS1123_LABEL, DNS1123_SUBDOMAIN
from runwright.engine.dag import did_you_mean

Loc = tuple[str | int, ...]


NAME_RULE = 'use lowercase letters, digits and "-", starting and ending with a letter or digit'


def format_loc(loc: Loc) -> str:
    """('spec', 'blocks', 0, 'upstream') -> 'spec.blocks[0].upstream'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_field(path: str) -> Loc:
    """'spec.blocks[0].upstream' -> ('spec', 'blocks', 0, 'upstream'); the inverse of format_loc."""
    return tuple(
        int(index) if index else name for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)
    )


def explain(error: Any, model: type[BaseModel]) -> str:
    """One pydantic error as what is wrong and how to fix it."""
    kind: str = error["type"]
    value = error.get("input")
    ctx: dict[str, Any] = error.get("ctx") or {}
    loc: Loc = tuple(error["loc"])
    if kind == "missing":
        return "is required but missing; add it"
    if kind == "extra_forbidden":
        parent = model_at(model, loc[:-1])
        allowed = field_names(parent) if parent is not None else []
        unknown = str(loc[-1])
        hint = did_you_mean(unknown, allowed)
        if not hint and allowed:
            hint = f"; allowed fields: {', '.join(allowed)}"
        return f'unknown field "{unknown}"{hint}'
    if kind == "string_pattern_mismatch" and ctx.get("pattern") in (
        DNS1123_LABEL,
        DNS1123_SUBDOMAIN,
    ):
        return f"{show(value)} is not a valid name: {NAME_RULE}{slug_hint(str(value))}"
    if kind in ("enum", "literal_error"):
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        return (
            f"{show(value)} is not allowed; use one of: {', '.join(choices)}"
            f"{did_you_mean(str(value), choices)}"
        )
    bounds = {
        "greater_than_equal": ("ge", "at least"),
        "greater_than": ("gt", "more than"),
        "less_than_equal": ("le", "at most"),
        "less_than": ("lt", "less than"),
    }
    if kind in bounds:
        key, words = bounds[kind]
        return f"{show(value)} is out of range; it must be {words} {ctx.get(key)}"
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s); got {_count(value)}"
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} item(s); got {_count(value)}"
    if kind == "string_type":
        if isinstance(value, bool | int | float):
            return f'expected a string, got {show(value)}; quote it: "{_yaml_scalar(value)}"'
        return f"expected a string, got {describe(value)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {show(value)}"
    if kind in ("float_type", "float_parsing"):
        return f"expected a number, got {show(value)}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {show(value)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping (key: value), got {describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {describe(value)}; write [a, b] or one '- item' per line"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind.startswith("datetime"):
        return f"{show(value)} is not a time; write RFC 3339, e.g. 2026-11-21T02:00:00Z"
    return f"{error['msg']} (got {show(value)})"


def error_reason(error: Any) -> str:
    kind = str(error["type"])
    return {
        "missing": "MissingField",
        "extra_forbidden": "UnknownField",
    }.get(kind, "InvalidValue")


def model_at(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model class found at `loc` inside `model` (by camelCase alias), or None."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            current = _item_type(current)
        elif isinstance(current, type) and issubclass(current, BaseModel):
            info = next(
                (f for n, f in current.model_fields.items() if part in (f.alias, n)),
                None,
            )
            if info is None:
                return None
            current = info.annotation
        else:
            current = _item_type(current)  # a dict value
        if current is None:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def field_names(model: type[BaseModel]) -> list[str]:
    """The camelCase field names a user may write for `model`."""
    return [info.alias or name for name, info in model.model_fields.items()]


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated down to the one model (or container) inside."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            arms = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(arms) != 1:
                return None
            annotation = arms[0]
        else:
            return annotation


def _item_type(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def show(value: object) -> str:
    if isinstance(value, str | int | float | bool) or value is None:
        return json.dumps(value)
    return describe(value)


def describe(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty (null)"
    if isinstance(value, str):
        return f"a string ({json.dumps(value)})"
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if isinstance(value, int | float):
        return f"a number ({value})"
    return type(value).__name__


def _yaml_scalar(value: bool | int | float) -> str:
    return json.dumps(value)


def _count(value: object) -> int:
    return len(value) if isinstance(value, list | str | dict) else 0


def slug_hint(name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    return f' (e.g. "{slug}")' if slug and slug != name else ""
