"""The run controller: one worker per PipelineRun, woken by events, sleeping until the engine says.

Level-triggered and single-writer (ARCHITECTURE.md): a worker runs the one reconcile
(runwright/reconcile.py: gather -> plan -> apply, the same as `runwright run`), and
this controller keeps what spans runs: the read model (run summaries, Pipelines,
budgets), the admission and budget answers, and who to wake when something frees up.
Job and pod events never touch a run; they only wake its worker. The worker is the
only writer of its run's status, so the status it wrote last is the truth it plans
from next; the watch event of its own write is not reconciled again.

Workers are plain asyncio tasks rather than kopf daemons because kopf daemons put a
finalizer on every object, and runs must be deletable without the operator.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from runwright.api.common import RunRecord
from runwright.api.trigger import RunPhase
from runwright.controller.cleanup import ExpiredPods, FinishedJobs
from runwright.controller.config import OperatorConfig
from runwright.controller.kubestore import KubeStore
from runwright.controller.notifications import OversizedEnd, deliver_oversized, operator_notifier
from runwright.controller.oversize import fail_oversized, merged, too_large
from runwright.controller.pipelinestatus import PipelineStatusWriter
from runwright.controller.readmodel import RunState
from runwright.controller.resync import Resync
from runwright.controller.runlimits import RunLimits
from runwright.controller.runrows import (
    notifications_pending,
    retry_pending,
    row_of_body,
    row_of_step,
    run_key,
    same_spec,
)
from runwright.controller.workers import WorkerPool
from runwright.engine.concurrency import Claim, RunKey
from runwright.executors.contract import Executor, RunRef
from runwright.kube.client import Kube
from runwright.metrics import METRICS, RunLabels
from runwright.reconcile import Reconciler, Step, Worker, parse_time

log = logging.getLogger("runwright.runs")

RUNS = "pipelineruns"
#: The echoes of a run parked as listed: none (one shared tuple, not a list per run).
NO_ECHOES: tuple[str, ...] = ()

# Re-exported: callers and tests import these from here.
__all__ = ["RunController", "RunState", "Worker", "notifications_pending", "parse_time"]


class RunController(RunLimits):
    """Owns every run worker and the in-memory budgets of one operator."""

    def __init__(
        self,
        kube: Kube,
        executor: Executor,
        config: OperatorConfig,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(config)
        self.kube = kube
        self.executor = executor
        self.clock = clock
        self.pipeline_status = PipelineStatusWriter(kube, self.model, clock)
        self.reconciler = Reconciler(
            KubeStore(kube, self.model.pipeline_spec, self.model.pipeline_generation),
            executor,
            self,
            clock,
            write_delay=config.status_delay,
        )
        self.pool: WorkerPool[RunKey] = WorkerPool("PipelineRun", self._reconcile_key, clock)
        #: Told of every new, changed (phase) and deleted run: the trigger controller listens.
        self.on_change: Callable[[RunKey, RunState], None] = lambda _key, _state: None
        self.background: set[asyncio.Task[None]] = set()
        self.held: set[RunKey] = set()
        #: Finished runs kept without their body, with the resourceVersions of our last
        #: writes (to know their echo): the body is read again if the run needs a reconcile.
        self.parked: dict[RunKey, Sequence[str]] = {}
        #: Finished runs listed at start with no retry request: looked at on release
        #: only if their Pipeline's retention applies or they still have Jobs.
        self.idle: set[RunKey] = set()
        #: The Jobs the operator sees of a run (set by the operator's wiring).
        self.has_jobs: Callable[[RunKey], bool] = lambda _key: False
        #: At most this many parked runs are read back at once (each read is a body).
        self._reads = asyncio.Semaphore(8)
        #: Deletes a finished run's Jobs after its last write (--delete-finished-jobs).
        self.cleanup: FinishedJobs | None = None
        #: Else deletes a finished run's pods --job-ttl after it ended (no Job's TTL does).
        self.expired_pods: ExpiredPods | None = None
        #: No unfinished run sleeps past its resync, and a resync that moves one is logged.
        self.resync = Resync(config.resync_period, clock)
        self.reconciler.notifier = operator_notifier(kube, self.model)

    # ----- events in ---------------------------------------------------------------------

    def run_event(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A PipelineRun was listed, added, modified or deleted."""
        meta = body["metadata"]
        key = run_key(meta)
        if event_type == "DELETED":
            self._forget(key, body)
            return
        worker = self.workers.get(key)
        if worker is None:
            echoes = self.parked.get(key)
            if echoes is not None and meta.get("resourceVersion") in echoes:
                return  # the echo of the write that finished the run
            row = self._remember(key, body)
            if event_type is None and self.holding and row.finished:
                # Listed at start and finished: its body is not kept (a finished run
                # costs its RunState only); `release` looks at it if something may be
                # left to do, reading it again then.
                self.parked[key] = NO_ECHOES
                if retry_pending(body) or notifications_pending(body):
                    self.held.add(key)
                else:
                    self.idle.add(key)
                return
            worker = Worker(key=key, body=dict(body))
            worker.labels = dict(meta.get("labels") or {})
            self.parked.pop(key, None)
            self.workers[key] = worker
        else:
            worker.body = dict(body)
            if worker.is_own_write(worker.body):
                return  # the echo of our own write: nothing in it is news to the worker
        if self.holding:
            self.held.add(key)
            return
        self.pool.ensure(key)

    def hold(self) -> None:
        """Plan no run until `release`: the operator is still catching up with the cluster."""
        self.holding = True

    async def release(self, pace: int = 50) -> None:
        """Caught up: plan the held runs, active ones oldest first, then the finished ones.

        The finished ones only need a look (retention, cleanup), so they are started
        `pace` at a time with a yield in between: a new run is not queued behind them.
        """
        self.holding = False
        held, self.held = self.held, set()
        active = sorted(
            (k for k in held if k in self.states and not self.states[k].finished),
            key=lambda k: (self.states[k].execution_date, k),
        )
        for key in active:
            self.pool.ensure(key)
        finished = [k for k in held if k in self.states and self.states[k].finished]
        idle, self.idle = self.idle, set()
        finished += [k for k in idle if k in self.states and self._needs_look(k)]
        for at, key in enumerate(finished, 1):
            if key in self.states:
                self.pool.ensure(key)
            if at % pace == 0:
                await asyncio.sleep(0.05)

    def wake(self, namespace: str, run: str) -> None:
        """Something about the run changed (a Job, a pod, a budget): reconcile it soon."""
        key = (namespace, run)
        if key in self.parked and key not in self.pool and not self.holding:
            self.pool.ensure(key)  # a finished run without a loop (a stray Job of it)
            return
        self.pool.wake(key)

    def _needs_look(self, key: RunKey) -> bool:
        """A finished run that retention may delete, or with Jobs left to stop or clean."""
        if self.has_jobs(key):
            return True
        state = self.states[key]
        spec, _ = self.model.pipeline_spec(key[0], state.pipeline)
        if spec is None:
            return True  # gone or invalid: its frozen copy decides, read with the run
        ttl = (
            {
                RunPhase.SUCCEEDED: spec.retention.succeeded_seconds,
                RunPhase.FAILED: spec.retention.failed_seconds,
                RunPhase.CANCELLED: spec.retention.cancelled_seconds,
            }.get(state.phase)
            if state.phase is not None
            else None
        )
        return ttl is not None

    def is_parked(self, namespace: str, run: str) -> bool:
        """A finished run kept without its body: only a stray running Job concerns it."""
        return (namespace, run) in self.parked

    def _wake_finished(self, key: RunKey) -> None:
        """A finished run's policy changed (retention): reconcile it, parked or not."""
        if key not in self.parked:
            self.wake(*key)
        elif self.holding:
            self.held.add(key)
        else:
            self.pool.ensure(key)

    def pipeline_event(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """A Pipeline changed: keep its body, and wake its runs waiting for it to exist.

        True when its status needs a look: it is new, or its spec changed. An event of
        the same generation is a status or metadata write (mostly our own status
        write coming back): neither the runs nor the Ready condition depend on it, and
        answering it would cost a pass over the Pipeline's runs per echo.
        """
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        if event_type == "DELETED":
            self.model.drop_pipeline(*key)
            self.pipeline_status.forget(*key)
            return False
        old = self.model.pipelines.get(key)
        self.model.put_pipeline(body)
        if old is not None and same_spec(old, body):
            return False
        # Retention is read live: a change of it applies to the finished runs too.
        retention = (body.get("spec") or {}).get("retention")
        retention_changed = (
            old is not None and (old.get("spec") or {}).get("retention") != retention
        )
        for name, state in list(self.model.runs.of_pipeline(*key).items()):
            if state.phase is None:
                self.wake(key[0], name)
            elif retention_changed and not state.active:
                self._wake_finished((key[0], name))
        return True

    async def close(self) -> None:
        """Stop every worker (the operator is shutting down; runs go on without it)."""
        await self.pool.close()
        if self.reconciler.notifier is not None:
            await self.reconciler.notifier.close()

    # ----- the reconcile -----------------------------------------------------------------

    async def _reconcile_key(self, key: RunKey) -> datetime | None:
        worker = self.workers.get(key)
        if worker is None and key in self.parked:
            async with self._reads:
                body = await self.kube.get(RUNS, *key)
            if body is None:
                return None  # deleted: its DELETED event forgets it
            worker = self.workers[key] = Worker(key=key, body=body)
            worker.labels = dict(body["metadata"].get("labels") or {})
            worker.own_versions = list(self.parked.pop(key))
        if worker is None:
            return None
        wake_at = await self.reconcile(worker, resync=self.resync.by_timer(key))
        state = self.states.get(key)
        if state is not None and state.finished and (self.cleanup or self.expired_pods):
            meta = worker.body["metadata"]
            ref = RunRef(key[0], key[1], meta.get("uid", ""), state.pipeline, state.trigger)
            if self.cleanup is not None:
                await self.cleanup.clean(ref)
            elif self.expired_pods is not None and state.completed_at is not None:
                due = await self.expired_pods.expire(ref, state.completed_at, self.clock())
                wake_at = due if wake_at is None or (due and due < wake_at) else wake_at
        if state is not None and state.finished and self.workers.get(key) is worker:
            # Done: keep the row, drop the body (its frozen Pipeline and status).
            self.parked[key] = worker.own_versions
            del self.workers[key]
        finished = state is None or state.finished
        return self.resync.cap(key, wake_at, finished, len(self.workers))

    async def reconcile(self, worker: Worker, *, resync: bool = False) -> datetime | None:
        """Plan once and apply the result; returns when to be called again at the latest."""
        step = await self.reconciler.step(worker)
        if step is None:
            return None
        if resync:
            self.resync.check(worker.key, step)
        old_claim, phase_changed = self._account(worker.key, step)
        try:
            wake_at = await self.reconciler.apply(worker, step)
        except ApiException as exc:
            why = too_large(exc)
            if why is None:
                raise
            await self._fail_oversized(worker, step, why)
            return None
        await self._follow_up(worker.key, step, old_claim, phase_changed)
        return wake_at

    def _account(self, key: RunKey, step: Step) -> tuple[Claim | None, bool]:
        """Record the plan's budget use and the run's summary, before the first await.

        Workers interleave at awaits, and the next one must see this run's claim.
        """
        new, spec, run = step.result.status, step.spec, step.run
        namespace, name = key
        METRICS.observe_run_transition(
            step.old, new, RunLabels(namespace, name, spec.pipeline_ref.name, run.trigger or "")
        )
        old_claim = self.claims.get(key)
        claim = Claim(
            namespace,
            new.execution_date or step.execution_date,
            running=step.result.running,
            wanted=len(step.result.queued_on_budget),
        )
        # A run that holds and wants nothing is left out: every budget answer sums
        # the claims, and finished runs must not make that O(runs).
        if claim.running or claim.wanted:
            self.claims[key] = claim
        else:
            self.claims.pop(key, None)
        self.states[key] = row_of_step(step)
        changed = new.phase != step.old.phase
        if changed:
            self.on_change(key, self.states[key])
        return old_claim, changed

    async def _follow_up(
        self, key: RunKey, step: Step, old_claim: Claim | None, phase_changed: bool
    ) -> None:
        """After the write: the Pipeline's status, and the runs a freed slot may serve."""
        namespace = key[0]
        new = step.result.status
        pipeline = step.spec.pipeline_ref.name
        if phase_changed:
            # In the background: the Pipeline's writes are spaced (pipelinestatus.py),
            # and this run's reconcile must not wait for another run's change.
            self._background(self.sync_pipeline(namespace, pipeline))
            if new.phase is not None and new.phase.finished:
                self._wake_admission(namespace, pipeline, new.pipeline_spec)
        running = claim.running if (claim := self.claims.get(key)) is not None else 0
        if old_claim is not None and running < old_claim.running:
            self._wake_for_capacity(old_claim.running - running)

    async def _fail_oversized(self, worker: Worker, step: Step, why: str) -> None:
        """The status cannot be written: fail the run (StatusTooLarge), stop its blocks,
        and notify its end (the Failed deliveries' intents go in the failing write)."""
        now = self.clock()
        notifier = self.reconciler.notifier
        end = (
            OversizedEnd.plan(notifier, step.run, step.old, step.result.status, now)
            if notifier is not None
            else None
        )
        patch = await fail_oversized(
            self.kube,
            self.executor,
            step.run,
            step.result.status,
            why,
            now,
            notifications=end.patch() if end is not None else None,
            remember=worker.remember_write,
        )
        written = merged(worker.written, patch)
        worker.body = {**worker.body, "status": written}
        worker.status, worker.written = None, written
        old = self.states.get(worker.key)
        if old is not None:
            self.states[worker.key] = replace(old, phase=RunPhase.FAILED, completed_at=now)
        self.claims.pop(worker.key, None)
        await self.sync_pipeline(worker.key[0], step.spec.pipeline_ref.name)
        if end is not None:
            await deliver_oversized(
                self.kube, self.reconciler.store, worker, step, end, patch, self.clock
            )

    def _remember(self, key: RunKey, body: Mapping[str, Any]) -> RunState:
        self.states[key] = row = row_of_body(body, self.clock())
        self.on_change(key, row)
        return row

    def _forget(self, key: RunKey, body: Mapping[str, Any]) -> None:
        self.workers.pop(key, None)
        self.parked.pop(key, None)
        self.resync.due.pop(key, None)
        self.held.discard(key)
        self.idle.discard(key)
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
                live, _ = self.model.pipeline_spec(key[0], state.pipeline)
                self._wake_admission(key[0], state.pipeline, live)
        if claim is not None and claim.running:
            self._wake_for_capacity(claim.running)

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run follow-up work off the event handler, keeping a reference until it ends."""
        task = asyncio.create_task(work)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def pipeline_summary(self, namespace: str, pipeline: str) -> tuple[int, RunRecord | None]:
        """(active runs, the most recent run) of a pipeline, from memory."""
        return self.pipeline_status.summary(namespace, pipeline)

    async def sync_pipeline(self, namespace: str, name: str) -> None:
        """Write the Pipeline's status if it changed (coalesced: see PipelineStatusWriter)."""
        await self.pipeline_status.changed(namespace, name)
