"""The Pod executor's pure half: the pod manifest, and pods (with their faults) as observations.

Also the Job executor's verdict from a terminated pod, before the Job's condition.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.engine.plan import AttemptState
from runwright.executors.job_manifest import build_job
from runwright.executors.job_records import JobRecord, observations, pod_record
from runwright.executors.pod_manifest import build_pod, pod_template
from runwright.executors.pod_records import (
    AttemptPod,
    attempt_pod,
    attempt_pod_news,
    pending_recheck_at,
    pod_observations,
)
from runwright.executors.pods import PodExecutor
from runwright.kube.client import Kube
from runwright.kube.retry import RetryPolicy
from runwright.metrics import Metrics

from .test_kubernetes_executor import RUN, api, spec, start, with_pod

__all__ = ["api"]  # the fixture

T0 = datetime(2026, 11, 21, 2, 0, 0, tzinfo=UTC)
NAME = f"{RUN.name}-extract-1"


def body(
    *,
    phase: str = "Running",
    name: str = NAME,
    attempt: int = 1,
    container: dict[str, Any] | None = None,
    deleting: bool = False,
    **status: Any,
) -> dict[str, Any]:
    """A Pod executor's pod as the watch shows it."""
    meta: dict[str, Any] = {
        "name": name,
        "namespace": RUN.namespace,
        "creationTimestamp": T0.isoformat(),
        "labels": {
            labels.RUN: RUN.name,
            labels.BLOCK: "extract",
            labels.ATTEMPT: str(attempt),
        },
        "ownerReferences": [{"kind": "PipelineRun", "uid": RUN.uid, "controller": True}],
    }
    if deleting:
        meta["deletionTimestamp"] = (T0 + timedelta(seconds=5)).isoformat()
    st: dict[str, Any] = {"phase": phase, **status}
    if container is not None:
        st["containerStatuses"] = [{"name": "block", "state": container}]
    return {"metadata": meta, "status": st}


def observe(*bodies: dict[str, Any], now: datetime | None = None, limit: float = 600) -> Any:
    pods = [p for p in (attempt_pod(b) for b in bodies) if p is not None]
    return pod_observations(pods, run_uid=RUN.uid, now=now, pending_timeout=limit)["extract"]


def terminated(code: int, message: str = "", reason: str = "") -> dict[str, Any]:
    return {
        "terminated": {
            "exitCode": code,
            "message": message,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": T0.isoformat(),
            "finishedAt": (T0 + timedelta(seconds=3)).isoformat(),
        }
    }


# ----- the manifest -----------------------------------------------------------------------


def test_the_pod_is_the_jobs_template_plus_name_owner_and_deadline() -> None:
    action = with_pod(spec(nodeSelector={"pool": "batch"}), start(timeout_seconds=90))
    pod = build_pod(RUN, action)
    job = build_job(RUN, action)

    assert (pod["apiVersion"], pod["kind"]) == ("v1", "Pod")
    assert pod["metadata"]["name"] == action.name == job["metadata"]["name"]
    assert pod["metadata"]["namespace"] == RUN.namespace
    (owner,) = pod["metadata"]["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "PipelineRun",
        RUN.name,
        RUN.uid,
        True,
    )
    assert pod["metadata"]["labels"] == job["spec"]["template"]["metadata"]["labels"]
    assert pod["metadata"]["labels"][labels.ATTEMPT] == "1"
    assert pod["metadata"]["labels"][labels.TRIGGER] == "nightly"
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["activeDeadlineSeconds"] == 90
    # Every pod-level default is the template's, for both executors.
    without_deadline = {k: v for k, v in pod["spec"].items() if k != "activeDeadlineSeconds"}
    assert without_deadline == job["spec"]["template"]["spec"] == pod_template(RUN, action)["spec"]
    assert pod["spec"]["nodeSelector"] == {"pool": "batch"}


def test_a_pod_without_timeout_has_no_deadline() -> None:
    assert "activeDeadlineSeconds" not in build_pod(RUN, start())["spec"]


def test_user_labels_cannot_move_a_pod_to_another_run() -> None:
    pod = build_pod(RUN, start(labels={labels.RUN: "other", "team": "data"}))
    assert pod["metadata"]["labels"][labels.RUN] == RUN.name
    assert pod["metadata"]["labels"]["team"] == "data"


# ----- observations -----------------------------------------------------------------------


def test_a_jobs_pod_is_not_an_attempt_pod() -> None:
    job_pod = body()
    job_pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] = NAME
    assert attempt_pod(job_pod) is None
    assert attempt_pod(body()) is not None


def test_a_succeeded_pod_gives_its_outputs() -> None:
    out = json.dumps({"outputs": {"rows": "12"}})
    obs = observe(body(phase="Succeeded", container=terminated(0, out)))
    assert (obs.state, obs.exit_code, obs.outputs) == (AttemptState.SUCCEEDED, 0, {"rows": "12"})


def test_a_failed_container_gives_its_code_and_tail() -> None:
    obs = observe(body(phase="Failed", container=terminated(7, "boom\nno table")))
    assert (obs.state, obs.exit_code, obs.reason) == (AttemptState.FAILED, 7, "Error")
    assert "no table" in obs.message


def test_an_evicted_pod_fails_with_evicted_and_the_nodes_words() -> None:
    obs = observe(body(phase="Failed", reason="Evicted", message="low on memory"))
    assert (obs.state, obs.reason, obs.message) == (AttemptState.FAILED, "Evicted", "low on memory")


def test_a_pod_lost_with_its_node_keeps_the_nodes_reason() -> None:
    obs = observe(body(phase="Failed", reason="NodeLost", message="node n1 is gone"))
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "NodeLost")


def test_a_deadline_exceeded_pod_is_a_timeout() -> None:
    obs = observe(body(phase="Failed", reason="DeadlineExceeded", container=terminated(137)))
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "Timeout")


def test_a_pod_being_deleted_fails_with_pod_deleted_even_once_killed() -> None:
    for pod in (body(deleting=True), body(deleting=True, container=terminated(137))):
        obs = observe(pod)
        assert (obs.state, obs.reason) == (AttemptState.FAILED, "PodDeleted")
        assert f"pod {NAME} was deleted before it finished" in obs.message


def test_a_pod_that_succeeded_before_its_deletion_is_still_a_success() -> None:
    obs = observe(body(phase="Succeeded", deleting=True, container=terminated(0, "{}")))
    assert obs.state == AttemptState.SUCCEEDED


def test_a_gone_pod_that_never_terminated_is_pod_deleted() -> None:
    gone = attempt_pod(body(), gone=True)
    assert gone is not None
    obs = pod_observations([gone])["extract"]
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "PodDeleted")


def test_a_pending_pod_runs_until_the_limit_then_fails_with_its_waiting_reason() -> None:
    waiting = {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
    pod = body(phase="Pending", container=waiting)
    assert observe(pod, now=T0 + timedelta(seconds=59), limit=60).state == AttemptState.RUNNING
    obs = observe(pod, now=T0 + timedelta(seconds=60), limit=60)
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "ImagePullBackOff")
    assert obs.message == (
        f"pod {NAME} was still Pending after 60s (the operator's --pod-pending-timeout)"
        ": ImagePullBackOff: pull access denied"
    )


def test_an_unschedulable_pod_says_what_the_scheduler_said() -> None:
    cond = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": "0/1 nodes are available",
    }
    obs = observe(body(phase="Pending", conditions=[cond]), now=T0 + timedelta(hours=1))
    assert (obs.reason, obs.message.endswith(": Unschedulable: 0/1 nodes are available")) == (
        "Unschedulable",
        True,
    )


def test_a_pending_pod_without_a_known_reason_fails_with_pod_pending_timeout() -> None:
    obs = observe(body(phase="Pending"), now=T0 + timedelta(hours=1))
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "PodPendingTimeout")


def test_the_run_is_rechecked_when_a_pending_pod_runs_out_of_time() -> None:
    pods = [p for p in (attempt_pod(body(phase="Pending")),) if p is not None]
    assert pending_recheck_at(pods, 60) == T0 + timedelta(seconds=60)
    assert pending_recheck_at(pods, 60, now=T0 + timedelta(seconds=61)) is None
    running = [p for p in (attempt_pod(body(phase="Running")),) if p is not None]
    assert pending_recheck_at(running, 60) is None


def test_the_latest_attempt_wins_and_other_runs_pods_are_ignored() -> None:
    old = body(phase="Failed", container=terminated(1))
    new = body(name=f"{RUN.name}-extract-2", attempt=2)
    assert observe(old, new).attempt == 2
    stranger = body(name=f"{RUN.name}-extract-3", attempt=3)
    stranger["metadata"]["ownerReferences"][0]["uid"] = "uid-of-a-deleted-run"
    assert observe(old, new, stranger).attempt == 2


def test_only_an_end_or_a_deletion_is_news() -> None:
    pending, running = attempt_pod(body(phase="Pending")), attempt_pod(body())
    done = attempt_pod(body(phase="Succeeded", container=terminated(0)))
    assert not attempt_pod_news(None, pending)
    assert not attempt_pod_news(pending, running)
    assert attempt_pod_news(running, done)
    assert not attempt_pod_news(done, done)
    assert attempt_pod_news(running, attempt_pod(body(deleting=True)))
    assert attempt_pod_news(running, attempt_pod(body(), gone=True))


# ----- the Job executor takes the pod's verdict first -----------------------------------


def job(state: AttemptState = AttemptState.RUNNING) -> JobRecord:
    return JobRecord(
        namespace=RUN.namespace,
        run=RUN.name,
        block="extract",
        attempt=1,
        name=NAME,
        state=state,
        started_at=T0,
        owner_uid=RUN.uid,
    )


def job_pod(**kw: Any) -> Any:
    b = body(**kw)
    b["metadata"]["labels"]["batch.kubernetes.io/job-name"] = NAME
    return pod_record(b)


def test_a_running_job_whose_pod_ended_is_judged_from_the_pod_at_once() -> None:
    out = json.dumps({"outputs": {"rows": "3"}})
    ok = observations([job()], {NAME: job_pod(phase="Succeeded", container=terminated(0, out))})
    assert (ok["extract"].state, ok["extract"].outputs) == (AttemptState.SUCCEEDED, {"rows": "3"})
    bad = observations([job()], {NAME: job_pod(phase="Failed", container=terminated(3, "x"))})
    assert (bad["extract"].state, bad["extract"].exit_code) == (AttemptState.FAILED, 3)


def test_a_running_job_whose_pod_is_being_deleted_waits_for_the_job() -> None:
    seen = observations([job()], {NAME: job_pod(deleting=True, container=terminated(137))})
    assert seen["extract"].state == AttemptState.RUNNING


# ----- the executor's writes ----------------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int) -> None:
        self.status = status
        self.headers: dict[str, str] = {}

    async def read(self) -> bytes:
        return b"{}"

    def release(self) -> None:
        return None


class FakeCore:
    """Answers pod creates and deletes with the scripted outcomes, in order."""

    def __init__(self, *script: int | BaseException) -> None:
        self.script = list(script)
        self.calls: list[str] = []

    def _next(self) -> FakeResponse:
        outcome = self.script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return FakeResponse(outcome)

    async def create_namespaced_pod(self, *args: Any, **kwargs: Any) -> FakeResponse:
        self.calls.append("create")
        return self._next()

    async def delete_namespaced_pod(self, *args: Any, **kwargs: Any) -> FakeResponse:
        self.calls.append("delete")
        return self._next()


def executor(
    api: ApiClient, core: FakeCore, pods: list[AttemptPod], woken: list[str]
) -> PodExecutor:
    kube = Kube(
        api,
        retry=RetryPolicy(tries=2, base_delay=0, max_delay=0),
        metrics=Metrics(),
    )
    kube.core = core  # type: ignore[assignment]
    return PodExecutor(
        kube, lambda _ns, _run: pods, clock=lambda: T0, wake=lambda _ns, run: woken.append(run)
    )


def refusal(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="refused")
    exc.body = json.dumps({"kind": "Status", "message": message})
    return exc


async def test_a_refused_pod_fails_the_attempt_at_once_with_the_servers_words(
    api: ApiClient,
) -> None:
    core, woken = FakeCore(refusal(403, 'pods "x" is forbidden: exceeded quota: no-pods')), []
    ex = executor(api, core, [], woken)
    await ex.start(RUN, start())
    obs = ex.observe(RUN)["extract"]
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "PodRejected")
    assert f"the API server refused Pod {NAME}" in obs.message
    assert "exceeded quota: no-pods" in obs.message
    assert woken == [RUN.name] and core.calls == ["create"]


async def test_a_created_pod_is_running_until_the_watch_shows_it_and_409_is_success(
    api: ApiClient,
) -> None:
    core, woken = FakeCore(201, 409), []
    ex = executor(api, core, [], woken)
    await ex.start(RUN, start())
    await ex.start(RUN, start())
    assert ex.observe(RUN)["extract"].state == AttemptState.RUNNING
    assert ex.recheck_at(RUN) == T0 + timedelta(seconds=ex.pending_timeout)
    assert woken == []


async def test_a_pod_found_existing_and_already_ended_is_judged_at_once_not_expected(
    api: ApiClient,
) -> None:
    """An operator died between creating the pod and writing the status: its successor
    starts the attempt again, is answered 409, and the pod the watch showed long ago has
    ended. No event will come for it: the run is woken, and the attempt is judged from
    the pod (it was held Running until the expectation's time-out: a stuck run)."""
    ended = attempt_pod(body(phase="Failed", container=terminated(1)))
    assert ended is not None
    core, woken = FakeCore(409), []
    ex = executor(api, core, [ended], woken)
    await ex.start(RUN, start())
    assert woken == [RUN.name]
    obs = ex.observe(RUN)["extract"]
    assert (obs.attempt, obs.state) == (1, AttemptState.FAILED)
    assert ex.recheck_at(RUN) is None


async def test_transient_errors_that_outlast_the_retries_raise_for_the_reconcile(
    api: ApiClient,
) -> None:
    from runwright.executors.kubernetes import ExecutorError

    ex = executor(api, FakeCore(refusal(503, "busy"), refusal(503, "busy")), [], [])
    with pytest.raises(ExecutorError, match="gave up after 2 tries"):
        await ex.start(RUN, start())


async def test_a_run_with_a_pod_deleted_behind_its_back_sees_pod_deleted(api: ApiClient) -> None:
    ex = executor(api, FakeCore(), [], [])
    ex.deleted(body())
    obs = ex.observe(RUN)["extract"]
    assert (obs.state, obs.reason) == (AttemptState.FAILED, "PodDeleted")


# ----- choosing the executor ------------------------------------------------------------------


def test_executor_names_and_the_deprecated_alias() -> None:
    from runwright.controller.config import OperatorConfig, executor_kind

    assert [executor_kind(n) for n in ("pod", "job", "local", "kubernetes")] == [
        "pod",
        "job",
        "local",
        "job",
    ]
    with pytest.raises(ValueError, match="use pod \\(the default\\), job or local"):
        executor_kind("jobs")
    assert OperatorConfig().executor == "pod"


def test_runwright_executor_kubernetes_means_job_and_is_flagged_deprecated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runwright.controller.config import OperatorConfig

    monkeypatch.setenv("RUNWRIGHT_EXECUTOR", "kubernetes")
    monkeypatch.setenv("RUNWRIGHT_POD_PENDING_TIMEOUT", "42")
    config = OperatorConfig.from_env()
    assert (config.executor, config.deprecated_executor) == ("job", "kubernetes")
    assert config.pod_pending_timeout == 42.0
    monkeypatch.setenv("RUNWRIGHT_EXECUTOR", "nope")
    with pytest.raises(ValueError, match="RUNWRIGHT_EXECUTOR"):
        OperatorConfig.from_env()
