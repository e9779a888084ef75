"""A real local HTTP receiver for notification tests: an aiohttp server in a thread.

It records every request (path, headers, body) and answers each with the next status
of a script (then 200), so a test can say "fail twice, then accept" and read what
arrived. It runs in its own thread and event loop, so synchronous integration tests
(the operator is another process) and async unit tests can both use it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


class Receiver:
    """Records requests; answers the scripted statuses in order, then 200."""

    def __init__(self, answers: list[int] | None = None, *, hold: bool = False) -> None:
        self.answers = list(answers or [])
        #: Hold every answer until `release()`: a request in flight for as long as a test needs.
        self.hold = hold
        self.received: list[Received] = []
        self.port = 0
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._released = asyncio.Event()

    def url(self, path: str = "/hook") -> str:
        """The URL of `path` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self._arrived:
            self.received.append(Received(request.path, dict(request.headers), body))
            status = self.answers.pop(0) if self.answers else 200
            self._arrived.notify_all()
        if self.hold:
            await self._released.wait()
        return web.Response(status=status, text="ok" if status < 400 else "try later")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def release(self) -> None:
        """Answer the held requests (and every later one at once)."""
        self._loop.call_soon_threadsafe(self._released.set)

    def stop(self) -> None:
        """Stop listening and end the thread."""
        self.release()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Block until at least `count` requests arrived (or the timeout); all so far."""
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@contextmanager
def receiver(answers: list[int] | None = None, *, hold: bool = False) -> Iterator[Receiver]:
    """A started receiver, stopped afterwards."""
    server = Receiver(answers, hold=hold)
    server.start()
    try:
        yield server
    finally:
        server.stop()
