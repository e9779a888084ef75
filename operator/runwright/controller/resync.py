"""The safety net under the event-driven reconcile: every unfinished run is looked at again.

Runs are reconciled when an event says something changed (their pod ended, a slot
freed up) and when the engine asks for a time (a backoff, a timeout). If a wake is
ever lost, an unfinished run with no timer would sleep forever: a run stuck Running
is the one failure users cannot repair themselves. So no unfinished run sleeps
longer than the resync period (`--resync-period`, as every Kubernetes controller
has one), and a resync that finds something to do says so loudly: it means an event
was missed, which is a bug to report, and the warning names the run and what moved.

Triggers get the same net (one `Resync` per kind): a trigger learns that its runs
finished, or that its Pipeline appeared, from wakes too, and a lost one would leave
its history clean-up or an Event fire waiting for the next event, which may never
come. Every trigger is looked at again at least once a period (a trigger has no
"finished": even a completed Once trigger still keeps its runs' history).

Cost: a resync of a run that changed nothing writes nothing and takes a few
milliseconds; a one-block run lasting seconds never reaches its first one. A large
backlog (5,000 runs queued on pipelineRunLimit) would make that many resyncs a
period, so the period stretches to keep them under MAX_RATE a second, per kind.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from runwright.engine.concurrency import RunKey
from runwright.metrics import METRICS
from runwright.reconcile import Step

log = logging.getLogger("runwright.resync")

#: The default period: long enough to cost nothing on short runs, short enough that a
#: run a lost event left behind moves on within a minute.
DEFAULT_PERIOD = 60.0
#: Resyncs a second at most, across all runs: the period grows with the unfinished runs.
MAX_RATE = 20.0


#: How the warning names an object of each kind.
_NOUNS = {"PipelineRun": "run", "Trigger": "trigger"}


class Resync:
    """When each object of one kind is due its resync, and whether a resync moved it.

    `kind` is the resource kind (PipelineRun, Trigger): the label of
    runwright_resync_repairs_total and the noun of the warning. Keys are
    (namespace, name).
    """

    def __init__(
        self, period: float | None, clock: Callable[[], datetime], kind: str = "PipelineRun"
    ) -> None:
        self.period = period
        self.clock = clock
        self.kind = kind
        self.due: dict[RunKey, datetime] = {}

    def cap(
        self, key: RunKey, wake_at: datetime | None, finished: bool, unfinished: int = 1
    ) -> datetime | None:
        """The wake time to sleep until: the engine's, or the resync's when sooner.

        `unfinished` is how many runs are resynced: the period is at least that many
        over MAX_RATE seconds, so a backlog does not turn the net into a hot loop.
        """
        if finished or not self.period:
            self.due.pop(key, None)
            return wake_at
        period = max(self.period, unfinished / MAX_RATE)
        due = self.clock() + timedelta(seconds=period)
        if wake_at is not None and wake_at <= due:
            self.due.pop(key, None)
            return wake_at
        self.due[key] = due
        return due

    def by_timer(self, key: RunKey) -> bool:
        """This reconcile is the resync itself (its time came, no event came first)."""
        due = self.due.pop(key, None)
        return due is not None and self.clock() >= due

    def check(self, key: RunKey, step: Step) -> None:
        """A run's resync that finds work means a wake was lost: count it, say what moved."""
        self.report(key, _moved(step))

    def report(self, key: RunKey, moved: list[str]) -> None:
        """A resync that did `moved` (nothing: a quiet resync) found a lost wake's work."""
        if not moved:
            return
        METRICS.resync_repairs_total.labels(self.kind).inc()
        log.warning(
            "%s %s/%s moved on only at its periodic resync (%s): an event that should "
            "have woken it was missed; please report this with the operator's log",
            _NOUNS.get(self.kind, self.kind),
            key[0],
            key[1],
            "; ".join(moved),
        )


def _moved(step: Step) -> list[str]:
    """What a plan changes: starts, stops, the run's phase, a block's phase or attempt."""
    old, new = step.old, step.result.status
    moved = [f"start {s.name}" for s in step.result.starts]
    moved += [f"stop {s.name}" for s in step.result.stops]
    if old.phase != new.phase:
        moved.append(f"run {old.phase} -> {new.phase}")
    for name, block in new.blocks.items():
        before = old.blocks.get(name)
        if before is block:
            continue
        was = (before.phase, before.attempt) if before is not None else (None, 0)
        if was != (block.phase, block.attempt):
            moved.append(f"block {name} {was[0]}/{was[1]} -> {block.phase}/{block.attempt}")
    return moved
