"""Finished runs leave no garbage: their Jobs (and pods) go once the status has them.

Two ways, both settings of the operator:
- `--job-ttl` (default a day): every Job carries ttlSecondsAfterFinished, so
  Kubernetes deletes it and its pod even if the operator is not running.
- `--delete-finished-jobs`: the operator deletes a finished run's Jobs at once,
  right after the run's final status is written (every attempt is recorded in
  it by then).

Before a Job is deleted, `attempt_ended` is called for each of its attempts:
the hook where the run archive keeps an attempt's log before the pod goes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from runwright.engine.plan import AttemptState
from runwright.executors.contract import RunRef
from runwright.executors.job_records import JobRecord

log = logging.getLogger("runwright.cleanup")

#: Called with the run and the Job of a finished attempt, before the Job is deleted.
AttemptEnded = Callable[[RunRef, JobRecord], Awaitable[None]]


class NotArchivedYet(Exception):
    """The hook's "not yet": the Job is kept (its TTL still applies), and no traceback."""


async def keep_nothing(_run: RunRef, _job: JobRecord) -> None:
    """The default hook: no archive is configured."""


class FinishedJobs:
    """Deletes the finished Jobs of finished runs (their pods go with them)."""

    def __init__(
        self,
        jobs_of: Callable[[str, str], Iterable[JobRecord]],
        delete_job: Callable[[str, str], Awaitable[None]],
        attempt_ended: AttemptEnded = keep_nothing,
    ) -> None:
        self.jobs_of = jobs_of
        self.delete_job = delete_job
        #: The archive's hook (runwright.archive plugs in here).
        self.attempt_ended = attempt_ended

    async def clean(self, run: RunRef) -> int:
        """Delete the run's finished Jobs; returns how many were deleted."""
        deleted = 0
        for job in list(self.jobs_of(run.namespace, run.name)):
            if job.state == AttemptState.RUNNING:
                continue  # a stray: the run's reconcile stops it
            try:
                await self.attempt_ended(run, job)
            except NotArchivedYet as exc:
                log.info("%s: Job %s kept for its TTL", exc, job.name)
                continue
            except Exception:
                # The Job stays (and its TTL still applies): a log is not lost for a delete.
                log.exception("archiving attempt %s/%s failed; Job kept", run.namespace, job.name)
                continue
            await self.delete_job(run.namespace, job.name)
            deleted += 1
        return deleted
