"""/readyz says "catching up" with what is left, until every existing object was seen."""

from __future__ import annotations

import time

from kubernetes_asyncio import client

from runwright.controller.health import Health


async def test_readyz_is_503_with_what_is_left_then_200() -> None:
    left: dict[str, int | None] = {"pipelineruns": 1200, "jobs": None}
    api = client.ApiClient()
    health = Health(api, "127.0.0.1", 0, lambda: left)
    health.checked_at, health.error = time.monotonic(), None  # the API server answered
    answer = await health.readyz(None)  # type: ignore[arg-type]
    assert answer.status == 503
    assert answer.text == "catching up (jobs: listing, pipelineruns: 1200 left to see)\n"
    left.clear()
    answer = await health.readyz(None)  # type: ignore[arg-type]
    assert (answer.status, answer.text) == (200, "leading\n")  # the role: leader election
    # Liveness does not wait for catching up.
    left["pods"] = 5
    assert (await health.healthz(None)).status == 200  # type: ignore[arg-type]
    await api.close()
