"""The Job executor asks admission about a block's pod (a dry run) before creating its Job.

A Job whose pod admission refuses never gets a pod and retries FailedCreate forever;
the dry run turns that into the attempt's failure, PodRejected, in the server's
words. Scripted answers stand in for the API server here; the real one refuses for
real in tests/integration/test_restricted_namespace.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from runwright.api.pipeline import PipelineSpec
from runwright.controller.executors import KubeRunExecutor
from runwright.engine.block_start import pod_intent
from runwright.engine.plan import AttemptState, StartBlock
from runwright.engine.reasons import BlockReason
from runwright.executors.contract import RunRef
from runwright.executors.kubernetes import ADMITTED_SECONDS, ExecutorError, KubernetesExecutor
from runwright.executors.pod_security import RESTRICTED
from runwright.kube.client import Kube
from runwright.kube.retry import RetryPolicy
from runwright.metrics import Metrics

RUN = RunRef(namespace="data", name="etl-1", uid="uid-1", pipeline="etl", trigger=None)
PSA = (
    'pods "etl-1-a-1" is forbidden: violates PodSecurity "restricted:latest": '
    "runAsNonRoot != true (pod must not set securityContext.runAsNonRoot=false)"
)


class Answer:
    """An unread response (`_preload_content=False`): a status and a Status body."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        self._body = json.dumps({"kind": "Status", "message": message}).encode()

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        pass


class FakeApi:
    """Pods answer with `pod_answer`; Jobs are always created. Records every call."""

    def __init__(self, pod_answer: tuple[int, str] = (201, "")) -> None:
        self.pod_answer = pod_answer
        self.pods: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []

    async def create_namespaced_pod(self, namespace: str, body: Any, **kw: Any) -> Answer:
        assert kw["dry_run"] == "All"
        self.pods.append(body)
        return Answer(*self.pod_answer)

    async def create_namespaced_job(self, namespace: str, body: Any, **kw: Any) -> Answer:
        self.jobs.append(body)
        return Answer(201, "")


@pytest.fixture
async def api() -> AsyncIterator[ApiClient]:
    async with ApiClient(Configuration()) as client:
        yield client


def jobs_with(api: ApiClient, fake: FakeApi, clock: list[float]) -> KubernetesExecutor:
    kube = Kube(api, retry=RetryPolicy(tries=1), metrics=Metrics())
    kube.core = fake  # type: ignore[assignment]
    kube.batch = fake  # type: ignore[assignment]
    return KubernetesExecutor(
        kube, pod_defaults=RESTRICTED, check_admission=True, clock=lambda: clock[0]
    )


def start(run: RunRef = RUN, block: str = "a", attempt: int = 1, **template: Any) -> StartBlock:
    spec = PipelineSpec.model_validate(
        {"template": {"image": "img:1", **template}, "blocks": [{"name": block}]}
    )
    return StartBlock(
        block=block,
        attempt=attempt,
        name=f"{run.name}-{block}-{attempt}",
        image="img:1",
        command=["run"],
        args=[f"--run={run.name}"],
        env=[],
        contract={},
        timeout_seconds=None,
        ready_at=None,
        **pod_intent(spec.template, spec.blocks[0]),
    )


async def test_an_admitted_pod_is_dry_run_once_then_its_job_is_created(api: ApiClient) -> None:
    fake, clock = FakeApi(), [0.0]
    jobs = jobs_with(api, fake, clock)
    await jobs.start(RUN, start())
    (pod,) = fake.pods
    (job,) = fake.jobs
    assert pod["kind"] == "Pod" and pod["metadata"]["name"] == "etl-1-a-1"
    assert pod["spec"] == job["spec"]["template"]["spec"]


async def test_runs_of_the_same_block_share_one_dry_run_until_it_expires(api: ApiClient) -> None:
    fake, clock = FakeApi(), [0.0]
    jobs = jobs_with(api, fake, clock)
    other = RunRef(namespace="data", name="etl-2", uid="uid-2", pipeline="etl", trigger=None)
    await jobs.start(RUN, start())
    await jobs.start(other, start(other))  # other args, other run label: same shape
    assert (len(fake.pods), len(fake.jobs)) == (1, 2)
    await jobs.start(RUN, start(block="b"))  # another block: its own shape
    clock[0] = ADMITTED_SECONDS + 1
    await jobs.start(RUN, start(attempt=2))  # asked again once the answer is old
    assert (len(fake.pods), len(fake.jobs)) == (3, 4)


async def test_a_refused_pod_fails_the_attempt_as_pod_rejected_and_makes_no_job(
    api: ApiClient,
) -> None:
    fake, clock = FakeApi((403, PSA)), [0.0]
    woken: list[tuple[str, str]] = []
    executor = KubeRunExecutor(
        jobs_with(api, fake, clock),
        lambda ns, run: [],
        lambda ns, job: [],
        wake=lambda ns, run: woken.append((ns, run)),
    )
    await executor.start(RUN, start(securityContext={"runAsNonRoot": False}))
    assert fake.jobs == []
    obs = executor.observe(RUN)["a"]
    assert (obs.state, obs.reason) == (AttemptState.FAILED, BlockReason.POD_REJECTED)
    assert obs.message == f"the API server refused the pod of Job etl-1-a-1: {PSA}"
    assert woken == [("data", "etl-1")]


async def test_a_refused_pod_is_asked_about_again_next_attempt(api: ApiClient) -> None:
    fake, clock = FakeApi((403, PSA)), [0.0]
    jobs = jobs_with(api, fake, clock)
    for attempt in (1, 2):
        with pytest.raises(ExecutorError):
            await jobs.start(RUN, start(attempt=attempt))
    assert len(fake.pods) == 2  # a refusal is never remembered: an admin may fix it


@pytest.mark.parametrize(
    "answer",
    [
        (403, 'pods "x" is forbidden: exceeded quota: compute, requested: pods=1'),
        (
            403,
            'pods is forbidden: User "system:serviceaccount:rw:rw" cannot create resource '
            '"pods" in API group "" in the namespace "data"',
        ),
        (500, "etcdserver: request timed out"),
    ],
    ids=["quota", "no-permission", "server-error"],
)
async def test_an_inconclusive_dry_run_leaves_the_decision_to_the_job(
    api: ApiClient, answer: tuple[int, str]
) -> None:
    fake, clock = FakeApi(answer), [0.0]
    jobs = jobs_with(api, fake, clock)
    await jobs.start(RUN, start())
    assert len(fake.jobs) == 1
