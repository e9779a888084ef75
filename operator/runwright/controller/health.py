"""The operator's HTTP endpoints on :8080: /healthz (liveness), /readyz and /metrics.

/readyz is 503 while the operator is still catching up after a start (it has not
yet seen every object that existed, so it plans no run): a restart with thousands of
runs shows as not ready instead of as a silent stall.

Liveness is backed by a real round trip to the API server.

An operator whose API connection is dead cannot make progress, so liveness asks the
API server for its version (cached briefly so probes stay cheap) rather than
answering 200 from a process that merely exists.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from aiohttp import web
from kubernetes_asyncio import client
from prometheus_client import CONTENT_TYPE_LATEST

from runwright.metrics import METRICS

CACHE_SECONDS = 5.0
TIMEOUT_SECONDS = 5.0


class Health:
    """Serves /healthz; 200 while the API server answers, 503 with the reason otherwise."""

    def __init__(
        self,
        api: client.ApiClient,
        host: str,
        port: int,
        catching_up: Callable[[], Mapping[str, int | None]] = dict,
    ) -> None:
        self.version_api = client.VersionApi(api)
        #: Per kind still being caught up with: objects left to see (None: not listed yet).
        self.catching_up = catching_up
        self.host, self.port = host, port
        self.checked_at = 0.0
        self.error: str | None = "not checked yet"
        self.runner: web.AppRunner | None = None
        self.role: Callable[[], str] = lambda: "leading"
        """/readyz's answer: `leading` or `standby` (leader election)."""

    async def check(self) -> str | None:
        """None when healthy, else why not; at most one API call per CACHE_SECONDS."""
        if time.monotonic() - self.checked_at < CACHE_SECONDS:
            return self.error
        try:
            await asyncio.wait_for(self.version_api.get_code(), TIMEOUT_SECONDS)
            self.error = None
        except Exception as exc:
            self.error = f"the API server did not answer: {type(exc).__name__}: {exc}"
        self.checked_at = time.monotonic()
        return self.error

    async def healthz(self, _request: web.Request) -> web.Response:
        error = await self.check()
        if error is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=error + "\n")

    async def readyz(self, _request: web.Request) -> web.Response:
        """200 once caught up and the API server answers; 503 saying what is left otherwise."""
        left = self.catching_up()
        if left:
            parts = [
                f"{kind}: {'listing' if n is None else f'{n} left to see'}"
                for kind, n in sorted(left.items())
            ]
            return web.Response(status=503, text="catching up (" + ", ".join(parts) + ")\n")
        error = await self.check()
        if error is None:
            # The role: a standby is ready too (it serves the API-trigger endpoint).
            return web.Response(text=self.role() + "\n")
        return web.Response(status=503, text=error + "\n")

    async def metrics(self, _request: web.Request) -> web.Response:
        body = METRICS.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> None:
        """Listen on host:port."""
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/readyz", self.readyz)
        app.router.add_get("/metrics", self.metrics)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()
