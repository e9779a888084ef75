"""Generate the CustomResourceDefinitions from the pydantic models.

The models are the single source of truth: this module turns their JSON schema
into Kubernetes structural OpenAPI (refs inlined, nullable instead of anyOf,
free-form Kubernetes types marked preserve-unknown-fields) and adds what only a
CRD has: names, printer columns, the status subresource. Output is
deterministic, so `--check` can fail CI when `crds/` is stale.

    python -m runwright.api.crdgen --out crds [--out charts/runwright/crds] [--check]

`--out` repeats: the Helm chart carries the same files (charts/runwright/crds/).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from runwright import labels
from runwright.api.common import MAX_NAME
from runwright.api.pipeline import PipelineSpec, PipelineStatus
from runwright.api.run import PipelineRunSpec, PipelineRunStatus
from runwright.api.trigger import TriggerSpec, TriggerStatus

Schema = dict[str, Any]

#: Fields whose value is a frozen copy of another resource: stored as-is so a
#: status write never fails on a schema detail of the copied object.
_OPAQUE_FIELDS = {("PipelineRunStatus", "pipelineSpec")}


@dataclass(frozen=True)
class Kind:
    """Everything needed to write one CRD."""

    kind: str
    plural: str
    short: str
    spec: type[BaseModel]
    status: type[BaseModel]
    description: str
    columns: list[dict[str, Any]]


def _col(name: str, path: str, typ: str = "string", **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": typ, "jsonPath": path, **extra}


_AGE = _col("Age", ".metadata.creationTimestamp", "date")

KINDS = [
    Kind(
        kind="Pipeline",
        plural="pipelines",
        short="pl",
        spec=PipelineSpec,
        status=PipelineStatus,
        description="A Pipeline is a DAG of blocks (containers) and the defaults its runs use.",
        columns=[
            _col("Blocks", ".status.blockCount", "integer"),
            _col("Ready", '.status.conditions[?(@.type=="Ready")].status'),
            _col("Active", ".status.activeRuns", "integer"),
            _col("Last Run", ".status.lastRun.name"),
            _col("Last Phase", ".status.lastRun.phase"),
            _AGE,
        ],
    ),
    Kind(
        kind="Trigger",
        plural="triggers",
        short="trg",
        spec=TriggerSpec,
        status=TriggerStatus,
        description="A Trigger creates PipelineRuns: on a schedule, once, always-on, on an "
        "event, or on an API call.",
        columns=[
            _col("Pipeline", ".spec.pipelineRef.name"),
            _col("Type", ".spec.type"),
            _col("Schedule", ".spec.schedule.cron"),
            _col("Suspend", ".spec.suspend", "boolean"),
            _col("Last Run", ".status.lastRun.name"),
            _col("Last Phase", ".status.lastRun.phase"),
            # "date" columns render only past times (a future one shows <invalid>).
            _col("Next", ".status.nextScheduleTime"),
            _AGE,
        ],
    ),
    Kind(
        kind="PipelineRun",
        plural="pipelineruns",
        short="plr",
        spec=PipelineRunSpec,
        status=PipelineRunStatus,
        description="A PipelineRun is one execution of a Pipeline and everything observed of it.",
        columns=[
            _col("Pipeline", ".spec.pipelineRef.name"),
            _col("Phase", ".status.phase"),
            _col("Reason", ".status.reason"),
            _col("Progress", ".status.progress"),
            _col("Trigger", ".spec.triggerRef.name"),
            _col("Started", ".status.startedAt", "date"),
            _col("Duration", ".status.duration"),
            _AGE,
            # `-o wide` only (priority 1): what failed, and why.
            _col("Failed Block", ".status.failedBlock", priority=1),
            _col("Message", ".status.message", priority=1),
            # `-o wide` only too; `kubectl runwright list --sort duration|items|cost` orders
            # the first page by them without reading every run (cli/plugin/firstpage.py).
            _col("Duration Seconds", ".status.durationSeconds", "integer", priority=1),
            _col("Items", ".status.metrics.itemsProcessed", "number", priority=1),
            _col("Cost", ".status.metrics.cost", "number", priority=1),
        ],
    ),
]

# JSON-schema keys with no meaning (or no permission) in a structural CRD schema.
_DROP = {"title", "default", "additionalProperties", "$defs"}


def _structural(node: Schema, defs: dict[str, Schema], owner: str = "") -> Schema:
    """Rewrite one pydantic JSON-schema node into Kubernetes structural form."""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        target = _structural(defs[name], defs, name)
        # The field's own description says more than the model's docstring.
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _structural_keys(merged, defs, owner)
    if node.get("x-kubernetes-int-or-string"):
        return {k: v for k, v in node.items() if k not in _DROP}  # anyOf is its structural form
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"{owner}: unions other than Optional[X] cannot be a CRD schema")
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        merged = {**_structural(options[0], defs, owner), **rest}
        merged["nullable"] = True
        return _structural_keys(merged, defs, owner)
    return _structural_keys(node, defs, owner)


def _structural_keys(node: Schema, defs: dict[str, Schema], owner: str) -> Schema:
    out: Schema = {}
    free_form = node.get("type") == "object" and "properties" not in node
    for key, value in node.items():
        if key in _DROP:
            continue
        if key == "properties":
            out[key] = {
                prop: (
                    {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                        "description": sub.get("description", ""),
                    }
                    if (owner, prop) in _OPAQUE_FIELDS
                    else _structural(sub, defs, owner)
                )
                for prop, sub in value.items()
            }
        elif key == "items":
            out[key] = _structural(value, defs, owner)
        else:
            out[key] = value
    if free_form:
        extra = node.get("additionalProperties")
        if isinstance(extra, dict) and extra:
            out["additionalProperties"] = _structural(extra, defs, owner)
        else:
            out["x-kubernetes-preserve-unknown-fields"] = True
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def model_schema(model: type[BaseModel]) -> Schema:
    """The structural OpenAPI v3 schema of one model, every $ref inlined."""
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.get("$defs", {})
    return _structural(raw, defs, model.__name__)


def crd(kind: Kind) -> Schema:
    """One CustomResourceDefinition as a plain dict."""
    spec_schema = model_schema(kind.spec)
    status_schema = model_schema(kind.status)
    status_schema.pop("required", None)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{labels.GROUP}",
            "labels": {"app.kubernetes.io/part-of": "runwright"},
        },
        "spec": {
            "group": labels.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": [kind.short],
                "categories": ["runwright"],
            },
            "versions": [
                {
                    "name": labels.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": kind.columns,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": kind.description,
                            "required": ["spec"],
                            "x-kubernetes-validations": [
                                {
                                    "rule": f"self.metadata.name.size() <= {MAX_NAME}",
                                    "message": f"metadata.name must be at most {MAX_NAME} "
                                    "characters: it is also a label value on the runs and Jobs "
                                    "it makes",
                                    "reason": "FieldValueInvalid",
                                }
                            ],
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": "runwright.dev/v1alpha1",
                                },
                                "kind": {"type": "string", "description": kind.kind},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": status_schema,
                            },
                        }
                    },
                }
            ],
        },
    }


class _PlainDumper(yaml.SafeDumper):
    """Never writes YAML anchors: shared schema nodes are spelled out, as kubectl expects."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def render(kind: Kind) -> str:
    """The CRD as YAML text, byte-for-byte stable across runs."""
    header = "# Generated by `make crds` from operator/runwright/api. Do not edit.\n"
    body = yaml.dump(crd(kind), Dumper=_PlainDumper, sort_keys=True, width=100)
    return header + body


def main(argv: list[str] | None = None) -> int:
    """Write (or, with --check, compare) every CRD file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        action="append",
        help="directory to write (repeatable; default crds)",
    )
    parser.add_argument("--check", action="store_true", help="fail if the files differ")
    args = parser.parse_args(argv)
    stale: list[str] = []
    for out in args.out or [Path("crds")]:
        for kind in KINDS:
            path = out / f"{labels.GROUP}_{kind.plural}.yaml"
            text = render(kind)
            if args.check:
                if not path.exists() or path.read_text() != text:
                    stale.append(str(path))
            else:
                out.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    if stale:
        print(
            "stale CRDs (run `make crds` and commit the result): " + ", ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
