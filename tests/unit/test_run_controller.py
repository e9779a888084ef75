"""The run controller across runs, with a fake API and a fake executor (no cluster, no clock)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright import labels
from runwright.controller.config import OperatorConfig
from runwright.controller.resync import MAX_RATE, Resync
from runwright.controller.runs import RunController, Worker
from runwright.engine.plan import AttemptState, Observation, StartBlock
from runwright.executors.contract import RunRef
from runwright.metrics import METRICS

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class FakeKube:
    """Records every write the controller makes."""

    def __init__(self) -> None:
        self.statuses: list[tuple[str, str, dict[str, Any]]] = []
        self.labels: list[tuple[str, dict[str, str]]] = []
        self.events: list[tuple[str, str]] = []
        self.deleted: list[str] = []
        self.writes: Counter[str] = Counter()

    async def patch_status(
        self, plural: str, ns: str, name: str, status: Mapping[str, Any]
    ) -> None:
        self.statuses.append((plural, name, dict(status)))

    async def patch_labels(
        self, plural: str, ns: str, name: str, new: Mapping[str, str], *, spec: Any = None
    ) -> None:
        self.labels.append((name, dict(new)))

    async def event(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        self.events.append((involved["metadata"]["name"], reason))

    def event_later(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        self.events.append((involved["metadata"]["name"], reason))

    async def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        return None

    async def delete(self, plural: str, ns: str, name: str) -> None:
        self.deleted.append(name)


class FakeExecutor:
    """Attempts succeed when the test says so."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.state: dict[tuple[str, str], dict[str, Observation]] = {}

    def observe(self, run: RunRef) -> dict[str, Observation]:
        return dict(self.state.get((run.namespace, run.name), {}))

    def recheck_at(self, run: RunRef) -> datetime | None:
        return None

    async def start(self, run: RunRef, action: StartBlock) -> None:
        self.started.append(action.name)
        self.state.setdefault((run.namespace, run.name), {})[action.block] = Observation(
            action.attempt, AttemptState.RUNNING, started_at=T0
        )

    async def stop(self, run: RunRef, name: str) -> None:
        self.stopped.append(name)

    async def forget(self, run: RunRef) -> None:
        pass

    def finish(self, run: str, block: str) -> None:
        current = self.state[("ns", run)][block]
        self.state[("ns", run)][block] = Observation(
            current.attempt, AttemptState.SUCCEEDED, finished_at=T0
        )


def pipeline_body(name: str = "p", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"template": {"image": "img"}, "blocks": [{"name": "a", "command": ["x"]}], **spec},
    }


def run_body(name: str, execution_date: datetime, pipeline: str = "p") -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {
            "name": name,
            "namespace": "ns",
            "uid": f"uid-{name}",
            "creationTimestamp": "2026-11-21T02:00:00Z",
        },
        "spec": {
            "pipelineRef": {"name": pipeline},
            "executionDate": execution_date.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    }


@pytest.fixture
def setup() -> tuple[RunController, FakeKube, FakeExecutor]:
    kube, executor = FakeKube(), FakeExecutor()
    controller = RunController(
        kube,  # type: ignore[arg-type]
        executor,
        OperatorConfig(max_concurrent_blocks=1, status_delay=0),
        clock=lambda: T0,
    )
    controller.pipeline_status.interval = 0.0  # the spacing of its writes: its own tests
    return controller, kube, executor


async def settled(controller: RunController) -> None:
    """Wait for the follow-up work a reconcile left in the background (Pipeline status)."""
    while controller.background:
        await asyncio.gather(*controller.background)


def add_run(controller: RunController, name: str, execution_date: datetime) -> Worker:
    """Register a run as the event handler would, without starting its loop."""
    body = run_body(name, execution_date)
    worker = Worker(key=("ns", name), body=body)
    controller.workers[worker.key] = worker
    controller.pool.flags[worker.key] = asyncio.Event()  # a wake flag, without a loop
    controller._remember(worker.key, body)
    return worker


def woken(controller: RunController, worker: Worker) -> bool:
    return controller.pool.flags[worker.key].is_set()


def phase_of(worker: Worker) -> str | None:
    assert worker.status is not None
    return str(worker.status.phase) if worker.status.phase else None


async def test_a_first_reconcile_starts_the_run_and_writes_status_labels_and_events(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, kube, executor = setup
    controller.pipeline_event("ADDED", pipeline_body())
    worker = add_run(controller, "r1", T0)
    await controller.reconcile(worker)
    await settled(controller)
    assert executor.started == ["r1-a-1"]
    assert [(p, n) for p, n, _ in kube.statuses] == [("pipelineruns", "r1"), ("pipelines", "p")]
    assert kube.statuses[0][2]["phase"] == "Running"
    assert kube.labels == [
        ("r1", {labels.PIPELINE: "p", labels.PHASE: "Running"}),
    ]
    assert [reason for _, reason in kube.events] == ["RunStarted", "BlockStarted"]


async def test_nothing_is_written_when_nothing_changed(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, kube, _ = setup
    controller.pipeline_event("ADDED", pipeline_body())
    worker = add_run(controller, "r1", T0)
    await controller.reconcile(worker)
    writes = (len(kube.statuses), len(kube.labels), len(kube.events))
    await controller.reconcile(worker)
    assert (len(kube.statuses), len(kube.labels), len(kube.events)) == writes


async def test_a_freed_slot_goes_to_the_older_waiting_run_whoever_reconciles_first(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, _, executor = setup
    controller.pipeline_event("ADDED", pipeline_body())
    holder = add_run(controller, "holder", T0 - timedelta(days=1))
    old = add_run(controller, "old", T0)
    young = add_run(controller, "young", T0 + timedelta(hours=1))
    for worker in (holder, old, young):
        await controller.reconcile(worker)
    assert executor.started == ["holder-a-1"]
    executor.finish("holder", "a")
    await controller.reconcile(holder)
    await controller.reconcile(young)  # the younger run asks first...
    assert executor.started == ["holder-a-1"]
    await controller.reconcile(old)  # ...but the slot is the older run's
    assert executor.started == ["holder-a-1", "old-a-1"]


async def test_pipeline_run_limit_queues_the_second_run_until_the_first_finishes(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, _, executor = setup
    controller.config.max_concurrent_blocks = None
    controller.pipeline_event("ADDED", pipeline_body(concurrency={"pipelineRunLimit": 1}))
    first = add_run(controller, "first", T0)
    second = add_run(controller, "second", T0 + timedelta(minutes=1))
    await controller.reconcile(second)
    await controller.reconcile(first)
    assert phase_of(first) == "Running"
    # `second` reconciled first but is younger: it waits only once `first` is Running.
    await controller.reconcile(second)
    assert phase_of(second) == "Queued"
    executor.finish("first", "a")
    await controller.reconcile(first)
    assert phase_of(first) == "Succeeded"
    await controller.reconcile(second)
    assert phase_of(second) == "Running"


async def test_the_pipeline_status_counts_active_runs_and_names_the_last(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, kube, executor = setup
    controller.pipeline_event("ADDED", pipeline_body())
    worker = add_run(controller, "r1", T0)
    await controller.reconcile(worker)
    await settled(controller)
    executor.finish("r1", "a")
    await controller.reconcile(worker)
    await settled(controller)
    pipeline_writes = [s for p, _, s in kube.statuses if p == "pipelines"]
    assert pipeline_writes[0]["activeRuns"] == 1
    assert pipeline_writes[-1]["activeRuns"] == 0
    assert pipeline_writes[-1]["lastRun"]["name"] == "r1"
    assert pipeline_writes[-1]["lastRun"]["phase"] == "Succeeded"
    ready = pipeline_writes[-1]["conditions"][0]
    assert (ready["type"], ready["status"], ready["reason"]) == ("Ready", "True", "Valid")


async def test_an_invalid_pipeline_fails_its_run_and_says_why_on_both(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, kube, executor = setup
    body = pipeline_body(
        blocks=[{"name": "a", "command": ["x"], "args": ["{{ variables.missing }}"]}]
    )
    controller.pipeline_event("ADDED", body)
    await controller.sync_pipeline("ns", "p")
    ready = kube.statuses[-1][2]["conditions"][0]
    assert (ready["status"], ready["reason"]) == ("False", "InvalidTemplate")
    assert "spec.blocks[0].args[0]" in ready["message"]
    worker = add_run(controller, "r1", T0)
    await controller.reconcile(worker)
    assert phase_of(worker) == "Failed"
    assert worker.status is not None and worker.status.reason == "InvalidPipeline"
    assert not executor.started


async def test_a_freed_slot_wakes_only_the_oldest_waiting_run(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, _, executor = setup
    controller.pipeline_event("ADDED", pipeline_body())
    holder = add_run(controller, "holder", T0 - timedelta(days=1))
    waiting = [add_run(controller, f"w{i}", T0 + timedelta(minutes=i)) for i in range(3)]
    for worker in (holder, *waiting):
        await controller.reconcile(worker)
    for worker in waiting:
        controller.pool.flags[worker.key].clear()
    executor.finish("holder", "a")
    await controller.reconcile(holder)
    assert [woken(controller, w) for w in waiting] == [True, False, False]


async def test_a_finished_run_wakes_only_the_next_queued_run_of_its_pipeline(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, _, executor = setup
    controller.config.max_concurrent_blocks = None
    controller.pipeline_event("ADDED", pipeline_body(concurrency={"pipelineRunLimit": 1}))
    first = add_run(controller, "first", T0)
    queued = [add_run(controller, f"q{i}", T0 + timedelta(minutes=i + 1)) for i in range(3)]
    for worker in (first, *queued):
        await controller.reconcile(worker)
    assert [phase_of(w) for w in queued] == ["Queued"] * 3
    for worker in queued:
        controller.pool.flags[worker.key].clear()
    executor.finish("first", "a")
    await controller.reconcile(first)
    assert [woken(controller, w) for w in queued] == [True, False, False]


async def test_a_pipeline_event_of_the_same_generation_needs_no_status_look(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, _, _ = setup
    assert controller.pipeline_event("ADDED", pipeline_body()) is True  # new: compute Ready
    echo = {**pipeline_body(), "status": {"activeRuns": 3}}  # our own status write, back
    assert controller.pipeline_event("MODIFIED", echo) is False
    edited = pipeline_body(failFast=False)
    edited["metadata"]["generation"] = 2
    assert controller.pipeline_event("MODIFIED", edited) is True


async def test_budgets_are_seeded_once_whatever_memo_copy_asks(
    setup: tuple[RunController, FakeKube, FakeExecutor],
) -> None:
    controller, _, _ = setup
    assert controller.claims_seeded is False
    controller.seed_claims({("ns", "r1"): 2})
    assert controller.claims_seeded is True
    assert controller.claims[("ns", "r1")].running == 2


def test_kopf_gets_no_diff_base_to_copy() -> None:
    from runwright.controller.handlers import NoDiffBase

    body: Any = {"metadata": {"name": "r"}, "spec": {"x": 1}, "status": {"big": "y" * 100}}
    store = NoDiffBase()
    assert store.build(body=body) == {}
    assert store.fetch(body=body) is None


def resyncing(now: list[datetime], period: float | None) -> tuple[RunController, FakeExecutor]:
    """A controller on a clock the test moves, with the given --resync-period."""
    executor = FakeExecutor()
    controller = RunController(
        FakeKube(),  # type: ignore[arg-type]
        executor,
        OperatorConfig(resync_period=period, status_delay=0),
        clock=lambda: now[0],
    )
    controller.pipeline_event("ADDED", pipeline_body())
    return controller, executor


async def test_an_unfinished_run_never_sleeps_past_its_resync_and_a_repair_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A lost wake must not leave a run Running forever: the resync reconciles it, and
    says an event was missed (the only way to learn of such a bug in the field)."""
    now = [T0]
    controller, executor = resyncing(now, 60.0)
    add_run(controller, "r1", T0)
    # Running, nothing timed: it would sleep until an event, and sleeps 60 s at most.
    assert await controller._reconcile_key(("ns", "r1")) == T0 + timedelta(seconds=60)
    executor.finish("r1", "a")  # the pod ended, and its event was lost
    repairs = METRICS.resync_repairs_total.labels("PipelineRun")._value.get()
    now[0] = T0 + timedelta(seconds=60)
    assert await controller._reconcile_key(("ns", "r1")) is None  # finished: no resync
    assert controller.states[("ns", "r1")].phase == "Succeeded"
    assert METRICS.resync_repairs_total.labels("PipelineRun")._value.get() == repairs + 1
    assert "ns/r1 moved on only at its periodic resync" in caplog.text
    assert "block a Running/1 -> Succeeded/1" in caplog.text


async def test_an_event_woken_reconcile_is_no_repair_and_the_resync_can_be_off(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [T0]
    controller, executor = resyncing(now, 60.0)
    add_run(controller, "r1", T0)
    await controller._reconcile_key(("ns", "r1"))
    executor.finish("r1", "a")
    now[0] = T0 + timedelta(seconds=5)  # the pod's event woke it before its resync
    await controller._reconcile_key(("ns", "r1"))
    assert controller.states[("ns", "r1")].phase == "Succeeded"
    assert "periodic resync" not in caplog.text
    off, _ = resyncing(now, None)
    add_run(off, "r2", T0)
    assert await off._reconcile_key(("ns", "r2")) is None


def test_the_resync_period_stretches_with_a_backlog_so_it_stays_bounded() -> None:
    """5,000 unfinished runs at 60 s would be 83 reconciles a second of no news."""
    resync = Resync(60.0, lambda: T0)
    assert resync.cap(("ns", "r"), None, False, unfinished=10) == T0 + timedelta(seconds=60)
    late = T0 + timedelta(seconds=5000 / MAX_RATE)
    assert resync.cap(("ns", "r"), None, False, unfinished=5000) == late
    soon = T0 + timedelta(seconds=3)
    assert resync.cap(("ns", "r"), soon, False, unfinished=5000) == soon  # the engine's own
    assert resync.cap(("ns", "r"), None, True, unfinished=5000) is None  # finished: none
