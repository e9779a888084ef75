"""A run failed StatusTooLarge notifies its Failed end, at most once.

The write that fails the run drops its frozen Pipeline (the source of its targets),
so the delivery's intent is recorded in that very write (Sending) and the operator
makes the attempts right after it, retries included; it never writes a Pending
delivery that a later reconcile could not resolve (controller/notifications.py).
Against the local HTTP receiver, through the run controller with a fake API server
that refuses the run's status as too large.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from runwright.controller.config import OperatorConfig
from runwright.controller.runs import RunController
from runwright.engine.notifications import Policy
from runwright.engine.plan import AttemptState, Observation
from tests.receiver import receiver
from tests.unit.test_run_controller import T0, FakeExecutor, FakeKube, add_run, pipeline_body

NOTIFY = [
    {"on": ["Succeeded", "Failed"], "webhook": {"urlSecretRef": {"name": "hooks", "key": "url"}}}
]


class RefusingKube(FakeKube):
    """Refuses a run's status write as too large once `refuse` is set, unless it is the
    small one that fails the run (its frozen Pipeline dropped) or notifications only."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url
        self.refuse = False

    async def patch_status(  # type: ignore[override]
        self, plural: str, ns: str, name: str, status: Mapping[str, Any]
    ) -> str:
        small = status.get("pipelineSpec", "absent") is None or set(status) == {"notifications"}
        if plural == "pipelineruns" and self.refuse and not small:
            raise ApiException(status=413, reason="Request Entity Too Large")
        await super().patch_status(plural, ns, name, status)
        return str(len(self.statuses))

    async def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        return self.url.encode() if (name, key) == ("hooks", "url") else None


async def fail_too_large(answers: list[int]) -> tuple[RefusingKube, list[Any], RunController]:
    """Start a run, then have its next status write (its end) refused as too large."""
    with receiver(answers) as r:
        kube, executor = RefusingKube(r.url()), FakeExecutor()
        controller = RunController(
            kube,  # type: ignore[arg-type]
            executor,  # type: ignore[arg-type]
            OperatorConfig(status_delay=0),
            clock=lambda: T0,
        )
        assert controller.reconciler.notifier is not None
        controller.reconciler.notifier.policy = Policy(backoff_seconds=0.01)
        controller.pipeline_event("ADDED", pipeline_body(notifications=NOTIFY))
        worker = add_run(controller, "r1", T0)
        await controller.reconcile(worker)
        assert kube.statuses[0][2]["phase"] == "Running"
        executor.state[("ns", "r1")]["a"] = Observation(
            1, AttemptState.SUCCEEDED, finished_at=T0 + timedelta(seconds=1)
        )
        kube.refuse = True
        kube.statuses.clear()
        await controller.reconcile(worker)
        await controller.reconciler.notifier.close()
        return kube, [x.json() for x in r.received], controller


def run_writes(kube: RefusingKube) -> list[dict[str, Any]]:
    return [status for plural, _, status in kube.statuses if plural == "pipelineruns"]


async def test_the_failed_end_is_sent_once_naming_the_reason() -> None:
    kube, received, controller = await fail_too_large([])
    assert [(m["event"], m["phase"], m["reason"]) for m in received] == [
        ("Failed", "Failed", "StatusTooLarge")
    ]
    assert "too large" in received[0]["message"]
    failing, outcome = run_writes(kube)
    # The intent went in the write that failed the run (never the refused Succeeded).
    assert failing["phase"] == "Failed" and failing["reason"] == "StatusTooLarge"
    assert [(e["event"], e["state"], e["attempts"]) for e in failing["notifications"]] == [
        ("Failed", "Sending", 1)
    ]
    assert [(e["event"], e["state"]) for e in outcome["notifications"]] == [("Failed", "Sent")]
    assert ("r1", "NotificationSent") in kube.events
    assert controller.states[("ns", "r1")].phase == "Failed"


async def test_a_retry_is_written_sending_before_it_is_made_never_pending() -> None:
    kube, received, _ = await fail_too_large([503])
    assert [m["event"] for m in received] == ["Failed", "Failed"]
    states = [
        (e["state"], e["attempts"]) for w in run_writes(kube) for e in w.get("notifications", [])
    ]
    assert states == [("Sending", 1), ("Sending", 2), ("Sent", 2)]
    assert [r for _, r in kube.events].count("NotificationFailed") == 1
