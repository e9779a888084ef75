"""Jobs and pods as the operator sees them, and the engine's view of an attempt from them.

Pure: a Job or pod body (as a kopf index holds it) becomes a small record
(`job_record`, `pod_record`), the records of a run become the engine's
`Observation`s (`observations`, judged by the one attempt verdict), and
`job_news`/`pod_news` say which changes are worth waking a run for. No I/O, no
clock (times are passed in), so every rule is a unit test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from runwright import labels
from runwright.engine import outputs
from runwright.engine.naming import item_key
from runwright.engine.plan import AttemptState, Observation
from runwright.engine.verdict import Ending, judge
from runwright.executors.job_manifest import CONTAINER

#: Labels the Job controller puts on its pods (the second is the older spelling).
JOB_NAME_LABELS = ("batch.kubernetes.io/job-name", "job-name")

#: A finished Job whose pod has not been seen terminated after this long is judged
#: from the Job alone (the pod was deleted, so its event will never come).
POD_GRACE_SECONDS = 30.0

#: Job condition reasons.
DEADLINE_EXCEEDED = "DeadlineExceeded"

_RUN_KIND = "PipelineRun"


@dataclass(frozen=True)
class JobRecord:
    """What the operator keeps of one Job: enough to judge the attempt, nothing more."""

    namespace: str
    run: str
    block: str
    attempt: int
    name: str
    state: AttemptState
    reason: str = ""
    message: str = ""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    owner_uid: str | None = None
    """uid of the controlling PipelineRun: tells a Job of a deleted run of the same name."""


@dataclass(frozen=True)
class PodRecord:
    """What the operator keeps of a Job's pod: its container's termination."""

    namespace: str
    job: str
    exit_code: int | None
    reason: str
    message: str
    """The termination message: the block's outputs JSON, or its error text."""
    terminated: bool
    started_at: datetime | None = None
    finished_at: datetime | None = None
    deleting: bool = False
    """The pod has a deletionTimestamp: someone (the Job controller, a user) is deleting it."""


def _time(value: Any) -> datetime | None:
    """An RFC 3339 string (as the API and kopf give it) or a datetime, else None."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _true_condition(status: Mapping[str, Any], type_: str) -> Mapping[str, Any] | None:
    for cond in _list(status.get("conditions")):
        cond = _mapping(cond)
        if cond.get("type") == type_ and cond.get("status") == "True":
            return cond
    return None


def job_record(body: Mapping[str, Any]) -> JobRecord | None:
    """A Job body -> JobRecord; None when it is not one of ours (labels missing or malformed).

    State comes from the terminal conditions. `Complete` -> Succeeded, `Failed` ->
    Failed with the condition's reason (BackoffLimitExceeded, DeadlineExceeded...).
    Since Kubernetes 1.31 a Job first gets `FailureTarget` and only turns `Failed`
    once its pods are gone; a FailureTarget for DeadlineExceeded is already final
    (the Job controller is killing the pod), so it counts as Failed at once and a
    timeout is reported without waiting for the pod's grace period. Likewise
    `SuccessCriteriaMet` (set about half a second before `Complete`) already means
    Succeeded: the Job controller sets it only after the pod succeeded, and the
    outputs still wait for the pod's terminated status (the race rule of
    `observations`), so each step of a DAG starts that much sooner. Anything else
    is Running.
    """
    meta = _mapping(body.get("metadata"))
    lbl = _mapping(meta.get("labels"))
    run, block, attempt_text = lbl.get(labels.RUN), lbl.get(labels.BLOCK), lbl.get(labels.ATTEMPT)
    item = lbl.get(labels.ITEM)
    if isinstance(block, str) and isinstance(item, str) and item.isdigit():
        block = item_key(block, int(item))  # a fan-out item is observed on its own
    name, namespace = meta.get("name"), meta.get("namespace")
    if not (
        isinstance(run, str)
        and run
        and isinstance(block, str)
        and block
        and isinstance(attempt_text, str)
        and attempt_text.isdigit()
        and isinstance(name, str)
        and isinstance(namespace, str)
    ):
        return None
    attempt = int(attempt_text)
    if attempt < 1:
        return None
    owner_uid = next(
        (
            ref.get("uid")
            for ref in map(_mapping, _list(meta.get("ownerReferences")))
            if ref.get("controller") and ref.get("kind") == _RUN_KIND
        ),
        None,
    )
    status = _mapping(body.get("status"))
    started = _time(status.get("startTime"))
    state, reason, message, finished = AttemptState.RUNNING, "", "", None
    done = _true_condition(status, "Complete") or _true_condition(status, "SuccessCriteriaMet")
    if done is not None:
        state = AttemptState.SUCCEEDED
        finished = _time(status.get("completionTime")) or _time(done.get("lastTransitionTime"))
    else:
        failed = _true_condition(status, "Failed")
        target = _true_condition(status, "FailureTarget")
        if failed is None and target is not None and target.get("reason") == DEADLINE_EXCEEDED:
            failed = target
        if failed is not None:
            state = AttemptState.FAILED
            reason = str(failed.get("reason") or "")
            message = str(failed.get("message") or "")
            finished = _time(failed.get("lastTransitionTime"))
    return JobRecord(
        namespace=namespace,
        run=run,
        block=block,
        attempt=attempt,
        name=name,
        state=state,
        reason=reason,
        message=message,
        started_at=started,
        finished_at=finished,
        owner_uid=owner_uid if isinstance(owner_uid, str) else None,
    )


def pod_record(body: Mapping[str, Any]) -> PodRecord | None:
    """A pod body -> PodRecord of the `block` container; None for a pod not made by a Job."""
    meta = _mapping(body.get("metadata"))
    lbl = _mapping(meta.get("labels"))
    job = next((lbl[k] for k in JOB_NAME_LABELS if isinstance(lbl.get(k), str)), None)
    if job is None:
        return None
    return pod_state(body, job)


def pod_state(body: Mapping[str, Any], key: str) -> PodRecord | None:
    """A block pod body -> PodRecord (`job` set to `key`); None without a namespace.

    Shared by both executors: `key` is the Job's name for a Job's pod, the pod's own
    name for the Pod executor's. The container named `block` is read (the first one
    when none is: a mutating webhook may have renamed or injected containers). A pod
    that failed without a terminated container (evicted, deleted before it started)
    counts as terminated with the pod's own reason and message, so it never holds an
    attempt Running.
    """
    meta = _mapping(body.get("metadata"))
    namespace = meta.get("namespace")
    if not isinstance(namespace, str):
        return None
    deleting = bool(meta.get("deletionTimestamp"))
    status = _mapping(body.get("status"))
    statuses = [_mapping(s) for s in _list(status.get("containerStatuses"))]
    chosen = next((s for s in statuses if s.get("name") == CONTAINER), None)
    if chosen is None and statuses:
        chosen = statuses[0]
    state = _mapping((chosen or {}).get("state"))
    term = _mapping(state.get("terminated"))
    if term:
        code = term.get("exitCode")
        return PodRecord(
            namespace=namespace,
            job=key,
            exit_code=code if isinstance(code, int) else None,
            reason=str(term.get("reason") or ""),
            message=str(term.get("message") or ""),
            terminated=True,
            started_at=_time(term.get("startedAt")),
            finished_at=_time(term.get("finishedAt")),
            deleting=deleting,
        )
    phase = status.get("phase")
    running = _mapping(state.get("running"))
    return PodRecord(
        namespace=namespace,
        job=key,
        exit_code=None,
        reason=str(status.get("reason") or ("PodFailed" if phase == "Failed" else "")),
        message=str(status.get("message") or ""),
        terminated=phase in ("Failed", "Succeeded"),
        started_at=_time(running.get("startedAt")) or _time(status.get("startTime")),
        finished_at=None,
        deleting=deleting,
    )


def _pod_verdict(job: JobRecord, pod: PodRecord) -> bool:
    """May a running Job's attempt be judged from its pod alone, without the Job's condition?

    Yes when the pod has terminated on its own: with `backoffLimit: 0` and
    `restartPolicy: Never` the Job's outcome is then decided, and the Job controller
    writes it a second or more later (it batches pod updates). Not when the pod is
    being deleted (the Job controller kills it for the Job's deadline, or someone
    deleted it): the Job's own condition says why, so it is waited for.
    """
    return job.state == AttemptState.RUNNING and pod.terminated and not pod.deleting


def _judge(job: JobRecord, pod: PodRecord | None, now: datetime | None) -> Observation:
    """One attempt's Observation from its Job and (maybe) its pod; see `observations`.

    This only says how the attempt ended and what was read of it; the verdict itself
    is the one every executor shares (engine/verdict.py).
    """
    running = Observation(
        attempt=job.attempt, state=AttemptState.RUNNING, started_at=job.started_at
    )
    if pod is not None and _pod_verdict(job, pod):
        return _from_pod(job, pod)
    if job.state == AttemptState.RUNNING:
        return running
    have_pod = pod is not None and pod.terminated
    if not have_pod and not (job.state == AttemptState.FAILED and job.reason == DEADLINE_EXCEEDED):
        pod_lost = (
            now is not None
            and job.finished_at is not None
            and now - job.finished_at >= timedelta(seconds=POD_GRACE_SECONDS)
        )
        if not pod_lost:
            return running
    seen = pod if pod is not None and have_pod else None
    finished = (seen.finished_at if seen is not None else None) or job.finished_at
    exit_code = seen.exit_code if seen is not None else None
    if job.state == AttemptState.FAILED and job.reason == DEADLINE_EXCEEDED:
        ending, finished = Ending.DEADLINE, job.finished_at
    elif job.state == AttemptState.SUCCEEDED:
        # The Job controller saw the pod succeed; a missing code is still a success.
        ending, exit_code = Ending.EXITED, exit_code if exit_code is not None else 0
    else:
        ending = Ending.FAILED
    verdict = judge(
        ending,
        exit_code=exit_code,
        output=seen.message if seen is not None else None,
        tail=outputs.tail(seen.message) if seen is not None else "",
        reason=seen.reason if seen is not None else "",
        detail=job.message,
    )
    return verdict.observation(job.attempt, job.started_at, finished, exit_code)


def _from_pod(job: JobRecord, pod: PodRecord) -> Observation:
    """A running Job's attempt judged from its terminated pod (see `_pod_verdict`)."""
    # No container status: a Failed pod always has a reason (PodFailed at least), so
    # none means the pod Succeeded before its container status was written.
    ending = Ending.EXITED if pod.exit_code is not None or not pod.reason else Ending.FAILED
    exit_code = pod.exit_code if pod.exit_code is not None or ending == Ending.FAILED else 0
    verdict = judge(
        ending,
        exit_code=exit_code,
        output=pod.message,
        tail=outputs.tail(pod.message),
        reason=pod.reason if ending == Ending.FAILED or exit_code != 0 else "",
        detail=pod.message,
    )
    return verdict.observation(job.attempt, job.started_at, pod.finished_at, exit_code)


def observations(
    jobs: Iterable[JobRecord],
    pods: Mapping[str, PodRecord],
    *,
    expected: Iterable[tuple[str, int]] = (),
    run_uid: str | None = None,
    now: datetime | None = None,
) -> dict[str, Observation]:
    """The engine's view of one run: the latest attempt of each block, keyed by block.

    `pods` maps a Job name to its pod's record. The rules, and why:

    - Succeeded: outputs and metrics come from the pod's termination message (the
      block wrote it to RUNWRIGHT_OUTPUT_PATH). A message that breaks the contract
      makes the attempt Failed, reason InvalidOutput, as in local mode.
    - Failed: the exit code and the last lines of the termination message (the
      Job condition's message when there is none); reason `Timeout` for
      DeadlineExceeded, else the container's termination reason (Error, OOMKilled)
      or `Error`. The exit code is what matters; the reason is for humans.
    - Race: the Job controller marks a Job finished after it saw the pod terminate,
      but our pod watch may deliver that pod later than the Job. A finished Job whose
      pod record is missing or not terminated is reported Running: the pod event is
      on its way and wakes the run again, and judging now would lose the outputs or
      the exit code. DeadlineExceeded is the exception: the Job controller is killing
      the pod, the verdict (Timeout) does not depend on it, so it is Failed at once.
    - Pod first: a Job still running whose pod terminated on its own (not being
      deleted) is judged from the pod at once, not a second or more later when the
      Job controller writes its condition (`backoffLimit: 0` decided it already).
    - With `now`, a finished Job whose pod is still unseen POD_GRACE_SECONDS after
      it finished is judged from the Job alone (the pod was deleted and its event
      will never come); `recheck_at` says when to call again for that.
    - `expected`: (block, attempt) pairs created a moment ago but not yet in the
      index; each counts as Running unless a Job of that or a later attempt is seen,
      so a fresh Job is never mistaken for a deleted one.
    - `run_uid`: Jobs controlled by another uid belong to a deleted run of the same
      name (awaiting garbage collection) and are ignored.
    """
    latest: dict[str, JobRecord] = {}
    for job in jobs:
        if run_uid is not None and job.owner_uid is not None and job.owner_uid != run_uid:
            continue
        current = latest.get(job.block)
        if current is None or job.attempt > current.attempt:
            latest[job.block] = job
    result = {block: _judge(job, pods.get(job.name), now) for block, job in latest.items()}
    for block, attempt in expected:
        seen = result.get(block)
        if seen is None or seen.attempt < attempt:
            result[block] = Observation(attempt=attempt, state=AttemptState.RUNNING)
    return result


def recheck_at(
    jobs: Iterable[JobRecord], pods: Mapping[str, PodRecord], now: datetime | None = None
) -> datetime | None:
    """When `observations(..., now=...)` would stop waiting for a missing pod, if ever.

    The controller wakes the run then, so a Job whose pod was deleted is judged from
    the Job alone instead of staying Running forever. With `now` (the time the
    observations were made at), a grace that has already ended is no reason to
    recheck: that Job was judged from the Job alone, and asking for a time in the
    past would reconcile the run again and again for nothing (issue 16: a finished
    run whose pod was deleted). The pod's later deletion, or a finished run's, then
    needs nothing more.
    """
    times = [
        job.finished_at + timedelta(seconds=POD_GRACE_SECONDS)
        for job in jobs
        if job.state != AttemptState.RUNNING
        and job.reason != DEADLINE_EXCEEDED
        and job.finished_at is not None
        and not ((pod := pods.get(job.name)) is not None and pod.terminated)
    ]
    pending = [t for t in times if now is None or t > now]
    return min(pending, default=None)


def job_news(old: JobRecord | None, new: JobRecord | None) -> bool:
    """Does this Job event change what the run's reconcile would do? Only then wake it.

    A Job's status is rewritten several times per attempt (start time, active and
    ready counts, SuccessCriteriaMet then Complete); the run needs to hear of its
    verdict or of a new owner, not of each rewrite. Its start is no news either: the
    engine set the block's startedAt when it created the Job, and a Job that is
    still running observes the same whatever its status says.
    """
    if new is None:
        return False
    if old is None:
        return new.state != AttemptState.RUNNING
    return _observable(old) != _observable(new)


def _observable(job: JobRecord) -> tuple[object, ...]:
    return (job.attempt, job.state, job.reason, job.message, job.owner_uid)


def pod_news(old: PodRecord | None, new: PodRecord | None) -> bool:
    """Does this pod event change what `observations` reports? Only a termination does.

    A pod that has not terminated never changes an attempt's observation (a finished
    Job waits for its pod's termination, see `observations`), so its scheduling and
    start events need no reconcile.
    """
    return new is not None and new.terminated and new != old
