"""Blocks as Kubernetes Jobs: creating and deleting one Job per block attempt.

The Job's manifest is `job_manifest.build_job`; what a Job and its pod say about
the attempt is `job_records`. This module is the I/O: it creates and deletes Jobs
through `Kube` (the operator's one write path: its retry policy, its request
counter), treating the answers that mean "already done" (409 on create, 404 on
delete) as success, because names are deterministic and the reconcile loop is
level-triggered: any action may be repeated after a crash or a conflict.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.engine.plan import AttemptState, Observation, StartBlock
from runwright.engine.reasons import BlockReason
from runwright.executors.contract import RunRef
from runwright.executors.job_manifest import build_job
from runwright.executors.pod_security import PodDefaults
from runwright.kube.client import Kube
from runwright.kube.errors import api_message, describe, permission_missing
from runwright.kube.expectations import Expectations
from runwright.kube.retry import is_transient

log = logging.getLogger("runwright.executors")

#: How long a pod shape admission accepted is trusted before it is asked again: a
#: namespace made stricter is noticed within this, and a busy pipeline costs one dry
#: run per block per period, not one per attempt.
ADMITTED_SECONDS = 300.0
#: Bound on remembered pod shapes (expired ones are dropped first).
ADMITTED_MAX = 10_000
#: Pod labels that differ per run or attempt and never decide admission.
_PER_ATTEMPT_LABELS = (labels.RUN, labels.ATTEMPT, labels.TRIGGER, labels.ITEM)


class ExecutorError(Exception):
    """The API server refused a write for good (4xx), or transient errors outlasted the retries.

    `reason` is the attempt's BlockReason when it is reported as a failure, and
    `refused` what the API server refused (None: the Job itself).
    """

    def __init__(
        self,
        status: int | None,
        message: str,
        *,
        reason: BlockReason = BlockReason.JOB_REJECTED,
        refused: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason
        self.refused = refused


def refusal(
    error: ExecutorError,
    action: StartBlock,
    what: str,
    now: datetime,
    reason: BlockReason,
    logged: str,
) -> Observation:
    """A create the API server refused (4xx), as the attempt's failed observation.

    One rule for both executors: the server's words, or, when the operator itself
    lacks a permission, which one (also logged: the run's status tells the user, the
    log whoever runs the operator). `what` names the object ("Pod NAME", "Job NAME"),
    `logged` the same with its namespace, for the log line.
    """
    why = str(error)
    missing = permission_missing(error.message) if error.status == 403 else None
    if missing is not None:
        why = missing
        log.error("%s not created: %s", logged, missing)
    return Observation(
        attempt=action.attempt,
        state=AttemptState.FAILED,
        started_at=now,
        finished_at=now,
        reason=reason,
        message=f"the API server refused {what}: {why}",
    )


def write_error(what: str, exc: BaseException, tries: int) -> ExecutorError:
    """A failed write as the executor reports it: refusals in the server's words, and
    retries that ran out saying so."""
    status = exc.status if isinstance(exc, ApiException) else None
    said = describe(exc)
    if is_transient(exc):
        return ExecutorError(status, f"{what}: gave up after {tries} tries: {said}")
    return ExecutorError(status, f"{what}: {said}")


#: What a write may raise that the executor reports as ExecutorError; anything else is a bug.
WRITE_ERRORS = (ApiException, aiohttp.ClientError, TimeoutError, ConnectionError)


class KubernetesExecutor:
    """Creates and deletes block Jobs; remembers creations the index has not shown yet.

    Every write goes through `Kube` (one retry policy, one request counter) and is
    idempotent by construction (deterministic names): a create answered 409 or a
    delete answered 404 is the success of an earlier try.
    """

    def __init__(
        self,
        kube: Kube,
        *,
        expect_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        pod_defaults: PodDefaults | None = None,
        check_admission: bool = False,
    ) -> None:
        self.kube = kube
        self.clock = clock
        #: Added to every block pod (executors/pod_security.py); None: pods as written.
        self.pod_defaults = pod_defaults
        #: Ask admission about the pod (a dry run) before creating its Job; see `_admit`.
        self.check_admission = check_admission
        # (namespace, digest of the pod's shape) -> when admission last accepted it
        self._admitted: dict[tuple[str, str], float] = {}
        # (namespace, Job name) -> (block, attempt), owned by (namespace, run)
        self._expected: Expectations[tuple[str, str], tuple[str, int]] = Expectations(
            expect_seconds, clock
        )

    async def start(self, run: RunRef, action: StartBlock) -> bool:
        """Create the attempt's Job; False when it existed (409: an earlier try made it).

        The attempt is expected from before the request is sent, so a watch event
        that beats the response is not lost: `seen` then clears it.
        Raises ExecutorError when the API server refuses the Job (e.g. 422 invalid,
        403 forbidden), or, with `check_admission`, when admission refuses its pod
        (reason PodRejected, and no Job is made): the controller reports that as the
        attempt's failure.
        """
        body = build_job(run, action, self.pod_defaults)
        if self.check_admission:
            await self._admit(run, action, body)
        key = (run.namespace, action.name)
        self._expected.expect(key, (run.namespace, run.name), (action.key, action.attempt))
        try:
            return await self.kube.create_job(run.namespace, body)
        except WRITE_ERRORS as exc:
            error = write_error(
                f"create Job {run.namespace}/{action.name}", exc, self.kube.retry.tries
            )
            # A refusal (4xx) means no Job; after exhausted retries one may exist, and
            # the expectation's expiry covers that case.
            if error.status is not None and 400 <= error.status < 500:
                self._expected.forget(key)
            raise error from exc

    async def _admit(self, run: RunRef, action: StartBlock, job: dict[str, Any]) -> None:
        """Raise ExecutorError (reason PodRejected) when admission would refuse the Job's pod.

        A Job whose pod admission refuses (Pod Security, a ValidatingAdmissionPolicy
        or webhook on pods, a missing ServiceAccount) is accepted itself, then never
        gets a pod: the Job controller retries FailedCreate forever and the block
        would hang. A dry-run create of the same pod asks admission first, and the
        refusal's words fail the attempt at once. Only refusals count: a quota that
        is exceeded now (the Job controller waits for it), a missing permission to
        create pods, or a server that did not answer leave the decision to the Job.
        An accepted shape is remembered for ADMITTED_SECONDS.
        """
        template = job["spec"]["template"]
        meta = template["metadata"]
        shape = _shape(template)
        key = (run.namespace, shape)
        now = self.clock()
        if now - self._admitted.get(key, -ADMITTED_SECONDS) < ADMITTED_SECONDS:
            return
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {**meta, "name": action.name, "namespace": run.namespace},
            "spec": template["spec"],
        }
        try:
            await self.kube.dry_run_pod(run.namespace, pod)
        except ApiException as exc:
            said = api_message(exc)
            if _refusal(exc.status, said):
                raise ExecutorError(
                    exc.status,
                    said,
                    reason=BlockReason.POD_REJECTED,
                    refused=f"the pod of Job {action.name}",
                ) from exc
            log.debug("dry run of %s/%s not conclusive: %s", run.namespace, action.name, said)
        except WRITE_ERRORS as exc:
            log.debug("dry run of %s/%s failed: %s", run.namespace, action.name, describe(exc))
            return  # not remembered: ask again next time
        self._remember(key, now)

    def _remember(self, key: tuple[str, str], now: float) -> None:
        if len(self._admitted) >= ADMITTED_MAX:
            self._admitted = {k: t for k, t in self._admitted.items() if now - t < ADMITTED_SECONDS}
            if len(self._admitted) >= ADMITTED_MAX:
                self._admitted.clear()
        self._admitted[key] = now

    async def stop(self, namespace: str, name: str) -> None:
        """Delete the Job and, in the background, its pod; NotFound (404) is success."""
        self._expected.forget((namespace, name))
        try:
            await self.kube.delete_job(namespace, name)
        except WRITE_ERRORS as exc:
            raise write_error(f"delete Job {namespace}/{name}", exc, self.kube.retry.tries) from exc

    def expected(self, namespace: str, run: str) -> set[tuple[str, int]]:
        """(block, attempt) of the run's Jobs created but not yet `seen`.

        Feed these to `observations(expected=...)`: a Job created a moment ago is
        Running, not deleted. An expectation older than `expect_seconds` is dropped
        (the Job was deleted before the index ever showed it), so it cannot hold a
        block Running forever.
        """
        return set(self._expected.of((namespace, run)).values())

    def seen(self, namespace: str, names: Iterable[str]) -> None:
        """The index now shows these Jobs: stop expecting them."""
        self._expected.seen((namespace, name) for name in names)

    def forget(self, namespace: str, run: str) -> None:
        """Drop every expectation of a run (it was deleted or finished)."""
        self._expected.forget_owner((namespace, run))


def _shape(template: dict[str, Any]) -> str:
    """A digest of what admission judges in a pod template, without what varies per run.

    Env, args and command are rendered per run; the run, attempt and trigger labels
    name the run. Everything else (security contexts, volumes, ServiceAccount, image,
    resources, other labels and annotations) is the same for every run of a block
    of one Pipeline generation, so a busy pipeline is asked about once.
    """
    spec = dict(template["spec"])
    spec["containers"] = [
        {k: v for k, v in c.items() if k not in ("env", "args", "command")}
        for c in spec.get("containers") or []
    ]
    meta = template["metadata"]
    pod_labels = {
        k: v for k, v in (meta.get("labels") or {}).items() if k not in _PER_ATTEMPT_LABELS
    }
    text = json.dumps(
        [spec, pod_labels, meta.get("annotations") or {}], sort_keys=True, default=str
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _refusal(status: int | None, message: str) -> bool:
    """True when a dry run's answer means "this pod will never be created as it is".

    4xx answers are refusals, except: 409 (a pod of that name exists), 429 (too many
    requests), an exceeded quota (403 "exceeded quota": it frees up, and the Job
    controller waits for it), and the operator's own missing RBAC permission to
    create pods (403: the check cannot be made; the Job decides).
    """
    if status is None or not 400 <= status < 500 or status in (409, 429):
        return False
    return not (
        status == 403 and ("exceeded quota" in message or permission_missing(message) is not None)
    )


__all__ = [
    "ADMITTED_SECONDS",
    "WRITE_ERRORS",
    "ExecutorError",
    "KubernetesExecutor",
    "write_error",
]
