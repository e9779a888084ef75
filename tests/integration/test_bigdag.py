"""Big DAGs on the bundled control plane (issue 15).

- What the CRD no longer checks at 1,000 blocks (an upstream naming no block, a
  cycle) is accepted at apply and reported by the operator in the Pipeline's Ready
  condition, naming the field and the fix.
- A run of a pipeline past the full-share size (160 blocks) runs to the end, its
  printer columns show it, and its object stays within run_size's estimate. The
  test runs 200 blocks (4 layers of 50, fan-in 5) to stay short on a loaded
  machine; `make bench-bigdag` runs the full 1,000.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runwright.api.pipeline import PipelineSpec
from runwright.engine import run_size

from .operator_fixture import Runs, block, pipeline, status

pytestmark = pytest.mark.integration


def ready(runs: Runs, name: str, timeout: float = 120.0) -> dict[str, Any]:
    """The Pipeline's Ready condition once the operator wrote one (a deadline, generous:
    the operator starts on a loaded machine)."""

    def condition() -> dict[str, Any] | None:
        found = [
            c
            for c in status(runs.get(name, "pipeline")).get("conditions") or []
            if c["type"] == "Ready"
        ]
        return found[0] if found else None

    found: dict[str, Any] = runs.cluster.wait_for(f"Ready of {name}", condition, timeout)
    return found


@pytest.mark.usefixtures("operator")
def test_an_unknown_upstream_is_accepted_at_apply_and_not_ready_naming_it(runs: Runs) -> None:
    runs.apply(pipeline("typo", [block("load"), block("export", "lod")]))
    condition = ready(runs, "typo")
    assert (condition["status"], condition["reason"]) == ("False", "UnknownUpstream")
    assert condition["message"] == (
        'spec.blocks[1].upstream[0]: names "lod", no such block (did you mean "load"?)'
    )


@pytest.mark.usefixtures("operator")
def test_a_cycle_is_accepted_at_apply_and_not_ready_naming_its_edges(runs: Runs) -> None:
    runs.apply(pipeline("loop", [block("a", "c"), block("b", "a"), block("c", "b")]))
    condition = ready(runs, "loop")
    assert (condition["status"], condition["reason"]) == ("False", "CycleDetected")
    assert "a -> b -> c -> a" in condition["message"]
    assert "remove one of these upstream edges" in condition["message"]


def layered(layers: int, width: int, fan_in: int) -> list[dict[str, Any]]:
    return [
        block(
            f"l{layer}-b{i}",
            *([f"l{layer - 1}-b{(i + k) % width}" for k in range(fan_in)] if layer else []),
        )
        for layer in range(layers)
        for i in range(width)
    ]


@pytest.mark.operator_args("--max-concurrent-blocks", "100")
@pytest.mark.usefixtures("operator")
def test_a_200_block_run_completes_within_its_size_estimate(runs: Runs) -> None:
    blocks = layered(4, 50, 5)
    manifest = pipeline("big", blocks)
    runs.apply(manifest)
    assert ready(runs, "big")["status"] == "True"
    runs.start("big-1", "big")
    run = runs.wait_finished("big-1", timeout=300)
    st = status(run)
    assert (st["phase"], st["progress"]) == ("Succeeded", "200/200")
    assert {b["phase"] for b in st["blocks"].values()} == {"Succeeded"}
    size = len(json.dumps(run, separators=(",", ":")))
    estimate = run_size.worst_run_bytes(PipelineSpec.model_validate(manifest["spec"]))
    assert size < estimate, (size, estimate)
    columns = runs.cluster.kubectl("get", "plr", "big-1", "-n", runs.ns).stdout
    assert "Succeeded" in columns and "200/200" in columns, columns
