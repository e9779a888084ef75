"""Idempotent writes to the archive: a run, its attempts, Events and logs, upserted by key.

Writing the same run again (a repeated phase change, a restarted operator's
catch-up) rewrites its rows in place: runs by uid, attempts and logs by (uid,
block, attempt), fan-out items' by (uid, block, item, attempt), Events by (uid,
key). Both backends use their dialect's INSERT ... ON CONFLICT DO UPDATE, so one statement decides insert-or-update
atomically, even when two writers race.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runwright.archive import query, retention
from runwright.archive.engine import create_engine
from runwright.archive.items import ItemAttemptRecord, ItemLogRecord, item_log_record
from runwright.archive.migrate import migrate
from runwright.archive.records import (
    DEFAULT_LOG_CAP,
    EventRecord,
    LogRecord,
    RunRecords,
    event_records,
    log_record,
    run_records,
)
from runwright.archive.schema import Attempt, Event, ItemAttempt, ItemLog, Log, Run

RUNS: Table = Run.__table__  # type: ignore[assignment]
ATTEMPTS: Table = Attempt.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
LOGS: Table = Log.__table__  # type: ignore[assignment]
ITEM_ATTEMPTS: Table = ItemAttempt.__table__  # type: ignore[assignment]
ITEM_LOGS: Table = ItemLog.__table__  # type: ignore[assignment]


def upsert(connection: AsyncConnection, table: Table, update: Sequence[str] | None = None) -> Any:
    """INSERT ... ON CONFLICT (primary key) DO UPDATE of every other column (or `update`)."""
    dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(table)
    keys = [column.name for column in table.primary_key.columns]
    columns = (
        update if update is not None else [c.name for c in table.columns if c.name not in keys]
    )
    return statement.on_conflict_do_update(
        index_elements=keys, set_={name: statement.excluded[name] for name in columns}
    )


class Archive:
    """The run archive: writes here, reads through `runwright.archive.query`."""

    def __init__(self, engine: AsyncEngine, *, log_cap: int = DEFAULT_LOG_CAP) -> None:
        self.engine = engine
        self.log_cap = log_cap

    @classmethod
    async def open(
        cls, url: str, *, log_cap: int = DEFAULT_LOG_CAP, migrate_schema: bool = True
    ) -> Archive:
        """Connect to the archive at `url`, first bringing its schema up to date."""
        if migrate_schema:
            await migrate(url)
        return cls(create_engine(url), log_cap=log_cap)

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    async def record_run(
        self, body: Mapping[str, Any], *, now: datetime | None = None
    ) -> RunRecords:
        """Upsert a PipelineRun (its status as it is now) and every attempt it shows."""
        records = run_records(body)
        row = dataclasses.asdict(records.run) | {"archived_at": now or datetime.now(UTC)}
        async with self.engine.begin() as connection:
            await connection.execute(upsert(connection, RUNS), [row])
            if records.attempts:
                await connection.execute(
                    upsert(connection, ATTEMPTS),
                    [dataclasses.asdict(attempt) for attempt in records.attempts],
                )
        return records

    async def record_runs(
        self, bodies: Sequence[Mapping[str, Any]], *, now: datetime | None = None
    ) -> list[RunRecords]:
        """Upsert several PipelineRuns and their attempts in ONE transaction (a batch)."""
        records = [run_records(body) for body in bodies]
        if not records:
            return records
        stamp = now or datetime.now(UTC)
        rows = [dataclasses.asdict(r.run) | {"archived_at": stamp} for r in records]
        attempts = [dataclasses.asdict(a) for r in records for a in r.attempts]
        async with self.engine.begin() as connection:
            await connection.execute(upsert(connection, RUNS), rows)
            if attempts:
                await connection.execute(upsert(connection, ATTEMPTS), attempts)
        return records

    async def record_events(
        self, run_uid: str, events: Iterable[Mapping[str, Any]]
    ) -> list[EventRecord]:
        """Upsert Kubernetes Events of a recorded run (keyed by the Event's uid)."""
        records = event_records(run_uid, events)
        if records:
            async with self.engine.begin() as connection:
                await connection.execute(
                    upsert(connection, EVENTS), [dataclasses.asdict(r) for r in records]
                )
        return records

    async def record_log(
        self, run_uid: str, block: str, attempt: int, log: str | bytes
    ) -> LogRecord:
        """Store the tail of one attempt's log (at most `log_cap` bytes), replacing any before."""
        record = log_record(run_uid, block, attempt, log, self.log_cap)
        async with self.engine.begin() as connection:
            await connection.execute(upsert(connection, LOGS), [dataclasses.asdict(record)])
        return record

    async def record_item_attempts(self, records: Sequence[ItemAttemptRecord]) -> None:
        """Upsert fan-out item attempts (keyed run uid, block, item, attempt): one statement."""
        if records:
            async with self.engine.begin() as connection:
                await connection.execute(
                    upsert(connection, ITEM_ATTEMPTS), [dataclasses.asdict(r) for r in records]
                )

    async def record_item_log(
        self, run_uid: str, block: str, item: int, attempt: int, log: str | bytes
    ) -> ItemLogRecord:
        """Store the tail of one item attempt's log (at most `log_cap` bytes)."""
        record = item_log_record(run_uid, block, item, attempt, log, self.log_cap)
        async with self.engine.begin() as connection:
            await connection.execute(upsert(connection, ITEM_LOGS), [dataclasses.asdict(record)])
        return record

    async def list_runs(
        self,
        where: query.RunFilter | None = None,
        sort: query.Sort | None = None,
        *,
        limit: int = query.DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> query.Page:
        """One page of runs; see `runwright.archive.query.list_runs`."""
        return await query.list_runs(self.engine, where, sort, limit=limit, cursor=cursor)

    async def count_by_phase(self, where: query.RunFilter | None = None) -> dict[str, int]:
        """How many runs of each phase match; see `runwright.archive.query.count_by_phase`."""
        return await query.count_by_phase(self.engine, where)

    async def get_run(self, uid: str, *, logs: bool = True) -> query.RunDetail | None:
        """One run with its attempts, Events and (unless `logs=False`) logs."""
        return await query.get_run(self.engine, uid, logs=logs)

    async def prune(
        self, policy: retention.RetentionPolicy, *, now: datetime, limit: int = 500
    ) -> int:
        """Delete at most `limit` runs past retention; see `runwright.archive.retention`."""
        return await retention.prune(self.engine, policy, now=now, limit=limit)
