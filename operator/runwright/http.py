"""The API-trigger endpoint (:8081): `POST /v1/namespaces/{ns}/triggers/{name}/runs`.

A caller presents the bearer token stored in the Secret the Trigger names
(`spec.api.tokenSecretRef`) and may send `{"variables": {...}}`; the answer is 201
with `{"name": "<run>"}`. Every error is a JSON `{"error": "..."}` and creates
nothing: 404 unknown (or not an API) trigger, 401 bad token, 413 body over 64 KiB,
409 suspended trigger (or a run active under concurrencyPolicy Forbid), 400 bad JSON.

Tokens are compared with `hmac.compare_digest` (constant time), the body is read with
a hard limit (never buffered past 64 KiB), and posted values only ever become
PipelineRun variables: nothing here reaches a shell.

concurrencyPolicy counts the trigger's runs the watch shows *and* those created but
not yet shown (the trigger controller's expectations, shared with it), and the check
and the record of the new run happen with no await in between: two quick calls
under Forbid create one run, never two. The run's name is chosen here (the
generateName prefix plus a random suffix, as the API server would) so that it can be
expected before the create is sent. Replace cancels before it creates; its calls
for one trigger take turns, so a second call always sees (and cancels) the first's
run as created.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from kubernetes_asyncio.client.exceptions import ApiException
from pydantic import ValidationError

from runwright.api.run import TriggeredBy
from runwright.api.trigger import ConcurrencyPolicy, RunPhase, TriggerSpec, TriggerType
from runwright.controller.runs import RUNS
from runwright.controller.triggers import (
    TriggerController,
    TriggerKey,
    owner_reference,
    trigger_runs,
)
from runwright.engine.trigger_policy import decide
from runwright.engine.triggers import TriggerRun, run_manifest
from runwright.kube.client import Kube
from runwright.kube.errors import api_message, forbidden
from runwright.metrics import METRICS

log = logging.getLogger("runwright.http")

MAX_BODY = 64 * 1024
#: The API server's generateName alphabet (no vowels, no look-alikes), 5 characters.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SUFFIX_LENGTH = 5


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class ApiEndpoint:
    """Serves API triggers for the triggers the operator knows."""

    def __init__(self, kube: Kube, triggers: TriggerController, host: str, port: int) -> None:
        self.kube = kube
        self.triggers = triggers
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
        key = (namespace, name)
        if spec.concurrency_policy == ConcurrencyPolicy.REPLACE:
            async with self._replacing[key]:
                return await self._fire(key, body, spec, variables)
        return await self._fire(key, body, spec, variables)

    async def _fire(
        self, key: TriggerKey, body: dict[str, Any], spec: TriggerSpec, variables: dict[str, str]
    ) -> web.Response:
        """Apply concurrencyPolicy, then create the run (cancelling what Replace replaces)."""
        namespace, name = key
        now = datetime.now(UTC)
        manifest = run_manifest(name, spec, None, now, TriggeredBy.API, variables, namespace)
        meta = manifest["metadata"]
        run_name = meta.pop("generateName") + _suffix()
        meta["name"] = run_name
        meta["ownerReferences"] = [owner_reference(body)]
        # No await from here to expect(): the check and the record are one step.
        runs = trigger_runs(self.triggers.runs.model, self.triggers.expected, key)
        decision = decide(spec.concurrency_policy, [r.name for r in runs if not r.finished])
        if not decision.create:
            return _error(409, f"run {decision.blocking} is active and concurrencyPolicy is Forbid")
        expected = (namespace, run_name)
        self.triggers.expected.expect(
            expected,
            key,
            TriggerRun(
                name=run_name,
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
            self.triggers.expected.forget(expected)
            # The caller did nothing wrong: say what the operator could not do (a missing
            # RBAC permission names itself), never a bare 500.
            problem = forbidden(exc) or api_message(exc)
            log.error("API trigger %s/%s: the run was not created: %s", namespace, name, problem)
            return _error(500 if exc.status == 403 else 502, f"the run was not created: {problem}")
        except BaseException:
            self.triggers.expected.forget(expected)
            raise
        if created is None:  # the random name collided; extremely rare: the caller may retry
            self.triggers.expected.forget(expected)
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


def _suffix() -> str:
    """A generateName-like random suffix, so the name is known before the create is sent."""
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))


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
