"""Plain Jobs run through the real Job controller, with kwok scripting the pods.

These check the control plane the operator will rely on: the Job controller
sees the outcomes our kwok Stages script (hack/kwokstages.py), the
termination exit code and message reach the container status, and the real
garbage collector deletes Jobs (and their pods) with their owner.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

from hack import kwokstages

from .kube import Cluster

pytestmark = pytest.mark.integration


def job(
    name: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["ownerReferences"] = [owner]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels or {}, "annotations": annotations or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "block", "image": "registry.invalid/block:1"}],
                },
            },
        },
    }


def condition(obj: dict[str, Any], type_: str) -> bool:
    return any(
        c["type"] == type_ and c["status"] == "True"
        for c in obj.get("status", {}).get("conditions", [])
    )


def job_pods(cluster: Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", ns, "-l", f"job-name={name}", "-o", "json")
    return list(out.json()["items"])


def terminated(pod: dict[str, Any]) -> dict[str, Any]:
    (status,) = pod["status"]["containerStatuses"]
    return dict(status["state"]["terminated"])


def wait_job(cluster: Cluster, ns: str, name: str, type_: str) -> dict[str, Any]:
    return dict(
        cluster.wait_for(
            f"job {name} {type_}",
            lambda: (j := cluster.get("job", name, ns)) and condition(j, type_) and j,
        )
    )


def test_success_stage_completes_a_job_with_its_termination_message(
    cluster: Cluster, ns: str
) -> None:
    outputs = json.dumps({"outputs": {"rows": "1200"}, "metrics": {"itemsProcessed": 1200}})
    cluster.apply(job("ok", annotations={kwokstages.MESSAGE: outputs}), ns)
    done = wait_job(cluster, ns, "ok", "Complete")
    assert done["status"]["succeeded"] == 1
    (pod,) = job_pods(cluster, ns, "ok")
    assert pod["status"]["phase"] == "Succeeded"
    term = terminated(pod)
    assert term["exitCode"] == 0
    assert term["reason"] == "Completed"
    assert json.loads(term["message"]) == json.loads(outputs)
    assert term["finishedAt"]


def test_failure_stage_fails_a_job_with_the_scripted_exit_code(cluster: Cluster, ns: str) -> None:
    cluster.apply(
        job(
            "bad",
            labels={kwokstages.OUTCOME: kwokstages.FAIL},
            annotations={
                kwokstages.EXIT_CODE: "7",
                kwokstages.MESSAGE: "Traceback: disk full\n",
                kwokstages.REASON: "OOMKilled",
            },
        ),
        ns,
    )
    failed = wait_job(cluster, ns, "bad", "Failed")
    assert failed["status"]["failed"] == 1
    (pod,) = job_pods(cluster, ns, "bad")
    assert pod["status"]["phase"] == "Failed"
    term = terminated(pod)
    assert (term["exitCode"], term["reason"]) == (7, "OOMKilled")
    assert term["message"] == "Traceback: disk full\n"
    assert term["finishedAt"]


def test_failure_defaults_to_exit_code_one(cluster: Cluster, ns: str) -> None:
    cluster.apply(job("bad1", labels={kwokstages.OUTCOME: kwokstages.FAIL}), ns)
    wait_job(cluster, ns, "bad1", "Failed")
    (pod,) = job_pods(cluster, ns, "bad1")
    term = terminated(pod)
    assert (term["exitCode"], term["reason"]) == (1, "Error")
    assert "message" not in term


def test_pods_run_for_the_scripted_duration(cluster: Cluster, ns: str) -> None:
    began = time.monotonic()
    cluster.apply(job("slow", annotations={kwokstages.DURATION: "3s"}), ns)
    running = cluster.wait_for(
        "a Running pod",
        lambda: [p for p in job_pods(cluster, ns, "slow") if p["status"].get("phase") == "Running"],
    )
    (status,) = running[0]["status"]["containerStatuses"]
    assert "running" in status["state"]
    wait_job(cluster, ns, "slow", "Complete")
    assert time.monotonic() - began >= 3.0


def test_deleting_the_owner_deletes_its_jobs_and_pods(cluster: Cluster, ns: str) -> None:
    owner_name = f"owner-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "configmap", owner_name, "-n", ns)
    uid = cluster.get("configmap", owner_name, ns)["metadata"]["uid"]
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner_name, "uid": uid}
    # one finished Job, one still running (its pod must be stopped and removed)
    cluster.apply(job("owned-done", owner=ref), ns)
    cluster.apply(job("owned-running", owner=ref, annotations={kwokstages.DURATION: "1h"}), ns)
    wait_job(cluster, ns, "owned-done", "Complete")
    cluster.wait_for(
        "the long pod Running",
        lambda: [
            p
            for p in job_pods(cluster, ns, "owned-running")
            if p["status"].get("phase") == "Running"
        ],
    )
    cluster.kubectl(
        "delete", "configmap", owner_name, "-n", ns, "--cascade=foreground", "--wait=false"
    )

    def gone() -> bool:
        jobs = cluster.kubectl("get", "jobs", "-n", ns, "-o", "name").stdout.split()
        pods = cluster.kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()
        owner = cluster.kubectl("get", "configmap", owner_name, "-n", ns, check=False)
        return not jobs and not pods and not owner.ok

    cluster.wait_for("owner, jobs and pods gone", gone, timeout=90)


def test_deleting_a_running_job_removes_its_pods(cluster: Cluster, ns: str) -> None:
    cluster.apply(job("cancelled", annotations={kwokstages.DURATION: "1h"}), ns)
    cluster.wait_for("a pod", lambda: job_pods(cluster, ns, "cancelled"))
    cluster.kubectl("delete", "job", "cancelled", "-n", ns, "--cascade=background")
    cluster.wait_for("pods gone", lambda: not job_pods(cluster, ns, "cancelled"), timeout=90)


def test_ttl_after_finished_deletes_a_finished_job(cluster: Cluster, ns: str) -> None:
    manifest = job("short-lived")
    manifest["spec"]["ttlSecondsAfterFinished"] = 0
    cluster.apply(manifest, ns)
    cluster.wait_for(
        "the ttl-after-finished controller to delete the Job",
        lambda: not cluster.kubectl("get", "job", "short-lived", "-n", ns, check=False).ok,
    )
