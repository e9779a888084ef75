"""A worker never spins: a reconcile that keeps asking to run again at once backs off.

Issue 16: a finished run whose pod was deleted returned a wake time in the past on
every reconcile (the end of the lost pod's grace), and its worker reconciled it
hundreds of thousands of times a minute without sending a request. The tests count
reconciles while the event loop is given many turns; none measures time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from runwright.controller import workers
from runwright.controller.workers import WorkerPool
from runwright.metrics import METRICS

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KIND = "Spinner"


def throttled() -> float:
    return METRICS.reconcile_throttled_total.labels(KIND)._value.get()


class Reconciles:
    """A reconcile that always answers the same wake time, counting its calls."""

    def __init__(self, wake_at: datetime | None) -> None:
        self.wake_at = wake_at
        self.calls = 0
        self.called = asyncio.Event()

    async def __call__(self, _key: str) -> datetime | None:
        self.calls += 1
        self.called.set()
        return self.wake_at

    async def until(self, calls: int) -> None:
        """Wait for the count to reach `calls` (bounded: fails rather than hangs)."""
        async with asyncio.timeout(10):
            while self.calls < calls:
                self.called.clear()
                await self.called.wait()


async def turns(count: int = 200) -> None:
    """Give every other task many turns of the event loop."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_wake_time_in_the_past_forever_does_not_spin() -> None:
    reconcile = Reconciles(wake_at=T0 - timedelta(seconds=5))
    pool: WorkerPool[str] = WorkerPool(KIND, reconcile, clock=lambda: T0)
    before = throttled()
    pool.ensure("r")
    try:
        await reconcile.until(1)
        await turns()
        # Before the fix: one reconcile per few turns, 67 here (219,437 in 40 s live).
        assert reconcile.calls <= 3
        assert throttled() - before >= 1
    finally:
        await pool.close()


async def test_an_event_still_wakes_a_backed_off_worker_at_once() -> None:
    reconcile = Reconciles(wake_at=T0)
    pool: WorkerPool[str] = WorkerPool(KIND, reconcile, clock=lambda: T0)
    pool.ensure("r")
    try:
        await reconcile.until(1)
        await turns()
        calls = reconcile.calls
        pool.wake("r")
        await reconcile.until(calls + 1)
        await turns()
        assert reconcile.calls <= calls + 2
    finally:
        await pool.close()


async def test_the_backoff_doubles_to_its_cap_and_resets_on_progress() -> None:
    pool: WorkerPool[str] = WorkerPool(KIND, Reconciles(None), clock=lambda: T0)
    first, cap = workers.SPIN_BACKOFF
    past = T0 - timedelta(seconds=1)
    delays = [pool.delay("r", T0, past, woken=False) for _ in range(20)]
    assert delays[0] == 0.0  # a time already past is honoured once
    assert delays[1] == first
    assert delays[2] == 2 * first
    assert delays[-1] == cap
    assert pool.delay("r", T0, T0 + timedelta(seconds=3), woken=False) == 3.0
    assert pool.delay("r", T0, past, woken=False) == 0.0  # progress reset the backoff
    assert pool.delay("r", T0, past, woken=False) == first


def test_a_past_wake_time_after_an_event_is_no_spin() -> None:
    pool: WorkerPool[str] = WorkerPool(KIND, Reconciles(None), clock=lambda: T0)
    before = throttled()
    past = T0 - timedelta(seconds=1)
    assert pool.delay("r", T0, past, woken=False) == 0.0
    assert pool.delay("r", T0, past, woken=True) == 0.0
    assert pool.delay("r", T0, None, woken=False) is None
    assert throttled() == before


async def test_a_past_wake_time_that_moves_forward_is_progress_not_a_spin() -> None:
    """A trigger catching up on missed fires asks for "now" after each batch."""
    calls = 0
    done = asyncio.Event()

    async def catching_up(_key: str) -> datetime | None:
        nonlocal calls
        calls += 1
        if calls == 20:
            done.set()
            return None
        return T0 - timedelta(hours=1) + timedelta(seconds=calls)

    pool: WorkerPool[str] = WorkerPool(KIND, catching_up, clock=lambda: T0)
    before = throttled()
    pool.ensure("r")
    try:
        async with asyncio.timeout(10):
            await done.wait()
        assert throttled() == before
    finally:
        await pool.close()


async def test_a_future_wake_time_waits_for_it_without_backoff() -> None:
    now = [T0]
    reconcile = Reconciles(wake_at=T0 + timedelta(hours=1))
    pool: WorkerPool[str] = WorkerPool(KIND, reconcile, clock=lambda: now[0])
    before = throttled()
    pool.ensure("r")
    try:
        await reconcile.until(1)
        await turns()
        assert reconcile.calls == 1
        assert throttled() == before
    finally:
        await pool.close()
