"""The places blocks run in the operator, behind the one contract (executors/contract.py).

- Pods (the default, executors/pods.py): the operator creates each attempt's pod;
  what exists comes from the pod watch, by run.
- Jobs: what exists comes from kopf's indexes (Jobs by run, pods by Job), plus the
  Jobs created a moment ago that the index has not shown yet.
- `ChosenExecutor`: pods or Jobs per run, as its Pipeline's spec.executor says
  (else the operator's --executor).
- Local processes (`--executor local`, for the demo and dev clusters): one
  LocalExecutor per run; a process exit wakes the run's worker.

And `News`: which Job and pod watch events are worth waking a run for.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runwright.engine.plan import Observation, StartBlock
from runwright.executors.contract import RunRef
from runwright.executors.job_records import (
    JobRecord,
    PodRecord,
    job_news,
    job_record,
    observations,
    pod_news,
    pod_record,
    recheck_at,
)
from runwright.executors.kubernetes import ExecutorError, KubernetesExecutor, refusal
from runwright.executors.local import LocalExecutor
from runwright.executors.pod_records import AttemptPod, attempt_pod, attempt_pod_news
from runwright.executors.pods import PodExecutor
from runwright.kube.expectations import Expectations

if TYPE_CHECKING:
    from runwright.controller.runs import RunController

log = logging.getLogger("runwright.executors")

#: kopf index lookups: (namespace, run) -> Job records; (namespace, job) -> pod records.
JobLookup = Callable[[str, str], Iterable[JobRecord]]
PodLookup = Callable[[str, str], Iterable[PodRecord]]


class KubeRunExecutor:
    """Blocks as Jobs, observed through the kopf indexes."""

    def __init__(
        self,
        jobs: KubernetesExecutor,
        job_lookup: JobLookup,
        pod_lookup: PodLookup,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        wake: Callable[[str, str], None] = lambda _namespace, _run: None,
    ) -> None:
        self.jobs = jobs
        # A refused Job makes no watch event: the run must be woken to see its failure.
        self.wake = wake
        self.job_lookup = job_lookup
        self.pod_lookup = pod_lookup
        self.clock = clock
        #: The records and time of the last observe() of each run, for recheck_at().
        self._last: dict[
            tuple[str, str], tuple[list[JobRecord], dict[str, PodRecord], datetime]
        ] = {}
        # Attempts the API server refused (4xx): reported as failed, never retried here.
        # Known to us, never to the index, so without a time-out: forget() ends them.
        self.rejected: Expectations[tuple[str, str, str], Observation] = Expectations(math.inf)

    def _records(self, run: RunRef) -> tuple[list[JobRecord], dict[str, PodRecord]]:
        jobs = list(self.job_lookup(run.namespace, run.name))
        pods: dict[str, PodRecord] = {}
        for job in jobs:
            for pod in self.pod_lookup(run.namespace, job.name):
                # Several pods of one Job only if someone deleted one; prefer a finished one.
                if job.name not in pods or pod.terminated:
                    pods[job.name] = pod
        return jobs, pods

    def observe(self, run: RunRef) -> dict[str, Observation]:
        jobs, pods = self._records(run)
        now = self.clock()
        # recheck_at() is asked right after, in the same reconcile: reuse these records,
        # and this time, so a grace that ends in between is still rechecked.
        self._last[(run.namespace, run.name)] = (jobs, pods, now)
        self.jobs.seen(run.namespace, [j.name for j in jobs])
        seen = observations(
            jobs,
            pods,
            expected=self.jobs.expected(run.namespace, run.name),
            run_uid=run.uid or None,
            now=now,
        )
        for (_, _, block), obs in self.rejected.of((run.namespace, run.name)).items():
            current = seen.get(block)
            if current is None or current.attempt <= obs.attempt:
                seen[block] = obs
        return seen

    def recheck_at(self, run: RunRef) -> datetime | None:
        records = self._last.pop((run.namespace, run.name), None)
        if records is None:
            records = (*self._records(run), self.clock())
        return recheck_at(*records)

    async def start(self, run: RunRef, action: StartBlock) -> None:
        try:
            created = await self.jobs.start(run, action)
        except ExecutorError as exc:
            if exc.status is None or exc.status >= 500 or exc.status == 429:
                raise  # transient errors outlasted the retries: try the reconcile again
            what = exc.refused or f"Job {action.name}"
            self.rejected.expect(
                (run.namespace, run.name, action.key),
                (run.namespace, run.name),
                refusal(
                    exc,
                    action,
                    what,
                    self.clock(),
                    exc.reason,
                    logged=f"Job {run.namespace}/{action.name}",
                ),
            )
            self.wake(run.namespace, run.name)
            return
        if not created and any(
            j.name == action.name for j in self.job_lookup(run.namespace, run.name)
        ):
            # An operator that died between creating it and writing the status made it;
            # it may have ended long ago and no event will come for it again: wake the
            # run to judge it now (PodExecutor.start says more).
            self.jobs.seen(run.namespace, [action.name])
            self.wake(run.namespace, run.name)

    async def stop(self, run: RunRef, name: str) -> None:
        await self.jobs.stop(run.namespace, name)

    async def forget(self, run: RunRef) -> None:
        self.jobs.forget(run.namespace, run.name)
        self._last.pop((run.namespace, run.name), None)
        self.rejected.forget_owner((run.namespace, run.name))


class LocalRunExecutor:
    """Blocks as local processes of the operator; state still lives in the CRs."""

    def __init__(self, workdir: Path | None, wake: Callable[[str, str], None]) -> None:
        self.workdir = workdir
        self.wake = wake
        self.runs: dict[tuple[str, str], LocalExecutor] = {}

    def _executor(self, run: RunRef) -> LocalExecutor:
        key = (run.namespace, run.name)
        executor = self.runs.get(key)
        if executor is None:
            workdir = self.workdir / run.namespace / run.name if self.workdir else None
            executor = LocalExecutor(workdir, on_change=lambda: self.wake(*key))
            self.runs[key] = executor
        return executor

    def observe(self, run: RunRef) -> dict[str, Observation]:
        executor = self.runs.get((run.namespace, run.name))
        return executor.observe() if executor is not None else {}

    def recheck_at(self, run: RunRef) -> datetime | None:
        return None

    async def start(self, run: RunRef, action: StartBlock) -> None:
        await self._executor(run).start(action)

    async def stop(self, run: RunRef, name: str) -> None:
        executor = self.runs.get((run.namespace, run.name))
        if executor is not None:
            await executor.stop(name)

    async def forget(self, run: RunRef) -> None:
        executor = self.runs.pop((run.namespace, run.name), None)
        if executor is not None:
            await executor.close()

    async def close(self) -> None:
        """Kill every process (operator shutdown)."""
        for key in list(self.runs):
            with contextlib.suppress(Exception):
                await self.forget(RunRef(key[0], key[1], "", "", None))


#: (namespace, run) -> "Pod" or "Job" from its Pipeline's spec.executor, None when unset.
ExecutorOfRun = Callable[[str, str], str | None]


def executor_of_runs(runs: RunController) -> ExecutorOfRun:
    """A run's spec.executor: its frozen Pipeline's (status.pipelineSpec), else the live one's.

    The live Pipeline answers for a run's first attempts, whose status (with the frozen
    copy) is written right after they are started.
    """

    def executor_of(namespace: str, name: str) -> str | None:
        worker = runs.workers.get((namespace, name))
        frozen = worker.status.pipeline_spec if worker and worker.status else None
        if frozen is None:
            state = runs.states.get((namespace, name))
            frozen = runs.model.pipeline_spec(namespace, state.pipeline)[0] if state else None
        return str(frozen.executor) if frozen is not None and frozen.executor else None

    return executor_of


class ChosenExecutor:
    """Pods or Jobs for each run: its Pipeline's `spec.executor`, else the operator's default.

    A run is observed through both (the latest attempt of a block wins), so a run
    whose executor changed between attempts (a retry that re-froze a Pipeline whose
    spec.executor changed, an operator restarted with another --executor) still sees
    every attempt it has; an attempt is stopped by whichever executor holds it.
    """

    def __init__(
        self, pods: PodExecutor, jobs: KubeRunExecutor, default: str, executor_of: ExecutorOfRun
    ) -> None:
        self.pods = pods
        self.jobs = jobs
        self.default = default
        self.executor_of = executor_of

    def _uses_jobs(self, run: RunRef) -> bool:
        return (self.executor_of(run.namespace, run.name) or self.default) == "Job"

    def observe(self, run: RunRef) -> dict[str, Observation]:
        seen = self.pods.observe(run)
        for block, obs in self.jobs.observe(run).items():
            current = seen.get(block)
            if current is None or obs.attempt > current.attempt:
                seen[block] = obs
        return seen

    def recheck_at(self, run: RunRef) -> datetime | None:
        times = [t for t in (self.pods.recheck_at(run), self.jobs.recheck_at(run)) if t]
        return min(times, default=None)

    async def start(self, run: RunRef, action: StartBlock) -> None:
        if self._uses_jobs(run):
            await self.jobs.start(run, action)
        else:
            await self.pods.start(run, action)

    async def stop(self, run: RunRef, name: str) -> None:
        held = any(j.name == name for j in self.jobs.job_lookup(run.namespace, run.name))
        if held or self._uses_jobs(run):
            await self.jobs.stop(run, name)
        else:
            await self.pods.stop(run, name)

    async def forget(self, run: RunRef) -> None:
        await self.pods.forget(run)
        await self.jobs.forget(run)


def store_values(index: Mapping[Any, Any] | None, key: Any) -> list[Any]:
    """The values kopf stored under `key` in an index (an empty list when absent)."""
    if index is None or key not in index:
        return []
    return list(index[key])


class News:
    """The last Job and pod records seen, so a run is woken only by events that matter.

    Most Job and pod events of an attempt (scheduled, pulled, started, status
    rewrites) change nothing the run's reconcile would see; each would still cost a
    full reconcile. See `job_news` and `pod_news` for which ones do.
    """

    def __init__(self) -> None:
        self.jobs: dict[tuple[str, str], JobRecord] = {}
        self.pods: dict[tuple[str, str], PodRecord] = {}
        self.attempt_pods: dict[tuple[str, str], AttemptPod] = {}

    def job(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """True when this Job event should wake its run."""
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            self.jobs.pop(key, None)
            return True  # the attempt is gone: the engine decides what that means
        record = job_record(body)
        news = job_news(self.jobs.get(key), record)
        if record is not None:
            self.jobs[key] = record
        return news

    def pod(self, event_type: str | None, body: Mapping[str, Any]) -> bool:
        """True when this pod event should wake its run."""
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            self.pods.pop(key, None)
            return False  # a finished Job's lost pod is judged at recheck_at
        record = pod_record(body)
        if record is None:
            return self._attempt_pod(key, body)
        news = pod_news(self.pods.get(key), record)
        self.pods[key] = record
        return news

    def _attempt_pod(self, key: tuple[str, str], body: Mapping[str, Any]) -> bool:
        """A Pod executor's pod (not a Job's): its end, its deletion starting, news."""
        record = attempt_pod(body)
        news = attempt_pod_news(self.attempt_pods.get(key), record)
        if record is not None:
            self.attempt_pods[key] = record
        return news

    def pod_deleted(self, body: Mapping[str, Any]) -> bool:
        """A Pod executor's pod is gone: its run must hear of it (unless it had ended)."""
        meta = body.get("metadata") or {}
        old = self.attempt_pods.pop((meta.get("namespace", ""), meta.get("name", "")), None)
        return old is None or not old.pod.terminated or old.pod.deleting
