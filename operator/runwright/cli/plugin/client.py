"""The cluster as the user's kubeconfig reaches it: `--kubeconfig`, `--context`, `-n`, `-A`.

Every request carries the user's own credentials, so their RBAC applies; an answer
the user must act on (403, 404, no connection) becomes a `PluginError` with one
line naming what was refused and why, never a traceback. Lists are paginated
(`limit`/`continue`) so 10,000 runs never come in one answer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config.config_exception import ConfigException

from runwright import labels
from runwright.cli.plugin import errors
from runwright.cli.plugin.errors import PluginError
from runwright.kube.errors import api_message

MERGE_PATCH = "application/merge-patch+json"
RUNS, TRIGGERS = "pipelineruns", "triggers"
#: Objects per list request: big enough to be few requests, small enough to stream.
PAGE = 500

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r' in API group "(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]+)")?'
)


def refusal(exc: ApiException, what: str) -> PluginError:
    """The API server's refusal of `what` as one line and its exit status."""
    message = api_message(exc)
    if exc.status == 403:
        found = _FORBIDDEN.search(message)
        if found is not None:
            where = f"in namespace {found['namespace']}" if found["namespace"] else "cluster-wide"
            group = found["group"] or "core"
            return PluginError(
                f"{what}: forbidden: {found['user']} may not {found['verb']} "
                f"{found['resource']} (API group {group}) {where}; ask a cluster admin for a "
                f"Role granting {found['verb']} on {found['resource']}",
                errors.FORBIDDEN,
            )
        return PluginError(f"{what}: forbidden: {message}", errors.FORBIDDEN)
    if exc.status == 404:
        return PluginError(f"{what}: not found ({message})", errors.NOT_FOUND)
    if exc.status == 401:
        return PluginError(
            f"{what}: unauthorized: the kubeconfig's credentials were refused ({message})",
            errors.FORBIDDEN,
        )
    return PluginError(f"{what}: {message}", errors.FAILED)


@dataclass
class Target:
    """Where to look: the kubeconfig and context to use, and which namespace(s)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    all_namespaces: bool = False


class Cluster:
    """One API client for one command; use as `async with await Cluster.connect(t) as c`."""

    def __init__(self, api: client.ApiClient, namespace: str, all_namespaces: bool) -> None:
        self.api = api
        self.namespace = namespace
        self.all_namespaces = all_namespaces
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    @classmethod
    async def connect(cls, target: Target) -> Cluster:
        """Load the kubeconfig like kubectl does (KUBECONFIG, else ~/.kube/config)."""
        try:
            api = await config.new_client_from_config(
                config_file=target.kubeconfig, context=target.context
            )
            namespace = target.namespace or _context_namespace(target)
        except (ConfigException, OSError) as exc:
            raise PluginError(
                f"kubeconfig: {exc} (pass --kubeconfig FILE or set KUBECONFIG)",
                errors.INVALID_INPUT,
            ) from None
        return cls(api, namespace, target.all_namespaces)

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.api.close()

    @property
    def namespaces(self) -> list[str] | None:
        """The namespaces in scope: None for -A (all)."""
        return None if self.all_namespaces else [self.namespace]

    async def _call(self, what: str, request: Any) -> Any:
        try:
            return await request
        except ApiException as exc:
            raise refusal(exc, what) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PluginError(
                f"{what}: cannot reach the API server ({type(exc).__name__}: {exc})",
                errors.UNREACHABLE,
            ) from None

    async def _raw(self, what: str, request: Any) -> Any:
        """A request sent with `_preload_content=False` (the client then raises nothing):
        its response when 2xx, else the refusal, in the server's words."""
        response = await self._call(what, request)
        if int(response.status) < 300:
            return response
        try:
            error = ApiException(status=int(response.status), reason=response.reason)
            error.body = await response.read()
        finally:
            response.release()
        raise refusal(error, what)

    # ----- runs ------------------------------------------------------------------------

    async def run_pages(self, selector: str | None) -> AsyncIterator[list[dict[str, Any]]]:
        """The runs in scope, a page at a time (limit/continue), filtered by labels."""
        token: str | None = None
        where = "all namespaces" if self.all_namespaces else f"namespace {self.namespace}"
        while True:
            kwargs: dict[str, Any] = {"limit": PAGE}
            if selector:
                kwargs["label_selector"] = selector
            if token:
                kwargs["_continue"] = token
            if self.all_namespaces:
                request = self.custom.list_cluster_custom_object(
                    labels.GROUP, labels.VERSION, RUNS, **kwargs
                )
            else:
                request = self.custom.list_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, self.namespace, RUNS, **kwargs
                )
            answer = await self._call(f"list pipelineruns in {where}", request)
            yield list(answer.get("items") or [])
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return

    async def get_run(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The run's body, or None when the cluster has no such run."""
        ns = namespace or self.namespace
        try:
            body: dict[str, Any] = await self.custom.get_namespaced_custom_object(
                labels.GROUP, labels.VERSION, ns, RUNS, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise refusal(exc, f"get pipelinerun {ns}/{name}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise PluginError(
                f"get pipelinerun {ns}/{name}: cannot reach the API server ({exc})",
                errors.UNREACHABLE,
            ) from None
        return body

    async def patch(
        self, plural: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One JSON merge patch of a custom object (a resourceVersion in it makes it
        conditional: 409 if the object changed since it was read)."""
        answer: dict[str, Any] = await self._call(
            f"patch {plural} {namespace}/{name}",
            self.custom.patch_namespaced_custom_object(
                labels.GROUP,
                labels.VERSION,
                namespace,
                plural,
                name,
                dict(body),
                # Without it a dict body is sent as a JSON Patch (the stubs omit it).
                _content_type=MERGE_PATCH,  # type: ignore[call-arg]
            ),
        )
        return answer

    async def create(self, plural: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a custom object; its body as created (generateName resolved)."""
        answer: dict[str, Any] = await self._call(
            f"create {plural} in namespace {namespace}",
            self.custom.create_namespaced_custom_object(
                labels.GROUP, labels.VERSION, namespace, plural, dict(body)
            ),
        )
        return answer

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete a custom object (its Jobs and pods go with it: they are owned by it)."""
        await self._call(
            f"delete {plural} {namespace}/{name}",
            self.custom.delete_namespaced_custom_object(
                labels.GROUP, labels.VERSION, namespace, plural, name
            ),
        )

    async def get_trigger(self, name: str) -> dict[str, Any]:
        """The trigger's body; not found is a PluginError naming it."""
        body: dict[str, Any] = await self._call(
            f"get trigger {self.namespace}/{name}",
            self.custom.get_namespaced_custom_object(
                labels.GROUP, labels.VERSION, self.namespace, TRIGGERS, name
            ),
        )
        return body

    # ----- pods and events -------------------------------------------------------------

    async def attempt_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The pods of a run's attempts, by the labels every executor puts on them (never
        through Jobs: the Pod executor makes pods without one)."""
        answer = await self._raw(
            f"list pods of run {namespace}/{run}",
            self.core.list_namespaced_pod(
                namespace, label_selector=f"{labels.RUN}={run}", _preload_content=False
            ),
        )
        data: dict[str, Any] = await answer.json()
        return list(data.get("items") or [])

    async def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> AsyncIterator[str]:
        """A pod's log, line by line (following it while the pod runs, with `follow`)."""
        kwargs: dict[str, Any] = {
            "follow": follow,
            "timestamps": timestamps,
            "_preload_content": False,
        }
        if tail is not None:
            kwargs["tail_lines"] = tail
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        response = await self._raw(
            f"read the log of pod {namespace}/{pod}",
            self.core.read_namespaced_pod_log(pod, namespace, **kwargs),
        )
        try:
            async for raw in response.content:
                yield raw.decode(errors="replace").rstrip("\n")
        finally:
            response.release()

    async def run_events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The run's Events, oldest first by their microsecond eventTime (the operator
        writes events.k8s.io/v1; read as core/v1, whose field selectors every server has)."""
        answer = await self._raw(
            f"list events of {namespace}/{name}",
            self.core.list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.name={name},involvedObject.kind=PipelineRun",
                _preload_content=False,
            ),
        )
        data: dict[str, Any] = await answer.json()
        items = list(data.get("items") or [])
        items.sort(key=lambda e: str(e.get("eventTime") or e.get("deprecatedFirstTimestamp") or ""))
        return items


def _context_namespace(target: Target) -> str:
    """The current context's namespace, like kubectl; `default` when it names none."""
    contexts, active = config.list_kube_config_contexts(target.kubeconfig)
    chosen = active
    if target.context:
        chosen = next((c for c in contexts if c.get("name") == target.context), None)
        if chosen is None:
            raise ConfigException(f"context {target.context!r} is not in the kubeconfig")
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else "default"
