"""Concurrency across runs, pure: global/namespace block budgets and pipelineRunLimit admission.

The operator keeps the claims in memory (one active operator; rebuilt from its
indexes on start) and asks these functions before every plan. Waiting work is
served oldest executionDate first: a run may only use capacity that no older
waiting run wants.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

RunKey = tuple[str, str]
"""(namespace, run name)."""


@dataclass(frozen=True)
class Claim:
    """What one run holds and wants: its running blocks, and its blocks queued on a budget."""

    namespace: str
    execution_date: datetime
    running: int
    wanted: int


def _older(a: tuple[datetime, RunKey], b: tuple[datetime, RunKey]) -> bool:
    return a < b


def block_budget(
    me: RunKey,
    execution_date: datetime,
    claims: Mapping[RunKey, Claim],
    global_limit: int | None,
    namespace_limit: int | None,
) -> int | None:
    """How many blocks run `me` may start now; None means no limit applies.

    Free capacity is the limit minus every run's running blocks (its own included),
    minus what strictly older runs are still waiting for: a younger run never
    overtakes an older one that is queued on the same limit.
    """
    if global_limit is None and namespace_limit is None:
        return None
    mine = (execution_date, me)
    namespace = me[0]
    running_all = running_ns = older_all = older_ns = 0
    for key, claim in claims.items():
        running_all += claim.running
        in_ns = claim.namespace == namespace
        if in_ns:
            running_ns += claim.running
        if key != me and claim.wanted and _older((claim.execution_date, key), mine):
            older_all += claim.wanted
            if in_ns:
                older_ns += claim.wanted
    budgets = []
    if global_limit is not None:
        budgets.append(global_limit - running_all - older_all)
    if namespace_limit is not None:
        budgets.append(namespace_limit - running_ns - older_ns)
    return max(0, min(budgets))


@dataclass(frozen=True)
class RunSlot:
    """A not-yet-finished run of one pipeline, for pipelineRunLimit admission."""

    name: str
    execution_date: datetime
    active: bool
    """Already admitted (Running, or admitted and starting)."""


def admitted(me: str, runs: Iterable[RunSlot], limit: int | None) -> bool:
    """True when run `me` may become active under the pipeline's pipelineRunLimit.

    Active runs keep their slots; the free slots go to the oldest waiting runs
    (executionDate, then name, so the order is total and stable).
    """
    if limit is None:
        return True
    slots = list(runs)
    if any(s.name == me and s.active for s in slots):
        return True
    free = limit - sum(1 for s in slots if s.active)
    if free <= 0:
        return False
    waiting = sorted((s.execution_date, s.name) for s in slots if not s.active)
    return me in {name for _, name in waiting[:free]}


@dataclass(frozen=True)
class PipelineRunSlot:
    """One run of a pipeline with a pipelineRunLimit, for deciding whom a freed slot wakes."""

    key: RunKey
    execution_date: datetime
    active: bool
    """Running: holds a slot."""
    waiting: bool
    """Pending or Queued: wants a slot."""


def admission_wakes(runs: Iterable[PipelineRunSlot], limit: int | None) -> list[RunKey]:
    """A run of the pipeline ended: the oldest waiting runs that the free slots can take.

    Only those are woken; waking every queued run would make each finished run cost a
    reconcile of all of them.
    """
    if limit is None:
        return []
    slots = list(runs)
    active = sum(1 for s in slots if s.active)
    queued = sorted((s.execution_date, s.key) for s in slots if s.waiting)
    return [key for _date, key in queued[: max(limit - active, 0)]]


def capacity_wakes(
    claims: Mapping[RunKey, Claim],
    freed: int,
    namespace_limits: Mapping[str, int],
    live: Container[RunKey],
) -> list[RunKey]:
    """`freed` block slots came free: the oldest runs queued on a budget that can use them.

    Runs whose namespace is full are passed over (the slot is of no use to them), and
    waking stops once the woken runs want as many blocks as were freed: waking every
    waiting run would be quadratic work when thousands wait.
    """
    waiting = sorted(
        (claim.execution_date, key)
        for key, claim in claims.items()
        if claim.wanted > 0 and key in live
    )
    running_ns: dict[str, int] = {}
    for claim in claims.values():
        running_ns[claim.namespace] = running_ns.get(claim.namespace, 0) + claim.running
    woken: list[RunKey] = []
    left = freed
    for _date, key in waiting:
        if left <= 0:
            break
        limit = namespace_limits.get(key[0])
        if limit is not None and running_ns.get(key[0], 0) >= limit:
            continue
        woken.append(key)
        left -= claims[key].wanted
    return woken


class PipelineQueue:
    """The runs of one pipeline in pipelineRunLimit order: who holds a slot, who waits.

    `admitted` and `admission_wakes` above answer from every run of the pipeline,
    O(runs) per decision; with thousands queued that made the drain the operator's
    own limit (issue 16: 137 runs/min under pipelineRunLimit 5). This keeps the
    waiting runs sorted by (executionDate, name) as they change, so one decision is
    a bisection: O(log n), with the same answers.
    """

    def __init__(self) -> None:
        self.running: set[str] = set()
        self.waiting: list[tuple[datetime, str]] = []

    def __len__(self) -> int:
        return len(self.running) + len(self.waiting)

    def add(self, name: str, execution_date: datetime, *, running: bool) -> None:
        """A not-finished run: running holds a slot, any other wants one."""
        if running:
            self.running.add(name)
        else:
            insort(self.waiting, (execution_date, name))

    def remove(self, name: str, execution_date: datetime, *, running: bool) -> None:
        """Undo `add` with the same arguments (the run changed or is gone)."""
        if running:
            self.running.discard(name)
            return
        entry = (execution_date, name)
        at = bisect_left(self.waiting, entry)
        if at < len(self.waiting) and self.waiting[at] == entry:
            del self.waiting[at]

    def admitted(self, name: str, execution_date: datetime, limit: int | None) -> bool:
        """`admitted`: running keeps its slot; free slots go to the oldest waiting runs."""
        if limit is None or name in self.running:
            return True
        free = limit - len(self.running)
        if free <= 0:
            return False
        return bisect_left(self.waiting, (execution_date, name)) < free

    def wakes(self, limit: int | None) -> list[str]:
        """`admission_wakes`: the oldest waiting runs the free slots can take."""
        if limit is None:
            return []
        free = max(limit - len(self.running), 0)
        return [name for _date, name in self.waiting[:free]]
