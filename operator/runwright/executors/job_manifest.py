"""A block attempt's Job manifest: the engine's start action in, a batch/v1 Job out.

Pure and deterministic (same action, same dict), so every rule is a unit test:

- A Job is the attempt. Its name is `StartBlock.name` (`<run>-<block>-<attempt>`),
  its labels say run/block/attempt, and it is owned by the PipelineRun, so deleting
  the run garbage-collects its Jobs and pods. There is no ttlSecondsAfterFinished:
  the operator reads finished Jobs to know a block's result.
- `backoffLimit: 0`: retries are the operator's (a new Job per attempt, after the
  engine's backoff), never the Job controller's.
- The pod inside is `pod_manifest.pod_template`, the same pod the Pod executor
  creates bare: the block's result is its exit code plus the pod's termination
  message (see executors/pod_manifest.py).
"""

from __future__ import annotations

from typing import Any

from runwright.engine.plan import StartBlock
from runwright.executors.contract import RunRef
from runwright.executors.pod_manifest import (
    CONTAINER,
    OUTPUT_PATH,
    TERMINATION_MESSAGE_POLICY,
    attempt_labels,
    owner_reference,
    pod_template,
)
from runwright.executors.pod_security import PodDefaults

# Re-exported: the pod's constants were defined here before pod_manifest existed.
__all__ = ["CONTAINER", "OUTPUT_PATH", "TERMINATION_MESSAGE_POLICY", "build_job"]

#: ttlSecondsAfterFinished of every Job (None: kept); the operator sets it from --job-ttl.
JOB_TTL_SECONDS: int | None = None


def build_job(
    run: RunRef, start: StartBlock, pod_defaults: PodDefaults | None = None
) -> dict[str, Any]:
    """The batch/v1 Job manifest of one block attempt. Deterministic: same inputs, same dict.

    The pod is `pod_manifest.pod_template` (every pod-level default lives there, for
    the Pod executor too); the Job adds its name, our labels, the run as controlling
    owner, `backoffLimit: 0` and the timeout as `activeDeadlineSeconds`.

    `pod_defaults` (operator settings) makes the pod restricted-ready and not BestEffort
    where the Pipeline says nothing (executors/pod_security.py); None leaves the pod
    exactly as the Pipeline wrote it.

    Raises ValueError when the block has no image (see `pod_template`).
    """
    template = pod_template(run, start, pod_defaults)
    job_spec: dict[str, Any] = {"backoffLimit": 0}
    if JOB_TTL_SECONDS is not None:
        job_spec["ttlSecondsAfterFinished"] = JOB_TTL_SECONDS
    if start.timeout_seconds is not None:
        # The Job controller enforces the attempt's timeout even while the operator is
        # down; the engine's own wake-up at the same instant is the backstop.
        job_spec["activeDeadlineSeconds"] = start.timeout_seconds
    job_spec["template"] = template

    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": start.name,
            "namespace": run.namespace,
            "labels": attempt_labels(run, start),
            "ownerReferences": [owner_reference(run)],
        },
        "spec": job_spec,
    }
