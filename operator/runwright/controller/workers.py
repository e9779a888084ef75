"""One reconcile loop per object: woken by events, sleeping until the engine's wake time.

Runs and Triggers are reconciled the same way: an asyncio task per object that calls
`reconcile(key)`, which returns "call me again at T at the latest"; any event about
the object sets its wake flag. Errors are logged and retried with a capped backoff, so
one bad object never stalls the others. A reconcile that asks to run again at once
(a wake time no later than its own start), with no event since it began, for a time no
later than its previous such answer, has made no progress and would make none the
next time: it is throttled with the same kind of backoff and counted
(runwright_reconcile_throttled_total), so no object can spin the event loop (issue 16:
a finished run whose pod was deleted reconciled 5,000 times a second). A time that
moves forward is progress, not a spin: a trigger catching up on missed fires asks for
"now" after each batch. Plain tasks rather than kopf daemons: kopf puts
a finalizer on every object that has a daemon, and our objects must stay deletable
without the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from runwright.kube.errors import forbidden
from runwright.metrics import METRICS

log = logging.getLogger("runwright.workers")

K = TypeVar("K", bound=Hashable)
#: A reconcile that raised is tried again after this many seconds, doubling to the cap.
ERROR_BACKOFF = (0.5, 30.0)
#: A reconcile asking to run again at once with nothing new waits this long, doubling to the cap.
SPIN_BACKOFF = (0.5, 30.0)


class WorkerPool(Generic[K]):
    """The loops of every object of one kind."""

    def __init__(
        self,
        kind: str,
        reconcile: Callable[[K], Awaitable[datetime | None]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kind = kind
        self.reconcile = reconcile
        self.clock = clock
        self.flags: dict[K, asyncio.Event] = {}
        self.tasks: dict[K, asyncio.Task[None]] = {}
        self.closing = False
        #: The next throttle delay of each object that keeps asking to run again at once.
        self.spins: dict[K, float] = {}
        #: The last wake time of each object that was already past when answered.
        self.overdue: dict[K, datetime] = {}

    def __contains__(self, key: object) -> bool:
        return key in self.flags

    def ensure(self, key: K) -> None:
        """Start the object's loop if it has none, and wake it."""
        if key not in self.flags:
            self.flags[key] = asyncio.Event()
            self.tasks[key] = asyncio.create_task(self._loop(key), name=f"{self.kind} {key}")
        self.flags[key].set()

    def wake(self, key: K) -> None:
        """Reconcile the object soon (no-op for an object without a loop)."""
        flag = self.flags.get(key)
        if flag is not None:
            flag.set()

    def stop(self, key: K) -> None:
        """The object is gone: end its loop."""
        self.flags.pop(key, None)
        self.spins.pop(key, None)
        self.overdue.pop(key, None)
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """End every loop (operator shutdown)."""
        self.closing = True
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self, key: K) -> None:
        backoff = ERROR_BACKOFF[0]
        while not self.closing:
            flag = self.flags.get(key)
            if flag is None:
                return
            flag.clear()
            started = self.clock()
            try:
                with METRICS.reconcile(self.kind):
                    wake_at = await self.reconcile(key)
                backoff = ERROR_BACKOFF[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                missing = forbidden(exc)
                if missing is not None:
                    # An RBAC gap, not a bug: one line naming the permission, no traceback.
                    log.error(
                        "reconcile of %s %s failed: %s; retrying in %.1fs",
                        self.kind,
                        key,
                        missing,
                        backoff,
                    )
                else:
                    log.exception(
                        "reconcile of %s %s failed; retrying in %.1fs", self.kind, key, backoff
                    )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, ERROR_BACKOFF[1])
                continue
            timeout = self.delay(key, started, wake_at, woken=flag.is_set())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(flag.wait(), timeout)

    def delay(
        self, key: K, started: datetime, wake_at: datetime | None, *, woken: bool
    ) -> float | None:
        """Seconds to sleep (unless an event comes) after a reconcile begun at `started`.

        None is "until an event". A wake time in the future is slept until, one already
        past is honoured at once. But a past wake time no later than the previous past
        one, with no event during the reconcile (`woken`), asks again for the very
        reconcile that just ran, on the same inputs: the object is throttled
        (SPIN_BACKOFF, doubling per repeat, reset by any other answer) instead of
        spinning, and an event still wakes it at once.
        """
        previous = self.overdue.pop(key, None)
        if wake_at is None:
            self.spins.pop(key, None)
            return None
        if wake_at > started:
            self.spins.pop(key, None)
            return max((wake_at - self.clock()).total_seconds(), 0.0)
        self.overdue[key] = wake_at
        if woken or previous is None or wake_at > previous:
            self.spins.pop(key, None)
            return 0.0
        backoff = self.spins.get(key, SPIN_BACKOFF[0])
        self.spins[key] = min(backoff * 2, SPIN_BACKOFF[1])
        METRICS.reconcile_throttled_total.labels(self.kind).inc()
        if backoff == SPIN_BACKOFF[0]:
            log.warning(
                "%s %s asks to be reconciled again at once with nothing new (wake time %s); "
                "throttling it, from %.1fs up to %.0fs",
                self.kind,
                key,
                wake_at.isoformat(),
                backoff,
                SPIN_BACKOFF[1],
            )
        return backoff
