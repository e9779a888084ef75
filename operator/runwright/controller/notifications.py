"""The operator's notifier: Secrets from the API server, Trigger notifications from the read model.

The operator reads a notification's URL and HMAC key with `get` on the Secret named
in the run's namespace, when it sends (never cached: a rotated key applies to the
next attempt). The chart's Role already grants `get` on secrets (for API-trigger
tokens) and nothing wider: no list, no watch. A missing Secret or key is retried with
the delivery's backoff, since it may be created after the Pipeline.

`OversizedEnd` notifies the end of a run the operator fails StatusTooLarge (the API
server refused its status as too large: controller/oversize.py). That write drops
the frozen Pipeline, so no later reconcile knows the run's targets: the end's
deliveries go into the failing write as Sending (the intent, recorded with the
phase), and their attempts and retries are made here, by the run's own worker,
right after it. What is written is only ever Sending, Sent or Failed, never Pending:
a later reconcile, even one planning from an old copy of the run, can mark an
interrupted attempt Failed, never make one. At most once holds as for every run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from runwright.api.notifications import Notification, NotificationState, NotificationStatus
from runwright.api.run import PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.controller.oversize import RUNS, merged
from runwright.controller.readmodel import ReadModel
from runwright.engine.events import Event
from runwright.engine.notification_payload import RunIdentity
from runwright.engine.notifications import (
    SecretRef,
    Send,
    plan_forced_end,
    record,
    subscriptions,
)
from runwright.engine.reasons import RunReason
from runwright.executors.contract import RunRef
from runwright.kube.client import Kube
from runwright.metrics import METRICS
from runwright.notifier import Notifier
from runwright.reconcile import Step, Worker, parse_time
from runwright.store import RunStore

log = logging.getLogger("runwright.notifications")

_NOTIFICATIONS = TypeAdapter(list[Notification])


class KubeSecrets:
    """Secret keys read from the API server (`get secrets` in the run's namespace)."""

    retry_missing = True

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    async def read(self, namespace: str, ref: SecretRef) -> bytes | None:
        return await self.kube.secret_value(namespace, ref.name, ref.key)

    def missing(self, namespace: str, ref: SecretRef) -> str:
        return (
            f"Secret {namespace}/{ref.name} has no key {ref.key} (or does not exist, or the "
            f"operator may not get it): kubectl create secret generic {ref.name} -n {namespace} "
            f"--from-literal={ref.key}=..."
        )


def trigger_notifications(body: Mapping[str, Any] | None) -> Sequence[Notification]:
    """A Trigger body's spec.notifications; empty when it has none or they do not validate
    (the Trigger's Ready condition reports an invalid spec)."""
    raw = ((body or {}).get("spec") or {}).get("notifications")
    if not raw:
        return ()
    try:
        return _NOTIFICATIONS.validate_python(raw)
    except ValidationError as exc:
        meta = (body or {}).get("metadata") or {}
        log.warning(
            "Trigger %s/%s: spec.notifications ignored, invalid: %s",
            meta.get("namespace"),
            meta.get("name"),
            exc.errors()[0].get("msg"),
        )
        return ()


def operator_notifier(kube: Kube, model: ReadModel) -> Notifier:
    """The notifier of the operator's reconciles."""
    return Notifier(
        KubeSecrets(kube),
        trigger_notifications=lambda ns, name: trigger_notifications(model.trigger(ns, name)),
    )


#: Writes a run's status.notifications (the JSON list), recording the write as its own.
WriteEntries = Callable[[list[dict[str, Any]]], Awaitable[None]]
#: Posts Events on the run.
PostEvents = Callable[[Sequence[Event]], Awaitable[None]]


def dump_entries(entries: Sequence[NotificationStatus]) -> list[dict[str, Any]]:
    """status.notifications as written (merge patch: the whole list)."""
    return [e.model_dump(by_alias=True, mode="json", exclude_none=True) for e in entries]


@dataclass
class OversizedEnd:
    """The end deliveries of a run failed StatusTooLarge: planned before, made after, the write."""

    notifier: Notifier
    run: RunIdentity
    entries: list[NotificationStatus]
    sends: list[Send]
    #: Events of the plan (an interrupted earlier attempt), posted with the first outcomes.
    events: list[Event]

    @classmethod
    def plan(
        cls,
        notifier: Notifier,
        run: RunRef,
        old: PipelineRunStatus,
        planned: PipelineRunStatus,
        now: datetime,
    ) -> OversizedEnd | None:
        """The deliveries of the run's end, from `old` (last written); None: nothing to do.

        `planned` is the refused status: only its frozen Pipeline and blocks count. The
        run ends Failed, StatusTooLarge; what the refused plan decided (another end,
        a timeout, an SLA miss) was never recorded, so it is never notified.
        """
        ended = planned.model_copy(
            update={
                "phase": RunPhase.FAILED,
                "reason": str(RunReason.STATUS_TOO_LARGE),
                "timed_out": old.timed_out,
                "sla_missed": old.sla_missed,
            }
        )
        frozen = planned.pipeline_spec or old.pipeline_spec
        subs = subscriptions(
            frozen.notifications if frozen is not None else (),
            notifier.trigger_notifications(run.namespace, run.trigger) if run.trigger else (),
        )
        if not subs and not old.notifications:
            return None
        result = plan_forced_end(old, ended, subs, now)
        identity = RunIdentity(run.namespace, run.name, run.uid, run.pipeline, run.trigger)
        end = cls(notifier, identity, result.entries, result.sends, result.events)
        for entry in old.notifications:
            if entry.state == NotificationState.SENDING:
                end._count(entry, "interrupted")
        return end

    def patch(self) -> list[dict[str, Any]]:
        """status.notifications for the failing write: the first attempts' intents."""
        return dump_entries(self.entries)

    async def deliver(
        self,
        status: PipelineRunStatus,
        write: WriteEntries,
        post: PostEvents,
        clock: Callable[[], datetime],
    ) -> None:
        """Make the attempts (their intents are written), retrying with the policy's backoff.

        `status` is the failed run's, for the message. Each round's outcomes and the
        next round's intents are one write, made after the backoff: a delivery waiting
        for its retry is still recorded Sending, so an operator dying meanwhile leaves
        it interrupted (Failed), never to be sent by a reconcile that cannot know
        whether it was.
        """
        sends, events = self.sends, list(self.events)
        policy = self.notifier.policy
        while sends:
            outcomes = await asyncio.gather(
                *(self.notifier.send(self.run, status, s) for s in sends)
            )
            now = clock()
            retry: list[Send] = []
            for send, outcome in zip(sends, outcomes, strict=True):
                self.entries, event = record(self.entries, send, outcome, now, policy)
                events.append(event)
                entry = self._entry(send)
                if entry is not None and entry.state == NotificationState.PENDING:
                    retry.append(Send(send.event, send.target, send.attempt + 1))
                    self._count(entry, "retried")
                elif entry is not None:
                    self._count(
                        entry, "sent" if entry.state == NotificationState.SENT else "failed"
                    )
            if events:
                await post(events)
                events = []
            if retry:
                await asyncio.sleep(max(policy.delay(s.attempt - 1) for s in retry))
                for send in retry:
                    entry = self._entry(send)
                    assert entry is not None
                    entry.state, entry.attempts = NotificationState.SENDING, send.attempt
                    entry.next_attempt_at = None
            await write(dump_entries(self.entries))
            sends = retry

    def _entry(self, send: Send) -> NotificationStatus | None:
        for entry in self.entries:
            if entry.event == send.event and entry.target == send.target.id:
                return entry
        return None

    def _count(self, entry: NotificationStatus, result: str) -> None:
        kind = entry.target.split(":", 1)[0]
        METRICS.observe_notification(
            self.run.namespace, self.run.pipeline, str(entry.event), kind, result
        )


async def deliver_oversized(
    kube: Kube,
    store: RunStore,
    worker: Worker,
    step: Step,
    end: OversizedEnd,
    patch: Mapping[str, Any],
    clock: Callable[[], datetime],
) -> None:
    """After the write that failed the run (`patch`): its end deliveries, recorded as made."""
    namespace, name = worker.key
    failed = step.result.status.model_copy(
        update={
            "phase": RunPhase.FAILED,
            "reason": patch["reason"],
            "message": patch["message"],
            "completed_at": parse_time(patch["completedAt"]),
        }
    )

    async def write(entries: list[dict[str, Any]]) -> None:
        update = {"notifications": entries}
        worker.remember_write(await kube.patch_status(RUNS, namespace, name, update))
        worker.written = merged(worker.written, update)
        worker.body = {**worker.body, "status": worker.written}

    async def post(events: Sequence[Event]) -> None:
        await store.post_events(worker.body, events)

    await end.deliver(failed, write, post, clock)
