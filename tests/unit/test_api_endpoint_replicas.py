"""The API-trigger endpoint served by two replicas at once: the API server arbitrates.

Two `ApiEndpoint`s share one fake API server that keeps PipelineRuns the way the real
one does for what matters here: a create of an existing name is refused
(AlreadyExists, which `Kube.create` turns into None), and a list shows what was
created before it. Each request yields to the event loop, so two calls interleave as
two processes' calls do.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

import runwright.controller  # noqa: F401  (before runwright.http: the package imports it)
from runwright import labels
from runwright.http import ApiEndpoint
from tests.unit.test_api_endpoint import AUTH, URL, FakeTriggers, trigger


class ApiServer:
    """One namespace's Trigger, token Secret and PipelineRuns."""

    def __init__(self, policy: str) -> None:
        self.trigger = trigger(concurrencyPolicy=policy)
        self.runs: dict[str, dict[str, Any]] = {}
        self.creates = 0

    async def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        return b"s3cret" if (name, key) == ("hook-token", "token") else None

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        return self.trigger if (plural, name) == ("triggers", "hook") else None

    async def list(self, plural: str, namespace: str, selector: str) -> list[dict[str, Any]]:
        await asyncio.sleep(0)
        assert selector == f"{labels.TRIGGER}=hook"
        return [dict(r) for r in self.runs.values()]

    async def create(
        self, plural: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        await asyncio.sleep(0)
        self.creates += 1
        name = body["metadata"]["name"]
        if name in self.runs:
            return None  # 409 AlreadyExists
        self.runs[name] = {"metadata": dict(body["metadata"]), "spec": dict(body["spec"])}
        return self.runs[name]

    async def patch_spec(
        self, plural: str, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> None:
        await asyncio.sleep(0)
        if name in self.runs:
            self.runs[name]["spec"].update(spec)

    def uncancelled(self) -> builtins.list[str]:
        return [n for n, r in self.runs.items() if not r["spec"].get("cancel")]


async def post_through_two_replicas(
    server: ApiServer, leader: FakeTriggers | None = None
) -> tuple[int, int]:
    """One POST through each replica, at once; the first replica leads when `leader`."""
    first = ApiEndpoint(server, leader, "127.0.0.1", 0)  # type: ignore[arg-type]
    second = ApiEndpoint(server, None, "127.0.0.1", 0)  # type: ignore[arg-type]
    async with (
        TestClient(TestServer(first.app())) as a,
        TestClient(TestServer(second.app())) as b,
    ):
        one, two = await asyncio.gather(
            a.post(URL, json={}, headers=AUTH), b.post(URL, json={}, headers=AUTH)
        )
        return one.status, two.status


async def test_forbid_through_two_standbys_at_once_creates_one_run() -> None:
    server = ApiServer("Forbid")
    statuses = await post_through_two_replicas(server)
    assert sorted(statuses) == [201, 409]
    assert list(server.runs) == ["hook-api-1"]


async def test_forbid_through_the_leader_and_the_standby_at_once_creates_one_run() -> None:
    """The leader decides on its watch, which has not shown the standby's run yet."""
    server = ApiServer("Forbid")
    leader = FakeTriggers()
    leader.bodies[("ns", "hook")] = server.trigger
    statuses = await post_through_two_replicas(server, leader)
    assert sorted(statuses) == [201, 409]
    assert len(server.runs) == 1


async def test_forbid_refuses_while_a_run_another_replica_created_is_active() -> None:
    server = ApiServer("Forbid")
    await post_through_two_replicas(server)
    statuses = await post_through_two_replicas(server)
    assert statuses == (409, 409)
    assert len(server.runs) == 1


async def test_a_finished_run_lets_the_next_call_create_the_next_name() -> None:
    server = ApiServer("Forbid")
    await post_through_two_replicas(server)
    server.runs["hook-api-1"]["status"] = {"phase": "Succeeded"}
    statuses = await post_through_two_replicas(server)
    assert sorted(statuses) == [201, 409]
    assert sorted(server.runs) == ["hook-api-1", "hook-api-2"]


async def test_replace_through_two_replicas_at_once_leaves_one_run_uncancelled() -> None:
    server = ApiServer("Replace")
    statuses = await post_through_two_replicas(server)
    assert statuses == (201, 201)
    assert len(server.runs) == 2
    assert len(server.uncancelled()) == 1


async def test_allow_through_two_replicas_at_once_creates_two_runs() -> None:
    server = ApiServer("Allow")
    statuses = await post_through_two_replicas(server)
    assert statuses == (201, 201)
    assert sorted(server.runs) == ["hook-api-1", "hook-api-2"]


async def test_a_new_leader_whose_watch_is_behind_neither_404s_nor_refuses_wrongly() -> None:
    """Just after a takeover the leader's watch has shown neither the Trigger nor its
    finished run hook-api-1: the call reads the Trigger from the API server, and the
    name its stale view picks (taken) makes it look again rather than answer 409."""
    server = ApiServer("Forbid")
    server.runs["hook-api-1"] = {
        "metadata": {"name": "hook-api-1", "labels": {labels.TRIGGER: "hook"}},
        "spec": {},
        "status": {"phase": "Succeeded"},
    }
    behind = FakeTriggers()  # knows nothing yet
    endpoint = ApiEndpoint(server, behind, "127.0.0.1", 0)  # type: ignore[arg-type]
    async with TestClient(TestServer(endpoint.app())) as client:
        response = await client.post(URL, json={}, headers=AUTH)
        assert response.status == 201, await response.text()
        assert await response.json() == {"name": "hook-api-2"}
    assert sorted(server.runs) == ["hook-api-1", "hook-api-2"]
