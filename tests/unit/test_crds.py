"""The generated CRDs: fresh, structural, and carrying what API.md promises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright.api import crdgen

ROOT = Path(__file__).resolve().parents[2]


def load(plural: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (ROOT / "crds" / f"runwright.dev_{plural}.yaml").read_text()
    )
    return data


def schema(plural: str) -> dict[str, Any]:
    version = load(plural)["spec"]["versions"][0]
    result: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return result


def walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found.extend(walk(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(walk(value))
    return found


def test_committed_crds_match_the_models() -> None:
    assert crdgen.main(["--out", str(ROOT / "crds"), "--check"]) == 0


def test_generation_is_deterministic() -> None:
    for kind in crdgen.KINDS:
        assert crdgen.render(kind) == crdgen.render(kind)


@pytest.mark.parametrize(
    ("plural", "short", "columns"),
    [
        ("pipelines", "pl", ["Blocks", "Ready", "Active", "Last Run", "Last Phase", "Age"]),
        (
            "triggers",
            "trg",
            ["Pipeline", "Type", "Schedule", "Suspend", "Last Run", "Last Phase", "Next", "Age"],
        ),
        (
            "pipelineruns",
            "plr",
            ["Pipeline", "Phase", "Reason", "Progress", "Trigger", "Started", "Duration", "Age"],
        ),
    ],
)
def test_names_category_columns_and_status(plural: str, short: str, columns: list[str]) -> None:
    crd = load(plural)
    assert crd["spec"]["names"]["shortNames"] == [short]
    assert crd["spec"]["names"]["categories"] == ["runwright"]
    version = crd["spec"]["versions"][0]
    shown = [c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert shown == columns
    assert version["subresources"] == {"status": {}}


def test_run_columns_read_the_human_duration_and_wide_adds_the_failed_block() -> None:
    columns = {
        c["name"]: c
        for c in load("pipelineruns")["spec"]["versions"][0]["additionalPrinterColumns"]
    }
    assert columns["Duration"]["jsonPath"] == ".status.duration"
    assert columns["Reason"]["jsonPath"] == ".status.reason"
    wide = {name: c["jsonPath"] for name, c in columns.items() if c.get("priority") == 1}
    assert wide == {
        "Failed Block": ".status.failedBlock",
        "Message": ".status.message",
        # The sort keys of `kubectl runwright list --sort duration|items|cost` (issue 13).
        "Duration Seconds": ".status.durationSeconds",
        "Items": ".status.metrics.itemsProcessed",
        "Cost": ".status.metrics.cost",
    }


@pytest.mark.parametrize("plural", ["pipelines", "triggers", "pipelineruns"])
def test_schemas_are_structural_and_every_field_is_described(plural: str) -> None:
    root = schema(plural)
    for node in walk([root["properties"]["spec"], root["properties"]["status"]]):
        assert not {"$ref", "anyOf", "allOf", "oneOf", "title"} & set(node), node
        for name, prop in node.get("properties", {}).items():
            assert prop.get("description"), f"{plural}: {name} has no description"
            assert "type" in prop, f"{plural}: {name} has no type"


def test_blocks_are_a_list_map_keyed_by_name_with_cel_for_upstream() -> None:
    spec = schema("pipelines")["properties"]["spec"]
    blocks = spec["properties"]["blocks"]
    assert blocks["x-kubernetes-list-type"] == "map"
    assert blocks["x-kubernetes-list-map-keys"] == ["name"]
    assert blocks["items"]["properties"]["name"]["pattern"].startswith("^[a-z0-9]")
    # Issue 15: a rule comparing blocks with each other costs blocks x blocks x upstreams,
    # over the API server's budget at 1,000 blocks: the operator checks upstream names
    # (Ready=False UnknownUpstream); the CRD keeps the per-block rule.
    # (spec.finally's upstream rules compare at most 10 finally blocks: they may stay.)
    rules = [v["rule"] for v in spec["x-kubernetes-validations"]]
    assert not any("upstream" in r and "self.blocks" in r for r in rules)
    block_rules = [v["rule"] for v in blocks["items"]["x-kubernetes-validations"]]
    assert any("self.name in self.upstream" in r for r in block_rules)


def test_trigger_type_must_match_its_config() -> None:
    spec = schema("triggers")["properties"]["spec"]
    messages = [v["message"] for v in spec["x-kubernetes-validations"]]
    for field in ("schedule", "event", "api", "once"):
        assert any(f"spec.{field}" in m for m in messages), field
    assert spec["properties"]["type"]["enum"] == ["Schedule", "Once", "AlwaysOn", "Event", "API"]


def test_the_frozen_pipeline_spec_in_run_status_is_opaque() -> None:
    status = schema("pipelineruns")["properties"]["status"]
    assert status["properties"]["pipelineSpec"]["x-kubernetes-preserve-unknown-fields"] is True
