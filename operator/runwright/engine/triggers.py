"""Triggers: validation, and the trigger planner (spec, status, observed runs, now) -> actions.

Validation: the config block must match the type, and the schedule must be sound. The
CRD says the same with CEL rules at `kubectl apply` time; this is the copy that
`runwright validate` and the operator use, with messages that say how to fix it.

The planner, `plan_trigger`, is to a Trigger what `engine.plan` is to a run: the
reconcile function made pure. The trigger controller gathers the inputs (the trigger,
its runs from the index, for Event triggers the finished upstream runs, whether the
Pipeline and the API Secret exist), calls it, then applies the result in order:
cancel (`spec.cancel: true`), create, delete, one status patch, Events; and sleeps
until `wake_at`. Calling it twice with the same input gives the same answer, and every
run it creates has a name derived from what fired (never from `now`), so a repeat after
a crash or a second operator is a 409 that means "already done".

The planner trusts `runs`: the controller must add the runs it created itself that
its watch has not delivered yet (it knows their names from `TriggerPlan.create`), or a
plan in that window would not see them as active.

Rules, per type (API.md, issue 5):
- Schedule: fires come from `engine.schedule` (its docstring has the DST rule). A
  fire older than `startingDeadlineSeconds` when handled is skipped and counted.
  Without catchUp only the most recent missed fire is considered (as a Kubernetes
  CronJob does); with catchUp every missed fire since lastScheduleTime runs, oldest
  first, at most MAX_CATCH_UP per call (then `wake_at` is now and the CatchUp
  condition says how far behind the trigger is). A new trigger with catchUp and a
  past startTime backfills from startTime; otherwise from its creation. Run name
  `<trigger>-<unix seconds of the fire>`.
- Once: one run at `once.at` (absent: the trigger's creation), named
  `<trigger>-<unix seconds of at>`; then Completed=True, and nothing more.
- AlwaysOn: a new run whenever no run of the trigger is active; its fire time is when
  the previous run finished (the trigger's creation for the first), so the name is
  the same however late the operator looks.
- Event: one run per finished upstream run whose phase is in `event.phases`, oldest
  completion first, named `<trigger>-<upstream run>` (hashed when long); its
  variables carry `upstreamRun`. The cursor (status.lastEventTime/lastEventRuns)
  makes each upstream run fire once; runs that finished before the trigger existed
  do not fire.
- API: runs are made by the HTTP endpoint (`run_manifest` builds them); the planner
  keeps the status (Ready with MissingSecret, activeRuns, history).
- suspend: no new runs. Fires (and upstream runs) that pass while suspended are
  marked handled without running or counting them, so resuming does not run a burst
  of old work; nextScheduleTime keeps showing when the schedule would fire (the
  SUSPEND column says it will not). A suspended Once fires when resumed.
- Not Ready (InvalidSchedule, UnknownTimezone, MissingPipeline, MissingSecret,
  MissingConfig/UnexpectedConfig): no runs, nextScheduleTime cleared, lastScheduleTime
  kept, so fixing the problem picks up the missed fires by the usual rules; wake_at
  is None: the controller plans again when the trigger, Pipeline or Secret changes.
- concurrencyPolicy: Allow; Forbid skips a fire while a run of the trigger is active
  (counted, Event FireSkipped); Replace cancels the active runs and creates the new
  one (in one catch-up batch only the newest fire is created, the older ones are
  counted as replaced). With catchUp, Forbid therefore runs the first missed fire and
  skips the rest while it is active.
- History: finished runs beyond successfulRunsHistoryLimit (Succeeded) and
  failedRunsHistoryLimit (Failed, Cancelled) are deleted, oldest first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runwright import labels
from runwright.api.common import (
    MAX_NAME,
    Condition,
    ConditionStatus,
    LocalObjectReference,
    RunRecord,
    format_time,
)
from runwright.api.run import PipelineRunSpec, TriggeredBy
from runwright.api.trigger import (
    ConcurrencyPolicy,
    RunPhase,
    TriggerSpec,
    TriggerStatus,
    TriggerType,
)
from runwright.engine import schedule
from runwright.engine.dag import Problem
from runwright.engine.plan import Event

#: The config field each trigger type needs (AlwaysOn needs none; Once's is optional).
CONFIG_FIELD: dict[TriggerType, str] = {
    TriggerType.SCHEDULE: "schedule",
    TriggerType.ONCE: "once",
    TriggerType.EVENT: "event",
    TriggerType.API: "api",
}
_EXAMPLE = {
    "schedule": 'schedule: {cron: "0 2 * * *"}',
    "event": "event: {pipelineRef: {name: upstream-load}}",
    "api": "api: {tokenSecretRef: {name: my-token}}",
}

#: At most this many missed fires (or upstream runs) become runs in one plan call; the
#: rest follow on the next call, made at once. Bounds the work and writes of one call.
MAX_CATCH_UP = 100
#: At most this many fires older than startingDeadlineSeconds are counted as skipped in
#: one call (a trigger down for a year on a minutely schedule has 500,000 of them).
MAX_SKIPPED_PER_PLAN = 10_000
#: The variable an Event trigger's runs get: the name of the upstream run that fired it.
UPSTREAM_RUN_VARIABLE = "upstreamRun"

READY = "Ready"
COMPLETED = "Completed"
CATCH_UP = "CatchUp"


def validate_config(spec: TriggerSpec) -> list[Problem]:
    """A trigger carries exactly the one config block its type needs."""
    problems: list[Problem] = []
    wanted = CONFIG_FIELD.get(spec.type)
    for name in ("schedule", "once", "event", "api"):
        present = getattr(spec, name) is not None
        if name == wanted and not present and name != "once":
            problems.append(
                Problem(
                    f"spec.{name}",
                    f"is required when spec.type is {spec.type}; add {_EXAMPLE[name]}",
                    "MissingConfig",
                )
            )
        elif name != wanted and present:
            owner = next(t for t, f in CONFIG_FIELD.items() if f == name)
            problems.append(
                Problem(
                    f"spec.{name}",
                    f"is only allowed when spec.type is {owner} (spec.type is {spec.type}); "
                    f"remove it or change spec.type",
                    "UnexpectedConfig",
                )
            )
    return problems


def validate(spec: TriggerSpec) -> list[Problem]:
    """Every problem of a trigger spec that needs no cluster to find."""
    return validate_config(spec) + schedule.validate(spec)


# ----- inputs and outputs ---------------------------------------------------------------


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


# ----- names and manifests --------------------------------------------------------------


def run_name(trigger: str, suffix: str) -> str:
    """`<trigger>-<suffix>`, shortened with a hash of the whole when over 63 characters.

    The suffix (a fire time, an upstream run) is what tells runs apart, so it is kept
    whole when it fits and the trigger name is cut; the hash keeps two long names
    that share a prefix apart.
    """
    full = f"{trigger}-{suffix}"
    if len(full) <= MAX_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    tail = f"-{digest}-{suffix}"
    if len(tail) > MAX_NAME - 1:
        tail = f"-{digest}"
    head = trigger[: MAX_NAME - len(tail)].rstrip("-.")
    return head + tail


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


# ----- the planner ----------------------------------------------------------------------


class _Planner:
    """One call of `plan_trigger`: the working state, discarded afterwards."""

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

    # ----- small helpers --------------------------------------------------------------

    def event(self, reason: str, message: str, warning: bool = False) -> None:
        self.plan.events.append(Event("Warning" if warning else "Normal", reason, message))

    def wake(self, at: datetime | None) -> None:
        if at is not None and (self.plan.wake_at is None or at < self.plan.wake_at):
            self.plan.wake_at = at

    def condition(self, type_: str, ok: bool, reason: str, message: str) -> bool:
        """Set a condition; True when its status changed (a transition worth an Event)."""
        status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
        old = next((c for c in self.status.conditions if c.type == type_), None)
        changed = old is None or old.status != status
        kept = [c for c in self.status.conditions if c.type != type_]
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
        return changed

    def drop_condition(self, type_: str) -> None:
        self.status.conditions = [c for c in self.status.conditions if c.type != type_]

    def is_true(self, type_: str) -> bool:
        return any(
            c.type == type_ and c.status == ConditionStatus.TRUE for c in self.status.conditions
        )

    # ----- the steps ------------------------------------------------------------------

    def run(self) -> TriggerPlan:
        self.status.observed_generation = self.inp.generation
        if self.ready():
            if self.spec.suspend:
                self.suspended()
            else:
                self.fire()
        else:
            self.status.next_schedule_time = None
        self.history()
        self.summarize()
        return self.plan

    def ready(self) -> bool:
        """The Ready condition: the spec is sound and what it names exists."""
        problems = validate(self.spec)
        if not self.inp.pipeline_exists:
            name = self.spec.pipeline_ref.name
            problems.append(
                Problem(
                    "spec.pipelineRef.name",
                    f'Pipeline "{name}" does not exist in this namespace; create it or fix the name',
                    "MissingPipeline",
                )
            )
        if self.spec.type == TriggerType.API and self.spec.api and self.inp.secret_ok is False:
            ref = self.spec.api.token_secret_ref
            problems.append(
                Problem(
                    "spec.api.tokenSecretRef",
                    f'Secret "{ref.name}" with key "{ref.key}" does not exist in this namespace; '
                    f"create it (kubectl create secret generic {ref.name} "
                    f"--from-literal={ref.key}=...)",
                    "MissingSecret",
                )
            )
        if problems:
            message = "; ".join(str(p) for p in problems)
            if self.condition(READY, False, problems[0].reason, message):
                self.event(problems[0].reason, message, warning=True)
            return False
        self.condition(READY, True, "Valid", "")
        return True

    def suspended(self) -> None:
        """Mark what passes while suspended as handled; create nothing."""
        st = self.status
        if self.spec.type == TriggerType.SCHEDULE and self.spec.schedule is not None:
            latest = schedule.previous_fire(self.spec.schedule, self.now)
            if latest is not None and (
                st.last_schedule_time is None or latest > st.last_schedule_time
            ):
                st.last_schedule_time = latest
            st.next_schedule_time = schedule.next_fire(self.spec.schedule, self.now)
            self.wake(st.next_schedule_time)
        elif self.spec.type == TriggerType.EVENT:
            for upstream in self.pending_upstream():
                self.advance_cursor(upstream)

    def fire(self) -> None:
        match self.spec.type:
            case TriggerType.SCHEDULE:
                self.schedule_fires()
            case TriggerType.ONCE:
                self.once()
            case TriggerType.ALWAYS_ON:
                self.always_on()
            case TriggerType.EVENT:
                self.events_fired()
            case TriggerType.API:
                pass  # runs come from the HTTP endpoint

    # ----- Schedule -------------------------------------------------------------------

    def schedule_fires(self) -> None:
        sched = self.spec.schedule
        assert sched is not None
        st, now = self.status, self.now
        since = st.last_schedule_time
        if since is None:
            since = self.inp.created_at
            if sched.catch_up and sched.start_time is not None:
                since = min(since, sched.start_time - timedelta(microseconds=1))
        deadline = (
            now - timedelta(seconds=sched.starting_deadline_seconds)
            if sched.starting_deadline_seconds is not None
            else None
        )
        behind = False
        if sched.catch_up:
            skipped: list[datetime] = []
            if deadline is not None and deadline > since:
                skipped = schedule.fires_between(
                    sched, since, deadline - timedelta(microseconds=1), MAX_SKIPPED_PER_PLAN
                )
                if skipped:
                    self.skip_late(skipped, sched.starting_deadline_seconds)
                    since = skipped[-1]
                behind = len(skipped) >= MAX_SKIPPED_PER_PLAN
            due = [] if behind else schedule.fires_between(sched, since, now, MAX_CATCH_UP + 1)
            behind = behind or len(due) > MAX_CATCH_UP
            due = due[:MAX_CATCH_UP]
        else:
            latest = schedule.previous_fire(sched, now)
            due = [latest] if latest is not None and latest > since else []
            if due and deadline is not None and due[0] < deadline:
                self.skip_late(due, sched.starting_deadline_seconds)
                due = []
        for at in due:
            self.admit(
                run_name(self.inp.name, fire_suffix(at)),
                at,
                TriggeredBy.SCHEDULE,
                f"fire at {format_time(at)}",
            )
            st.last_schedule_time = at
        if behind:
            assert st.last_schedule_time is not None
            st.next_schedule_time = schedule.next_fire(sched, st.last_schedule_time)
            message = (
                f"more than {MAX_CATCH_UP} missed fires; caught up to "
                f"{format_time(st.last_schedule_time)}, continuing"
            )
            if self.condition(CATCH_UP, False, "CatchUpCapped", message):
                self.event("CatchUpCapped", message, warning=True)
            self.wake(now)
            return
        if any(c.type == CATCH_UP for c in st.conditions):
            self.condition(CATCH_UP, True, "CaughtUp", "")
        st.next_schedule_time = schedule.next_fire(sched, max(now, st.last_schedule_time or now))
        self.wake(st.next_schedule_time)

    def skip_late(self, fires: list[datetime], deadline: int | None) -> None:
        """Fires older than startingDeadlineSeconds: counted, one Event for the lot."""
        self.status.fires_skipped += len(fires)
        self.status.last_schedule_time = fires[-1]
        what = (
            f"fire at {format_time(fires[0])}"
            if len(fires) == 1
            else f"{len(fires)} fires from {format_time(fires[0])} to {format_time(fires[-1])}"
        )
        self.event(
            "FireSkipped",
            f"{what} skipped: older than startingDeadlineSeconds ({deadline}s) "
            f"when the operator could run it",
            warning=True,
        )

    # ----- Once, AlwaysOn, Event --------------------------------------------------------

    def once(self) -> None:
        st = self.status
        if self.is_true(COMPLETED):
            return
        at = self.spec.once.at if self.spec.once and self.spec.once.at else self.inp.created_at
        st.next_schedule_time = at
        if self.now < at:
            self.condition(COMPLETED, False, "Waiting", f"fires at {format_time(at)}")
            self.wake(at)
            return
        name = run_name(self.inp.name, fire_suffix(at))
        self.admit(name, at, TriggeredBy.ONCE, f"fire at {format_time(at)}")
        st.last_schedule_time = at
        st.next_schedule_time = None
        self.condition(COMPLETED, True, "Fired", f"run {name} created for {format_time(at)}")

    def always_on(self) -> None:
        if self.active:
            return
        previous = max(self.inp.runs, key=lambda r: (r.created_at, r.name), default=None)
        if previous is None:
            at = self.inp.created_at
            name = run_name(self.inp.name, fire_suffix(at))
        else:
            at = previous.completed_at or previous.created_at
            name = run_name(self.inp.name, fire_suffix(at))
            if name in self.existing:
                # The previous run finished within the second it was created in: its
                # own name is taken, so derive a second, still deterministic, one.
                digest = hashlib.sha256(previous.name.encode()).hexdigest()[:6]
                name = run_name(self.inp.name, f"{fire_suffix(at)}-{digest}")
        self.admit(name, at, TriggeredBy.ALWAYS_ON, "the previous run finished")
        self.status.last_schedule_time = at

    def pending_upstream(self) -> list[UpstreamRun]:
        """Finished upstream runs past the cursor, oldest completion first."""
        st = self.status
        cursor = st.last_event_time or self.inp.created_at
        seen = set(st.last_event_runs) if st.last_event_time is not None else set()
        pending = [
            u
            for u in self.inp.upstream_runs
            if u.phase.finished
            and (u.completed_at > cursor or (u.completed_at == cursor and u.name not in seen))
        ]
        return sorted(pending, key=lambda u: (u.completed_at, u.name))

    def advance_cursor(self, upstream: UpstreamRun) -> None:
        st = self.status
        if st.last_event_time != upstream.completed_at:
            st.last_event_time = upstream.completed_at
            st.last_event_runs = []
        st.last_event_runs = [*st.last_event_runs, upstream.name]

    def events_fired(self) -> None:
        event = self.spec.event
        assert event is not None
        behind = False
        fired = 0
        for upstream in self.pending_upstream():
            if upstream.phase in event.phases:
                if fired >= MAX_CATCH_UP:
                    behind = True
                    break
                self.admit(
                    run_name(self.inp.name, upstream.name),
                    upstream.completed_at,
                    TriggeredBy.EVENT,
                    f"run {upstream.name} of {event.pipeline_ref.name} {upstream.phase}",
                    {UPSTREAM_RUN_VARIABLE: upstream.name},
                )
                self.status.last_schedule_time = upstream.completed_at
                fired += 1
            self.advance_cursor(upstream)
        if behind:
            self.wake(self.now)

    # ----- concurrency ----------------------------------------------------------------

    def admit(
        self,
        name: str,
        at: datetime,
        triggered_by: TriggeredBy,
        why: str,
        variables: dict[str, str] | None = None,
    ) -> None:
        """Create the run of one fire, unless it exists or concurrencyPolicy says no."""
        if name in self.existing or name in self.why:
            return  # made by an earlier call whose status write was lost: already done
        policy = self.spec.concurrency_policy
        if self.active and policy == ConcurrencyPolicy.FORBID:
            self.status.fires_skipped += 1
            self.event(
                "FireSkipped",
                f"{why} skipped: run {self.active[0]} is still active (concurrencyPolicy Forbid)",
                warning=True,
            )
            return
        if self.active and policy == ConcurrencyPolicy.REPLACE:
            for active in self.active:
                if active in self.existing:
                    if not self.existing[active].cancel_requested and not any(
                        c.name == active for c in self.plan.cancel
                    ):
                        self.plan.cancel.append(
                            RunToCancel(active, f"replaced by {name} (concurrencyPolicy Replace)")
                        )
                        self.event("RunReplaced", f"cancelling {active}: replaced by {name}")
                else:  # made in this same call: it never starts
                    self.plan.create = [c for c in self.plan.create if c.name != active]
                    del self.why[active]
                    self.status.runs_created -= 1
                    self.status.fires_skipped += 1
                    self.event(
                        "FireSkipped",
                        f"{active} not created: replaced by {name} (concurrencyPolicy Replace)",
                    )
            self.active = []
        manifest = run_manifest(
            self.inp.name, self.spec, name, at, triggered_by, variables, self.inp.namespace
        )
        self.plan.create.append(RunToCreate(name, at, manifest))
        self.active.append(name)
        self.status.runs_created += 1
        self.status.last_run = RunRecord(name=name, phase=None)
        self.why[name] = why

    # ----- history and summary ----------------------------------------------------------

    def history(self) -> None:
        """Delete the oldest finished runs beyond the two history limits."""
        limits = (
            ((RunPhase.SUCCEEDED,), self.spec.successful_runs_history_limit, "successful"),
            ((RunPhase.FAILED, RunPhase.CANCELLED), self.spec.failed_runs_history_limit, "failed"),
        )
        for phases, limit, what in limits:
            if limit is None:
                continue
            finished = sorted(
                (r for r in self.inp.runs if r.phase in phases),
                key=lambda r: (r.completed_at or r.created_at, r.created_at, r.name),
                reverse=True,
            )
            for old in finished[limit:]:
                self.plan.delete.append(
                    RunToDelete(old.name, f"beyond {what}RunsHistoryLimit ({limit})")
                )

    def summarize(self) -> None:
        """activeRuns and lastRun from what exists plus what this call creates."""
        st = self.status
        created = [c.name for c in self.plan.create]
        for name in created:
            self.event("RunCreated", f"created run {name} ({self.why[name]})")
        observed = sorted(self.inp.runs, key=lambda r: (r.created_at, r.name))
        st.active_runs = [r.name for r in observed if not r.finished] + created
        if created:
            return  # lastRun was set by admit
        if observed:
            latest = observed[-1]
            st.last_run = RunRecord(
                name=latest.name,
                phase=str(latest.phase) if latest.phase is not None else None,
                completed_at=latest.completed_at,
            )


def plan_trigger(inp: TriggerInput) -> TriggerPlan:
    """What a Trigger should do now: runs to create, cancel and delete, status, wake time.

    Pure: `inp.now` is the only clock; the same input always gives the same plan.
    """
    return _Planner(inp).run()
