"""Trigger policy, pure: concurrencyPolicy (Allow, Forbid, Replace) and the history limits.

One definition for every path that creates runs for a trigger: the trigger planner
(its fires) and the API endpoint (its POSTs) both ask `decide`, so a Forbid means the
same whether a cron fired or a caller did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from runwright.api.trigger import ConcurrencyPolicy, RunPhase
from runwright.engine.reasons import SkipReason
from runwright.engine.trigger_model import RunToDelete, TriggerRun


@dataclass(frozen=True)
class Decision:
    """What a new fire does under concurrencyPolicy, given the trigger's active runs."""

    create: bool
    """True: create the fire's run (after cancelling `cancel`)."""
    cancel: tuple[str, ...] = ()
    """Active runs to cancel first (Replace)."""
    skip: SkipReason | None = None
    """Why the fire creates no run (Forbid with a run active), when it does not."""
    blocking: str | None = None
    """The active run that made Forbid skip the fire (for the message)."""

    @property
    def message(self) -> str:
        """Why the fire creates no run, in words (empty when it does)."""
        if self.skip is None:
            return ""
        return f"run {self.blocking} is still active (concurrencyPolicy Forbid)"


def decide(policy: ConcurrencyPolicy, active: Sequence[str]) -> Decision:
    """Allow: create. Forbid: skip while a run is active. Replace: cancel the active, create.

    `active` are the trigger's unfinished runs, including ones created but not yet seen
    by a watch (the caller's memory of its own creations): a run missing here is a run
    Forbid would let a second fire race past.
    """
    if not active or policy == ConcurrencyPolicy.ALLOW:
        return Decision(create=True)
    if policy == ConcurrencyPolicy.FORBID:
        return Decision(create=False, skip=SkipReason.FORBIDDEN, blocking=active[0])
    return Decision(create=True, cancel=tuple(active))


def beyond_history(
    runs: Iterable[TriggerRun], successful_limit: int | None, failed_limit: int | None
) -> list[RunToDelete]:
    """The oldest finished runs beyond successfulRunsHistoryLimit and failedRunsHistoryLimit.

    Succeeded runs count against the first, Failed and Cancelled ones against the second;
    age is completion time (creation when unknown). Completion times are whole seconds
    (as the API server stores them), so runs finishing within one second tie: the
    executionDate breaks the tie (the newer fire is the newer run), then creation, then
    the name. A run a configured archive has not confirmed (`archived` False) is kept,
    and still counts.
    """
    runs = list(runs)
    limits = (
        ((RunPhase.SUCCEEDED,), successful_limit, "successful"),
        ((RunPhase.FAILED, RunPhase.CANCELLED), failed_limit, "failed"),
    )
    delete: list[RunToDelete] = []
    for phases, limit, what in limits:
        if limit is None:
            continue
        finished = sorted(
            (r for r in runs if r.phase in phases),
            key=lambda r: (
                r.completed_at or r.created_at,
                r.execution_date or r.created_at,
                r.created_at,
                r.name,
            ),
            reverse=True,
        )
        delete.extend(
            RunToDelete(old.name, f"beyond {what}RunsHistoryLimit ({limit})")
            for old in finished[limit:]
            if old.archived  # an unarchived run waits for the archive, still counted
        )
    return delete
