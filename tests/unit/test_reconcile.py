"""The one reconcile (gather -> plan -> apply) over a store: the diff it writes, and when."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from runwright.api.pipeline import PipelineSpec
from runwright.api.trigger import RunPhase
from runwright.controller.config import OperatorConfig
from runwright.controller.readmodel import RunState
from runwright.controller.runs import RunController
from runwright.engine.plan import AttemptState, Observation, StartBlock
from runwright.executors.contract import RunRef
from runwright.reconcile import NoLimits, Reconciler, Worker
from runwright.store import MemoryStore, apply_merge_patch, merge_patch

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
SPEC = PipelineSpec.model_validate(
    {
        "template": {"image": "img"},
        "blocks": [{"name": "a", "command": ["x"]}, {"name": "b", "command": ["x"]}],
    }
)

# ----- the diff writer -------------------------------------------------------------------


def test_a_diff_holds_added_and_changed_keys_only() -> None:
    old = {"phase": "Running", "progress": "0/2", "pipelineSpec": {"big": 1}}
    new = {"phase": "Running", "progress": "1/2", "pipelineSpec": {"big": 1}, "x": 1}
    assert merge_patch(old, new) == {"progress": "1/2", "x": 1}


def test_a_diff_nests_into_objects_such_as_blocks() -> None:
    old = {"blocks": {"a": {"phase": "Running", "attempt": 1}, "b": {"phase": "Pending"}}}
    new = {"blocks": {"a": {"phase": "Succeeded", "attempt": 1}, "b": {"phase": "Pending"}}}
    assert merge_patch(old, new) == {"blocks": {"a": {"phase": "Succeeded"}}}


def test_a_removed_key_is_sent_as_null() -> None:
    assert merge_patch({"reason": "X", "blocks": {"a": {"m": "y"}}}, {"blocks": {"a": {}}}) == {
        "reason": None,
        "blocks": {"a": {"m": None}},
    }


def test_nothing_changed_is_an_empty_diff() -> None:
    status = {"phase": "Running", "blocks": {"a": {"phase": "Running"}}, "conditions": [1]}
    assert merge_patch(status, dict(status)) == {}


def test_a_changed_list_is_sent_whole() -> None:
    assert merge_patch({"conditions": [1, 2]}, {"conditions": [1, 3]}) == {"conditions": [1, 3]}


def test_applying_the_diff_gives_the_new_object() -> None:
    old = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    new = {"a": 1, "b": {"c": 5}, "e": [2], "f": {"g": 1}}
    target = {"a": 1, "b": {"c": 2, "d": 3}, "e": [1]}
    apply_merge_patch(target, merge_patch(old, new))
    assert target == new


# ----- the reconcile over the in-memory store ------------------------------------------


class RecordingStore(MemoryStore):
    """The store of `runwright run`, keeping every status patch it was sent."""

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__(body, SPEC)
        self.patches: list[dict[str, Any]] = []
        self.label_writes = 0
        self.pipeline_now: PipelineSpec = SPEC
        self.generation: int | None = None

    def pipeline(self, namespace: str, name: str) -> tuple[PipelineSpec | None, str | None]:
        return self.pipeline_now, None

    def pipeline_generation(self, namespace: str, name: str) -> int | None:
        return self.generation

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> str | None:
        self.patches.append(dict(patch))
        return await super().patch_status(namespace, name, patch)

    async def patch_labels(
        self,
        namespace: str,
        name: str,
        labels: Mapping[str, str],
        *,
        spec: Mapping[str, Any] | None = None,
    ) -> str | None:
        self.label_writes += 1
        return await super().patch_labels(namespace, name, labels, spec=spec)


class Blocks:
    """An executor whose attempts finish when the test says so."""

    def __init__(self) -> None:
        self.seen: dict[str, Observation] = {}

    def observe(self, run: RunRef) -> dict[str, Observation]:
        return dict(self.seen)

    def recheck_at(self, run: RunRef) -> datetime | None:
        return None

    async def start(self, run: RunRef, action: StartBlock) -> None:
        assert action.image is not None  # the start action carries the whole pod intent
        self.seen[action.block] = Observation(action.attempt, AttemptState.RUNNING, T0)

    async def stop(self, run: RunRef, name: str) -> None:
        pass

    async def forget(self, run: RunRef) -> None:
        pass

    def succeed(self, block: str) -> None:
        self.seen[block] = Observation(1, AttemptState.SUCCEEDED, T0, finished_at=T0)


def run_body() -> dict[str, Any]:
    return {
        "metadata": {"name": "r", "namespace": "ns", "creationTimestamp": "2026-11-21T02:00:00Z"},
        "spec": {"pipelineRef": {"name": "p"}},
    }


async def test_the_reconcile_runs_a_pipeline_to_the_end_in_memory() -> None:
    body = run_body()
    store, blocks = RecordingStore(body), Blocks()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=lambda: T0)
    worker = Worker(key=("ns", "r"), body=body)

    async def once() -> None:
        step = await reconciler.step(worker)
        assert step is not None
        await reconciler.apply(worker, step)

    await once()
    assert set(blocks.seen) == {"a", "b"}
    blocks.succeed("a")
    blocks.succeed("b")
    await once()
    assert body["status"]["phase"] == "Succeeded"
    assert body["metadata"]["labels"]["runwright.dev/phase"] == "Succeeded"


async def test_the_frozen_pipeline_spec_is_written_once_then_only_what_changed() -> None:
    body = run_body()
    store, blocks = RecordingStore(body), Blocks()
    reconciler = Reconciler(store, blocks, NoLimits(), clock=lambda: T0)
    worker = Worker(key=("ns", "r"), body=body)
    for finish in (None, "a", "b"):
        if finish:
            blocks.succeed(finish)
        step = await reconciler.step(worker)
        assert step is not None
        await reconciler.apply(worker, step)
    assert "pipelineSpec" in store.patches[0]
    assert all("pipelineSpec" not in patch for patch in store.patches[1:])
    assert set(store.patches[1]["blocks"]) == {"a"}


async def test_a_reconcile_with_nothing_new_writes_nothing() -> None:
    body = run_body()
    store = RecordingStore(body)
    reconciler = Reconciler(store, Blocks(), NoLimits(), clock=lambda: T0)
    worker = Worker(key=("ns", "r"), body=body)
    for _ in range(2):
        step = await reconciler.step(worker)
        assert step is not None
        await reconciler.apply(worker, step)
    assert (len(store.patches), store.label_writes) == (1, 1)


# ----- our own writes do not come back as work -------------------------------------------


class VersionedKube:
    """Answers every patch with a new resourceVersion, as the API server does."""

    def __init__(self) -> None:
        self.version = 0
        self.run_version = ""

    def _answer(self, plural: str) -> str:
        self.version += 1
        if plural == "pipelineruns":
            self.run_version = str(self.version)
        return str(self.version)

    async def patch_status(self, plural: str, ns: str, name: str, status: Any) -> str:
        return self._answer(plural)

    async def patch_labels(
        self, plural: str, ns: str, name: str, new: Any, *, spec: Any = None
    ) -> str:
        return self._answer(plural)

    def event_later(self, involved: Any, type_: str, reason: str, message: str) -> None:
        pass

    async def event(self, involved: Any, type_: str, reason: str, message: str) -> None:
        pass


async def test_the_watch_event_of_our_own_write_does_not_wake_the_run() -> None:
    kube = VersionedKube()
    controller = RunController(
        kube,  # type: ignore[arg-type]
        Blocks(),
        OperatorConfig(max_concurrent_blocks=None, status_delay=0),
        clock=lambda: T0,
    )
    controller.pipeline_event(
        "ADDED",
        {
            "metadata": {"name": "p", "namespace": "ns", "generation": 1},
            "spec": SPEC.model_dump(by_alias=True, mode="json"),
        },
    )
    body = run_body()
    worker = Worker(key=("ns", "r"), body=body)
    controller.workers[worker.key] = worker
    flag = controller.pool.flags[worker.key] = asyncio.Event()
    await controller.reconcile(worker)
    flag.clear()
    echo = {**body, "metadata": {**body["metadata"], "resourceVersion": kube.run_version}}
    controller.run_event("MODIFIED", echo)
    assert not flag.is_set()
    edit = {**body, "metadata": {**body["metadata"], "resourceVersion": "99"}}
    controller.run_event("MODIFIED", edit)
    assert flag.is_set()


# ----- what the reconcile reads live ------------------------------------------------------


async def test_a_finished_run_reads_the_live_pipelines_retention_and_its_generation() -> None:
    body = run_body()
    store, blocks = RecordingStore(body), Blocks()
    store.generation = 3
    reconciler = Reconciler(store, blocks, NoLimits(), clock=lambda: T0)
    worker = Worker(key=("ns", "r"), body=body)
    for finish in (None, "a", "b"):
        if finish:
            blocks.succeed(finish)
        step = await reconciler.step(worker)
        assert step is not None
        await reconciler.apply(worker, step)
    assert body["status"]["phase"] == "Succeeded"
    assert body["status"]["pipelineGeneration"] == 3
    store.pipeline_now = PipelineSpec.model_validate(
        {**SPEC.dump(), "retention": {"succeededSeconds": 60}}
    )
    step = await reconciler.step(worker)
    assert step is not None
    assert step.result.wake_at == T0.replace(minute=1)


def test_a_retention_edit_wakes_the_pipelines_finished_runs_only() -> None:
    controller = RunController(
        VersionedKube(),  # type: ignore[arg-type]
        Blocks(),
        OperatorConfig(max_concurrent_blocks=None, status_delay=0),
        clock=lambda: T0,
    )
    woken: list[tuple[str, str]] = []
    controller.wake = lambda ns, run: woken.append((ns, run))  # type: ignore[method-assign]
    spec = SPEC.model_dump(by_alias=True, mode="json")
    meta = {"name": "p", "namespace": "ns", "generation": 1}
    controller.pipeline_event("ADDED", {"metadata": meta, "spec": spec})
    done = RunState("p", T0, T0, RunPhase.SUCCEEDED, T0)
    controller.states[("ns", "done")] = done
    controller.states[("ns", "running")] = RunState("p", T0, T0, RunPhase.RUNNING, None)
    controller.states[("ns", "other")] = RunState("q", T0, T0, RunPhase.SUCCEEDED, T0)
    edited = {**spec, "retention": {"succeededSeconds": 0}}
    controller.pipeline_event("MODIFIED", {"metadata": {**meta, "generation": 2}, "spec": edited})
    assert woken == [("ns", "done")]
    woken.clear()
    blocks_only = {**edited, "failFast": False}
    controller.pipeline_event(
        "MODIFIED", {"metadata": {**meta, "generation": 3}, "spec": blocks_only}
    )
    assert woken == []


async def test_a_rerun_says_triggered_by_rerun_in_its_spec_with_its_first_labels() -> None:
    body = run_body()
    body["spec"]["rerunOf"] = {"name": "gone"}  # the source is missing: the run fails
    store = RecordingStore(body)
    reconciler = Reconciler(store, Blocks(), NoLimits(), clock=lambda: T0)
    worker = Worker(key=("ns", "r"), body=body)
    step = await reconciler.step(worker)
    assert step is not None
    await reconciler.apply(worker, step)
    assert store.body["spec"]["triggeredBy"] == "Rerun"
    assert store.label_writes == 1  # the default rode on the first label write

    explicit = run_body()
    explicit["spec"].update(rerunOf={"name": "gone"}, triggeredBy="Manual")
    store = RecordingStore(explicit)
    worker = Worker(key=("ns", "r"), body=explicit)
    step = await Reconciler(store, Blocks(), NoLimits(), clock=lambda: T0).step(worker)
    assert step is not None
    await Reconciler(store, Blocks(), NoLimits(), clock=lambda: T0).apply(worker, step)
    assert store.body["spec"]["triggeredBy"] == "Manual"
