"""Archive writes on SQLite and a real PostgreSQL: idempotent, every attempt kept, migrations, retention."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, func, select

from runwright.archive import Archive, RetentionPolicy, create_engine, head_revision
from runwright.archive.migrate import current_revision
from runwright.archive.schema import Attempt, Base, Event, Log, Run, is_modelled
from tests.unit.archive_bodies import T0, run_body


async def count(archive: Archive, model: type[Base]) -> int:
    async with archive.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


async def test_archiving_the_same_run_three_times_keeps_one_row(archive: Archive) -> None:
    body = run_body(
        "u1",
        blocks={"a": {"phase": "Succeeded", "attempt": 1}, "b": {"phase": "Failed", "attempt": 2}},
    )
    for _ in range(3):
        await archive.record_run(body)
    assert (await count(archive, Run), await count(archive, Attempt)) == (1, 2)


async def test_a_later_write_updates_the_row_in_place(archive: Archive) -> None:
    await archive.record_run(
        run_body("u1", phase="Running", blocks={"a": {"phase": "Running", "attempt": 1}})
    )
    await archive.record_run(run_body("u1", phase="Succeeded", seconds=9, metrics={"cost": 1.5}))
    detail = await archive.get_run("u1")
    assert detail is not None
    assert (detail.run.phase, detail.run.duration_seconds, detail.run.cost) == ("Succeeded", 9, 1.5)
    # A block the later status no longer shows keeps the row it had.
    assert [(a.block, a.attempt, a.phase) for a in detail.attempts] == [
        ("a", 1, "Running"),
        ("extract", 1, "Succeeded"),
    ]


async def test_every_attempt_is_kept_as_the_block_retries(archive: Archive) -> None:
    states = [
        {"phase": "Running", "attempt": 1},
        {"phase": "Retrying", "attempt": 1, "exitCode": 1},
        {"phase": "Running", "attempt": 2},
        {"phase": "Retrying", "attempt": 2, "exitCode": 137},
        {"phase": "Succeeded", "attempt": 3, "exitCode": 0},
    ]
    for state in states:
        await archive.record_run(run_body("u1", phase="Running", blocks={"load": state}))
    detail = await archive.get_run("u1")
    assert detail is not None
    assert [(a.attempt, a.phase, a.exit_code) for a in detail.attempts] == [
        (1, "Failed", 1),
        (2, "Failed", 137),
        (3, "Succeeded", 0),
    ]


async def test_events_written_twice_are_stored_once(archive: Archive) -> None:
    await archive.record_run(run_body("u1"))
    events = [
        {
            "metadata": {"uid": "e1"},
            "reason": "BlockStarted",
            "lastTimestamp": "2026-11-21T02:00:01Z",
        },
        {"reason": "RunSucceeded", "message": "done", "lastTimestamp": "2026-11-21T02:01:00Z"},
    ]
    await archive.record_events("u1", events)
    await archive.record_events("u1", [*events, {**events[0], "count": 3}])
    detail = await archive.get_run("u1")
    assert detail is not None
    assert [(e.reason, e.count) for e in detail.events] == [
        ("BlockStarted", 3),
        ("RunSucceeded", 1),
    ]


async def test_a_log_is_stored_per_attempt_as_its_tail(archive: Archive) -> None:
    archive.log_cap = 8
    await archive.record_run(run_body("u1"))
    await archive.record_log("u1", "extract", 1, "first line\nlast one")
    await archive.record_log("u1", "extract", 1, "first line\nlast one")
    await archive.record_log("u1", "extract", 2, "short")
    detail = await archive.get_run("u1")
    assert detail is not None
    assert [(x.attempt, x.text, x.truncated, x.size) for x in detail.logs] == [
        (1, "last one", True, 19),
        (2, "short", False, 5),
    ]
    without = await archive.get_run("u1", logs=False)
    assert without is not None and without.logs == []


async def test_times_come_back_as_the_same_utc_instants(archive: Archive) -> None:
    await archive.record_run(run_body("u1", seconds=61))
    detail = await archive.get_run("u1")
    assert detail is not None
    assert detail.run.started_at == T0 and detail.run.completed_at == T0 + timedelta(seconds=61)
    assert detail.run.started_at.utcoffset() == timedelta(0)


async def test_retention_deletes_expired_runs_in_batches_with_their_children(
    archive: Archive,
) -> None:
    now = T0 + timedelta(days=100)
    for i in range(5):  # 100 days old: past succeeded's 90 days
        await archive.record_run(run_body(f"old-{i}", phase="Succeeded"))
        await archive.record_log(f"old-{i}", "extract", 1, "log")
        await archive.record_events(
            f"old-{i}", [{"reason": "RunSucceeded", "lastTimestamp": "2026-11-21T02:01:00Z"}]
        )
    await archive.record_run(run_body("failed", phase="Failed"))  # kept: 180 days
    await archive.record_run(run_body("cancelled", phase="Cancelled"))  # deleted: 30 days
    await archive.record_run(run_body("running", phase="Running", seconds=None))  # never
    await archive.record_run(run_body("recent", phase="Succeeded", started=now - timedelta(days=1)))
    policy = RetentionPolicy()
    assert [await archive.prune(policy, now=now, limit=2) for _ in range(4)] == [2, 2, 2, 0]
    async with archive.engine.connect() as connection:
        left = set((await connection.execute(select(Run.uid))).scalars())
    assert left == {"failed", "running", "recent"}
    assert (
        await count(archive, Attempt),
        await count(archive, Log),
        await count(archive, Event),
    ) == (3, 0, 0)


async def test_retention_per_phase_is_configurable(archive: Archive) -> None:
    await archive.record_run(run_body("failed", phase="Failed"))
    policy = RetentionPolicy(failed=timedelta(days=1), succeeded=None)
    await archive.record_run(run_body("ok", phase="Succeeded"))
    assert await archive.prune(policy, now=T0 + timedelta(days=2)) == 1
    assert await count(archive, Run) == 1


async def test_the_migrations_create_exactly_the_models_tables(archive: Archive) -> None:
    def differences(connection: Connection) -> list[object]:
        return list(
            compare_metadata(
                MigrationContext.configure(connection, opts={"include_name": is_modelled}),
                Base.metadata,
            )
        )

    async with archive.engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    assert await current_revision(archive.engine) == head_revision()


async def test_two_processes_migrating_at_once_both_succeed_and_migrate_once(
    archive_url: str,
) -> None:
    script = "import asyncio, sys; from runwright.archive import migrate; asyncio.run(migrate(sys.argv[1]))"
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, archive_url, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    results = [await p.communicate() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], results
    engine = create_engine(archive_url)
    try:
        assert await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()
