"""The Kubernetes executor's pure half (manifests in, observations out) and its retry rules."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.api.pipeline import EnvVar, PipelineSpec
from runwright.engine.block_start import pod_intent
from runwright.engine.plan import AttemptState, StartBlock
from runwright.executors import job_records as k8s
from runwright.executors.contract import RunRef
from runwright.executors.job_manifest import build_job
from runwright.executors.job_records import (
    JobRecord,
    PodRecord,
    job_record,
    observations,
    pod_record,
    recheck_at,
)
from runwright.executors.kubernetes import ExecutorError, KubernetesExecutor
from runwright.kube.client import Kube
from runwright.kube.retry import RetryPolicy
from runwright.metrics import Metrics

RUN = RunRef(namespace="data", name="etl-x7k2p", uid="uid-1", pipeline="etl", trigger="nightly")
T0 = datetime(2026, 11, 21, 2, 0, 0, tzinfo=UTC)


def spec(**template: Any) -> PipelineSpec:
    return PipelineSpec.model_validate(
        {
            "template": {"image": "python:3.12-slim", **template},
            "blocks": [
                {"name": "extract", "command": ["python", "-m", "etl"]},
                {"name": "load", "upstream": ["extract"], "resources": {"limits": {"cpu": "2"}}},
            ],
        }
    )


def start(block: str = "extract", attempt: int = 1, **changes: Any) -> StartBlock:
    fields: dict[str, Any] = {
        "block": block,
        "attempt": attempt,
        "name": f"{RUN.name}-{block}-{attempt}",
        "image": "python:3.12-slim",
        "command": ["python", "-m", "etl"],
        "args": ["--date", "2026-11-21"],
        "env": [],
        "contract": {
            labels.ENV_RUN: RUN.name,
            labels.ENV_PIPELINE: RUN.pipeline,
            labels.ENV_BLOCK: block,
            labels.ENV_ATTEMPT: str(attempt),
            labels.ENV_EXECUTION_DATE: "2026-11-21T02:00:00Z",
            labels.ENV_VARIABLES: '{"env": "prod"}',
            labels.ENV_UPSTREAM_OUTPUTS: "{}",
        },
        "timeout_seconds": None,
        "ready_at": None,
    }
    fields.update(changes)
    return StartBlock(**fields)


def with_pod(pipeline: PipelineSpec, action: StartBlock) -> StartBlock:
    """The start action as the engine makes it: with the pod intent of `pipeline`'s block."""
    block = next((b for b in pipeline.blocks if b.name == action.block), None)
    if block is None:
        raise ValueError(f"block {action.block} is not in the pipeline spec")
    return dataclasses.replace(action, **pod_intent(pipeline.template, block))


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    return dict(job["spec"]["template"]["spec"])


def container(job: dict[str, Any]) -> dict[str, Any]:
    (only,) = pod_spec(job)["containers"]
    return dict(only)


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(job)["env"]}


# ----- build_job --------------------------------------------------------------------------


def test_job_is_named_for_the_attempt_and_owned_by_the_run() -> None:
    job = build_job(RUN, with_pod(spec(), start()))
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    meta = job["metadata"]
    assert (meta["name"], meta["namespace"]) == ("etl-x7k2p-extract-1", "data")
    assert meta["ownerReferences"] == [
        {
            "apiVersion": "runwright.dev/v1alpha1",
            "kind": "PipelineRun",
            "name": "etl-x7k2p",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_labels_on_the_job_and_the_pod_ours_win_over_the_template() -> None:
    job = build_job(
        RUN, with_pod(spec(labels={"team": "data", labels.RUN: "spoofed"}), start(attempt=2))
    )
    ours = {
        labels.RUN: "etl-x7k2p",
        labels.BLOCK: "extract",
        labels.ATTEMPT: "2",
        labels.PIPELINE: "etl",
        labels.TRIGGER: "nightly",
    }
    assert job["metadata"]["labels"] == ours
    assert job["spec"]["template"]["metadata"]["labels"] == {**ours, "team": "data"}


def test_block_pod_labels_and_annotations_win_over_the_template_ours_over_both() -> None:
    raw = spec(labels={"team": "data", "tier": "t"}, annotations={"a": "template", "b": "t"})
    blocks = [
        b.model_copy(
            update={
                "labels": {"tier": "block", labels.BLOCK: "spoofed"},
                "annotations": {"a": "block"},
            }
        )
        if b.name == "extract"
        else b
        for b in raw.blocks
    ]
    job = build_job(RUN, with_pod(raw.model_copy(update={"blocks": blocks}), start()))
    meta = job["spec"]["template"]["metadata"]
    assert meta["labels"]["team"] == "data"
    assert meta["labels"]["tier"] == "block"
    assert meta["labels"][labels.BLOCK] == "extract"
    assert meta["annotations"] == {"a": "block", "b": "t"}
    other = build_job(RUN, with_pod(raw.model_copy(update={"blocks": blocks}), start(block="load")))
    assert other["spec"]["template"]["metadata"]["annotations"] == {"a": "template", "b": "t"}
    assert other["spec"]["template"]["metadata"]["labels"]["tier"] == "t"


def test_manual_runs_have_no_trigger_label() -> None:
    manual = RunRef(namespace="data", name="r", uid="u", pipeline="etl", trigger=None)
    job = build_job(manual, with_pod(spec(), start()))
    assert labels.TRIGGER not in job["metadata"]["labels"]
    assert labels.TRIGGER not in job["spec"]["template"]["metadata"]["labels"]


def test_retries_are_the_operators_and_finished_jobs_are_kept() -> None:
    job = build_job(RUN, with_pod(spec(), start()))
    assert job["spec"]["backoffLimit"] == 0
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert "activeDeadlineSeconds" not in job["spec"]
    assert pod_spec(job)["restartPolicy"] == "Never"


def test_block_timeout_is_the_job_deadline() -> None:
    job = build_job(RUN, with_pod(spec(), start(timeout_seconds=600)))
    assert job["spec"]["activeDeadlineSeconds"] == 600


def test_container_contract_env_and_termination_message() -> None:
    job = build_job(RUN, with_pod(spec(), start()))
    c = container(job)
    assert c["name"] == "block"
    assert c["image"] == "python:3.12-slim"
    assert c["command"] == ["python", "-m", "etl"]
    assert c["args"] == ["--date", "2026-11-21"]
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "FallbackToLogsOnError"
    env = env_of(job)
    assert env[labels.ENV_OUTPUT_PATH] == "/dev/termination-log"
    assert env[labels.ENV_RUN] == "etl-x7k2p"
    assert env[labels.ENV_ATTEMPT] == "1"
    assert json.loads(env[labels.ENV_VARIABLES]) == {"env": "prod"}
    names = [e["name"] for e in c["env"]]
    assert names[:8] == [*start().contract, labels.ENV_OUTPUT_PATH]


def test_block_env_follows_with_value_from_passed_through_and_contract_protected() -> None:
    secret = {"secretKeyRef": {"name": "db", "key": "password"}}
    action = start(
        env=[
            EnvVar(name="TARGET", value="prod"),
            EnvVar(name="PASSWORD", value_from=secret),
            EnvVar(name=labels.ENV_RUN, value="not-the-run"),
        ]
    )
    c = container(build_job(RUN, with_pod(spec(), action)))
    assert c["env"][-2:] == [
        {"name": "TARGET", "value": "prod"},
        {"name": "PASSWORD", "valueFrom": secret},
    ]
    assert [e["value"] for e in c["env"] if e["name"] == labels.ENV_RUN] == ["etl-x7k2p"]


def test_values_are_never_expanded_no_shell_and_no_kubelet_substitution() -> None:
    action = start(
        command=["python", "-c", "print(1)"],
        args=["$(HOME)", "a; rm -rf /", "$$"],
        env=[EnvVar(name="PRICE", value="$5")],
    )
    c = container(build_job(RUN, with_pod(spec(), action)))
    # argv is the command itself (no sh -c); `$` is doubled so the kubelet's $(VAR)
    # expansion gives the value back exactly as written.
    assert c["command"] == ["python", "-c", "print(1)"]
    assert c["args"] == ["$$(HOME)", "a; rm -rf /", "$$$$"]
    assert env_of(build_job(RUN, with_pod(spec(), action)))["PRICE"] == "$$5"


def test_empty_command_and_args_leave_the_image_entrypoint() -> None:
    c = container(build_job(RUN, with_pod(spec(), start(command=[], args=[]))))
    assert "command" not in c
    assert "args" not in c


def test_template_pod_fields_are_merged() -> None:
    template = {
        "serviceAccountName": "etl",
        "nodeSelector": {"pool": "batch"},
        "tolerations": [{"key": "batch", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}},
        "imagePullSecrets": [{"name": "regcred"}],
        "securityContext": {"runAsNonRoot": True},
        "volumes": [{"name": "scratch", "emptyDir": {}}],
        "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
        "envFrom": [{"configMapRef": {"name": "etl-config"}}],
        "annotations": {"team": "data"},
        "resources": {"requests": {"cpu": "100m"}},
    }
    job = build_job(RUN, with_pod(spec(**template), start()))
    pod = pod_spec(job)
    for key in (
        "serviceAccountName",
        "nodeSelector",
        "tolerations",
        "affinity",
        "imagePullSecrets",
        "securityContext",
        "volumes",
    ):
        assert pod[key] == template[key], key
    c = container(job)
    assert c["volumeMounts"] == template["volumeMounts"]
    assert c["envFrom"] == template["envFrom"]
    assert c["resources"] == template["resources"]
    assert job["spec"]["template"]["metadata"]["annotations"] == {"team": "data"}


def test_unset_template_fields_are_left_out() -> None:
    job = build_job(RUN, with_pod(spec(), start()))
    assert set(pod_spec(job)) == {"restartPolicy", "containers"}
    assert "annotations" not in job["spec"]["template"]["metadata"]
    assert not {"resources", "envFrom", "volumeMounts"} & set(container(job))


def test_block_resources_win_over_the_template() -> None:
    s = spec(resources={"requests": {"cpu": "100m"}})
    assert container(build_job(RUN, with_pod(s, start("load"))))["resources"] == {
        "limits": {"cpu": "2"}
    }
    assert container(build_job(RUN, with_pod(s, start("extract"))))["resources"] == {
        "requests": {"cpu": "100m"}
    }


def test_same_inputs_give_the_same_manifest() -> None:
    s = spec(labels={"b": "1", "a": "2"}, annotations={"z": "1"})
    first = build_job(RUN, with_pod(s, start()))
    assert build_job(RUN, with_pod(s, start())) == first
    assert json.dumps(build_job(RUN, with_pod(s, start()))) == json.dumps(first)


def test_a_block_without_image_is_a_bug_not_a_job() -> None:
    with pytest.raises(ValueError, match="no image"):
        build_job(RUN, with_pod(spec(), start(image=None)))
    with pytest.raises(ValueError, match="not in the pipeline"):
        build_job(RUN, with_pod(spec(), start("nope")))


# ----- reading Jobs and pods --------------------------------------------------------------


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def job_body(
    block: str = "extract",
    attempt: int = 1,
    condition: tuple[str, str, str] | None = None,
    uid: str = "uid-1",
) -> dict[str, Any]:
    """A Job as the API (and kopf) give it; condition = (type, reason, message)."""
    body = build_job(RUN, with_pod(spec(), start(block, attempt)))
    body["status"] = {"startTime": ts(0), "active": 1}
    body["metadata"]["ownerReferences"][0]["uid"] = uid
    if condition is not None:
        type_, reason, message = condition
        body["status"] = {
            "startTime": ts(0),
            "conditions": [
                {
                    "type": type_,
                    "status": "True",
                    "reason": reason,
                    "message": message,
                    "lastTransitionTime": ts(10),
                }
            ],
        }
        if type_ == "Complete":
            body["status"]["completionTime"] = ts(9)
    return body


def pod_body(
    job: str,
    exit_code: int | None = 0,
    message: str | None = None,
    reason: str = "Completed",
    old_label: bool = False,
) -> dict[str, Any]:
    state: dict[str, Any]
    if exit_code is None:
        state = {"running": {"startedAt": ts(1)}}
    else:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": reason,
                "startedAt": ts(1),
                "finishedAt": ts(8),
                **({"message": message} if message is not None else {}),
            }
        }
    key = "job-name" if old_label else "batch.kubernetes.io/job-name"
    return {
        "metadata": {"name": f"{job}-abcde", "namespace": "data", "labels": {key: job}},
        "status": {
            "phase": "Running"
            if exit_code is None
            else ("Succeeded" if exit_code == 0 else "Failed"),
            "containerStatuses": [{"name": "block", "state": state}],
        },
    }


def observe(
    jobs: list[dict[str, Any]], pods: list[dict[str, Any]], **kwargs: Any
) -> dict[str, Any]:
    records = [r for r in map(job_record, jobs) if r is not None]
    pod_records = {p.job: p for p in map(pod_record, pods) if p is not None}
    return observations(records, pod_records, **kwargs)


def test_job_record_reads_labels_state_and_times() -> None:
    rec = job_record(job_body(attempt=3, condition=("Failed", "BackoffLimitExceeded", "boom")))
    assert rec == JobRecord(
        namespace="data",
        run="etl-x7k2p",
        block="extract",
        attempt=3,
        name="etl-x7k2p-extract-3",
        state=AttemptState.FAILED,
        reason="BackoffLimitExceeded",
        message="boom",
        started_at=T0,
        finished_at=T0 + timedelta(seconds=10),
        owner_uid="uid-1",
    )
    running = job_record(job_body())
    assert running is not None and running.state == AttemptState.RUNNING
    done = job_record(job_body(condition=("Complete", "CompletionsReached", "")))
    assert done is not None and done.state == AttemptState.SUCCEEDED
    assert done.finished_at == T0 + timedelta(seconds=9)


def test_success_criteria_met_counts_as_succeeded_before_complete() -> None:
    early = job_record(job_body(condition=("SuccessCriteriaMet", "CompletionsReached", "")))
    assert early is not None and early.state == AttemptState.SUCCEEDED


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b["metadata"].pop("labels"),
        lambda b: b["metadata"]["labels"].pop(labels.BLOCK),
        lambda b: b["metadata"]["labels"].update({labels.ATTEMPT: "two"}),
        lambda b: b["metadata"]["labels"].update({labels.ATTEMPT: "0"}),
        lambda b: b["metadata"]["labels"].update({labels.RUN: ""}),
    ],
    ids=["no-labels", "no-block", "attempt-not-a-number", "attempt-zero", "empty-run"],
)
def test_jobs_that_are_not_ours_are_ignored(mutate: Any) -> None:
    body = job_body()
    mutate(body)
    assert job_record(body) is None


def test_a_failure_target_for_the_deadline_is_final_others_wait() -> None:
    deadline = job_record(job_body(condition=("FailureTarget", "DeadlineExceeded", "late")))
    assert deadline is not None and deadline.state == AttemptState.FAILED
    backoff = job_record(job_body(condition=("FailureTarget", "BackoffLimitExceeded", "")))
    assert backoff is not None and backoff.state == AttemptState.RUNNING


def test_pod_record_reads_the_block_container_under_either_label() -> None:
    for old in (False, True):
        rec = pod_record(
            pod_body("j", exit_code=7, message="disk full", reason="Error", old_label=old)
        )
        assert rec == PodRecord(
            namespace="data",
            job="j",
            exit_code=7,
            reason="Error",
            message="disk full",
            terminated=True,
            started_at=T0 + timedelta(seconds=1),
            finished_at=T0 + timedelta(seconds=8),
        )
    assert pod_record({"metadata": {"namespace": "data", "labels": {}}}) is None


def test_pod_record_prefers_the_block_container_over_injected_ones() -> None:
    body = pod_body("j", exit_code=3, reason="Error")
    body["status"]["containerStatuses"].insert(
        0, {"name": "istio-proxy", "state": {"terminated": {"exitCode": 0}}}
    )
    rec = pod_record(body)
    assert rec is not None and rec.exit_code == 3


def test_a_pod_that_failed_without_a_container_is_terminated() -> None:
    rec = pod_record(
        {
            "metadata": {"namespace": "data", "labels": {"job-name": "j"}},
            "status": {"phase": "Failed", "reason": "Evicted", "message": "low memory"},
        }
    )
    assert rec is not None
    assert (rec.terminated, rec.exit_code, rec.reason, rec.message) == (
        True,
        None,
        "Evicted",
        "low memory",
    )
    running = pod_record(pod_body("j", exit_code=None))
    assert running is not None and not running.terminated


def test_success_reports_outputs_and_metrics_from_the_termination_message() -> None:
    name = "etl-x7k2p-extract-1"
    message = json.dumps({"outputs": {"rows": "5"}, "metrics": {"itemsProcessed": 5}})
    obs = observe(
        [job_body(condition=("Complete", "CompletionsReached", ""))],
        [pod_body(name, 0, message)],
    )["extract"]
    assert obs.state == AttemptState.SUCCEEDED
    assert (obs.attempt, obs.exit_code) == (1, 0)
    assert obs.outputs == {"rows": "5"}
    assert obs.metrics == {"itemsProcessed": 5.0}
    assert obs.started_at == T0
    assert obs.finished_at == T0 + timedelta(seconds=8)


def test_failure_reports_exit_code_and_the_end_of_the_message() -> None:
    name = "etl-x7k2p-extract-1"
    lines = "\n".join(f"line {i}" for i in range(30)) + "\nValueError: disk full\n"
    obs = observe(
        [job_body(condition=("Failed", "BackoffLimitExceeded", "Job has reached the limit"))],
        [pod_body(name, 7, lines, reason="Error")],
    )["extract"]
    assert obs.state == AttemptState.FAILED
    assert (obs.exit_code, obs.reason) == (7, "Error")
    assert obs.message.endswith("ValueError: disk full")
    assert obs.message.count("\n") == 9  # the last 10 lines


def test_failure_without_a_message_uses_the_job_condition() -> None:
    name = "etl-x7k2p-extract-1"
    obs = observe(
        [job_body(condition=("Failed", "BackoffLimitExceeded", "Job has reached the limit"))],
        [pod_body(name, 137, None, reason="OOMKilled")],
    )["extract"]
    assert (obs.exit_code, obs.reason, obs.message) == (
        137,
        "OOMKilled",
        "Job has reached the limit",
    )


def test_deadline_exceeded_is_a_timeout_at_once_without_the_pod() -> None:
    obs = observe(
        [
            job_body(
                condition=(
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
            )
        ],
        [],
    )["extract"]
    assert obs.state == AttemptState.FAILED
    assert obs.reason == "Timeout"
    assert obs.message == "Job was active longer than specified deadline"
    assert obs.exit_code is None


@pytest.mark.parametrize(
    "condition", [("Complete", "", ""), ("Failed", "BackoffLimitExceeded", "")]
)
@pytest.mark.parametrize("pod", ["missing", "running"])
def test_a_finished_job_waits_for_its_terminated_pod(
    condition: tuple[str, str, str], pod: str
) -> None:
    name = "etl-x7k2p-extract-1"
    pods = [] if pod == "missing" else [pod_body(name, exit_code=None)]
    jobs = [job_body(condition=condition)]
    obs = observe(jobs, pods)["extract"]
    assert obs.state == AttemptState.RUNNING
    assert obs.attempt == 1
    # ... but not forever: a pod deleted before we saw it would hold the block Running.
    records = [r for r in map(job_record, jobs) if r is not None]
    pod_records = {p.job: p for p in map(pod_record, pods) if p is not None}
    grace = timedelta(seconds=k8s.POD_GRACE_SECONDS)
    finished = records[0].finished_at
    assert finished is not None
    assert recheck_at(records, pod_records) == finished + grace
    soon = observe(jobs, pods, now=T0 + timedelta(seconds=11))["extract"]
    assert soon.state == AttemptState.RUNNING
    late = observe(jobs, pods, now=finished + grace)["extract"]
    expected = AttemptState.SUCCEEDED if condition[0] == "Complete" else AttemptState.FAILED
    assert late.state == expected


def test_the_latest_attempt_wins() -> None:
    jobs = [
        job_body(attempt=2),
        job_body(attempt=1, condition=("Failed", "BackoffLimitExceeded", "")),
        job_body("load", attempt=1, condition=("Complete", "", "")),
    ]
    pods = [
        pod_body("etl-x7k2p-extract-1", 1, "boom", reason="Error"),
        pod_body("etl-x7k2p-load-1", 0, ""),
    ]
    obs = observe(jobs, pods)
    assert (obs["extract"].attempt, obs["extract"].state) == (2, AttemptState.RUNNING)
    assert (obs["load"].attempt, obs["load"].state) == (1, AttemptState.SUCCEEDED)


@pytest.mark.parametrize(
    ("message", "words"),
    [("not json", "not valid JSON"), ('{"output": {}}', 'did you mean "outputs"')],
)
def test_bad_output_json_is_invalid_output(message: str, words: str) -> None:
    obs = observe(
        [job_body(condition=("Complete", "", ""))],
        [pod_body("etl-x7k2p-extract-1", 0, message)],
    )["extract"]
    assert obs.state == AttemptState.FAILED
    assert obs.reason == "InvalidOutput"
    assert obs.message.startswith(f"{labels.ENV_OUTPUT_PATH}: ")
    assert words in obs.message


def test_expected_attempts_are_running_until_the_index_shows_them() -> None:
    jobs = [job_body(attempt=1, condition=("Failed", "BackoffLimitExceeded", ""))]
    pods = [pod_body("etl-x7k2p-extract-1", 1, "x", reason="Error")]
    obs = observe(jobs, pods, expected=[("extract", 2), ("load", 1), ("extract", 1)])
    assert (obs["extract"].attempt, obs["extract"].state) == (2, AttemptState.RUNNING)
    assert (obs["load"].attempt, obs["load"].state) == (1, AttemptState.RUNNING)


def test_jobs_of_a_deleted_run_with_the_same_name_are_ignored() -> None:
    stale = job_body(condition=("Complete", "", ""), uid="old-uid")
    assert observe([stale], [pod_body("etl-x7k2p-extract-1", 0, "")], run_uid="uid-1") == {}


# ----- the executor: writes, retries, expectations ----------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: dict[str, Any] | None = None) -> None:
        self.status = status
        self.headers: dict[str, str] = {}
        self._body = json.dumps(body or {}).encode()
        self.released = False

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        self.released = True


class FakeBatch:
    """Answers each call with the next scripted outcome (a status, or an exception)."""

    def __init__(self, *script: int | BaseException) -> None:
        self.script = list(script)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _next(self) -> FakeResponse:
        outcome = self.script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return FakeResponse(outcome, {"kind": "Status", "message": f"scripted {outcome}"})

    async def create_namespaced_job(self, *args: Any, **kwargs: Any) -> FakeResponse:
        self.calls.append(("create", args, kwargs))
        return self._next()

    async def delete_namespaced_job(self, *args: Any, **kwargs: Any) -> FakeResponse:
        self.calls.append(("delete", args, kwargs))
        return self._next()


@pytest.fixture
async def api() -> Any:
    async with ApiClient(Configuration()) as api_client:
        yield api_client


def executor(
    api: ApiClient, *script: int | BaseException
) -> tuple[KubernetesExecutor, FakeBatch, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retry = RetryPolicy(tries=4, base_delay=0.1, max_delay=0.3)
    kube = Kube(api, retry=retry, metrics=Metrics(), sleep=sleep)
    fake = FakeBatch(*script)
    kube.batch = fake  # type: ignore[assignment]
    return KubernetesExecutor(kube), fake, slept


def writes(ex: KubernetesExecutor) -> int:
    """Job requests sent, as runwright_kube_requests_total counts them (every code)."""
    return int(
        sum(
            sample.value
            for metric in ex.kube.metrics.registry.collect()
            for sample in metric.samples
            if sample.name == "runwright_kube_requests_total"
            and sample.labels["resource"] == "jobs"
        )
    )


async def test_start_creates_the_job_and_expects_it(api: ApiClient) -> None:
    ex, fake, _ = executor(api, 201)
    await ex.start(RUN, with_pod(spec(), start()))
    ((verb, args, _kwargs),) = fake.calls
    assert verb == "create"
    assert args == ("data", build_job(RUN, with_pod(spec(), start())))
    assert writes(ex) == 1
    assert ex.expected("data", RUN.name) == {("extract", 1)}
    assert ex.expected("other", RUN.name) == set()
    ex.seen("data", ["etl-x7k2p-extract-1"])
    assert ex.expected("data", RUN.name) == set()


async def test_already_exists_is_success(api: ApiClient) -> None:
    ex, _, slept = executor(api, 409)
    await ex.start(RUN, with_pod(spec(), start()))
    assert (writes(ex), slept) == (1, [])
    assert ex.expected("data", RUN.name) == {("extract", 1)}


@pytest.mark.parametrize(
    "transient",
    [
        503,
        429,
        500,
        ConnectionResetError("reset"),
        aiohttp.ServerDisconnectedError(),
        TimeoutError(),
    ],
    ids=["503", "429", "500", "connection-reset", "server-disconnected", "timeout"],
)
async def test_transient_errors_are_retried_with_capped_backoff(
    api: ApiClient, transient: int | BaseException
) -> None:
    ex, _, slept = executor(api, transient, transient, transient, 201)
    await ex.start(RUN, with_pod(spec(), start()))
    assert writes(ex) == 4
    assert slept == [0.1, 0.2, 0.3]


async def test_api_exceptions_count_as_their_status(api: ApiClient) -> None:
    ex, _, slept = executor(api, ApiException(status=502, reason="Bad Gateway"), 409)
    await ex.start(RUN, with_pod(spec(), start()))
    assert (writes(ex), slept) == (2, [0.1])


async def test_retries_are_bounded(api: ApiClient) -> None:
    ex, _, slept = executor(api, 503, 503, 503, 503)
    with pytest.raises(ExecutorError, match="gave up after 4 tries: scripted 503") as info:
        await ex.start(RUN, with_pod(spec(), start()))
    assert info.value.status == 503
    assert writes(ex) == 4
    assert len(slept) == 3


@pytest.mark.parametrize("status", [400, 403, 404, 422])
async def test_client_errors_are_not_retried(api: ApiClient, status: int) -> None:
    ex, _, slept = executor(api, status)
    with pytest.raises(ExecutorError, match=f"scripted {status}") as info:
        await ex.start(RUN, with_pod(spec(), start()))
    assert info.value.status == status
    assert (writes(ex), slept) == (1, [])
    assert ex.expected("data", RUN.name) == set()


async def test_stop_deletes_in_the_background_and_not_found_is_success(api: ApiClient) -> None:
    ex, fake, _ = executor(api, 201, 404)
    await ex.start(RUN, with_pod(spec(), start()))
    await ex.stop("data", "etl-x7k2p-extract-1")
    verb, args, kwargs = fake.calls[1]
    assert (verb, args) == ("delete", ("etl-x7k2p-extract-1", "data"))
    assert kwargs["propagation_policy"] == "Background"
    assert writes(ex) == 2
    assert ex.expected("data", RUN.name) == set()  # a stopped attempt is not awaited


async def test_expectations_expire_and_can_be_forgotten(api: ApiClient) -> None:
    now = [0.0]
    ex = KubernetesExecutor(Kube(api, metrics=Metrics()), expect_seconds=60, clock=lambda: now[0])
    ex.kube.batch = FakeBatch(201, 201)  # type: ignore[assignment]
    await ex.start(RUN, with_pod(spec(), start()))
    now[0] = 30.0
    await ex.start(RUN, with_pod(spec(), start("load")))
    assert ex.expected("data", RUN.name) == {("extract", 1), ("load", 1)}
    now[0] = 61.0
    assert ex.expected("data", RUN.name) == {("load", 1)}
    ex.forget("data", RUN.name)
    assert ex.expected("data", RUN.name) == set()


def test_pure_functions_do_not_mutate_their_inputs() -> None:
    jobs = [job_body(condition=("Complete", "", ""))]
    pods = [pod_body("etl-x7k2p-extract-1", 0, '{"outputs": {"a": "b"}}')]
    before = copy.deepcopy((jobs, pods))
    observe(jobs, pods)
    assert (jobs, pods) == before


async def test_a_throttled_create_waits_what_retry_after_says(api: ApiClient) -> None:
    ex, fake, slept = executor(api, 201)
    throttled = FakeResponse(429, {"kind": "Status", "message": "too many requests"})
    throttled.headers = {"Retry-After": "2"}
    answers = [throttled, FakeResponse(201)]

    async def create(*args: Any, **kwargs: Any) -> FakeResponse:
        return answers.pop(0)

    fake.create_namespaced_job = create  # type: ignore[method-assign]
    await ex.start(RUN, with_pod(spec(), start()))
    # The server's wait, not the backoff's 0.1 (nor its 0.3 cap: Retry-After has its own).
    assert slept == [2.0]
    assert throttled.released
    assert writes(ex) == 2
