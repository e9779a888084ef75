"""Fan-out items in the archive: their rows from status and pods, the store, migration 0003.

The store and migration tests run on SQLite and a real PostgreSQL (the `archive_url`
fixture). The item pods are served by a fixed list (the API server's answer), the
archive is real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Connection, func, select

from runwright import labels
from runwright.archive import (
    Archive,
    ItemAttemptRecord,
    RetentionPolicy,
    create_engine,
    item_attempts,
    item_logs,
    migrate,
    status_item_attempts,
)
from runwright.archive.items import ended_fan_outs, merge
from runwright.archive.migrate import alembic_config, current_revision, head_revision
from runwright.archive.schema import Attempt, Base, ItemAttempt, ItemLog, Run
from runwright.cli.plugin import items as fan_out
from runwright.cli.plugin.logs import attempt_of, choose
from runwright.controller.archive_items import (
    LOG_PARALLEL,
    ItemPods,
    archive_items,
    pod_item_attempt,
)
from runwright.controller.archiver import Archiver, ArchiveSettings, file_logs
from tests.unit.archive_bodies import T0, rfc3339, run_body

RUN = "fan-u1"
UID = "u1"


def at(seconds: int) -> str | None:
    return rfc3339(T0 + timedelta(seconds=seconds))


def items_status() -> dict[str, Any]:
    """Six items: 0, 1, 3 succeeded first time; 2 failed once then succeeded; 4 failed
    after two attempts; 5 was cancelled in flight (as the fan-out failed)."""
    return {
        "count": 6,
        "phases": "SSSSFC",
        "counts": {"Succeeded": 4, "Failed": 1, "Cancelled": 1},
        "attempts": [1, 1, 2, 1, 2, 1],
        "active": [],
        "failed": [
            {
                "index": 4,
                "phase": "Failed",
                "attempt": 2,
                "retries": 1,
                "job": f"{RUN}-work-4-2",
                "startedAt": at(20),
                "completedAt": at(25),
                "exitCode": 3,
                "reason": "Error",
                "message": "boom 4",
            },
            {"index": 5, "phase": "Cancelled", "attempt": 1, "reason": "FailFast"},
        ],
        "outputs": [{"n": "0"}, {"n": "1"}, {"n": "2"}, {"n": "3"}, {}, {}],
    }


def body(phase: str = "Failed") -> dict[str, Any]:
    result = run_body(UID, name=RUN, phase=phase, blocks={})
    result["status"]["blocks"] = {
        "work": {"phase": phase, "attempt": 0, "items": items_status()},
        "plain": {"phase": "Succeeded", "attempt": 1, "exitCode": 0},
    }
    return result


def pod(
    item: int,
    attempt: int,
    *,
    exit_code: int | None,
    message: str = "",
    owner: str = UID,
    started: int = 0,
) -> dict[str, Any]:
    """An item pod as the API server lists it (camelCase), its container terminated or not."""
    state: dict[str, Any] = {"running": {"startedAt": at(started)}}
    if exit_code is not None:
        state = {
            "terminated": {
                "exitCode": exit_code,
                "reason": "Completed" if exit_code == 0 else "Error",
                "message": message,
                "startedAt": at(started),
                "finishedAt": at(started + 5),
            }
        }
    name = f"{RUN}-work-{item}-{attempt}"
    return {
        "metadata": {
            "name": name,
            "namespace": "data",
            "labels": {
                labels.RUN: RUN,
                labels.BLOCK: "work",
                labels.ITEM: str(item),
                labels.ATTEMPT: str(attempt),
            },
            "ownerReferences": [
                {"kind": "PipelineRun", "controller": True, "uid": owner, "name": RUN}
            ],
        },
        "status": {
            "phase": "Running" if exit_code is None else "Succeeded",
            "containerStatuses": [{"name": "block", "state": state}],
        },
    }


def pods() -> list[dict[str, Any]]:
    outs = [json.dumps({"outputs": {"n": str(i)}}) for i in range(4)]
    return [
        pod(0, 1, exit_code=0, message=outs[0]),
        pod(1, 1, exit_code=0, message=outs[1]),
        pod(2, 1, exit_code=1, message="line a\nfailed once", started=1),
        pod(2, 2, exit_code=0, message=outs[2], started=10),
        pod(3, 1, exit_code=0, message=outs[3]),
        pod(4, 1, exit_code=3, message="boom 4 first", started=2),
        pod(4, 2, exit_code=3, message="boom 4", started=20),
        # Item 5's pod is gone; a pod of an older run of the same name is not this run's.
        pod(5, 1, exit_code=0, owner="another-uid"),
    ]


class Served:
    """ItemPods over fixed bodies; logs by pod name."""

    def __init__(self, bodies: list[dict[str, Any]], logs: Callable[[str], bytes | None]):
        self.bodies, self.logs, self.reads = bodies, logs, 0

    async def pages(
        self, namespace: str, run: str, block: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        for start in range(0, len(self.bodies), 3):  # small pages: the paging is exercised
            yield self.bodies[start : start + 3]

    async def log(self, namespace: str, pod: str, cap: int) -> bytes | None:
        self.reads += 1
        return self.logs(pod)


def log_of(name: str) -> bytes:
    return f"hello from {name}\nbye\n".encode()


def rows(records: list[ItemAttemptRecord]) -> list[tuple[Any, ...]]:
    return [
        (r.item, r.attempt, r.phase, r.reason, r.message, r.exit_code, r.outputs) for r in records
    ]


EXPECTED = [
    (0, 1, "Succeeded", "", "", 0, {"n": "0"}),
    (1, 1, "Succeeded", "", "", 0, {"n": "1"}),
    (2, 1, "Failed", "Error", "line a\nfailed once", 1, {}),
    (2, 2, "Succeeded", "", "", 0, {"n": "2"}),
    (3, 1, "Succeeded", "", "", 0, {"n": "3"}),
    (4, 1, "Failed", "Error", "boom 4 first", 3, {}),
    (4, 2, "Failed", "Error", "boom 4", 3, {}),
    (5, 1, "Cancelled", "FailFast", "", None, {}),
]


def test_the_status_gives_each_items_latest_attempt() -> None:
    told = list(status_item_attempts(UID, "work", items_status()))
    assert rows(told) == [
        (0, 1, "Succeeded", "", "", None, {"n": "0"}),
        (1, 1, "Succeeded", "", "", None, {"n": "1"}),
        (2, 2, "Succeeded", "", "", None, {"n": "2"}),
        (3, 1, "Succeeded", "", "", None, {"n": "3"}),
        (4, 2, "Failed", "Error", "boom 4", 3, {}),
        (5, 1, "Cancelled", "FailFast", "", None, {}),
    ]
    # Never-started and reset items have no row; a Retrying item's attempt failed.
    pending = {"phases": "PWR", "attempts": [0, 1, 2], "outputs": [{}, {}, {}]}
    assert [(r.item, r.attempt, r.phase) for r in status_item_attempts(UID, "w", pending)] == [
        (1, 1, "Failed"),
        (2, 2, "Running"),
    ]


def test_only_ended_fan_out_blocks_are_archived_by_item() -> None:
    running = body("Running")
    running["status"]["blocks"]["work"]["phase"] = "Running"
    ended = body()
    ended["status"]["blocks"]["work"]["completedAt"] = at(30)
    assert ended_fan_outs(ended) == [("work", f"Failed/{at(30)}")]
    assert ended_fan_outs(running) == []


def test_an_item_pod_is_judged_by_the_attempt_verdict() -> None:
    done = pod_item_attempt(
        UID, pod(2, 2, exit_code=0, message='{"outputs": {"n": "2"}}', started=10)
    )
    assert done is not None
    assert (done.block, done.item, done.attempt, done.phase, done.outputs) == (
        "work",
        2,
        2,
        "Succeeded",
        {"n": "2"},
    )
    assert (done.started_at, done.completed_at) == (
        T0 + timedelta(seconds=10),
        T0 + timedelta(seconds=15),
    )
    bad = pod_item_attempt(UID, pod(0, 1, exit_code=0, message="not json"))
    assert bad is not None and (bad.phase, bad.reason) == ("Failed", "InvalidOutput")
    running = pod_item_attempt(UID, pod(1, 3, exit_code=None))
    assert running is not None and running.phase == "Running"
    assert pod_item_attempt("other", pod(0, 1, exit_code=0)) is None
    plain = pod(0, 1, exit_code=0)
    del plain["metadata"]["labels"][labels.ITEM]
    assert pod_item_attempt(UID, plain) is None


def test_the_status_row_wins_where_it_says_something() -> None:
    seen = ItemAttemptRecord(UID, "work", 4, 2, "Failed", "Error", "pod text", 3, "p", None, None)
    told = ItemAttemptRecord(UID, "work", 4, 2, "Failed", "Timeout", "", None, None, None, None)
    assert merge(seen, told) == dataclasses.replace(seen, reason="Timeout")
    assert merge(None, told) == told


async def count(archive: Archive, model: type[Base]) -> int:
    async with archive.engine.connect() as connection:
        return int((await connection.execute(select(func.count()).select_from(model))).scalar_one())


async def test_every_attempt_of_every_item_is_archived_once_with_its_log(
    archive: Archive,
) -> None:
    served = Served(pods(), log_of)
    await archive.record_run(body())
    source: ItemPods = served
    assert await archive_items(archive, source, body(), "work") == 8
    stored = await item_attempts(archive.engine, UID)
    assert rows(stored) == EXPECTED
    assert stored[2].job == f"{RUN}-work-2-1"
    assert stored[2].completed_at == T0 + timedelta(seconds=6)
    logs = await item_logs(archive.engine, UID, "work", 2)
    assert [(log.attempt, log.text) for log in logs] == [
        (1, f"hello from {RUN}-work-2-1\nbye\n"),
        (2, f"hello from {RUN}-work-2-2\nbye\n"),
    ]
    assert served.reads == 7  # every ended attempt with a pod; none for the foreign pod
    # Archiving again rewrites the same rows: nothing doubles.
    await archive_items(archive, source, body(), "work")
    assert (await count(archive, ItemAttempt), await count(archive, ItemLog)) == (8, 7)
    assert rows(await item_attempts(archive.engine, UID, "work")) == EXPECTED
    # The plain block's attempt stays in its own table.
    assert await count(archive, Attempt) == 1


async def test_with_no_pods_the_local_executors_files_give_the_ended_items_logs(
    archive: Archive,
) -> None:
    """The local executor runs items as processes: no pod, a log file per attempt."""
    asked: list[tuple[str, str, str]] = []

    async def files(namespace: str, run: str, name: str, cap: int) -> bytes | None:
        asked.append((namespace, run, name))
        return None if name.endswith("-4-2") else log_of(name)  # one file gone

    await archive.record_run(body())
    await archive_items(archive, Served([], log_of), body(), "work", files)
    # The status's rows: each item's latest attempt; logs for those that ended.
    logged = {
        (i, log.attempt): log.text
        for i in range(6)
        for log in await item_logs(archive.engine, UID, "work", i)
    }
    assert logged == {
        (0, 1): f"hello from {RUN}-work-0-1\nbye\n",
        (1, 1): f"hello from {RUN}-work-1-1\nbye\n",
        (2, 2): f"hello from {RUN}-work-2-2\nbye\n",
        (3, 1): f"hello from {RUN}-work-3-1\nbye\n",
        (5, 1): f"hello from {RUN}-work-5-1\nbye\n",
    }
    assert (body()["metadata"]["namespace"], RUN, f"{RUN}-work-4-2") in asked


async def test_a_log_is_capped_and_retention_deletes_the_items(archive: Archive) -> None:
    await archive.record_run(body())
    archive.log_cap = 1024
    await archive_items(archive, Served(pods(), lambda _: b"x" * 5000), body(), "work")
    log = (await item_logs(archive.engine, UID, "work", 0))[0]
    assert (len(log.text), log.truncated, log.size) == (1024, True, 5000)
    await archive.record_run(run_body("keep", phase="Succeeded", started=T0 + timedelta(days=5)))
    assert (
        await archive.prune(RetentionPolicy(failed=timedelta(days=1)), now=T0 + timedelta(days=3))
        == 1
    )
    assert (await count(archive, ItemAttempt), await count(archive, ItemLog)) == (0, 0)
    assert await count(archive, Run) == 1


def _upgrade_to(revision: str) -> Callable[[Connection], None]:
    def upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    return upgrade


async def test_0003_upgrades_an_archive_that_holds_runs(archive_url: str) -> None:
    engine = create_engine(archive_url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to("0002"))
        old = Archive(engine)
        for uid in ("a", "b"):
            await old.record_run(run_body(uid, blocks={"x": {"phase": "Failed", "attempt": 2}}))
            await old.record_log(uid, "x", 2, f"log of {uid}")
        assert await current_revision(engine) == "0002"
        await migrate(archive_url)
        assert await current_revision(engine) == head_revision() == "0003"
        archive = Archive(engine)
        for uid in ("a", "b"):
            detail = await archive.get_run(uid)
            assert detail is not None
            assert [(a.block, a.attempt, a.phase) for a in detail.attempts] == [("x", 2, "Failed")]
            assert [log.text for log in detail.logs] == [f"log of {uid}"]
        await archive.record_run(body())
        await archive_items(archive, Served(pods(), log_of), body(), "work")
        assert rows(await item_attempts(engine, UID)) == EXPECTED
    finally:
        await engine.dispose()


def test_get_counts_the_items_and_lists_the_failed_from_the_status_or_the_archive() -> None:
    live = fan_out.from_status(UID, body()["status"]["blocks"])
    assert list(live) == ["work"]
    assert live["work"].counts == {"Succeeded": 4, "Failed": 1, "Cancelled": 1}
    assert [(r.item, r.attempt, r.phase) for r in live["work"].failed] == [
        (4, 2, "Failed"),
        (5, 1, "Cancelled"),
    ]
    assert fan_out.summary(live["work"]) == "6 items: 4 succeeded, 1 failed, 1 cancelled"
    stored = [
        ItemAttemptRecord(UID, "work", item, attempt, phase)
        for item, attempt, phase, *_ in EXPECTED
    ]
    archived = fan_out.from_rows(stored)["work"]
    # Each item counts by its latest attempt: item 2 failed once, then succeeded.
    assert (archived.count, archived.counts) == (6, {"Cancelled": 1, "Failed": 1, "Succeeded": 4})
    assert [(r.item, r.attempt) for r in archived.failed] == [(4, 2), (5, 1)]
    assert len(archived.attempts) == 8


def test_an_item_pod_is_its_own_attempt_chain_for_logs() -> None:
    assert attempt_of(pod(2, 1, exit_code=1)) == ("work/2", 1)
    plain = pod(2, 1, exit_code=1)
    del plain["metadata"]["labels"][labels.ITEM]
    assert attempt_of(plain) == ("work", 1)
    assert choose([("work/2", 1), ("work/2", 2), ("work/3", 1), ("work", 1)], "work/2", None) == [
        ("work/2", 2)
    ]


async def test_the_archiver_archives_each_end_of_a_fan_out_once(archive: Archive) -> None:
    served = Served(pods(), log_of)
    settings = ArchiveSettings(url="sqlite:///unused.db")
    archiver = Archiver(settings, None, file_logs(lambda *_: None), set(), item_pods=served)  # type: ignore[arg-type]
    ended = body()
    ended["status"]["blocks"]["work"]["completedAt"] = at(30)
    records = await archive.record_run(ended)
    for _ in range(3):  # the same status written again (a burst of watch events)
        await archiver._store_items(archive, ended, records)
    assert served.reads == 7
    # An in-place retry ran the block again: its new end is archived too.
    ended["status"]["blocks"]["work"]["completedAt"] = at(90)
    await archiver._store_items(archive, ended, records)
    assert served.reads == 14
    assert rows(await item_attempts(archive.engine, UID)) == EXPECTED


class Counted(Served):
    """Served pods whose log reads count how many are in flight at once."""

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        super().__init__(bodies, log_of)
        self.in_flight = self.most = 0
        self.pages_seen: list[int] = []

    async def pages(
        self, namespace: str, run: str, block: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        for start in range(0, len(self.bodies), 500):
            self.pages_seen.append(len(self.bodies[start : start + 500]))
            yield self.bodies[start : start + 500]

    async def log(self, namespace: str, pod: str, cap: int) -> bytes | None:
        self.reads += 1
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0)  # let every other read start if nothing held it back
        self.in_flight -= 1
        return self.logs(pod)


async def test_a_big_fan_out_reads_a_bounded_number_of_logs_at_once(tmp_path: Path) -> None:
    n = 1200
    archive = await Archive.open(f"sqlite:///{tmp_path / 'big.db'}")
    try:
        big = body()
        big["status"]["blocks"]["work"]["items"] = {
            "count": n,
            "phases": "S" * n,
            "attempts": [1] * n,
            "outputs": [{"n": str(i)} for i in range(n)],
        }
        await archive.record_run(big)
        served = Counted([pod(i, 1, exit_code=0, message="{}") for i in range(n)])
        assert await archive_items(archive, served, big, "work") == n
        assert served.most == LOG_PARALLEL and served.reads == n
        assert served.pages_seen == [500, 500, 200]
        stored = await item_attempts(archive.engine, UID)
        assert [(r.item, r.phase, r.outputs) for r in stored] == [
            (i, "Succeeded", {"n": str(i)}) for i in range(n)
        ]
    finally:
        await archive.close()
