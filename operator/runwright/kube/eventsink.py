"""Events posted behind the reconcile, as client-go's event broadcaster posts them.

A reconcile used to await its Events: with the client's rate limit (--qps) shared,
a one-block run's four Events took four of the tokens its pod create and status
writes needed, and the reconcile waited for them (issue 11 measured the limit, not
the operator, setting the pace: 381 one-block runs/min at --qps 50, 1,276 with no
limit). Events are history, not state, so they are handed to this sink, which
sends them from a few tasks of its own behind a limit of its own (--event-qps,
--event-burst): the run's writes never queue behind its Events.

Order is kept where it is visible: the senders take Events in the order they were
handed over (the plan's), and each is stamped (EventLog.record, which names it and
sets its eventTime) when a sender takes it, before the sender's first await, so the
stamps follow that order; one series' create and patches are serialised by the
series lock, taken in the same step.

Bounded: at most `capacity` posts wait; past that the oldest waiting one is dropped,
counted in runwright_events_dropped_total and logged (once a minute at most), rather
than holding memory without limit while the API server refuses Events. A graceful
stop sends what is queued for up to `drain_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from runwright.metrics import METRICS, Metrics

log = logging.getLogger("runwright.kube")

CAPACITY = 10_000
SENDERS = 8
DRAIN_SECONDS = 5.0
DROP_LOG_EVERY = 60.0


@dataclass(frozen=True)
class Happening:
    """One Event to post: what `Kube.event` takes (stamped when a sender takes it)."""

    involved: dict[str, Any]
    type: str
    reason: str
    message: str


class EventSink:
    """A bounded queue of Events and the tasks that post them in order."""

    def __init__(
        self,
        send: Callable[[Happening], Awaitable[None]],
        *,
        senders: int = SENDERS,
        capacity: int = CAPACITY,
        drain_seconds: float = DRAIN_SECONDS,
        metrics: Metrics | None = None,
    ) -> None:
        self.send = send
        self.senders = senders
        self.drain_seconds = drain_seconds
        self.metrics = metrics if metrics is not None else METRICS
        self._queue: asyncio.Queue[Happening] = asyncio.Queue(maxsize=capacity)
        self._tasks: list[asyncio.Task[None]] = []
        self._dropped_logged = -DROP_LOG_EVERY

    def put(self, happening: Happening) -> None:
        """Queue one Event; never waits (a full queue drops its oldest)."""
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self.metrics.events_dropped_total.inc()
            now = time.monotonic()
            if now - self._dropped_logged >= DROP_LOG_EVERY:
                self._dropped_logged = now
                log.warning(
                    "Events are dropped: %d wait to be posted (is the API server refusing "
                    "them, or --event-qps too low?)",
                    self._queue.qsize(),
                )
        self._queue.put_nowait(happening)
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._sender(), name=f"event-sender-{i}")
                for i in range(self.senders)
            ]

    def __len__(self) -> int:
        return self._queue.qsize()

    async def _sender(self) -> None:
        while True:
            happening = await self._queue.get()
            try:
                await self.send(happening)
            except Exception:
                log.exception("event %s not posted", happening.reason)
            finally:
                self._queue.task_done()

    async def idle(self) -> None:
        """Return once nothing is queued or being sent (tests, a graceful stop)."""
        await self._queue.join()

    async def close(self) -> None:
        """Send what waits for up to drain_seconds, then stop the senders."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle(), self.drain_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
