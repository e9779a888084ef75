"""The operator's own Kubernetes API calls: one async client, every write counted, retries bounded.

kopf watches and indexes; everything the operator *writes* goes through here, so the
write count per block attempt (a benchmark figure) is measured in one place, and
transient API failures (5xx, 429, dropped connections) are retried the same way
everywhere. 404 and 409 are answers, not failures: callers decide what they mean.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from runwright import labels
from runwright.metrics import METRICS

log = logging.getLogger("runwright.kube")

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"
RETRIES = 5


def is_transient(exc: BaseException) -> bool:
    """5xx, 429 and connection-level errors are worth retrying; other answers are final."""
    if isinstance(exc, ApiException):
        return exc.status == 429 or (exc.status or 0) >= 500
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError)


#: The API server's RBAC denial: `... is forbidden: User "U" cannot VERB resource "R" in
#: API group "G" [in the namespace "N"]`.
_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r' in API group "(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]+)")?'
)


def api_message(exc: ApiException) -> str:
    """The API server's own words (its Status `message`), else the HTTP reason."""
    body = exc.body.decode(errors="replace") if isinstance(exc.body, bytes) else exc.body
    try:
        message = json.loads(body or "").get("message")
    except (ValueError, AttributeError):
        message = None
    return message if isinstance(message, str) and message else f"{exc.status} {exc.reason}"


def permission_missing(message: str) -> str | None:
    """What an RBAC denial (403) lacks, in one line an admin can act on; None if not one.

    "permission missing: patch pipelineruns/status in API group runwright.dev in
    namespace data for system:serviceaccount:rw:runwright (grant it to the operator's
    ServiceAccount: the rules are in charts/runwright/templates/_helpers.tpl)".
    """
    found = _FORBIDDEN.search(message)
    if found is None:
        return None
    group = found["group"] or "core"
    where = f"in namespace {found['namespace']}" if found["namespace"] else "cluster-wide"
    return (
        f"permission missing: {found['verb']} {found['resource']} in API group {group} "
        f"{where} for {found['user']} (grant it to the operator's ServiceAccount: the rules "
        "are in charts/runwright/templates/_helpers.tpl)"
    )


def forbidden(exc: BaseException) -> str | None:
    """For a 403 from the API server (an ApiException, or an executor error carrying its
    status and message): what permission is missing; None for anything else."""
    if getattr(exc, "status", None) != 403:
        return None
    message = api_message(exc) if isinstance(exc, ApiException) else str(exc)
    return permission_missing(message) or f"forbidden: {message}"


async def retrying(
    call: Callable[[], Awaitable[T]], what: str, verb: str = "", resource: str = ""
) -> T:
    """Run `call`, retrying transient failures with a capped exponential backoff.

    Every request sent is counted in runwright_kube_requests_total by its answer.
    """
    delay = 0.1
    for attempt in range(1, RETRIES + 1):
        try:
            result = await call()
            if verb:
                METRICS.observe_kube_request(verb, resource, 200)
            return result
        except Exception as exc:
            if verb:
                code = exc.status if isinstance(exc, ApiException) else "error"
                METRICS.observe_kube_request(verb, resource, code or "error")
            if not is_transient(exc) or attempt == RETRIES:
                raise
            log.warning("%s failed (%s); retry %d/%d in %.1fs", what, exc, attempt, RETRIES, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


async def new_api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        await config.load_kube_config()
    return client.ApiClient()


class Kube:
    """Typed helpers for the writes the operator makes, counted by kind."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.writes: Counter[str] = Counter()

    async def close(self) -> None:
        """Close the underlying HTTP session."""
        await self.api.close()

    async def _merge_patch(
        self,
        plural: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
        counter: str,
        *,
        status: bool = False,
        missing_ok: bool = False,
    ) -> str | None:
        """One JSON merge-patch of a custom object (or of its status subresource).

        Returns the resourceVersion the patch made: the watch event carrying it is
        the echo of our own write, which the run controller need not reconcile.
        """
        method = (
            self.custom.patch_namespaced_custom_object_status
            if status
            else self.custom.patch_namespaced_custom_object
        )
        resource = f"{plural}/status" if status else plural
        self.writes[counter] += 1
        try:
            answer: Any = await retrying(
                lambda: method(
                    labels.GROUP,
                    labels.VERSION,
                    namespace,
                    plural,
                    name,
                    body,
                    # The stubs omit _content_type; the client honours it, and without it
                    # a dict body would be sent as a JSON Patch.
                    _content_type=MERGE_PATCH,  # type: ignore[call-arg]
                ),
                f"patch {resource} {namespace}/{name}",
                "patch",
                resource,
            )
        except ApiException as exc:
            if not (missing_ok and exc.status == 404):
                raise
            return None
        version = (
            (answer.get("metadata") or {}).get("resourceVersion")
            if isinstance(answer, dict)
            else None
        )
        return version if isinstance(version, str) else None

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: Mapping[str, Any]
    ) -> str | None:
        """Merge-patch a custom object's status subresource (None values delete fields).

        Returns the new resourceVersion (None when the answer had none)."""
        return await self._merge_patch(
            plural, namespace, name, {"status": dict(status)}, "patch_status", status=True
        )

    async def patch_labels(
        self, plural: str, namespace: str, name: str, new_labels: Mapping[str, str]
    ) -> str | None:
        """Merge-patch metadata.labels of a custom object; returns the new resourceVersion."""
        return await self._merge_patch(
            plural, namespace, name, {"metadata": {"labels": dict(new_labels)}}, "patch_labels"
        )

    async def patch_spec(
        self, plural: str, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> None:
        """Merge-patch a custom object's spec (e.g. `cancel: true`); gone already is fine."""
        await self._merge_patch(
            plural, namespace, name, {"spec": dict(spec)}, "patch_spec", missing_ok=True
        )

    async def create(
        self, plural: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Create a custom object; None when it exists already (409: an earlier try did it)."""
        self.writes["create"] += 1
        try:
            created: dict[str, Any] = await retrying(
                lambda: self.custom.create_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, namespace, plural, dict(body)
                ),
                f"create {plural}",
                "create",
                plural,
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise
        return created

    async def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        """One key of a Secret, decoded; None when the Secret or the key is missing, or
        when the operator may not read it (then the log names the missing permission)."""
        try:
            secret = await retrying(
                lambda: self.core.read_namespaced_secret(name, namespace),
                f"get secret {name}",
                "get",
                "secrets",
            )
        except ApiException as exc:
            if exc.status == 403:
                log.warning("secret %s/%s not read: %s", namespace, name, forbidden(exc))
            if exc.status in (403, 404):
                return None
            raise
        data = secret.data or {}
        if key not in data:
            return None
        return base64.b64decode(data[key])

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One custom object, or None when it does not exist."""
        try:
            obj: dict[str, Any] = await retrying(
                lambda: self.custom.get_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, namespace, plural, name
                ),
                f"get {plural}/{name}",
                "get",
                plural,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete a custom object; already gone is fine."""
        self.writes["delete"] += 1
        try:
            await retrying(
                lambda: self.custom.delete_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, namespace, plural, name
                ),
                f"delete {plural}/{name}",
                "delete",
                plural,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def event(
        self,
        involved: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
    ) -> None:
        """Post a core/v1 Event on an object, so `kubectl describe` shows its history."""
        meta = involved["metadata"]
        now = datetime.now(UTC)
        body = {
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion", labels.API_VERSION),
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "runwright-operator"},
            "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "count": 1,
            "reportingComponent": "runwright-operator",
        }
        self.writes["event"] += 1
        try:
            await retrying(
                lambda: self.core.create_namespaced_event(meta["namespace"], cast(Any, body)),
                f"event {reason}",
                "create",
                "events",
            )
        except ApiException as exc:
            # Events are history, not state: losing one must never stall a run.
            why = forbidden(exc) or exc.reason
            log.warning("event %s on %s not posted: %s", reason, meta["name"], why)
