"""What a notification says: the webhook's JSON body, its signature, the Slack message. Pure.

The webhook body is one JSON object (docs/notifications.md lists every field). When
the target has an HMAC key, the request carries

    X-Runwright-Timestamp: <unix seconds>
    X-Runwright-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>.<body>")>

The timestamp is inside what is signed, so a receiver that rejects old timestamps
(five minutes is the usual window) cannot be fed a replayed request; and
X-Runwright-Delivery (the same for every attempt of one delivery) lets it drop a
repeat it has already seen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runwright.api.common import format_time
from runwright.api.notifications import NotificationEvent
from runwright.api.run import BlockPhase, PipelineRunStatus

SIGNATURE_HEADER = "X-Runwright-Signature"
TIMESTAMP_HEADER = "X-Runwright-Timestamp"
EVENT_HEADER = "X-Runwright-Event"
DELIVERY_HEADER = "X-Runwright-Delivery"
#: Failed blocks listed in a message (the run's status has them all).
MAX_FAILED_BLOCKS = 20
#: The run's message is cut to this many characters in a notification.
MAX_MESSAGE_CHARS = 1000


@dataclass(frozen=True)
class RunIdentity:
    """Which run a notification is about."""

    namespace: str
    name: str
    uid: str
    pipeline: str
    trigger: str | None


def failed_blocks(status: PipelineRunStatus) -> list[str]:
    """The blocks that failed (not those skipped because of them), in status order."""
    failed = [name for name, b in status.blocks.items() if b.phase == BlockPhase.FAILED]
    return failed[:MAX_FAILED_BLOCKS]


def payload(
    run: RunIdentity, status: PipelineRunStatus, event: NotificationEvent
) -> dict[str, Any]:
    """The webhook's JSON body: the run, its outcome and the event."""

    def time(value: datetime | None) -> str | None:
        return format_time(value) if value is not None else None

    return {
        "event": str(event),
        "run": {"namespace": run.namespace, "name": run.name, "uid": run.uid},
        "pipeline": run.pipeline,
        "trigger": run.trigger,
        "phase": str(status.phase) if status.phase is not None else None,
        "reason": status.reason,
        "message": status.message[:MAX_MESSAGE_CHARS],
        "failedBlocks": failed_blocks(status),
        "executionDate": time(status.execution_date),
        "startedAt": time(status.started_at),
        "completedAt": time(status.completed_at),
        "durationSeconds": status.duration_seconds,
        "slaMissed": status.sla_missed,
        "timedOut": status.timed_out,
    }


def body_bytes(body: dict[str, Any]) -> bytes:
    """The exact bytes sent (and signed): compact JSON, keys in a stable order."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256 over `<timestamp>.<body>`."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(key: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver checks (constant-time): the signature matches the timestamp and body."""
    if not timestamp.isdigit():
        return False
    return hmac.compare_digest(signature(key, int(timestamp), body), header)


def delivery_id(run: RunIdentity, event: NotificationEvent, target: str) -> str:
    """The same for every attempt of one delivery, different for every other one."""
    digest = hashlib.sha256(f"{run.uid}/{event}/{target}".encode()).hexdigest()[:32]
    return digest


def headers(
    body: bytes,
    event: NotificationEvent,
    delivery: str,
    timestamp: int,
    key: bytes | None,
) -> dict[str, str]:
    """The webhook request's headers; signed when there is a key."""
    out = {
        "Content-Type": "application/json",
        EVENT_HEADER: str(event),
        DELIVERY_HEADER: delivery,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if key is not None:
        out[SIGNATURE_HEADER] = signature(key, timestamp, body)
    return out


_EMOJI = {
    NotificationEvent.SUCCEEDED: ":white_check_mark:",
    NotificationEvent.FAILED: ":x:",
    NotificationEvent.CANCELLED: ":no_entry_sign:",
    NotificationEvent.SLA_MISSED: ":hourglass:",
    NotificationEvent.TIMED_OUT: ":alarm_clock:",
}


def slack_message(body: dict[str, Any]) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message: a one-line `text` and a few blocks."""
    event = NotificationEvent(body["event"])
    run = body["run"]
    what = {
        NotificationEvent.SUCCEEDED: "succeeded",
        NotificationEvent.FAILED: "failed",
        NotificationEvent.CANCELLED: "was cancelled",
        NotificationEvent.SLA_MISSED: "missed its SLA",
        NotificationEvent.TIMED_OUT: "timed out",
    }[event]
    text = f"{_EMOJI[event]} Run {run['namespace']}/{run['name']} of pipeline {body['pipeline']} {what}"
    details = [f"*Phase:* {body['phase'] or 'Pending'}"]
    if body["reason"]:
        details.append(f"*Reason:* {body['reason']}")
    if body["trigger"]:
        details.append(f"*Trigger:* {body['trigger']}")
    if body["durationSeconds"] is not None:
        details.append(f"*Duration:* {body['durationSeconds']}s")
    if body["failedBlocks"]:
        details.append("*Failed blocks:* " + ", ".join(body["failedBlocks"]))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)}},
    ]
    if body["message"]:
        blocks.append(
            {"type": "context", "elements": [{"type": "plain_text", "text": body["message"]}]}
        )
    return {"text": text, "blocks": blocks}
