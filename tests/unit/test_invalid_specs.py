"""Accepted-but-invalid objects of issue 16, refused by the models with the field named.

The same rules are in the CRD (tests/integration/test_invalid_objects.py applies them to
the API server); here they are checked as `runwright validate` and the operator's Ready
condition see them, and the CRD is checked to carry each rule.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

from runwright.api.crdgen import KINDS, crd
from runwright.api.pipeline import PipelineSpec
from runwright.api.run import PipelineRunSpec, PipelineRunStatus
from runwright.api.trigger import TriggerSpec
from runwright.cli.main import main
from runwright.controller.pipelines import validate_spec


def pipeline() -> dict[str, Any]:
    return {
        "template": {"image": "registry.invalid/etl:1"},
        "blocks": [{"name": "extract"}, {"name": "load", "upstream": ["extract"]}],
    }


def edit(path: str, value: Any) -> dict[str, Any]:
    spec = pipeline()
    *parents, last = path.split(".")
    node: Any = spec
    for part in parents:
        node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
    node[last] = value
    return spec


# fmt: off
PIPELINE_CASES = [
    ("env-name", edit("blocks.0.env", [{"name": "1 BAD", "value": "x"}]),
     "spec.blocks[0].env[0].name", "not a valid environment variable name"),
    ("quantity", edit("blocks.0.resources", {"limits": {"cpu": "two"}}),
     "spec.blocks[0].resources", "is not a quantity"),
    ("float-quantity", edit("template.resources", {"requests": {"cpu": 0.5}}),
     "spec.template.resources", "is not a quantity"),
    ("resources-field", edit("template.resources", {"limit": {"cpu": "1"}}),
     "spec.template.resources", 'unknown field "limit"'),
    ("label-key", edit("blocks.1.labels", {"bad key!": "x"}),
     "spec.blocks[1].labels", "is not a valid key"),
    ("label-value", edit("template.labels", {"team": "a b"}),
     "spec.template.labels", "not a valid label value"),
    ("annotation-key", edit("template.annotations", {"-x": "y"}),
     "spec.template.annotations", "is not a valid key"),
    ("volume-no-source", edit("template.volumes", [{"name": "data"}]),
     "spec.template.volumes[0]", "exactly one source"),
    ("volume-two-sources", edit("template.volumes", [{"name": "d", "emptyDir": {}, "secret": {}}]),
     "spec.template.volumes[0]", "exactly one source"),
    ("volume-unknown-source", edit("template.volumes", [{"name": "d", "bogus": {}}]),
     "spec.template.volumes[0]", "is not a volume source"),
    ("mount-without-volume", edit("template.volumeMounts", [{"name": "x", "mountPath": "/x"}]),
     "spec.template", "names no volume"),
    ("duplicate-upstream", edit("blocks.1.upstream", ["extract", "extract"]),
     "spec.blocks[1].upstream", "listed twice"),
    ("timeout-overflow", edit("timeoutSeconds", 10**15),
     "spec.timeoutSeconds", "it must be at most 316224000"),
    ("block-timeout-overflow", edit("blocks.0.timeoutSeconds", 10**15),
     "spec.blocks[0].timeoutSeconds", "it must be at most 316224000"),
]
# fmt: on


@pytest.mark.parametrize(
    ("spec", "field", "words"), [c[1:] for c in PIPELINE_CASES], ids=[c[0] for c in PIPELINE_CASES]
)
def test_an_invalid_pipeline_is_not_ready_with_the_field_named(
    spec: dict[str, Any], field: str, words: str
) -> None:
    parsed, reason, message = validate_spec(spec)
    assert parsed is None
    assert reason == "InvalidSpec"
    assert field in message and words in message, message


def test_the_valid_base_and_kubernetes_shapes_pass() -> None:
    spec = pipeline()
    spec["template"].update(
        resources={"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": 1}},
        labels={"app.kubernetes.io/name": "etl", "tier": ""},
        volumes=[{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "c"}}],
        volumeMounts=[{"name": "data", "mountPath": "/data"}],
        env=[{"name": "MY_VAR.x-1", "value": "1"}],
    )
    assert validate_spec(spec)[1] == "Valid"


def trigger(**event: Any) -> dict[str, Any]:
    return {
        "pipelineRef": {"name": "etl"},
        "type": "Event",
        "event": {"pipelineRef": {"name": "up"}, **event},
    }


def test_an_event_trigger_listens_only_for_finished_phases() -> None:
    with pytest.raises(pydantic.ValidationError, match="not a phase a run ends in"):
        TriggerSpec.model_validate(trigger(phases=["Succeeded", "Running"]))
    TriggerSpec.model_validate(trigger(phases=["Failed", "Cancelled"]))


def test_an_api_trigger_names_its_secret_key() -> None:
    spec = {"pipelineRef": {"name": "etl"}, "type": "API", "api": {"tokenSecretRef": {"name": "t"}}}
    with pytest.raises(pydantic.ValidationError, match="key"):
        TriggerSpec.model_validate(spec)


def schema_text(kind: str) -> str:
    [k] = [k for k in KINDS if k.kind == kind]
    return json.dumps(crd(k))


def test_the_crd_carries_each_rule() -> None:
    pipelines, triggers = schema_text("Pipeline"), schema_text("Trigger")
    for words in (
        "every block needs an image",
        "x-kubernetes-int-or-string",
        "a volume needs exactly one source",
        "must name a volume in spec.template.volumes",
        "every label key",
        '"x-kubernetes-list-type": "set"',
    ):
        assert words in pipelines, words
    assert '"enum": ["Succeeded", "Failed", "Cancelled"]' in triggers
    spec = crd(next(k for k in KINDS if k.kind == "Trigger"))["spec"]["versions"][0]
    api = spec["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["api"]
    assert "key" in api["properties"]["tokenSecretRef"]["required"]


def test_local_mode_needs_no_image() -> None:
    # The image rule is the CRD's only: `runwright run` runs commands, not containers.
    spec = copy.deepcopy(pipeline())
    del spec["template"]
    PipelineSpec.model_validate(spec)


def test_a_retry_naming_an_unknown_block_on_a_running_run_is_refused_at_once() -> None:
    from runwright.api import RunPhase
    from tests.unit.sim import Outcome, Sim, run_spec, spec

    sim = Sim(
        spec("blocks: [{name: clean, command: [x]}, {name: load, command: [x]}]"),
        {"clean": [Outcome(seconds=600)]},
    )
    sim.step()
    assert sim.status.phase == RunPhase.RUNNING
    sim.spec = run_spec(retry={"id": "1", "mode": "FromBlock", "fromBlock": "clen"})
    result = sim.step()
    assert result.status.phase == RunPhase.RUNNING
    cond = next(c for c in result.status.conditions if c.type == "RetryAccepted")
    assert (cond.status, cond.reason) == ("False", "UnknownBlock")
    assert "spec.retry.fromBlock" in cond.message and 'did you mean "clean"' in cond.message
    [event] = [e for e in result.events if e.reason == "RetryRejected"]
    assert event.type == "Warning"
    assert not [e for e in sim.step().events if e.reason == "RetryRejected"]  # said once
    assert sim.run().phase == RunPhase.SUCCEEDED  # the run went on untouched


def test_runwright_validate_says_the_same_with_the_field_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "apiVersion: runwright.dev/v1alpha1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n"
        "  template: {image: i, volumes: [{name: data}]}\n"
        "  blocks:\n"
        "  - {name: a, env: [{name: 1BAD, value: x}], resources: {limits: {cpu: two}}}\n"
        "  - {name: b, upstream: [a, a], labels: {team: data team}}\n"
    )
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    for words in (
        "spec.template.volumes[0]",
        "exactly one source",
        "spec.blocks[0].env[0].name",
        "not a valid environment variable name",
        "spec.blocks[0].resources",
        "is not a quantity",
        "spec.blocks[1].upstream",
        "listed twice",
        "spec.blocks[1].labels",
        "not a valid label value",
    ):
        assert words in err, (words, err)


def test_a_run_frozen_before_a_rule_was_added_stays_readable() -> None:
    # A run stored by an older operator (its blocks ran, or failed at Job creation) must
    # not become a traceback on every start: its frozen copy is read as it was stored.
    frozen = edit("blocks.1.upstream", ["extract", "extract"])
    frozen["template"].update(resources={"requests": {"cpu": 0.5}}, labels={"a": "b c"})
    frozen["blocks"][0]["env"] = [{"name": "1BAD", "value": "x"}]
    status = PipelineRunStatus.model_validate({"phase": "Failed", "pipelineSpec": frozen})
    assert status.pipeline_spec is not None
    assert status.pipeline_spec.blocks[1].upstream == ["extract", "extract"]
    with pytest.raises(pydantic.ValidationError):
        PipelineSpec.model_validate(frozen)  # a Pipeline of today is held to the rules


@pytest.mark.parametrize(
    "fields",
    [{"slaSeconds": 10**15}, {"timeoutSeconds": 10**15}, {"executionDate": "9999-12-31T23:59:59Z"}],
)
def test_a_run_cannot_ask_for_a_time_past_the_year_9999(fields: dict[str, Any]) -> None:
    # On main these were OverflowError tracebacks in the planner, on every reconcile.
    with pytest.raises(pydantic.ValidationError):
        PipelineRunSpec.model_validate({"pipelineRef": {"name": "p"}, **fields})


def test_variables_are_bounded_so_a_run_status_can_hold_them() -> None:
    # A run with a 1 MB variable could never write its status (500 from the API server,
    # a traceback per reconcile on main).
    with pytest.raises(pydantic.ValidationError, match="at most 65536 characters"):
        PipelineRunSpec.model_validate(
            {"pipelineRef": {"name": "p"}, "variables": {"v": "x" * 70000}}
        )
    many = {f"v{i}": "x" * 60000 for i in range(5)}
    with pytest.raises(pydantic.ValidationError, match="at most 262144 in all"):
        TriggerSpec.model_validate(
            {"pipelineRef": {"name": "p"}, "type": "AlwaysOn", "variables": many}
        )


def test_a_pipeline_that_becomes_not_ready_gets_one_warning_event() -> None:
    from runwright.controller.pipelinestatus import newly_not_ready

    def status(state: str, reason: str, message: str) -> dict[str, Any]:
        return {
            "conditions": [{"type": "Ready", "status": state, "reason": reason, "message": message}]
        }

    bad = status("False", "InvalidTemplate", "spec.blocks[0].args[0]: ...")
    assert newly_not_ready(None, bad) == ("InvalidTemplate", "spec.blocks[0].args[0]: ...")
    assert newly_not_ready(status("True", "Valid", ""), bad) is not None
    assert newly_not_ready(bad, bad) is None  # a status write of the same problem: no Event
    assert newly_not_ready(bad, status("True", "Valid", "")) is None
