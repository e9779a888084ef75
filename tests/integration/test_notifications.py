"""Notifications against the real control plane and a real local HTTP receiver.

The receiver (tests/receiver.py) is an aiohttp server in this test process; the
operator (a subprocess) reads its URL and HMAC key from a Secret of the test's
namespace, as in production. Each test waits for what the run's status says
(`status.notifications`), then counts what the receiver got.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from runwright import labels
from runwright.engine.notification_payload import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)
from tests.receiver import Receiver, receiver

from .operator_fixture import Operator, Runs, block, pipeline, pod, status

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "s3cret-key"


def secret(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}


def webhook(*on: str, hmac: bool = True) -> dict[str, Any]:
    hook: dict[str, Any] = {"urlSecretRef": {"name": "hooks", "key": "webhook"}}
    if hmac:
        hook["hmacSecretRef"] = {"name": "hooks", "key": "hmac"}
    return {"on": list(on), "webhook": hook}


def slack(*on: str) -> dict[str, Any]:
    return {"on": list(on), "slack": {"webhookSecretRef": {"name": "hooks", "key": "slack"}}}


def failing(name: str, *notifications: dict[str, Any]) -> dict[str, Any]:
    """A Pipeline whose one block fails at once, with these notifications."""
    return pipeline(name, [block("load", **pod(fail=True))], notifications=list(notifications))


def hooks(runs: Runs, r: Receiver) -> None:
    runs.apply(secret("hooks", webhook=r.url("/webhook"), slack=r.url("/slack"), hmac=KEY))


def deliveries(run: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = status(run).get("notifications") or []
    return found


def settled(run: dict[str, Any]) -> bool:
    found = deliveries(run)
    return bool(found) and all(d["state"] in ("Sent", "Failed") for d in found)


def test_a_failed_run_posts_exactly_one_signed_webhook(operator: Operator, runs: Runs) -> None:
    with receiver() as r:
        hooks(runs, r)
        runs.apply(failing("fails", webhook("Failed", "Succeeded")))
        runs.start("fails-1", "fails")
        run = runs.wait("fails-1", "its notification settled", settled)
        received = list(r.received)

    assert status(run)["phase"] == "Failed"
    (delivery,) = deliveries(run)
    assert delivery["event"] == "Failed" and delivery["state"] == "Sent"
    assert delivery["attempts"] == 1 and delivery["sentAt"]
    assert delivery["target"] == "webhook:hooks/webhook+hmac:hooks/hmac"
    (got,) = received
    assert verify(
        KEY.encode(), got.headers[TIMESTAMP_HEADER], got.body, got.headers[SIGNATURE_HEADER]
    )
    body = got.json()
    assert body["event"] == "Failed" and body["phase"] == "Failed"
    assert body["run"] == {
        "namespace": runs.ns,
        "name": "fails-1",
        "uid": run["metadata"]["uid"],
    }
    assert body["failedBlocks"] == ["load"] and body["pipeline"] == "fails"
    assert "NotificationSent" in runs.event_reasons("fails-1")


def test_a_receiver_failing_twice_gets_the_message_once_and_the_failures_show(
    operator: Operator, runs: Runs
) -> None:
    with receiver([500, 503]) as r:
        hooks(runs, r)
        runs.apply(failing("flaky", webhook("Failed")))
        runs.start("flaky-1", "flaky")
        run = runs.wait("flaky-1", "its notification settled", settled)
        received = list(r.received)

    (delivery,) = deliveries(run)
    assert (delivery["state"], delivery["attempts"]) == ("Sent", 3)
    assert len(received) == 3  # two refused, one accepted: delivered once
    assert len({got.headers[DELIVERY_HEADER] for got in received}) == 1
    # The two failed attempts are one Warning Event, its series counting both.
    (warning,) = [e for e in runs.events("flaky-1") if e["reason"] == "NotificationFailed"]
    assert warning["type"] == "Warning"
    assert (warning.get("series") or {}).get("count") == 2, warning
    note = warning.get("note") or warning.get("message") or ""
    assert "answered 50" in note and "retrying" in note
    text = operator.metrics()

    def count(result: str) -> float:
        pattern = (
            r"runwright_notifications_total\{[^}]*namespace=\"" + re.escape(runs.ns)
            + r"\"[^}]*result=\"" + result + r"\"[^}]*\} (\S+)"
        )  # fmt: skip
        return sum(float(v) for v in re.findall(pattern, text))

    assert (count("retried"), count("sent"), count("failed")) == (2, 1, 0)


def test_a_run_past_its_sla_notifies_while_it_still_runs(operator: Operator, runs: Runs) -> None:
    with receiver() as r:
        hooks(runs, r)
        slow = pipeline("slow", [block("load", **pod(duration="20s"))], slaSeconds=1)
        runs.apply({**slow, "spec": {**slow["spec"], "notifications": [webhook("SLAMissed")]}})
        runs.start("slow-1", "slow")
        run = runs.wait("slow-1", "its SLA notification settled", settled)
        (got,) = r.received
    assert status(run)["phase"] == "Running" and status(run)["slaMissed"] is True
    body = got.json()
    assert body["event"] == "SLAMissed" and body["phase"] == "Running"
    assert body["completedAt"] is None


def test_an_operator_killed_after_the_run_finished_sends_no_second_post(
    operator: Operator, runs: Runs
) -> None:
    with receiver() as r:
        hooks(runs, r)
        runs.apply(failing("once", webhook("Failed")))
        runs.start("once-1", "once")
        runs.wait("once-1", "its notification settled", settled)
        operator.restart()  # kill -9, then a fresh operator
        # A second run, notified by the new operator, proves it has caught up.
        runs.start("once-2", "once")
        runs.wait("once-2", "its notification settled", settled)
        names = [got.json()["run"]["name"] for got in r.received]
    assert sorted(names) == ["once-1", "once-2"]


def test_an_attempt_in_flight_when_the_operator_dies_is_never_sent_again(
    operator: Operator, runs: Runs
) -> None:
    with receiver(hold=True) as r:
        hooks(runs, r)
        runs.apply(failing("inflight", webhook("Failed")))
        runs.start("inflight-1", "inflight")
        assert len(r.wait_for(1, timeout=90)) == 1  # the POST arrived; its answer is held
        operator.kill()
        run = runs.get("inflight-1")
        assert [d["state"] for d in deliveries(run)] == ["Sending"]
        r.release()
        operator.start()
        run = runs.wait("inflight-1", "its notification settled", settled)
        received = list(r.received)
    (delivery,) = deliveries(run)
    assert delivery["state"] == "Failed" and "interrupted" in delivery["lastError"]
    assert len(received) == 1
    assert "NotificationFailed" in runs.event_reasons("inflight-1")


def test_a_retry_waiting_when_the_operator_dies_is_made_by_the_next_one(
    operator: Operator, runs: Runs
) -> None:
    with receiver([500]) as r:
        hooks(runs, r)
        runs.apply(failing("resume", webhook("Failed")))
        runs.start("resume-1", "resume")
        runs.wait(
            "resume-1",
            "its first attempt failed",
            lambda b: [d["state"] for d in deliveries(b)] == ["Pending"],
        )
        operator.restart()  # kill -9 during the backoff, then a fresh operator
        run = runs.wait("resume-1", "its notification settled", settled)
        count = len(r.received)
    (delivery,) = deliveries(run)
    assert (delivery["state"], delivery["attempts"]) == ("Sent", 2)
    assert count == 2


def test_trigger_notifications_add_to_the_pipelines_and_a_shared_target_hears_once(
    operator: Operator, runs: Runs
) -> None:
    with receiver() as r:
        hooks(runs, r)
        runs.apply(failing("nightly", webhook("Failed")))
        runs.apply(
            {
                "apiVersion": labels.API_VERSION,
                "kind": "Trigger",
                "metadata": {"name": "now"},
                "spec": {
                    "pipelineRef": {"name": "nightly"},
                    "type": "Once",
                    "notifications": [webhook("Failed"), slack("Failed")],
                },
            }
        )

        def made(_: Any) -> str | None:
            out = runs.cluster.kubectl(
                "get", "plr", "-n", runs.ns, "-l", f"{labels.TRIGGER}=now", "-o", "name"
            )
            return out.stdout.strip().rsplit("/", 1)[-1] or None

        name = runs.cluster.wait_for("a run of the trigger", lambda: made(None), 90)
        run = runs.wait(name, "its notifications settled", settled)
        got = {req.path: req for req in r.received}
        count = len(r.received)

    assert count == 2 and set(got) == {"/webhook", "/slack"}
    assert sorted(d["target"] for d in deliveries(run)) == [
        "slack:hooks/slack",
        "webhook:hooks/webhook+hmac:hooks/hmac",
    ]
    message = got["/slack"].json()
    assert set(message) == {"text", "blocks"}
    assert f"Run {runs.ns}/{name} of pipeline nightly failed" in message["text"]
    assert got["/webhook"].json()["trigger"] == "now"


@pytest.mark.operator_args("--executor", "local")  # the example's commands really run
def test_the_notify_on_failure_example_tells_its_webhook_and_slack(
    operator: Operator, runs: Runs
) -> None:
    example = ROOT / "examples" / "notify-on-failure.yaml"
    shipped = yaml.safe_load((ROOT / "examples" / "secrets" / "notify-on-failure.yaml").read_text())
    with receiver() as r:
        # The example's Secret, with its URLs pointing at the receiver.
        shipped["stringData"]["webhook-url"] = r.url("/webhook")
        shipped["stringData"]["slack-url"] = r.url("/slack")
        runs.apply(shipped)
        runs.cluster.kubectl("apply", "-n", runs.ns, "-f", str(example))
        runs.start("example-1", "notify-on-failure")
        run = runs.wait("example-1", "its notifications settled", settled)
        got = {req.path: req for req in r.received}
        count = len(r.received)
    assert status(run)["phase"] == "Failed"
    assert count == 2
    hook = got["/webhook"]
    key = shipped["stringData"]["hmac-key"].encode()
    assert verify(key, hook.headers[TIMESTAMP_HEADER], hook.body, hook.headers[SIGNATURE_HEADER])
    assert hook.json()["failedBlocks"] == ["load"]
    assert "failed" in got["/slack"].json()["text"]


BOTH = {**webhook("Failed"), **slack("Failed")}
REFUSED = {
    "no-target": ({"on": ["Failed"]}, "exactly one of webhook or slack"),
    "both-targets": (BOTH, "exactly one of webhook or slack"),
    "empty-on": ({**slack("Failed"), "on": []}, "spec.notifications[0].on"),
    "unknown-event": (slack("Exploded"), 'Unsupported value: "Exploded"'),
    "eleven": (None, "spec.notifications: Too many"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_kubectl_apply_refuses_a_bad_notification(cluster: Any, ns: str, case: str) -> None:
    entry, words = REFUSED[case]
    notifications = [slack("Failed")] * 11 if entry is None else [entry]
    manifest = failing("bad", *notifications)
    res = cluster.apply(manifest, ns, check=False)
    assert not res.ok, f"{case}: accepted"
    assert words in res.stderr, res.stderr
