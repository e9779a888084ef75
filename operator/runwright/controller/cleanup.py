"""Finished runs leave no garbage: their pods and Jobs go once the status has them.

Two ways, both settings of the operator:
- `--job-ttl` (default a day): every Job carries ttlSecondsAfterFinished, so
  Kubernetes deletes it and its pod even if the operator is not running; the Pod
  executor's pods, which have no such field, are deleted by the operator that long
  after their run finished (`ExpiredPods`).
- `--delete-finished-jobs`: the operator deletes a finished run's Jobs, and the
  Pod executor's pods, at once, right after the run's final status is written
  (every attempt is recorded in it by then).

Before a Job or pod is deleted, `attempt_ended` is called for its attempt: the
hook where the run archive keeps an attempt's log before the pod goes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from runwright.engine.plan import AttemptState
from runwright.executors.contract import RunRef
from runwright.executors.job_records import JobRecord, PodRecord
from runwright.executors.pod_records import AttemptPod

log = logging.getLogger("runwright.cleanup")

#: Called with the run and the name of a finished attempt's Job or pod, before it is deleted.
AttemptEnded = Callable[[RunRef, str], Awaitable[None]]


class NotArchivedYet(Exception):
    """The hook's "not yet": the Job or pod is kept (a Job's TTL still applies), no traceback."""


async def keep_nothing(_run: RunRef, _name: str) -> None:
    """The default hook: no archive is configured."""


class FinishedJobs:
    """Deletes the finished Jobs (their pods go with them) and pods of finished runs."""

    def __init__(
        self,
        jobs_of: Callable[[str, str], Iterable[JobRecord]],
        delete_job: Callable[[str, str], Awaitable[None]],
        attempt_ended: AttemptEnded = keep_nothing,
        pods_of: Callable[[str, str], Iterable[AttemptPod]] = lambda _ns, _run: (),
        delete_pod: Callable[[str, str], Awaitable[None]] | None = None,
        job_pods_of: Callable[[str, str], Iterable[PodRecord]] = lambda _ns, _job: (),
    ) -> None:
        self.jobs_of = jobs_of
        self.delete_job = delete_job
        #: The Pod executor's pods of a run, and how to delete one.
        self.pods_of = pods_of
        self.delete_pod = delete_pod
        #: A Job's pods: a Job whose pod has terminated is finished, even before the Job
        #: controller writes its condition (the operator judges attempts from the pod).
        self.job_pods_of = job_pods_of
        #: The archive's hook (runwright.archive plugs in here).
        self.attempt_ended = attempt_ended

    async def clean(self, run: RunRef) -> int:
        """Delete the run's finished Jobs and pods; returns how many were deleted."""
        finished: list[tuple[str, Callable[[str, str], Awaitable[None]]]] = [
            (job.name, self.delete_job)
            for job in list(self.jobs_of(run.namespace, run.name))
            if job.state != AttemptState.RUNNING
            or any(p.terminated for p in self.job_pods_of(run.namespace, job.name))
        ]  # a Job still running is a stray: the run's reconcile stops it
        if self.delete_pod is not None:
            finished += [
                (pod.name, self.delete_pod)
                for pod in list(self.pods_of(run.namespace, run.name))
                if pod.pod.terminated
            ]
        deleted = 0
        for name, delete in finished:
            try:
                await self.attempt_ended(run, name)
            except NotArchivedYet as exc:
                log.info("%s: %s kept", exc, name)
                continue
            except Exception:
                # It stays (a Job's TTL still applies): a log is not lost for a delete.
                log.exception("archiving attempt %s/%s failed; kept", run.namespace, name)
                continue
            await delete(run.namespace, name)
            deleted += 1
        return deleted


class ExpiredPods:
    """`--job-ttl` for the Pod executor's pods, which no ttlSecondsAfterFinished covers.

    A Job carries its TTL and Kubernetes deletes it (and its pod) a day after it ends.
    A bare pod has no such field, so without this a finished run's pods stayed until
    the run itself was deleted. Here they go `ttl` seconds after their run finished;
    the run's worker comes back then (the returned time), and after a restart the run
    is looked at again because it still has pods.
    """

    #: When the archive has not confirmed a run yet, look again this much later.
    RETRY = timedelta(seconds=60)

    def __init__(self, ttl: float, pods: FinishedJobs) -> None:
        self.ttl = timedelta(seconds=ttl)
        self.pods = pods

    async def expire(self, run: RunRef, completed_at: datetime, now: datetime) -> datetime | None:
        """Delete the run's ended pods once due; returns when to come back (None: nothing left)."""
        ended = [p for p in self.pods.pods_of(run.namespace, run.name) if p.pod.terminated]
        if not ended:
            return None
        due = completed_at + self.ttl
        if now < due:
            return due
        deleted = await self.pods.clean(run)
        return None if deleted >= len(ended) else now + self.RETRY
