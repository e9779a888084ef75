"""Pipelines and triggers: blocks, recent runs, upcoming fire times; suspend, resume, run now.

Upcoming fires come from the engine's own schedule math (engine/schedule.py),
so the page shows what the operator will do. Suspend/resume is a merge patch
of `spec.suspend`; "run now" creates a PipelineRun of the trigger's pipeline
with the trigger's variables under the user's, as the user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from runwright import labels
from runwright.api.trigger import ScheduleConfig
from runwright.engine.schedule import fires_between
from runwright.web.api import kube, live_rows, settings
from runwright.web.kubeapi import PIPELINES, RUNS, TRIGGERS
from runwright.web.runs import RunQuery, RunRow, select
from runwright.web.scope import readable

#: Upcoming fire times shown per Schedule trigger.
UPCOMING = 5
#: Recent runs shown (and charted) per pipeline.
RECENT = 20


def upcoming(spec: Mapping[str, Any], now: datetime) -> tuple[list[str], str]:
    """The next fire times of a Schedule trigger (RFC 3339), and why none when there are none."""
    if spec.get("type") != "Schedule" or not spec.get("schedule"):
        return [], ""
    if spec.get("suspend"):
        return [], "suspended"
    try:
        schedule = ScheduleConfig.model_validate(spec["schedule"])
        fires = fires_between(schedule, now, None, UPCOMING)
    except (ValidationError, ValueError) as exc:
        return [], f"schedule not understood: {exc}"
    return [t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") for t in fires], ""


def pipeline_summary(body: Mapping[str, Any], runs: Sequence[RunRow]) -> dict[str, Any]:
    """A pipeline as the page shows it: blocks, readiness, and its recent runs (newest first)."""
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    mine = [
        r for r in runs if r.pipeline == meta.get("name") and r.namespace == meta.get("namespace")
    ]
    recent = select(mine, RunQuery(limit=RECENT)).rows
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "description": spec.get("description", ""),
        "blocks": [
            {"name": b.get("name"), "upstream": list(b.get("upstream") or [])}
            for b in spec.get("blocks") or []
        ],
        "ready": ready.get("status", "Unknown"),
        "readyMessage": ready.get("message", ""),
        "activeRuns": status.get("activeRuns", 0),
        "recent": [
            {"name": r.name, "phase": r.phase, "duration": r.duration, "started": r.started}
            for r in recent
        ],
    }


def trigger_summary(body: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """A trigger as the page shows it, with its upcoming fire times."""
    meta, spec, status = body.get("metadata", {}), body.get("spec", {}), body.get("status") or {}
    fires, why = upcoming(spec, now)
    schedule = spec.get("schedule") or {}
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "pipeline": (spec.get("pipelineRef") or {}).get("name", ""),
        "type": spec.get("type", ""),
        "cron": schedule.get("cron", ""),
        "timezone": schedule.get("timezone", "UTC") if schedule else "",
        "suspend": bool(spec.get("suspend")),
        "variables": spec.get("variables") or {},
        "lastScheduleTime": status.get("lastScheduleTime"),
        "lastRun": status.get("lastRun"),
        "activeRuns": status.get("activeRuns") or [],
        "upcoming": fires,
        "upcomingNote": why,
    }


async def list_pipelines(request: web.Request) -> web.Response:
    """GET /api/pipelines: pipelines with recent runs, triggers with upcoming fires."""
    now = datetime.now(UTC)
    async with kube(request) as client:
        scope = await readable(
            client, request.query.get("namespace", ""), settings(request).namespaces
        )
        targets: list[str | None] = [None] if scope.namespaces is None else list(scope.namespaces)
        pipelines: list[dict[str, Any]] = []
        triggers: list[dict[str, Any]] = []
        for namespace in targets:
            pipelines.extend((await client.list_objects(PIPELINES, namespace)).get("items", []))
            triggers.extend((await client.list_objects(TRIGGERS, namespace)).get("items", []))
        runs = await live_rows(client, scope)
    return web.json_response(
        {
            "pipelines": [pipeline_summary(p, runs) for p in sorted(pipelines, key=_key)],
            "triggers": [trigger_summary(t, now) for t in sorted(triggers, key=_key)],
            "denied": scope.denied,
        }
    )


def _key(body: Mapping[str, Any]) -> tuple[str, str]:
    return body["metadata"]["namespace"], body["metadata"]["name"]


def run_now_body(trigger: Mapping[str, Any], variables: Mapping[str, str]) -> dict[str, Any]:
    """A PipelineRun of the trigger's pipeline, its variables under the caller's."""
    spec = trigger.get("spec", {})
    name = trigger["metadata"]["name"]
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"generateName": f"{name}-"},
        "spec": {
            "pipelineRef": {"name": (spec.get("pipelineRef") or {}).get("name", "")},
            "triggerRef": {"name": name},
            "triggeredBy": "Manual",
            "variables": {**(spec.get("variables") or {}), **variables},
        },
    }


async def _body(request: web.Request) -> dict[str, Any]:
    if settings(request).read_only:
        raise web.HTTPForbidden(text="this server is read-only (--read-only): actions are disabled")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body must be JSON") from None
    if not isinstance(body, dict) or not body.get("namespace") or not body.get("name"):
        raise web.HTTPBadRequest(text="namespace and name of the trigger are required")
    return body


async def suspend(request: web.Request) -> web.Response:
    """POST /api/triggers/suspend {namespace, name, suspend}: pause or resume a trigger."""
    body = await _body(request)
    value = bool(body.get("suspend", True))
    async with kube(request) as client:
        await client.patch_object(
            TRIGGERS, body["namespace"], body["name"], {"spec": {"suspend": value}}
        )
    return web.json_response(
        {"ok": True, "message": f"{body['name']} {'suspended' if value else 'resumed'}"}
    )


async def run_now(request: web.Request) -> web.Response:
    """POST /api/triggers/run {namespace, name, variables}: a run of the trigger, now."""
    body = await _body(request)
    variables = body.get("variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise web.HTTPBadRequest(text='variables: an object of string values, e.g. {"env": "prod"}')
    async with kube(request) as client:
        trigger = await client.get_object(TRIGGERS, body["namespace"], body["name"])
        created = await client.create_object(
            RUNS, body["namespace"], run_now_body(trigger, variables)
        )
    return web.json_response({"ok": True, "message": f"run created: {created['metadata']['name']}"})


def routes() -> list[web.RouteDef]:
    """The pipelines page's API routes."""
    return [
        web.get("/api/pipelines", list_pipelines),
        web.post("/api/triggers/suspend", suspend),
        web.post("/api/triggers/run", run_now),
    ]
