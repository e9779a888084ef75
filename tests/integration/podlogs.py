"""Real pod logs on the bundled control plane: tell kwok which file to serve.

kwok is the kubelet of hack/cluster.py's Node. The Node advertises kwok's
server (status.addresses InternalIP 127.0.0.1, status.daemonEndpoints), so
`kubectl logs` (and the operator's pod log API calls) reach kwok, which
answers with the file a kwok ``Logs`` (one pod, by name) or ``ClusterLogs``
(pods by namespace and/or name) object names. kwok and the tests run on the
same host, so any path a test writes (pytest's tmp_path) will do.

    path = write_log(tmp_path / "block.log", ["rows: 1200", "done"])
    with namespace_logs(cluster, ns, path):   # every pod of ns logs these lines
        ...                                    # kubectl logs POD -> rows: 1200\\ndone

kwok picks up a new (Cluster)Logs object through a watch, so read back with
``cluster.wait_for`` (see ``wait_logs``), never right after creating it.
docs/testing-pod-logs.md explains the mechanism for test authors.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from .kube import Cluster

LOGS_CRD = "logs.kwok.x-k8s.io"
CLUSTER_LOGS_CRD = "clusterlogs.kwok.x-k8s.io"
NODE_NAME = "kwok-node-0"  # = hack/cluster.py NODE_NAME
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_pod_logs(cluster: Cluster) -> None:
    """Skip (fail under CI) when this control plane predates real pod logs.

    A cluster started before hack/cluster.py served logs has neither kwok's
    CRDs nor a kubelet port on its Node; `make cluster-down cluster-up` fixes it.
    """
    crds = cluster.kubectl("get", "crd", LOGS_CRD, CLUSTER_LOGS_CRD, check=False)
    port = cluster.kubectl(
        "get", "node", NODE_NAME, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
        check=False,
    )  # fmt: skip
    if crds.ok and port.ok and port.stdout.strip() not in ("", "0"):
        return
    reason = (
        "this control plane does not serve pod logs (no kwok Logs/ClusterLogs CRDs or no "
        "kubelet port on the Node): restart it with `make cluster-down cluster-up`"
    )
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def cri_lines(lines: Iterable[str], stream: str = "stdout", start: datetime | None = None) -> str:
    """Lines in the CRI log format kwok reads: ``<RFC 3339 nano> <stream> F <text>``."""
    t0 = start or datetime(2026, 1, 1, tzinfo=UTC)
    out = []
    for i, line in enumerate(lines):
        stamp = (t0 + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
        out.append(f"{stamp} {stream} F {line}\n")
    return "".join(out)


def write_log(path: Path, lines: Iterable[str]) -> Path:
    """Write lines as a CRI log file kwok can serve; returns its absolute path."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(cri_lines(lines))
    return path


@contextlib.contextmanager
def namespace_logs(cluster: Cluster, ns: str, path: Path) -> Iterator[str]:
    """Every container of every pod in ns logs the file at path (a ClusterLogs)."""
    name = f"runwright-test-{ns}"
    manifest = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchNamespaces": [ns]},
            "logs": [{"logsFile": str(path.resolve())}],
        },
    }
    cluster.apply(manifest, ns)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "clusterlogs", name, "--ignore-not-found", check=False)


def pod_log(cluster: Cluster, ns: str, pod: str, path: Path) -> None:
    """One pod logs the file at path (a kwok Logs named after the pod; deleted with ns)."""
    manifest = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": ns},
        "spec": {"logs": [{"logsFile": str(path.resolve())}]},
    }
    cluster.apply(manifest, ns)


def wait_logs(cluster: Cluster, ns: str, pod: str, expected: str) -> str:
    """Poll `kubectl logs` until it answers expected (kwok learns of new objects by watch)."""
    return str(
        cluster.wait_for(
            f"kubectl logs {pod} in {ns} to print the test's lines",
            lambda: (
                (r := cluster.kubectl("logs", pod, "-n", ns, check=False)).ok
                and r.stdout == expected
                and r.stdout
            ),
        )
    )
