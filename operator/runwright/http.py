"""The API-trigger endpoint (:8081): `POST /v1/namespaces/{ns}/triggers/{name}/runs`.

A caller presents the bearer token stored in the Secret the Trigger names
(`spec.api.tokenSecretRef`) and may send `{"variables": {...}}`; the answer is 201
with `{"name": "<run>"}`. Every error is a JSON `{"error": "..."}` and creates
nothing: 404 unknown (or not an API) trigger, 401 bad token, 413 body over 64 KiB,
409 suspended trigger (or a run active under concurrencyPolicy Forbid), 400 bad JSON.

Tokens are compared with `hmac.compare_digest` (constant time), the body is read with
a hard limit (never buffered past 64 KiB), and posted values only ever become
PipelineRun variables: nothing here reaches a shell.

Every replica serves it (the leader and the standby alike), so concurrencyPolicy
cannot rest on one process's memory: the API server arbitrates. A trigger's API runs
are named `<trigger>-api-<n>`, n one more than the highest n among its runs, so two
calls that decide on the same view of the runs send the same name, and the API
server creates one and answers AlreadyExists to the other, which then decides again
on a fresh list of the runs: under Forbid the run that won is active,
so that call is the 409; under Allow and Replace it creates the next name (Replace
cancelling the run that won). A stale view only ever names a run that exists, so it
costs a second look, never a second run.

The leader's endpoint decides on the trigger controller's memory (the watch plus the
runs created but not yet shown, its expectations), with no await between the check
and the record of the new run, so two calls in one process never even race; a
standby, which runs no controller, reads the Trigger and lists its runs from the API
server. Replace calls of one process take turns, so the second sees (and cancels)
the first's run.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from runwright import labels
from runwright.api.run import TriggeredBy
from runwright.api.trigger import ConcurrencyPolicy, RunPhase, TriggerSpec, TriggerType
from runwright.controller.runs import RUNS, parse_time
from runwright.controller.triggers import (
    TRIGGERS,
    TriggerController,
    TriggerKey,
    owner_reference,
    trigger_runs,
)
from runwright.engine.naming import run_name
from runwright.engine.trigger_policy import decide
from runwright.engine.triggers import TriggerRun, run_manifest
from runwright.kube.client import Kube
from runwright.kube.errors import api_message, forbidden
from runwright.metrics import METRICS

log = logging.getLogger("runwright.http")

MAX_BODY = 64 * 1024
#: Allow and Replace decide again this often when another call took their run's name.
NAME_TRIES = 5
_SEQUENCE = re.compile(r"-api-([0-9]+)$")


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class ApiEndpoint:
    """Serves API triggers for the triggers the operator knows."""

    def __init__(
        self, kube: Kube, triggers: TriggerController | None, host: str, port: int
    ) -> None:
        self.kube = kube
        self.triggers = triggers
        """The leader's trigger controller; None on a standby (then the API server is read)."""
        self.host, self.port = host, port
        self.runner: web.AppRunner | None = None
        # Replace cancels then creates: its calls for one trigger take turns.
        self._replacing: defaultdict[TriggerKey, asyncio.Lock] = defaultdict(asyncio.Lock)

    def app(self) -> web.Application:
        """The aiohttp application (also used directly by tests)."""
        # aiohttp's own limit sits above ours so that we answer 413 with a JSON body.
        app = web.Application(client_max_size=MAX_BODY * 2)
        app.router.add_post("/v1/namespaces/{namespace}/triggers/{name}/runs", self.create_run)
        return app

    async def start(self) -> None:
        """Listen on host:port."""
        self.runner = web.AppRunner(self.app(), access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, self.host, self.port).start()

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner is not None:
            await self.runner.cleanup()

    async def create_run(self, request: web.Request) -> web.Response:
        """Check the trigger, the token, the body; then create one PipelineRun."""
        namespace = request.match_info["namespace"]
        name = request.match_info["name"]
        body = await self._trigger(namespace, name)
        spec = _api_spec(body)
        if body is None or spec is None or spec.api is None:
            return _error(404, f"no API trigger {namespace}/{name}")
        if not await self._authorized(request, namespace, spec):
            return _error(401, "missing or wrong bearer token")
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, f"the body is over {MAX_BODY} bytes")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            return _error(413, f"the body is over {MAX_BODY} bytes")
        if spec.suspend:
            return _error(409, f"trigger {namespace}/{name} is suspended")
        variables, problem = _variables(raw)
        if problem is not None:
            return _error(400, problem)
        key = (namespace, name)
        if spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
            async with self._replacing[key]:
                return await self._fire(key, body, spec, variables)
        return await self._fire(key, body, spec, variables)

    async def _trigger(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Trigger: from the leader's watch, else (a standby, or a leader that has
        not listed it yet, just after a takeover) from the API server."""
        if self.triggers is not None:
            known = self.triggers.runs.model.trigger(namespace, name)
            if known is not None:
                return known
        return await self.kube.get(TRIGGERS, namespace, name)

    async def _listed_runs(self, key: TriggerKey) -> list[TriggerRun]:
        """The trigger's runs as the API server has them now (a standby's view, or a retry's)."""
        namespace, name = key
        items = await self.kube.list(RUNS, namespace, f"{labels.TRIGGER}={name}")
        runs = [_trigger_run(item) for item in items]
        if self.triggers is not None:  # and this process's creations not yet listed
            listed = {r.name for r in runs}
            pending = self.triggers.expected.of(key)
            runs += [r for (_, run), r in pending.items() if run not in listed]
        return runs

    async def _fire(
        self, key: TriggerKey, body: dict[str, Any], spec: TriggerSpec, variables: dict[str, str]
    ) -> web.Response:
        """Apply concurrencyPolicy, then create the run (cancelling what Replace replaces)."""
        name = key[1]
        for attempt in range(NAME_TRIES):
            if self.triggers is not None and attempt == 0:
                runs = trigger_runs(self.triggers.runs.model, self.triggers.expected, key)
            else:
                runs = await self._listed_runs(key)
            # No await from here to expect(): the check and the record are one step.
            answer = await self._create(key, body, spec, variables, runs)
            if answer is not None:
                return answer
            # AlreadyExists: another call (perhaps through another replica) took the name,
            # or this view was stale. Decide again on the runs as the API server has them:
            # under Forbid the run that won is active, and this call becomes the 409.
        return _error(409, f"other calls to {name} kept taking the run's name; try again")

    async def _create(
        self,
        key: TriggerKey,
        body: dict[str, Any],
        spec: TriggerSpec,
        variables: dict[str, str],
        runs: list[TriggerRun],
    ) -> web.Response | None:
        """Decide on `runs` and create the next run; None when its name exists already."""
        namespace, name = key
        now = datetime.now(UTC)
        decision = decide(spec.concurrency_policy, [r.name for r in runs if not r.finished])
        if not decision.create:
            return _error(409, f"run {decision.blocking} is active and concurrencyPolicy is Forbid")
        new_name = run_name(name, f"api-{next_sequence(runs)}")
        manifest = run_manifest(name, spec, new_name, now, TriggeredBy.API, variables, namespace)
        manifest["metadata"]["ownerReferences"] = [owner_reference(body)]
        expected = (namespace, new_name)
        if self.triggers is not None:
            self.triggers.expected.expect(
                expected,
                key,
                TriggerRun(
                    name=new_name,
                    phase=RunPhase.PENDING,
                    created_at=now,
                    execution_date=now,
                    triggered_by=TriggeredBy.API,
                ),
            )
        try:
            for run in decision.cancel:
                await self.kube.patch_spec(RUNS, namespace, run, {"cancel": True})
            created = await self.kube.create(RUNS, namespace, manifest)
        except ApiException as exc:
            self._forget(expected)
            # The caller did nothing wrong: say what the operator could not do (a missing
            # RBAC permission names itself), never a bare 500.
            problem = forbidden(exc) or api_message(exc)
            log.error("API trigger %s/%s: the run was not created: %s", namespace, name, problem)
            return _error(500 if exc.status == 403 else 502, f"the run was not created: {problem}")
        except BaseException:
            self._forget(expected)
            raise
        if created is None:  # AlreadyExists: another call (perhaps another replica) won
            self._forget(expected)
            return None
        created_name = created["metadata"]["name"]
        METRICS.observe_trigger_fire(namespace, name, spec.pipeline_ref.name, "API", None, now)
        log.info("API trigger %s/%s created run %s", namespace, name, created_name)
        return web.json_response({"name": created_name}, status=201)

    def _forget(self, expected: tuple[str, str]) -> None:
        if self.triggers is not None:
            self.triggers.expected.forget(expected)

    async def _authorized(self, request: web.Request, namespace: str, spec: TriggerSpec) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        assert spec.api is not None
        ref = spec.api.token_secret_ref
        expected = await self.kube.secret_value(namespace, ref.name, ref.key)
        if not expected:
            return False
        return hmac.compare_digest(token.strip().encode(), expected.strip())


def next_sequence(runs: list[TriggerRun]) -> int:
    """One more than the highest n of the `-api-<n>` runs seen (1 for the first)."""
    numbers = [int(m.group(1)) for r in runs if (m := _SEQUENCE.search(r.name))]
    return max(numbers, default=0) + 1


def _trigger_run(item: dict[str, Any]) -> TriggerRun:
    """A listed PipelineRun as the trigger policy sees it."""
    meta, status = item["metadata"], item.get("status") or {}
    created = parse_time(meta.get("creationTimestamp")) or datetime.now(UTC)
    phase = status.get("phase")
    return TriggerRun(
        name=meta["name"],
        phase=RunPhase(phase) if phase else None,
        created_at=created,
        completed_at=parse_time(status.get("completedAt")),
        cancel_requested=bool((item.get("spec") or {}).get("cancel")),
    )


def _api_spec(body: dict[str, Any] | None) -> TriggerSpec | None:
    if body is None:
        return None
    try:
        spec = TriggerSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None
    return spec if spec.type == TriggerType.API else None


def _variables(raw: bytes) -> tuple[dict[str, str], str | None]:
    """The posted variables, or why the body is not acceptable."""
    if not raw.strip():
        return {}, None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return {}, f"the body is not JSON: {exc}"
    if not isinstance(data, dict):
        return {}, 'the body must be a JSON object like {"variables": {"KEY": "VALUE"}}'
    unknown = sorted(set(data) - {"variables"})
    if unknown:
        return {}, f'unknown field(s) {", ".join(unknown)}; only "variables" is accepted'
    variables = data.get("variables", {})
    if not isinstance(variables, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in variables.items()
    ):
        return {}, '"variables" must be an object of string values, e.g. {"date": "2026-11-21"}'
    return variables, None
