"""The run planner: (run, observed attempts, now, budgets) -> (new status, actions, wake time).

This is Runwright's reconcile function made pure. Both executors (Kubernetes Jobs and
local processes) call it the same way: gather what exists, call `plan`, carry out the
actions, persist `Plan.status`, and call again when something changes or at
`Plan.wake_at`. It never reads a clock or does I/O, so every rule in API.md is a unit
test, and calling it twice with the same inputs gives the same answer (what makes a
crash between "act" and "write status" harmless).

Status objects are treated as immutable: the planner copies the run status shallowly
and replaces only the block entries that change, so a call is linear in the number of
blocks.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from runwright import labels
from runwright.api.common import Condition, ConditionStatus, TimeoutStatus, format_time
from runwright.api.pipeline import Block, ConditionOperator, EnvVar, PipelineSpec
from runwright.api.run import (
    BlockPhase,
    BlockStatus,
    PipelineRunSpec,
    PipelineRunStatus,
    RetryMode,
    TriggeredBy,
)
from runwright.api.trigger import RunPhase
from runwright.engine import backoff, dag, templating
from runwright.engine.naming import attempt_name

#: How long a run waits for its Pipeline to appear before it fails (apply order races).
PIPELINE_GRACE_SECONDS = 30

_ACTIVE = frozenset({BlockPhase.RUNNING})
_WAITING = frozenset({BlockPhase.PENDING, BlockPhase.QUEUED, BlockPhase.RETRYING})


class AttemptState(StrEnum):
    """What an executor can see of one attempt."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class Observation:
    """The executor's view of the latest attempt of one block (a Job or a process)."""

    attempt: int
    state: AttemptState
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    message: str = ""
    outputs: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class PlanInput:
    """Everything `plan` looks at. Built by the controller (or the local runner)."""

    run_name: str
    spec: PipelineRunSpec
    status: PipelineRunStatus
    now: datetime
    created_at: datetime
    pipeline: PipelineSpec | None = None
    """The live Pipeline spec; read only when the run starts (then frozen in status)."""
    trigger_variables: Mapping[str, str] = field(default_factory=dict)
    observed: Mapping[str, Observation] = field(default_factory=dict)
    """Latest attempt per block. Absent means no Job/process exists for the block."""
    admitted: bool = True
    """False while the pipeline's pipelineRunLimit is reached by older runs."""
    budget: int | None = None
    """Blocks this run may start now under the global and namespace limits; None = no limit."""
    generation: int | None = None
    rerun_source: PipelineRunStatus | None = None
    """For `spec.rerunOf`: the earlier run's status (None when it does not exist)."""
    pipeline_error: str | None = None
    """The live Pipeline exists but is not a valid spec (the message names the field)."""


@dataclass(frozen=True)
class StartBlock:
    """Start one attempt of a block; `name` is deterministic (a repeat means 'already done')."""

    block: str
    attempt: int
    name: str
    image: str | None
    command: list[str]
    args: list[str]
    env: list[EnvVar]
    contract: dict[str, str]
    """The RUNWRIGHT_* environment of API.md (all but RUNWRIGHT_OUTPUT_PATH, the executor's)."""
    timeout_seconds: int | None
    ready_at: datetime | None


@dataclass(frozen=True)
class StopBlock:
    """Stop (delete) the Job or process of an attempt that must not go on."""

    block: str
    attempt: int
    name: str
    reason: str


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the run: `kubectl describe plr` is the execution history."""

    type: str
    reason: str
    message: str


@dataclass
class Plan:
    """What to do now, the status to write, and when to be called again."""

    status: PipelineRunStatus
    starts: list[StartBlock] = field(default_factory=list)
    stops: list[StopBlock] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wake_at: datetime | None = None
    delete: bool = False
    """True when the run's retention has passed and it should be deleted."""

    def wake(self, at: datetime | None) -> None:
        """Ask to be called again no later than `at`."""
        if at is not None and (self.wake_at is None or at < self.wake_at):
            self.wake_at = at


def effective_timeout(spec: PipelineRunSpec, frozen: PipelineSpec) -> int | None:
    """Run timeout: the run's own (copied from its trigger) over the pipeline's."""
    return spec.timeout_seconds if spec.timeout_seconds is not None else frozen.timeout_seconds


def effective_sla(spec: PipelineRunSpec, frozen: PipelineSpec) -> int | None:
    """SLA seconds: the run's own (copied from its trigger) over the pipeline's."""
    return spec.sla_seconds if spec.sla_seconds is not None else frozen.sla_seconds


def satisfies_downstream(block: Block, status: BlockStatus) -> bool:
    """True when a downstream block may start as far as this upstream is concerned."""
    return status.phase == BlockPhase.SUCCEEDED or (
        status.phase == BlockPhase.FAILED and block.allow_failure
    )


def blocks_downstream(block: Block, status: BlockStatus) -> bool:
    """True when this upstream makes its downstream UpstreamFailed."""
    if status.phase == BlockPhase.FAILED:
        return not block.allow_failure
    return status.phase in (BlockPhase.UPSTREAM_FAILED, BlockPhase.CANCELLED)


def block_ok(block: Block, status: BlockStatus) -> bool:
    """True when this finished block does not stop the run from succeeding."""
    if status.phase in (BlockPhase.SUCCEEDED, BlockPhase.CONDITION_FAILED):
        return True
    return block.allow_failure and status.phase in (
        BlockPhase.FAILED,
        BlockPhase.UPSTREAM_FAILED,
    )


def final_phase(spec: PipelineSpec, blocks: Mapping[str, BlockStatus]) -> RunPhase:
    """API.md's rule for a run whose blocks are all finished (no cancel, no timeout)."""
    by_name = {b.name: b for b in spec.blocks}
    ok = all(block_ok(by_name[name], st) for name, st in blocks.items())
    return RunPhase.SUCCEEDED if ok else RunPhase.FAILED


class _Planner:
    """One call of `plan`: the mutable working state, discarded afterwards."""

    def __init__(self, inp: PlanInput) -> None:
        self.inp = inp
        self.now = inp.now
        self.status = inp.status.model_copy()
        self.status.blocks = dict(inp.status.blocks)
        self.status.conditions = list(inp.status.conditions)
        self.plan = Plan(status=self.status)
        self._shared: tuple[str, str] | None = None
        self.newly_ready: set[str] = set()
        self._upstream_json: dict[tuple[str, ...], str] = {}

    def upstream_json(self, upstream: tuple[str, ...]) -> str:
        """RUNWRIGHT_UPSTREAM_OUTPUTS for a set of upstream blocks, encoded once per call.

        Finished blocks' outputs do not change within a call, and in a fan-out thousands
        of blocks share one upstream: encoding it once keeps the call linear and cheap.
        """
        cached = self._upstream_json.get(upstream)
        if cached is None:
            blocks = self.status.blocks
            outputs = {u: blocks[u].outputs for u in upstream}
            cached = self._upstream_json[upstream] = json.dumps(outputs, sort_keys=True)
        return cached

    def shared_strings(self) -> tuple[str, str]:
        """(executionDate, variables JSON): the same for every block, so computed once."""
        if self._shared is None:
            date = format_time(self.status.execution_date or self.inp.created_at)
            self._shared = (date, json.dumps(self.status.variables, sort_keys=True))
        return self._shared

    # ----- small helpers -------------------------------------------------------------

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.plan.events.append(Event("Warning" if warning else "Normal", reason, message))

    def set_block(self, name: str, **changes: Any) -> BlockStatus:
        updated = self.status.blocks[name].model_copy(update=changes)
        self.status.blocks[name] = updated
        return updated

    def condition(self, type_: str, ok: bool, reason: str, message: str) -> None:
        status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
        kept = [c for c in self.status.conditions if c.type != type_]
        old = next((c for c in self.status.conditions if c.type == type_), None)
        changed = old is None or old.status != status
        kept.append(
            Condition(
                type=type_,
                status=status,
                reason=reason,
                message=message,
                last_transition_time=self.now
                if changed or old is None
                else old.last_transition_time,
                observed_generation=self.inp.generation,
            )
        )
        self.status.conditions = kept

    def stop(self, name: str, reason: str) -> None:
        st = self.status.blocks[name]
        if st.job is not None:
            self.plan.stops.append(StopBlock(name, st.attempt, st.job, reason))

    # ----- the phases of a run --------------------------------------------------------

    def run(self) -> Plan:
        st = self.status
        st.observed_generation = self.inp.generation
        if st.phase is None and not self.initialize():
            return self.finish_plan()
        assert st.phase is not None
        if st.phase.finished:
            self.stop_strays()
            self.finished_run()
            return self.finish_plan()
        if self.inp.spec.cancel:
            self.end(RunPhase.CANCELLED, "Cancelled", "cancelled by spec.cancel")
            return self.finish_plan()
        if st.phase in (RunPhase.PENDING, RunPhase.QUEUED) and not self.admit():
            return self.finish_plan()
        self.running()
        return self.finish_plan()

    def initialize(self) -> bool:
        """Freeze the pipeline spec and variables; False when the run cannot start."""
        inp, st = self.inp, self.status
        st.execution_date = inp.spec.execution_date or inp.created_at
        pipeline = inp.pipeline
        base_variables = {**(pipeline.variables if pipeline else {}), **inp.trigger_variables}
        if inp.spec.rerun_of is not None:
            # A rerun repeats the earlier run's inputs exactly: its frozen spec, its resolved
            # variables and its executionDate; the rerun's own variables still win.
            source = inp.rerun_source
            if source is None or source.pipeline_spec is None:
                message = (
                    f'spec.rerunOf.name: PipelineRun "{inp.spec.rerun_of.name}" does not exist '
                    "or never started; rerun a run that ran"
                )
                self.condition("PipelineValid", False, "RerunSourceNotFound", message)
                self.complete(RunPhase.FAILED, "InvalidRerun", message, "RunFailed")
                return False
            pipeline = source.pipeline_spec
            base_variables = dict(source.variables)
            st.execution_date = (
                inp.spec.execution_date or source.execution_date or st.execution_date
            )
        if pipeline is None and inp.pipeline_error is not None:
            message = f"Pipeline {inp.spec.pipeline_ref.name}: {inp.pipeline_error}"
            self.condition("PipelineValid", False, "InvalidPipeline", message)
            self.complete(RunPhase.FAILED, "InvalidPipeline", message, "RunFailed")
            return False
        if pipeline is None:
            name = inp.spec.pipeline_ref.name
            deadline = inp.created_at + timedelta(seconds=PIPELINE_GRACE_SECONDS)
            message = f'spec.pipelineRef.name: Pipeline "{name}" does not exist in this namespace'
            if self.now < deadline:
                st.phase = None
                st.reason, st.message = "PipelineNotFound", message + "; waiting for it"
                self.plan.wake(deadline)
                return False
            st.phase = RunPhase.FAILED
            self.condition("PipelineValid", False, "PipelineNotFound", message)
            self.complete(RunPhase.FAILED, "InvalidPipeline", message, "RunFailed")
            return False
        problems = dag.validate(pipeline.blocks) or templating.validate(pipeline)
        if problems:
            message = "; ".join(str(p) for p in problems)
            st.pipeline_spec = pipeline
            self.condition("PipelineValid", False, problems[0].reason, message)
            self.complete(RunPhase.FAILED, "InvalidPipeline", message, "RunFailed")
            return False
        st.pipeline_spec = pipeline
        st.variables = {**base_variables, **inp.spec.variables}
        st.blocks = {b.name: BlockStatus() for b in pipeline.blocks}
        st.phase = RunPhase.PENDING
        st.reason = st.message = ""
        st.retry_id = inp.spec.retry.id if inp.spec.retry is not None else None
        self.condition("PipelineValid", True, "Valid", "")
        return True

    def admit(self) -> bool:
        """Pending/Queued -> Running when the pipelineRunLimit allows; else wait or skip."""
        st, frozen = self.status, self.frozen
        if not self.inp.admitted:
            limit = frozen.concurrency.pipeline_run_limit
            message = f"the pipeline already has {limit} active runs (pipelineRunLimit {limit})"
            if frozen.concurrency.on_limit == "Skip":
                self.end(RunPhase.CANCELLED, "ConcurrencyLimit", message + "; onLimit is Skip")
                return False
            if st.phase != RunPhase.QUEUED:
                self.event("RunQueued", "waiting: " + message)
            st.phase, st.reason, st.message = (
                RunPhase.QUEUED,
                "ConcurrencyLimit",
                "waiting: " + message,
            )
            self.sla_check()
            return False
        st.phase, st.reason, st.message = RunPhase.RUNNING, "", ""
        st.started_at = self.now
        self.event("RunStarted", f"run started ({len(frozen.blocks)} blocks)")
        return True

    @property
    def frozen(self) -> PipelineSpec:
        spec = self.status.pipeline_spec
        assert spec is not None, "a started run always has a frozen pipeline spec"
        return spec

    def stop_strays(self) -> None:
        """Level-triggered cleanup: a finished run has no live attempts (a lost stop is redone)."""
        for name, obs in self.inp.observed.items():
            if obs.state == AttemptState.RUNNING:
                job = attempt_name(self.inp.run_name, name, obs.attempt)
                self.plan.stops.append(StopBlock(name, obs.attempt, job, "RunFinished"))

    def finished_run(self) -> None:
        """A finished run: handle an in-place retry request, or its retention."""
        st, spec = self.status, self.inp.spec
        request = spec.retry
        if request is not None and request.id != st.retry_id:
            self.retry(request.id, request.mode, request.from_block)
            return
        if st.completed_at is None or st.pipeline_spec is None or st.phase is None:
            return
        retention = st.pipeline_spec.retention
        ttl = {
            RunPhase.SUCCEEDED: retention.succeeded_seconds,
            RunPhase.FAILED: retention.failed_seconds,
            RunPhase.CANCELLED: retention.cancelled_seconds,
        }.get(st.phase)
        if ttl is not None:
            expires = st.completed_at + timedelta(seconds=ttl)
            if self.now >= expires:
                self.plan.delete = True
            else:
                self.plan.wake(expires)

    def retry(self, request_id: str, mode: RetryMode, from_block: str | None) -> None:
        st = self.status
        st.retry_id = request_id
        if st.pipeline_spec is None or not st.blocks:
            self.event("RetryRejected", "the run never started; create a new run", warning=True)
            self.condition("RetryAccepted", False, "NotStarted", "the run never started")
            return
        if self.inp.spec.cancel:
            message = "spec.cancel is true; set it to false to retry"
            self.event("RetryRejected", message, warning=True)
            self.condition("RetryAccepted", False, "Cancelled", message)
            return
        graph = dag.build(self.frozen.blocks)
        if mode == RetryMode.FROM_BLOCK:
            if from_block is None or from_block not in graph.blocks:
                message = (
                    f'spec.retry.fromBlock names "{from_block}", no such block'
                    f"{dag.did_you_mean(from_block or '', graph.blocks)}"
                )
                self.event("RetryRejected", message, warning=True)
                self.condition("RetryAccepted", False, "UnknownBlock", message)
                return
            reset: set[str] = {from_block, *graph.descendants(from_block)}
        else:
            keep = (BlockPhase.SUCCEEDED, BlockPhase.CONDITION_FAILED)
            reset = {n for n, b in st.blocks.items() if b.phase not in keep}
        for name in reset:
            # Attempt numbers go on (Job names stay unique); the retry budget starts afresh.
            self.set_block(
                name,
                phase=BlockPhase.PENDING,
                retries=0,
                ready_at=None,
                started_at=None,
                completed_at=None,
                next_attempt_at=None,
                exit_code=None,
                reason="",
                message="",
                outputs={},
                metrics={},
            )
        st.phase, st.reason, st.message = RunPhase.PENDING, "", ""
        st.completed_at = st.duration_seconds = None
        st.timed_out = False
        self.condition("RetryAccepted", True, str(mode), f"{len(reset)} blocks reset to Pending")
        self.event("RunRetried", f"retry {request_id} ({mode}): {len(reset)} blocks run again")
        if not self.inp.spec.cancel and self.admit():
            self.running()

    def running(self) -> None:
        """The heart: observations in, propagation, starts, timeouts, completion."""
        graph = dag.build(self.frozen.blocks)
        self.adopt_and_observe(graph)
        self.sla_check()
        for _ in range(len(graph.order) + 1):
            self.propagate(graph)
            if self.fail_fast(graph):
                return
            if not self.start_ready(graph):
                break
        if all(b.phase.finished for b in self.status.blocks.values()):
            phase = final_phase(self.frozen, self.status.blocks)
            if phase == RunPhase.SUCCEEDED:
                self.complete(phase, "", "all blocks finished", "RunSucceeded")
            else:
                culprit = self.first_failure(graph)
                self.complete(phase, "BlockFailed", culprit, "RunFailed")
            return
        if self.timeout_check():
            return
        self.schedule_wakes(graph)

    def adopt_and_observe(self, graph: dag.Graph) -> None:
        observed = self.inp.observed
        for name in graph.order:
            st = self.status.blocks[name]
            obs = observed.get(name)
            # A start whose status write was lost (crash between "create" and "patch"):
            # the attempt exists, so the block is Running at that attempt.
            if (
                obs is not None
                and st.phase in (BlockPhase.PENDING, BlockPhase.QUEUED, BlockPhase.RETRYING)
                and obs.attempt == st.attempt + 1
            ):
                st = self.set_block(
                    name,
                    phase=BlockPhase.RUNNING,
                    attempt=obs.attempt,
                    job=attempt_name(self.inp.run_name, name, obs.attempt),
                    started_at=obs.started_at or self.now,
                    next_attempt_at=None,
                    reason="",
                    message="",
                )
            if st.phase != BlockPhase.RUNNING:
                if obs is not None and obs.state == AttemptState.RUNNING:
                    # Level-triggered cleanup: nothing but a Running block may have a live attempt.
                    job = attempt_name(self.inp.run_name, name, obs.attempt)
                    self.plan.stops.append(StopBlock(name, obs.attempt, job, "NotRunning"))
                continue
            if obs is None or obs.attempt != st.attempt:
                self.attempt_failed(
                    graph, name, "JobDeleted", f"{st.job} disappeared before it finished", None
                )
                continue
            if obs.state == AttemptState.SUCCEEDED:
                self.set_block(
                    name,
                    phase=BlockPhase.SUCCEEDED,
                    completed_at=obs.finished_at or self.now,
                    exit_code=obs.exit_code if obs.exit_code is not None else 0,
                    reason="",
                    message="",
                    outputs=dict(obs.outputs),
                    metrics=dict(obs.metrics),
                )
                self.event("BlockSucceeded", f"{name} attempt {st.attempt} succeeded")
            elif obs.state == AttemptState.FAILED:
                self.attempt_failed(
                    graph, name, obs.reason or "Error", obs.message, obs.exit_code, obs
                )
            else:
                timeout = graph.blocks[name].timeout_seconds
                started = st.started_at or self.now
                if timeout is not None and self.now >= started + timedelta(seconds=timeout):
                    self.stop(name, "Timeout")
                    self.attempt_failed(
                        graph, name, "Timeout", f"attempt {st.attempt} exceeded {timeout}s", None
                    )

    def attempt_failed(
        self,
        graph: dag.Graph,
        name: str,
        reason: str,
        message: str,
        exit_code: int | None,
        obs: Observation | None = None,
    ) -> None:
        st = self.status.blocks[name]
        policy = backoff.resolve(self.frozen, graph.blocks[name])
        outputs = dict(obs.outputs) if obs is not None else {}
        metrics = dict(obs.metrics) if obs is not None else {}
        retryable = reason != "InvalidTemplate"
        if retryable and st.retries < policy.limit:
            delay = policy.delay(st.retries + 1)
            at = self.now + timedelta(seconds=delay)
            self.set_block(
                name,
                phase=BlockPhase.RETRYING,
                retries=st.retries + 1,
                next_attempt_at=at,
                exit_code=exit_code,
                reason=reason,
                message=message,
            )
            self.event(
                "BlockRetrying",
                f"{name} attempt {st.attempt} failed ({reason}); attempt {st.attempt + 1} "
                f"in {delay:g}s",
                warning=True,
            )
            return
        self.set_block(
            name,
            phase=BlockPhase.FAILED,
            completed_at=(obs.finished_at if obs and obs.finished_at else self.now),
            next_attempt_at=None,
            exit_code=exit_code,
            reason=reason,
            message=message,
            outputs=outputs,
            metrics=metrics,
        )
        self.event(
            "BlockFailed",
            f"{name} attempt {st.attempt} failed ({reason}){': ' + message if message else ''}",
            warning=True,
        )

    def propagate(self, graph: dag.Graph) -> None:
        """Decide the fate of waiting blocks whose upstream settled it (in topological order)."""
        blocks = self.status.blocks
        for name in graph.order:
            st = blocks[name]
            if st.phase not in (BlockPhase.PENDING, BlockPhase.QUEUED):
                continue
            ups = graph.upstream[name]
            failed = [u for u in ups if blocks_downstream(graph.blocks[u], blocks[u])]
            if failed:
                self.never_runs(
                    name,
                    BlockPhase.UPSTREAM_FAILED,
                    "UpstreamFailed",
                    f"upstream {', '.join(failed)} did not succeed",
                    f"{name} will not run: upstream {', '.join(failed)} failed",
                )
                continue
            if not all(blocks[u].phase.finished for u in ups):
                continue
            skipped = [u for u in ups if blocks[u].phase == BlockPhase.CONDITION_FAILED]
            if skipped:
                self.never_runs(
                    name,
                    BlockPhase.CONDITION_FAILED,
                    "UpstreamConditionFailed",
                    f"upstream {', '.join(skipped)} did not run (condition false)",
                    f"{name} skipped: upstream {', '.join(skipped)} skipped",
                )
                continue
            if not self.when_holds(graph, name):
                continue
            if st.ready_at is None:
                # Written together with the start (or the Queued mark): one copy, not two.
                self.newly_ready.add(name)

    def never_runs(
        self, name: str, phase: BlockPhase, reason: str, message: str, event: str
    ) -> None:
        """Settle a block that will not run (UpstreamFailed/ConditionFailed), with its Event."""
        self.set_block(name, phase=phase, completed_at=self.now, reason=reason, message=message)
        kind = (
            "BlockUpstreamFailed" if phase == BlockPhase.UPSTREAM_FAILED else "BlockConditionFailed"
        )
        self.event(kind, event)

    def when_holds(self, graph: dag.Graph, name: str) -> bool:
        """Evaluate the block's `when`; a false one makes it ConditionFailed."""
        block = graph.blocks[name]
        if not block.when:
            return True
        ctx = self.template_context(graph, name, self.status.blocks[name].attempt + 1)
        for i, cond in enumerate(block.when):
            try:
                value = templating.render(cond.input, ctx)
            except templating.TemplateError as exc:
                self.set_block(
                    name,
                    phase=BlockPhase.FAILED,
                    completed_at=self.now,
                    reason="InvalidTemplate",
                    message=f"when[{i}].input: {exc}",
                )
                self.event("BlockFailed", f"{name}: when[{i}].input: {exc}", warning=True)
                return False
            if not _compare(cond.operator, value, cond.values):
                self.set_block(
                    name,
                    phase=BlockPhase.CONDITION_FAILED,
                    completed_at=self.now,
                    reason="ConditionFalse",
                    message=f"when[{i}]: {value!r} {cond.operator} {cond.values} is false",
                )
                self.event("BlockConditionFailed", f"{name} skipped: when[{i}] is false")
                return False
        return True

    def fail_fast(self, graph: dag.Graph) -> bool:
        """With failFast, a block that failed for good ends the run Failed at once."""
        if not self.frozen.fail_fast:
            return False
        blocks = self.status.blocks
        failed = [
            n
            for n in graph.order
            if blocks[n].phase == BlockPhase.FAILED and not graph.blocks[n].allow_failure
        ]
        if not failed:
            return False
        self.end(
            RunPhase.FAILED,
            "BlockFailed",
            self.first_failure(graph) + "; failFast cancelled the rest",
            "RunFailed",
            block_reason="FailFast",
        )
        return True

    def first_failure(self, graph: dag.Graph) -> str:
        for name in graph.order:
            st = self.status.blocks[name]
            if st.phase == BlockPhase.FAILED and not graph.blocks[name].allow_failure:
                detail = f": {st.message}" if st.message else ""
                return f"block {name} failed ({st.reason}){detail}"
        for name in graph.order:
            st = self.status.blocks[name]
            if not block_ok(graph.blocks[name], st):
                return f"block {name} is {st.phase}"
        return "a block failed"

    def start_ready(self, graph: dag.Graph) -> bool:
        """Start what is ready within the limits; mark the rest Queued. True if a start failed."""
        blocks = self.status.blocks
        ready: list[str] = []
        for name in graph.order:
            st = blocks[name]
            if st.phase == BlockPhase.RETRYING:
                if st.next_attempt_at is not None and st.next_attempt_at <= self.now:
                    ready.append(name)
            elif st.phase in (BlockPhase.PENDING, BlockPhase.QUEUED) and (
                st.ready_at is not None or name in self.newly_ready
            ):
                ready.append(name)
        if not ready:
            return False
        # Oldest-ready first, then topological order: queued work is served in order.
        ready.sort(key=lambda n: (blocks[n].ready_at or self.now, graph.index[n]))
        running = sum(1 for b in blocks.values() if b.phase in _ACTIVE)
        limit = self.frozen.concurrency.block_run_limit
        free_run = limit - running if limit is not None else len(ready)
        budget = self.inp.budget if self.inp.budget is not None else len(ready)
        budget -= len(self.plan.starts)
        start_failed = False
        for name in ready:
            st = blocks[name]
            if free_run <= 0 or budget <= 0:
                by_run = free_run <= 0
                reason = "BlockRunLimit" if by_run else "ConcurrencyLimit"
                message = (
                    f"waiting: blockRunLimit {limit} reached in this run"
                    if by_run
                    else "waiting: the global or namespace block limit is reached"
                )
                if st.phase != BlockPhase.QUEUED or st.reason != reason or st.ready_at is None:
                    # A retry whose backoff is over waits like any ready block: Queued, in
                    # line by the time it became ready again.
                    self.set_block(
                        name,
                        phase=BlockPhase.QUEUED,
                        ready_at=st.next_attempt_at or st.ready_at or self.now,
                        next_attempt_at=None,
                        reason=reason,
                        message=message,
                    )
                continue
            try:
                action = self.start_action(graph, name, st.attempt + 1)
            except templating.TemplateError as exc:
                self.set_block(
                    name,
                    phase=BlockPhase.FAILED,
                    attempt=st.attempt + 1,
                    completed_at=self.now,
                    reason="InvalidTemplate",
                    message=str(exc),
                )
                self.event("BlockFailed", f"{name}: {exc}", warning=True)
                start_failed = True
                continue
            self.plan.starts.append(action)
            self.set_block(
                name,
                phase=BlockPhase.RUNNING,
                attempt=action.attempt,
                job=action.name,
                ready_at=st.ready_at or self.now,
                started_at=self.now,
                completed_at=None,
                next_attempt_at=None,
                exit_code=None,
                reason="",
                message="",
            )
            self.event("BlockStarted", f"{name} attempt {action.attempt} started as {action.name}")
            free_run -= 1
            budget -= 1
        return start_failed

    def template_context(self, graph: dag.Graph, name: str, attempt: int) -> dict[str, Any]:
        blocks = self.status.blocks
        return templating.context(
            variables=self.status.variables,
            run_name=self.inp.run_name,
            pipeline=self.inp.spec.pipeline_ref.name,
            execution_date=self.shared_strings()[0],
            attempt=attempt,
            upstream_outputs={u: blocks[u].outputs for u in graph.upstream[name]},
        )

    def start_action(self, graph: dag.Graph, name: str, attempt: int) -> StartBlock:
        block = graph.blocks[name]
        template = self.frozen.template
        templated = any(
            templating.is_template(text) for _, text in templating.template_fields(block)
        )
        templated = templated or any(
            v.value is not None and templating.is_template(v.value) for v in template.env
        )
        ctx = self.template_context(graph, name, attempt) if templated else {}
        args = [templating.render(a, ctx) for a in block.args]
        env: dict[str, EnvVar] = {}
        for var in [*template.env, *block.env]:
            if var.value is not None and templating.is_template(var.value):
                var = var.model_copy(update={"value": templating.render(var.value, ctx)})
            env[var.name] = var
        execution_date, variables_json = self.shared_strings()
        contract = {
            labels.ENV_RUN: self.inp.run_name,
            labels.ENV_PIPELINE: self.inp.spec.pipeline_ref.name,
            labels.ENV_BLOCK: name,
            labels.ENV_ATTEMPT: str(attempt),
            labels.ENV_EXECUTION_DATE: execution_date,
            labels.ENV_VARIABLES: variables_json,
            labels.ENV_UPSTREAM_OUTPUTS: self.upstream_json(graph.upstream[name]),
        }
        return StartBlock(
            block=name,
            attempt=attempt,
            name=attempt_name(self.inp.run_name, name, attempt),
            image=block.image or template.image,
            command=list(block.command),
            args=args,
            env=list(env.values()),
            contract=contract,
            timeout_seconds=block.timeout_seconds,
            ready_at=self.status.blocks[name].ready_at,
        )

    def sla_check(self) -> None:
        st = self.status
        if st.pipeline_spec is None or st.sla_missed or st.execution_date is None:
            return
        sla = effective_sla(self.inp.spec, st.pipeline_spec)
        if sla is None:
            return
        deadline = st.execution_date + timedelta(seconds=sla)
        if self.now >= deadline:
            st.sla_missed = True
            self.event(
                "SLAMissed",
                f"unfinished {sla}s after its executionDate {format_time(st.execution_date)}",
                warning=True,
            )
        else:
            self.plan.wake(deadline)

    def run_deadline(self) -> datetime | None:
        timeout = effective_timeout(self.inp.spec, self.frozen)
        if timeout is None or self.status.started_at is None:
            return None
        return self.status.started_at + timedelta(seconds=timeout)

    def timeout_check(self) -> bool:
        deadline = self.run_deadline()
        if deadline is None or self.now < deadline:
            return False
        status = self.inp.spec.timeout_status or self.frozen.timeout_status
        phase = RunPhase.CANCELLED if status == TimeoutStatus.CANCELLED else RunPhase.FAILED
        timeout = effective_timeout(self.inp.spec, self.frozen)
        self.status.timed_out = True
        self.event("TimedOut", f"the run exceeded its timeout of {timeout}s", warning=True)
        self.end(
            phase, "Timeout", f"the run exceeded its timeout of {timeout}s", block_reason="Timeout"
        )
        return True

    def schedule_wakes(self, graph: dag.Graph) -> None:
        plan = self.plan
        plan.wake(self.run_deadline())
        for name, st in self.status.blocks.items():
            if st.phase == BlockPhase.RETRYING:
                plan.wake(st.next_attempt_at)
            elif st.phase == BlockPhase.RUNNING:
                timeout = graph.blocks[name].timeout_seconds
                if timeout is not None and st.started_at is not None:
                    plan.wake(st.started_at + timedelta(seconds=timeout))

    def end(
        self,
        phase: RunPhase,
        reason: str,
        message: str,
        event: str | None = None,
        block_reason: str = "Cancelled",
    ) -> None:
        """Finish the run early: stop what runs and cancel every unfinished block."""
        for name, st in list(self.status.blocks.items()):
            if st.phase.finished:
                continue
            if st.phase in _ACTIVE:
                self.stop(name, block_reason)
            self.set_block(
                name,
                phase=BlockPhase.CANCELLED,
                completed_at=self.now,
                next_attempt_at=None,
                reason=block_reason,
                message=message if block_reason != "Cancelled" else "the run was cancelled",
            )
        default_event = {
            RunPhase.CANCELLED: "RunCancelled",
            RunPhase.FAILED: "RunFailed",
            RunPhase.SUCCEEDED: "RunSucceeded",
        }[phase]
        self.complete(phase, reason, message, event or default_event)

    def complete(self, phase: RunPhase, reason: str, message: str, event: str) -> None:
        st = self.status
        if st.phase is not None and not st.phase.finished and st.pipeline_spec is not None:
            self.sla_check()  # a run that finishes late has missed its SLA too
        st.phase, st.reason, st.message = phase, reason, message
        st.completed_at = self.now
        if st.started_at is not None:
            st.duration_seconds = int((self.now - st.started_at).total_seconds())
        self.event(event, message or f"run {phase}", warning=phase != RunPhase.SUCCEEDED)
        self.finished_run()

    def finish_plan(self) -> Plan:
        st = self.status
        if st.blocks:
            done = sum(1 for b in st.blocks.values() if b.phase.finished)
            st.progress = f"{done}/{len(st.blocks)}"
            totals: dict[str, float] = {}
            for b in st.blocks.values():
                for key, value in b.metrics.items():
                    totals[key] = totals.get(key, 0.0) + value
            st.metrics = totals
        return self.plan


def _compare(op: ConditionOperator, value: str, values: list[str]) -> bool:
    match op:
        case ConditionOperator.IN:
            return value in values
        case ConditionOperator.NOT_IN:
            return value not in values
        case ConditionOperator.EQUALS:
            return bool(values) and value == values[0]
        case ConditionOperator.NOT_EQUALS:
            return not values or value != values[0]
        case ConditionOperator.EXISTS:
            return value.strip() != ""
        case ConditionOperator.DOES_NOT_EXIST:
            return value.strip() == ""


def plan(inp: PlanInput) -> Plan:
    """Decide what the run does next. Pure: same input, same output."""
    return _Planner(inp).run()


__all__ = [
    "AttemptState",
    "Event",
    "Observation",
    "Plan",
    "PlanInput",
    "StartBlock",
    "StopBlock",
    "TriggeredBy",
    "final_phase",
    "plan",
]
