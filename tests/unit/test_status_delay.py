"""A status whose only news is started attempts waits (--status-delay); nothing else does.

The writes per block attempt (issue 11: at most 3 besides Events) are counted here on
the one reconcile over a recording store: a block that ends within the delay costs one
status write and one label write, not two of each; a start left unwritten by a crash
is adopted from the attempt that exists, with no second start.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from runwright.api.run import BlockPhase, BlockStatus, PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.engine.plan import AttemptState, Event, Observation, StartBlock
from runwright.engine.status_writes import may_wait
from runwright.executors.contract import RunRef
from runwright.reconcile import NoLimits, Reconciler, Worker
from tests.unit.test_reconcile import RecordingStore, run_body

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def status(phase: RunPhase | None, **blocks: BlockStatus) -> PipelineRunStatus:
    return PipelineRunStatus(phase=phase, blocks=blocks)


def running(attempt: int = 1) -> BlockStatus:
    return BlockStatus(phase=BlockPhase.RUNNING, attempt=attempt, job=f"r-a-{attempt}")


# ----- the rule ----------------------------------------------------------------------------


def test_a_first_start_may_wait() -> None:
    assert may_wait(None, status(RunPhase.RUNNING, a=running(), b=BlockStatus()))


def test_the_next_attempt_after_a_written_retry_wait_may_wait() -> None:
    retrying = BlockStatus(phase=BlockPhase.RETRYING, attempt=1, retries=1)
    assert may_wait(status(RunPhase.RUNNING, a=retrying), status(RunPhase.RUNNING, a=running(2)))


def test_two_attempts_since_the_write_may_not_wait() -> None:
    # The engine adopts one lost start (attempt n+1), not two.
    assert not may_wait(None, status(RunPhase.RUNNING, a=running(2)))


def test_an_ended_block_may_not_wait() -> None:
    done = BlockStatus(phase=BlockPhase.SUCCEEDED, attempt=1)
    assert not may_wait(status(RunPhase.RUNNING, a=running()), status(RunPhase.RUNNING, a=done))


def test_a_finished_run_may_not_wait() -> None:
    assert not may_wait(status(RunPhase.RUNNING), status(RunPhase.FAILED))


def test_a_new_message_may_not_wait() -> None:
    before = status(RunPhase.RUNNING, a=running())
    after = status(RunPhase.RUNNING, a=running().model_copy(update={"message": "x"}))
    assert not may_wait(before, after)
    assert not may_wait(before, before.model_copy(update={"reason": "SlaMissed"}))


def test_a_handled_retry_request_may_not_wait() -> None:
    before = status(RunPhase.RUNNING)
    assert not may_wait(before, before.model_copy(update={"retry_id": "r1"}))


# ----- the reconcile -------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


class Blocks:
    """Attempts that run until the test ends them; every start is counted."""

    def __init__(self) -> None:
        self.seen: dict[str, Observation] = {}
        self.starts: list[str] = []

    def observe(self, run: RunRef) -> dict[str, Observation]:
        return dict(self.seen)

    def recheck_at(self, run: RunRef) -> datetime | None:
        return None

    async def start(self, run: RunRef, action: StartBlock) -> None:
        self.starts.append(action.name)
        self.seen[action.block] = Observation(action.attempt, AttemptState.RUNNING, T0)

    async def stop(self, run: RunRef, name: str) -> None:
        pass

    async def forget(self, run: RunRef) -> None:
        pass

    def succeed(self, block: str) -> None:
        self.seen[block] = Observation(1, AttemptState.SUCCEEDED, T0, finished_at=T0)


class Store(RecordingStore):
    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.events: list[str] = []

    async def post_events(self, body: Any, events: Sequence[Event]) -> None:
        self.events.extend(e.reason for e in events)


async def reconcile(reconciler: Reconciler, worker: Worker) -> datetime | None:
    step = await reconciler.step(worker)
    assert step is not None
    return await reconciler.apply(worker, step)


async def test_blocks_that_end_within_the_delay_cost_one_status_write_and_one_label_write() -> None:
    """A run made without labels (kubectl create): its labels wait with its status, and
    both go out once, ended (issue 11: pod, status, labels: 3 writes)."""
    body = run_body()
    store, blocks, clock = Store(body), Blocks(), Clock()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=clock, write_delay=1.0)
    worker = Worker(key=("ns", "r"), body=body)
    wake_at = await reconcile(reconciler, worker)
    assert sorted(blocks.starts) == ["r-a-1", "r-b-1"]
    assert (store.patches, store.label_writes, store.events) == ([], 0, [])
    assert not (body["metadata"].get("labels") or {})
    assert wake_at == T0 + timedelta(seconds=1)  # the held-back write is due then
    blocks.succeed("a")
    blocks.succeed("b")
    clock.now = T0 + timedelta(milliseconds=300)
    await reconcile(reconciler, worker)
    assert (len(store.patches), store.label_writes) == (1, 1)
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["pipelineSpec"]["blocks"][0]["name"] == "a"
    assert body["metadata"]["labels"] == {
        "runwright.dev/pipeline": "p",
        "runwright.dev/phase": "Succeeded",
    }
    # The held-back Events come first, in plan order, with the status they describe.
    assert store.events[0] == "RunStarted"
    assert store.events[-1] == "RunSucceeded"


async def test_a_held_back_start_is_written_when_its_delay_runs_out() -> None:
    body = run_body()
    store, blocks, clock = Store(body), Blocks(), Clock()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=clock, write_delay=1.0)
    worker = Worker(key=("ns", "r"), body=body)
    await reconcile(reconciler, worker)
    clock.now = T0 + timedelta(seconds=1)
    await reconcile(reconciler, worker)
    assert len(store.patches) == 1
    assert body["status"]["phase"] == "Running"
    assert body["status"]["blocks"]["a"]["phase"] == "Running"
    assert body["metadata"]["labels"]["runwright.dev/phase"] == "Running"
    assert "RunStarted" in store.events
    blocks.succeed("a")
    blocks.succeed("b")
    await reconcile(reconciler, worker)  # an end is written at once, delay or not
    assert len(store.patches) == 2
    assert body["status"]["phase"] == "Succeeded"


async def test_a_start_never_written_is_adopted_by_the_next_operator_without_a_second_start() -> (
    None
):
    body = run_body()
    store, blocks, clock = Store(body), Blocks(), Clock()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=clock, write_delay=1.0)
    await reconcile(reconciler, Worker(key=("ns", "r"), body=body))
    assert "status" not in body  # the operator dies here, its write held back
    successor = Reconciler(store, blocks, NoLimits(), clock=clock, write_delay=0.0)
    worker = Worker(key=("ns", "r"), body=body)
    await reconcile(successor, worker)
    assert sorted(blocks.starts) == ["r-a-1", "r-b-1"]  # no attempt started twice
    assert body["status"]["phase"] == "Running"
    assert {b["phase"] for b in body["status"]["blocks"].values()} == {"Running"}
    assert {b["attempt"] for b in body["status"]["blocks"].values()} == {1}


async def test_without_a_delay_every_start_is_written_at_once() -> None:
    body = run_body()
    store, blocks = Store(body), Blocks()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=Clock())
    await reconcile(reconciler, Worker(key=("ns", "r"), body=body))
    assert (len(store.patches), store.label_writes) == (1, 1)
    assert body["status"]["phase"] == "Running"


# ----- the starts of one step ----------------------------------------------------------------


class Overlapping(Blocks):
    """Counts the starts in flight at once (each yields to the loop mid-request)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.most = 0

    async def start(self, run: RunRef, action: StartBlock) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        for _ in range(3):
            await asyncio.sleep(0)
        await super().start(run, action)
        self.in_flight -= 1


async def test_the_starts_of_one_step_are_sent_together() -> None:
    body = run_body()
    blocks = Overlapping()
    reconciler = Reconciler(Store(body), blocks, NoLimits(), clock=Clock())
    await reconcile(reconciler, Worker(key=("ns", "r"), body=body))
    assert sorted(blocks.starts) == ["r-a-1", "r-b-1"]
    assert blocks.most == 2


async def test_a_run_made_with_its_labels_costs_one_label_write_with_its_one_status_write() -> None:
    """A Trigger's run carries its pipeline and trigger labels from its create: while its
    status waits, so does its phase label, and both go out together (issue 11: a
    one-block run in 3 writes: its pod, its status, its labels)."""
    body = run_body()
    given = {"runwright.dev/pipeline": "p"}
    body["metadata"]["labels"] = dict(given)
    store, blocks, clock = Store(body), Blocks(), Clock()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=clock, write_delay=1.0)
    worker = Worker(key=("ns", "r"), body=body, labels=dict(given))
    await reconcile(reconciler, worker)
    assert (store.patches, store.label_writes) == ([], 0)
    assert "runwright.dev/phase" not in body["metadata"]["labels"]
    blocks.succeed("a")
    blocks.succeed("b")
    clock.now = T0 + timedelta(milliseconds=300)
    await reconcile(reconciler, worker)
    assert (len(store.patches), store.label_writes) == (1, 1)
    assert body["metadata"]["labels"]["runwright.dev/phase"] == "Succeeded"


async def test_a_held_back_phase_label_is_written_with_its_status_when_the_delay_runs_out() -> None:
    body = run_body()
    given = {"runwright.dev/pipeline": "p"}
    body["metadata"]["labels"] = dict(given)
    store, blocks, clock = Store(body), Blocks(), Clock()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=clock, write_delay=1.0)
    worker = Worker(key=("ns", "r"), body=body, labels=dict(given))
    await reconcile(reconciler, worker)
    clock.now = T0 + timedelta(seconds=1)
    await reconcile(reconciler, worker)
    assert (len(store.patches), store.label_writes) == (1, 1)
    assert body["metadata"]["labels"]["runwright.dev/phase"] == "Running"
