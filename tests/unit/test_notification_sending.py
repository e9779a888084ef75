"""What a notification says and how it is sent: the body, its signature, Slack's format,
the HTTP client's rules, against a real local HTTP receiver (tests/receiver.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from datetime import UTC, datetime

from runwright.api.notifications import NotificationEvent
from runwright.api.run import BlockPhase, BlockStatus, PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.engine.notification_payload import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    RunIdentity,
    body_bytes,
    delivery_id,
    payload,
    signature,
    slack_message,
    verify,
)
from runwright.engine.notifications import SecretRef, Send, Target
from runwright.notifier import EnvSecrets, Notifier, env_name
from runwright.webhook import Timeouts, WebhookClient
from tests.receiver import receiver

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
RUN = RunIdentity("data", "etl-x7k2p", "uid-1", "etl", "nightly")
STATUS = PipelineRunStatus(
    phase=RunPhase.FAILED,
    reason="BlockFailed",
    message="transform",
    started_at=T0,
    completed_at=T0.replace(minute=2),
    duration_seconds=120,
    blocks={
        "extract": BlockStatus(phase=BlockPhase.SUCCEEDED),
        "transform": BlockStatus(phase=BlockPhase.FAILED),
        "load": BlockStatus(phase=BlockPhase.UPSTREAM_FAILED),
    },
)


def test_the_webhook_body_describes_the_run_and_the_event() -> None:
    body = payload(RUN, STATUS, NotificationEvent.FAILED)
    assert body == {
        "event": "Failed",
        "run": {"namespace": "data", "name": "etl-x7k2p", "uid": "uid-1"},
        "pipeline": "etl",
        "trigger": "nightly",
        "phase": "Failed",
        "reason": "BlockFailed",
        "message": "transform",
        "failedBlocks": ["transform"],
        "executionDate": None,
        "startedAt": "2026-11-21T02:00:00Z",
        "completedAt": "2026-11-21T02:02:00Z",
        "durationSeconds": 120,
        "slaMissed": False,
        "timedOut": False,
    }


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    body = body_bytes(payload(RUN, STATUS, NotificationEvent.FAILED))
    header = signature(b"k3y", 1764208800, body)
    assert header.startswith("sha256=") and len(header) == len("sha256=") + 64
    assert verify(b"k3y", "1764208800", body, header)
    assert not verify(b"k3y", "1764208801", body, header)  # a replay with a new timestamp
    assert not verify(b"k3y", "1764208800", body + b" ", header)
    assert not verify(b"other", "1764208800", body, header)


def test_every_attempt_of_a_delivery_carries_the_same_delivery_id() -> None:
    one = delivery_id(RUN, NotificationEvent.FAILED, "webhook:hooks/url")
    assert one == delivery_id(RUN, NotificationEvent.FAILED, "webhook:hooks/url")
    assert one != delivery_id(RUN, NotificationEvent.SLA_MISSED, "webhook:hooks/url")


def test_the_slack_message_is_text_plus_blocks() -> None:
    message = slack_message(payload(RUN, STATUS, NotificationEvent.FAILED))
    assert message["text"] == ":x: Run data/etl-x7k2p of pipeline etl failed"
    assert message["blocks"][0]["text"]["text"] == message["text"]
    assert "*Failed blocks:* transform" in message["blocks"][1]["text"]["text"]


def test_local_mode_reads_secret_keys_from_environment_variables() -> None:
    assert env_name(SecretRef("slack-hook", "url")) == "RUNWRIGHT_SECRET_SLACK_HOOK_URL"
    secrets = EnvSecrets({"RUNWRIGHT_SECRET_HOOKS_URL": "http://x"})
    assert asyncio.run(secrets.read("", SecretRef("hooks", "url"))) == b"http://x"
    assert "RUNWRIGHT_SECRET_HOOKS_KEY" in secrets.missing("", SecretRef("hooks", "key"))


# ----- the client, against a real receiver ---------------------------------------------------


def post(url: str, body: bytes = b"{}") -> object:
    async def go() -> object:
        client = WebhookClient()
        try:
            return await client.post(url, body, {"Content-Type": "application/json"})
        finally:
            await client.close()

    return asyncio.run(go())


def test_a_2xx_answer_is_delivered() -> None:
    with receiver() as r:
        outcome = post(r.url(), b'{"a":1}')
        assert outcome.ok  # type: ignore[attr-defined]
        assert r.received[0].body == b'{"a":1}'


def test_5xx_and_429_are_retried_4xx_are_not_and_the_url_path_never_shows() -> None:
    with receiver([500, 429, 404]) as r:
        secret_path = "/services/T000/B000/s3cr3t"
        first, second, third = (post(r.url(secret_path)) for _ in range(3))
    assert first.retryable and second.retryable  # type: ignore[attr-defined]
    assert not third.retryable and "answered 404" in third.error  # type: ignore[attr-defined]
    for outcome in (first, second, third):
        assert "s3cr3t" not in outcome.error  # type: ignore[attr-defined]


def test_redirects_are_not_followed() -> None:
    with receiver([302]) as r:
        outcome = post(r.url())
        assert len(r.received) == 1
    assert not outcome.ok and not outcome.retryable  # type: ignore[attr-defined]
    assert "redirects are not followed" in outcome.error  # type: ignore[attr-defined]


def test_only_http_and_https_urls_are_posted_to() -> None:
    outcome = post("file:///etc/passwd")
    assert not outcome.ok and not outcome.retryable  # type: ignore[attr-defined]
    assert "not an http:// or https:// URL" in outcome.error  # type: ignore[attr-defined]
    assert "passwd" not in outcome.error  # type: ignore[attr-defined]


def test_a_refused_connection_is_retried() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = post(f"http://127.0.0.1:{port}/hook")
    assert not outcome.ok and outcome.retryable  # type: ignore[attr-defined]


def test_a_signed_webhook_request_verifies_with_the_key_from_its_secret() -> None:
    with receiver() as r:
        secrets = EnvSecrets(
            {"RUNWRIGHT_SECRET_HOOKS_URL": r.url(), "RUNWRIGHT_SECRET_HOOKS_HMAC": "k3y"}
        )
        target = Target("webhook", SecretRef("hooks", "url"), SecretRef("hooks", "hmac"))

        async def go() -> object:
            notifier = Notifier(secrets)
            try:
                return await notifier.send(RUN, STATUS, Send(NotificationEvent.FAILED, target, 1))
            finally:
                await notifier.close()

        assert asyncio.run(go()).ok  # type: ignore[attr-defined]
        (got,) = r.received
    assert verify(b"k3y", got.headers[TIMESTAMP_HEADER], got.body, got.headers[SIGNATURE_HEADER])
    assert got.headers[DELIVERY_HEADER] == delivery_id(RUN, NotificationEvent.FAILED, target.id)
    assert json.loads(got.body)["failedBlocks"] == ["transform"]


def test_no_answer_in_time_after_sending_is_not_retried() -> None:
    with receiver(hold=True) as r:

        async def go() -> object:
            client = WebhookClient(Timeouts(connect=1, read=0.5, total=2))
            try:
                return await client.post(r.url(), b"{}", {})
            finally:
                await client.close()

        outcome = asyncio.run(go())
        assert len(r.received) == 1  # it arrived: sending it again could double it
    assert not outcome.ok and not outcome.retryable  # type: ignore[attr-defined]
    assert "may have arrived" in outcome.error  # type: ignore[attr-defined]
