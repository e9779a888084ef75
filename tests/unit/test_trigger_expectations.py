"""The trigger controller expects each run it creates before the create is sent.

A watch event that beats the create's answer is then not lost, a second plan before
the watch delivers the run sees it active (an AlwaysOn trigger makes one run, not
two), and a create the API server refuses is not expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.controller.config import OperatorConfig
from runwright.controller.runs import RunController
from runwright.controller.triggers import TriggerController

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
KEY = ("ns", "always")


class FakeKube:
    """Records creates, and whether each run was expected when its create was sent."""

    def __init__(self, controller: list[TriggerController]) -> None:
        self.controller = controller
        self.created: list[str] = []
        self.expected_when_sent: list[bool] = []
        self.refuse: ApiException | None = None

    async def create(self, plural: str, ns: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.expected_when_sent.append((ns, name) in self.controller[0].expected)
        if self.refuse is not None:
            raise self.refuse
        self.created.append(name)
        return dict(body)

    async def patch_status(self, *args: Any) -> None:
        pass

    async def event(self, *args: Any) -> None:
        pass


def trigger_body() -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {
            "name": "always",
            "namespace": "ns",
            "uid": "u1",
            "generation": 1,
            "creationTimestamp": "2026-11-21T01:00:00Z",
        },
        "spec": {"pipelineRef": {"name": "etl"}, "type": "AlwaysOn"},
    }


@pytest.fixture
def setup() -> tuple[TriggerController, FakeKube]:
    holder: list[TriggerController] = []
    kube = FakeKube(holder)
    runs = RunController(kube, None, OperatorConfig(), clock=lambda: T0)  # type: ignore[arg-type]
    runs.model.put_pipeline({"metadata": {"name": "etl", "namespace": "ns"}})
    controller = TriggerController(kube, runs, clock=lambda: T0)  # type: ignore[arg-type]
    holder.append(controller)
    controller.bodies[KEY] = trigger_body()
    return controller, kube


async def test_a_run_is_expected_before_its_create_is_sent_and_counts_as_active(
    setup: tuple[TriggerController, FakeKube],
) -> None:
    controller, kube = setup
    await controller.reconcile(KEY)
    assert kube.expected_when_sent == [True]
    [name] = kube.created
    assert list(controller.expected.of(KEY)) == [("ns", name)]
    await controller.reconcile(KEY)  # the watch has not delivered the run yet
    assert kube.created == [name]


async def test_a_refused_create_is_not_expected(setup: tuple[TriggerController, FakeKube]) -> None:
    controller, kube = setup
    kube.refuse = ApiException(status=422, reason="Unprocessable Entity")
    with pytest.raises(ApiException):
        await controller.reconcile(KEY)
    assert kube.expected_when_sent == [True]
    assert controller.expected.of(KEY) == {}
