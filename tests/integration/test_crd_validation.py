"""The API server itself refuses invalid Runwright objects, naming the field.

Every case is a valid manifest with one thing broken, applied with
`kubectl apply --server-side` (strict field validation); the refusal must come
from the CRD schema (OpenAPI, enums, patterns, list-map keys, CEL) and its
message must name the offending field.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from .kube import Cluster

pytestmark = pytest.mark.integration

API = "runwright.dev/v1alpha1"


def pipeline() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Pipeline",
        "metadata": {"name": "etl"},
        "spec": {
            "template": {"image": "registry.invalid/etl:1"},
            "concurrency": {"blockRunLimit": 2, "pipelineRunLimit": 1, "onLimit": "Wait"},
            "retry": {"limit": 1, "backoffSeconds": 5},
            "timeoutSeconds": 600,
            "timeoutStatus": "Failed",
            "blocks": [
                {"name": "extract", "type": "Loader", "command": ["python", "-m", "x"]},
                {"name": "load", "type": "Exporter", "upstream": ["extract"]},
            ],
        },
    }


def trigger() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Trigger",
        "metadata": {"name": "nightly"},
        "spec": {
            "pipelineRef": {"name": "etl"},
            "type": "Schedule",
            "schedule": {"cron": "0 2 * * *", "timezone": "UTC"},
            "concurrencyPolicy": "Forbid",
        },
    }


def run() -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "PipelineRun",
        "metadata": {"name": "etl-manual-1"},
        "spec": {"pipelineRef": {"name": "etl"}, "triggeredBy": "Manual"},
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation setting a dotted path (list indexes as numbers) to value."""

    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = obj
        for p in parents:
            node = node[int(p)] if p.isdigit() else node.setdefault(p, {})
        if value is _DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()

# (id, base, mutation, words the refusal must contain: the field first)
# fmt: off
CASES: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None], tuple[str, ...]]] = [
    ("block-type-enum", pipeline, _set("spec.blocks.0.type", "Sink"),
     ("spec.blocks[0].type", "Unsupported value")),
    ("block-name-pattern", pipeline, _set("spec.blocks.0.name", "Extract_Step"),
     ("spec.blocks[0].name", "should match")),
    ("block-name-too-long", pipeline, _set("spec.blocks.1.name", "b" * 64),
     ("spec.blocks[1].name", "Too long")),
    ("block-names-unique", pipeline, _set("spec.blocks.1.name", "extract"),
     (".spec.blocks", 'duplicate entries for key [name="extract"]')),
    # Upstream names that exist: the operator's Ready condition since issue 15 (CEL's cost
    # of it at 1,000 blocks is over budget); tests/integration/test_bigdag.py.
    ("upstream-not-self", pipeline, _set("spec.blocks.1.upstream", ["load"]),
     ("spec.blocks", "cannot be its own upstream")),
    ("blocks-required", pipeline, _set("spec.blocks", _DELETE),
     ("spec.blocks", "Required value")),
    ("on-limit-enum", pipeline, _set("spec.concurrency.onLimit", "Queue"),
     ("spec.concurrency.onLimit", "Unsupported value")),
    ("timeout-status-enum", pipeline, _set("spec.timeoutStatus", "Aborted"),
     ("spec.timeoutStatus", "Unsupported value")),
    ("retry-limit-minimum", pipeline, _set("spec.retry.limit", -1),
     ("spec.retry.limit", "greater than or equal to 0")),
    ("block-retry-limit-minimum", pipeline, _set("spec.blocks.0.retry", {"limit": -2}),
     ("spec.blocks[0].retry.limit", "greater than or equal to 0")),
    ("timeout-minimum", pipeline, _set("spec.timeoutSeconds", 0),
     ("spec.timeoutSeconds", "greater than or equal to 1")),
    ("block-timeout-minimum", pipeline, _set("spec.blocks.1.timeoutSeconds", 0),
     ("spec.blocks[1].timeoutSeconds", "greater than or equal to 1")),
    ("when-operator-enum", pipeline,
     _set("spec.blocks.1.when", [{"input": "x", "operator": "Like", "values": ["prod"]}]),
     ("spec.blocks[1].when[0].operator", "Unsupported value")),
    ("unknown-field", pipeline, _set("spec.parallelism", 3),
     ("spec.parallelism", "field not declared in schema")),
    ("unknown-block-field", pipeline, _set("spec.blocks.0.imagePolicy", "Always"),
     ('.spec.blocks[name="extract"].imagePolicy', "field not declared in schema")),
    ("variables-are-strings", pipeline, _set("spec.variables", {"env": 3}),
     ("spec.variables.env", "expected string")),
    ("wrong-type", pipeline, _set("spec.timeoutSeconds", "ten minutes"),
     ("spec.timeoutSeconds", "expected numeric")),
    ("trigger-type-enum", trigger, _set("spec.type", "Hourly"),
     ("spec.type", "Unsupported value")),
    ("trigger-schedule-needs-config", trigger, _set("spec.schedule", _DELETE),
     ("spec.schedule", "required when spec.type is Schedule")),
    ("trigger-config-matches-type", trigger, _set("spec.type", "AlwaysOn"),
     ("spec.schedule", "required when spec.type is Schedule, and only then")),
    ("trigger-event-needs-config", trigger,
     lambda o: (_set("spec.type", "Event")(o), _set("spec.schedule", _DELETE)(o)),
     ("spec.event", "required when spec.type is Event")),
    ("trigger-once-only-for-once", trigger, _set("spec.once", {"at": "2026-12-01T00:00:00Z"}),
     ("spec.once", "only allowed when spec.type is Once")),
    ("trigger-concurrency-policy-enum", trigger, _set("spec.concurrencyPolicy", "Queue"),
     ("spec.concurrencyPolicy", "Unsupported value")),
    ("trigger-pipeline-ref-required", trigger, _set("spec.pipelineRef", _DELETE),
     ("spec.pipelineRef", "Required value")),
    ("trigger-end-after-start", trigger,
     _set("spec.schedule", {"cron": "@daily", "startTime": "2026-02-01T00:00:00Z",
                            "endTime": "2026-01-01T00:00:00Z"}),
     ("spec.schedule.endTime", "must be after")),
    ("trigger-cron-shape", trigger, _set("spec.schedule.cron", "0 2 * *"),
     ("spec.schedule.cron", "should match")),
    ("name-fits-a-label-value", run, _set("metadata.name", "r" * 64),
     ("metadata.name", "at most 63 characters")),
    ("run-triggered-by-enum", run, _set("spec.triggeredBy", "Robot"),
     ("spec.triggeredBy", "Unsupported value")),
    ("run-retry-mode-enum", run, _set("spec.retry", {"id": "1", "mode": "All"}),
     ("spec.retry.mode", "Unsupported value")),
    ("run-from-block-needs-block", run, _set("spec.retry", {"id": "1", "mode": "FromBlock"}),
     ("spec.retry.fromBlock", "required when spec.retry.mode is FromBlock")),
    ("run-pipeline-ref-pattern", run, _set("spec.pipelineRef.name", "Not A Name"),
     ("spec.pipelineRef.name", "should match")),
    ("run-retry-pipeline-spec-enum", run, _set("spec.retry", {"id": "1", "pipelineSpec": "Latest"}),
     ("spec.retry.pipelineSpec", "Unsupported value")),
    ("run-rerun-pipeline-spec-enum", run,
     _set("spec.rerunOf", {"name": "etl-1", "pipelineSpec": "Live"}),
     ("spec.rerunOf.pipelineSpec", "Unsupported value")),
]
# fmt: on


def current_retry_and_rerun() -> dict[str, Any]:
    body = run()
    body["spec"]["retry"] = {"id": "2", "mode": "Incomplete", "pipelineSpec": "Current"}
    body["spec"]["rerunOf"] = {"name": "etl-0", "pipelineSpec": "Current"}
    return body


@pytest.mark.parametrize(
    "base",
    [pipeline, trigger, run, current_retry_and_rerun],
    ids=["pipeline", "trigger", "run", "run-current"],
)
def test_the_valid_bases_are_accepted(cluster: Cluster, ns: str, base: Callable[[], Any]) -> None:
    res = cluster.apply(base(), ns, check=False)
    assert res.ok, res.stderr


@pytest.mark.parametrize(
    ("base", "mutate", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_invalid_manifest_is_refused_naming_the_field(
    cluster: Cluster,
    ns: str,
    base: Callable[[], dict[str, Any]],
    mutate: Callable[[dict[str, Any]], None],
    words: tuple[str, ...],
) -> None:
    obj = copy.deepcopy(base())
    mutate(obj)
    res = cluster.apply(obj, ns, check=False)
    assert not res.ok, f"the API server accepted an invalid {obj['kind']}: {obj['spec']}"
    message = res.stderr
    assert "no matches for kind" not in message, message
    for word in words:
        assert word in message, f"{word!r} not in refusal: {message}"
    # nothing was stored
    got = cluster.kubectl(
        "get", obj["kind"].lower(), obj["metadata"]["name"], "-n", ns, check=False
    )
    assert not got.ok


def test_at_least_ten_kinds_of_refusal() -> None:
    assert len(CASES) >= 10
