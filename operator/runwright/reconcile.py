"""The one reconcile of a PipelineRun: gather -> plan -> apply.

The operator (controller/runs.py) and `runwright run` (executors/localrun.py) both
call `Reconciler.step` then `Reconciler.apply`; only the store (API server or memory,
runwright/store.py), the executor (Jobs or processes, executors/contract.py) and the
limits (budgets and pipelineRunLimit, or none) differ. Local and cluster semantics
therefore agree by construction.

- gather: the run's spec and last written status, its live Pipeline and generation
  (frozen at start; afterwards only retention and a pipelineSpec Current retry read
  it), a rerun's source, what the executor observes, the admission and budget answers.
- plan: the pure `engine.plan`.
- apply: stop and start attempts, one merge patch of what changed in status, the
  labels only when they change (the phase), the Events, the deletion. With a write
  delay (the operator's `--status-delay`), a status whose only news is attempts
  started (engine/status_writes.py) is held back until the delay has passed or
  something else must be written, its labels and Events with it: a block that ends
  within the delay is written once, ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError

from runwright import deliveries, labels
from runwright.api.pipeline import PipelineSpec
from runwright.api.run import PipelineRunSpec, PipelineRunStatus, TriggeredBy
from runwright.engine import run_size
from runwright.engine.concurrency import RunKey
from runwright.engine.notifications import NotifyPlan
from runwright.engine.plan import Event, Plan, PlanInput, StartBlock, plan
from runwright.engine.status_writes import may_wait
from runwright.executors.contract import Executor, RunRef
from runwright.notifier import Notifier
from runwright.store import RunStore, merge_patch

log = logging.getLogger("runwright.runs")
#: Attempts a reconcile starts at once (pod or Job creates in flight).
START_CONCURRENCY = 16

#: How many of our own recent resourceVersions a run remembers (status + labels writes).
OWN_VERSIONS = 4


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 time from the API server, as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


class Limits(Protocol):
    """Admission (pipelineRunLimit) and block budgets; local mode has neither."""

    def admitted(
        self, key: RunKey, pipeline: str, execution_date: datetime, spec: PipelineSpec | None
    ) -> bool:
        """May the run become active now?"""

    def budget(self, key: RunKey, execution_date: datetime) -> int | None:
        """How many blocks the run may start now; None is no limit."""


class NoLimits:
    """Every run admitted, no block budget: one run on one machine."""

    def admitted(
        self, key: RunKey, pipeline: str, execution_date: datetime, spec: PipelineSpec | None
    ) -> bool:
        return True

    def budget(self, key: RunKey, execution_date: datetime) -> int | None:
        return None


@dataclass
class Worker:
    """One run as its reconcile knows it: the latest body, and what it last wrote."""

    key: RunKey
    body: dict[str, Any]
    status: PipelineRunStatus | None = None
    written: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    own_versions: list[str] = field(default_factory=list)
    """resourceVersions our own writes made: their watch events need no reconcile."""
    parsed: tuple[int, PipelineRunSpec] | None = None
    """The spec parsed for one metadata.generation (spec edits bump it, status writes do not)."""
    written_status: PipelineRunStatus | None = None
    """The status as last written (`written` is its JSON): what a held-back write is
    compared with (engine/status_writes.py)."""
    dumped: dict[str, Any] | None = None
    """The JSON of `status`, written or held back."""
    due: datetime | None = None
    """A held-back status write is written by then at the latest (None: none held back)."""
    events: list[Event] = field(default_factory=list)
    """Events planned with a held-back status, posted after it is written."""

    def spec(self) -> PipelineRunSpec:
        """The run's spec, parsed once per generation; raises ValidationError when invalid."""
        generation = self.body["metadata"].get("generation")
        if self.parsed is not None and generation is not None and self.parsed[0] == generation:
            return self.parsed[1]
        spec = PipelineRunSpec.model_validate(self.body.get("spec") or {})
        if isinstance(generation, int):
            self.parsed = (generation, spec)
        return spec

    def remember_write(self, version: str | None) -> None:
        """Keep the resourceVersion a write of ours made, to know its echo when it comes."""
        if version is not None:
            self.own_versions = [*self.own_versions[-(OWN_VERSIONS - 1) :], version]

    def is_own_write(self, body: dict[str, Any]) -> bool:
        """True for the echo of our own write: nothing in it is news to the reconcile."""
        version = (body.get("metadata") or {}).get("resourceVersion")
        return version is not None and version in self.own_versions


@dataclass
class Step:
    """One planned reconcile, not applied yet."""

    run: RunRef
    spec: PipelineRunSpec
    old: PipelineRunStatus
    result: Plan
    created: datetime
    execution_date: datetime
    notify: NotifyPlan | None = None
    """The notifications part of the plan (with a notifier): the attempts to make."""


class Reconciler:
    """gather -> plan -> apply for one run at a time, over a store, an executor, limits."""

    def __init__(
        self,
        store: RunStore,
        executor: Executor,
        limits: Limits,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        write_delay: float = 0.0,
    ) -> None:
        self.store = store
        self.executor = executor
        self.limits = limits
        self.clock = clock
        #: How long a status whose only news is started attempts may wait (0: never).
        self.write_delay = timedelta(seconds=write_delay)
        #: With an archive: (run annotations, phase, completedAt) -> not yet confirmed by it.
        #: Retention waits for the confirmation (controller/archiver.py sets this).
        self.archive_pending: Callable[[Mapping[str, str], Any, datetime | None], bool] | None = (
            None
        )
        #: Sends spec.notifications (runwright/notifier.py); None sends nothing.
        self.notifier: Notifier | None = None

    async def step(self, worker: Worker) -> Step | None:
        """Gather and plan; None when the run's spec is invalid (nothing can be done)."""
        gathered = await self.gather(worker)
        if gathered is None:
            return None
        inp, step = gathered
        step.result = plan(inp)
        if self.notifier is not None:
            deliveries.plan_step(step, self.notifier, inp.now)
        return step

    async def gather(self, worker: Worker) -> tuple[PlanInput, Step] | None:
        """Everything the engine needs to plan this run, read from memory and the executor."""
        body = worker.body
        meta = body["metadata"]
        namespace, name = worker.key
        try:
            spec = worker.spec()
        except ValidationError as exc:
            log.error("run %s/%s has an invalid spec: %s", namespace, name, exc)
            return None
        if worker.status is None:
            worker.status = PipelineRunStatus.model_validate(body.get("status") or {})
            worker.written = _status_dump(worker.status, None, None)
            worker.written_status, worker.dumped = worker.status, worker.written
        status = worker.status
        created = parse_time(meta.get("creationTimestamp")) or self.clock()

        # The live Pipeline (validated once per generation by the store): a run that has
        # not started freezes it; afterwards the frozen copy in status.pipelineSpec rules
        # what runs, and the live one only gives policy (retention) and what a retry or
        # rerun with pipelineSpec Current re-freezes.
        pipeline, pipeline_error = self.store.pipeline(namespace, spec.pipeline_ref.name)
        rerun_source: PipelineRunStatus | None = None
        if status.phase is None and spec.rerun_of is not None:
            source = await self.store.get_run(namespace, spec.rerun_of.name)
            if source is not None:
                rerun_source = PipelineRunStatus.model_validate(source.get("status") or {})
        limits_from = status.pipeline_spec or pipeline
        if limits_from is None and rerun_source is not None:
            limits_from = rerun_source.pipeline_spec
        execution_date = status.execution_date or spec.execution_date or created
        run = RunRef(
            namespace=namespace,
            name=name,
            uid=meta.get("uid", ""),
            pipeline=spec.pipeline_ref.name,
            trigger=spec.trigger_ref.name if spec.trigger_ref else None,
        )
        inp = PlanInput(
            run_name=name,
            spec=spec,
            status=status,
            now=self.clock(),
            created_at=created,
            pipeline=pipeline,
            pipeline_generation=self.store.pipeline_generation(namespace, spec.pipeline_ref.name),
            observed=self.executor.observe(run),
            admitted=self.limits.admitted(
                worker.key, spec.pipeline_ref.name, execution_date, limits_from
            ),
            budget=self.limits.budget(worker.key, execution_date),
            generation=meta.get("generation"),
            rerun_source=rerun_source,
            pipeline_error=pipeline_error,
            archive_pending=self.archive_pending is not None
            and self.archive_pending(
                meta.get("annotations") or {}, status.phase, status.completed_at
            ),
        )
        return inp, Step(run, spec, status, Plan(status=status), created, execution_date)

    async def apply(self, worker: Worker, step: Step) -> datetime | None:
        """Carry out the plan; returns when to reconcile again at the latest."""
        run = step.run
        await self._act(run, step.result)
        if self._hold_back(worker, step):
            # The labels wait with the status, all of them: a run made without them
            # (kubectl create) gets its pipeline, trigger and phase labels in one write
            # with its first status, so a one-block run that ends within the delay costs
            # three writes (pod, status, labels), not four. `kubectl runwright` also lists
            # runs without a phase label (Selection.label_selectors), so its --pipeline
            # finds such a run meanwhile; a bare `kubectl get -l` sees it once labelled.
            worker.events.extend(step.result.events)
            wake_times = [step.result.wake_at, worker.due, self.executor.recheck_at(run)]
            return min((t for t in wake_times if t is not None), default=None)
        await self._write_status(worker, step.result.status)
        await self._write_labels(worker, step)
        # Held-back Events stay held until their status is written; this step's own are
        # planned again if the write fails, as they always were.
        events, worker.events = [*worker.events, *step.result.events], []
        if events:
            meta = {**worker.body["metadata"], "namespace": run.namespace}
            await self.store.post_events({**worker.body, "metadata": meta}, events)
        if step.notify is not None and step.notify.sends and self.notifier is not None:
            await self._notify(worker, step, self.notifier)
        if step.result.delete:
            await self.store.delete_run(run.namespace, run.name)
            return None
        recheck = self.executor.recheck_at(run)
        wake_at = step.result.wake_at
        if recheck is not None and (wake_at is None or recheck < wake_at):
            return recheck
        return wake_at

    async def _notify(self, worker: Worker, step: Step, notifier: Notifier) -> None:
        """The due attempts, after their Sending intent was written; then their outcomes.

        The outcome becomes the worker's status before it is written: if that write
        fails, the next reconcile still knows the attempt was made (and writes it then)
        rather than finding it Sending and calling it interrupted.
        """
        assert step.notify is not None and worker.status is not None
        outcome, events = await deliveries.deliver(step, worker.status, notifier, self.clock)
        worker.status = outcome
        await self._write_status(worker, outcome)
        if events:
            meta = {**worker.body["metadata"], "namespace": step.run.namespace}
            await self.store.post_events({**worker.body, "metadata": meta}, events)
            step.result.events = [*step.result.events, *events]  # for `runwright run`'s view
        wake_at = deliveries.next_attempt(outcome)
        if wake_at is not None and (step.result.wake_at is None or wake_at < step.result.wake_at):
            step.result.wake_at = wake_at

    async def _act(self, run: RunRef, result: Plan) -> None:
        """Stops first (they free budget), then starts, up to START_CONCURRENCY at once.

        A wave of ready blocks (a layer of 100 in a 1,000-block DAG) one round trip
        after the other took most of a big run's time (issue 15); the client's rate
        limit (--qps, --burst) still bounds the pace. Every start is waited for, and
        the first error is raised as before: the next reconcile adopts what exists.
        """
        for stop in result.stops:
            await self.executor.stop(run, stop.name)
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start(action: StartBlock) -> None:
            async with gate:
                await self.executor.start(run, action)

        outcomes = await asyncio.gather(*map(start, result.starts), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def _hold_back(self, worker: Worker, step: Step) -> bool:
        """Keep the new status in memory only: its news is starts, and the delay runs.

        The first held-back write sets the time it is due by; a later reconcile past
        that time, or one with news that cannot wait, writes everything held back.
        """
        if not self.write_delay or step.result.delete:
            return False
        if step.notify is not None and step.notify.sends:
            return False  # a notification is sent after its Sending intent is written
        now = self.clock()
        if worker.due is not None and now >= worker.due:
            return False
        new = step.result.status
        if not may_wait(worker.written_status, new):
            return False
        dump = _status_dump(new, worker.status, worker.dumped)
        if not merge_patch(worker.written or {}, dump):
            return False  # nothing to hold back (labels or Events alone are written now)
        worker.status, worker.dumped = new, dump
        if worker.due is None:
            worker.due = now + self.write_delay
        return True

    async def _write_status(self, worker: Worker, new: PipelineRunStatus) -> None:
        """One merge patch of what changed since our last write; none when nothing did."""
        dump = _status_dump(new, worker.status, worker.dumped)
        patch = merge_patch(worker.written or {}, dump)
        if patch:
            namespace, name = worker.key
            worker.remember_write(await self.store.patch_status(namespace, name, patch))
            worker.written = dump
        worker.status, worker.dumped, worker.written_status = new, dump, new
        worker.due = None

    @staticmethod
    def _labels(worker: Worker, step: Step) -> tuple[dict[str, str], dict[str, Any]]:
        """The pipeline, trigger and phase labels the run should carry, and spec defaults."""
        new = step.result.status
        desired = {labels.PIPELINE: step.spec.pipeline_ref.name}
        if step.spec.trigger_ref is not None:
            desired[labels.TRIGGER] = step.spec.trigger_ref.name
        if new.phase is not None:
            desired[labels.PHASE] = str(new.phase)
        # A rerun that does not say what made it was made by a rerun: the spec says so
        # from its first write on (a default, as a defaulting webhook would set it), in
        # the same request as the first labels, so it costs no write of its own.
        body_spec = worker.body.get("spec") or {}
        defaults: dict[str, Any] = {}
        if step.spec.rerun_of is not None and "triggeredBy" not in body_spec:
            defaults["triggeredBy"] = str(TriggeredBy.RERUN)
        return desired, defaults

    async def _write_labels(self, worker: Worker, step: Step) -> None:
        """The pipeline, trigger and phase labels (and spec defaults), written only when
        one changes: after a status write, so they wait when it does (see `apply`)."""
        desired, defaults = self._labels(worker, step)
        body_spec = worker.body.get("spec") or {}
        if defaults or any(worker.labels.get(k) != v for k, v in desired.items()):
            namespace, name = worker.key
            version = await self.store.patch_labels(namespace, name, desired, spec=defaults)
            worker.remember_write(version)
            worker.labels.update(desired)
            if defaults:
                worker.body = {**worker.body, "spec": {**body_spec, **defaults}}


def _status_dump(
    new: PipelineRunStatus, old: PipelineRunStatus | None, dumped: dict[str, Any] | None
) -> dict[str, Any]:
    """The status as JSON; the frozen pipelineSpec is dumped only when it is a new object.

    It is the largest part of the status and never changes once set, so re-dumping and
    comparing it on every reconcile would be most of a reconcile's work. `dumped` is
    the JSON of `old` (written or held back).
    """
    dump = new.model_dump(by_alias=True, mode="json", exclude={"pipeline_spec"})
    if old is not None and dumped is not None and new.pipeline_spec is old.pipeline_spec:
        dump["pipelineSpec"] = dumped.get("pipelineSpec")
    elif new.pipeline_spec is not None:
        dump["pipelineSpec"] = run_size.frozen_dump(new.pipeline_spec)
    else:
        dump["pipelineSpec"] = None
    dump["blocks"] = {name: _slim(block) for name, block in dump["blocks"].items()}
    return dump


#: Block status fields written only when they say something (issue 15: a 1,000-block
#: run's status): an empty message, no outputs, no retries; unset times and exit codes
#: too. Reading one back gives the same BlockStatus (these are its defaults).
_EMPTY_WHEN = {"reason": "", "message": "", "outputs": {}, "metrics": {}, "retries": 0}


def _slim(block: dict[str, Any]) -> dict[str, Any]:
    """A block's status without its empty fields, nor those of its attempt records."""
    slim = {
        k: v
        for k, v in block.items()
        if v is not None and (k not in _EMPTY_WHEN or v != _EMPTY_WHEN[k])
    }
    if block.get("attempts"):
        slim["attempts"] = [
            {k: v for k, v in a.items() if v is not None and v != ""} for a in block["attempts"]
        ]
    return slim
