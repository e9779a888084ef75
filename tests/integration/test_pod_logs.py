"""`kubectl logs` on the bundled control plane answers a file's lines (kwok Logs).

The path under test is the real one: kubectl -> kube-apiserver's pod log
proxy -> the Node's kubelet endpoint (kwok's server, from the Node's
InternalIP and daemonEndpoints) -> the file a kwok Logs/ClusterLogs object
names. See tests/integration/podlogs.py and docs/testing-pod-logs.md.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from hack import kwokstages

from .kube import Cluster
from .podlogs import cri_lines, namespace_logs, pod_log, require_pod_logs, wait_logs, write_log

pytestmark = pytest.mark.integration


def block_pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "block", "image": "registry.invalid/block:1"}],
        },
    }


def finished(cluster: Cluster, ns: str, name: str) -> bool:
    phase = cluster.get("pod", name, ns).get("status", {}).get("phase")
    return phase in ("Succeeded", "Failed")


def test_a_namespace_s_pods_log_the_file_its_cluster_logs_names(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    require_pod_logs(cluster)
    lines = [f"line {i}: rows={i * 100} {uuid.uuid4().hex}" for i in range(5)]
    path = write_log(tmp_path / "ns.log", lines)
    with namespace_logs(cluster, ns, path):
        cluster.apply(block_pod("ok"), ns)
        failing = block_pod("bad", {kwokstages.OUTCOME: kwokstages.FAIL})
        cluster.apply(failing, ns)
        for pod in ("ok", "bad"):
            cluster.wait_for(f"pod {pod} finished", lambda p=pod: finished(cluster, ns, p))
            # A finished pod's log stays readable, as on a real kubelet.
            assert wait_logs(cluster, ns, pod, "".join(f"{x}\n" for x in lines))
        tail = cluster.kubectl("logs", "ok", "-n", ns, "--tail=2").stdout
        assert tail == f"{lines[3]}\n{lines[4]}\n"
        limited = cluster.kubectl("logs", "ok", "-n", ns, "--limit-bytes=6").stdout
        assert limited == lines[0][:6]


def test_a_pod_s_own_logs_win_over_its_namespace_s(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    require_pod_logs(cluster)
    shared = write_log(tmp_path / "shared.log", ["shared"])
    own = write_log(tmp_path / "own.log", ["only mine", "second line"])
    with namespace_logs(cluster, ns, shared):
        cluster.apply(block_pod("mine"), ns)
        cluster.apply(block_pod("other"), ns)
        pod_log(cluster, ns, "mine", own)
        assert wait_logs(cluster, ns, "mine", "only mine\nsecond line\n")
        assert wait_logs(cluster, ns, "other", "shared\n")


def test_timestamps_come_from_the_file(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    require_pod_logs(cluster)
    path = tmp_path / "stamped.log"
    path.write_text(cri_lines(["first", "second"]))
    pod_log(cluster, ns, "stamped", path)
    cluster.apply(block_pod("stamped"), ns)
    wait_logs(cluster, ns, "stamped", "first\nsecond\n")
    out = cluster.kubectl("logs", "stamped", "-n", ns, "--timestamps").stdout.splitlines()
    assert [line.split(" ", 1)[1] for line in out] == ["first", "second"]
    assert out[0].startswith("2026-01-01T00:00:00")
