"""Generate docs/api.md, the API reference, from the pydantic models.

The models (operator/runwright/api/) are the single source of truth for the CRDs
(`runwright.api.crdgen`) and for this page: every field of Pipeline, Trigger and
PipelineRun, spec and status, with its type, default, allowed values, constraints and
description, walked from each model's JSON schema as the CRD generator walks it. A
field added to a model appears here on the next `make apidocs`; the output is
deterministic, so `--check` (in `make test`, via `make check-apidocs`) fails when the
committed page is stale:

    python hack/apidocs.py [--out docs/api.md] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import typing
from collections import deque
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from runwright import labels
from runwright.api.crdgen import KINDS, Kind

OUT = Path(__file__).resolve().parents[1] / "docs" / "api.md"
Schema = dict[str, Any]


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _anchor(name: str) -> str:
    return f"[{name}](#{name.lower()})"


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Every model class an annotation mentions (list[X], X | None, dict[str, X], ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _without_null(node: Schema) -> Schema:
    """`X | None` as X (the field's default says it may be left out)."""
    options = node.get("anyOf")
    if options is None:
        return node
    rest = [o for o in options if o.get("type") != "null"]
    if len(rest) != 1:
        return node
    return {**rest[0], **{k: v for k, v in node.items() if k != "anyOf"}}


def _type(node: Schema, defs: dict[str, Schema]) -> str:
    """A field's type as a reader wants it: `string`, `list of Block`, `one of A, B`."""
    node = _without_null(node)
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = defs[name]
        if "enum" in target:
            return "one of " + ", ".join(f"`{v}`" for v in target["enum"])
        return _anchor(name)
    if "enum" in node:
        return "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if "const" in node:
        return f"`{node['const']}`"
    if "anyOf" in node:
        return " or ".join(_type(option, defs) for option in node["anyOf"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type(node.get('items', {}), defs)}"
    if kind == "object":
        values = node.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"map of string to {_type(values, defs)}"
        return "object (a Kubernetes type, passed through as written)"
    if kind == "string" and node.get("format") == "date-time":
        return "time (RFC 3339)"
    return str(kind or "any")


def _constraints(node: Schema) -> str:
    """Pattern, lengths, bounds and item counts, in words."""
    node = _without_null(node)
    said = []
    if "pattern" in node:
        said.append(f"matches `{node['pattern']}`")
    for key, words in (
        ("minLength", "{} or more characters"),
        ("maxLength", "at most {} characters"),
        ("minimum", "at least {}"),
        ("exclusiveMinimum", "more than {}"),
        ("maximum", "at most {}"),
        ("exclusiveMaximum", "less than {}"),
        ("minItems", "{} or more items"),
        ("maxItems", "at most {} items"),
    ):
        if key in node:
            said.append(words.format(node[key]))
    if node.get("uniqueItems"):
        said.append("no duplicates")
    return "; ".join(said)


def _default(field: FieldInfo) -> str:
    """`required`, or the default as JSON (an empty cell when the default is unset)."""
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return ""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, BaseModel):
        # Only what differs from the nested model's own defaults (shown in its table).
        value = value.model_dump(by_alias=True, mode="json", exclude_defaults=True)
    return f"`{json.dumps(value, sort_keys=True, default=str)}`"


def _model_section(model: type[BaseModel]) -> tuple[list[str], list[type[BaseModel]]]:
    """One model's table (one row per field, in declaration order) and the models it uses."""
    schema = model.model_json_schema(by_alias=True)
    defs: dict[str, Schema] = schema.get("$defs", {})
    props: dict[str, Schema] = schema.get("properties", {})
    lines = [f"### {model.__name__}", ""]
    doc = _one_line(model.__doc__)
    if doc:
        lines += [doc, ""]
    lines += ["| Field | Type | Default | Description |", "| --- | --- | --- | --- |"]
    used: list[type[BaseModel]] = []
    for name, field in model.model_fields.items():
        alias = field.alias or name
        node = props.get(alias, {})
        description = _one_line(field.description or node.get("description"))
        limits = _constraints(node)
        if limits:
            description = f"{description} ({limits})" if description else limits.capitalize()
        lines.append(
            f"| `{alias}` | {_cell(_type(node, defs))} | {_cell(_default(field))} "
            f"| {_cell(description)} |"
        )
        used.extend(_models_in(field.annotation))
    return lines, used


def _kind_section(kind: Kind, documented: set[type[BaseModel]]) -> list[str]:
    """A resource: what it is, its names and columns, then every model it is made of."""
    lines = [
        f"## {kind.kind}",
        "",
        kind.description,
        "",
        f"`apiVersion: {labels.API_VERSION}`, `kind: {kind.kind}`; plural `{kind.plural}`, "
        f"short name `{kind.short}` (`kubectl get {kind.short}`), category `runwright`. "
        f"`spec` is a {_anchor(kind.spec.__name__)}, `status` a "
        f"{_anchor(kind.status.__name__)} (written by the operator only).",
        "",
        "`kubectl get` columns: "
        + ", ".join(f"{col['name'].upper()} (`{col['jsonPath']}`)" for col in kind.columns)
        + ".",
        "",
    ]
    queue: deque[type[BaseModel]] = deque([kind.spec, kind.status])
    while queue:
        model = queue.popleft()
        if model in documented:
            continue
        documented.add(model)
        section, used = _model_section(model)
        lines += [*section, ""]
        queue.extend(used)
    return lines


def render() -> str:
    """The whole page: each kind, then each model reachable from its spec and status."""
    lines = [
        "# API reference",
        "",
        f"The three resources of `{labels.API_VERSION}`, every field of their spec and "
        "status. Generated from the pydantic models in `operator/runwright/api/` by "
        "`python hack/apidocs.py` (`make apidocs`); do not edit by hand. The CRDs in "
        "`crds/` come from the same models, so `kubectl explain pipeline.spec.blocks` "
        "says the same. A model used by several resources is described once, where it "
        "first appears.",
        "",
        "Contents: " + ", ".join(_anchor(kind.kind) for kind in KINDS) + ".",
        "",
    ]
    documented: set[type[BaseModel]] = set()
    for kind in KINDS:
        lines += _kind_section(kind, documented)
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write (or, with --check, compare) docs/api.md."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="fail if the file differs")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not args.out.exists() or args.out.read_text() != text:
            print(
                f"{args.out} is stale: run `make apidocs` (python hack/apidocs.py) and commit it",
                file=sys.stderr,
            )
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
