"""Blocks as Kubernetes Jobs: creating and deleting one Job per block attempt.

The Job's manifest is `job_manifest.build_job`; what a Job and its pod say about
the attempt is `job_records`. This module is the I/O: it creates and deletes Jobs
through `Kube` (the operator's one write path: its retry policy, its request
counter), treating the answers that mean "already done" (409 on create, 404 on
delete) as success, because names are deterministic and the reconcile loop is
level-triggered: any action may be repeated after a crash or a conflict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.engine.plan import StartBlock
from runwright.executors.contract import RunRef
from runwright.executors.job_manifest import build_job
from runwright.kube.client import Kube
from runwright.kube.errors import describe
from runwright.kube.expectations import Expectations
from runwright.kube.retry import is_transient


class ExecutorError(Exception):
    """The API server refused a write for good (4xx), or transient errors outlasted the retries."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


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
    ) -> None:
        self.kube = kube
        # (namespace, Job name) -> (block, attempt), owned by (namespace, run)
        self._expected: Expectations[tuple[str, str], tuple[str, int]] = Expectations(
            expect_seconds, clock
        )

    async def start(self, run: RunRef, action: StartBlock) -> None:
        """Create the attempt's Job; AlreadyExists (409) means an earlier try did it.

        The attempt is expected from before the request is sent, so a watch event
        that beats the response is not lost: `seen` then clears it.
        Raises ExecutorError when the API server refuses the Job (e.g. 422 invalid,
        403 forbidden): the controller reports that as the attempt's failure.
        """
        body = build_job(run, action)
        key = (run.namespace, action.name)
        self._expected.expect(key, (run.namespace, run.name), (action.block, action.attempt))
        try:
            await self.kube.create_job(run.namespace, body)
        except WRITE_ERRORS as exc:
            error = write_error(
                f"create Job {run.namespace}/{action.name}", exc, self.kube.retry.tries
            )
            # A refusal (4xx) means no Job; after exhausted retries one may exist, and
            # the expectation's expiry covers that case.
            if error.status is not None and 400 <= error.status < 500:
                self._expected.forget(key)
            raise error from exc

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


__all__ = ["WRITE_ERRORS", "ExecutorError", "KubernetesExecutor", "write_error"]
