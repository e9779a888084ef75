"""A block attempt's pod: the engine's start action in, a pod template or a v1 Pod out.

Both executors run an attempt as one pod built here: the Job executor wraps
`pod_template` in a Job (executors/job_manifest.py), the Pod executor creates
`build_pod` itself (executors/pods.py). Every pod-level default therefore lives in
`pod_template` once and applies to both. Pure and deterministic (same action, same
dict), so every rule is a unit test:

- The attempt's name is `StartBlock.name` (`<run>-<block>-<attempt>`); its labels say
  run/block/attempt/pipeline (and trigger), and our labels win over the user's (a
  user label must not move a pod to another run's index).
- The block's result is its exit code plus the pod's termination message, which is
  the file at RUNWRIGHT_OUTPUT_PATH (`/dev/termination-log`), or, when the block
  failed without writing it, the last lines of its log (FallbackToLogsOnError).
- A bare Pod (the Pod executor) is owned by the PipelineRun (controller=true), so
  deleting the run garbage-collects it; `restartPolicy: Never`, because retries are
  the operator's (a new pod per attempt, after the engine's backoff); and
  `activeDeadlineSeconds` from the block's timeout, so the kubelet enforces it even
  while the operator is down.
"""

from __future__ import annotations

from typing import Any

from runwright import labels
from runwright.api.pipeline import EnvVar
from runwright.engine.plan import StartBlock
from runwright.executors.contract import RunRef, attempt_environment
from runwright.executors.pod_security import AS_WRITTEN, PodDefaults, harden

#: Where the block writes its outputs JSON: the container's termination message file,
#: so the kubelet copies it into the pod status and no sidecar or volume is needed.
OUTPUT_PATH = "/dev/termination-log"
#: A failed container with an empty output file reports its log tail instead.
TERMINATION_MESSAGE_POLICY = "FallbackToLogsOnError"
#: The one container of every block pod.
CONTAINER = "block"

_RUN_API_VERSION = labels.API_VERSION
_RUN_KIND = "PipelineRun"


def literal(text: str) -> str:
    """Escape Kubernetes' own `$(VAR)` expansion so a value reaches the process as written.

    The kubelet expands `$(NAME)` in command, args and env values (no shell, but an
    expansion all the same) and turns `$$` into `$`. Runwright promises values are
    passed verbatim, exactly as local mode passes them, so every `$` is doubled: a
    rendered `{{ variables.x }}` holding `$(HOME)` or a JSON variable containing `$`
    arrives unchanged.
    """
    return text.replace("$", "$$")


def _env_var(var: EnvVar) -> dict[str, Any]:
    """An EnvVar model as Kubernetes wants it; valueFrom is passed through untouched."""
    if var.value_from is not None:
        return {"name": var.name, "valueFrom": var.value_from}
    return {"name": var.name, "value": literal(var.value or "")}


def attempt_labels(run: RunRef, start: StartBlock) -> dict[str, str]:
    """The runwright.dev/* labels of an attempt (its Job and its pod): run, block, attempt."""
    ours = {
        labels.RUN: run.name,
        labels.BLOCK: start.block,
        labels.ATTEMPT: str(start.attempt),
        labels.PIPELINE: run.pipeline,
    }
    if run.trigger:
        ours[labels.TRIGGER] = run.trigger
    if start.item is not None:
        ours[labels.ITEM] = str(start.item)
    return ours


def owner_reference(run: RunRef) -> dict[str, Any]:
    """The PipelineRun as the controlling owner: deleting the run garbage-collects the attempt."""
    return {
        "apiVersion": _RUN_API_VERSION,
        "kind": _RUN_KIND,
        "name": run.name,
        "uid": run.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pod_template(
    run: RunRef, start: StartBlock, pod_defaults: PodDefaults | None = None
) -> dict[str, Any]:
    """The pod of one block attempt as `{"metadata": ..., "spec": ...}` (a PodTemplateSpec).

    Everything comes from the start action, which carries the whole pod intent (the
    engine merged the pipeline's `template` with the block), so the pipeline spec is
    never read again here. The contract environment (docs/block-contract.md) comes
    first and cannot be overridden by the block's env, matching local mode.

    `pod_defaults` (operator settings) makes the pod restricted-ready and not BestEffort
    where the Pipeline says nothing (executors/pod_security.py); None leaves the pod
    exactly as the Pipeline wrote it.

    Raises ValueError when the block has no image: Pipeline validation makes that
    impossible, so reaching it is a bug to surface, not a state to report.
    """
    if start.image is None:
        raise ValueError(
            f"block {start.block}: no image (spec.blocks[].image or spec.template.image)"
        )
    template = start.pod_template
    pod_labels = {**start.labels, **attempt_labels(run, start)}

    env = [_env_var(var) for var in attempt_environment(start, OUTPUT_PATH)]

    container: dict[str, Any] = {"name": CONTAINER, "image": start.image}
    # Empty command/args mean "the image's entrypoint/cmd"; omitting them says so.
    if start.command:
        container["command"] = [literal(a) for a in start.command]
    if start.args:
        container["args"] = [literal(a) for a in start.args]
    container["env"] = env
    if template.env_from:
        container["envFrom"] = list(template.env_from)
    if start.resources is not None:
        container["resources"] = start.resources
    if template.volume_mounts:
        container["volumeMounts"] = list(template.volume_mounts)
    container["terminationMessagePath"] = OUTPUT_PATH
    # FallbackToLogsOnError: a block that crashes before writing its outputs gets the
    # last lines of its log (at most 80 lines / 2 KiB) as its termination message, so
    # the run says what went wrong rather than "backoff limit reached". The kubelet
    # falls back only when the container failed AND the file is empty: a block that
    # wrote its JSON keeps it, and a success never carries a log tail. The verdict
    # (engine/verdict.py) parses outputs only on success, so a tail is never outputs.
    container["terminationMessagePolicy"] = TERMINATION_MESSAGE_POLICY

    pod_spec: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    optional: dict[str, Any] = {
        "serviceAccountName": template.service_account_name,
        "nodeSelector": template.node_selector or None,
        "tolerations": template.tolerations or None,
        "affinity": template.affinity,
        "imagePullSecrets": template.image_pull_secrets or None,
        "securityContext": template.security_context,
        "volumes": template.volumes or None,
    }
    pod_spec.update({k: v for k, v in optional.items() if v is not None})
    pod_spec = harden(
        pod_spec,
        AS_WRITTEN if pod_defaults is None else pod_defaults,
        container_security_context=template.container_security_context,
        automount_service_account_token=template.automount_service_account_token,
    )

    pod_meta: dict[str, Any] = {"labels": pod_labels}
    if start.annotations:
        pod_meta["annotations"] = dict(start.annotations)
    return {"metadata": pod_meta, "spec": pod_spec}


def build_pod(
    run: RunRef, start: StartBlock, pod_defaults: PodDefaults | None = None
) -> dict[str, Any]:
    """The v1 Pod of one block attempt, as the Pod executor creates it. Deterministic.

    `pod_template` plus what a Job would otherwise give: the attempt's name, the
    namespace, the run as controlling owner, and the block's timeout as
    `activeDeadlineSeconds` (the kubelet fails the pod with reason DeadlineExceeded).
    """
    template = pod_template(run, start, pod_defaults)
    spec = dict(template["spec"])
    if start.timeout_seconds is not None:
        spec["activeDeadlineSeconds"] = start.timeout_seconds
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template["metadata"],
            "name": start.name,
            "namespace": run.namespace,
            "ownerReferences": [owner_reference(run)],
        },
        "spec": spec,
    }
