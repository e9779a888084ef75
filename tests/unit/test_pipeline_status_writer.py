"""A Pipeline's status is written once per burst of run changes, not once per change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from runwright.api.trigger import RunPhase
from runwright.controller.pipelinestatus import PipelineStatusWriter
from runwright.controller.readmodel import ReadModel, RunState
from tests.unit.test_ratelimit import Clock

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class SlowKube:
    """A write that waits until the test lets it finish."""

    def __init__(self) -> None:
        self.writes: list[dict[str, Any]] = []
        self.release = asyncio.Event()

    async def patch_status(self, plural: str, ns: str, name: str, status: Any) -> None:
        self.writes.append(dict(status))
        await self.release.wait()


def model_with_pipeline() -> ReadModel:
    model = ReadModel()
    model.put_pipeline(
        {
            "metadata": {"name": "p", "namespace": "ns", "generation": 1},
            "spec": {"template": {"image": "i"}, "blocks": [{"name": "a", "command": ["x"]}]},
        }
    )
    return model


def add_run(model: ReadModel, name: str) -> None:
    model.runs[("ns", name)] = RunState("p", T0, T0, RunPhase.RUNNING, None)


async def test_changes_during_a_write_make_one_more_write_with_the_latest_counts() -> None:
    kube, model = SlowKube(), model_with_pipeline()
    writer = PipelineStatusWriter(kube, model, lambda: T0)  # type: ignore[arg-type]
    add_run(model, "r0")
    first = asyncio.create_task(writer.changed("ns", "p"))
    await asyncio.sleep(0)  # the first write is in flight
    for i in range(1, 5):
        add_run(model, f"r{i}")
        await writer.changed("ns", "p")  # returns at once: the writer is busy
    kube.release.set()
    await first
    assert [w["activeRuns"] for w in kube.writes] == [1, 5]


async def test_a_change_that_changes_nothing_writes_nothing() -> None:
    kube, model = SlowKube(), model_with_pipeline()
    kube.release.set()
    writer = PipelineStatusWriter(kube, model, lambda: T0)  # type: ignore[arg-type]
    await writer.changed("ns", "p")
    await writer.changed("ns", "p")
    assert len(kube.writes) == 1


def test_the_pipeline_is_validated_once_per_generation() -> None:
    model = model_with_pipeline()
    first = model.validated("ns", "p")
    assert first is not None and first.spec is not None
    assert model.validated("ns", "p") is first
    body = dict(model.pipelines[("ns", "p")])
    body["metadata"] = {**body["metadata"], "generation": 2}
    model.put_pipeline(body)
    assert model.validated("ns", "p") is not first


async def test_last_run_keeps_its_record_when_retention_deletes_the_run() -> None:
    kube, model = SlowKube(), model_with_pipeline()
    kube.release.set()
    writer = PipelineStatusWriter(kube, model, lambda: T0)  # type: ignore[arg-type]
    model.runs[("ns", "old")] = RunState("p", T0, T0, RunPhase.FAILED, T0)
    later = T0.replace(hour=3)
    model.runs[("ns", "new")] = RunState("p", later, later, RunPhase.SUCCEEDED, later)
    await writer.changed("ns", "p")
    assert kube.writes[-1]["lastRun"]["name"] == "new"
    del model.runs[("ns", "new")]  # retention deletes the newest run first
    await writer.changed("ns", "p")
    assert kube.writes[-1]["lastRun"] == {
        "name": "new",
        "phase": "Succeeded",
        "completedAt": "2026-11-21T03:00:00Z",
    }
    del model.runs[("ns", "old")]
    await writer.changed("ns", "p")
    assert kube.writes[-1]["lastRun"]["name"] == "new"


async def test_last_run_is_kept_from_the_stored_status_after_a_restart() -> None:
    kube, model = SlowKube(), model_with_pipeline()
    kube.release.set()
    body = model.pipelines[("ns", "p")]
    body["status"] = {"lastRun": {"name": "gone", "phase": "Succeeded"}}
    writer = PipelineStatusWriter(kube, model, lambda: T0)  # type: ignore[arg-type]
    await writer.changed("ns", "p")
    last = kube.writes[-1]["lastRun"]
    assert (last["name"], last["phase"]) == ("gone", "Succeeded")


async def test_writes_of_one_pipeline_are_spaced_by_the_interval() -> None:
    kube, model, ticks = SlowKube(), model_with_pipeline(), Clock()
    ticks.now = 100.0
    kube.release.set()
    writer = PipelineStatusWriter(
        kube,  # type: ignore[arg-type]
        model,
        lambda: T0,
        interval=1.0,
        monotonic=ticks,
        sleep=ticks.sleep,
    )
    add_run(model, "r0")
    await writer.changed("ns", "p")  # the first write goes at once
    ticks.now += 0.25
    add_run(model, "r1")
    await writer.changed("ns", "p")  # 0.25 s later: waits out the rest of the second
    assert ticks.slept == [0.75]
    assert [w["activeRuns"] for w in kube.writes] == [1, 2]
    ticks.now += 5.0
    add_run(model, "r2")
    await writer.changed("ns", "p")  # long after: at once
    assert ticks.slept == [0.75]
    assert [w["activeRuns"] for w in kube.writes] == [1, 2, 3]
