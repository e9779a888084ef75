"""The cluster as the user's kubeconfig reaches it: `--kubeconfig`, `--context`, `-n`, `-A`.

Every request carries the user's own credentials, so their RBAC applies; an answer
the user must act on (403, 404, no connection) becomes a `PluginError` with one
line naming what was refused and why, never a traceback. Lists are paginated
(`limit`/`continue`) so 10,000 runs never come in one answer. Requests go through
kubeapi's small aiohttp path (not kubernetes_asyncio's client: its import alone
would cost `list` a second).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from runwright import labels
from runwright.cli.plugin import errors, kubeapi
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.kubeapi import ApiError, Rest

MERGE_PATCH = "application/merge-patch+json"
RUNS, TRIGGERS = "pipelineruns", "triggers"
#: Objects per list request: big enough to be few requests, small enough to stream.
PAGE = 500
_CUSTOM = f"/apis/{labels.GROUP}/{labels.VERSION}"

_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)"'
    r' in API group "(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]+)")?'
)


def api_message(exc: ApiError) -> str:
    """The API server's own words (its Status `message`), else the HTTP status and reason
    (runwright.kube.errors says the same of kubernetes_asyncio's errors; importing it here
    would load that client)."""
    import json

    try:
        message = json.loads(exc.body).get("message")
    except (ValueError, AttributeError):
        message = None
    if isinstance(message, str) and message:
        return message
    text = exc.body.decode(errors="replace").strip()
    if text and not text.startswith("{"):
        return text[:300]
    return " ".join(str(part) for part in (exc.status, exc.reason) if part) or "no answer"


def refusal(exc: ApiError, what: str) -> PluginError:
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
    """One API session for one command; use as `async with await Cluster.connect(t) as c`."""

    def __init__(self, rest: Rest, namespace: str, all_namespaces: bool) -> None:
        self.rest = rest
        self.namespace = namespace
        self.all_namespaces = all_namespaces

    @classmethod
    async def connect(cls, target: Target) -> Cluster:
        """Load the kubeconfig like kubectl does (KUBECONFIG, else ~/.kube/config)."""
        try:
            conn = await kubeapi.load(target.kubeconfig, target.context)
        except (kubeapi.ConfigError, OSError) as exc:
            raise PluginError(
                f"kubeconfig: {exc} (pass --kubeconfig FILE or set KUBECONFIG)",
                errors.INVALID_INPUT,
            ) from None
        return cls(Rest(conn), target.namespace or conn.namespace, target.all_namespaces)

    async def __aenter__(self) -> Cluster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rest.close()

    @property
    def namespaces(self) -> list[str] | None:
        """The namespaces in scope: None for -A (all)."""
        return None if self.all_namespaces else [self.namespace]

    @property
    def where(self) -> str:
        """The scope in words, for messages."""
        return "all namespaces" if self.all_namespaces else f"namespace {self.namespace}"

    def runs_path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the runs in scope (or in `namespace`), or of one run."""
        if namespace is None and self.all_namespaces:
            return f"{_CUSTOM}/{RUNS}"
        path = f"{_CUSTOM}/namespaces/{namespace or self.namespace}/{RUNS}"
        return path if name is None else f"{path}/{name}"

    async def call(
        self,
        what: str,
        method: str,
        path: str,
        params: Mapping[str, str | int] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One request's JSON answer; a refusal or no connection as a PluginError."""
        try:
            return await self.rest.json(method, path, params, **kwargs)
        except ApiError as exc:
            raise refusal(exc, what) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise unreachable(what, exc) from None

    # ----- runs ------------------------------------------------------------------------

    async def pages(
        self,
        selector: str | None,
        *,
        accept: str = kubeapi.JSON,
        params: Mapping[str, str] | None = None,
        page: int = PAGE,
    ) -> AsyncIterator[dict[str, Any]]:
        """The runs in scope as list answers, `page` runs at a time (limit/continue),
        filtered by labels on the server; `accept` may ask for its Table rendering."""
        token: str | None = None
        while True:
            query: dict[str, str | int] = {"limit": page, **(params or {})}
            if selector:
                query["labelSelector"] = selector
            if token:
                query["continue"] = token
            answer: dict[str, Any] = await self.call(
                f"list pipelineruns in {self.where}", "GET", self.runs_path(), query, accept=accept
            )
            yield answer
            token = (answer.get("metadata") or {}).get("continue")
            if not token:
                return

    async def run_pages(self, selector: str | None) -> AsyncIterator[list[dict[str, Any]]]:
        """The runs in scope, a page at a time (limit/continue), filtered by labels."""
        async for answer in self.pages(selector):
            yield list(answer.get("items") or [])

    async def get_run(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The run's body, or None when the cluster has no such run."""
        ns = namespace or self.namespace
        try:
            body: dict[str, Any] = await self.rest.json("GET", self.runs_path(ns, name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise refusal(exc, f"get pipelinerun {ns}/{name}") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise unreachable(f"get pipelinerun {ns}/{name}", exc) from None
        return body

    def _path(self, plural: str, namespace: str, name: str | None = None) -> str:
        path = f"{_CUSTOM}/namespaces/{namespace}/{plural}"
        return path if name is None else f"{path}/{name}"

    async def patch(
        self, plural: str, namespace: str, name: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """One JSON merge patch of a custom object (a resourceVersion in it makes it
        conditional: 409 if the object changed since it was read)."""
        answer: dict[str, Any] = await self.call(
            f"patch {plural} {namespace}/{name}",
            "PATCH",
            self._path(plural, namespace, name),
            body=dict(body),
            content_type=MERGE_PATCH,
        )
        return answer

    async def create(self, plural: str, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create a custom object; its body as created (generateName resolved)."""
        answer: dict[str, Any] = await self.call(
            f"create {plural} in namespace {namespace}",
            "POST",
            self._path(plural, namespace),
            body=dict(body),
        )
        return answer

    async def delete(self, plural: str, namespace: str, name: str) -> None:
        """Delete a custom object (its Jobs and pods go with it: they are owned by it)."""
        await self.call(
            f"delete {plural} {namespace}/{name}", "DELETE", self._path(plural, namespace, name)
        )

    async def get_trigger(self, name: str) -> dict[str, Any]:
        """The trigger's body; not found is a PluginError naming it."""
        body: dict[str, Any] = await self.call(
            f"get trigger {self.namespace}/{name}",
            "GET",
            self._path(TRIGGERS, self.namespace, name),
        )
        return body

    # ----- pods and events -------------------------------------------------------------

    async def attempt_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The pods of a run's attempts, by the labels every executor puts on them (never
        through Jobs: the Pod executor makes pods without one)."""
        data: dict[str, Any] = await self.call(
            f"list pods of run {namespace}/{run}",
            "GET",
            f"/api/v1/namespaces/{namespace}/pods",
            {"labelSelector": f"{labels.RUN}={run}"},
        )
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
        query: dict[str, str | int] = {
            "follow": str(follow).lower(),
            "timestamps": str(timestamps).lower(),
        }
        if tail is not None:
            query["tailLines"] = tail
        if since_seconds is not None:
            query["sinceSeconds"] = since_seconds
        what = f"read the log of pod {namespace}/{pod}"
        try:
            async with self.rest.request(
                "GET", f"/api/v1/namespaces/{namespace}/pods/{pod}/log", query, accept="*/*"
            ) as response:
                async for raw in response.content:
                    yield raw.decode(errors="replace").rstrip("\n")
        except ApiError as exc:
            raise refusal(exc, what) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise unreachable(what, exc) from None

    async def run_events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The run's Events, oldest first by their microsecond eventTime (the operator
        writes events.k8s.io/v1; read as core/v1, whose field selectors every server has)."""
        data: dict[str, Any] = await self.call(
            f"list events of {namespace}/{name}",
            "GET",
            f"/api/v1/namespaces/{namespace}/events",
            {"fieldSelector": f"involvedObject.name={name},involvedObject.kind=PipelineRun"},
        )
        items = list(data.get("items") or [])
        items.sort(key=lambda e: str(e.get("eventTime") or e.get("deprecatedFirstTimestamp") or ""))
        return items


def unreachable(what: str, exc: BaseException) -> PluginError:
    """No answer from the API server, as one line."""
    return PluginError(
        f"{what}: cannot reach the API server ({type(exc).__name__}: {exc})", errors.UNREACHABLE
    )
