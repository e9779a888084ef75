"""The Pod executor (the default): the operator creates block pods itself, and handles
what the Job controller used to: pods deleted or evicted behind its back, pods stuck
Pending, pods the API server refuses. Also `spec.executor: Job` choosing Jobs per Pipeline.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from runwright import labels

from .operator_fixture import (
    IMAGE,
    Operator,
    Operators,
    Runs,
    block,
    block_status,
    pipeline,
    pod,
    status,
    template,
)

pytestmark = pytest.mark.integration


def pods_of(runs: Runs, run: str) -> list[dict[str, Any]]:
    out = runs.cluster.kubectl(
        "get", "pods", "-n", runs.ns, "-l", f"{labels.RUN}={run}", "-o", "json"
    )
    items: list[dict[str, Any]] = out.json()["items"]
    return items


def wait_pod_phase(runs: Runs, name: str, phase: str) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        body = runs.find(name, kind="pod")
        return body if body and body["status"].get("phase") == phase else None

    result: dict[str, Any] = runs.cluster.wait_for(f"pod {name} {phase}", probe)
    return result


def retry_messages(runs: Runs, run: str) -> list[str]:
    return [e["message"] for e in runs.events(run) if e["reason"] == "BlockRetrying"]


def test_a_diamond_runs_as_pods_owned_by_the_run_and_no_jobs(
    operator: Operator, runs: Runs
) -> None:
    out = pod(outputs={"n": "42"})
    runs.apply(
        pipeline(
            "dia",
            [
                block("a", **out),
                block("b", "a", args=["{{ blocks.a.outputs.n }}"], timeoutSeconds=60),
                block("c", "a"),
                block("d", "b", "c"),
            ],
        )
    )
    runs.start("dia-1", "dia")
    run = runs.wait_finished("dia-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    assert runs.job_names("dia-1") == set()
    pods = {p["metadata"]["name"]: p for p in pods_of(runs, "dia-1")}
    assert set(pods) == {"dia-1-a-1", "dia-1-b-1", "dia-1-c-1", "dia-1-d-1"}
    b = pods["dia-1-b-1"]
    (owner,) = b["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "PipelineRun",
        "dia-1",
        run["metadata"]["uid"],
        True,
    )
    assert b["spec"]["restartPolicy"] == "Never"
    assert b["spec"]["activeDeadlineSeconds"] == 60
    assert b["spec"]["containers"][0]["args"] == ["42"]
    lbl = b["metadata"]["labels"]
    assert (lbl[labels.RUN], lbl[labels.BLOCK], lbl[labels.ATTEMPT]) == ("dia-1", "b", "1")
    assert lbl[labels.PIPELINE] == "dia"
    assert block_status(run, "a")["outputs"] == {"n": "42"}


def test_spec_executor_job_runs_that_pipelines_blocks_as_jobs(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("jobbed", [block("a")], executor="Job"))
    runs.start("jobbed-1", "jobbed")
    run = runs.wait_finished("jobbed-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    assert runs.job_names("jobbed-1") == {"jobbed-1-a-1"}


def test_a_pod_deleted_mid_run_fails_with_pod_deleted_and_is_retried(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "gone",
            [block("a", retry={"limit": 1, "backoffSeconds": 1})],
            template(duration="4s"),
        )
    )
    runs.start("gone-1", "gone")
    wait_pod_phase(runs, "gone-1-a-1", "Running")
    runs.cluster.kubectl("delete", "pod", "gone-1-a-1", "-n", runs.ns, "--wait=false")
    run = runs.wait_finished("gone-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    a = block_status(run, "a")
    assert (a["phase"], a["attempt"]) == ("Succeeded", 2)
    (retrying,) = retry_messages(runs, "gone-1")
    assert "PodDeleted" in retrying, retrying


def test_an_evicted_pod_fails_with_evicted_and_is_retried(operator: Operator, runs: Runs) -> None:
    runs.apply(
        pipeline(
            "evict",
            [block("a", retry={"limit": 1, "backoffSeconds": 1})],
            template(duration="6s"),
        )
    )
    runs.start("evict-1", "evict")
    wait_pod_phase(runs, "evict-1-a-1", "Running")
    evicted = {
        "status": {
            "phase": "Failed",
            "reason": "Evicted",
            "message": "The node was low on resource: memory.",
        }
    }
    runs.cluster.kubectl(
        "patch",
        "pod",
        "evict-1-a-1",
        "-n",
        runs.ns,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(evicted),
    )
    run = runs.wait_finished("evict-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    assert block_status(run, "a")["attempt"] == 2
    (retrying,) = retry_messages(runs, "evict-1")
    assert "(Evicted)" in retrying, retrying


@pytest.mark.operator_args("--pod-pending-timeout", "3")
def test_a_pod_pending_past_the_limit_fails_with_the_schedulers_reason(
    operator: Operator, runs: Runs
) -> None:
    tmpl = {**template(), "nodeSelector": {"runwright.dev/no-such-node": "true"}}
    runs.apply(pipeline("stuck", [block("a")], tmpl))
    runs.start("stuck-1", "stuck")
    run = runs.wait_finished("stuck-1")

    assert status(run)["phase"] == "Failed", status(run)
    a = block_status(run, "a")
    assert a["reason"] == "Unschedulable", a
    assert "stuck-1-a-1 was still Pending after 3s" in a["message"], a
    assert "node" in a["message"].split("--pod-pending-timeout)")[1], a  # the scheduler's words
    runs.cluster.wait_for(
        "the pending pod deleted", lambda: runs.find("stuck-1-a-1", kind="pod") is None
    )


def test_a_pod_the_api_server_refuses_fails_at_once_with_its_words(
    operator: Operator, runs: Runs
) -> None:
    quota = {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "no-pods"},
        "spec": {"hard": {"pods": "0"}},
    }
    runs.apply(quota)
    runs.cluster.wait_for(
        "the quota's status",
        lambda: (runs.get("no-pods", kind="resourcequota").get("status") or {}).get("hard"),
    )
    runs.apply(pipeline("refused", [block("a")]))
    runs.start("refused-1", "refused")
    run = runs.wait_finished("refused-1")

    assert status(run)["phase"] == "Failed", status(run)
    a = block_status(run, "a")
    assert a["reason"] == "PodRejected", a
    assert "the API server refused Pod refused-1-a-1" in a["message"], a
    assert "exceeded quota: no-pods" in a["message"], a


@pytest.mark.parametrize("executor", ["pod", "job"])
def test_delete_finished_jobs_leaves_a_finished_run_no_pods_or_jobs(
    operators: Operators, runs: Runs, executor: str
) -> None:
    """`--delete-finished-jobs`: once the run's final status is written, its attempts'
    pods (Pod executor) or Jobs and their pods (Job executor) are deleted; the run keeps
    every attempt in its status."""
    operators("--executor", executor, "--delete-finished-jobs")
    runs.apply(pipeline("gc", [block("a"), block("b", "a")]))
    runs.start("gc-1", "gc")
    run = runs.wait_finished("gc-1")
    assert status(run)["phase"] == "Succeeded", status(run)
    assert {name: block_status(run, name)["phase"] for name in ("a", "b")} == {
        "a": "Succeeded",
        "b": "Succeeded",
    }
    runs.cluster.wait_for(
        "no pod and no Job of the finished run",
        lambda: not pods_of(runs, "gc-1") and not runs.job_names("gc-1"),
    )


def test_a_pod_made_by_a_predecessor_that_died_before_its_status_write_is_judged(
    operators: Operators, runs: Runs
) -> None:
    """The window of a kill -9 between creating an attempt's pod and writing the status.

    Made deterministic: the run exists, and its attempt's pod (as the operator names,
    labels and owns it) has already failed before any operator ever looked at the run.
    The operator that starts must adopt that attempt and judge the pod that ended long
    ago (no watch event will come for it again), not start another.
    """
    runs.apply(pipeline("pre", [block("a")], template()))
    runs.start("pre-1", "pre")
    uid = runs.get("pre-1")["metadata"]["uid"]
    made = pod(fail=True, exit_code=3)
    runs.cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "pre-1-a-1",
                "labels": {
                    labels.RUN: "pre-1",
                    labels.BLOCK: "a",
                    labels.ATTEMPT: "1",
                    **made["labels"],
                },
                "annotations": made["annotations"],
                "ownerReferences": [
                    {
                        "apiVersion": labels.API_VERSION,
                        "kind": "PipelineRun",
                        "name": "pre-1",
                        "uid": uid,
                        "controller": True,
                    }
                ],
            },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "block", "image": IMAGE}],
            },
        },
        runs.ns,
    )
    wait_pod_phase(runs, "pre-1-a-1", "Failed")
    operators()
    body = runs.wait_finished("pre-1")
    assert status(body)["phase"] == "Failed"
    a = block_status(body, "a")
    assert (a["phase"], a["attempt"], a.get("exitCode")) == ("Failed", 1, 3)
    assert {p["metadata"]["name"] for p in pods_of(runs, "pre-1")} == {"pre-1-a-1"}


def test_job_ttl_deletes_a_finished_runs_pods_and_keeps_the_run(
    operators: Operators, runs: Runs
) -> None:
    """A bare pod has no ttlSecondsAfterFinished: `--job-ttl` is kept by the operator,
    also for a run that finished while no operator ran (it is looked at on start)."""
    op = operators("--job-ttl", "3")
    runs.apply(pipeline("ttl", [block("a")]))
    runs.start("ttl-1", "ttl")
    assert status(runs.wait_finished("ttl-1"))["phase"] == "Succeeded"
    assert [p["metadata"]["name"] for p in pods_of(runs, "ttl-1")] == ["ttl-1-a-1"]
    runs.cluster.wait_for("the finished run's pod deleted", lambda: not pods_of(runs, "ttl-1"))
    assert status(runs.get("ttl-1"))["phase"] == "Succeeded"
    # Finished before a restart, expired after it.
    op.stop()
    runs.start("ttl-2", "ttl")
    op = operators("--job-ttl", "3600")
    assert status(runs.wait_finished("ttl-2"))["phase"] == "Succeeded"
    op.stop()
    operators("--job-ttl", "3")
    runs.cluster.wait_for(
        "the pod of a run finished before the restart deleted", lambda: not pods_of(runs, "ttl-2")
    )
    assert status(runs.get("ttl-2"))["phase"] == "Succeeded"
