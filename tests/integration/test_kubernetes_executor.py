"""The Kubernetes executor against the real API server and Job controller.

A real PipelineRun is applied (so the Jobs have a real owner uid),
the engine plans the first block, `KubernetesExecutor.start` creates its Job from
`build_job`, kwok scripts the pod's outcome through the template's labels and
annotations, and the Job and pod read back are turned into the engine's
Observation by `job_record`, `pod_record` and `observations`. No operator runs
here: this is the executor alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.config import new_client_from_config

from hack import kwokstages
from runwright import labels
from runwright.api.pipeline import PipelineSpec
from runwright.api.run import PipelineRunSpec, PipelineRunStatus
from runwright.engine.plan import AttemptState, Observation, PlanInput, StartBlock, plan
from runwright.executors.contract import RunRef
from runwright.executors.job_records import job_record, observations, pod_record
from runwright.executors.kubernetes import KubernetesExecutor
from runwright.kube.client import Kube
from runwright.metrics import Metrics

from .kube import Cluster

pytestmark = pytest.mark.integration


def jobs_executor(api: ApiClient) -> KubernetesExecutor:
    """The executor over the operator's write path, counting into a registry of its own."""
    return KubernetesExecutor(Kube(api, metrics=Metrics()))


def writes(executor: KubernetesExecutor) -> int:
    """Job requests sent, as runwright_kube_requests_total counts them (every code)."""
    return int(
        sum(
            sample.value
            for metric in executor.kube.metrics.registry.collect()
            for sample in metric.samples
            if sample.name == "runwright_kube_requests_total"
            and sample.labels["resource"] == "jobs"
        )
    )


@asynccontextmanager
async def api_client(cluster: Cluster) -> AsyncIterator[ApiClient]:
    """A kubernetes_asyncio client for the test cluster, closed afterwards.

    Made inside each test (not a fixture) so it lives on the test's own event loop.
    """
    api = await new_client_from_config(config_file=str(cluster.kubeconfig))
    try:
        yield api
    finally:
        await api.close()


def pipeline_spec(
    pod_labels: dict[str, str], annotations: dict[str, str], **block: Any
) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "template": {
                "image": "registry.invalid/block:1",
                "labels": pod_labels,
                "annotations": annotations,
            },
            "blocks": [{"name": "extract", "command": ["python", "-m", "etl.extract"], **block}],
        }
    )


def apply_run(cluster: Cluster, ns: str, spec: PipelineSpec) -> tuple[RunRef, StartBlock]:
    """Apply a PipelineRun (the Jobs' owner); plan its first start with the engine.

    The run names a Pipeline that is deliberately not applied: an operator watching
    every namespace (a developer's `make demo`) would otherwise run it and create
    or delete these very Jobs. Without its Pipeline the run just waits (the engine's
    PIPELINE_GRACE_SECONDS), longer than any test here.
    """
    cluster.apply(
        {
            "apiVersion": labels.API_VERSION,
            "kind": "PipelineRun",
            "metadata": {"name": "etl-run1"},
            "spec": {"pipelineRef": {"name": "etl"}},
        },
        ns,
    )
    run = cluster.get("pipelinerun", "etl-run1", ns)
    ref = RunRef(
        namespace=ns, name="etl-run1", uid=run["metadata"]["uid"], pipeline="etl", trigger=None
    )
    now = datetime.now(UTC)
    decided = plan(
        PlanInput(
            run_name=ref.name,
            spec=PipelineRunSpec.model_validate(run["spec"]),
            status=PipelineRunStatus(),
            now=now,
            created_at=now,
            pipeline=spec,
        )
    )
    (start,) = decided.starts
    return ref, start


def job_pods(cluster: Cluster, ns: str, job: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("get", "pods", "-n", ns, "-l", f"job-name={job}", "-o", "json")
    return list(out.json()["items"])


def observe(cluster: Cluster, ns: str, run: RunRef) -> dict[str, Observation]:
    """What the controller would see: our Jobs of the run and their pods, as raw bodies."""
    jobs = cluster.kubectl(
        "get", "jobs", "-n", ns, "-l", f"{labels.RUN}={run.name}", "-o", "json"
    ).json()["items"]
    pods = cluster.kubectl(
        "get", "pods", "-n", ns, "-l", f"{labels.RUN}={run.name}", "-o", "json"
    ).json()["items"]
    records = [r for r in map(job_record, jobs) if r is not None]
    pod_records = {p.job: p for p in map(pod_record, pods) if p is not None}
    return observations(records, pod_records, run_uid=run.uid)


def finished(cluster: Cluster, ns: str, run: RunRef, block: str) -> Observation:
    def check() -> Observation | None:
        obs = observe(cluster, ns, run).get(block)
        return obs if obs is not None and obs.state != AttemptState.RUNNING else None

    result: Observation = cluster.wait_for(f"{block} to finish", check)
    return result


async def test_a_succeeding_block_reports_its_outputs(cluster: Cluster, ns: str) -> None:
    message = json.dumps({"outputs": {"rows": "5"}, "metrics": {"itemsProcessed": 5}})
    spec = pipeline_spec({}, {kwokstages.MESSAGE: message})
    run, start = apply_run(cluster, ns, spec)
    async with api_client(cluster) as api:
        executor = jobs_executor(api)
        await executor.start(run, start)
        assert writes(executor) == 1
        assert executor.expected(ns, run.name) == {("extract", 1)}

    job = cluster.get("job", start.name, ns)
    assert job["metadata"]["ownerReferences"][0]["uid"] == run.uid
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env[labels.ENV_OUTPUT_PATH] == "/dev/termination-log"
    assert env[labels.ENV_RUN] == run.name

    obs = finished(cluster, ns, run, "extract")
    assert obs.state == AttemptState.SUCCEEDED, obs
    assert (obs.attempt, obs.exit_code) == (1, 0)
    assert obs.outputs == {"rows": "5"}
    assert obs.metrics == {"itemsProcessed": 5.0}
    assert obs.started_at is not None and obs.finished_at is not None


async def test_a_failing_block_reports_its_exit_code_and_message(cluster: Cluster, ns: str) -> None:
    spec = pipeline_spec(
        {kwokstages.OUTCOME: kwokstages.FAIL},
        {
            kwokstages.EXIT_CODE: "7",
            kwokstages.MESSAGE: "Traceback (most recent call last)\nValueError: disk full\n",
        },
    )
    run, start = apply_run(cluster, ns, spec)
    async with api_client(cluster) as api:
        await jobs_executor(api).start(run, start)

    obs = finished(cluster, ns, run, "extract")
    assert obs.state == AttemptState.FAILED, obs
    assert (obs.exit_code, obs.reason) == (7, "Error")
    assert obs.message == "Traceback (most recent call last)\nValueError: disk full"


async def test_a_block_over_its_timeout_fails_with_timeout(cluster: Cluster, ns: str) -> None:
    spec = pipeline_spec({}, {kwokstages.DURATION: "1h"}, timeoutSeconds=1)
    run, start = apply_run(cluster, ns, spec)
    assert start.timeout_seconds == 1
    async with api_client(cluster) as api:
        await jobs_executor(api).start(run, start)

    # The Job controller enforces activeDeadlineSeconds; the verdict needs no pod.
    obs = finished(cluster, ns, run, "extract")
    assert obs.state == AttemptState.FAILED, obs
    assert obs.reason == "Timeout"
    assert obs.message


async def test_starting_twice_makes_one_job(cluster: Cluster, ns: str) -> None:
    spec = pipeline_spec({}, {kwokstages.DURATION: "1h"})
    run, start = apply_run(cluster, ns, spec)
    async with api_client(cluster) as api:
        executor = jobs_executor(api)
        await executor.start(run, start)
        await executor.start(run, start)  # 409 AlreadyExists: the attempt exists
        assert writes(executor) == 2
    jobs = cluster.kubectl("get", "jobs", "-n", ns, "-o", "name").stdout.split()
    assert jobs == [f"job.batch/{start.name}"]


async def test_stop_deletes_the_job_and_its_pod(cluster: Cluster, ns: str) -> None:
    spec = pipeline_spec({}, {kwokstages.DURATION: "1h"})
    run, start = apply_run(cluster, ns, spec)
    async with api_client(cluster) as api:
        executor = jobs_executor(api)
        await executor.start(run, start)
        cluster.wait_for(
            "the pod Running",
            lambda: [
                p
                for p in job_pods(cluster, ns, start.name)
                if p["status"].get("phase") == "Running"
            ],
        )
        running = observe(cluster, ns, run)["extract"]
        assert (running.attempt, running.state) == (1, AttemptState.RUNNING)

        await executor.stop(ns, start.name)
        await executor.stop(ns, start.name)  # 404 (or still deleting): already done
        assert writes(executor) == 3
        assert executor.expected(ns, run.name) == set()

    cluster.wait_for(
        "the Job gone",
        lambda: not cluster.kubectl("get", "job", start.name, "-n", ns, check=False).ok,
    )
    cluster.wait_for("its pod gone", lambda: not job_pods(cluster, ns, start.name), timeout=90)
    assert observe(cluster, ns, run) == {}
