"""The notification rules (engine/notifications.py): what is sent, when, and what is recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runwright.api.notifications import (
    Notification,
    NotificationEvent,
    NotificationState,
    NotificationStatus,
)
from runwright.api.run import PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.engine.notifications import (
    Outcome,
    Policy,
    Send,
    Subscription,
    Target,
    outstanding,
    plan_notifications,
    record,
    subscriptions,
)
from runwright.engine.reasons import EventReason

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
E = NotificationEvent


def webhook(*on: str, url: str = "hooks/url", hmac: str | None = None) -> Notification:
    name, key = url.split("/")
    hook: dict[str, object] = {"urlSecretRef": {"name": name, "key": key}}
    if hmac is not None:
        hmac_name, hmac_key = hmac.split("/")
        hook["hmacSecretRef"] = {"name": hmac_name, "key": hmac_key}
    return Notification.model_validate({"on": list(on), "webhook": hook})


def slack(*on: str, url: str = "hooks/slack") -> Notification:
    name, key = url.split("/")
    return Notification.model_validate(
        {"on": list(on), "slack": {"webhookSecretRef": {"name": name, "key": key}}}
    )


def running(**fields: object) -> PipelineRunStatus:
    return PipelineRunStatus(phase=RunPhase.RUNNING, **fields)  # type: ignore[arg-type]


def ended(phase: RunPhase, **fields: object) -> PipelineRunStatus:
    return PipelineRunStatus(phase=phase, completed_at=T0, **fields)  # type: ignore[arg-type]


# ----- the spec --------------------------------------------------------------------------


def test_a_notification_names_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one of webhook or slack"):
        Notification.model_validate({"on": ["Failed"]})
    both = {
        "on": ["Failed"],
        "webhook": {"urlSecretRef": {"name": "a", "key": "b"}},
        "slack": {"webhookSecretRef": {"name": "a", "key": "b"}},
    }
    with pytest.raises(ValueError, match="exactly one of webhook or slack"):
        Notification.model_validate(both)


def test_on_is_a_non_empty_set_of_known_events() -> None:
    with pytest.raises(ValueError):
        webhook()
    with pytest.raises(ValueError, match="listed twice"):
        webhook("Failed", "Failed")
    with pytest.raises(ValueError):
        webhook("Exploded")


# ----- targets ---------------------------------------------------------------------------


def test_identical_targets_of_pipeline_and_trigger_are_one_target_with_both_events() -> None:
    subs = subscriptions(
        [webhook("Failed"), slack("Succeeded")],
        [webhook("SLAMissed"), webhook("Failed", url="other/url")],
    )
    assert [(s.target.id, sorted(s.events)) for s in subs] == [
        ("webhook:hooks/url", [E.FAILED, E.SLA_MISSED]),
        ("slack:hooks/slack", [E.SUCCEEDED]),
        ("webhook:other/url", [E.FAILED]),
    ]


def test_a_different_hmac_key_makes_a_different_target() -> None:
    subs = subscriptions([webhook("Failed"), webhook("Failed", hmac="keys/hmac")])
    assert [s.target.id for s in subs] == ["webhook:hooks/url", "webhook:hooks/url+hmac:keys/hmac"]


# ----- what happens ----------------------------------------------------------------------


def test_a_run_that_fails_records_a_sending_delivery_and_sends_it_at_once() -> None:
    subs = subscriptions([webhook("Failed")])
    result = plan_notifications(running(), ended(RunPhase.FAILED), subs, T0)
    assert [(e.event, e.target, e.state, e.attempts) for e in result.entries] == [
        (E.FAILED, "webhook:hooks/url", NotificationState.SENDING, 1)
    ]
    assert result.sends == [Send(E.FAILED, subs[0].target, 1)]


def test_an_event_nobody_asked_for_sends_nothing() -> None:
    subs = subscriptions([webhook("Failed")])
    result = plan_notifications(running(), ended(RunPhase.SUCCEEDED), subs, T0)
    assert result.entries == [] and result.sends == []


def test_a_run_already_finished_is_not_notified_when_a_target_is_added() -> None:
    subs = subscriptions([webhook("Failed")])
    finished = ended(RunPhase.FAILED)
    result = plan_notifications(finished, finished, subs, T0)
    assert result.entries == [] and result.sends == []


def test_a_timed_out_run_sends_timed_out_to_who_asks_for_it_and_its_phase_to_the_others() -> None:
    subs = subscriptions(
        [webhook("Failed", "TimedOut"), webhook("Failed", url="plain/url"), slack("TimedOut")]
    )
    result = plan_notifications(running(), ended(RunPhase.FAILED, timed_out=True), subs, T0)
    assert [(e.target, e.event) for e in result.entries] == [
        ("webhook:hooks/url", E.TIMED_OUT),
        ("webhook:plain/url", E.FAILED),
        ("slack:hooks/slack", E.TIMED_OUT),
    ]


def test_sla_missed_is_sent_once_while_the_run_is_still_running() -> None:
    subs = subscriptions([webhook("SLAMissed", "Failed")])
    first = plan_notifications(running(), running(sla_missed=True), subs, T0)
    assert [(e.event, e.state) for e in first.entries] == [
        (E.SLA_MISSED, NotificationState.SENDING)
    ]
    sent, _ = record(first.entries, first.sends[0], Outcome(ok=True), T0, Policy())
    later = running(sla_missed=True, notifications=sent)
    again = plan_notifications(later, later.model_copy(), subs, T0)
    assert again.sends == [] and [e.state for e in again.entries] == [NotificationState.SENT]
    # ... and the run's end is a delivery of its own.
    end = plan_notifications(later, ended(RunPhase.FAILED, notifications=sent), subs, T0)
    assert [(e.event, e.state) for e in end.entries] == [
        (E.SLA_MISSED, NotificationState.SENT),
        (E.FAILED, NotificationState.SENDING),
    ]


def test_an_in_place_retry_that_ends_again_replaces_the_earlier_end_delivery() -> None:
    subs = subscriptions([webhook("Failed", "Succeeded")])
    first = plan_notifications(running(), ended(RunPhase.FAILED), subs, T0)
    sent, _ = record(first.entries, first.sends[0], Outcome(ok=True), T0, Policy())
    retried = running(notifications=sent)
    second = plan_notifications(retried, ended(RunPhase.SUCCEEDED, notifications=sent), subs, T0)
    assert [(e.event, e.state) for e in second.entries] == [
        (E.SUCCEEDED, NotificationState.SENDING)
    ]


# ----- attempts and their outcomes -----------------------------------------------------------


def failing_once(policy: Policy, retryable: bool = True) -> tuple[list[NotificationStatus], Send]:
    subs = subscriptions([webhook("Failed")])
    result = plan_notifications(running(), ended(RunPhase.FAILED), subs, T0)
    entries, _ = record(
        result.entries, result.sends[0], Outcome(False, "answered 500", retryable), T0, policy
    )
    return entries, result.sends[0]


def test_a_retryable_failure_waits_its_backoff_then_is_sent_again() -> None:
    entries, send = failing_once(Policy(backoff_seconds=2))
    (entry,) = entries
    assert entry.state == NotificationState.PENDING
    assert entry.next_attempt_at == T0 + timedelta(seconds=2)
    assert entry.last_error == "answered 500"
    subs = subscriptions([webhook("Failed")])
    status = ended(RunPhase.FAILED, notifications=entries)
    early = plan_notifications(status, status.model_copy(), subs, T0 + timedelta(seconds=1))
    assert early.sends == [] and early.wake_at == T0 + timedelta(seconds=2)
    due = plan_notifications(status, status.model_copy(), subs, T0 + timedelta(seconds=2))
    assert due.sends == [Send(E.FAILED, send.target, 2)]
    assert due.entries[0].state == NotificationState.SENDING


def test_the_backoff_doubles_up_to_its_cap() -> None:
    policy = Policy(backoff_seconds=2, backoff_factor=2, max_backoff_seconds=10)
    assert [policy.delay(n) for n in range(1, 6)] == [2, 4, 8, 10, 10]


def test_the_last_attempt_failing_gives_up_with_a_warning() -> None:
    policy = Policy(attempts=1)
    subs = subscriptions([webhook("Failed")])
    result = plan_notifications(running(), ended(RunPhase.FAILED), subs, T0)
    entries, event = record(
        result.entries, result.sends[0], Outcome(False, "answered 503", True), T0, policy
    )
    assert entries[0].state == NotificationState.FAILED
    assert event.type == "Warning" and event.reason == EventReason.NOTIFICATION_FAILED
    assert "giving up" in event.message and "answered 503" in event.message


def test_a_final_answer_is_not_retried() -> None:
    entries, _ = failing_once(Policy(), retryable=False)
    assert entries[0].state == NotificationState.FAILED
    assert not outstanding(entries)


def test_a_delivery_found_sending_was_interrupted_and_is_never_sent_again() -> None:
    subs = subscriptions([webhook("Failed")])
    first = plan_notifications(running(), ended(RunPhase.FAILED), subs, T0)
    # The operator died during the attempt: the stored status still says Sending.
    stored = ended(RunPhase.FAILED, notifications=first.entries)
    after_restart = plan_notifications(stored, stored.model_copy(), subs, T0)
    assert after_restart.sends == []
    (entry,) = after_restart.entries
    assert entry.state == NotificationState.FAILED and "interrupted" in entry.last_error
    (event,) = after_restart.events
    assert event.reason == EventReason.NOTIFICATION_FAILED and event.type == "Warning"


def test_a_target_removed_while_its_delivery_waits_is_given_up() -> None:
    entries, _ = failing_once(Policy())
    status = ended(RunPhase.FAILED, notifications=entries)
    result = plan_notifications(status, status.model_copy(), [], T0 + timedelta(hours=1))
    assert result.sends == [] and result.entries[0].state == NotificationState.FAILED


# ----- properties --------------------------------------------------------------------------

EVENTS = st.lists(st.sampled_from(list(NotificationEvent)), min_size=1, max_size=5, unique=True)


@given(
    st.lists(EVENTS, min_size=1, max_size=4),
    st.sampled_from([RunPhase.SUCCEEDED, RunPhase.FAILED, RunPhase.CANCELLED]),
    st.booleans(),
    st.booleans(),
)
def test_each_target_gets_at_most_one_delivery_per_event_and_one_per_end(
    asks: list[list[NotificationEvent]], phase: RunPhase, timed_out: bool, sla: bool
) -> None:
    notifications = [webhook(*map(str, on), url=f"s{i}/url") for i, on in enumerate(asks)]
    subs: list[Subscription] = subscriptions(notifications, notifications)
    new = ended(phase, timed_out=timed_out, sla_missed=sla)
    result = plan_notifications(running(), new, subs, T0)
    keys = [(e.target, e.event) for e in result.entries]
    assert len(keys) == len(set(keys))
    for sub in subs:
        mine = [e for e in result.entries if e.target == sub.target.id]
        assert all(e.event in sub.events for e in mine)
        assert sum(1 for e in mine if e.event != E.SLA_MISSED) <= 1
    assert len(result.sends) == len(result.entries)
    assert all(isinstance(s.target, Target) for s in result.sends)
