"""Blocks as bare Pods (the default executor): the operator creates each attempt's pod itself.

Why not a Job: the Job controller stands between the block's pod and the operator
twice per block (Job -> pod, pod done -> Job condition), each time at the
kube-controller-manager's client rate limit and with its one-second batching, so
most of a DAG step's latency was spent there (issue 11). The operator already
watches the pod and holds its terminated state; creating the pod itself removes both
hops. What the Job controller did for us is done here, as pure rules in
executors/pod_records.py: a pod deleted, evicted or lost with its node fails the
attempt with its reason (the block's retry policy decides what follows), a pod stuck
Pending fails after `--pod-pending-timeout` and is deleted, `activeDeadlineSeconds`
enforces the timeout on the node.

Writes go through `Kube` (one retry policy, one request counter) and are idempotent:
the pod's name is the attempt's (`StartBlock.name`), so a create answered 409 is an
earlier try's success and a delete answered 404 is done. A create refused for good
(403 forbidden, 422 invalid, a quota or an admission webhook) fails the attempt at
once with the refusal's words: no watch event would ever come for it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from runwright.engine.plan import AttemptState, Observation, StartBlock
from runwright.engine.reasons import BlockReason
from runwright.executors.contract import RunRef
from runwright.executors.kubernetes import WRITE_ERRORS, ExecutorError, refusal, write_error
from runwright.executors.pod_manifest import build_pod
from runwright.executors.pod_records import (
    DEFAULT_PENDING_TIMEOUT,
    AttemptPod,
    attempt_pod,
    pending_recheck_at,
    pod_observations,
)
from runwright.executors.pod_security import PodDefaults
from runwright.kube.client import Kube
from runwright.kube.expectations import Expectations

log = logging.getLogger("runwright.executors")

#: (namespace, run) -> the run's pods, as the watch shows them now.
PodsOfRun = Callable[[str, str], Iterable[AttemptPod]]


class PodExecutor:
    """Creates, observes and deletes the block pods of runs (the `Executor` contract).

    What exists comes from `pods_of` (the operator's pod watch, by run), plus the
    pods created a moment ago that the watch has not shown yet (expectations, as the
    Job executor keeps them), plus the last state of pods whose deletion the watch
    reported (`gone`): an attempt whose pod vanished is then told apart from one
    whose pod never existed.
    """

    def __init__(
        self,
        kube: Kube,
        pods_of: PodsOfRun,
        *,
        pending_timeout: float = DEFAULT_PENDING_TIMEOUT,
        pod_defaults: PodDefaults | None = None,
        expect_seconds: float = 300.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        wake: Callable[[str, str], None] = lambda _namespace, _run: None,
    ) -> None:
        self.kube = kube
        self.pods_of = pods_of
        self.pending_timeout = pending_timeout
        # Restricted-ready, not BestEffort (executors/pod_security.py); None: as written.
        self.pod_defaults = pod_defaults
        self.clock = clock
        # A refused pod makes no watch event: the run must be woken to see its failure.
        self.wake = wake
        # (namespace, pod name) -> (block, attempt), owned by (namespace, run)
        self._expected: Expectations[tuple[str, str], tuple[str, int]] = Expectations(
            expect_seconds, monotonic
        )
        # Attempts the API server refused (4xx): reported as failed, never retried here.
        self.rejected: Expectations[tuple[str, str, str], Observation] = Expectations(math.inf)
        # (namespace, run) -> block -> the last state of its latest attempt's deleted pod.
        self._gone: dict[tuple[str, str], dict[str, AttemptPod]] = {}
        self._deleting: set[tuple[str, str]] = set()
        self._background: set[asyncio.Task[None]] = set()

    # ----- the watch -------------------------------------------------------------------

    def seen(self, namespace: str, names: Iterable[str]) -> None:
        """The watch now shows these pods: stop expecting them."""
        self._expected.seen((namespace, name) for name in names)

    def deleted(self, body: Mapping[str, Any]) -> AttemptPod | None:
        """The watch reported this pod deleted: keep its last state for its run."""
        pod = attempt_pod(body, gone=True)
        if pod is None:
            return None
        self.seen(pod.pod.namespace, [pod.name])
        self._deleting.discard((pod.pod.namespace, pod.name))
        blocks = self._gone.setdefault((pod.pod.namespace, pod.run), {})
        kept = blocks.get(pod.block)
        if kept is None or kept.attempt <= pod.attempt:
            blocks[pod.block] = pod
        return pod

    # ----- Executor ----------------------------------------------------------------------

    def _records(self, run: RunRef) -> list[AttemptPod]:
        key = (run.namespace, run.name)
        pods = list(self.pods_of(*key))
        gone = self._gone.get(key)
        if gone:
            live = {(p.block, p.attempt) for p in pods}
            pods.extend(p for p in gone.values() if (p.block, p.attempt) not in live)
        return pods

    def observe(self, run: RunRef) -> dict[str, Observation]:
        pods = self._records(run)
        now = self.clock()
        self.seen(run.namespace, [p.name for p in pods if not p.gone])
        seen = pod_observations(
            pods,
            expected=set(self._expected.of((run.namespace, run.name)).values()),
            run_uid=run.uid or None,
            now=now,
            pending_timeout=self.pending_timeout,
        )
        for (_, _, block), obs in self.rejected.of((run.namespace, run.name)).items():
            current = seen.get(block)
            if current is None or current.attempt <= obs.attempt:
                seen[block] = obs
        self._reap_pending(run, pods, seen)
        return seen

    def _reap_pending(
        self, run: RunRef, pods: list[AttemptPod], seen: Mapping[str, Observation]
    ) -> None:
        """Delete the pods judged Failed while still Pending (they would hold quota, or start late)."""
        for pod in pods:
            obs = seen.get(pod.block)
            if (
                obs is None
                or obs.attempt != pod.attempt
                or obs.state != AttemptState.FAILED
                or pod.gone
                or pod.pod.deleting
                or pod.pod.terminated
            ):
                continue
            key = (run.namespace, pod.name)
            if key in self._deleting:
                continue
            self._deleting.add(key)
            task = asyncio.get_running_loop().create_task(self._delete_quietly(*key))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _delete_quietly(self, namespace: str, name: str) -> None:
        try:
            await self.delete(namespace, name)
        except ExecutorError as exc:
            self._deleting.discard((namespace, name))
            log.warning("%s (the attempt is failed already; delete the pod by hand)", exc)

    def recheck_at(self, run: RunRef) -> datetime | None:
        """When a Pending pod of the run runs out of time (pods only just created included).

        Read from the watch now, not from the observe() of this reconcile: a pod created
        in between may be in the watch already (and no longer expected). A pod still
        expected is not, and its Pending events wake nobody (they are no news), so its
        limit is counted from now.
        """
        key = (run.namespace, run.name)
        now = self.clock()
        times = [pending_recheck_at(self._records(run), self.pending_timeout, now)]
        if self._expected.of(key):
            times.append(now + timedelta(seconds=self.pending_timeout))
        return min((t for t in times if t is not None), default=None)

    async def start(self, run: RunRef, action: StartBlock) -> None:
        """Create the attempt's pod; AlreadyExists (409) means an earlier try did it.

        Expected from before the request is sent, so a watch event that beats the
        response is not lost. A refusal (4xx but 429) fails the attempt at once with
        the server's words (reason PodRejected) and wakes the run; transient errors
        that outlasted the retries raise, so the reconcile is tried again.
        """
        body = build_pod(run, action, self.pod_defaults)
        key, run_key = (run.namespace, action.name), (run.namespace, run.name)
        self._expected.expect(key, run_key, (action.key, action.attempt))
        try:
            created = await self.kube.create_pod(run.namespace, body)
        except WRITE_ERRORS as exc:
            error = write_error(
                f"create Pod {run.namespace}/{action.name}", exc, self.kube.retry.tries
            )
            if error.status is None or error.status >= 500 or error.status == 429:
                raise error from exc  # after exhausted retries one may exist: expiry covers it
            self._expected.forget(key)
            self._reject(run, action, error)
            return
        if not created and any(p.name == action.name for p in self.pods_of(*run_key)):
            # It existed and the watch showed it already: an operator that died between
            # creating it and writing the status made it, and it may have ended long
            # ago. No event will come for it again, so the run is woken to judge it now
            # (it was expected a moment ago: without this it would count as Running
            # until the expectation's time-out).
            self.seen(run.namespace, [action.name])
            self.wake(*run_key)

    def _reject(self, run: RunRef, action: StartBlock, error: ExecutorError) -> None:
        what = f"Pod {action.name}"
        self.rejected.expect(
            (run.namespace, run.name, action.key),
            (run.namespace, run.name),
            refusal(
                error,
                action,
                what,
                self.clock(),
                BlockReason.POD_REJECTED,
                logged=f"Pod {run.namespace}/{action.name}",
            ),
        )
        self.wake(run.namespace, run.name)

    async def stop(self, run: RunRef, name: str) -> None:
        """Delete the pod with its grace period; NotFound (404) is success."""
        await self.delete(run.namespace, name)

    async def delete(self, namespace: str, name: str) -> None:
        self._expected.forget((namespace, name))
        try:
            await self.kube.delete_pod(namespace, name)
        except WRITE_ERRORS as exc:
            raise write_error(f"delete Pod {namespace}/{name}", exc, self.kube.retry.tries) from exc

    async def forget(self, run: RunRef) -> None:
        key = (run.namespace, run.name)
        self._expected.forget_owner(key)
        self.rejected.forget_owner(key)
        self._gone.pop(key, None)


__all__ = ["PodExecutor", "PodsOfRun"]
