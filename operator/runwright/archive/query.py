"""The query layer: the only place that reads the archive with SQL.

Filters (the caller's allowed namespaces, pipeline, trigger, phases,
triggeredBy, a time range on startedAt, text over run name, message and block
names), sorts (started, completed, duration, phase, items processed, cost; asc
or desc), keyset pagination with an opaque cursor, counts by phase, and one run
in full. Every sort is (key, uid), so pages are stable under ties; runs without
the sort key (never started, no cost reported) come last in either direction.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    false,
    func,
    literal,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runwright.archive import search
from runwright.archive.items import ItemAttemptRecord, ItemLogRecord
from runwright.archive.records import AttemptRecord, EventRecord, LogRecord, RunRecord, parse_time
from runwright.archive.schema import Attempt, Event, ItemAttempt, ItemLog, Log, Run

DEFAULT_PAGE = 50
MAX_PAGE = 500


class SortKey(StrEnum):
    """What runs can be sorted by (the names the CLI and web view use)."""

    STARTED = "started"
    COMPLETED = "completed"
    DURATION = "duration"
    PHASE = "phase"
    ITEMS_PROCESSED = "itemsProcessed"
    COST = "cost"


_SORT_COLUMNS: dict[SortKey, Any] = {
    SortKey.STARTED: Run.started_at,
    SortKey.COMPLETED: Run.completed_at,
    SortKey.DURATION: Run.duration_seconds,
    SortKey.PHASE: Run.phase,
    SortKey.ITEMS_PROCESSED: Run.items_processed,
    SortKey.COST: Run.cost,
}
_NOT_NULL = frozenset({SortKey.PHASE})


@dataclass(frozen=True)
class Sort:
    """A sort key and direction; the default is newest started first."""

    key: SortKey = SortKey.STARTED
    descending: bool = True


@dataclass(frozen=True)
class RunFilter:
    """Which runs to list; every field given must hold (empty/None: no condition).

    `namespaces` is the set the caller may read: None means every namespace,
    an empty list means none.
    """

    namespaces: Sequence[str] | None = None
    pipeline: str | None = None
    trigger: str | None = None
    phases: Sequence[str] = ()
    triggered_by: str | None = None
    started_since: datetime | None = None
    started_before: datetime | None = None
    text: str | None = None


@dataclass(frozen=True)
class ArchivedRun(RunRecord):
    """A run as the archive holds it: its record and when it was last written."""

    archived_at: datetime


@dataclass(frozen=True)
class Page:
    """One page of runs and the cursor of the next (None: this was the last)."""

    runs: list[ArchivedRun]
    next_cursor: str | None


@dataclass(frozen=True)
class RunDetail:
    """One run in full: every attempt, its Events and the logs of its attempts."""

    run: ArchivedRun
    attempts: list[AttemptRecord]
    events: list[EventRecord]
    logs: list[LogRecord]


class InvalidCursor(ValueError):
    """The cursor is malformed or belongs to another sort: start again from the first page."""


#: Up to this many allowed namespaces, a list is one index range per namespace,
#: merged; beyond, one range over all runs filtered by namespace.
MERGE_NAMESPACES = 64


def _namespaces(where: RunFilter) -> list[str] | None:
    return None if where.namespaces is None else sorted(set(where.namespaces))


def _conditions(where: RunFilter, fts: bool) -> list[ColumnElement[bool]]:
    """Every condition of `where` except the namespaces (see `_namespace_parts`)."""
    conditions: list[ColumnElement[bool]] = []
    if where.pipeline:
        conditions.append(Run.pipeline == where.pipeline)
    if where.trigger:
        conditions.append(Run.trigger == where.trigger)
    if where.phases:
        conditions.append(Run.phase.in_(list(where.phases)))
    if where.triggered_by:
        conditions.append(Run.triggered_by == where.triggered_by)
    if where.started_since:
        conditions.append(Run.started_at >= where.started_since)
    if where.started_before:
        conditions.append(Run.started_at < where.started_before)
    if where.text:
        conditions.append(search.text_condition(where.text, fts))
    return conditions


@contextlib.asynccontextmanager
async def _reading(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads. On PostgreSQL in autocommit: each statement is its own
    snapshot and no BEGIN/ROLLBACK round trips are paid, which on a busy host are most of a
    first page's time (the plans themselves take milliseconds)."""
    async with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            await connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


def _namespace_parts(where: RunFilter) -> list[ColumnElement[bool] | None]:
    """One namespace condition per part of a merged list (None: every namespace)."""
    namespaces = _namespaces(where)
    if namespaces is None:
        return [None]
    if len(namespaces) > MERGE_NAMESPACES:
        return [Run.namespace.in_(namespaces)]
    return [Run.namespace == namespace for namespace in namespaces]


@dataclass(frozen=True)
class _Cursor:
    key: SortKey
    descending: bool
    value: Any  # None: the cursor is among the runs without the sort key
    uid: str

    def encode(self) -> str:
        value = self.value.isoformat() if isinstance(self.value, datetime) else self.value
        raw = json.dumps([self.key.value, self.descending, value, self.uid], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, sort: Sort) -> _Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            key, descending, value, uid = json.loads(raw)
            cursor = cls(SortKey(key), bool(descending), value, str(uid))
        except (ValueError, TypeError, binascii.Error) as error:
            raise InvalidCursor(f"cursor {text!r} is not one this archive made") from error
        if (cursor.key, cursor.descending) != (sort.key, sort.descending):
            raise InvalidCursor(
                f"cursor {text!r} is for sort {cursor.key.value} "
                f"{'desc' if cursor.descending else 'asc'}: use it with that sort"
            )
        if value is not None and sort.key in (SortKey.STARTED, SortKey.COMPLETED):
            return dataclasses.replace(cursor, value=parse_time(value))
        return cursor


def _run(row: Any) -> ArchivedRun:
    return ArchivedRun(**dict(row._mapping))


_RUN_COLUMNS = [getattr(Run, f.name) for f in dataclasses.fields(ArchivedRun)]


async def list_runs(
    engine: AsyncEngine,
    where: RunFilter | None = None,
    sort: Sort | None = None,
    *,
    limit: int = DEFAULT_PAGE,
    cursor: str | None = None,
) -> Page:
    """One page of the runs matching `where`, in `sort` order, after `cursor`.

    Keyset pagination: the cursor carries the last row's sort key and uid, so a
    page costs an index range scan wherever it is, and rows written meanwhile
    never shift the pages. At most two statements: the runs having the sort
    key, then (once those are exhausted) the runs without it, by uid.
    """
    where = where or RunFilter()
    sort = sort or Sort()
    limit = max(1, min(limit, MAX_PAGE))
    after = _Cursor.decode(cursor, sort) if cursor else None
    column = _SORT_COLUMNS[sort.key]
    rows: list[ArchivedRun] = []
    async with _reading(engine) as connection:
        fts = await search.fts_for_page(connection, where.text)
        if after is None or after.value is not None:
            keyed = [column.is_not(None)]
            if after is not None:
                bound = tuple_(column, Run.uid)
                mark = tuple_(_literal(column, after.value), _literal(Run.uid, after.uid))
                keyed.append(bound < mark if sort.descending else bound > mark)
            statement = _page(where, fts, keyed, column, sort.descending, limit + 1)
            rows = [_run(r) for r in await connection.execute(statement)]
        if len(rows) <= limit and sort.key not in _NOT_NULL:
            unkeyed = [column.is_(None)]
            if after is not None and after.value is None:
                unkeyed.append(Run.uid < after.uid if sort.descending else Run.uid > after.uid)
            statement = _page(where, fts, unkeyed, column, sort.descending, limit + 1 - len(rows))
            rows.extend(_run(r) for r in await connection.execute(statement))
    if len(rows) <= limit:
        return Page(runs=rows, next_cursor=None)
    last = rows[limit - 1]
    value = getattr(last, column.key)
    return Page(
        runs=rows[:limit], next_cursor=_Cursor(sort.key, sort.descending, value, last.uid).encode()
    )


def _page(
    where: RunFilter,
    fts: bool,
    extra: list[ColumnElement[bool]],
    column: Any,
    descending: bool,
    size: int,
) -> Select[Any]:
    """The statement of up to `size` runs: keys first, whole rows only for the page.

    Each part (one per allowed namespace) reads (sort key, uid) along its own
    index range, at most `size` entries; the parts are merged and cut to
    `size`; only then are the page's rows read by primary key. So a page costs
    parts x size index entries and `size` row reads, not a sort of every run
    of the allowed namespaces.
    """
    conditions = _conditions(where, fts) + extra
    parts = [
        _ordered(
            select(Run.uid, column.label("sort_key")).where(
                *conditions, *([] if namespace is None else [namespace])
            ),
            [column, Run.uid],
            descending,
        ).limit(size)
        for namespace in _namespace_parts(where)
    ]
    if not parts:  # no allowed namespace
        return select(*_RUN_COLUMNS).where(false())
    if len(parts) == 1:
        keys = parts[0].subquery("page_keys")
    else:
        merged = union_all(*(select(*part.subquery().c) for part in parts)).subquery("merged")
        keys = (
            _ordered(select(*merged.c), [merged.c.sort_key, merged.c.uid], descending)
            .limit(size)
            .subquery("page_keys")
        )
    return _ordered(
        select(*_RUN_COLUMNS).join(keys, Run.uid == keys.c.uid),
        [keys.c.sort_key, keys.c.uid],
        descending,
    )


async def explain_runs(
    engine: AsyncEngine, where: RunFilter | None = None, sort: Sort | None = None
) -> str:
    """The database's plan of the first page's statement (EXPLAIN QUERY PLAN on SQLite,
    EXPLAIN on PostgreSQL), one line per step: which indexes a filter and sort use."""
    where = where or RunFilter()
    sort = sort or Sort()
    column = _SORT_COLUMNS[sort.key]
    async with _reading(engine) as connection:
        dialect = connection.dialect.name
        fts = await search.fts_for_page(connection, where.text)
        statement = _page(where, fts, [column.is_not(None)], column, sort.descending, 51)
        compiled = statement.compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True}
        )
        prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
        result = await connection.exec_driver_sql(prefix + str(compiled))
        return "\n".join(str(row[-1]) for row in result)


def _literal(column: Any, value: Any) -> Any:
    # Typed, so the bound value goes through the column's type (UTC times on SQLite).
    return literal(value, type_=column.type)


def _ordered(statement: Select[Any], columns: list[Any], descending: bool) -> Select[Any]:
    return statement.order_by(*(c.desc() if descending else c.asc() for c in columns))


#: The phases a run can be in (runwright.api's RunPhase; a unit test holds them equal
#: without making every reader import the API models).
RUN_PHASES = ("Pending", "Queued", "Running", "Succeeded", "Failed", "Cancelled")


async def count_by_phase(
    engine: AsyncEngine, where: RunFilter | None = None, *, cap: int | None = None
) -> dict[str, int]:
    """How many runs of each phase match `where` (phases with none are absent).

    With `cap`, each phase is counted up to `cap` runs (a count equal to `cap` means "cap
    or more"): one short index range per phase ((namespace, phase) or (phase) first),
    whatever the archive holds, instead of every matching run. Phases outside RUN_PHASES
    are not counted then."""
    where = where or RunFilter()
    namespaces = _namespaces(where)
    async with _reading(engine) as connection:
        conditions = _conditions(where, await search.has_fts(connection, where.text))
        if namespaces is not None:
            conditions.append(Run.namespace.in_(namespaces) if namespaces else false())
        if cap is None:
            statement = select(Run.phase, func.count()).where(*conditions).group_by(Run.phase)
            return {phase: count for phase, count in await connection.execute(statement)}
        phases = [p for p in RUN_PHASES if not where.phases or p in where.phases]
        capped = select(
            *(
                select(func.count())
                .select_from(
                    select(literal(1)).where(*conditions, Run.phase == phase).limit(cap).subquery()
                )
                .scalar_subquery()
                for phase in phases
            )
        )
        counts = (await connection.execute(capped)).one()
        return {phase: int(n) for phase, n in zip(phases, counts, strict=True) if n}


async def get_run(engine: AsyncEngine, uid: str, *, logs: bool = True) -> RunDetail | None:
    """One run with every attempt (by block, attempt), its Events (by time) and logs."""
    async with _reading(engine) as connection:
        found = (await connection.execute(select(*_RUN_COLUMNS).where(Run.uid == uid))).first()
        if found is None:
            return None
        attempts = await connection.execute(
            select(Attempt.__table__)
            .where(Attempt.run_uid == uid)
            .order_by(Attempt.block, Attempt.attempt)
        )
        events = await connection.execute(
            select(Event.__table__).where(Event.run_uid == uid).order_by(Event.time, Event.key)
        )
        log_rows: list[LogRecord] = []
        if logs:
            result = await connection.execute(
                select(Log.__table__).where(Log.run_uid == uid).order_by(Log.block, Log.attempt)
            )
            log_rows = [LogRecord(**dict(r._mapping)) for r in result]
        return RunDetail(
            run=_run(found),
            attempts=[AttemptRecord(**dict(r._mapping)) for r in attempts],
            events=[EventRecord(**dict(r._mapping)) for r in events],
            logs=log_rows,
        )


async def item_attempts(
    engine: AsyncEngine, uid: str, block: str | None = None
) -> list[ItemAttemptRecord]:
    """Every archived attempt of every fan-out item of a run (or of one block), ordered
    (block, item, attempt). Rows are small (no logs): a 5,000-item run reads in one go."""
    statement = select(ItemAttempt.__table__).where(ItemAttempt.run_uid == uid)
    if block is not None:
        statement = statement.where(ItemAttempt.block == block)
    async with _reading(engine) as connection:
        rows = await connection.execute(
            statement.order_by(ItemAttempt.block, ItemAttempt.item, ItemAttempt.attempt)
        )
        return [ItemAttemptRecord(**dict(r._mapping)) for r in rows]


async def item_logs(engine: AsyncEngine, uid: str, block: str, item: int) -> list[ItemLogRecord]:
    """The archived log tails of one item's attempts, oldest attempt first."""
    async with _reading(engine) as connection:
        rows = await connection.execute(
            select(ItemLog.__table__)
            .where(ItemLog.run_uid == uid, ItemLog.block == block, ItemLog.item == item)
            .order_by(ItemLog.attempt)
        )
        return [ItemLogRecord(**dict(r._mapping)) for r in rows]
