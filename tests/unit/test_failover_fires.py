"""Scheduled fires across a failover: the new leader plans from the Trigger's status as the
old one left it, so a fire missed while nobody led runs late (within
startingDeadlineSeconds), and a fire the old leader created but whose status write was
lost is not created again. Pure planner (engine.triggers), fake times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright.api.trigger import RunPhase, TriggerSpec, TriggerStatus
from runwright.engine.naming import run_name
from runwright.engine.reasons import SkipReason
from runwright.engine.trigger_model import fire_suffix
from runwright.engine.triggers import TriggerInput, TriggerPlan, TriggerRun, plan_trigger

CREATED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def minutely(**schedule: Any) -> TriggerSpec:
    return TriggerSpec.model_validate(
        {
            "pipelineRef": {"name": "etl"},
            "type": "Schedule",
            "schedule": {"cron": "* * * * *", **schedule},
        }
    )


def plan(
    spec: TriggerSpec, now: datetime, status: TriggerStatus, runs: list[TriggerRun]
) -> TriggerPlan:
    return plan_trigger(
        TriggerInput(
            name="tick",
            spec=spec,
            status=status,
            now=now,
            created_at=CREATED,
            runs=runs,
            pipeline_exists=True,
        )
    )


def at(minute: int, second: int = 0) -> datetime:
    return CREATED + timedelta(minutes=minute, seconds=second)


def fired(minute: int) -> str:
    return run_name("tick", fire_suffix(at(minute)))


def succeeded(minute: int) -> TriggerRun:
    return TriggerRun(
        name=fired(minute),
        phase=RunPhase.SUCCEEDED,
        created_at=at(minute),
        execution_date=at(minute),
        completed_at=at(minute, 5),
    )


@pytest.mark.parametrize("catch_up", [False, True])
def test_a_fire_missed_while_nobody_led_runs_late_within_the_deadline(catch_up: bool) -> None:
    spec = minutely(startingDeadlineSeconds=60, catchUp=catch_up)
    # The old leader handled 10:01 and died; the new one leads at 10:02:40.
    status = TriggerStatus(last_schedule_time=at(1))
    p = plan(spec, at(2, 40), status, [succeeded(1)])
    assert [c.name for c in p.create] == [fired(2)]
    assert p.status.last_schedule_time == at(2)
    # Planned again (a wake, or yet another takeover) with the run there: nothing more.
    again = plan(spec, at(2, 41), p.status, [succeeded(1), succeeded(2)])
    assert again.create == []


def test_a_fire_created_before_the_crash_but_not_recorded_is_not_created_again() -> None:
    spec = minutely(startingDeadlineSeconds=60, catchUp=True)
    # The old leader created 10:02's run, then died before writing lastScheduleTime.
    status = TriggerStatus(last_schedule_time=at(1))
    p = plan(spec, at(2, 30), status, [succeeded(1), succeeded(2)])
    assert p.create == []
    assert p.status.last_schedule_time == at(2)


def test_with_catch_up_every_fire_of_a_long_failover_within_the_deadline_runs_once() -> None:
    spec = minutely(startingDeadlineSeconds=180, catchUp=True)
    status = TriggerStatus(last_schedule_time=at(1))
    p = plan(spec, at(4, 30), status, [succeeded(1)])
    assert [c.name for c in p.create] == [fired(2), fired(3), fired(4)]


def test_a_fire_older_than_the_deadline_is_skipped_and_counted_not_lost_silently() -> None:
    spec = minutely(startingDeadlineSeconds=30, catchUp=True)
    status = TriggerStatus(last_schedule_time=at(1))
    p = plan(spec, at(3, 10), status, [succeeded(1)])
    assert [c.name for c in p.create] == [fired(3)]
    assert [s.reason for s in p.skipped] == [SkipReason.DEADLINE_PASSED]
