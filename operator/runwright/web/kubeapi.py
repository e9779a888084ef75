"""The web server's Kubernetes calls, each made AS THE USER: one API client per request.

The server never reads user data with credentials of its own. `ClusterAccess`
knows where the API server is (and its CA); `ClusterAccess.client(identity)`
builds an `ApiClient` carrying the user's bearer token, so the API server's RBAC
decides what they may see and do. In `--kubeconfig` mode (bound to 127.0.0.1,
like `kubectl proxy`) the identity is the kubeconfig's own.
"""

from __future__ import annotations

import copy
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels

RUNS, PIPELINES, TRIGGERS = "pipelineruns", "pipelines", "triggers"
MERGE_PATCH = "application/merge-patch+json"
#: Where a pod finds the cluster's CA (the chart mounts only this file there, no token).
SERVICE_ACCOUNT_CA = Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
#: Pod phases after which a pod's containers write no more log lines.
FINISHED_PHASES = ("Succeeded", "Failed")


@dataclass(frozen=True)
class Identity:
    """Who a request acts as: a bearer token, or (token None) the kubeconfig's identity."""

    token: str | None


class ClusterAccess:
    """Where the API server is; makes one client per user identity."""

    def __init__(self, base: client.Configuration, *, kubeconfig_identity: bool) -> None:
        self._base = base
        #: True in `--kubeconfig` mode: requests without a token use the kubeconfig's identity.
        self.kubeconfig_identity = kubeconfig_identity

    @classmethod
    async def from_kubeconfig(cls, path: str | None, *, use_identity: bool) -> ClusterAccess:
        """The API server of a kubeconfig; its identity is used only when `use_identity`."""
        base = client.Configuration()
        await config.load_kube_config(config_file=path, client_configuration=base)
        return cls(base, kubeconfig_identity=use_identity)

    @classmethod
    def in_cluster(
        cls, environ: Mapping[str, str] | None = None, ca_file: Path = SERVICE_ACCOUNT_CA
    ) -> ClusterAccess:
        """The API server of the pod's cluster: its address and CA, and no token at all.

        The server never calls Kubernetes as itself, so it reads no ServiceAccount
        token: the chart mounts only the cluster's CA (ConfigMap kube-root-ca.crt)
        where the token would be, and, beside the operator, that hides the operator's.
        """
        env = os.environ if environ is None else environ
        host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
        if not host or not port:
            raise RuntimeError(
                "not in a cluster (KUBERNETES_SERVICE_HOST/PORT unset): pass "
                "--cluster-kubeconfig FILE to say where the API server is, or --kubeconfig FILE"
            )
        if not ca_file.is_file():
            raise RuntimeError(
                f"{ca_file}: the cluster's CA certificate is missing; mount ConfigMap "
                "kube-root-ca.crt (key ca.crt) there, as the chart does"
            )
        base = client.Configuration()
        base.host = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
        base.ssl_ca_cert = str(ca_file)
        return cls(base, kubeconfig_identity=False)

    def client(self, identity: Identity) -> UserKube:
        """A client acting as `identity` (close it: `async with`)."""
        if identity.token is None:
            if not self.kubeconfig_identity:
                raise PermissionError("no token: log in or send Authorization: Bearer <token>")
            return UserKube(client.ApiClient(configuration=copy.copy(self._base)))
        conf = copy.copy(self._base)
        # Only the user's token: no client certificate, no exec plugin, no refresh hook
        # of the server's own identity may ride along.
        conf.cert_file = None
        conf.key_file = None
        conf.username = None
        conf.password = None
        conf.refresh_api_key_hook = None
        conf.api_key = {"BearerToken": f"Bearer {identity.token}"}
        conf.api_key_prefix = {}
        return UserKube(client.ApiClient(configuration=conf))


class UserKube:
    """The typed calls the web view makes, as one user."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    async def __aenter__(self) -> UserKube:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.api.close()

    async def list_objects(self, plural: str, namespace: str | None) -> dict[str, Any]:
        """A list of runwright objects (all namespaces when `namespace` is None)."""
        if namespace is None:
            found = await self.custom.list_cluster_custom_object(
                labels.GROUP, labels.VERSION, plural
            )
        else:
            found = await self.custom.list_namespaced_custom_object(
                labels.GROUP, labels.VERSION, namespace, plural
            )
        return dict(found)

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """One runwright object."""
        found = await self.custom.get_namespaced_custom_object(
            labels.GROUP, labels.VERSION, namespace, plural, name
        )
        return dict(found)

    async def patch_object(
        self, plural: str, namespace: str, name: str, patch: Mapping[str, Any]
    ) -> dict[str, Any]:
        """A JSON merge patch of a runwright object's spec (the fields the operator reads)."""
        found = await self.custom.patch_namespaced_custom_object(
            labels.GROUP,
            labels.VERSION,
            namespace,
            plural,
            name,
            dict(patch),
            _content_type=MERGE_PATCH,  # type: ignore[call-arg]  # (the stubs omit it)
        )
        return dict(found)

    async def create_object(
        self, plural: str, namespace: str, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Create a runwright object."""
        found = await self.custom.create_namespaced_custom_object(
            labels.GROUP, labels.VERSION, namespace, plural, dict(body)
        )
        return dict(found)

    async def delete_object(self, plural: str, namespace: str, name: str) -> None:
        """Delete a runwright object (its Jobs and pods go with it: owner references)."""
        await self.custom.delete_namespaced_custom_object(
            labels.GROUP, labels.VERSION, namespace, plural, name
        )

    async def watch_runs(
        self, namespace: str | None, resource_version: str
    ) -> AsyncIterator[dict[str, Any]]:
        """Watch events of PipelineRuns after `resource_version` (raw dicts, bookmarks too)."""
        kwargs: dict[str, Any] = {
            "resource_version": resource_version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": 300,
        }
        if namespace is None:
            func: Any = self.custom.list_cluster_custom_object
            args: tuple[str, ...] = (labels.GROUP, labels.VERSION, RUNS)
        else:
            func = self.custom.list_namespaced_custom_object
            args = (labels.GROUP, labels.VERSION, namespace, RUNS)
        async with watch.Watch() as stream:
            async for event in stream.stream(func, *args, **kwargs):
                yield dict(event)

    async def run_pods(self, namespace: str, run: str) -> list[dict[str, Any]]:
        """The pods of a run's block attempts, found by label (never through Jobs)."""
        found: Any = await self.core.list_namespaced_pod(
            namespace, label_selector=f"{labels.RUN}={run}", _preload_content=False
        )
        body: dict[str, Any] = await found.json()
        items: list[dict[str, Any]] = body.get("items", [])
        return items

    async def pod_log(self, namespace: str, pod: str, *, tail_lines: int) -> str:
        """The last `tail_lines` lines of a pod's log."""
        text = await self.core.read_namespaced_pod_log(pod, namespace, tail_lines=tail_lines)
        return str(text)

    async def follow_log(
        self, namespace: str, pod: str, *, tail_lines: int, limit_bytes: int, seconds: float
    ) -> AsyncIterator[bytes]:
        """A pod's log as it is written (`follow=true`): its last `tail_lines`, then new bytes.

        The API server ends the stream after `limit_bytes`; the request ends after
        `seconds` at most (aiohttp's total timeout), whatever the kubelet does.
        """
        response: Any = await self.core.read_namespaced_pod_log(
            pod,
            namespace,
            follow=True,
            tail_lines=tail_lines,
            limit_bytes=limit_bytes,
            _preload_content=False,
            _request_timeout=seconds,
        )
        try:
            async for chunk in response.content.iter_any():
                yield bytes(chunk)
        finally:
            response.release()

    async def pod_finished(self, namespace: str, pod: str, *, seconds: float) -> str:
        """Wait (a watch of that one pod) until it has finished; its phase then.

        `Deleted` when the pod went away first; "" when `seconds` passed first.
        """
        async with watch.Watch() as stream:
            async for event in stream.stream(
                self.core.list_namespaced_pod,
                namespace,
                field_selector=f"metadata.name={pod}",
                timeout_seconds=max(1, int(seconds)),
            ):
                if event.get("type") == "DELETED":
                    return "Deleted"
                body = event.get("raw_object")
                phase = (body.get("status") or {}).get("phase") if isinstance(body, dict) else None
                if phase in FINISHED_PHASES:
                    return str(phase)
        return ""

    async def run_events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        """The Events about one run (core/v1 view, so kubectl's and ours agree)."""
        found: Any = await self.core.list_namespaced_event(
            namespace,
            field_selector=f"involvedObject.kind=PipelineRun,involvedObject.name={name}",
            _preload_content=False,
        )
        body: dict[str, Any] = await found.json()
        items: list[dict[str, Any]] = body.get("items", [])
        return items

    async def may(self, verb: str, resource: str, namespace: str | None) -> bool:
        """A SelfSubjectAccessReview: may this user `verb` runwright `resource` there?"""
        api = client.AuthorizationV1Api(self.api)
        attributes: dict[str, Any] = {"group": labels.GROUP, "resource": resource, "verb": verb}
        if namespace is not None:
            attributes["namespace"] = namespace
        review: Any = await api.create_self_subject_access_review(
            cast(
                Any,
                {
                    "apiVersion": "authorization.k8s.io/v1",
                    "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes},
                },
            ),
            _preload_content=False,
        )
        body: dict[str, Any] = await review.json()
        return bool(body.get("status", {}).get("allowed"))


__all__ = ["ApiException", "ClusterAccess", "Identity", "UserKube"]
