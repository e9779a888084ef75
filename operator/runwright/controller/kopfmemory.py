"""kopf's per-object memory, not kept: this operator's handlers need none of it.

kopf remembers a `ResourceMemory` for every object it has seen until the object is
deleted: a copy of the operator's memo, an error throttler, indexing and daemon
records (about 1.3 KB each). It serves daemons, timers, indexes, change handlers
(on.create/update/resume) and a patch left over from a failed write; this operator
has none of these (on.event handlers and its own stores, watchstore.py), so with
10,000 finished runs and their Jobs and pods the memories were tens of MB held for
nothing (issue 17). Each event now gets a fresh memory that is dropped after it.

What is lost: kopf's throttling of a repeating framework error for one object
starts afresh with each event (a handler's own errors are logged per event anyway).
"""

from __future__ import annotations

from kopf._cogs.structs import bodies, ephemera
from kopf._core.reactor import inventory


class ForgetfulMemories(inventory.ResourceMemories):
    """kopf's memory of objects that remembers none (pass as `kopf.operator(memories=...)`)."""

    async def recall(
        self,
        raw_body: bodies.RawBody,
        *,
        memobase: ephemera.AnyMemo | None = None,
        noticed_by_listing: bool = False,
        ephemeral: bool = False,
    ) -> inventory.ResourceMemory:
        """A new memory for this event only: never stored, so nothing per object stays."""
        return await super().recall(
            raw_body, memobase=memobase, noticed_by_listing=noticed_by_listing, ephemeral=True
        )
