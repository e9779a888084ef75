"""Big DAGs (issue 15): 1,000-block Pipelines are checked by the operator and their runs fit.

The CRD no longer checks, at 1,000 blocks, what compares blocks with each other (its
CEL cost is over the API server's budget): the operator's Ready condition and
`runwright validate` say it instead, naming the field and the fix. A run's status is
bounded by each block's share of it (run_size) and written without empty fields.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright.api.pipeline import MAX_BLOCKS, MAX_UPSTREAM, PipelineSpec
from runwright.api.run import MAX_ATTEMPT_HISTORY, BlockPhase, PipelineRunStatus
from runwright.cli.main import main
from runwright.controller.pipelines import MAX_LISTED_PROBLEMS, pipeline_status
from runwright.engine import run_size
from runwright.engine.outputs import MAX_OUTPUT_BYTES
from runwright.engine.plan import Observation, StartBlock
from runwright.engine.reasons import BlockReason
from runwright.executors.contract import RunRef
from runwright.reconcile import START_CONCURRENCY, NoLimits, Reconciler, Worker, _status_dump
from runwright.store import MemoryStore
from tests.unit.sim import FAIL, OK, Outcome, Sim

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def layered(layers: int = 10, width: int = 100, fan_in: int = 5) -> list[dict[str, Any]]:
    """bench_bigdag's shape: each block depends on `fan_in` blocks of the layer before."""
    return [
        {
            "name": f"l{layer}-b{i}",
            "command": ["run"],
            "upstream": [f"l{layer - 1}-b{(i + k) % width}" for k in range(fan_in)]
            if layer
            else [],
        }
        for layer in range(layers)
        for i in range(width)
    ]


def ready(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The Ready condition the operator writes for a Pipeline of these blocks."""
    body = {
        "metadata": {"name": "big", "generation": 1},
        "spec": {"template": {"image": "img:1"}, "blocks": blocks},
    }
    status = pipeline_status(body, active_runs=0, last_run=None, now=NOW)
    return next(c for c in status["conditions"] if c["type"] == "Ready")


# ----- what the CRD no longer checks: the Ready condition says it ------------------------


def test_a_valid_1000_block_pipeline_is_ready() -> None:
    condition = ready(layered())
    assert (condition["status"], condition["reason"]) == ("True", "Valid")


def test_an_unknown_upstream_deep_in_a_big_pipeline_names_the_field_and_the_fix() -> None:
    blocks = layered()
    blocks[412]["upstream"][3] = "l3-b1x"
    condition = ready(blocks)
    assert (condition["status"], condition["reason"]) == ("False", "UnknownUpstream")
    assert condition["message"] == (
        'spec.blocks[412].upstream[3]: names "l3-b1x", no such block (did you mean "l3-b1"?)'
    )


def test_an_unknown_upstream_like_no_block_says_what_to_do() -> None:
    blocks = layered()
    blocks[999]["upstream"][0] = "zzzzzzzz"
    message = ready(blocks)["message"]
    assert message == (
        'spec.blocks[999].upstream[0]: names "zzzzzzzz", no such block; name a block of '
        "spec.blocks, or remove this upstream"
    )


def test_a_cycle_through_a_big_pipeline_is_not_ready_naming_its_edges() -> None:
    blocks = layered()
    blocks[0]["upstream"] = ["l9-b0"]  # the first layer now waits for the last one
    condition = ready(blocks)
    assert (condition["status"], condition["reason"]) == ("False", "CycleDetected")
    assert condition["message"].startswith("spec.blocks[")
    assert "l9-b0 -> l0-b0" in condition["message"]
    assert "remove one of these upstream edges" in condition["message"]


def test_duplicate_names_are_not_ready_naming_both_blocks() -> None:
    blocks = layered()
    blocks[700]["name"] = "l0-b0"
    condition = ready(blocks)
    assert (condition["status"], condition["reason"]) == ("False", "DuplicateBlock")
    assert condition["message"].startswith(
        'spec.blocks[700].name: "l0-b0" is already the name of spec.blocks[0]'
    )


def test_thousands_of_problems_list_the_first_ones_and_count_the_rest() -> None:
    blocks = layered()
    for block in blocks[100:]:
        block["upstream"] = [u + "-gone" for u in block["upstream"]]
    message = ready(blocks)["message"]
    assert message.count("no such block") == MAX_LISTED_PROBLEMS
    assert message.endswith("; and 4490 more (`runwright validate FILE` lists them all)")


def test_runwright_validate_reports_what_the_ready_condition_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = layered(layers=4, width=50)  # past 160 blocks; YAML parsing is slow in Python
    blocks[112]["upstream"][3] = "l1-b1x"
    path = tmp_path / "big.yaml"
    manifest = {
        "apiVersion": "runwright.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "big"},
        "spec": {"template": {"image": "img:1"}, "blocks": blocks},
    }
    path.write_text(yaml.safe_dump(manifest))
    assert main(["validate", str(path)]) == 2
    _, err = capsys.readouterr()
    assert ready(blocks)["message"] in err


# ----- the run's status stays bounded -----------------------------------------------------


def test_a_1000_block_run_fits_and_keeps_a_share_of_reports() -> None:
    spec = PipelineSpec.model_validate({"template": {"image": "img:1"}, "blocks": layered()})
    assert run_size.check(spec) == []
    assert run_size.reported_limit(1000) == run_size.REPORTED_BUDGET // 1000
    assert run_size.attempt_history(1000) == 1


def test_small_pipelines_keep_what_they_always_had() -> None:
    assert run_size.reported_limit(run_size.FULL_SHARE_BLOCKS) == MAX_OUTPUT_BYTES
    assert run_size.attempt_history(run_size.FULL_SHARE_BLOCKS) == MAX_ATTEMPT_HISTORY


def test_the_largest_shape_the_crd_takes_is_refused_by_its_size() -> None:
    def name(i: int) -> str:
        return f"b{i}".ljust(63, "x")

    raw = {
        "template": {"image": "img:1"},
        "blocks": [
            {"name": name(i), "upstream": [name(j) for j in range(max(0, i - MAX_UPSTREAM), i)]}
            for i in range(MAX_BLOCKS)
        ],
    }
    problems = run_size.check(PipelineSpec.model_validate(raw))
    assert [p.reason for p in problems] == ["TooLarge"]
    assert "per block for 1000 blocks' status" in problems[0].message


def big_spec(blocks: int, **fields: Any) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {"blocks": [{"name": f"b{i}", "command": ["x"]} for i in range(blocks)], **fields}
    )


def test_outputs_over_a_blocks_share_fail_it_naming_the_share() -> None:
    share = run_size.reported_limit(500)
    big = Outcome(outputs={"rows": "1" * share})
    sim = Sim(big_spec(500), {"b7": [big]})
    status = sim.run()
    b7 = status.blocks["b7"]
    assert (b7.phase, b7.reason, b7.outputs) == (BlockPhase.FAILED, BlockReason.INVALID_OUTPUT, {})
    assert f"over the {share:,} bytes each block of a 500-block pipeline keeps" in b7.message


def test_outputs_within_the_share_pass_on() -> None:
    sim = Sim(big_spec(500), {"b7": [Outcome(outputs={"rows": "12"})]})
    status = sim.run()
    assert status.blocks["b7"].outputs == {"rows": "12"}


def test_a_long_error_keeps_its_end_within_the_share() -> None:
    share = run_size.reported_limit(500)
    sim = Sim(big_spec(500), {"b3": [Outcome(exit_code=1, message="x" * 5000 + "THE END")]})
    message = sim.run().blocks["b3"].message
    assert len(message) == share and message.endswith("THE END") and message.startswith("...")


def test_a_big_run_keeps_the_latest_attempt_only() -> None:
    spec = big_spec(1000, retry={"limit": 3, "backoffSeconds": 0})
    sim = Sim(spec, {"b0": [FAIL, FAIL, OK]})
    b0 = sim.run().blocks["b0"]
    assert (b0.phase, b0.attempt) == (BlockPhase.SUCCEEDED, 3)
    assert [a.attempt for a in b0.attempts] == [3]


# ----- written without empty fields -------------------------------------------------------


def test_the_status_is_written_without_empty_fields_and_reads_back_the_same() -> None:
    spec = PipelineSpec.model_validate({"template": {"image": "img:1"}, "blocks": layered()})
    sim = Sim(spec)
    status = sim.run()
    dump = _status_dump(status, None, None)
    done = dump["blocks"]["l5-b5"]
    assert set(done) == {"phase", "attempt", "job", "readyAt", "startedAt", "completedAt",
                         "exitCode", "attempts"}  # fmt: skip
    assert "type" not in dump["pipelineSpec"]["blocks"][0]  # a default (Custom)
    assert PipelineRunStatus.model_validate(json.loads(json.dumps(dump))) == status
    size = len(json.dumps(dump, separators=(",", ":")))
    assert size < 512 * 1024, size


# ----- a wave of starts is sent in parallel -----------------------------------------------


class SlowStarts:
    """An executor whose creates take a few event-loop turns, counting those in flight."""

    def __init__(self, fail: str | None = None) -> None:
        self.in_flight = self.most = 0
        self.started: list[str] = []
        self.fail = fail

    def observe(self, run: RunRef) -> dict[str, Observation]:
        return {}

    def recheck_at(self, run: RunRef) -> datetime | None:
        return None

    async def start(self, run: RunRef, action: StartBlock) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)  # a round trip: yield to the other creates
        self.in_flight -= 1
        if action.block == self.fail:
            raise RuntimeError(f"create {action.block}: 500")
        self.started.append(action.block)

    async def stop(self, run: RunRef, name: str) -> None:
        pass

    async def forget(self, run: RunRef) -> None:
        pass


async def reconcile_once(executor: SlowStarts, blocks: int) -> dict[str, Any]:
    body = {
        "metadata": {"name": "r", "namespace": "ns", "creationTimestamp": "2026-11-21T02:00:00Z"},
        "spec": {"pipelineRef": {"name": "p"}},
    }
    spec = big_spec(blocks, template={"image": "img:1"})
    reconciler = Reconciler(MemoryStore(body, spec), executor, NoLimits(), clock=lambda: NOW)
    worker = Worker(key=("ns", "r"), body=body)
    step = await reconciler.step(worker)
    assert step is not None
    await reconciler.apply(worker, step)
    return body


async def test_a_wave_of_starts_is_sent_in_parallel_within_a_bound() -> None:
    executor = SlowStarts()
    await reconcile_once(executor, 40)
    assert sorted(executor.started) == sorted(f"b{i}" for i in range(40))
    assert executor.most == START_CONCURRENCY


async def test_a_failed_start_fails_the_reconcile_after_the_others_were_sent() -> None:
    executor = SlowStarts(fail="b3")
    with pytest.raises(RuntimeError, match="create b3: 500"):
        await reconcile_once(executor, 40)
    assert len(executor.started) == 39
