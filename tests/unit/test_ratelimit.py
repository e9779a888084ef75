"""The client-side rate limit (kube/ratelimit.py, --qps/--burst) on a fake clock, and the
Kube client waiting for it (and checking the leader's fence) before every try."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from prometheus_client import CollectorRegistry, Histogram

from runwright.kube.client import Kube
from runwright.kube.ratelimit import TokenBucket
from runwright.kube.retry import RetryPolicy
from runwright.metrics import Metrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def histogram() -> Histogram:
    return Histogram("wait_seconds", "test", registry=CollectorRegistry())


def bucket(clock: Clock, qps: float = 10, burst: int = 3) -> TokenBucket:
    return TokenBucket(qps, burst, clock=clock, sleep=clock.sleep, histogram=histogram())


def test_a_burst_goes_at_once_then_one_request_per_token() -> None:
    clock = Clock()
    limit = bucket(clock)
    waits = [limit.reserve() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])


def test_tokens_refill_at_qps_up_to_the_burst_only() -> None:
    clock = Clock()
    limit = bucket(clock)
    for _ in range(3):
        limit.reserve()
    clock.now += 0.25  # 2.5 tokens back
    assert [limit.reserve() for _ in range(3)] == pytest.approx([0, 0, 0.05])
    clock.now += 3600  # an idle hour saves no more than the burst
    assert [limit.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])


def test_qps_zero_is_no_limit() -> None:
    clock = Clock()
    limit = bucket(clock, qps=0, burst=0)
    assert all(limit.reserve() == 0 for _ in range(1000))


def test_a_burst_under_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst 0"):
        TokenBucket(10, 0)


async def test_waiting_requests_are_served_in_order_and_the_wait_is_measured() -> None:
    clock = Clock()
    limit = bucket(clock, qps=2, burst=1)
    limit.sleep = lambda seconds: asyncio.sleep(0)  # all three ask in the same instant
    waited = await asyncio.gather(*(limit.acquire() for _ in range(3)))
    assert waited == pytest.approx([0, 0.5, 1.0])
    assert limit.histogram is not None
    [metric] = list(limit.histogram.collect())
    total = metric.samples
    by_name = {s.name: s.value for s in total if not s.labels.get("le")}
    assert by_name["wait_seconds_count"] == 3
    assert by_name["wait_seconds_sum"] == pytest.approx(1.5)


class FailingTwice:
    """CustomObjectsApi whose get fails twice with 503, then answers."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_namespaced_custom_object(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls <= 2:
            raise ApiException(status=503, reason="Service Unavailable")
        return {"metadata": {"name": args[-1]}}


async def test_every_try_of_a_request_waits_for_a_token_and_passes_the_fence() -> None:
    clock = Clock()
    limit = bucket(clock, qps=1, burst=1)
    fenced: list[int] = []
    api = ApiClient(Configuration(host="http://127.0.0.1:1"))
    no_backoff = RetryPolicy(tries=3, base_delay=0, max_delay=0)
    kube = Kube(
        api,
        metrics=Metrics(),
        retry=no_backoff,
        sleep=clock.sleep,
        limiter=limit,
        fence=lambda: fenced.append(1),
    )
    kube.custom = FailingTwice()  # type: ignore[assignment]
    try:
        assert await kube.get("pipelineruns", "ns", "r") == {"metadata": {"name": "r"}}
    finally:
        await api.close()
    # Three tries: the first took the burst token, the retries waited 1 s each.
    assert [s for s in clock.slept if s > 0] == pytest.approx([1.0, 1.0])
    assert len(fenced) >= 3


async def test_a_lost_lease_stops_the_request_before_it_is_sent() -> None:
    class Lost(Exception):
        pass

    def fence() -> None:
        raise Lost

    api = ApiClient(Configuration(host="http://127.0.0.1:1"))
    kube = Kube(api, metrics=Metrics(), fence=fence)
    fake = FailingTwice()
    kube.custom = fake  # type: ignore[assignment]
    try:
        with pytest.raises(Lost):
            await kube.get("pipelineruns", "ns", "r")
    finally:
        await api.close()
    assert fake.calls == 0
    await asyncio.sleep(0)
