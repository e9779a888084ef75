"""Trigger fires: when each type of trigger fires, and how a fire becomes a run.

The rules per type are in `engine.triggers`' docstring (API.md, issue 5). Every fire
goes through `admit`, which names its run deterministically, asks `trigger_policy`
what concurrencyPolicy allows, and records a fire that makes no run in
`TriggerPlan.skipped` with its `SkipReason`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from runwright.api.common import RunRecord, format_time
from runwright.api.run import TriggeredBy
from runwright.api.trigger import TriggerType
from runwright.engine import conditions, schedule, trigger_policy
from runwright.engine.naming import run_name
from runwright.engine.reasons import ConditionReason, ConditionType, EventReason, SkipReason
from runwright.engine.trigger_model import (
    RunToCancel,
    RunToCreate,
    TriggerWork,
    UpstreamRun,
    fire_suffix,
    run_manifest,
)

#: At most this many missed fires (or upstream runs) become runs in one plan call; the
#: rest follow on the next call, made at once. Bounds the work and writes of one call.
MAX_CATCH_UP = 100
#: At most this many fires older than startingDeadlineSeconds are counted as skipped in
#: one call (a trigger down for a year on a minutely schedule has 500,000 of them).
MAX_SKIPPED_PER_PLAN = 10_000
#: The variable an Event trigger's runs get: the name of the upstream run that fired it.
UPSTREAM_RUN_VARIABLE = "upstreamRun"

_TICK = timedelta(microseconds=1)


def fire(work: TriggerWork) -> None:
    """Create the runs of whatever fired since the last call (a Ready, unsuspended trigger)."""
    match work.spec.type:
        case TriggerType.SCHEDULE:
            schedule_fires(work)
        case TriggerType.ONCE:
            once(work)
        case TriggerType.ALWAYS_ON:
            always_on(work)
        case TriggerType.EVENT:
            events_fired(work)
        case TriggerType.API:
            pass  # runs come from the HTTP endpoint


def suspended(work: TriggerWork) -> None:
    """Mark what passes while suspended as handled; create nothing."""
    st, spec = work.status, work.spec
    # No NEXT time while suspended (any type): nothing fires then. A schedule still
    # wakes the planner at its next fire, to mark it handled.
    st.next_schedule_time = None
    if spec.type == TriggerType.SCHEDULE and spec.schedule is not None:
        latest = schedule.previous_fire(spec.schedule, work.now)
        if latest is not None and (st.last_schedule_time is None or latest > st.last_schedule_time):
            st.last_schedule_time = latest
        work.wake(schedule.next_fire(spec.schedule, work.now))
    elif spec.type == TriggerType.EVENT:
        for upstream in pending_upstream(work):
            advance_cursor(work, upstream)


# ----- Schedule ---------------------------------------------------------------------------


def schedule_fires(work: TriggerWork) -> None:
    """The missed fires since lastScheduleTime: catch up, skip late ones, or run the latest."""
    sched = work.spec.schedule
    assert sched is not None
    st, now = work.status, work.now
    since = st.last_schedule_time
    if since is None:
        since = work.inp.created_at
        if sched.catch_up and sched.start_time is not None:
            since = min(since, sched.start_time - _TICK)
    deadline = (
        now - timedelta(seconds=sched.starting_deadline_seconds)
        if sched.starting_deadline_seconds is not None
        else None
    )
    behind = False
    if sched.catch_up:
        skipped: list[datetime] = []
        if deadline is not None and deadline > since:
            skipped = schedule.fires_between(sched, since, deadline - _TICK, MAX_SKIPPED_PER_PLAN)
            if skipped:
                skip_late(work, skipped, sched.starting_deadline_seconds)
                since = skipped[-1]
            behind = len(skipped) >= MAX_SKIPPED_PER_PLAN
        due = [] if behind else schedule.fires_between(sched, since, now, MAX_CATCH_UP + 1)
        behind = behind or len(due) > MAX_CATCH_UP
        due = due[:MAX_CATCH_UP]
    else:
        latest = schedule.previous_fire(sched, now)
        due = [latest] if latest is not None and latest > since else []
        if due and deadline is not None and due[0] < deadline:
            skip_late(work, due, sched.starting_deadline_seconds)
            due = []
    for at in due:
        name = run_name(work.inp.name, fire_suffix(at))
        admit(work, name, at, TriggeredBy.SCHEDULE, f"fire at {format_time(at)}")
        st.last_schedule_time = at
    if behind:
        assert st.last_schedule_time is not None
        st.next_schedule_time = schedule.next_fire(sched, st.last_schedule_time)
        message = (
            f"more than {MAX_CATCH_UP} missed fires; caught up to "
            f"{format_time(st.last_schedule_time)}, continuing"
        )
        if work.condition(ConditionType.CATCH_UP, False, ConditionReason.CATCH_UP_CAPPED, message):
            work.event(EventReason.CATCH_UP_CAPPED, message, warning=True)
        work.wake(now)
        return
    if conditions.has(st.conditions, ConditionType.CATCH_UP):
        work.condition(ConditionType.CATCH_UP, True, ConditionReason.CAUGHT_UP, "")
    st.next_schedule_time = schedule.next_fire(sched, max(now, st.last_schedule_time or now))
    work.wake(st.next_schedule_time)


def skip_late(work: TriggerWork, fires: Sequence[datetime], deadline: int | None) -> None:
    """Fires older than startingDeadlineSeconds: counted, one Event for the lot."""
    work.skip(fires, SkipReason.DEADLINE_PASSED)
    work.status.last_schedule_time = fires[-1]
    what = (
        f"fire at {format_time(fires[0])}"
        if len(fires) == 1
        else f"{len(fires)} fires from {format_time(fires[0])} to {format_time(fires[-1])}"
    )
    work.event(
        EventReason.FIRE_SKIPPED,
        f"{what} skipped: older than startingDeadlineSeconds ({deadline}s) "
        f"when the operator could run it",
        warning=True,
    )


# ----- Once, AlwaysOn, Event --------------------------------------------------------------


def once(work: TriggerWork) -> None:
    """One run at once.at (the trigger's creation when absent); then Completed."""
    st, spec = work.status, work.spec
    if conditions.is_true(st.conditions, ConditionType.COMPLETED):
        return
    at = spec.once.at if spec.once and spec.once.at else work.inp.created_at
    st.next_schedule_time = at
    if work.now < at:
        waiting = f"fires at {format_time(at)}"
        work.condition(ConditionType.COMPLETED, False, ConditionReason.WAITING, waiting)
        work.wake(at)
        return
    name = run_name(work.inp.name, fire_suffix(at))
    admit(work, name, at, TriggeredBy.ONCE, f"fire at {format_time(at)}")
    st.last_schedule_time = at
    st.next_schedule_time = None
    fired = f"run {name} created for {format_time(at)}"
    work.condition(ConditionType.COMPLETED, True, ConditionReason.FIRED, fired)


def always_on(work: TriggerWork) -> None:
    """A new run whenever none is active, fired at the previous run's completion."""
    if work.active:
        return
    previous = max(work.inp.runs, key=lambda r: (r.created_at, r.name), default=None)
    if previous is None:
        at = work.inp.created_at
        name = run_name(work.inp.name, fire_suffix(at))
    else:
        at = previous.completed_at or previous.created_at
        name = run_name(work.inp.name, fire_suffix(at))
        if name in work.existing:
            # The previous run finished within the second it was created in: its
            # own name is taken, so derive a second, still deterministic, one.
            digest = hashlib.sha256(previous.name.encode()).hexdigest()[:6]
            name = run_name(work.inp.name, f"{fire_suffix(at)}-{digest}")
    admit(work, name, at, TriggeredBy.ALWAYS_ON, "the previous run finished")
    work.status.last_schedule_time = at


def pending_upstream(work: TriggerWork) -> list[UpstreamRun]:
    """Finished upstream runs past the cursor, oldest completion first."""
    st = work.status
    cursor = st.last_event_time or work.inp.created_at
    seen = set(st.last_event_runs) if st.last_event_time is not None else set()
    pending = [
        u
        for u in work.inp.upstream_runs
        if u.phase.finished
        and (u.completed_at > cursor or (u.completed_at == cursor and u.name not in seen))
    ]
    return sorted(pending, key=lambda u: (u.completed_at, u.name))


def advance_cursor(work: TriggerWork, upstream: UpstreamRun) -> None:
    """Mark an upstream run handled (status.lastEventTime/lastEventRuns)."""
    st = work.status
    if st.last_event_time != upstream.completed_at:
        st.last_event_time = upstream.completed_at
        st.last_event_runs = []
    st.last_event_runs = [*st.last_event_runs, upstream.name]


def events_fired(work: TriggerWork) -> None:
    """One run per finished upstream run in event.phases, oldest first, MAX_CATCH_UP a call."""
    event = work.spec.event
    assert event is not None
    behind = False
    fired = 0
    for upstream in pending_upstream(work):
        if upstream.phase in event.phases:
            if fired >= MAX_CATCH_UP:
                behind = True
                break
            admit(
                work,
                run_name(work.inp.name, upstream.name),
                upstream.completed_at,
                TriggeredBy.EVENT,
                f"run {upstream.name} of {event.pipeline_ref.name} {upstream.phase}",
                {UPSTREAM_RUN_VARIABLE: upstream.name},
            )
            work.status.last_schedule_time = upstream.completed_at
            fired += 1
        advance_cursor(work, upstream)
    if behind:
        work.wake(work.now)


# ----- from a fire to a run ---------------------------------------------------------------


def admit(
    work: TriggerWork,
    name: str,
    at: datetime,
    triggered_by: TriggeredBy,
    why: str,
    variables: dict[str, str] | None = None,
) -> None:
    """Create the run of one fire, unless it exists or concurrencyPolicy says no."""
    if name in work.existing or name in work.why:
        return  # made by an earlier call whose status write was lost: already done
    decision = trigger_policy.decide(work.spec.concurrency_policy, work.active)
    if decision.skip is not None:
        work.skip([at], decision.skip)
        work.event(EventReason.FIRE_SKIPPED, f"{why} skipped: {decision.message}", warning=True)
        return
    for active in decision.cancel:
        if active in work.existing:
            if not work.existing[active].cancel_requested and not any(
                c.name == active for c in work.plan.cancel
            ):
                why_cancel = f"replaced by {name} (concurrencyPolicy Replace)"
                work.plan.cancel.append(RunToCancel(active, why_cancel))
                work.event(EventReason.RUN_REPLACED, f"cancelling {active}: replaced by {name}")
        else:  # made in this same call: it never starts
            replaced = next(c for c in work.plan.create if c.name == active)
            work.plan.create.remove(replaced)
            del work.why[active]
            work.status.runs_created -= 1
            work.skip([replaced.execution_date], SkipReason.REPLACED)
            work.event(
                EventReason.FIRE_SKIPPED,
                f"{active} not created: replaced by {name} (concurrencyPolicy Replace)",
            )
    if decision.cancel:
        work.active = []
    manifest = run_manifest(
        work.inp.name, work.spec, name, at, triggered_by, variables, work.inp.namespace
    )
    work.plan.create.append(RunToCreate(name, at, manifest))
    work.active.append(name)
    work.status.runs_created += 1
    work.status.last_run = RunRecord(name=name, phase=None)
    work.why[name] = why
