"""The API-trigger endpoint: every answer API.md lists, and no run created on any error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.api.trigger import RunPhase
from runwright.controller.readmodel import ReadModel
from runwright.controller.runs import RunState
from runwright.engine.triggers import TriggerRun
from runwright.http import MAX_BODY, ApiEndpoint
from runwright.kube.expectations import Expectations

URL = "/v1/namespaces/ns/triggers/hook/runs"
T0 = datetime(2026, 11, 21, tzinfo=UTC)


class FakeKube:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.secret: bytes | None = b"s3cret\n"
        self.refuse: ApiException | None = None

    async def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        return self.secret if (name, key) == ("hook-token", "token") else None

    async def create(self, plural: str, ns: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if self.refuse is not None:
            raise self.refuse
        self.created.append(dict(body))
        return {"metadata": {"name": f"hook-{len(self.created):05d}"}}

    async def patch_spec(self, plural: str, ns: str, name: str, spec: Mapping[str, Any]) -> None:
        self.cancelled.append(name)

    async def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        return None  # the API server has no Trigger the watch has not shown


@dataclass
class FakeRuns:
    model: ReadModel = field(default_factory=ReadModel)

    @property
    def states(self) -> dict[tuple[str, str], RunState]:
        return self.model.runs


def no_expectations() -> Expectations[tuple[str, str], TriggerRun]:
    return Expectations(300.0)


@dataclass
class FakeTriggers:
    runs: FakeRuns = field(default_factory=FakeRuns)
    expected: Expectations[tuple[str, str], TriggerRun] = field(default_factory=no_expectations)

    @property
    def bodies(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self.runs.model.triggers


def trigger(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {"name": "hook", "namespace": "ns", "uid": "u1"},
        "spec": {
            "pipelineRef": {"name": "etl"},
            "type": "API",
            "api": {"tokenSecretRef": {"name": "hook-token", "key": "token"}},
            "variables": {"region": "eu", "date": "default"},
            **spec,
        },
    }


@pytest_asyncio.fixture(loop_scope="function")
async def setup() -> AsyncIterator[tuple[TestClient[Any, Any], FakeKube, FakeTriggers]]:
    kube, triggers = FakeKube(), FakeTriggers()
    triggers.bodies[("ns", "hook")] = trigger()
    endpoint = ApiEndpoint(kube, triggers, "127.0.0.1", 0)  # type: ignore[arg-type]
    client = TestClient(TestServer(endpoint.app()))
    await client.start_server()
    yield client, kube, triggers
    await client.close()


AUTH = {"Authorization": "Bearer s3cret"}


async def test_a_good_call_creates_one_run_with_the_posted_variables(setup: Any) -> None:
    client, kube, _ = setup
    response = await client.post(URL, json={"variables": {"date": "2026-11-21"}}, headers=AUTH)
    assert response.status == 201
    assert await response.json() == {"name": "hook-00001"}
    [run] = kube.created
    assert run["spec"]["variables"] == {"region": "eu", "date": "2026-11-21"}
    assert run["spec"]["triggeredBy"] == "API"
    assert run["metadata"]["ownerReferences"][0]["kind"] == "Trigger"
    assert run["metadata"]["labels"][labels.TRIGGER] == "hook"


async def test_an_empty_body_is_a_run_with_the_trigger_variables(setup: Any) -> None:
    client, kube, _ = setup
    response = await client.post(URL, headers=AUTH)
    assert response.status == 201
    assert kube.created[0]["spec"]["variables"] == {"region": "eu", "date": "default"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic s3cret"},
        {"Authorization": "Bearer"},
    ],
)
async def test_a_missing_or_wrong_token_is_401(setup: Any, headers: dict[str, str]) -> None:
    client, kube, _ = setup
    response = await client.post(URL, json={}, headers=headers)
    assert response.status == 401
    assert "error" in await response.json()
    assert kube.created == []


async def test_a_missing_secret_refuses_every_token(setup: Any) -> None:
    client, kube, _ = setup
    kube.secret = None
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 401
    assert kube.created == []


async def test_an_unknown_or_non_api_trigger_is_404(setup: Any) -> None:
    client, kube, triggers = setup
    response = await client.post("/v1/namespaces/ns/triggers/other/runs", headers=AUTH)
    assert response.status == 404
    triggers.bodies[("ns", "hook")] = trigger(type="AlwaysOn", api=None)
    response = await client.post(URL, headers=AUTH)
    assert response.status == 404
    assert kube.created == []


async def test_a_suspended_trigger_is_409(setup: Any) -> None:
    client, kube, triggers = setup
    triggers.bodies[("ns", "hook")] = trigger(suspend=True)
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 409
    assert "suspended" in (await response.json())["error"]
    assert kube.created == []


async def test_a_body_over_64_kib_is_413(setup: Any) -> None:
    client, kube, _ = setup
    big = b'{"variables": {"x": "' + b"a" * MAX_BODY + b'"}}'
    response = await client.post(URL, data=big, headers=AUTH)
    assert response.status == 413
    assert kube.created == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"variables": {"n": 3}}', "string values"),
        (b'{"vars": {}}', "unknown field"),
    ],
)
async def test_bad_json_is_400_naming_the_problem(setup: Any, body: bytes, words: str) -> None:
    client, kube, _ = setup
    response = await client.post(URL, data=body, headers=AUTH)
    assert response.status == 400
    assert words in (await response.json())["error"]
    assert kube.created == []


def active_run(triggers: FakeTriggers) -> None:
    triggers.runs.states[("ns", "hook-00000")] = RunState(
        pipeline="etl",
        execution_date=T0,
        created=T0,
        phase=RunPhase.RUNNING,
        completed_at=None,
        trigger="hook",
    )


async def test_forbid_refuses_while_a_run_is_active(setup: Any) -> None:
    client, kube, triggers = setup
    triggers.bodies[("ns", "hook")] = trigger(concurrencyPolicy="Forbid")
    active_run(triggers)
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 409
    assert "Forbid" in (await response.json())["error"]
    assert kube.created == []


async def test_replace_cancels_the_active_run_then_creates(setup: Any) -> None:
    client, kube, triggers = setup
    triggers.bodies[("ns", "hook")] = trigger(concurrencyPolicy="Replace")
    active_run(triggers)
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 201
    assert kube.cancelled == ["hook-00000"]
    assert len(kube.created) == 1


async def test_a_run_the_operator_may_not_create_is_a_clear_error_not_a_bare_500(
    setup: Any,
) -> None:
    client, kube, _ = setup
    denial = (
        'pipelineruns.runwright.dev is forbidden: User "system:serviceaccount:rw:runwright" '
        'cannot create resource "pipelineruns" in API group "runwright.dev" in the namespace "ns"'
    )
    kube.refuse = ApiException(status=403, reason="Forbidden")
    kube.refuse.body = json.dumps({"message": denial})
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 500
    error = (await response.json())["error"]
    assert "permission missing: create pipelineruns" in error
    assert kube.created == []


# ----- two calls at once ------------------------------------------------------------------


async def test_two_calls_at_once_under_forbid_create_exactly_one_run(setup: Any) -> None:
    """The watch has shown neither call's run when the other decides: the run created
    (or being created) by one call must still make the other a 409."""
    client, kube, triggers = setup
    triggers.bodies[("ns", "hook")] = trigger(concurrencyPolicy="Forbid")
    first, second = await asyncio.gather(
        client.post(URL, json={}, headers=AUTH), client.post(URL, json={}, headers=AUTH)
    )
    assert sorted([first.status, second.status]) == [201, 409]
    refused = first if first.status == 409 else second
    assert "Forbid" in (await refused.json())["error"]
    assert len(kube.created) == 1


async def test_a_run_the_trigger_controller_just_created_counts_under_forbid(setup: Any) -> None:
    client, kube, triggers = setup
    triggers.bodies[("ns", "hook")] = trigger(concurrencyPolicy="Forbid")
    triggers.expected.expect(
        ("ns", "hook-fired"),
        ("ns", "hook"),
        TriggerRun(name="hook-fired", phase=RunPhase.PENDING, created_at=T0),
    )
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 409
    assert "hook-fired" in (await response.json())["error"]
    assert kube.created == []


async def test_a_created_run_is_expected_until_the_watch_shows_it(setup: Any) -> None:
    client, _, triggers = setup
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 201
    [(key, run)] = triggers.expected.of(("ns", "hook")).items()
    assert key == ("ns", run.name) and run.name.startswith("hook-")


async def test_a_refused_create_is_not_expected(setup: Any) -> None:
    client, kube, triggers = setup
    triggers.bodies[("ns", "hook")] = trigger(concurrencyPolicy="Forbid")
    kube.refuse = ApiException(status=422, reason="Unprocessable Entity")
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 502
    assert triggers.expected.of(("ns", "hook")) == {}
    kube.refuse = None
    response = await client.post(URL, json={}, headers=AUTH)
    assert response.status == 201


class SlowKube(FakeKube):
    """Creates that answer only when the test says so, as a slow API server would."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.in_flight = asyncio.Event()
        self.sent: list[str] = []
        self.existing = {"hook-00000"}
        self.missed: list[str] = []

    async def create(self, plural: str, ns: str, body: Mapping[str, Any]) -> dict[str, Any]:
        name = body["metadata"].get("name") or body["metadata"]["generateName"]
        self.sent.append(name)
        self.in_flight.set()
        await self.answer.wait()
        self.existing.add(name)
        self.created.append(dict(body))
        return {"metadata": {"name": name}}

    async def patch_spec(self, plural: str, ns: str, name: str, spec: Mapping[str, Any]) -> None:
        # The real API server answers 404 for a run not created yet: the cancel is lost.
        (self.cancelled if name in self.existing else self.missed).append(name)


async def test_two_calls_at_once_under_replace_leave_one_run_uncancelled() -> None:
    kube, triggers = SlowKube(), FakeTriggers()
    triggers.bodies[("ns", "hook")] = trigger(concurrencyPolicy="Replace")
    active_run(triggers)
    endpoint = ApiEndpoint(kube, triggers, "127.0.0.1", 0)  # type: ignore[arg-type]
    async with TestClient(TestServer(endpoint.app())) as client:
        calls = asyncio.gather(
            client.post(URL, json={}, headers=AUTH), client.post(URL, json={}, headers=AUTH)
        )
        await kube.in_flight.wait()  # the first create is on its way
        kube.answer.set()
        first, second = await calls
    assert (first.status, second.status) == (201, 201)
    assert kube.missed == []
    [one, other] = kube.sent
    # The second call cancelled the run before it and the first call's run.
    assert kube.cancelled.count("hook-00000") == 2
    assert one in kube.cancelled and other not in kube.cancelled
