"""The accepted-but-invalid objects of issue 16, as manifests: shared by the integration
test (tests/integration/test_invalid_objects.py) and the flood benchmark
(tests/bench/bench_invalid.py).

Each case is one object with one thing wrong. `refused` cases must be refused by the
API server at apply time, the refusal naming the field; `not_ready` cases are valid
to the API server (a template is a string to it) and must get Ready=False (or a
failed run) from the operator, the message naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

API = "runwright.dev/v1alpha1"
IMAGE = "registry.invalid/block:1"

#: The issue's template attacks (each must leave the operator responsive and small).
TEMPLATE_ATTACKS = {
    "nested-loops": "{% for a in 'x'*40000 %}{% for b in 'x'*40000 %}{% endfor %}{% endfor %}",
    "repeat": "{{ 'x' * 300000000 }}",
    "range": "{{ range(1000000000) | join(',') }}",
    "format": "{{ '%s' % variables }}",
    "attribute-walk": "{{ ''.__class__.__mro__ }}",
    "power": "{{ 9 ** 9 ** 9 }}",
    "deep": "{{ " + "(" * 300 + "1" + ")" * 300 + " }}",
}


def pipeline(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "template": {"image": IMAGE},
        "blocks": [{"name": "a", "command": ["run"]}, {"name": "b", "upstream": ["a"]}],
    }
    body.update(spec)
    return {"apiVersion": API, "kind": "Pipeline", "metadata": {"name": name}, "spec": body}


def with_template(name: str, **template: Any) -> dict[str, Any]:
    return pipeline(name, template={"image": IMAGE, **template})


def with_block(name: str, **fields: Any) -> dict[str, Any]:
    return pipeline(name, blocks=[{"name": "a", **fields}, {"name": "b", "upstream": ["a"]}])


def trigger(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": "p"}, **spec},
    }


def run(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": API,
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": "p"}, **spec},
    }


@dataclass(frozen=True)
class Case:
    """One invalid object: `make(name)` is its manifest, `words` what its refusal says."""

    id: str
    make: Callable[[str], dict[str, Any]]
    words: tuple[str, ...]
    refused: bool = True
    """True: the API server refuses it. False: the operator says Ready=False."""


# fmt: off
CASES = [
    Case("no-image", lambda n: pipeline(n, template={}),
         ("spec.blocks", "every block needs an image")),
    Case("empty-image", lambda n: with_block(n, image=""),
         ("spec.blocks[0].image",)),
    Case("env-name", lambda n: with_block(n, env=[{"name": "1 BAD=", "value": "x"}]),
         ("spec.blocks[0].env[0].name", "should match")),
    Case("quantity", lambda n: with_block(n, resources={"limits": {"cpu": "two"}}),
         ("spec.blocks[0].resources.limits.cpu", "should match")),
    Case("float-quantity", lambda n: with_template(n, resources={"requests": {"memory": 0.5}}),
         ("spec.template.resources.requests.memory", "must be of type")),
    Case("resources-typo", lambda n: with_template(n, resources={"limit": {"cpu": "1"}}),
         ("spec.template.resources.limit", "field not declared in schema")),
    Case("label-key", lambda n: with_template(n, labels={"bad key!": "x"}),
         ("spec.template.labels", "every label key")),
    Case("label-value", lambda n: with_block(n, labels={"team": "data team"}),
         ("spec.blocks[0].labels.team", "should match")),
    Case("annotation-key", lambda n: with_template(n, annotations={"/x": "v"}),
         ("spec.template.annotations", "every annotation key")),
    Case("node-selector", lambda n: with_template(n, nodeSelector={"pool": "a b"}),
         ("spec.template.nodeSelector.pool", "should match")),
    Case("volume-no-source", lambda n: with_template(n, volumes=[{"name": "data"}]),
         ("spec.template.volumes[0]", "exactly one source")),
    Case("volume-two-sources",
         lambda n: with_template(n, volumes=[{"name": "d", "emptyDir": {}, "hostPath": {"path": "/"}}]),
         ("spec.template.volumes[0]", "exactly one source")),
    Case("volume-no-name", lambda n: with_template(n, volumes=[{"emptyDir": {}}]),
         ("spec.template.volumes", "omits all key fields", "name")),
    Case("volume-duplicate",
         lambda n: with_template(n, volumes=[{"name": "d", "emptyDir": {}}, {"name": "d", "emptyDir": {}}]),
         ("spec.template.volumes", "d")),
    Case("mount-without-volume",
         lambda n: with_template(n, volumeMounts=[{"name": "data", "mountPath": "/data"}]),
         ("spec.template.volumeMounts", "must name a volume")),
    Case("duplicate-upstream",
         lambda n: pipeline(n, blocks=[{"name": "a"}, {"name": "b", "upstream": ["a", "a"]}]),
         ('spec.blocks[name="b"].upstream', "duplicate entries")),
    Case("api-secret-without-key",
         lambda n: trigger(n, type="API", api={"tokenSecretRef": {"name": "token"}}),
         ("spec.api.tokenSecretRef.key", "Required value")),
    Case("event-running",
         lambda n: trigger(n, type="Event", event={"pipelineRef": {"name": "up"}, "phases": ["Running"]}),
         ("spec.event.phases[0]", "Unsupported value")),
    Case("event-duplicate-phase",
         lambda n: trigger(n, type="Event",
                           event={"pipelineRef": {"name": "up"}, "phases": ["Failed", "Failed"]}),
         ("spec.event.phases", "duplicate entries")),
    # Durations are added to times: one past the year 9999 was an OverflowError traceback.
    Case("timeout-overflow", lambda n: pipeline(n, timeoutSeconds=10**15),
         ("spec.timeoutSeconds", "less than or equal to")),
    Case("backoff-overflow", lambda n: pipeline(n, retry={"maxBackoffSeconds": 10**15}),
         ("spec.retry.maxBackoffSeconds", "less than or equal to")),
    Case("retention-overflow", lambda n: pipeline(n, retention={"failedSeconds": 10**15}),
         ("spec.retention.failedSeconds", "less than or equal to")),
    Case("run-sla-overflow", lambda n: run(n, slaSeconds=10**15),
         ("spec.slaSeconds", "less than or equal to")),
    Case("run-date-overflow", lambda n: run(n, executionDate="9999-12-31T23:59:59Z"),
         ("spec.executionDate", "must be before 9000")),
    # A run copies its variables into its status: a huge map made every status write fail.
    Case("run-variables-too-big", lambda n: run(n, variables={f"v{i}": "x" * 60000 for i in range(5)}),
         ("spec.variables", "at most 262144 characters of variables")),
    Case("variable-too-long", lambda n: pipeline(n, variables={"v": "x" * 70000}),
         ("spec.variables.v", "Too long")),
    *[
        Case(f"template-{key}", lambda n, t=text: with_block(n, args=["ok", t]),
             ("spec.blocks[0].args[1]",), refused=False)
        for key, text in TEMPLATE_ATTACKS.items()
    ],
    Case("template-in-pod-template-env",
         lambda n: with_template(n, env=[{"name": "X", "value": "{{ 'x' * 300000000 }}"}]),
         ("spec.template.env[0].value",), refused=False),
]
# fmt: on
