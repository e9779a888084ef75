"""Runs as they change: a list, then a Kubernetes watch from its resourceVersion.

`watch` must see every phase a run goes through, however short, and react at once,
without reading the runs again every few seconds. So: list the runs (their state
now and the list's resourceVersion), then watch from that version; the server
sends every change after it, in order. The server ends a watch now and then
(`timeoutSeconds`, a restart): it is resumed from the last version seen (bookmarks
keep that recent). When that version is too old (410 Gone, or an ERROR event with
code 410), the runs are listed again and the watch starts from the new list: the
states in between are lost, as in any informer, and the new list says where each
run is now. A connection that fails is tried again after a pause that doubles, at
most `ATTEMPTS` times in a row; then the command fails naming the API server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from runwright.cli.plugin import errors
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.kubeapi import ApiError

if TYPE_CHECKING:
    from runwright.cli.plugin.client import Cluster

#: Seconds the server keeps one watch open (it closes it then; it is resumed).
WATCH_SECONDS = 300
#: Connection failures in a row before giving up, and the first pause between them.
ATTEMPTS, FIRST_PAUSE = 5, 0.5
GONE = 410


@dataclass(frozen=True)
class Change:
    """A run as it is now (`deleted`: it is gone), or a new list (`relisted`: every run
    in scope now; runs not in it are gone)."""

    runs: tuple[dict[str, Any], ...]
    relisted: bool = False
    deleted: bool = False


class _Expired(Exception):
    """The watch's resourceVersion is too old: list again."""


async def _list(
    cluster: Cluster, selector: str | None, name: str | None, unlabelled: str | None = None
) -> tuple[list[dict[str, Any]], str]:
    """The runs in scope (or the one named) and the list's resourceVersion.

    `unlabelled` selects runs the operator has not labelled yet (Selection.label_selectors):
    listed after the main list, whose version the watch starts from, so the label write
    that later brings such a run into the watch's selector comes as an event."""
    params = {"fieldSelector": f"metadata.name={name}"} if name else None
    items: list[dict[str, Any]] = []
    version = ""
    async for answer in cluster.pages(selector, params=params):
        items.extend(answer.get("items") or [])
        version = str((answer.get("metadata") or {}).get("resourceVersion") or version)
    if unlabelled is not None:
        async for answer in cluster.pages(unlabelled, params=params):
            items.extend(answer.get("items") or [])
    return items, version


async def _events(
    cluster: Cluster, selector: str | None, name: str | None, version: str
) -> AsyncIterator[dict[str, Any]]:
    """One watch's events from `version` until the server ends it; _Expired on 410."""
    params: dict[str, str | int] = {
        "watch": "true",
        "resourceVersion": version,
        "allowWatchBookmarks": "true",
        "timeoutSeconds": WATCH_SECONDS,
    }
    if selector:
        params["labelSelector"] = selector
    if name:
        params["fieldSelector"] = f"metadata.name={name}"
    try:
        async with cluster.rest.request("GET", cluster.runs_path(), params) as response:
            buffer = b""
            # By chunks, not lines: one event (a big run) may be longer than aiohttp's
            # line limit.
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
    except ApiError as exc:
        if exc.status == GONE:
            raise _Expired from None
        from runwright.cli.plugin.client import refusal

        raise refusal(exc, f"watch pipelineruns in {cluster.where}") from None


async def changes(
    cluster: Cluster,
    selector: str | None = None,
    name: str | None = None,
    version: str | None = None,
    unlabelled: str | None = None,
) -> AsyncIterator[Change]:
    """The runs in scope (`selector`, or the one `name`d): first a `relisted` Change with
    all of them (and those `unlabelled` selects: see `_list`), then one Change per run that
    changed, in the server's order. With a `version` (from an earlier Change's run), no
    first list: the watch resumes there."""
    failures = 0
    while True:
        try:
            if version is None:
                items, version = await _list(cluster, selector, name, unlabelled)
                yield Change(tuple(items), relisted=True)
            async for event in _events(cluster, selector, name, version):
                failures = 0
                kind, body = event.get("type"), event.get("object") or {}
                if kind == "ERROR":
                    if body.get("code") == GONE:
                        raise _Expired
                    raise PluginError(
                        f"watch pipelineruns in {cluster.where}: {body.get('message') or body}",
                        errors.FAILED,
                    )
                version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED"):
                    yield Change((body,))
                elif kind == "DELETED":
                    yield Change((body,), deleted=True)
                # BOOKMARK: only its resourceVersion matters
        except _Expired:
            version = None  # list again
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            failures += 1
            if failures >= ATTEMPTS:
                raise PluginError(
                    f"watch pipelineruns in {cluster.where}: cannot reach the API server "
                    f"({type(exc).__name__}: {exc}) after {ATTEMPTS} attempts",
                    errors.UNREACHABLE,
                ) from None
            await asyncio.sleep(FIRST_PAUSE * 2 ** (failures - 1))  # reconnect back-off
