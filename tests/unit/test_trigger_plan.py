"""The trigger planner (engine.triggers.plan_trigger): what a Trigger creates, skips and deletes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runwright import labels
from runwright.api.common import ConditionStatus
from runwright.api.run import TriggeredBy
from runwright.api.trigger import ConcurrencyPolicy, RunPhase, TriggerSpec, TriggerStatus
from runwright.engine import triggers
from runwright.engine.reasons import SkipReason
from runwright.engine.trigger_policy import Decision, beyond_history, decide
from runwright.engine.triggers import (
    MAX_CATCH_UP,
    SkippedFire,
    TriggerInput,
    TriggerPlan,
    TriggerRun,
    UpstreamRun,
    plan_trigger,
)

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def spec(**fields: Any) -> TriggerSpec:
    return TriggerSpec.model_validate({"pipelineRef": {"name": "etl"}, **fields})


def nightly(**schedule: Any) -> dict[str, Any]:
    return {"type": "Schedule", "schedule": {"cron": "0 2 * * *", **schedule}}


def plan(
    trigger: TriggerSpec,
    now: datetime,
    status: TriggerStatus | None = None,
    runs: Sequence[TriggerRun] = (),
    **extra: Any,
) -> TriggerPlan:
    return plan_trigger(
        TriggerInput(
            name="nightly",
            spec=trigger,
            status=status or TriggerStatus(),
            now=now,
            created_at=CREATED,
            runs=runs,
            **extra,
        )
    )


def names(p: TriggerPlan) -> list[str]:
    return [c.name for c in p.create]


def unix(at: datetime) -> int:
    return int(at.timestamp())


def condition(p: TriggerPlan, type_: str) -> tuple[ConditionStatus, str, str]:
    c = next(c for c in p.status.conditions if c.type == type_)
    return c.status, c.reason, c.message


def run(name: str, phase: RunPhase | None, created: datetime, **fields: Any) -> TriggerRun:
    return TriggerRun(name=name, phase=phase, created_at=created, **fields)


# ----- Schedule ---------------------------------------------------------------------------------


def test_a_due_fire_creates_a_run_named_after_the_fire_time() -> None:
    fire = utc(2026, 1, 2, 2)
    p = plan(spec(**nightly()), fire + timedelta(seconds=3))
    assert names(p) == [f"nightly-{unix(fire)}"]
    assert p.status.last_schedule_time == fire
    assert p.status.next_schedule_time == utc(2026, 1, 3, 2)
    assert p.wake_at == utc(2026, 1, 3, 2)
    assert p.status.runs_created == 1
    assert p.status.active_runs == [f"nightly-{unix(fire)}"]
    assert condition(p, "Ready")[0] == ConditionStatus.TRUE


def test_the_run_manifest_carries_labels_refs_variables_and_limits() -> None:
    trigger = spec(
        **nightly(),
        variables={"region": "eu"},
        slaSeconds=60,
        timeoutSeconds=120,
        timeoutStatus="Cancelled",
    )
    fire = utc(2026, 1, 2, 2)
    manifest = plan(trigger, fire, namespace="data").create[0].manifest
    assert manifest["apiVersion"] == labels.API_VERSION
    assert manifest["kind"] == "PipelineRun"
    assert manifest["metadata"] == {
        "name": f"nightly-{unix(fire)}",
        "namespace": "data",
        "labels": {labels.TRIGGER: "nightly", labels.PIPELINE: "etl"},
    }
    assert manifest["spec"] == {
        "pipelineRef": {"name": "etl"},
        "variables": {"region": "eu"},
        "executionDate": "2026-01-02T02:00:00Z",
        "triggerRef": {"name": "nightly"},
        "triggeredBy": "Schedule",
        "cancel": False,
        "slaSeconds": 60,
        "timeoutSeconds": 120,
        "timeoutStatus": "Cancelled",
    }


def test_before_the_first_fire_nothing_is_created_and_the_planner_sleeps_until_it() -> None:
    p = plan(spec(**nightly()), utc(2026, 1, 1, 1))
    assert p.create == []
    assert p.wake_at == p.status.next_schedule_time == utc(2026, 1, 1, 2)


def test_a_repeated_plan_with_the_same_input_makes_the_same_names() -> None:
    trigger = spec(**nightly(catchUp=True))
    now = utc(2026, 1, 5, 3)
    first, second = plan(trigger, now), plan(trigger, now)
    assert names(first) == names(second) and len(names(first)) == 5
    assert first.status == second.status


def test_a_run_that_exists_already_is_not_created_again() -> None:
    fire = utc(2026, 1, 2, 2)
    existing = run(f"nightly-{unix(fire)}", RunPhase.RUNNING, fire)
    p = plan(spec(**nightly()), fire + timedelta(seconds=5), runs=[existing])
    assert p.create == []
    assert p.status.runs_created == 0
    assert p.status.last_schedule_time == fire
    assert p.status.active_runs == [existing.name]


def test_a_long_trigger_name_is_shortened_to_63_keeping_the_fire_time() -> None:
    name = triggers.run_name("n" * 63, "1767232800")
    assert len(name) == 63 and name.endswith("-1767232800")
    assert triggers.run_name("n" * 62 + "m", "1767232800") != name


def test_the_schedule_is_read_in_its_timezone() -> None:
    p = plan(spec(**nightly(timezone="Europe/Berlin")), utc(2026, 1, 2, 1, 0, 5))
    assert names(p) == [f"nightly-{unix(utc(2026, 1, 2, 1))}"]


# ----- missed fires, deadlines and catch-up ----------------------------------------------------


def test_without_catch_up_only_the_most_recent_missed_fire_runs() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    p = plan(spec(**nightly()), utc(2026, 1, 6, 12), status)
    assert names(p) == [f"nightly-{unix(utc(2026, 1, 6, 2))}"]
    assert p.status.last_schedule_time == utc(2026, 1, 6, 2)
    assert p.status.fires_skipped == 0


def test_a_missed_fire_older_than_the_deadline_is_skipped_and_counted() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    p = plan(spec(**nightly(startingDeadlineSeconds=600)), utc(2026, 1, 3, 2, 11), status)
    assert p.create == []
    assert p.status.fires_skipped == 1
    assert p.status.last_schedule_time == utc(2026, 1, 3, 2)
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "FireSkipped")]
    assert "startingDeadlineSeconds (600s)" in p.events[0].message


def test_a_missed_fire_within_the_deadline_still_runs() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    p = plan(spec(**nightly(startingDeadlineSeconds=600)), utc(2026, 1, 3, 2, 10), status)
    assert names(p) == [f"nightly-{unix(utc(2026, 1, 3, 2))}"]


def test_catch_up_runs_every_missed_fire_oldest_first() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    p = plan(spec(**nightly(catchUp=True)), utc(2026, 1, 5, 12), status)
    fires = [utc(2026, 1, d, 2) for d in (3, 4, 5)]
    assert names(p) == [f"nightly-{unix(f)}" for f in fires]
    assert [c.execution_date for c in p.create] == fires
    assert p.status.last_schedule_time == fires[-1]
    assert p.status.runs_created == 3


def test_catch_up_skips_and_counts_the_fires_past_the_deadline() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    trigger = spec(**nightly(catchUp=True, startingDeadlineSeconds=2 * 86400))
    p = plan(trigger, utc(2026, 1, 6, 12), status)
    assert names(p) == [f"nightly-{unix(utc(2026, 1, d, 2))}" for d in (5, 6)]
    assert p.status.fires_skipped == 2  # the 3rd and the 4th
    assert "2 fires from 2026-01-03T02:00:00Z to 2026-01-04T02:00:00Z" in p.events[0].message


def test_catch_up_is_capped_per_call_with_a_warning_and_continues_at_once() -> None:
    hourly = spec(type="Schedule", schedule={"cron": "@hourly", "catchUp": True})
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 1))
    now = utc(2026, 1, 1) + timedelta(hours=MAX_CATCH_UP + 50)
    p = plan(hourly, now, status)
    assert len(p.create) == MAX_CATCH_UP
    assert p.create[0].execution_date == utc(2026, 1, 1, 1)
    assert p.status.last_schedule_time == utc(2026, 1, 1) + timedelta(hours=MAX_CATCH_UP)
    assert p.wake_at == now
    assert condition(p, "CatchUp")[:2] == (ConditionStatus.FALSE, "CatchUpCapped")
    assert any(e.reason == "CatchUpCapped" for e in p.events)

    runs = [run(c.name, RunPhase.SUCCEEDED, now) for c in p.create]
    rest = plan(hourly, now, p.status, runs)
    assert rest.create[0].execution_date == utc(2026, 1, 1) + timedelta(hours=MAX_CATCH_UP + 1)
    assert rest.status.last_schedule_time == now
    assert condition(rest, "CatchUp")[:2] == (ConditionStatus.TRUE, "CaughtUp")
    assert rest.wake_at == now + timedelta(hours=1)


def test_a_new_trigger_with_catch_up_backfills_from_start_time() -> None:
    trigger = spec(**nightly(catchUp=True, startTime="2025-12-30T00:00:00Z"))
    p = plan(trigger, utc(2026, 1, 1, 12))
    assert [c.execution_date.day for c in p.create] == [30, 31, 1]


def test_a_new_trigger_without_catch_up_does_not_fire_for_times_before_it_existed() -> None:
    trigger = spec(**nightly(startTime="2025-12-30T00:00:00Z"))
    p = plan(trigger, utc(2026, 1, 1, 1))
    assert p.create == []


def test_no_fire_after_end_time_and_no_wake() -> None:
    trigger = spec(**nightly(endTime="2026-01-02T02:00:00Z"))
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    p = plan(trigger, utc(2026, 1, 5), status)
    assert p.create == []
    assert p.status.next_schedule_time is None and p.wake_at is None


# ----- concurrencyPolicy -----------------------------------------------------------------------


ACTIVE = run("nightly-1", RunPhase.RUNNING, utc(2026, 1, 1, 2))
FIRE = utc(2026, 1, 2, 2)


def test_allow_starts_a_run_next_to_an_active_one() -> None:
    p = plan(spec(**nightly()), FIRE, runs=[ACTIVE])
    assert names(p) == [f"nightly-{unix(FIRE)}"]
    assert p.status.active_runs == ["nightly-1", f"nightly-{unix(FIRE)}"]


def test_forbid_skips_the_fire_counts_it_and_says_why() -> None:
    p = plan(spec(**nightly(), concurrencyPolicy="Forbid"), FIRE, runs=[ACTIVE])
    assert p.create == []
    assert p.status.fires_skipped == 1
    assert p.status.last_schedule_time == FIRE
    event = p.events[0]
    assert (event.type, event.reason) == ("Warning", "FireSkipped")
    assert "nightly-1 is still active (concurrencyPolicy Forbid)" in event.message


def test_forbid_with_catch_up_runs_the_first_missed_fire_and_skips_the_rest() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    trigger = spec(**nightly(catchUp=True), concurrencyPolicy="Forbid")
    p = plan(trigger, utc(2026, 1, 5, 3), status)
    assert names(p) == [f"nightly-{unix(utc(2026, 1, 3, 2))}"]
    assert p.status.fires_skipped == 2


def test_replace_cancels_the_active_run_then_creates_the_new_one() -> None:
    p = plan(spec(**nightly(), concurrencyPolicy="Replace"), FIRE, runs=[ACTIVE])
    assert [c.name for c in p.cancel] == ["nightly-1"]
    assert names(p) == [f"nightly-{unix(FIRE)}"]
    assert "Replace" in p.cancel[0].reason


def test_replace_does_not_ask_twice_to_cancel() -> None:
    cancelling = run("nightly-1", RunPhase.RUNNING, utc(2026, 1, 1, 2), cancel_requested=True)
    p = plan(spec(**nightly(), concurrencyPolicy="Replace"), FIRE, runs=[cancelling])
    assert p.cancel == [] and names(p) == [f"nightly-{unix(FIRE)}"]


def test_replace_in_a_catch_up_batch_creates_only_the_newest_fire() -> None:
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    trigger = spec(**nightly(catchUp=True), concurrencyPolicy="Replace")
    p = plan(trigger, utc(2026, 1, 5, 3), status)
    assert names(p) == [f"nightly-{unix(utc(2026, 1, 5, 2))}"]
    assert p.status.runs_created == 1 and p.status.fires_skipped == 2


def test_skipped_fires_come_with_their_reason_as_a_fact_not_a_message() -> None:
    forbid = plan(spec(**nightly(), concurrencyPolicy="Forbid"), FIRE, runs=[ACTIVE])
    assert forbid.skipped == [SkippedFire(FIRE, SkipReason.FORBIDDEN)]

    status = TriggerStatus(last_schedule_time=utc(2026, 1, 2, 2))
    trigger = spec(**nightly(catchUp=True, startingDeadlineSeconds=2 * 86400))
    late = plan(trigger, utc(2026, 1, 6, 12), status)
    assert late.skipped_by_reason() == {SkipReason.DEADLINE_PASSED: 2}
    assert [s.at for s in late.skipped] == [utc(2026, 1, 3, 2), utc(2026, 1, 4, 2)]

    replace = spec(**nightly(catchUp=True), concurrencyPolicy="Replace")
    batch = plan(replace, utc(2026, 1, 5, 3), status)
    assert batch.skipped_by_reason() == {SkipReason.REPLACED: 2}
    assert batch.status.fires_skipped == len(batch.skipped)


def test_the_policy_decision_is_one_pure_function() -> None:
    assert decide(ConcurrencyPolicy.FORBID, []) == Decision(create=True)
    assert decide(ConcurrencyPolicy.ALLOW, ["a"]) == Decision(create=True)
    forbid = decide(ConcurrencyPolicy.FORBID, ["a", "b"])
    assert (forbid.create, forbid.skip, forbid.cancel) == (False, SkipReason.FORBIDDEN, ())
    assert forbid.message == "run a is still active (concurrencyPolicy Forbid)"
    replace = decide(ConcurrencyPolicy.REPLACE, ["a", "b"])
    assert (replace.create, replace.skip, replace.cancel) == (True, None, ("a", "b"))


def test_history_keeps_the_newest_runs_per_limit() -> None:
    runs = [
        run(f"ok-{d}", RunPhase.SUCCEEDED, utc(2026, 1, d), completed_at=utc(2026, 1, d, 1))
        for d in (1, 2, 3)
    ] + [run("bad", RunPhase.CANCELLED, utc(2026, 1, 1)), run("on", RunPhase.RUNNING, CREATED)]
    delete = beyond_history(runs, successful_limit=1, failed_limit=0)
    assert [(d.name, d.reason) for d in delete] == [
        ("ok-2", "beyond successfulRunsHistoryLimit (1)"),
        ("ok-1", "beyond successfulRunsHistoryLimit (1)"),
        ("bad", "beyond failedRunsHistoryLimit (0)"),
    ]
    assert beyond_history(runs, None, None) == []


# ----- suspend, validity ----------------------------------------------------------------------


def test_a_suspended_trigger_creates_nothing_and_marks_the_fire_handled() -> None:
    trigger = spec(**nightly(), suspend=True)
    p = plan(trigger, FIRE + timedelta(minutes=1))
    assert p.create == []
    assert p.status.last_schedule_time == FIRE
    # Nothing will fire while suspended: no NEXT time (`kubectl get trg`), but the planner
    # still wakes at the next fire to mark it handled.
    assert p.status.next_schedule_time is None
    assert p.wake_at == utc(2026, 1, 3, 2)
    assert p.status.fires_skipped == 0

    resumed = plan(spec(**nightly()), FIRE + timedelta(hours=1), p.status)
    assert resumed.create == []  # the fire that passed while suspended is not run late
    assert resumed.status.next_schedule_time == utc(2026, 1, 3, 2)


def test_an_invalid_schedule_makes_ready_false_naming_the_field() -> None:
    p = plan(spec(type="Schedule", schedule={"cron": "0 2 * * *", "timezone": "Mars/Base"}), FIRE)
    status, reason, message = condition(p, "Ready")
    assert (status, reason) == (ConditionStatus.FALSE, "UnknownTimezone")
    assert "spec.schedule.timezone" in message
    assert p.create == [] and p.wake_at is None and p.status.next_schedule_time is None
    assert [(e.type, e.reason) for e in p.events] == [("Warning", "UnknownTimezone")]


def test_a_bad_cron_is_invalid_schedule() -> None:
    p = plan(spec(type="Schedule", schedule={"cron": "61 * * * *"}), FIRE)
    assert condition(p, "Ready")[1] == "InvalidSchedule"


def test_a_missing_pipeline_makes_ready_false_and_nothing_fires() -> None:
    p = plan(spec(**nightly()), FIRE, pipeline_exists=False)
    status, reason, message = condition(p, "Ready")
    assert (status, reason) == (ConditionStatus.FALSE, "MissingPipeline")
    assert message.startswith('spec.pipelineRef.name: Pipeline "etl" does not exist')
    assert p.create == []


def test_a_missing_api_secret_is_missing_secret() -> None:
    api = spec(type="API", api={"tokenSecretRef": {"name": "tok", "key": "token"}})
    p = plan(api, FIRE, secret_ok=False)
    status, reason, message = condition(p, "Ready")
    assert (status, reason) == (ConditionStatus.FALSE, "MissingSecret")
    assert "spec.api.tokenSecretRef" in message and '"tok"' in message
    assert condition(plan(api, FIRE, secret_ok=True), "Ready")[0] == ConditionStatus.TRUE


def test_the_ready_event_is_sent_only_when_ready_changes() -> None:
    first = plan(spec(**nightly()), FIRE, pipeline_exists=False)
    again = plan(spec(**nightly()), FIRE, first.status, pipeline_exists=False)
    assert len(first.events) == 1 and again.events == []


# ----- Once, AlwaysOn, API ---------------------------------------------------------------------


def test_once_waits_for_its_time_then_fires_and_completes() -> None:
    at = utc(2026, 2, 1, 12)
    once = spec(type="Once", once={"at": "2026-02-01T12:00:00Z"})
    early = plan(once, at - timedelta(hours=1))
    assert early.create == [] and early.wake_at == at
    assert condition(early, "Completed")[:2] == (ConditionStatus.FALSE, "Waiting")

    fired = plan(once, at + timedelta(seconds=1), early.status)
    assert names(fired) == [f"nightly-{unix(at)}"]
    assert fired.create[0].manifest["spec"]["triggeredBy"] == "Once"
    assert condition(fired, "Completed")[:2] == (ConditionStatus.TRUE, "Fired")

    later = plan(once, at + timedelta(days=3), fired.status)
    assert later.create == [] and later.wake_at is None


def test_once_without_at_fires_at_creation() -> None:
    p = plan(spec(type="Once"), CREATED + timedelta(seconds=2))
    assert names(p) == [f"nightly-{unix(CREATED)}"]
    assert p.create[0].execution_date == CREATED


def test_always_on_starts_a_run_when_none_is_active() -> None:
    always = spec(type="AlwaysOn")
    first = plan(always, CREATED + timedelta(seconds=1))
    assert names(first) == [f"nightly-{unix(CREATED)}"]
    running = run(names(first)[0], RunPhase.RUNNING, CREATED)
    assert plan(always, CREATED + timedelta(minutes=5), first.status, [running]).create == []


def test_always_on_names_the_next_run_after_when_the_previous_finished() -> None:
    done_at = utc(2026, 1, 1, 0, 7)
    previous = run("nightly-1767225600", RunPhase.SUCCEEDED, CREATED, completed_at=done_at)
    p = plan(spec(type="AlwaysOn"), done_at + timedelta(minutes=3), runs=[previous])
    assert names(p) == [f"nightly-{unix(done_at)}"]
    assert p.create[0].execution_date == done_at
    assert p.create[0].manifest["spec"]["triggeredBy"] == "AlwaysOn"


def test_always_on_gets_a_fresh_name_when_a_run_ends_in_its_own_second() -> None:
    previous = run(f"nightly-{unix(CREATED)}", RunPhase.FAILED, CREATED, completed_at=CREATED)
    p = plan(spec(type="AlwaysOn"), CREATED + timedelta(seconds=1), runs=[previous])
    assert len(names(p)) == 1 and names(p)[0].startswith(f"nightly-{unix(CREATED)}-")


def test_an_api_trigger_creates_nothing_itself() -> None:
    p = plan(
        spec(type="API", api={"tokenSecretRef": {"name": "tok", "key": "token"}}),
        FIRE,
        secret_ok=True,
    )
    assert p.create == [] and p.wake_at is None


def test_run_manifest_for_an_api_call_uses_generate_name_and_body_variables_win() -> None:
    trigger = spec(
        type="API",
        api={"tokenSecretRef": {"name": "tok", "key": "token"}},
        variables={"a": "1", "b": "1"},
    )
    manifest = triggers.run_manifest("hook", trigger, None, FIRE, TriggeredBy.API, {"b": "2"})
    assert manifest["metadata"]["generateName"] == "hook-"
    assert manifest["spec"]["variables"] == {"a": "1", "b": "2"}


# ----- Event ----------------------------------------------------------------------------------


EVENT = spec(type="Event", event={"pipelineRef": {"name": "load"}, "phases": ["Succeeded"]})


def upstream(name: str, minute: int, phase: RunPhase = RunPhase.SUCCEEDED) -> UpstreamRun:
    return UpstreamRun(name=name, phase=phase, completed_at=CREATED + timedelta(minutes=minute))


def test_each_upstream_run_fires_once_oldest_first_with_its_name_as_a_variable() -> None:
    ups = [upstream("load-b", 5), upstream("load-a", 2), upstream("load-x", 3, RunPhase.FAILED)]
    p = plan(EVENT, CREATED + timedelta(minutes=10), upstream_runs=ups)
    assert names(p) == ["nightly-load-a", "nightly-load-b"]
    assert [c.manifest["spec"]["variables"] for c in p.create] == [
        {"upstreamRun": "load-a"},
        {"upstreamRun": "load-b"},
    ]
    assert p.create[0].manifest["spec"]["triggeredBy"] == "Event"
    assert p.status.last_event_time == CREATED + timedelta(minutes=5)

    made = [run(n, RunPhase.RUNNING, CREATED) for n in names(p)]
    again = plan(EVENT, CREATED + timedelta(minutes=11), p.status, made, upstream_runs=ups)
    assert again.create == []


def test_upstream_runs_finishing_in_the_same_second_each_fire() -> None:
    first = plan(EVENT, CREATED + timedelta(minutes=9), upstream_runs=[upstream("load-a", 5)])
    both = [upstream("load-a", 5), upstream("load-b", 5)]
    second = plan(EVENT, CREATED + timedelta(minutes=9), first.status, upstream_runs=both)
    assert names(second) == ["nightly-load-b"]
    assert second.status.last_event_runs == ["load-a", "load-b"]


def test_upstream_runs_that_finished_before_the_trigger_existed_do_not_fire() -> None:
    p = plan(EVENT, CREATED + timedelta(minutes=9), upstream_runs=[upstream("old", -5)])
    assert p.create == []


def test_a_suspended_event_trigger_lets_upstream_runs_pass() -> None:
    suspended = EVENT.model_copy(update={"suspend": True})
    p = plan(suspended, CREATED + timedelta(minutes=9), upstream_runs=[upstream("load-a", 5)])
    assert p.create == [] and p.status.last_event_runs == ["load-a"]
    resumed = plan(
        EVENT, CREATED + timedelta(minutes=10), p.status, upstream_runs=[upstream("load-a", 5)]
    )
    assert resumed.create == []


def test_a_long_upstream_run_name_is_hashed_into_63_characters() -> None:
    long = "load-" + "x" * 58
    p = plan(EVENT, CREATED + timedelta(minutes=9), upstream_runs=[upstream(long, 5)])
    assert len(names(p)[0]) <= 63
    assert names(p) == names(
        plan(EVENT, CREATED + timedelta(minutes=9), upstream_runs=[upstream(long, 5)])
    )


# ----- history limits ------------------------------------------------------------------------


def test_history_limits_delete_the_oldest_finished_runs_beyond_each_limit() -> None:
    trigger = spec(**nightly(), successfulRunsHistoryLimit=2, failedRunsHistoryLimit=1)

    def finished(i: int, phase: RunPhase) -> TriggerRun:
        at = CREATED + timedelta(days=i)
        return run(f"r{i}", phase, at, completed_at=at + timedelta(hours=1))

    runs = [
        finished(1, RunPhase.SUCCEEDED),
        finished(2, RunPhase.FAILED),
        finished(3, RunPhase.SUCCEEDED),
        finished(4, RunPhase.CANCELLED),
        finished(5, RunPhase.SUCCEEDED),
        run("r6", RunPhase.RUNNING, CREATED + timedelta(days=6)),
    ]
    status = TriggerStatus(last_schedule_time=utc(2026, 1, 6, 2))
    p = plan(trigger, CREATED + timedelta(days=6, hours=1), status, runs)
    assert sorted(d.name for d in p.delete) == ["r1", "r2"]
    assert p.status.last_run is not None and p.status.last_run.name == "r6"


def test_no_history_limit_keeps_everything() -> None:
    trigger = spec(**nightly(), successfulRunsHistoryLimit=None, failedRunsHistoryLimit=None)
    runs = [run(f"r{i}", RunPhase.SUCCEEDED, CREATED) for i in range(30)]
    assert plan(trigger, CREATED, runs=runs).delete == []


# ----- properties ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["*/10 * * * *", "0 * * * *", "30 2 * * *", "@daily"]),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York"]),
    st.integers(min_value=0, max_value=3 * 24 * 60),
    st.integers(min_value=1, max_value=12),
)
def test_planning_step_by_step_fires_each_fire_exactly_once_in_order(
    cron: str, zone: str, start_minutes: int, steps: int
) -> None:
    """Whether the operator wakes at every fire or late, no fire is run twice or lost."""
    trigger = spec(type="Schedule", schedule={"cron": cron, "timezone": zone, "catchUp": True})
    now = CREATED + timedelta(days=300, minutes=start_minutes)
    status = TriggerStatus(last_schedule_time=now - timedelta(hours=20))
    runs: list[TriggerRun] = []
    created_names: list[str] = []
    for i in range(steps):
        p = plan(trigger, now, status, runs)
        created_names += names(p)
        runs += [run(c.name, RunPhase.SUCCEEDED, now) for c in p.create]
        status = p.status
        now = (p.wake_at or now) + timedelta(minutes=7 * i)
    assert len(created_names) == len(set(created_names))
    stamps = [int(n.rsplit("-", 1)[1]) for n in created_names]
    assert stamps == sorted(stamps)
    assert status.runs_created == len(created_names)


def test_a_suspended_once_trigger_shows_no_next_time_until_resumed() -> None:
    at = utc(2026, 2, 1, 12)
    waiting = plan(spec(type="Once", once={"at": "2026-02-01T12:00:00Z"}), at - timedelta(days=1))
    assert waiting.status.next_schedule_time == at
    suspended = spec(type="Once", once={"at": "2026-02-01T12:00:00Z"}, suspend=True)
    p = plan(suspended, at - timedelta(hours=1), waiting.status)
    assert p.status.next_schedule_time is None
