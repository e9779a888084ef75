"""Issue 10 item 5: a block that crashes on a cluster says why, as it does locally.

Block pods use `terminationMessagePolicy: FallbackToLogsOnError`: when the container
fails with an empty output file, the kubelet puts the last lines of its log (at most
80 lines or 2 KiB) in the termination message. The kubelet never falls back on
success (Kubernetes docs, "Determine the Reason for Pod Failure"), so outputs are the
block's JSON or nothing. These tests pin the manifest and the verdict path: a log
tail becomes the failure message and is never read as outputs.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from runwright import labels
from runwright.api.pipeline import PipelineSpec
from runwright.engine.plan import AttemptState, StartBlock
from runwright.engine.verdict import Ending, judge
from runwright.executors.contract import RunRef
from runwright.executors.job_manifest import build_job
from runwright.executors.job_records import job_record, observations, pod_record

RUN = RunRef(namespace="data", name="etl-x7k2p", uid="uid-1", pipeline="etl")
JOB = "etl-x7k2p-extract-1"
SPEC = PipelineSpec.model_validate(
    {"template": {"image": "python:3.12-slim"}, "blocks": [{"name": "extract"}]}
)
START = StartBlock(
    block="extract",
    attempt=1,
    name=JOB,
    image="python:3.12-slim",
    command=["python", "-m", "etl"],
    args=[],
    env=[],
    contract={labels.ENV_BLOCK: "extract"},
    timeout_seconds=None,
    ready_at=None,
)
TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/etl.py", line 3, in <module>\n'
    "    rows = load()\n"
    "KeyError: 'customers'\n"
)


def _job(failed: bool) -> dict[str, Any]:
    body = build_job(RUN, START)
    condition = (
        {
            "type": "Failed",
            "reason": "BackoffLimitExceeded",
            "message": "Job has reached the specified backoff limit",
        }
        if failed
        else {"type": "Complete", "reason": "CompletionsReached", "message": ""}
    )
    body["status"] = {
        "startTime": "2026-11-21T02:00:00Z",
        "conditions": [
            {**condition, "status": "True", "lastTransitionTime": "2026-11-21T02:00:10Z"}
        ],
    }
    if not failed:
        body["status"]["completionTime"] = "2026-11-21T02:00:09Z"
    return body


def _pod(exit_code: int, message: str) -> dict[str, Any]:
    terminated = {
        "exitCode": exit_code,
        "reason": "Completed" if exit_code == 0 else "Error",
        "startedAt": "2026-11-21T02:00:01Z",
        "finishedAt": "2026-11-21T02:00:08Z",
        "message": message,
    }
    return {
        "metadata": {
            "name": f"{JOB}-abcde",
            "namespace": "data",
            "labels": {"batch.kubernetes.io/job-name": JOB},
        },
        "status": {
            "phase": "Succeeded" if exit_code == 0 else "Failed",
            "containerStatuses": [{"name": "block", "state": {"terminated": terminated}}],
        },
    }


def _observe(failed: bool, exit_code: int, message: str) -> Any:
    job = job_record(_job(failed))
    pod = pod_record(_pod(exit_code, message))
    assert job is not None and pod is not None
    return observations([job], {pod.job: pod}, now=datetime(2026, 11, 21, 3, tzinfo=UTC))["extract"]


def test_block_pods_fall_back_to_their_log_on_error() -> None:
    (container,) = build_job(RUN, START)["spec"]["template"]["spec"]["containers"]
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_a_crash_log_tail_is_the_failure_message_not_the_job_condition() -> None:
    obs = _observe(failed=True, exit_code=1, message=TRACEBACK)
    assert obs.state == AttemptState.FAILED
    assert obs.reason == "Error"
    assert obs.message.endswith("KeyError: 'customers'")
    assert "backoff limit" not in obs.message
    assert obs.outputs == {}


def test_a_failed_block_log_that_looks_like_json_is_never_outputs() -> None:
    tail = json.dumps({"outputs": {"rows": "12"}})
    obs = _observe(failed=True, exit_code=2, message=tail)
    assert obs.state == AttemptState.FAILED
    assert obs.outputs == {} and obs.metrics == {}
    assert obs.message == tail


def test_a_success_still_reads_the_output_json() -> None:
    obs = _observe(failed=False, exit_code=0, message='{"outputs": {"rows": "12"}}')
    assert obs.state == AttemptState.SUCCEEDED
    assert obs.outputs == {"rows": "12"}


def test_the_verdict_parses_outputs_only_on_success() -> None:
    not_json = "Segmentation fault (core dumped)"
    failed = judge(Ending.FAILED, exit_code=139, output=not_json, tail=not_json)
    assert (failed.state, failed.reason, failed.message) == (
        AttemptState.FAILED,
        "Error",
        not_json,
    )
    assert failed.outputs == {}
