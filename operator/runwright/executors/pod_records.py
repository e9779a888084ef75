"""The Pod executor's pods as the operator sees them, and the engine's view of an attempt from them.

Pure, like job_records: a pod body (as the watch gives it) becomes an `AttemptPod`
(which attempt it is, plus the shared `PodRecord` of its container), the pods of a
run become the engine's `Observation`s (`pod_observations`, judged by the one
attempt verdict), and `attempt_pod_news` says which changes wake a run. No I/O, no
clock (times are passed in), so every fault the Job controller used to absorb is a
unit test here:

- a pod deleted by someone else, or lost with its node: Failed, PodDeleted (or the
  reason the pod last showed, e.g. Evicted, NodeLost);
- a pod Failed by the kubelet or the node (Evicted, Shutdown, NodeLost...): Failed
  with that reason and message;
- a pod still Pending past the pending limit (`--pod-pending-timeout`): Failed with
  the reason Kubernetes gives (Unschedulable, ErrImagePull, ImagePullBackOff,
  CreateContainerConfigError...) or PodPendingTimeout, and its message;
- `activeDeadlineSeconds` ran out (pod reason DeadlineExceeded): Failed, Timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runwright import labels
from runwright.engine import outputs
from runwright.engine.naming import item_key
from runwright.engine.plan import AttemptState, Observation
from runwright.engine.reasons import BlockReason
from runwright.engine.verdict import Ending, judge
from runwright.executors.job_records import (
    JOB_NAME_LABELS,
    PodRecord,
    _list,
    _mapping,
    _time,
    pod_state,
)
from runwright.executors.pod_manifest import CONTAINER

#: The pod-level reason the kubelet gives when activeDeadlineSeconds ran out.
DEADLINE_EXCEEDED = "DeadlineExceeded"
#: Default of `--pod-pending-timeout`: how long an attempt's pod may stay Pending.
DEFAULT_PENDING_TIMEOUT = 600.0

_RUN_KIND = "PipelineRun"


@dataclass(frozen=True)
class AttemptPod:
    """One pod of the Pod executor: which attempt it is, and what it says of it."""

    run: str
    block: str
    attempt: int
    name: str
    pod: PodRecord
    """Its `block` container's state (shared with the Job executor's pods)."""
    phase: str = ""
    created_at: datetime | None = None
    owner_uid: str | None = None
    """uid of the controlling PipelineRun: tells a pod of a deleted run of the same name."""
    pod_reason: str = ""
    """The pod's own status.reason (Evicted, DeadlineExceeded, NodeLost...)."""
    waiting_reason: str = ""
    """Why it is not running yet: the container's waiting reason, or Unschedulable."""
    waiting_message: str = ""
    gone: bool = False
    """The pod was deleted (this is its last state, kept from its DELETED event)."""


def _waiting(status: Mapping[str, Any]) -> tuple[str, str]:
    """(reason, message) of a pod that does not run yet: the container's waiting state
    (ErrImagePull, CreateContainerConfigError...), else an unschedulable PodScheduled."""
    for cs in map(_mapping, _list(status.get("containerStatuses"))):
        waiting = _mapping(_mapping(cs.get("state")).get("waiting"))
        if cs.get("name") == CONTAINER and waiting.get("reason"):
            return str(waiting.get("reason")), str(waiting.get("message") or "")
    for cond in map(_mapping, _list(status.get("conditions"))):
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            return str(cond.get("reason") or "Unschedulable"), str(cond.get("message") or "")
    return "", ""


def attempt_pod(body: Mapping[str, Any], *, gone: bool = False) -> AttemptPod | None:
    """A pod body -> AttemptPod; None for a Job's pod or a pod that is not an attempt's.

    The Pod executor's pods carry the runwright.dev run/block/attempt labels and are
    controlled by the PipelineRun; a Job's pods carry the Job name label and belong
    to the Job executor (job_records).
    """
    meta = _mapping(body.get("metadata"))
    lbl = _mapping(meta.get("labels"))
    if any(isinstance(lbl.get(k), str) for k in JOB_NAME_LABELS):
        return None
    run, block, attempt_text = lbl.get(labels.RUN), lbl.get(labels.BLOCK), lbl.get(labels.ATTEMPT)
    item = lbl.get(labels.ITEM)
    if isinstance(block, str) and isinstance(item, str) and item.isdigit():
        block = item_key(block, int(item))  # a fan-out item is observed on its own
    name = meta.get("name")
    if not (
        isinstance(run, str)
        and run
        and isinstance(block, str)
        and block
        and isinstance(attempt_text, str)
        and attempt_text.isdigit()
        and int(attempt_text) >= 1
        and isinstance(name, str)
    ):
        return None
    record = pod_state(body, name)
    if record is None:
        return None
    owner = next(
        (
            ref.get("uid")
            for ref in map(_mapping, _list(meta.get("ownerReferences")))
            if ref.get("controller") and ref.get("kind") == _RUN_KIND
        ),
        None,
    )
    status = _mapping(body.get("status"))
    waiting_reason, waiting_message = _waiting(status)
    return AttemptPod(
        run=run,
        block=block,
        attempt=int(attempt_text),
        name=name,
        pod=record,
        phase=str(status.get("phase") or ""),
        created_at=_time(meta.get("creationTimestamp")),
        owner_uid=owner if isinstance(owner, str) else None,
        pod_reason=str(status.get("reason") or ""),
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        gone=gone,
    )


def _pending_since(pod: AttemptPod) -> datetime | None:
    """When the pod's pending clock started, or None when it is not Pending."""
    if pod.pod.terminated or pod.pod.deleting or pod.gone or pod.phase not in ("", "Pending"):
        return None
    return pod.created_at


def _deleted(pod: AttemptPod) -> Observation:
    """A pod deleted before it ended (by someone else: our own stops are past the block)."""
    message = (
        f"pod {pod.name} was deleted before it finished (by someone else, or with its lost node)"
    )
    return Observation(
        attempt=pod.attempt,
        state=AttemptState.FAILED,
        started_at=pod.pod.started_at,
        finished_at=pod.pod.finished_at,
        reason=BlockReason.POD_DELETED,
        message=message,
    )


def _ended(pod: AttemptPod) -> Observation:
    """A terminated pod judged by the one verdict (engine/verdict.py)."""
    rec = pod.pod
    exit_code = rec.exit_code
    if pod.pod_reason == DEADLINE_EXCEEDED:
        verdict = judge(Ending.DEADLINE, exit_code=exit_code, output=None)
    elif exit_code is not None:
        verdict = judge(
            Ending.EXITED,
            exit_code=exit_code,
            output=rec.message,
            tail=outputs.tail(rec.message),
            reason=rec.reason,
        )
    elif pod.phase == "Succeeded":
        exit_code = 0
        verdict = judge(Ending.EXITED, exit_code=0, output=rec.message)
    else:
        # Failed by the node, not by the block: Evicted, NodeLost, Shutdown...
        verdict = judge(
            Ending.FAILED,
            exit_code=None,
            output=None,
            reason=pod.pod_reason or rec.reason,
            detail=rec.message,
        )
    return verdict.observation(pod.attempt, rec.started_at, rec.finished_at, exit_code)


def _pending_too_long(pod: AttemptPod, limit: float) -> Observation:
    """A pod Pending past the limit: its own reason (ImagePullBackOff, Unschedulable...)."""
    reason = pod.waiting_reason or BlockReason.POD_PENDING_TIMEOUT
    said = f": {pod.waiting_reason}" if pod.waiting_reason else ""
    if pod.waiting_message:
        said += f": {pod.waiting_message}"
    return Observation(
        attempt=pod.attempt,
        state=AttemptState.FAILED,
        reason=reason,
        message=f"pod {pod.name} was still Pending after {limit:g}s "
        f"(the operator's --pod-pending-timeout){said}",
    )


def judge_pod(pod: AttemptPod, now: datetime | None, pending_timeout: float) -> Observation:
    """One attempt's Observation from its pod (see `pod_observations`)."""
    rec = pod.pod
    # A container killed by the pod's deletion (137/143) is the deletion's doing, not
    # the block's error; a reason of the pod's own (Evicted) still says more.
    killed_by_deletion = rec.deleting and rec.exit_code != 0 and not pod.pod_reason
    if rec.terminated and not killed_by_deletion:
        return _ended(pod)
    if rec.deleting or pod.gone:
        return _deleted(pod)
    since = _pending_since(pod)
    if since is not None and now is not None and now - since >= timedelta(seconds=pending_timeout):
        return _pending_too_long(pod, pending_timeout)
    return Observation(attempt=pod.attempt, state=AttemptState.RUNNING, started_at=rec.started_at)


def pod_observations(
    pods: Iterable[AttemptPod],
    *,
    expected: Iterable[tuple[str, int]] = (),
    run_uid: str | None = None,
    now: datetime | None = None,
    pending_timeout: float = DEFAULT_PENDING_TIMEOUT,
) -> dict[str, Observation]:
    """The engine's view of one run from its pods: the latest attempt of each block.

    - Terminated (exit code, or a Failed/Succeeded phase): the one verdict; a pod
      Failed by the node without a container exit (Evicted, NodeLost, Shutdown)
      keeps that reason; DeadlineExceeded is Timeout.
    - Being deleted, or gone (its DELETED event was kept), before it terminated:
      Failed, PodDeleted. A pod killed by its deletion (exit 137/143 while being
      deleted) is that too, not an Error of the block.
    - Pending (not scheduled, image not pulled...) for `pending_timeout` seconds
      since its creation: Failed with its waiting reason and message; the executor
      deletes it.
    - `expected`: created a moment ago, not seen yet: Running.
    - `run_uid`: pods controlled by another uid belong to a deleted run of the same
      name and are ignored.
    """
    latest: dict[str, AttemptPod] = {}
    for pod in pods:
        if run_uid is not None and pod.owner_uid is not None and pod.owner_uid != run_uid:
            continue
        current = latest.get(pod.block)
        if (
            current is None
            or pod.attempt > current.attempt
            or (pod.attempt == current.attempt and current.gone and not pod.gone)
        ):
            latest[pod.block] = pod
    result = {block: judge_pod(pod, now, pending_timeout) for block, pod in latest.items()}
    for block, attempt in expected:
        seen = result.get(block)
        if seen is None or seen.attempt < attempt:
            result[block] = Observation(attempt=attempt, state=AttemptState.RUNNING)
    return result


def pending_recheck_at(
    pods: Iterable[AttemptPod], pending_timeout: float, now: datetime | None = None
) -> datetime | None:
    """When a Pending pod of these runs out of its pending time (so the run is woken then)."""
    times = [
        since + timedelta(seconds=pending_timeout)
        for pod in pods
        if (since := _pending_since(pod)) is not None
    ]
    return min((t for t in times if now is None or t > now), default=None)


def attempt_pod_news(old: AttemptPod | None, new: AttemptPod | None) -> bool:
    """Does this pod event change what `pod_observations` reports? Wake the run only then.

    A termination, a deletion starting, or the pod going away does; scheduling,
    pulling and starting do not (a Pending pod's time limit is a timer, see
    `pending_recheck_at`).
    """
    if new is None:
        return False
    if new.gone:
        return True
    before = (old.pod.terminated, old.pod.deleting, old.pod) if old is not None else None
    after = (new.pod.terminated, new.pod.deleting, new.pod)
    return (new.pod.terminated or new.pod.deleting) and before != after
