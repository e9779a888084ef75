"""Live updates: Server-Sent Events fed by Kubernetes watches made with the user's token.

Each event's id is the run's resourceVersion. A browser that lost its
connection reconnects with `Last-Event-ID`, and the watch resumes from that
resourceVersion, so the API server replays (backfills) what was missed. When
that version is too old (410 Gone) the stream says `reset` and the page
reloads its list. Bookmarks keep the id moving when nothing changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.web.actions import refusal
from runwright.web.api import kube, settings
from runwright.web.kubeapi import RUNS, UserKube
from runwright.web.runs import row_of
from runwright.web.scope import readable

#: A comment line this often keeps proxies from closing an idle stream (seconds).
HEARTBEAT_SECONDS = 15.0


def frame(event: str, data: Any, event_id: str | None = None) -> bytes:
    """One SSE frame."""
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()


class _Gone(Exception):
    """The watch's resourceVersion is too old: the client must reload its list."""


async def _watch(
    client: UserKube, namespace: str | None, since: str, out: asyncio.Queue[bytes]
) -> None:
    """Feed `out` with frames of one watch, resuming after each server-side timeout."""
    version = since
    while True:
        try:
            async for event in client.watch_runs(namespace, version):
                kind, body = event.get("type"), event.get("raw_object")
                if not isinstance(body, dict):
                    continue
                version = str(body.get("metadata", {}).get("resourceVersion") or version)
                if kind == "BOOKMARK":
                    await out.put(frame("bookmark", {}, version))
                else:
                    row = row_of(body).json()
                    await out.put(frame("run", {"type": kind, "row": row}, version))
        except ApiException as exc:
            if exc.status == 410:
                raise _Gone from None
            raise


async def _start_version(client: UserKube, namespaces: list[str] | None) -> str:
    """The resourceVersion to watch from: the newest of the lists the user may make."""
    if namespaces is None:
        return str((await client.list_objects(RUNS, None))["metadata"]["resourceVersion"])
    versions = [
        int((await client.list_objects(RUNS, ns))["metadata"]["resourceVersion"])
        for ns in namespaces
    ]
    return str(max(versions, default=0))


async def events(request: web.Request) -> web.StreamResponse:
    """GET /api/events: a stream of `run` events (ADDED, MODIFIED, DELETED) as they happen."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    last = request.headers.get("Last-Event-ID") or request.query.get("lastEventId") or ""
    out: asyncio.Queue[bytes] = asyncio.Queue()
    tasks: list[asyncio.Task[None]] = []
    async with kube(request) as client:
        try:
            scope = await readable(
                client, request.query.get("namespace", ""), settings(request).namespaces
            )
            # `hello` comes once the start version is known: the page reloads its list
            # then, so a run made before the watch is in the list, one made after is an event.
            fresh = not last
            if fresh:
                last = await _start_version(client, scope.namespaces)
            await response.write(frame("hello", {"denied": scope.denied}, last if fresh else None))
            targets: list[str | None] = (
                [None] if scope.namespaces is None else list(scope.namespaces)
            )
            tasks = [asyncio.create_task(_watch(client, ns, last, out)) for ns in targets]
            while True:
                getter = asyncio.ensure_future(out.get())
                done, _ = await asyncio.wait(
                    [getter, *tasks], timeout=HEARTBEAT_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
                if getter in done:
                    await response.write(getter.result())
                    continue
                getter.cancel()
                failed = [t for t in tasks if t in done]
                if failed:
                    failed[0].result()  # raises what ended the watch
                await response.write(b": ping\n\n")
        except _Gone:
            await response.write(frame("reset", {"message": "missed too much: reloading"}))
        except ApiException as exc:
            await response.write(frame("problem", {"message": refusal(exc)}))
        except ConnectionResetError:
            pass
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(BaseException):
                    await task
    return response
