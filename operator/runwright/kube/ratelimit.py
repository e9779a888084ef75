"""A client-side rate limit on the operator's API requests (`--qps`, `--burst`).

Every controller has one (client-go's token bucket, Argo's --qps/--burst): a burst of
work (a 5,000-run backlog admitted at once, a failover's resync) must not flood the
API server that the whole cluster shares. `TokenBucket` is client-go's flowcontrol
limiter: `burst` tokens at most, refilled at `qps` per second, one per request. A
request that finds no token takes a *reservation* (the bucket goes negative) and
waits until its token is due, so waiting requests are served in order and no lock
is needed. The time spent waiting is the histogram
runwright_kube_client_rate_limit_wait_seconds (its _sum is the total wait), so a
limit that is too tight shows up on the dashboard rather than as a slow operator.

Leader election does not go through it (its own client): renewals must never queue
behind the operator's own writes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Histogram

from runwright.metrics import METRICS

DEFAULT_QPS = 100.0
DEFAULT_BURST = 200

WAIT_SECONDS = Histogram(
    "runwright_kube_client_rate_limit_wait_seconds",
    "Time an API request of the operator waited for the client-side rate limit "
    "(--qps, --burst) before it was sent",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=METRICS.registry,
)


class TokenBucket:
    """`burst` requests at once, then `qps` per second; qps <= 0 means no limit."""

    def __init__(
        self,
        qps: float = DEFAULT_QPS,
        burst: int = DEFAULT_BURST,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        histogram: Histogram | None = WAIT_SECONDS,
    ) -> None:
        if qps > 0 and burst < 1:
            raise ValueError(f"burst {burst}: at least 1 request must be allowed at once")
        self.qps, self.burst = qps, burst
        self.clock, self.sleep = clock, sleep
        self.histogram = histogram
        self.tokens = float(burst)
        self.updated = clock()

    def reserve(self) -> float:
        """Take a token now (possibly one not yet refilled); return how long to wait for it."""
        if self.qps <= 0:
            return 0.0
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.qps)
        self.updated = now
        self.tokens -= 1.0
        return 0.0 if self.tokens >= 0 else -self.tokens / self.qps

    async def acquire(self) -> float:
        """Wait for this request's token; returns the time waited (also observed)."""
        wait = self.reserve()
        if self.histogram is not None:
            self.histogram.observe(wait)
        if wait > 0:
            await self.sleep(wait)
        return wait


_PROCESS: TokenBucket | None = None


def process_limiter(qps: float = DEFAULT_QPS, burst: int = DEFAULT_BURST) -> TokenBucket:
    """The one bucket of this process (made on first use): every Kube client shares it,
    as every request of one client-go client shares its limiter."""
    global _PROCESS
    if _PROCESS is None:
        _PROCESS = TokenBucket(qps, burst)
    return _PROCESS
