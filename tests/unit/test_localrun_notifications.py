"""`runwright run` sends notifications too: the same engine, Secret keys from the environment,
delivered to a real local HTTP receiver (tests/receiver.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runwright.api.notifications import NotificationEvent, NotificationState
from runwright.api.pipeline import Pipeline
from runwright.api.run import PipelineRun
from runwright.api.trigger import RunPhase
from runwright.engine.notification_payload import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from runwright.engine.notifications import Policy
from runwright.engine.plan import Event
from runwright.engine.reasons import EventReason
from runwright.executors.localrun import run_pipeline
from runwright.manifests import load_files
from runwright.notifier import EnvSecrets, Notifier
from tests.receiver import Receiver, receiver

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "notify-on-failure.yaml"
#: Fast retries: the rules are the same, the test need not wait seconds.
FAST = Policy(attempts=3, backoff_seconds=0.05)


def example() -> Pipeline:
    loaded = load_files([EXAMPLE])
    assert loaded.ok, [str(p) for p in loaded.problems]
    resource = loaded.manifests[0].resource
    assert isinstance(resource, Pipeline)
    return resource


def secrets(r: Receiver) -> EnvSecrets:
    return EnvSecrets(
        {
            "RUNWRIGHT_SECRET_RUNWRIGHT_HOOKS_WEBHOOK_URL": r.url("/webhook"),
            "RUNWRIGHT_SECRET_RUNWRIGHT_HOOKS_HMAC_KEY": "change-me",
            "RUNWRIGHT_SECRET_RUNWRIGHT_HOOKS_SLACK_URL": r.url("/slack"),
        }
    )


async def run(tmp_path: Path, notifier: Notifier, events: list[Event]) -> PipelineRun:
    result = await asyncio.wait_for(
        run_pipeline(
            example(),
            workdir=tmp_path,
            handle_signals=False,
            notifier=notifier,
            on_update=lambda _run, new: events.extend(new),
        ),
        timeout=60,
    )
    assert result.status is not None
    return result


async def test_the_example_fails_and_posts_one_signed_webhook_and_one_slack_message(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    with receiver() as r:
        result = await run(tmp_path, Notifier(secrets(r)), events)
        got = {req.path: req for req in r.received}
        assert len(r.received) == 2
    assert result.status is not None and result.status.phase == RunPhase.FAILED
    hook = got["/webhook"]
    assert verify(
        b"change-me", hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER]
    )
    body = hook.json()
    assert body["event"] == "Failed" and body["failedBlocks"] == ["load"]
    assert body["pipeline"] == "notify-on-failure" and body["run"]["name"] == result.metadata.name
    slack = got["/slack"].json()
    assert set(slack) == {"text", "blocks"} and "failed" in slack["text"]
    assert SIGNATURE_HEADER not in got["/slack"].headers
    assert [(n.event, n.state, n.attempts) for n in result.status.notifications] == [
        (NotificationEvent.FAILED, NotificationState.SENT, 1),
        (NotificationEvent.FAILED, NotificationState.SENT, 1),
    ]
    assert sum(e.reason == EventReason.NOTIFICATION_SENT for e in events) == 2


async def test_a_receiver_failing_twice_gets_the_message_once_on_the_third_attempt(
    tmp_path: Path,
) -> None:
    events: list[Event] = []
    with receiver([503, 500]) as r:
        # Only the webhook answers here; Slack's URL is left unset (given up at once).
        env = secrets(r)
        del env.environ["RUNWRIGHT_SECRET_RUNWRIGHT_HOOKS_SLACK_URL"]
        result = await run(tmp_path, Notifier(env, policy=FAST), events)
        received = list(r.received)
    assert [req.path for req in received] == ["/webhook"] * 3
    assert result.status is not None
    webhook, slack = result.status.notifications
    assert (webhook.state, webhook.attempts) == (NotificationState.SENT, 3)
    assert slack.state == NotificationState.FAILED
    assert "RUNWRIGHT_SECRET_RUNWRIGHT_HOOKS_SLACK_URL" in slack.last_error
    failures = [e for e in events if e.reason == EventReason.NOTIFICATION_FAILED]
    assert len(failures) == 3 and all(e.type == "Warning" for e in failures)
    assert sum("answered 50" in e.message and "retrying" in e.message for e in failures) == 2
