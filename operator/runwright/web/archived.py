"""Live and archived runs in one list: the archive's keyset pages merged into the live order.

Live runs are the truth while they exist: an archived copy of a live run (same
uid) is not shown twice. Archive reads are limited to the namespaces the user
may list runs in (scope.py), since the archive itself knows nothing of RBAC.

The list's cursor is the last row's (sort value, uid) plus the archive cursor
of the batch that row came from; rows of that batch already shown are skipped
by comparing with the mark, so a page costs one or two keyset queries however
deep it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from runwright.archive import RunFilter, Sort, SortKey, count_by_phase, list_runs
from runwright.archive.engine import SQLITE_BUSY_TIMEOUT, archive_url, create_engine, sqlite_path
from runwright.web.runs import (
    RunQuery,
    RunRow,
    RunsPage,
    after,
    decode_cursor,
    encode_cursor,
    row_of_archived,
    sort_key,
)
from runwright.web.scope import Scope

#: List columns the archive can sort by (its SortKey for each).
ARCHIVE_SORTS = {
    "started": SortKey.STARTED,
    "completed": SortKey.COMPLETED,
    "duration": SortKey.DURATION,
    "phase": SortKey.PHASE,
    "itemsProcessed": SortKey.ITEMS_PROCESSED,
    "cost": SortKey.COST,
}
_MAX_BATCHES = 5


def open_read_only(url: str) -> AsyncEngine:
    """The archive as the web view opens it: only ever read, never migrated.

    An SQLite file is opened with `mode=ro`: in the chart the server is a second
    container of the operator's pod, on the same ReadWriteOnce claim, and SQLite
    itself then refuses any write from the server. The operator keeps the file in
    WAL mode, so these reads never wait for its writes (they need the volume
    writable only for WAL's shared-memory index, `-shm`). PostgreSQL: the URL's
    user decides (give the server a read-only one).
    """
    target = archive_url(url)
    path = sqlite_path(target)
    if path is None:
        return create_engine(target)
    read_only = target.set(
        database=f"file:{path.resolve()}", query={**target.query, "mode": "ro", "uri": "true"}
    )
    return create_async_engine(read_only, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})


def archive_filter(query: RunQuery, scope: Scope) -> RunFilter:
    """The archive filter of a list query, limited to the user's namespaces."""
    return RunFilter(
        namespaces=scope.namespaces,
        pipeline=query.pipeline or None,
        trigger=query.trigger or None,
        phases=query.phases,
        triggered_by=query.triggered_by or None,
        started_since=query.since,
        started_before=query.until,
        text=query.text or None,
    )


def _precedes(a: RunRow, b: RunRow, query: RunQuery) -> bool:
    """True when `a` comes before `b` in the list's order."""
    return after(b, query.sort, query.descending, (sort_key(a, query.sort), a.uid))


async def merged_page(
    engine: AsyncEngine | None,
    live_rows: Sequence[RunRow],
    live: RunsPage,
    query: RunQuery,
    scope: Scope,
) -> tuple[RunsPage, str]:
    """The page with archived runs merged in, and a note (why archived runs are not shown).

    The archive's counts by phase are `archived_counts`, a request of its own: over a
    million runs they cost more than the page, which should not wait for them.
    """
    if engine is None or not query.archived:
        return live, ""
    key = ARCHIVE_SORTS.get(query.sort)
    if key is None:
        return (
            live,
            (
                f"archived runs are not shown when sorting by {query.sort}: the archive sorts by "
                + ", ".join(ARCHIVE_SORTS)
            ),
        )
    where = archive_filter(query, scope)
    if scope.namespaces == []:
        return live, ""
    payload = decode_cursor(query.cursor) if query.cursor else {}
    mark = (payload.get("v"), str(payload.get("u", ""))) if payload else None
    live_uids = {row.uid for row in live_rows}
    sort = Sort(key, query.descending)
    batch_cursor: str | None = payload.get("a") if payload else None
    exhausted = bool(payload.get("x")) if payload else False
    archived: list[tuple[RunRow, str | None]] = []  # row, cursor of its batch
    batches = 0
    while not exhausted and len(archived) < query.limit and batches < _MAX_BATCHES:
        batches += 1
        page = await list_runs(engine, where, sort, limit=query.limit, cursor=batch_cursor)
        for record in page.runs:
            row = row_of_archived(record)
            if row.uid in live_uids:
                continue
            if mark is not None and not after(row, query.sort, query.descending, mark):
                continue
            archived.append((row, batch_cursor))
        if page.next_cursor is None:
            exhausted = True
        else:
            batch_cursor = page.next_cursor
    merged: list[tuple[RunRow, str | None]] = []
    live_rows_left = list(live.rows)
    while len(merged) < query.limit and (live_rows_left or archived):
        if archived and (not live_rows_left or _precedes(archived[0][0], live_rows_left[0], query)):
            merged.append(archived.pop(0))
        else:
            merged.append((live_rows_left.pop(0), None))
    more = bool(archived or live_rows_left or live.next_cursor or not exhausted)
    next_cursor = None
    if merged and more:
        last, last_batch = merged[-1]
        resume = last_batch if last.archived else _resume(archived, batch_cursor, exhausted)
        next_cursor = encode_cursor(
            {
                "v": sort_key(last, query.sort),
                "u": last.uid,
                "a": resume,
                "x": exhausted and not archived,
            }
        )
    return replace(live, rows=[row for row, _ in merged], next_cursor=next_cursor), ""


async def archived_counts(
    engine: AsyncEngine | None, query: RunQuery, scope: Scope
) -> dict[str, int]:
    """How many archived runs of each phase match the query's filters (all phases)."""
    if engine is None or not query.archived or scope.namespaces == []:
        return {}
    return await count_by_phase(engine, archive_filter(replace(query, phases=()), scope))


def _resume(
    pending: list[tuple[RunRow, str | None]], batch_cursor: str | None, exhausted: bool
) -> str | None:
    """Where the next page reads the archive: the batch of the first row not shown yet."""
    if pending:
        return pending[0][1]
    return None if exhausted else batch_cursor
