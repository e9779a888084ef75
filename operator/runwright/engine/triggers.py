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

Who decides what: `trigger_fires` (when each type fires, and `admit`, a fire to a
run), `trigger_policy` (concurrencyPolicy and history, pure, shared with the API
endpoint), `trigger_model` (inputs, outputs, the run manifest); this module checks
the spec (Ready) and puts a call together.

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
  of old work; nextScheduleTime is cleared (nothing will fire, so `kubectl get trg`
  shows no NEXT time) and set again on resume. A suspended Once fires when resumed.
- Not Ready (InvalidSchedule, UnknownTimezone, MissingPipeline, MissingSecret,
  MissingConfig/UnexpectedConfig): no runs, nextScheduleTime cleared, lastScheduleTime
  kept, so fixing the problem picks up the missed fires by the usual rules; wake_at
  is None: the controller plans again when the trigger, Pipeline or Secret changes.
- concurrencyPolicy: Allow; Forbid skips a fire while a run of the trigger is active
  (counted, in `TriggerPlan.skipped` with its `SkipReason`, Event FireSkipped); Replace cancels the active runs and creates the new
  one (in one catch-up batch only the newest fire is created, the older ones are
  counted as replaced). With catchUp, Forbid therefore runs the first missed fire and
  skips the rest while it is active.
- History: finished runs beyond successfulRunsHistoryLimit (Succeeded) and
  failedRunsHistoryLimit (Failed, Cancelled) are deleted, oldest first.
"""

from __future__ import annotations

from runwright.api.common import RunRecord
from runwright.api.trigger import TriggerSpec, TriggerType
from runwright.engine import schedule, trigger_fires, trigger_policy
from runwright.engine.dag import Problem
from runwright.engine.events import Event
from runwright.engine.naming import run_name
from runwright.engine.reasons import ConditionReason, ConditionType, EventReason, ProblemReason
from runwright.engine.trigger_fires import MAX_CATCH_UP, MAX_SKIPPED_PER_PLAN, UPSTREAM_RUN_VARIABLE
from runwright.engine.trigger_model import (
    RunToCancel,
    RunToCreate,
    RunToDelete,
    SkippedFire,
    TriggerInput,
    TriggerPlan,
    TriggerRun,
    TriggerWork,
    UpstreamRun,
    fire_suffix,
    run_manifest,
)

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
    "api": "api: {tokenSecretRef: {name: my-token, key: token}}",
}


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
                    ProblemReason.MISSING_CONFIG,
                )
            )
        elif name != wanted and present:
            owner = next(t for t, f in CONFIG_FIELD.items() if f == name)
            problems.append(
                Problem(
                    f"spec.{name}",
                    f"is only allowed when spec.type is {owner} (spec.type is {spec.type}); "
                    f"remove it or change spec.type",
                    ProblemReason.UNEXPECTED_CONFIG,
                )
            )
    return problems


def validate(spec: TriggerSpec) -> list[Problem]:
    """Every problem of a trigger spec that needs no cluster to find."""
    return validate_config(spec) + schedule.validate(spec)


def plan_trigger(inp: TriggerInput) -> TriggerPlan:
    """What a Trigger should do now: runs to create, cancel and delete, status, wake time.

    Pure: `inp.now` is the only clock; the same input always gives the same plan.
    """
    work = TriggerWork(inp)
    work.status.observed_generation = inp.generation
    if ready(work):
        if inp.spec.suspend:
            trigger_fires.suspended(work)
        else:
            trigger_fires.fire(work)
    else:
        work.status.next_schedule_time = None
    work.plan.delete.extend(
        trigger_policy.beyond_history(
            inp.runs, inp.spec.successful_runs_history_limit, inp.spec.failed_runs_history_limit
        )
    )
    summarize(work)
    return work.plan


def ready(work: TriggerWork) -> bool:
    """The Ready condition: the spec is sound and what it names exists."""
    spec, inp = work.spec, work.inp
    problems = validate(spec)
    if not inp.pipeline_exists:
        name = spec.pipeline_ref.name
        problems.append(
            Problem(
                "spec.pipelineRef.name",
                f'Pipeline "{name}" does not exist in this namespace; create it or fix the name',
                ProblemReason.MISSING_PIPELINE,
            )
        )
    if spec.type == TriggerType.API and spec.api and inp.secret_ok is False:
        ref = spec.api.token_secret_ref
        problems.append(
            Problem(
                "spec.api.tokenSecretRef",
                f'Secret "{ref.name}" with key "{ref.key}" does not exist in this namespace; '
                f"create it (kubectl create secret generic {ref.name} "
                f"--from-literal={ref.key}=...)",
                ProblemReason.MISSING_SECRET,
            )
        )
    if problems:
        message = "; ".join(str(p) for p in problems)
        if work.condition(ConditionType.READY, False, problems[0].reason, message):
            work.event(problems[0].reason, message, warning=True)
        return False
    work.condition(ConditionType.READY, True, ConditionReason.VALID, "")
    return True


def summarize(work: TriggerWork) -> None:
    """activeRuns and lastRun from what exists plus what this call creates."""
    st = work.status
    created = [c.name for c in work.plan.create]
    for name in created:
        work.event(EventReason.RUN_CREATED, f"created run {name} ({work.why[name]})")
    observed = sorted(work.inp.runs, key=lambda r: (r.created_at, r.name))
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


__all__ = [
    "CONFIG_FIELD",
    "MAX_CATCH_UP",
    "MAX_SKIPPED_PER_PLAN",
    "UPSTREAM_RUN_VARIABLE",
    "Event",
    "RunToCancel",
    "RunToCreate",
    "RunToDelete",
    "SkippedFire",
    "TriggerInput",
    "TriggerPlan",
    "TriggerRun",
    "UpstreamRun",
    "fire_suffix",
    "plan_trigger",
    "run_manifest",
    "run_name",
    "validate",
    "validate_config",
]
