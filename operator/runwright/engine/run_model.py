"""The run planner's inputs, outputs and the working state of one call of `plan`.

`engine.plan` re-exports the public names; the modules that make the decisions
(`run_lifecycle`, `block_states`, `block_start`) share the `Work` of one call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from runwright.api.common import format_time
from runwright.api.pipeline import EnvVar, K8sObject, PipelineSpec, PodTemplate
from runwright.api.run import (
    AttemptRecord,
    BlockPhase,
    BlockStatus,
    PipelineRunSpec,
    PipelineRunStatus,
)
from runwright.engine import conditions, run_size
from runwright.engine.events import Event
from runwright.engine.naming import item_key, key_attempt_name, split_key
from runwright.engine.reasons import BlockReason, StopReason

#: Blocks that completed successfully, for `status.progress` (and failed ones under
#: allowFailure): a Failed run does not read "4/4".
_COMPLETED_OK = (BlockPhase.SUCCEEDED, BlockPhase.CONDITION_FAILED)
_MAY_FAIL = (BlockPhase.FAILED, BlockPhase.UPSTREAM_FAILED)


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
    """A `BlockReason`, or a reason Kubernetes handed over (OOMKilled, Evicted...)."""
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
    """The live Pipeline spec. What a run executes is frozen in status when it starts (or
    re-frozen by a retry/rerun with pipelineSpec Current); live, it gives only policy
    that is not part of the execution: the retention of finished runs."""
    pipeline_generation: int | None = None
    """The live Pipeline's metadata.generation (recorded as status.pipelineGeneration)."""
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
    archive_pending: bool = False
    """An archive is configured and has not confirmed this run's final record: retention
    keeps the run until it has (the confirmation wakes the run). False without an archive."""


@dataclass(frozen=True)
class StartBlock:
    """Start one attempt of a block; `name` is deterministic (a repeat means 'already done').

    It carries the attempt's whole intent, so an executor never reads the pipeline spec:
    the rendered command line and environment, and the pod's pieces (the pipeline's
    pod template, the labels, annotations and resources merged from it and the block).
    """

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
    pod_template: PodTemplate = field(default_factory=PodTemplate)
    """The pipeline's template: serviceAccountName, nodeSelector, tolerations, affinity,
    imagePullSecrets, securityContext, volumes, volumeMounts, envFrom (its image, env,
    labels, annotations and resources are already merged into the fields here)."""
    labels: dict[str, str] = field(default_factory=dict)
    """Pod labels: the template's, overridden by the block's (the executor adds its own last)."""
    annotations: dict[str, str] = field(default_factory=dict)
    """Pod annotations: the template's, overridden by the block's."""
    resources: K8sObject | None = None
    """The block's ResourceRequirements, else the template's."""
    item: int | None = None
    """A fan-out item's index (None for a plain block): its pods get labels.ITEM."""

    @property
    def key(self) -> str:
        """The observation key of this attempt: the block, or `<block>/<index>` for an item."""
        return self.block if self.item is None else item_key(self.block, self.item)


@dataclass(frozen=True)
class StopBlock:
    """Stop (delete) the Job or process of an attempt that must not go on."""

    block: str
    attempt: int
    name: str
    reason: str
    """A `StopReason`."""
    item: int | None = None
    """A fan-out item's index (None for a plain block)."""

    @property
    def key(self) -> str:
        """The observation key of the stopped attempt (see `StartBlock.key`)."""
        return self.block if self.item is None else item_key(self.block, self.item)


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
    running: int = 0
    """Blocks Running in `status` (attempts this run holds against the block budgets)."""
    queued_on_budget: list[str] = field(default_factory=list)
    """Blocks Queued because the global or namespace budget is spent (what the run wants)."""

    def wake(self, at: datetime | None) -> None:
        """Ask to be called again no later than `at`."""
        if at is not None and (self.wake_at is None or at < self.wake_at):
            self.wake_at = at


class Work:
    """One call of `plan`: the copied status being decided, the plan, per-call caches.

    Status objects are treated as immutable: the status is copied shallowly and only
    the block entries that change are replaced, so a call is linear in the blocks.
    """

    def __init__(self, inp: PlanInput) -> None:
        self.inp = inp
        self.now = inp.now
        self.status = inp.status.model_copy()
        self.status.blocks = dict(inp.status.blocks)
        self.status.conditions = list(inp.status.conditions)
        self.plan = Plan(status=self.status)
        self.newly_ready: set[str] = set()
        """Blocks found ready in this call (their readyAt is written with the start)."""
        self.cache: dict[Any, Any] = {}
        """Strings the same for many blocks within a call (upstream outputs JSON...)."""
        self.started: dict[str, tuple[BlockStatus, Event]] = {}
        """Blocks started in this call: their status before the start, and its Event."""

    @property
    def frozen(self) -> PipelineSpec:
        """The run's frozen pipeline spec (only called once the run has started)."""
        spec = self.status.pipeline_spec
        assert spec is not None, "a started run always has a frozen pipeline spec"
        return spec

    @property
    def execution_date(self) -> str:
        """RUNWRIGHT_EXECUTION_DATE, {{ run.executionDate }}: formatted once per call."""
        key = "executionDate"
        if key not in self.cache:
            self.cache[key] = format_time(self.status.execution_date or self.inp.created_at)
        value: str = self.cache[key]
        return value

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        """Emit an Event on the run."""
        self.plan.events.append(Event.of(reason, message, warning))

    def set_block(self, name: str, **changes: Any) -> BlockStatus:
        """Replace one block's status with a changed copy."""
        updated = self.status.blocks[name].model_copy(update=changes)
        self.status.blocks[name] = updated
        return updated

    def record_attempt(
        self, name: str, phase: BlockPhase | None = None, completed_at: datetime | None = None
    ) -> None:
        """Write the block's latest attempt into its bounded history (`attempts`).

        Called where an attempt starts or ends; `phase` is how the attempt itself ended
        when the block's phase says something else (Retrying: the attempt Failed).
        """
        st = self.status.blocks[name]
        record = AttemptRecord(
            attempt=st.attempt,
            phase=phase or st.phase,
            reason=st.reason,
            exit_code=st.exit_code,
            started_at=st.started_at,
            completed_at=completed_at or st.completed_at,
        )
        history = list(st.attempts)
        if history and history[-1].attempt == st.attempt:
            history[-1] = record
        else:
            history.append(record)
        # A big run keeps fewer records per block, so its status stays bounded.
        kept = run_size.attempt_history(len(self.status.blocks))
        self.status.blocks[name] = st.model_copy(update={"attempts": history[-kept:]})

    def retract_starts(self) -> None:
        """Take back the starts of this call: a plan that ends the run starts nothing."""
        if not self.started:
            return
        self.plan.starts = [s for s in self.plan.starts if s.block not in self.started]
        retracted = {id(event) for _, event in self.started.values()}
        self.plan.events = [e for e in self.plan.events if id(e) not in retracted]
        for name, (before, _) in self.started.items():
            self.status.blocks[name] = before
        self.started.clear()

    def condition(self, type_: str, ok: bool, reason: str, message: str) -> None:
        """Set a condition of the run (see `engine.conditions`)."""
        self.status.conditions, _ = conditions.set_condition(
            self.status.conditions,
            type_,
            ok,
            reason,
            message,
            now=self.now,
            generation=self.inp.generation,
        )

    def stop(self, name: str, reason: StopReason) -> None:
        """Stop the live attempt of a block, if it has one."""
        st = self.status.blocks[name]
        if st.job is not None:
            self.plan.stops.append(StopBlock(name, st.attempt, st.job, reason))

    def stop_attempt(self, name: str, attempt: int, reason: StopReason) -> None:
        """Stop an observed attempt the status does not hold (a stray); `name` is its key."""
        job = key_attempt_name(self.inp.run_name, name, attempt)
        block, item = split_key(name)
        self.plan.stops.append(StopBlock(block, attempt, job, reason, item))

    def finish(self) -> Plan:
        """Derive the summary fields (progress, metrics, budget use) from the final status."""
        st, plan = self.status, self.plan
        if st.blocks:
            done = running = 0
            totals: dict[str, float] = {}
            may_fail = (
                {b.name for b in st.pipeline_spec.blocks if b.allow_failure}
                | {b.name for b in st.pipeline_spec.finally_ if b.allow_failure}
                if st.pipeline_spec is not None
                else set()
            )
            for name, b in st.blocks.items():
                if b.phase in _COMPLETED_OK or (name in may_fail and b.phase in _MAY_FAIL):
                    done += 1
                if b.phase == BlockPhase.RUNNING:
                    running += 1 if b.items is None else b.items.counts.get("Running", 0)
                elif b.phase == BlockPhase.QUEUED and b.reason == BlockReason.CONCURRENCY_LIMIT:
                    plan.queued_on_budget.append(name)
                for key, value in b.metrics.items():
                    totals[key] = totals.get(key, 0.0) + value
            st.progress = f"{done}/{len(st.blocks)}"
            st.metrics = totals
            plan.running = running
        return plan
