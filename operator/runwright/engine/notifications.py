"""Which notifications a run sends, when, and what its status records of them. Pure.

The rules (docs/notifications.md):

1. A run's targets are its frozen Pipeline's `notifications` plus its Trigger's; a
   target named in both (same kind and Secret references) is one target hearing the
   union of their events.
2. An event happens in the plan that makes it happen: SLAMissed when slaMissed turns
   true; the run's end when its phase becomes Succeeded, Failed or Cancelled. A
   target hears one message per end: TimedOut when the run timed out and the target
   asks for TimedOut, else the end phase when it asks for that. An in-place retry
   that ends again is a new end: it replaces the target's earlier end delivery.
3. The delivery is recorded in the same status write as the event (state Sending
   when it is due at once), so an event is never lost between "it happened" and "it
   should be sent", and a run finished before a target was added is never notified.
4. Before an attempt, its delivery is written as Sending; after it, Sent, Pending
   (a retryable failure, with nextAttemptAt on an exponential backoff) or Failed. A
   delivery found Sending when planning was interrupted (the operator died during
   the attempt, or the outcome could not be written): it becomes Failed and is never
   sent again. That is the "at most once": a crash inside the attempt can lose a
   message, never double it.
5. A run the operator fails outside the plan, because the API server refused its
   status as too large (StatusTooLarge), ends like any other (`plan_forced_end`):
   its Failed delivery is recorded Sending in the very write that fails the run,
   which drops the frozen Pipeline, so the operator makes the attempts (and their
   retries) at once rather than at a later reconcile that could no longer tell the
   targets; it never records one Pending (controller/notifications.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from runwright.api.common import SecretKeyReference
from runwright.api.notifications import (
    MAX_DELIVERIES,
    MAX_ERROR_CHARS,
    Notification,
    NotificationEvent,
    NotificationState,
    NotificationStatus,
)
from runwright.api.run import PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.engine.events import Event
from runwright.engine.reasons import EventReason

#: The events that end a run; a target hears at most one of them per end.
END_EVENTS = frozenset(
    {
        NotificationEvent.SUCCEEDED,
        NotificationEvent.FAILED,
        NotificationEvent.CANCELLED,
        NotificationEvent.TIMED_OUT,
    }
)
_PHASE_EVENT = {
    RunPhase.SUCCEEDED: NotificationEvent.SUCCEEDED,
    RunPhase.FAILED: NotificationEvent.FAILED,
    RunPhase.CANCELLED: NotificationEvent.CANCELLED,
}


@dataclass(frozen=True)
class SecretRef:
    """A key of a Secret in the run's namespace (hashable, unlike the API model)."""

    name: str
    key: str

    @classmethod
    def of(cls, ref: SecretKeyReference) -> SecretRef:
        """The API model's reference as a value."""
        return cls(ref.name, ref.key)

    def __str__(self) -> str:
        return f"{self.name}/{self.key}"


@dataclass(frozen=True)
class Target:
    """Where a message goes: its kind and the Secret keys of its URL and HMAC key."""

    kind: Literal["webhook", "slack"]
    url: SecretRef
    hmac: SecretRef | None = None

    @property
    def id(self) -> str:
        """The name status records it under: `webhook:SECRET/KEY` (plus `+hmac:...`)."""
        name = f"{self.kind}:{self.url}"
        return f"{name}+hmac:{self.hmac}" if self.hmac is not None else name

    @classmethod
    def of(cls, notification: Notification) -> Target:
        """The target a spec entry names."""
        if notification.webhook is not None:
            hook = notification.webhook
            hmac = SecretRef.of(hook.hmac_secret_ref) if hook.hmac_secret_ref else None
            return cls("webhook", SecretRef.of(hook.url_secret_ref), hmac)
        assert notification.slack is not None  # the model requires exactly one
        return cls("slack", SecretRef.of(notification.slack.webhook_secret_ref))


@dataclass(frozen=True)
class Subscription:
    """One target and every event it hears about."""

    target: Target
    events: frozenset[NotificationEvent]


def subscriptions(
    pipeline: Sequence[Notification], trigger: Sequence[Notification] = ()
) -> list[Subscription]:
    """The run's targets: the Pipeline's then the Trigger's, identical targets merged."""
    merged: dict[Target, set[NotificationEvent]] = {}
    for notification in [*pipeline, *trigger]:
        merged.setdefault(Target.of(notification), set()).update(notification.on)
    return [Subscription(target, frozenset(events)) for target, events in merged.items()]


@dataclass(frozen=True)
class Policy:
    """How often and how patiently a delivery is attempted."""

    attempts: int = 5
    backoff_seconds: float = 2.0
    backoff_factor: float = 2.0
    max_backoff_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1 = the first)."""
        raw = self.backoff_seconds * self.backoff_factor ** max(attempt - 1, 0)
        return min(raw, self.max_backoff_seconds)


@dataclass(frozen=True)
class Send:
    """One attempt to carry out now: the delivery's event, its target, its number."""

    event: NotificationEvent
    target: Target
    attempt: int


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: accepted, or why not and whether trying again may help."""

    ok: bool
    error: str = ""
    retryable: bool = False


@dataclass
class NotifyPlan:
    """What the reconcile does about notifications: the new entries, the sends, when next."""

    entries: list[NotificationStatus]
    sends: list[Send] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    wake_at: datetime | None = None


def outstanding(entries: Sequence[NotificationStatus]) -> bool:
    """True while some delivery is not settled (Pending or Sending)."""
    return any(e.state in (NotificationState.PENDING, NotificationState.SENDING) for e in entries)


def plan_notifications(
    old: PipelineRunStatus,
    new: PipelineRunStatus,
    subs: Sequence[Subscription],
    now: datetime,
) -> NotifyPlan:
    """Record the events this plan made happen, settle interrupted attempts, start due ones.

    `old` is the status the plan started from, `new` the one it made; the entries are
    `new.notifications` (carried over from `old` by the planner).
    """
    entries = [e.model_copy() for e in new.notifications]
    result = NotifyPlan(entries)
    _interrupted(result)
    for event, is_end in _happened(old, new):
        for sub in subs:
            chosen = _end_event(new, sub) if is_end else event if event in sub.events else None
            if chosen is None:
                continue
            if is_end:
                entries[:] = [
                    e for e in entries if not (e.target == sub.target.id and e.event in END_EVENTS)
                ]
            elif any(e.target == sub.target.id and e.event == event for e in entries):
                continue
            if len(entries) < MAX_DELIVERIES:
                entries.append(
                    NotificationStatus(
                        event=chosen, target=sub.target.id, state=NotificationState.PENDING
                    )
                )
    _due(result, subs, now)
    return result


def plan_forced_end(
    old: PipelineRunStatus,
    ended: PipelineRunStatus,
    subs: Sequence[Subscription],
    now: datetime,
) -> NotifyPlan:
    """The deliveries of a run ended outside the engine's plan (StatusTooLarge).

    `old` is the status last written, `ended` the status the run ends with. Only what
    `old` recorded counts: the refused write's own intents were never recorded, so
    never attempted. Every delivery still waiting for its retry is due at once: the
    operator attempts them right after the failing write, and no later reconcile
    can (the frozen Pipeline naming the targets is dropped with that write).
    """
    entries = [
        e.model_copy(update={"next_attempt_at": None})
        if e.state == NotificationState.PENDING
        else e
        for e in old.notifications
    ]
    return plan_notifications(old, ended.model_copy(update={"notifications": entries}), subs, now)


def _happened(
    old: PipelineRunStatus, new: PipelineRunStatus
) -> list[tuple[NotificationEvent, bool]]:
    """The events of this plan, each with "is it the run's end"."""
    events: list[tuple[NotificationEvent, bool]] = []
    if new.sla_missed and not old.sla_missed:
        events.append((NotificationEvent.SLA_MISSED, False))
    ended = new.phase is not None and new.phase.finished
    was_ended = old.phase is not None and old.phase.finished
    if ended and not was_ended and new.phase in _PHASE_EVENT:
        events.append((_PHASE_EVENT[new.phase], True))
    return events


def _end_event(status: PipelineRunStatus, sub: Subscription) -> NotificationEvent | None:
    """The one end event a target hears: TimedOut if it asks for it, else the phase."""
    if status.timed_out and NotificationEvent.TIMED_OUT in sub.events:
        return NotificationEvent.TIMED_OUT
    assert status.phase is not None
    phase_event = _PHASE_EVENT.get(status.phase)
    return phase_event if phase_event in sub.events else None


def _interrupted(result: NotifyPlan) -> None:
    """Sending at plan time: the attempt's outcome is unknown; never send it again."""
    for entry in result.entries:
        if entry.state == NotificationState.SENDING:
            entry.state = NotificationState.FAILED
            entry.next_attempt_at = None
            entry.last_error = (
                f"attempt {entry.attempts} was interrupted (operator restart or lost "
                "status write); not sent again, so it is never delivered twice"
            )
            result.events.append(
                Event.of(
                    EventReason.NOTIFICATION_FAILED,
                    f"{entry.event} to {entry.target}: {entry.last_error}",
                    warning=True,
                )
            )


def _due(result: NotifyPlan, subs: Sequence[Subscription], now: datetime) -> None:
    """Pending deliveries whose time has come become Sending, one Send each."""
    targets = {sub.target.id: sub.target for sub in subs}
    wake_at: datetime | None = None
    for entry in result.entries:
        if entry.state != NotificationState.PENDING:
            continue
        if entry.next_attempt_at is not None and entry.next_attempt_at > now:
            wake_at = (
                entry.next_attempt_at if wake_at is None else min(wake_at, entry.next_attempt_at)
            )
            continue
        target = targets.get(entry.target)
        if target is None:
            entry.state = NotificationState.FAILED
            entry.next_attempt_at = None
            entry.last_error = (
                "the target is no longer in the Pipeline's or Trigger's notifications"
            )
            continue
        entry.state = NotificationState.SENDING
        entry.attempts += 1
        entry.next_attempt_at = None
        result.sends.append(Send(entry.event, target, entry.attempts))
    result.wake_at = wake_at


def record(
    entries: Sequence[NotificationStatus],
    send: Send,
    outcome: Outcome,
    now: datetime,
    policy: Policy,
) -> tuple[list[NotificationStatus], Event]:
    """The entries after an attempt, and the Event that tells of it."""
    updated = [e.model_copy() for e in entries]
    what = f"{send.event} to {send.target.id}"
    for entry in updated:
        if entry.event != send.event or entry.target != send.target.id:
            continue
        if outcome.ok:
            entry.state = NotificationState.SENT
            entry.sent_at = now
            entry.last_error = ""
            entry.next_attempt_at = None
            return updated, Event.of(
                EventReason.NOTIFICATION_SENT, f"{what} delivered (attempt {send.attempt})"
            )
        entry.last_error = outcome.error[:MAX_ERROR_CHARS]
        if outcome.retryable and send.attempt < policy.attempts:
            delay = policy.delay(send.attempt)
            entry.state = NotificationState.PENDING
            entry.next_attempt_at = now + timedelta(seconds=delay)
            note = f"attempt {send.attempt} of {policy.attempts} failed: {entry.last_error}; "
            note += f"retrying in {delay:g}s"
        else:
            entry.state = NotificationState.FAILED
            entry.next_attempt_at = None
            why = "giving up" if outcome.retryable else "not retried"
            note = f"attempt {send.attempt} failed: {entry.last_error}; {why}"
        return updated, Event.of(EventReason.NOTIFICATION_FAILED, f"{what}: {note}", warning=True)
    # The entry is gone (an in-place retry ended the run again meanwhile): nothing to record.
    return updated, Event.of(
        EventReason.NOTIFICATION_SENT if outcome.ok else EventReason.NOTIFICATION_FAILED,
        f"{what}: attempt {send.attempt} ended after its delivery was replaced",
        warning=not outcome.ok,
    )
