"""Retention in the archive: finished runs older than their phase's limit are deleted.

Pruning is done in small batches (one short transaction per call) so a large
backlog never holds a long lock on SQLite or bloats one PostgreSQL transaction;
the caller repeats while a call deletes its full batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from runwright.archive.schema import Attempt, Event, ItemAttempt, ItemLog, Log, Run


@dataclass(frozen=True)
class RetentionPolicy:
    """How long finished runs are kept, per phase, counted from completion (None: forever)."""

    succeeded: timedelta | None = timedelta(days=90)
    failed: timedelta | None = timedelta(days=180)
    cancelled: timedelta | None = timedelta(days=30)

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Phase to the completion time before which its runs are deleted."""
        limits = {"Succeeded": self.succeeded, "Failed": self.failed, "Cancelled": self.cancelled}
        return {phase: now - keep for phase, keep in limits.items() if keep is not None}


async def prune(
    engine: AsyncEngine, policy: RetentionPolicy, *, now: datetime, limit: int = 500
) -> int:
    """Delete at most `limit` expired runs, with their attempts, Events and logs.

    Returns how many runs were deleted: fewer than `limit` means nothing more is due.
    """
    if limit <= 0:
        return 0
    async with engine.begin() as connection:
        uids: list[str] = []
        for phase, cutoff in policy.cutoffs(now).items():
            if len(uids) >= limit:
                break
            expired = await connection.execute(
                select(Run.uid)
                .where(Run.phase == phase, Run.completed_at < cutoff)
                .order_by(Run.completed_at, Run.uid)
                .limit(limit - len(uids))
            )
            uids.extend(expired.scalars())
        if uids:
            # Children first: SQLite enforces the foreign keys only when told to.
            for child in (ItemLog, ItemAttempt, Log, Event, Attempt):
                await connection.execute(delete(child).where(child.run_uid.in_(uids)))
            await connection.execute(delete(Run).where(Run.uid.in_(uids)))
    return len(uids)
