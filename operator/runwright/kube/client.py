"""Every Kubernetes API request the operator sends: one async client, one retry policy.

kopf watches and indexes; everything the operator *writes* (and the few reads it
makes) goes through `Kube`, so each request is retried the same way (`retry`) and
counted in one place: runwright_kube_requests_total, by verb, resource and answer,
which is also how the benchmark counts writes per block attempt.

404 and 409 are answers, not failures, and each method says what they mean for it:
a create's 409 is "an earlier try did it" (names are deterministic), a delete's 404
is "already gone". Everything is async: the operator's event loop never waits on
the network.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from runwright import labels
from runwright.kube.errors import forbidden
from runwright.kube.events import EventLog, Post
from runwright.kube.eventsink import EventSink, Happening
from runwright.kube.ratelimit import TokenBucket
from runwright.kube.retry import DEFAULT_POLICY, RetryPolicy, Sleep, is_transient, retrying
from runwright.metrics import METRICS, Metrics

log = logging.getLogger("runwright.kube")

T = TypeVar("T")
MERGE_PATCH = "application/merge-patch+json"


#: The environment variables a proxy or netrc setting comes from (aiohttp's trust_env).
PROXY_ENV = ("http_proxy", "https_proxy", "all_proxy", "ws_proxy", "wss_proxy", "netrc")


async def new_api_client() -> client.ApiClient:
    """An API client from the in-cluster service account, else the kubeconfig (KUBECONFIG)."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        await config.load_kube_config()
    api = client.ApiClient()
    if not env_settings_apply(os.environ, Path.home()):
        without_env_lookups(api)
    return api


def env_settings_apply(environ: Mapping[str, str], home: Path) -> bool:
    """True when a proxy variable or a netrc file could change where a request goes."""
    names = {k.lower() for k, v in environ.items() if v}
    return any(n in names for n in PROXY_ENV) or (home / ".netrc").exists()


def without_env_lookups(api: client.ApiClient) -> None:
    """Stop aiohttp from looking up proxies and netrc for every request.

    kubernetes_asyncio opens its session with trust_env=True, and aiohttp then reads
    the proxy variables and ~/.netrc on every request, in a thread of the default
    executor: about a quarter of the operator's CPU per one-block run in issue 11's
    profile. With no such setting present there is nothing to find, so the session
    stops looking (there is no public switch: the attribute is aiohttp's own).
    """
    session = getattr(api.rest_client, "pool_manager", None)
    if session is not None and hasattr(session, "_trust_env"):
        session._trust_env = False


async def _unread(send: Callable[[], Awaitable[Any]]) -> Any:
    """Send a request whose answer body is not wanted (`_preload_content=False`).

    The operator learns about Jobs from its watch, never from a write's answer, so a
    Job's response is not decoded into models (CPU per block attempt). The client
    raises nothing for such a request: a status of 300 and over becomes the
    ApiException the retry policy and the callers understand, with the body and
    headers (Retry-After) of the answer.

    The body is read to its end all the same (bytes, not decoded): aiohttp closes a
    connection released before its body has all arrived, so each write whose answer
    (a pod, a run) came in more than one segment cost a new connection and a TLS
    handshake, about 4% of the operator's CPU in the diamond benchmark's profile.
    """
    response = await send()
    try:
        status = int(response.status)
        body = await response.read()
        if status >= 300:
            error = ApiException(status=status, reason=getattr(response, "reason", None))
            error.body = body
            error.headers = getattr(response, "headers", None)
            raise error
    finally:
        response.release()
    return response


class Kube:
    """Typed requests for what the operator reads and writes, all under one retry policy."""

    def __init__(
        self,
        api: client.ApiClient,
        *,
        retry: RetryPolicy = DEFAULT_POLICY,
        metrics: Metrics | None = None,
        sleep: Sleep | None = None,
        event_log: EventLog | None = None,
        limiter: TokenBucket | None = None,
        event_limiter: TokenBucket | None = None,
        fence: Callable[[], None] | None = None,
    ) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.events = client.EventsV1Api(api)
        self.event_log = event_log if event_log is not None else EventLog()
        self.retry = retry
        self.metrics = metrics if metrics is not None else METRICS
        self._sleep = sleep
        self.limiter = limiter
        """The client-side rate limit (--qps, --burst) every try of every request waits for."""
        self.event_limiter = event_limiter
        """Events' own rate limit (--event-qps, --event-burst): history never takes the
        tokens the run's writes need. None: Events share `limiter`."""
        self.fence = fence
        """Checked before each try: ends the process of a leader that lost its Lease."""
        self.sink = EventSink(self._sink_send, metrics=self.metrics)
        """Events handed over by `event_later`, posted by tasks of their own."""

    async def close(self) -> None:
        """Post the Events still queued (for a moment), then close the HTTP session."""
        await self.sink.close()
        await self.api.close()

    async def _send(
        self,
        call: Callable[[], Awaitable[T]],
        what: str,
        verb: str,
        resource: str,
        limiter: TokenBucket | None = None,
    ) -> T:
        limiter = limiter or self.limiter
        return await retrying(
            self._gated(call, limiter) if (limiter or self.fence) else call,
            what,
            verb,
            resource,
            policy=self.retry,
            metrics=self.metrics,
            sleep=self._sleep,
        )

    def _gated(
        self, call: Callable[[], Awaitable[T]], limiter: TokenBucket | None
    ) -> Callable[[], Awaitable[T]]:
        """`call` behind the fence and the rate limit; the fence is checked again after the
        wait, which may have outlasted the Lease."""

        async def gated() -> T:
            if self.fence is not None:
                self.fence()
            if limiter is not None and await limiter.acquire() and self.fence:
                self.fence()
            return await call()

        return gated

    # ----- custom objects (runwright.dev) ------------------------------------------------

    async def _merge_patch(
        self,
        plural: str,
        namespace: str,
        name: str,
        body: dict[str, Any],
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
        try:
            answer: Any = await self._send(
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
            plural, namespace, name, {"status": dict(status)}, status=True
        )

    async def patch_labels(
        self,
        plural: str,
        namespace: str,
        name: str,
        new_labels: Mapping[str, str],
        *,
        spec: Mapping[str, Any] | None = None,
    ) -> str | None:
        """Merge-patch metadata.labels of a custom object (with `spec` fields the operator
        defaults, in the same request); returns the new resourceVersion."""
        body: dict[str, Any] = {"metadata": {"labels": dict(new_labels)}}
        if spec:
            body["spec"] = dict(spec)
        return await self._merge_patch(plural, namespace, name, body)

    async def patch_spec(
        self, plural: str, namespace: str, name: str, spec: Mapping[str, Any]
    ) -> None:
        """Merge-patch a custom object's spec (e.g. `cancel: true`); gone already is fine."""
        await self._merge_patch(plural, namespace, name, {"spec": dict(spec)}, missing_ok=True)

    async def create(
        self, plural: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Create a custom object; None when it exists already (409: an earlier try did it)."""
        try:
            created: dict[str, Any] = await self._send(
                lambda: self.custom.create_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, namespace, plural, dict(body)
                ),
                f"create {plural} {namespace}/{body.get('metadata', {}).get('name', '')}",
                "create",
                plural,
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise
        return created

    async def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One custom object, or None when it does not exist."""
        try:
            obj: dict[str, Any] = await self._send(
                lambda: self.custom.get_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, namespace, plural, name
                ),
                f"get {plural} {namespace}/{name}",
                "get",
                plural,
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj

    async def list(self, plural: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """The custom objects of a namespace matching a label selector (a consistent read,
        not a cache: the API-trigger endpoint of a standby decides on it)."""
        answer: dict[str, Any] = await self._send(
            lambda: self.custom.list_namespaced_custom_object(
                labels.GROUP, labels.VERSION, namespace, plural, label_selector=label_selector
            ),
            f"list {plural} {namespace} -l {label_selector}",
            "list",
            plural,
        )
        items: list[dict[str, Any]] = answer.get("items") or []
        return items

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete a custom object; already gone is fine."""
        try:
            await self._send(
                lambda: self.custom.delete_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, namespace, plural, name
                ),
                f"delete {plural} {namespace}/{name}",
                "delete",
                plural,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ----- Jobs ----------------------------------------------------------------------------

    async def create_job(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """Create a batch/v1 Job; False when it exists already (409: an earlier try did it).

        The answer's body is not decoded (see `_unread`). Raises ApiException for a
        refusal (4xx) or when transient failures outlasted the retries, and the
        connection error itself when no answer ever came.
        """
        name = body["metadata"]["name"]
        try:
            await self._send(
                lambda: _unread(
                    lambda: self.batch.create_namespaced_job(
                        namespace, cast(Any, body), _preload_content=False
                    )
                ),
                f"create Job {namespace}/{name}",
                "create",
                "jobs",
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def dry_run_pod(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Ask admission whether this pod could be created (`dryRun=All`: nothing is stored).

        Returns when admitted (a 409 means a pod of that name exists: admitted all the
        same). Raises ApiException with the server's refusal (Pod Security, an
        admission policy, a missing ServiceAccount), as `create_job` does.
        """
        name = body["metadata"].get("name", "")
        try:
            await self._send(
                lambda: _unread(
                    lambda: self.core.create_namespaced_pod(
                        namespace, cast(Any, body), dry_run="All", _preload_content=False
                    )
                ),
                f"create Pod {namespace}/{name} (dry run)",
                "create",
                "pods",
            )
        except ApiException as exc:
            if exc.status != 409:
                raise

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and, in the background, its pods; already gone (404) is fine.

        Background propagation returns at once; the garbage collector removes the
        pods (the kubelet stops the containers first), so a cancel never waits on them.
        """
        try:
            await self._send(
                lambda: _unread(
                    lambda: self.batch.delete_namespaced_job(
                        name, namespace, propagation_policy="Background", _preload_content=False
                    )
                ),
                f"delete Job {namespace}/{name}",
                "delete",
                "jobs",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ----- core: block pods (the Pod executor) -----------------------------------------------

    async def create_pod(self, namespace: str, body: Mapping[str, Any]) -> bool:
        """Create a v1 Pod; False when it exists already (409: an earlier try did it).

        As `create_job`: the answer's body is not decoded, a refusal (4xx) or retries
        that ran out raise ApiException, no answer at all raises the connection error.
        """
        name = body["metadata"]["name"]
        try:
            await self._send(
                lambda: _unread(
                    lambda: self.core.create_namespaced_pod(
                        namespace, cast(Any, body), _preload_content=False
                    )
                ),
                f"create Pod {namespace}/{name}",
                "create",
                "pods",
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def delete_pod(self, namespace: str, name: str) -> None:
        """Delete a Pod with its own grace period (the kubelet stops it); gone (404) is fine."""
        try:
            await self._send(
                lambda: _unread(
                    lambda: self.core.delete_namespaced_pod(name, namespace, _preload_content=False)
                ),
                f"delete Pod {namespace}/{name}",
                "delete",
                "pods",
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # ----- core: Secrets, Events ------------------------------------------------------------

    async def secret_value(self, namespace: str, name: str, key: str) -> bytes | None:
        """One key of a Secret, decoded; None when the Secret or the key is missing, or
        when the operator may not read it (then the log names the missing permission)."""
        try:
            secret = await self._send(
                lambda: self.core.read_namespaced_secret(name, namespace),
                f"get secret {namespace}/{name}",
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

    def event_later(
        self, involved: Mapping[str, Any], type_: str, reason: str, message: str
    ) -> None:
        """Hand an Event to the sink: posted soon, in order, without the caller waiting
        (kube/eventsink.py: a reconcile's writes must not queue behind its history)."""
        meta = involved["metadata"]
        slim = {
            "kind": involved["kind"],
            "apiVersion": involved.get("apiVersion", labels.API_VERSION),
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid") if k in meta},
        }
        self.sink.put(Happening(slim, type_, reason, message))

    async def _sink_send(self, happening: Happening) -> None:
        await self.event(happening.involved, happening.type, happening.reason, happening.message)

    async def event(
        self,
        involved: Mapping[str, Any],
        type_: str,
        reason: str,
        message: str,
    ) -> None:
        """Post an events.k8s.io/v1 Event on an object, so `kubectl describe` shows its history.

        The time is stamped when called, before the first await (see `EventLog`): Events
        posted together (asyncio.gather, in plan order) sort in that order. A repeat of
        the same happening patches its Event's series instead of creating another.
        Events are history, not state: a failure is logged, never raised.
        """
        post = self.event_log.record(involved, type_, reason, message)
        try:
            try:
                async with post.series.lock:
                    await self._post_event(post, reason)
            except ApiException as exc:
                if post.create or exc.status != 404:
                    raise
                # The series' Event expired (or was deleted): this repeat starts a new one.
                self.event_log.lost(post)
                again = self.event_log.record(involved, type_, reason, message)
                async with again.series.lock:
                    await self._post_event(again, reason)
        except Exception as exc:
            # Events are history, not state: losing one must never stall a run.
            if not (isinstance(exc, ApiException) or is_transient(exc)):
                raise
            if post.create:
                self.event_log.lost(post)  # the next repeat creates it
            why = (forbidden(exc) or exc.reason) if isinstance(exc, ApiException) else exc
            log.warning("event %s on %s not posted: %s", reason, involved["metadata"]["name"], why)

    async def _post_event(self, post: Post, reason: str) -> None:
        """Send one Event write: its create, or the merge patch of its series."""
        ns, name = post.series.namespace, post.series.name
        if post.create:
            await self._send(
                lambda: _unread(
                    lambda: self.events.create_namespaced_event(
                        ns, cast(Any, post.body), _preload_content=False
                    )
                ),
                f"event {reason} on {ns}/{name}",
                "create",
                "events",
                self.event_limiter,
            )
            return
        await self._send(
            lambda: _unread(
                lambda: self.events.patch_namespaced_event(
                    name,
                    ns,
                    post.body,
                    _content_type=MERGE_PATCH,  # type: ignore[call-arg]
                    _preload_content=False,
                )
            ),
            f"event {reason} x{post.series.count} on {ns}/{name}",
            "patch",
            "events",
            self.event_limiter,
        )
