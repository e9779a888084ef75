"""An operator started while the API server is down waits for it (issue 16 item 6).

The API server is a closed local port at first, then an aiohttp server answering
/version on that port: the wait logs a line per try and returns once it answers.
No cluster configured at all stays a clear, immediate failure.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from kubernetes_asyncio import client

from hack.operator_process import free_port, runwright_executable
from runwright.cli import operator as operator_cli

VERSION = {
    "major": "1",
    "minor": "31",
    "gitVersion": "v1.31.0",
    "gitCommit": "x",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22",
    "compiler": "gc",
    "platform": "linux/amd64",
}


async def version(_request: web.Request) -> web.Response:
    return web.json_response(VERSION)


def api_client(port: int) -> client.ApiClient:
    configuration = client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    return client.ApiClient(configuration)


class Tries(logging.Handler):
    """Counts the wait's log lines, and lets the test await the n-th one."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.logged = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.logged.set()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(20):
            while len(self.lines) < count:
                self.logged.clear()
                await self.logged.wait()


async def test_the_operator_waits_for_the_api_server_then_proceeds() -> None:
    port = free_port()
    api = api_client(port)
    tries = Tries()
    operator_cli.log.addHandler(tries)
    runner: web.AppRunner | None = None
    try:
        waiting = asyncio.create_task(
            operator_cli.wait_for_api_server(api, backoff=(0.01, 0.05), try_seconds=5)
        )
        await tries.until(3)  # three failed tries: no exit, still waiting
        assert not waiting.done()
        assert f"waiting for the API server at http://127.0.0.1:{port}: " in tries.lines[0]
        assert tries.lines[0].endswith("retrying in 0.01s")
        assert tries.lines[1].endswith("retrying in 0.02s")

        app = web.Application()
        app.router.add_get("/version", version)
        app.router.add_get("/version/", version)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        async with asyncio.timeout(20):
            await waiting  # returns (no exception) once the server answers
        failed = len(tries.lines)
        await operator_cli.wait_for_api_server(api, backoff=(0.01, 0.05), try_seconds=5)
        assert len(tries.lines) == failed  # an answering server: no wait, no line
    finally:
        operator_cli.log.removeHandler(tries)
        await api.close()
        if runner is not None:
            await runner.cleanup()


def test_no_cluster_configured_fails_at_once(tmp_path: Path) -> None:
    env = {
        "KUBECONFIG": str(tmp_path / "absent"),
        "HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [str(runwright_executable()), "operator", "--health-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "no cluster configured" in done.stderr


@pytest.fixture(autouse=True)
def _quiet_kubernetes_client() -> None:
    logging.getLogger("kubernetes_asyncio").setLevel(logging.ERROR)
