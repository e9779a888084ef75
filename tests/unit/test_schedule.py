"""Which schedules and time zones a Trigger may use (engine.schedule)."""

from __future__ import annotations

import pytest

from runwright.api.trigger import TriggerSpec
from runwright.engine import schedule, triggers


def trigger(**fields: object) -> TriggerSpec:
    return TriggerSpec.model_validate({"pipelineRef": {"name": "etl"}, **fields})


@pytest.mark.parametrize("cron", ["0 2 * * *", "*/15 * * * 1-5", "0 0 1 JAN *", *schedule.MACROS])
def test_five_field_cron_and_the_macros_are_accepted(cron: str) -> None:
    assert schedule.check_cron(cron) is None


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 0 2 * * *", "seconds are not supported"),
        ("* * *", "has 3 fields"),
        ("61 * * * *", "is not a valid cron expression"),
        ("@midnight", "is not a supported macro"),
        ("@dayly", 'did you mean "@daily"'),
    ],
)
def test_other_cron_expressions_are_rejected_with_the_accepted_forms(cron: str, words: str) -> None:
    problem = schedule.check_cron(cron)
    assert problem is not None and words in problem
    assert '"0 2 * * *"' in problem


def test_a_schedule_problem_names_its_field_and_reason() -> None:
    spec = trigger(type="Schedule", schedule={"cron": "bad", "timezone": "Mars/Olympus"})
    problems = schedule.validate(spec)
    assert [(p.field, p.reason) for p in problems] == [
        ("spec.schedule.cron", "InvalidSchedule"),
        ("spec.schedule.timezone", "UnknownTimezone"),
    ]


def test_end_time_must_follow_start_time() -> None:
    spec = trigger(
        type="Schedule",
        schedule={
            "cron": "@daily",
            "startTime": "2026-02-01T00:00:00Z",
            "endTime": "2026-01-01T00:00:00Z",
        },
    )
    assert [p.field for p in schedule.validate(spec)] == ["spec.schedule.endTime"]


def test_a_trigger_without_schedule_has_no_schedule_problems() -> None:
    assert schedule.validate(trigger(type="AlwaysOn")) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"type": "Event"}, "spec.event"),
        ({"type": "API"}, "spec.api"),
        ({"type": "Once", "schedule": {"cron": "@daily"}}, "spec.schedule"),
    ],
)
def test_a_trigger_carries_exactly_the_config_of_its_type(
    fields: dict[str, object], field: str
) -> None:
    assert [p.field for p in triggers.validate(trigger(**fields))] == [field]


def test_once_may_omit_its_config_to_mean_now() -> None:
    assert triggers.validate(trigger(type="Once")) == []
