"""/readyz: 200 with the replica's role (a standby is ready: it serves the API-trigger
endpoint), 503 while the API server does not answer."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from kubernetes_asyncio.client import ApiClient, Configuration

from runwright.controller.health import Health


async def test_readyz_says_leading_or_standby_and_503_without_the_api_server() -> None:
    api = ApiClient(Configuration(host="http://127.0.0.1:1"))
    health = Health(api, "127.0.0.1", 0)
    answer: list[str | None] = [None]

    async def check() -> str | None:
        return answer[0]

    health.check = check  # type: ignore[method-assign]
    role = ["standby"]
    health.role = lambda: role[0]
    app = web.Application()
    app.router.add_get("/readyz", health.readyz)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/readyz")
        assert (response.status, await response.text()) == (200, "standby\n")
        role[0] = "leading"
        response = await client.get("/readyz")
        assert (response.status, await response.text()) == (200, "leading\n")
        answer[0] = "the API server did not answer: TimeoutError"
        response = await client.get("/readyz")
        assert response.status == 503
        assert "did not answer" in await response.text()
    await api.close()
