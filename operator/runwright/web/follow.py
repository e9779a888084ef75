"""Following an attempt's log while its pod runs: new lines as Server-Sent Events, as the user.

GET /api/runs/{namespace}/{name}/log/follow?block=B&attempt=N opens the pod's
log with `follow=true` and a watch of that one pod, both with the user's token
(RBAC decides: `get pods/log` and `watch pods`), and sends:

- `start` {pod}: once; the page clears its text (the tail follows as lines);
- `lines` {lines}: complete lines as the kubelet writes them;
- `end` {phase, reason, message}: the pod finished (`finished`), the kubelet
  closed the stream (`ended`), a bound was reached (`limit`), or Kubernetes
  refused (`refused`). The page then reads the final log once and stops.

A kubelet ends a followed log when the container exits, but not every one does
(kwok, the test cluster's kubelet, follows the file until the client leaves), so
the pod's phase, watched, is what ends the stream.

Bounds, so a page left open costs little: at most FOLLOW_BYTES per stream
(`limitBytes` for the API server too), FOLLOW_SECONDS per stream (the page can
follow again), and `Settings.log_followers` streams at once per identity
(429 beyond: close another page's log).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.web.actions import refusal
from runwright.web.api import LOG_TAIL_LINES, attempt_pod, kube
from runwright.web.auth import identity
from runwright.web.kubeapi import FINISHED_PHASES, Identity, UserKube
from runwright.web.sse import HEARTBEAT_SECONDS, frame

#: Bytes of log one stream sends at most (the tail included).
FOLLOW_BYTES = 8 * 1024 * 1024
#: Seconds one stream lasts at most; the page offers to follow again.
FOLLOW_SECONDS = 30 * 60
#: A line longer than this is sent in pieces (so a log without newlines stays bounded).
MAX_LINE_BYTES = 64 * 1024


class TooManyFollowers(Exception):
    """This identity already follows as many logs as it may."""


class Followers:
    """How many logs each identity follows at once; one more than `limit` is refused."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: Counter[str] = Counter()

    def count(self, key: str) -> int:
        """Streams `key` holds now."""
        return self._held[key]

    @contextlib.contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """One stream of `key` for the block's duration; TooManyFollowers when at the limit."""
        if self._held[key] >= self.limit:
            raise TooManyFollowers(
                f"this user already follows {self._held[key]} logs (at most {self.limit} at "
                "once, the server's --log-followers): close another page's log and retry"
            )
        self._held[key] += 1
        try:
            yield
        finally:
            self._held[key] -= 1
            if not self._held[key]:
                del self._held[key]


FOLLOWERS: web.AppKey[Followers] = web.AppKey("followers", Followers)


def identity_key(who: Identity) -> str:
    """Who is counted: a digest of the token (never kept as such); the kubeconfig's identity."""
    if who.token is None:
        return "kubeconfig"
    return hashlib.sha256(who.token.encode()).hexdigest()


async def lines_of(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[list[str]]:
    """Complete lines of `chunks`, one list per chunk, until `limit` bytes were read.

    A line waits for its newline (kept up to MAX_LINE_BYTES); what is left when the
    stream ends is a last line of its own. Bytes past `limit` are never sent.
    """
    pending = b""
    seen = 0
    async for chunk in chunks:
        chunk = chunk[: max(0, limit - seen)]
        seen += len(chunk)
        pending += chunk
        *complete, pending = pending.split(b"\n")
        while len(pending) > MAX_LINE_BYTES:
            complete.append(pending[:MAX_LINE_BYTES])
            pending = pending[MAX_LINE_BYTES:]
        if complete:
            yield [line.decode(errors="replace") for line in complete]
        if seen >= limit:
            break
    if pending:
        yield [pending.decode(errors="replace")]


async def _pump(client: UserKube, namespace: str, pod: str, out: asyncio.Queue[bytes]) -> str:
    """Send the pod's lines to `out`; why the stream stopped (`ended`, `lost` or `limit`)."""
    chunks = client.follow_log(
        namespace,
        pod,
        tail_lines=LOG_TAIL_LINES,
        limit_bytes=FOLLOW_BYTES,
        seconds=FOLLOW_SECONDS + HEARTBEAT_SECONDS,
    )
    received = 0

    async def counted() -> AsyncIterator[bytes]:
        nonlocal received
        async for chunk in chunks:
            received += len(chunk)
            yield chunk

    try:
        async for lines in lines_of(counted(), FOLLOW_BYTES):
            await out.put(frame("lines", {"lines": lines}))
    except (aiohttp.ClientError, TimeoutError):
        return "lost"
    return "limit" if received >= FOLLOW_BYTES else "ended"


async def _stream(
    response: web.StreamResponse, client: UserKube, namespace: str, pod: str
) -> dict[str, Any]:
    """Lines until the pod finishes, the log ends or a bound is reached; the `end` event's data."""
    out: asyncio.Queue[bytes] = asyncio.Queue()
    pump = asyncio.create_task(_pump(client, namespace, pod, out))
    done_watch = asyncio.create_task(client.pod_finished(namespace, pod, seconds=FOLLOW_SECONDS))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + FOLLOW_SECONDS
    try:
        while True:
            getter = asyncio.ensure_future(out.get())
            left = deadline - loop.time()
            done, _ = await asyncio.wait(
                [getter, pump, done_watch],
                timeout=max(0.0, min(HEARTBEAT_SECONDS, left)),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter in done:
                await response.write(getter.result())
                continue
            getter.cancel()
            while not out.empty():
                await response.write(out.get_nowait())
            if done_watch in done:
                phase = done_watch.result()
                if phase:
                    return {"phase": phase, "reason": "finished", "message": ""}
            if pump in done:
                reason = pump.result()
                message = {
                    "ended": "",
                    "lost": "the connection to the log was lost: follow again",
                    "limit": f"stopped after {FOLLOW_BYTES} bytes: follow again",
                }[reason]
                return {"phase": "", "reason": reason, "message": message}
            if loop.time() >= deadline or done_watch in done:
                return {
                    "phase": "",
                    "reason": "limit",
                    "message": f"stopped following after {FOLLOW_SECONDS // 60} minutes",
                }
            await response.write(b": ping\n\n")
    finally:
        for task in (pump, done_watch):
            task.cancel()
        for task in (pump, done_watch):
            with contextlib.suppress(BaseException):
                await task


async def follow(request: web.Request) -> web.StreamResponse:
    """GET /api/runs/{namespace}/{name}/log/follow?block=B&attempt=N: the log as it grows."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    block, attempt = request.query.get("block", ""), request.query.get("attempt", "")
    if not block or not attempt.isdigit():
        raise web.HTTPBadRequest(text="block and attempt (a number) are required")
    try:
        with request.app[FOLLOWERS].hold(identity_key(identity(request))):
            async with kube(request) as client:
                found = await attempt_pod(client, namespace, name, block, int(attempt))
                response = web.StreamResponse(
                    headers={
                        "Content-Type": "text/event-stream",
                        "Cache-Control": "no-store",
                        "X-Accel-Buffering": "no",
                    }
                )
                await response.prepare(request)
                with contextlib.suppress(ConnectionResetError):
                    end = await _follow_pod(response, client, namespace, found, block, attempt)
                    await response.write(frame("end", end))
                return response
    except TooManyFollowers as exc:
        raise web.HTTPTooManyRequests(text=str(exc)) from None


async def _follow_pod(
    response: web.StreamResponse,
    client: UserKube,
    namespace: str,
    found: dict[str, Any] | None,
    block: str,
    attempt: str,
) -> dict[str, Any]:
    """`start`, then the lines while the pod runs; the `end` event's data."""
    if found is None:
        message = f"no pod of block {block} attempt {attempt} (deleted, or not started yet)"
        return {"phase": "", "reason": "ended", "message": message}
    pod = str(found["metadata"]["name"])
    await response.write(frame("start", {"pod": pod}))
    phase = (found.get("status") or {}).get("phase", "")
    if phase in FINISHED_PHASES:
        return {"phase": phase, "reason": "finished", "message": ""}
    try:
        return await _stream(response, client, namespace, pod)
    except ApiException as exc:
        return {"phase": "", "reason": "refused", "message": refusal(exc)}


def routes() -> list[web.RouteDef]:
    """The follow endpoint's route."""
    return [web.get("/api/runs/{namespace}/{name}/log/follow", follow)]


__all__ = ["FOLLOWERS", "Followers", "TooManyFollowers", "follow", "lines_of", "routes"]
