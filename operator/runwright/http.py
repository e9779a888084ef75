"""The API-trigger endpoint (:8081): `POST /v1/namespaces/{ns}/triggers/{name}/runs`.

A caller presents the bearer token stored in the Secret the Trigger names
(`spec.api.tokenSecretRef`) and may send `{"variables": {...}}`; the answer is 201
with `{"name": "<run>"}`. Every error is a JSON `{"error": "..."}` and creates
nothing: 404 unknown (or not an API) trigger, 401 bad token, 413 body over 64 KiB,
409 suspended trigger (or a run active under concurrencyPolicy Forbid), 400 bad JSON.

Tokens are compared with `hmac.compare_digest` (constant time), the body is read with
a hard limit (never buffered past 64 KiB), and posted values only ever become
PipelineRun variables: nothing here reaches a shell.
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from runwright.api.run import TriggeredBy
from runwright.api.trigger import ConcurrencyPolicy, TriggerSpec, TriggerType
from runwright.controller.kube import Kube, api_message, forbidden
from runwright.controller.runs import RUNS
from runwright.controller.triggers import TriggerController, owner_reference
from runwright.engine.triggers import run_manifest
from runwright.metrics import METRICS

log = logging.getLogger("runwright.http")

MAX_BODY = 64 * 1024


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class ApiEndpoint:
    """Serves API triggers for the triggers the operator knows."""

    def __init__(self, kube: Kube, triggers: TriggerController, host: str, port: int) -> None:
        self.kube = kube
        self.triggers = triggers
        self.host, self.port = host, port
        self.runner: web.AppRunner | None = None

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
        body = self.triggers.runs.model.trigger(namespace, name)
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
        active = [
            run
            for run, state in self.triggers.runs.model.runs_of_trigger(namespace, name)
            if state.active
        ]
        if active and spec.concurrency_policy == ConcurrencyPolicy.FORBID:
            return _error(409, f"run {active[0]} is active and concurrencyPolicy is Forbid")
        now = datetime.now(UTC)
        manifest = run_manifest(name, spec, None, now, TriggeredBy.API, variables, namespace)
        manifest["metadata"]["ownerReferences"] = [owner_reference(body)]
        try:
            if active and spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
                for run in active:
                    await self.kube.patch_spec(RUNS, namespace, run, {"cancel": True})
            created = await self.kube.create(RUNS, namespace, manifest)
        except ApiException as exc:
            # The caller did nothing wrong: say what the operator could not do (a missing
            # RBAC permission names itself), never a bare 500.
            problem = forbidden(exc) or api_message(exc)
            log.error("API trigger %s/%s: the run was not created: %s", namespace, name, problem)
            return _error(500 if exc.status == 403 else 502, f"the run was not created: {problem}")
        if created is None:  # generateName collided; extremely rare: the caller may retry
            return _error(409, "a run with the generated name exists; try again")
        run_name = created["metadata"]["name"]
        METRICS.observe_trigger_fire(namespace, name, spec.pipeline_ref.name, "API", None, now)
        log.info("API trigger %s/%s created run %s", namespace, name, run_name)
        return web.json_response({"name": run_name}, status=201)

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
