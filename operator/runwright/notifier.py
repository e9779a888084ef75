"""Carries out a notification attempt: read the Secrets, build the message, POST it.

The decisions (what to send, when, what status records) are the engine's
(engine/notifications.py); this is the I/O around one `Send`. Both places that run the
reconcile use it: the operator reads Secrets from the API server
(controller/notifications.py), `runwright run` from environment variables
(`EnvSecrets`), because a machine without a cluster has no Secrets.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol

from runwright.api.notifications import Notification
from runwright.api.run import PipelineRunStatus
from runwright.engine.notification_payload import (
    RunIdentity,
    body_bytes,
    delivery_id,
    headers,
    payload,
    slack_message,
)
from runwright.engine.notifications import Outcome, Policy, SecretRef, Send
from runwright.webhook import Timeouts, WebhookClient

log = logging.getLogger("runwright.notifications")

#: The User-Agent of every notification request.
USER_AGENT = "runwright-notifier"


class SecretSource(Protocol):
    """Where a run's Secret keys come from."""

    #: A missing key may appear later (a Secret created after the Pipeline): retry then.
    retry_missing: bool

    async def read(self, namespace: str, ref: SecretRef) -> bytes | None:
        """The key's value, or None when it (or its Secret) is missing or unreadable."""

    def missing(self, namespace: str, ref: SecretRef) -> str:
        """The error for a missing key: what is missing and how to provide it."""


def env_name(ref: SecretRef) -> str:
    """`RUNWRIGHT_SECRET_<NAME>_<KEY>`: upper case, every other character an underscore."""
    return "RUNWRIGHT_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{ref.name}_{ref.key}".upper())


class EnvSecrets:
    """Local mode's Secrets: `RUNWRIGHT_SECRET_<NAME>_<KEY>` environment variables."""

    retry_missing = False

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self.environ = environ if environ is not None else dict(os.environ)

    async def read(self, namespace: str, ref: SecretRef) -> bytes | None:
        value = self.environ.get(env_name(ref))
        return value.encode() if value is not None else None

    def missing(self, namespace: str, ref: SecretRef) -> str:
        return f"Secret key {ref} is not set: in local mode set the environment variable {env_name(ref)}"


class Notifier:
    """Sends one attempt of a delivery; knows the Secrets, the client and the policy."""

    def __init__(
        self,
        secrets: SecretSource,
        *,
        policy: Policy | None = None,
        timeouts: Timeouts | None = None,
        trigger_notifications: Callable[[str, str], Sequence[Notification]] = lambda _ns, _n: (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.secrets = secrets
        self.policy = policy or Policy()
        self.client = WebhookClient(timeouts)
        #: A Trigger's notifications, by (namespace, name); empty when it has none or is gone.
        self.trigger_notifications = trigger_notifications
        self.clock = clock

    async def send(self, run: RunIdentity, status: PipelineRunStatus, send: Send) -> Outcome:
        """One attempt. Never raises: a fault before the POST is a retryable failure (the
        message certainly did not leave), anything else the outcome says."""
        target = send.target
        values: list[bytes] = []
        for ref in (target.url, target.hmac):
            if ref is None:
                continue
            try:
                value = await self.secrets.read(run.namespace, ref)
            except Exception as exc:  # the API server's fault, not the delivery's
                log.warning("reading Secret key %s/%s failed: %s", run.namespace, ref, exc)
                return Outcome(ok=False, error=f"reading Secret key {ref}: {exc}", retryable=True)
            if value is None:
                return Outcome(
                    ok=False,
                    error=self.secrets.missing(run.namespace, ref),
                    retryable=self.secrets.retry_missing,
                )
            values.append(value)
        url, key = values[0], values[1] if len(values) > 1 else None
        message = payload(run, status, send.event)
        if target.kind == "slack":
            body = body_bytes(slack_message(message))
            head = {"Content-Type": "application/json"}
        else:
            body = body_bytes(message)
            stamp = int(self.clock().timestamp())
            head = headers(body, send.event, delivery_id(run, send.event, target.id), stamp, key)
        head["User-Agent"] = USER_AGENT
        try:
            text = url.decode()
        except UnicodeDecodeError:
            return Outcome(ok=False, error=f"Secret key {target.url} is not text")
        return await self.client.post(text, body, head)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self.client.close()
