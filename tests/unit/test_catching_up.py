"""While the operator catches up after a start, nothing is planned; then oldest first.

Runs listed at start that are finished are kept as rows only (no body, no loop)
unless something is left to do for them (retention, their Jobs, a retry request).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from runwright.api.pipeline import PipelineSpec
from runwright.controller.runs import RunController

from .test_run_controller import T0, FakeExecutor, FakeKube, pipeline_body, run_body


def finished(name: str, retry: bool = False) -> dict[str, Any]:
    body = run_body(name, T0)
    body["status"] = {"phase": "Succeeded", "completedAt": "2026-11-21T02:00:00Z"}
    if retry:
        body["spec"]["retry"] = {"id": "1", "mode": "Incomplete"}
    return body


def controller() -> RunController:
    from runwright.controller.config import OperatorConfig

    return RunController(
        FakeKube(),  # type: ignore[arg-type]
        FakeExecutor(),
        OperatorConfig(max_concurrent_blocks=None),
        clock=lambda: T0,
    )


async def test_nothing_is_planned_or_admitted_until_released_then_oldest_first() -> None:
    runs = controller()
    runs.hold()
    runs.pipeline_event(None, pipeline_body(concurrency={"pipelineRunLimit": 1}))
    for i, name in enumerate(["young", "old", "middle"]):
        date = {"young": 3, "old": 1, "middle": 2}[name]
        runs.run_event(None, run_body(name, T0 + timedelta(minutes=date)))
        assert i + 1 == len(runs.held)
    assert not runs.pool.flags  # no loop started
    spec = PipelineSpec.model_validate(pipeline_body(concurrency={"pipelineRunLimit": 1})["spec"])
    assert not runs.admitted(("ns", "old"), "p", T0 + timedelta(minutes=1), spec)
    started: list[tuple[str, str]] = []
    runs.pool.ensure = started.append  # type: ignore[method-assign]
    await runs.release()
    assert started == [("ns", "old"), ("ns", "middle"), ("ns", "young")]
    assert runs.admitted(("ns", "old"), "p", T0 + timedelta(minutes=1), spec)
    assert not runs.admitted(("ns", "middle"), "p", T0 + timedelta(minutes=2), spec)


async def test_finished_runs_listed_at_start_are_rows_looked_at_only_when_needed() -> None:
    runs = controller()
    runs.hold()
    runs.pipeline_event(None, pipeline_body())
    runs.pipeline_event(None, pipeline_body("kept", retention={"succeededSeconds": 60}))
    runs.run_event(None, finished("plain"))
    runs.run_event(None, finished("asked-retry", retry=True))
    runs.run_event(None, {**finished("with-jobs")})
    expiring = finished("expiring")
    expiring["spec"]["pipelineRef"] = {"name": "kept"}
    runs.run_event(None, expiring)
    runs.has_jobs = lambda key: key == ("ns", "with-jobs")
    assert not runs.workers  # no body kept
    assert set(runs.parked) == {
        ("ns", n) for n in ("plain", "asked-retry", "with-jobs", "expiring")
    }
    started: list[tuple[str, str]] = []
    runs.pool.ensure = started.append  # type: ignore[method-assign]
    await runs.release()
    assert sorted(started) == [("ns", "asked-retry"), ("ns", "expiring"), ("ns", "with-jobs")]
    assert runs.states[("ns", "plain")].finished
