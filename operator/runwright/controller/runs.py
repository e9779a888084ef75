"""The run controller: one worker per PipelineRun, woken by events, sleeping until the engine says.

Level-triggered and single-writer (ARCHITECTURE.md): a worker gathers what exists
(the run, its Jobs from the index, the budgets), calls the pure `engine.plan`, then
applies the result: stop and create Jobs, one merge-patch of status, labels when the
phase changes, Events. Job and pod events never touch a run; they only wake its
worker. The worker is the only writer of its run's status, so the status it wrote
last is the truth it plans from next.

Workers are plain asyncio tasks rather than kopf daemons because kopf daemons put a
finalizer on every object, and runs must be deletable without the operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from runwright import labels
from runwright.api.common import RunRecord
from runwright.api.pipeline import PipelineSpec
from runwright.api.run import BlockPhase, PipelineRunSpec, PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.controller.config import OperatorConfig
from runwright.controller.pipelines import pipeline_status, same_status, validate_spec
from runwright.controller.workers import WorkerPool
from runwright.engine.concurrency import Claim, RunKey, RunSlot, admitted, block_budget
from runwright.engine.plan import Observation, PlanInput, StartBlock, plan
from runwright.executors.kubernetes import RunRef
from runwright.kube.client import Kube
from runwright.metrics import METRICS, RunLabels

log = logging.getLogger("runwright.runs")

RUNS = "pipelineruns"
PIPELINES = "pipelines"


class RunExecutor(Protocol):
    """Where blocks run, as the controller sees it (Jobs, or local processes)."""

    def observe(self, run: RunRef) -> dict[str, Observation]:
        """The latest attempt of each block of the run."""

    async def start(self, run: RunRef, spec: PipelineSpec, action: StartBlock) -> None:
        """Start an attempt; an attempt that exists already is success."""

    async def stop(self, run: RunRef, name: str) -> None:
        """Stop an attempt; one that is gone already is success."""

    async def forget(self, run: RunRef) -> None:
        """The run is deleted: drop what is kept for it."""

    def recheck_at(self, run: RunRef) -> datetime | None:
        """When to look again even if no event comes (e.g. a finished Job whose pod vanished)."""


@dataclass
class RunState:
    """What the controller remembers of every run, for admission and Pipeline status."""

    pipeline: str
    execution_date: datetime
    created: datetime
    phase: RunPhase | None
    completed_at: datetime | None
    trigger: str | None = None
    triggered_by: str | None = None
    cancel: bool = False


@dataclass
class Worker:
    """One run's reconcile loop and what it last wrote."""

    key: RunKey
    body: dict[str, Any]
    status: PipelineRunStatus | None = None
    written: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time from the API server, as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class RunController:
    """Owns every run worker and the in-memory budgets of one operator."""

    def __init__(
        self,
        kube: Kube,
        executor: RunExecutor,
        config: OperatorConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kube = kube
        self.executor = executor
        self.config = config
        self.clock = clock
        self.workers: dict[RunKey, Worker] = {}
        self.states: dict[RunKey, RunState] = {}
        self.claims: dict[RunKey, Claim] = {}
        self.pipeline_bodies: dict[tuple[str, str], dict[str, Any]] = {}
        self.pipeline_written: dict[tuple[str, str], dict[str, Any]] = {}
        self.namespace_limits: dict[str, int] = {}
        self.pool: WorkerPool[RunKey] = WorkerPool("PipelineRun", self._reconcile_key, clock)
        #: Told of every new, changed (phase) and deleted run: the trigger controller listens.
        self.on_change: Callable[[RunKey, RunState], None] = lambda _key, _state: None
        self.background: set[asyncio.Task[None]] = set()

    # ----- events in ---------------------------------------------------------------------

    def run_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A PipelineRun was listed, added, modified or deleted."""
        meta = body["metadata"]
        key: RunKey = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self._forget(key, body)
            return
        worker = self.workers.get(key)
        if worker is None:
            worker = Worker(key=key, body=dict(body))
            worker.labels = dict(meta.get("labels") or {})
            self._remember(key, worker.body)
            self.workers[key] = worker
        else:
            worker.body = dict(body)
        self.pool.ensure(key)

    def wake(self, namespace: str, run: str) -> None:
        """Something about the run changed (a Job, a pod, a budget): reconcile it soon."""
        self.pool.wake((namespace, run))

    def pipeline_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A Pipeline changed: keep its body, and wake its runs waiting for it to exist."""
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.pipeline_bodies.pop(key, None)
            self.pipeline_written.pop(key, None)
            return
        self.pipeline_bodies[key] = dict(body)
        for run_key, state in self.states.items():
            if run_key[0] == key[0] and state.pipeline == key[1] and state.phase is None:
                self.wake(*run_key)

    def namespace_event(self, name: str, annotations: Mapping[str, str]) -> None:
        """A Namespace's block limit annotation (runwright.dev/max-concurrent-blocks)."""
        value = annotations.get(labels.MAX_CONCURRENT_BLOCKS)
        try:
            limit = int(value) if value is not None else None
        except ValueError:
            log.warning(
                "namespace %s: %s=%r is not a number", name, labels.MAX_CONCURRENT_BLOCKS, value
            )
            limit = None
        if limit is None:
            self.namespace_limits.pop(name, None)
        else:
            self.namespace_limits[name] = limit
        for key, claim in self.claims.items():
            if key[0] == name and claim.wanted > 0:
                self.wake(*key)

    def seed_claims(self, running: Mapping[RunKey, int]) -> None:
        """Budgets rebuilt on start from the Jobs that exist, before any run is planned."""
        for key, count in running.items():
            if key not in self.claims:
                state = self.states.get(key)
                date = state.execution_date if state else datetime.min.replace(tzinfo=UTC)
                self.claims[key] = Claim(key[0], date, running=count, wanted=0)

    async def close(self) -> None:
        """Stop every worker (the operator is shutting down; runs go on without it)."""
        await self.pool.close()

    # ----- the reconcile -----------------------------------------------------------------

    async def _reconcile_key(self, key: RunKey) -> datetime | None:
        worker = self.workers.get(key)
        return await self.reconcile(worker) if worker is not None else None

    async def reconcile(self, worker: Worker) -> datetime | None:
        """Plan once and apply the result; returns when to be called again at the latest."""
        body = worker.body
        meta = body["metadata"]
        namespace, name = worker.key
        try:
            spec = PipelineRunSpec.model_validate(body.get("spec") or {})
        except ValidationError as exc:
            log.error("run %s/%s has an invalid spec: %s", namespace, name, exc)
            return None
        if worker.status is None:
            worker.status = PipelineRunStatus.model_validate(body.get("status") or {})
            worker.written = worker.status.model_dump(by_alias=True, mode="json")
        status = worker.status
        created = parse_time(meta.get("creationTimestamp")) or self.clock()

        pipeline: PipelineSpec | None = None
        pipeline_error: str | None = None
        rerun_source: PipelineRunStatus | None = None
        if status.phase is None:
            pipeline, pipeline_error = self._live_pipeline(namespace, spec.pipeline_ref.name)
            if spec.rerun_of is not None:
                source = await self.kube.get(RUNS, namespace, spec.rerun_of.name)
                if source is not None:
                    rerun_source = PipelineRunStatus.model_validate(source.get("status") or {})
        limits_from = status.pipeline_spec or pipeline
        if limits_from is None and rerun_source is not None:
            limits_from = rerun_source.pipeline_spec
        run = RunRef(
            namespace=namespace,
            name=name,
            uid=meta.get("uid", ""),
            pipeline=spec.pipeline_ref.name,
            trigger=spec.trigger_ref.name if spec.trigger_ref else None,
        )
        execution_date = status.execution_date or spec.execution_date or created
        inp = PlanInput(
            run_name=name,
            spec=spec,
            status=status,
            now=self.clock(),
            created_at=created,
            pipeline=pipeline,
            observed=self.executor.observe(run),
            admitted=self._admitted(
                worker.key, spec.pipeline_ref.name, execution_date, limits_from
            ),
            budget=block_budget(
                worker.key,
                execution_date,
                self.claims,
                self.config.max_concurrent_blocks,
                self.namespace_limits.get(namespace),
            ),
            generation=meta.get("generation"),
            rerun_source=rerun_source,
            pipeline_error=pipeline_error,
        )
        result = plan(inp)
        new = result.status
        METRICS.observe_run_transition(
            status,
            new,
            RunLabels(namespace, name, spec.pipeline_ref.name, run.trigger or ""),
        )
        # Record admission and budget use before the first await: workers interleave at
        # awaits, and the next one must see this run's claim.
        old_claim = self.claims.get(worker.key)
        self.claims[worker.key] = Claim(
            namespace,
            new.execution_date or execution_date,
            running=sum(1 for b in new.blocks.values() if b.phase == BlockPhase.RUNNING),
            wanted=sum(
                1
                for b in new.blocks.values()
                if b.phase == BlockPhase.QUEUED and b.reason == "ConcurrencyLimit"
            ),
        )
        old_phase = status.phase
        self.states[worker.key] = RunState(
            pipeline=spec.pipeline_ref.name,
            execution_date=new.execution_date or execution_date,
            created=created,
            phase=new.phase,
            completed_at=new.completed_at,
            trigger=run.trigger,
            triggered_by=str(spec.triggered_by),
            cancel=spec.cancel,
        )
        if new.phase != old_phase:
            self.on_change(worker.key, self.states[worker.key])

        frozen = new.pipeline_spec
        for stop in result.stops:
            await self.executor.stop(run, stop.name)
        for start in result.starts:
            assert frozen is not None
            await self.executor.start(run, frozen, start)

        dump = new.model_dump(by_alias=True, mode="json")
        if dump != worker.written:
            await self.kube.patch_status(RUNS, namespace, name, dump)
            worker.written = dump
        worker.status = new

        desired = {labels.PIPELINE: spec.pipeline_ref.name}
        if spec.trigger_ref is not None:
            desired[labels.TRIGGER] = spec.trigger_ref.name
        if new.phase is not None:
            desired[labels.PHASE] = str(new.phase)
        if any(worker.labels.get(k) != v for k, v in desired.items()):
            await self.kube.patch_labels(RUNS, namespace, name, desired)
            worker.labels.update(desired)

        involved = {"kind": "PipelineRun", "metadata": {**meta, "namespace": namespace}}
        # Events are history, written after the state they describe: all at once, so a
        # reconcile that posts several does not wait for each in turn.
        await asyncio.gather(
            *(self.kube.event(involved, e.type, e.reason, e.message) for e in result.events)
        )

        if new.phase != old_phase:
            await self.sync_pipeline(namespace, spec.pipeline_ref.name)
            if new.phase is not None and new.phase.finished:
                self._wake_admission(namespace, spec.pipeline_ref.name, frozen)
        if old_claim is not None and self.claims[worker.key].running < old_claim.running:
            self._wake_for_capacity(old_claim.running - self.claims[worker.key].running)
        if result.delete:
            await self.kube.delete(RUNS, namespace, name)
            return None
        recheck = self.executor.recheck_at(run)
        if recheck is not None and (result.wake_at is None or recheck < result.wake_at):
            return recheck
        return result.wake_at

    # ----- helpers ------------------------------------------------------------------------

    def _live_pipeline(self, namespace: str, name: str) -> tuple[PipelineSpec | None, str | None]:
        body = self.pipeline_bodies.get((namespace, name))
        if body is None:
            return None, None
        spec, _reason, message = validate_spec(body.get("spec") or {})
        if spec is None:
            return None, message
        return spec, None

    def _admitted(
        self, key: RunKey, pipeline: str, execution_date: datetime, spec: PipelineSpec | None
    ) -> bool:
        limit = spec.concurrency.pipeline_run_limit if spec is not None else None
        if limit is None:
            return True
        slots = [
            RunSlot(
                name=other[1],
                execution_date=state.execution_date if other != key else execution_date,
                active=state.phase == RunPhase.RUNNING,
            )
            for other, state in self.states.items()
            if other[0] == key[0]
            and state.pipeline == pipeline
            and (state.phase is None or not state.phase.finished)
        ]
        return admitted(key[1], slots, limit)

    def _wake_admission(self, namespace: str, pipeline: str, spec: PipelineSpec | None) -> None:
        """A run of `pipeline` ended: wake its oldest runs queued on pipelineRunLimit."""
        limit = spec.concurrency.pipeline_run_limit if spec is not None else None
        if limit is None:
            return
        mine = [
            (state.execution_date, key)
            for key, state in self.states.items()
            if key[0] == namespace and state.pipeline == pipeline
        ]
        active = sum(1 for _, key in mine if self.states[key].phase == RunPhase.RUNNING)
        queued = sorted(
            item
            for item in mine
            if self.states[item[1]].phase in (RunPhase.PENDING, RunPhase.QUEUED)
        )
        for _date, key in queued[: max(limit - active, 0)]:
            self.wake(*key)

    def _wake_for_capacity(self, freed: int) -> None:
        """Wake the oldest runs queued on a budget, as many as can use `freed` slots.

        Waking every waiting run instead would make each finished block cost a
        reconcile of every queued run: quadratic work when thousands wait.
        """
        waiting = sorted(
            (claim.execution_date, key)
            for key, claim in self.claims.items()
            if claim.wanted > 0 and key in self.workers
        )
        running_ns: dict[str, int] = {}
        for claim in self.claims.values():
            running_ns[claim.namespace] = running_ns.get(claim.namespace, 0) + claim.running
        left = freed
        for _date, key in waiting:
            if left <= 0:
                break
            limit = self.namespace_limits.get(key[0])
            if limit is not None and running_ns.get(key[0], 0) >= limit:
                continue  # its namespace is full: the freed slot is of no use to it
            self.wake(*key)
            left -= self.claims[key].wanted

    def _remember(self, key: RunKey, body: Mapping[str, Any]) -> None:
        meta = body["metadata"]
        status = body.get("status") or {}
        spec = body.get("spec") or {}
        created = parse_time(meta.get("creationTimestamp")) or self.clock()
        phase = status.get("phase")
        self.states[key] = RunState(
            pipeline=(spec.get("pipelineRef") or {}).get("name", ""),
            execution_date=parse_time(status.get("executionDate"))
            or parse_time(spec.get("executionDate"))
            or created,
            created=created,
            phase=RunPhase(phase) if phase else None,
            completed_at=parse_time(status.get("completedAt")),
            trigger=(spec.get("triggerRef") or {}).get("name"),
            triggered_by=spec.get("triggeredBy"),
            cancel=bool(spec.get("cancel")),
        )
        self.on_change(key, self.states[key])

    def _forget(self, key: RunKey, body: Mapping[str, Any]) -> None:
        self.workers.pop(key, None)
        self.pool.stop(key)
        state = self.states.pop(key, None)
        claim = self.claims.pop(key, None)
        if state is not None:
            self.on_change(key, state)
        METRICS.forget_run(*key)
        meta = body["metadata"]
        spec = body.get("spec") or {}
        run = RunRef(
            namespace=key[0],
            name=key[1],
            uid=meta.get("uid", ""),
            pipeline=(spec.get("pipelineRef") or {}).get("name", ""),
            trigger=None,
        )
        self._background(self.executor.forget(run))
        if state is not None:
            self._background(self.sync_pipeline(key[0], state.pipeline))
            if state.phase is not None and not state.phase.finished:
                # An active run that disappears frees its pipelineRunLimit slot too.
                live = self.pipeline_bodies.get((key[0], state.pipeline))
                spec, _, _ = validate_spec((live or {}).get("spec") or {})
                self._wake_admission(key[0], state.pipeline, spec)
        if claim is not None and claim.running:
            self._wake_for_capacity(claim.running)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run follow-up work off the event handler, keeping a reference until it ends."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def pipeline_summary(self, namespace: str, pipeline: str) -> tuple[int, RunRecord | None]:
        """(active runs, the most recent run) of a pipeline, from memory."""
        mine = [
            (key, s)
            for key, s in self.states.items()
            if key[0] == namespace and s.pipeline == pipeline
        ]
        active = sum(1 for _, s in mine if s.phase is None or not s.phase.finished)
        if not mine:
            return active, None
        key, latest = max(mine, key=lambda item: (item[1].created, item[0][1]))
        record = RunRecord(
            name=key[1],
            phase=str(latest.phase) if latest.phase else None,
            completed_at=latest.completed_at,
        )
        return active, record

    async def sync_pipeline(self, namespace: str, name: str) -> None:
        """Write the Pipeline's status when it changed (validity, active runs, last run)."""
        body = self.pipeline_bodies.get((namespace, name))
        if body is None:
            return
        active, last = self.pipeline_summary(namespace, name)
        new = pipeline_status(body, active_runs=active, last_run=last, now=self.clock())
        stored = self.pipeline_written.get((namespace, name)) or body.get("status")
        if same_status(stored, new):
            return
        await self.kube.patch_status(PIPELINES, namespace, name, new)
        self.pipeline_written[(namespace, name)] = new
