"""Which status changes may wait for the next write: those a lost write would not lose.

The reconcile acts first and writes after (create the pod, then patch the status),
so a crash between the two loses the write, and the engine recovers from that by
construction: an attempt that exists while its block's written status still waits
for it (Pending, Queued, or Retrying at the attempt before) is adopted as Running at
that attempt (block_states.observe). A status whose only news since the last write
is such starts (and the run being Pending, Queued or Running) is therefore no more at
risk unwritten than between a create and its patch. The operator holds such a write
back for a moment (`--status-delay`): a block that ends within it costs one status
write (and one label write) instead of two of each, the largest share of a short
block's API writes (issue 11: at most 3 per block attempt).

Everything else is written at once: a block that ended, failed, is retrying or was
stopped (the pod may be deleted, its verdict must be in the status first), a run that
finished, a retry request handled, a run or block message. Those are not re-derived
from the pods.
"""

from __future__ import annotations

from runwright.api.run import BlockPhase, BlockStatus, PipelineRunStatus
from runwright.engine.block_states import WAITING

_NOTHING = BlockStatus()


def _started(before: BlockStatus, after: BlockStatus) -> bool:
    """The block's only news is the start of the attempt after the written one."""
    return (
        before.phase in WAITING
        and after.phase == BlockPhase.RUNNING
        and after.attempt == before.attempt + 1
    )


def may_wait(written: PipelineRunStatus | None, new: PipelineRunStatus) -> bool:
    """True when `new` differs from the `written` status only by what a lost write re-derives.

    `written` is the status as last written (None: nothing written yet). Blocks must be
    unchanged or started (waiting at attempt n -> Running at n + 1, once since the
    write); the run must be unfinished, with the same retry id, reason and message.
    """
    before = written or PipelineRunStatus()
    if new.phase is not None and new.phase.finished:
        return False
    if (new.retry_id, new.reason, new.message, new.failed_block) != (
        before.retry_id,
        before.reason,
        before.message,
        before.failed_block,
    ):
        return False
    if set(before.blocks) - set(new.blocks):
        return False
    for name, after in new.blocks.items():
        old = before.blocks.get(name, _NOTHING)
        if after != old and not _started(old, after):
            return False
    return True
