"""The one retry policy of every Kubernetes request the operator sends.

Transient answers are retried: 429 (throttled), 5xx (overloaded, restarting) and
connection errors or timeouts (no answer at all, `timeout` seconds per request). Between tries the wait doubles
from `base_delay` up to `max_delay`; when the server says how long to wait
(`Retry-After`, in seconds, as API Priority and Fairness sends with a 429), that
wait is used instead, capped at `max_retry_after` so one answer cannot park a
reconcile for minutes. After `tries` requests the last error is raised: the
caller's reconcile is level-triggered and repeats the whole decision later.

Every other answer is final and raised at once. 404 and 409 are answers, not
failures: the caller decides what they mean (a create's 409 is usually "an earlier
try did it"), so a create is never sent twice because of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from kubernetes_asyncio.client.exceptions import ApiException

from runwright.metrics import METRICS, Metrics

log = logging.getLogger("runwright.kube")

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

#: Requests sent at most for one call, the first included.
RETRIES = 5


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient failure is retried."""

    tries: int = RETRIES
    base_delay: float = 0.1
    max_delay: float = 2.0
    max_retry_after: float = 10.0
    """The longest wait a server's Retry-After may ask for."""
    timeout: float | None = 60.0
    """Seconds one request may go unanswered before it is given up and tried again.

    The client sets no time-out of its own (aiohttp's default has none), so a request
    lost on a dead or stalled connection would hold its reconcile, and so its run,
    forever, with nothing logged. 60 s is the API server's own `--request-timeout`:
    a request it still works on answers before then."""


DEFAULT_POLICY = RetryPolicy()


def is_transient(exc: BaseException) -> bool:
    """5xx, 429 and connection-level errors are worth retrying; other answers are final."""
    if isinstance(exc, ApiException):
        return exc.status == 429 or (exc.status or 0) >= 500
    return isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError)


def retry_after(exc: BaseException) -> float | None:
    """The seconds an answer's Retry-After header asks for; None when absent or not seconds."""
    headers = getattr(exc, "headers", None)
    if headers is None:
        return None
    try:
        seconds = float(headers.get("Retry-After"))
    except (TypeError, ValueError, AttributeError):
        return None
    return max(seconds, 0.0) if seconds == seconds else None  # NaN is no answer


def _code(answer: Any) -> int | str:
    """The HTTP status to count: a raw response's own, 200 for a decoded body."""
    status = getattr(answer, "status", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else 200


async def retrying(
    call: Callable[[], Awaitable[T]],
    what: str,
    verb: str = "",
    resource: str = "",
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    metrics: Metrics | None = None,
    sleep: Sleep | None = None,
) -> T:
    """Run `call` under `policy`: transient failures retried, everything else raised.

    With a `verb`, every request sent is counted in runwright_kube_requests_total by
    its answer (a retried call counts each try). `sleep` defaults to asyncio.sleep,
    looked up at each wait so tests may replace it.
    """
    counter = metrics if metrics is not None else METRICS
    delay = policy.base_delay
    for attempt in range(1, policy.tries + 1):
        try:
            if policy.timeout is None:
                result = await call()
            else:
                result = await asyncio.wait_for(call(), policy.timeout)
        except Exception as exc:
            if verb:
                code = exc.status if isinstance(exc, ApiException) else None
                counter.observe_kube_request(verb, resource, code or "error")
            if not is_transient(exc) or attempt == policy.tries:
                raise
            hinted = retry_after(exc)
            wait = min(hinted, policy.max_retry_after) if hinted is not None else delay
            log.warning(
                "%s failed (%s); retry %d/%d in %.1fs",
                what,
                _short(exc),
                attempt,
                policy.tries - 1,
                wait,
            )
            await (sleep or asyncio.sleep)(wait)
            delay = min(delay * 2, policy.max_delay)
        else:
            if verb:
                counter.observe_kube_request(verb, resource, _code(result))
            return result
    raise AssertionError("unreachable: the last try returns or raises")


def _short(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}"
    return f"{type(exc).__name__}: {exc}"
