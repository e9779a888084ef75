"""The reconcile's notification steps: plan them with the run, carry out the due attempts.

`Reconciler.step` calls `plan_step` after the engine's plan: the run's targets (its
frozen Pipeline's plus its Trigger's), the engine's `plan_notifications`, folded into
the plan's status, Events and wake time, so the delivery intents are written in the
same status patch as the event that caused them. `Reconciler.apply` calls `deliver`
after that write: the attempts run concurrently, their outcomes are recorded by the
engine's `record`, and counted in runwright_notifications_total.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from runwright.api.notifications import NotificationState, NotificationStatus
from runwright.api.run import PipelineRunStatus
from runwright.engine.events import Event
from runwright.engine.notification_payload import RunIdentity
from runwright.engine.notifications import plan_notifications, record, subscriptions
from runwright.metrics import METRICS
from runwright.notifier import Notifier

if TYPE_CHECKING:
    from runwright.reconcile import Step

_RESULT = {
    NotificationState.SENT: "sent",
    NotificationState.PENDING: "retried",
    NotificationState.FAILED: "failed",
}


def plan_step(step: Step, notifier: Notifier, now: datetime) -> None:
    """Add the notifications part to a planned step (its status, Events and wake time)."""
    new = step.result.status
    frozen = new.pipeline_spec
    trigger = step.run.trigger
    subs = subscriptions(
        frozen.notifications if frozen is not None else (),
        notifier.trigger_notifications(step.run.namespace, trigger) if trigger else (),
    )
    if not subs and not new.notifications:
        return
    result = plan_notifications(step.old, new, subs, now)
    for entry in new.notifications:
        if entry.state == NotificationState.SENDING:
            _count(step, entry, "interrupted")
    new.notifications = result.entries
    step.result.events.extend(result.events)
    if result.wake_at is not None and (
        step.result.wake_at is None or result.wake_at < step.result.wake_at
    ):
        step.result.wake_at = result.wake_at
    step.notify = result


async def deliver(
    step: Step,
    status: PipelineRunStatus,
    notifier: Notifier,
    clock: Callable[[], datetime],
) -> tuple[PipelineRunStatus, list[Event]]:
    """Make the step's due attempts; the status with their outcomes, and their Events."""
    assert step.notify is not None
    run = RunIdentity(
        namespace=step.run.namespace,
        name=step.run.name,
        uid=step.run.uid,
        pipeline=step.run.pipeline,
        trigger=step.run.trigger,
    )
    sends = step.notify.sends
    outcomes = await asyncio.gather(*(notifier.send(run, status, s) for s in sends))
    entries = list(status.notifications)
    events: list[Event] = []
    now = clock()
    for send, outcome in zip(sends, outcomes, strict=True):
        entries, event = record(entries, send, outcome, now, notifier.policy)
        events.append(event)
        for entry in entries:
            if entry.event == send.event and entry.target == send.target.id:
                _count(step, entry, _RESULT.get(entry.state, "failed"))
    return status.model_copy(update={"notifications": entries}), events


def next_attempt(status: PipelineRunStatus) -> datetime | None:
    """The earliest retry due among the run's deliveries."""
    due = [
        e.next_attempt_at
        for e in status.notifications
        if e.state == NotificationState.PENDING and e.next_attempt_at is not None
    ]
    return min(due, default=None)


def _count(step: Step, entry: NotificationStatus, result: str) -> None:
    kind = entry.target.split(":", 1)[0]
    METRICS.observe_notification(
        step.run.namespace, step.run.pipeline, str(entry.event), kind, result
    )
