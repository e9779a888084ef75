"""The trigger planner's inputs and outputs, the runs it makes, and the state of one call.

`engine.triggers` re-exports the public names; `trigger_fires` and `trigger_policy`
decide, sharing the `TriggerWork` of one call of `plan_trigger`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runwright import labels
from runwright.api.common import MAX_NAME, LocalObjectReference
from runwright.api.run import PipelineRunSpec, TriggeredBy
from runwright.api.trigger import RunPhase, TriggerSpec, TriggerStatus
from runwright.engine import conditions
from runwright.engine.events import Event
from runwright.engine.naming import run_name
from runwright.engine.reasons import SkipReason


@dataclass(frozen=True)
class TriggerRun:
    """A PipelineRun labelled with this trigger, as the controller sees it."""

    name: str
    phase: RunPhase | None
    created_at: datetime
    execution_date: datetime | None = None
    completed_at: datetime | None = None
    triggered_by: TriggeredBy | None = None
    cancel_requested: bool = False
    """spec.cancel is already true: Replace need not ask again."""
    archived: bool = True
    """False while a configured archive has not confirmed the finished run: the history
    limits keep it (it still counts) until the archive has it."""

    @property
    def finished(self) -> bool:
        """True once the run is Succeeded, Failed or Cancelled."""
        return self.phase is not None and self.phase.finished


@dataclass(frozen=True)
class UpstreamRun:
    """A finished run of the Event trigger's `event.pipelineRef` pipeline."""

    name: str
    phase: RunPhase
    completed_at: datetime


@dataclass(frozen=True)
class TriggerInput:
    """Everything `plan_trigger` looks at. Built by the trigger controller."""

    name: str
    spec: TriggerSpec
    status: TriggerStatus
    now: datetime
    created_at: datetime
    """The trigger's creationTimestamp: where a new trigger's schedule starts."""
    runs: Sequence[TriggerRun] = ()
    """Only runs labelled runwright.dev/trigger=<name> (including ones just created)."""
    upstream_runs: Sequence[UpstreamRun] = ()
    """Type Event: finished runs of event.pipelineRef (any order; the planner sorts)."""
    pipeline_exists: bool = True
    secret_ok: bool | None = None
    """Type API: False when the token Secret or its key is missing; None = not checked."""
    namespace: str | None = None
    generation: int | None = None


@dataclass(frozen=True)
class RunToCreate:
    """A PipelineRun to create; `manifest` is the full object, `name` deterministic."""

    name: str
    execution_date: datetime
    manifest: dict[str, Any]


@dataclass(frozen=True)
class RunToCancel:
    """A run to cancel (set spec.cancel: true), and why."""

    name: str
    reason: str


@dataclass(frozen=True)
class RunToDelete:
    """A finished run beyond the history limits."""

    name: str
    reason: str


@dataclass(frozen=True)
class SkippedFire:
    """A fire that created no run: when it was due, and why (the metric's label)."""

    at: datetime
    reason: SkipReason


@dataclass
class TriggerPlan:
    """What to do now, the status to write, and when to be called again.

    Apply in field order: cancel before create (Replace: the old run stops first).
    """

    status: TriggerStatus
    cancel: list[RunToCancel] = field(default_factory=list)
    create: list[RunToCreate] = field(default_factory=list)
    delete: list[RunToDelete] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wake_at: datetime | None = None
    skipped: list[SkippedFire] = field(default_factory=list)
    """The fires of this call that created no run (status.firesSkipped grew by as many)."""

    def skipped_by_reason(self) -> dict[SkipReason, int]:
        """How many fires were skipped, per reason (for runwright_trigger_skipped_total)."""
        return dict(Counter(s.reason for s in self.skipped))


def fire_suffix(at: datetime) -> str:
    """The unix seconds of a fire: the name suffix of Schedule, Once and AlwaysOn runs."""
    return str(int(at.timestamp()))


def run_manifest(
    trigger: str,
    spec: TriggerSpec,
    name: str | None,
    execution_date: datetime,
    triggered_by: TriggeredBy,
    variables: dict[str, str] | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The PipelineRun a trigger creates: labels, refs, the trigger's variables and limits.

    Trigger variables go into the run's spec.variables, where they override the
    pipeline's (pipeline < trigger < run); `variables` (an API call's body, the
    upstream run of an Event) override the trigger's. `name` None makes a
    generateName run, for the API endpoint, whose calls have nothing to derive a name from.
    """
    run_spec = PipelineRunSpec(
        pipeline_ref=LocalObjectReference(name=spec.pipeline_ref.name),
        variables={**spec.variables, **(variables or {})},
        execution_date=execution_date,
        trigger_ref=LocalObjectReference(name=trigger),
        triggered_by=triggered_by,
        sla_seconds=spec.sla_seconds,
        timeout_seconds=spec.timeout_seconds,
        timeout_status=spec.timeout_status,
    )
    metadata: dict[str, Any] = {
        "labels": {labels.TRIGGER: trigger, labels.PIPELINE: spec.pipeline_ref.name}
    }
    if name is None:
        metadata["generateName"] = run_name(trigger, "")[: MAX_NAME - 5]
    else:
        metadata["name"] = name
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": metadata,
        "spec": run_spec.dump(),
    }


class TriggerWork:
    """One call of `plan_trigger`: the copied status being decided, and the plan."""

    def __init__(self, inp: TriggerInput) -> None:
        self.inp = inp
        self.spec = inp.spec
        self.now = inp.now
        self.status = inp.status.model_copy(deep=True)
        self.plan = TriggerPlan(status=self.status)
        self.existing = {r.name: r for r in inp.runs}
        self.active = [r.name for r in inp.runs if not r.finished]
        self.why: dict[str, str] = {}
        """Why each run in plan.create was made, for its RunCreated Event."""

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        """Emit an Event on the trigger."""
        self.plan.events.append(Event.of(reason, message, warning))

    def wake(self, at: datetime | None) -> None:
        """Ask to be called again no later than `at`."""
        if at is not None and (self.plan.wake_at is None or at < self.plan.wake_at):
            self.plan.wake_at = at

    def condition(self, type_: str, ok: bool, reason: str, message: str) -> bool:
        """Set a condition; True when its status changed (a transition worth an Event)."""
        self.status.conditions, changed = conditions.set_condition(
            self.status.conditions,
            type_,
            ok,
            reason,
            message,
            now=self.now,
            generation=self.inp.generation,
        )
        return changed

    def skip(self, fires: Sequence[datetime], reason: SkipReason) -> None:
        """Count fires that create no run: in status.firesSkipped and in the plan."""
        self.status.fires_skipped += len(fires)
        self.plan.skipped.extend(SkippedFire(at, reason) for at in fires)
