"""The JSON endpoints the pages call: runs list, one run, an attempt's log, export, actions.

Every handler builds its Kubernetes client from the request's identity
(kubeapi.py), so what a user sees and may do is what RBAC grants them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException
from sqlalchemy.exc import DBAPIError

from runwright import labels
from runwright.web import actions, export
from runwright.web.archived import archived_counts, merged_page
from runwright.web.auth import identity
from runwright.web.kubeapi import RUNS, UserKube
from runwright.web.runs import RunQuery, RunRow, parse_query, row_of, select
from runwright.web.scope import Scope, readable
from runwright.web.settings import SETTINGS, Settings

#: At most this many log lines are sent per request (the tail).
LOG_TAIL_LINES = 5000
#: At most this many runs in one export.
EXPORT_LIMIT = 100_000


def settings(request: web.Request) -> Settings:
    """The server's settings (flags), kept on the app."""
    return request.app[SETTINGS]


def kube(request: web.Request) -> UserKube:
    """A Kubernetes client acting as the request's user."""
    return settings(request).access.client(identity(request))


async def live_rows(client: UserKube, scope: Scope) -> list[RunRow]:
    """Every live run the scope covers, as rows (one list call per namespace, at once)."""
    if scope.namespaces is None:
        found = [await client.list_objects(RUNS, None)]
    else:
        found = await asyncio.gather(*(client.list_objects(RUNS, ns) for ns in scope.namespaces))
    return [row_of(item) for listing in found for item in listing.get("items", [])]


def _query(request: web.Request) -> RunQuery:
    return parse_query(request.query, datetime.now(UTC))


async def list_runs(request: web.Request) -> web.Response:
    """GET /api/runs: one page of live (and archived) runs, counts by phase, refused namespaces."""
    query = _query(request)
    conf = settings(request)
    async with kube(request) as client:
        scope = await readable(client, query.namespace, conf.namespaces)
        rows = await live_rows(client, scope)
    live = select(rows, query)
    try:
        page, note = await merged_page(conf.archive, rows, live, query, scope)
    except DBAPIError as exc:  # e.g. the operator beside us has not created the file yet
        page, note = live, f"archived runs are not shown: the archive cannot be read ({exc.orig})"
    return web.json_response(
        {
            "runs": [row.json() for row in page.rows],
            "next": page.next_cursor,
            "counts": live.counts,
            "total": live.total,
            "denied": scope.denied,
            "note": note,
        }
    )


async def count_runs(request: web.Request) -> web.Response:
    """GET /api/counts: archived runs by phase for the list's filters (a request of its own)."""
    query = _query(request)
    async with kube(request) as client:
        scope = await readable(client, query.namespace, settings(request).namespaces)
    try:
        counts = await archived_counts(settings(request).archive, query, scope)
    except DBAPIError as exc:
        return web.json_response({"archivedCounts": {}, "note": f"archive: {exc.orig}"})
    return web.json_response({"archivedCounts": counts})


async def export_runs(request: web.Request) -> web.Response:
    """GET /api/export?format=csv|json: the selected runs (`selected=ns/name,...`) or the filtered ones."""
    fmt = request.query.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise web.HTTPBadRequest(text=f"format={fmt!r}: use csv or json")
    query = _query(request)
    async with kube(request) as client:
        scope = await readable(client, query.namespace, settings(request).namespaces)
        rows = await live_rows(client, scope)
    selected = {s for s in request.query.get("selected", "").split(",") if s}
    if selected:
        chosen = [r for r in rows if f"{r.namespace}/{r.name}" in selected]
        chosen = select(
            chosen, RunQuery(sort=query.sort, descending=query.descending, limit=EXPORT_LIMIT)
        ).rows
    else:
        chosen = select(rows, replace(query, limit=EXPORT_LIMIT, cursor=None)).rows
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    if fmt == "json":
        body, content_type = export.to_json(chosen), "application/json"
    else:
        body, content_type = export.to_csv(chosen), "text/csv"
    return web.Response(
        text=body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="runs-{stamp}.{fmt}"'},
    )


def _dag(status: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Block names, upstreams and phases only: the frozen spec's env and args never leave."""
    spec = status.get("pipelineSpec") or {}
    phases = status.get("blocks") or {}
    nodes = []
    for kind in ("blocks", "finally"):
        for block in spec.get(kind) or []:
            name = block.get("name", "")
            nodes.append(
                {
                    "name": name,
                    "upstream": list(block.get("upstream") or []),
                    "finally": kind == "finally",
                    "phase": (phases.get(name) or {}).get("phase", "Pending"),
                }
            )
    return nodes


def run_detail(body: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """What the run page shows: overview, DAG, blocks with attempts, Events in order."""
    meta = body.get("metadata", {})
    spec = body.get("spec", {})
    status = dict(body.get("status") or {})
    dag = _dag(status)
    status.pop("pipelineSpec", None)
    ordered = sorted(
        events,
        key=lambda e: (
            e.get("eventTime") or e.get("lastTimestamp") or e.get("firstTimestamp") or "",
            e.get("metadata", {}).get("name", ""),
        ),
    )
    return {
        "row": row_of(body).json(),
        "metadata": {
            k: meta.get(k) for k in ("name", "namespace", "uid", "creationTimestamp", "labels")
        },
        "spec": {
            k: spec.get(k)
            for k in (
                "pipelineRef",
                "variables",
                "executionDate",
                "triggerRef",
                "triggeredBy",
                "cancel",
                "retry",
                "rerunOf",
            )
        },
        "status": status,
        "dag": dag,
        "events": [
            {
                "time": e.get("eventTime") or e.get("lastTimestamp") or e.get("firstTimestamp"),
                "type": e.get("type", ""),
                "reason": e.get("reason", ""),
                "message": e.get("message", ""),
                "count": e.get("count") or 1,
            }
            for e in ordered
        ],
    }


async def get_run(request: web.Request) -> web.Response:
    """GET /api/runs/{namespace}/{name}: one live run in full."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    async with kube(request) as client:
        body = await client.get_object(RUNS, namespace, name)
        try:
            events = await client.run_events(namespace, name)
        except ApiException as exc:
            if exc.status != 403:
                raise
            events = []  # may read the run but not Events: show the run anyway
    return web.json_response(run_detail(body, events))


async def attempt_pod(
    client: UserKube, namespace: str, run: str, block: str, attempt: int
) -> dict[str, Any] | None:
    """The pod of one attempt of a run's block (by label); None when it is gone or not made yet."""
    for pod in await client.run_pods(namespace, run):
        found = pod.get("metadata", {}).get("labels") or {}
        if found.get(labels.BLOCK) == block and found.get(labels.ATTEMPT) == str(attempt):
            return pod
    return None


async def attempt_log(request: web.Request) -> web.Response:
    """GET /api/runs/{namespace}/{name}/log?block=B&attempt=N: that attempt's pod log (tail)."""
    namespace, name = request.match_info["namespace"], request.match_info["name"]
    block, attempt = request.query.get("block", ""), request.query.get("attempt", "")
    if not block or not attempt.isdigit():
        raise web.HTTPBadRequest(text="block and attempt (a number) are required")
    async with kube(request) as client:
        chosen = await attempt_pod(client, namespace, name, block, int(attempt))
        if chosen is None:
            return web.json_response(
                {
                    "pod": None,
                    "text": "",
                    "note": f"no pod of block {block} attempt {attempt} (deleted, or not started yet)",
                }
            )
        pod = chosen["metadata"]["name"]
        text = await client.pod_log(namespace, pod, tail_lines=LOG_TAIL_LINES)
    phase = (chosen.get("status") or {}).get("phase", "")
    return web.json_response({"pod": pod, "phase": phase, "text": text, "note": ""})


async def act(request: web.Request) -> web.Response:
    """POST /api/actions: retry, rerun, cancel or delete one or several runs."""
    if settings(request).read_only:
        raise web.HTTPForbidden(text="this server is read-only (--read-only): actions are disabled")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    try:
        action, targets = actions.parse_action(body)
    except actions.ActionError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    async with kube(request) as client:
        outcomes = await actions.perform(client, action, targets)
    return web.json_response({"results": [o.json() for o in outcomes]})


def routes() -> list[web.RouteDef]:
    """The JSON API's routes."""
    return [
        web.get("/api/runs", list_runs),
        web.get("/api/export", export_runs),
        web.get("/api/counts", count_runs),
        web.get("/api/runs/{namespace}/{name}", get_run),
        web.get("/api/runs/{namespace}/{name}/log", attempt_log),
        web.post("/api/actions", act),
    ]
