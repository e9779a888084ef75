"""Issue 12: the operator archives every run, every attempt, its Events and logs.

A real `runwright operator --archive URL` against the control plane, a real
SQLite file or a real PostgreSQL server (tests/postgres.py). The archive is read
back through `runwright.archive` (the query layer), the way the CLI and web view
will. The confirmation on the run is its `runwright.dev/archived` annotation.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from runwright.archive import Archive, RunDetail, RunFilter
from runwright.archive.schema import Attempt, Run
from runwright.controller.archiver import ARCHIVED
from tests.postgres import INSTALL_HINT, PostgresServer, binaries, postgres_server

from .operator_fixture import Operator, Operators, Runs, block, pipeline, pod, template
from .podlogs import namespace_logs, require_pod_logs, write_log

pytestmark = pytest.mark.integration


@pytest.fixture
def pg() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own (it is stopped and started again)."""
    if binaries() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    with postgres_server() as server:
        yield server


def read(url: str, uid: str) -> RunDetail | None:
    async def go() -> RunDetail | None:
        archive = await Archive.open(url, migrate_schema=False)
        try:
            return await archive.get_run(uid)
        finally:
            await archive.close()

    return asyncio.run(go())


def counts(url: str, namespace: str) -> tuple[Counter[str], Counter[tuple[str, str, int]]]:
    """Rows per run uid, and per (uid, block, attempt), of one namespace."""

    async def go() -> tuple[Counter[str], Counter[tuple[str, str, int]]]:
        archive = await Archive.open(url, migrate_schema=False)
        try:
            async with archive.engine.connect() as c:
                runs = (await c.execute(select(Run.uid).where(Run.namespace == namespace))).all()
                attempts = (
                    await c.execute(
                        select(Attempt.run_uid, Attempt.block, Attempt.attempt, func.count())
                        .join(Run, Run.uid == Attempt.run_uid)
                        .where(Run.namespace == namespace)
                        .group_by(Attempt.run_uid, Attempt.block, Attempt.attempt)
                    )
                ).all()
        finally:
            await archive.close()
        return Counter(r[0] for r in runs), Counter({(a[0], a[1], a[2]): a[3] for a in attempts})

    return asyncio.run(go())


def archived(runs: Runs, name: str) -> dict[str, Any]:
    return runs.wait(
        name,
        "confirmed by the archive",
        lambda b: (b["metadata"].get("annotations") or {}).get(ARCHIVED),
    )


def retrying_pipeline(name: str) -> dict[str, Any]:
    """b fails twice (three attempts with retry limit 2); a succeeds first."""
    return pipeline(
        name,
        [
            block("a", **pod(outputs={"rows": "12"})),
            block("b", "a", retry={"limit": 2, "backoffSeconds": 0}, **pod(fail=True)),
        ],
        template(),
    )


def test_every_attempt_its_events_and_logs_are_archived_once(
    operators: Operators, runs: Runs, ns: str, tmp_path: Path
) -> None:
    require_pod_logs(runs.cluster)
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    lines = [f"block says {i} {uuid.uuid4().hex}" for i in range(3)]
    with namespace_logs(runs.cluster, ns, write_log(tmp_path / "pods.log", lines)):
        operators("--archive", url)
        runs.apply(retrying_pipeline("retrying"))
        runs.start("r1", "retrying", variables={"v": "x"})
        body = archived(runs, "r1")
    uid = body["metadata"]["uid"]
    assert body["metadata"]["annotations"][ARCHIVED].startswith("Failed/")
    detail = read(url, uid)
    assert detail is not None
    assert (detail.run.phase, detail.run.pipeline, detail.run.triggered_by) == (
        "Failed",
        "retrying",
        "Manual",
    )
    assert detail.run.variables.get("v") == "x"
    assert detail.run.pipeline_generation == 1
    assert detail.run.outputs == {"a": {"rows": "12"}}
    assert [(a.block, a.attempt, a.phase) for a in detail.attempts] == [
        ("a", 1, "Succeeded"),
        ("b", 1, "Failed"),
        ("b", 2, "Failed"),
        ("b", 3, "Failed"),
    ]
    assert "RunFailed" in {e.reason for e in detail.events}
    expected = "".join(f"{line}\n" for line in lines)
    assert {(log.block, log.attempt): log.text for log in detail.logs} == {
        ("a", 1): expected,
        ("b", 1): expected,
        ("b", 2): expected,
        ("b", 3): expected,
    }
    run_rows, attempt_rows = counts(url, ns)
    assert run_rows == {uid: 1}
    assert set(attempt_rows.values()) == {1}


def test_retention_waits_for_the_archive_and_proceeds_once_it_returns(
    operators: Operators, runs: Runs, pg: PostgresServer
) -> None:
    url = pg.create_database("retention")
    pg.stop()  # the database is down from the start
    op = operators("--archive", url)
    runs.apply(pipeline("quick", [block("a")], retention={"succeededSeconds": 0}))
    runs.start("kept", "quick")
    runs.wait_finished("kept")
    # Runs go on without the database; the finished run stays and is counted as backlog.
    backlog = runs.cluster.wait_for(
        "the backlog metric to show the run",
        lambda: "runwright_archive_backlog 1.0" in op.metrics(),
    )
    assert backlog
    assert runs.find("kept") is not None
    assert ARCHIVED not in (runs.get("kept")["metadata"].get("annotations") or {})
    pg.start()
    # The writer retries with backoff (up to 10 s between tries) until the database is back.
    runs.cluster.wait_for(
        "the run deleted once archived", lambda: runs.find("kept") is None, timeout=180
    )
    page = asyncio.run(_list(url, RunFilter(namespaces=[runs.ns])))
    assert [r.name for r in page] == ["kept"]
    assert "runwright_archive_backlog 0.0" in op.metrics()


async def _list(url: str, where: RunFilter) -> list[Any]:
    archive = await Archive.open(url, migrate_schema=False)
    try:
        return list((await archive.list_runs(where, limit=500)).runs)
    finally:
        await archive.close()


def test_kill_9_and_a_database_outage_lose_nothing_and_double_nothing(
    operators: Operators, runs: Runs, pg: PostgresServer
) -> None:
    """The issue's proof: 50 runs; the operator is killed and PostgreSQL stopped midway."""
    url = pg.create_database("proof")
    op: Operator = operators("--archive", url, "--max-concurrent-blocks", "0")
    runs.apply(
        pipeline(
            "proof",
            [
                block("a"),
                block("b", "a", retry={"limit": 1, "backoffSeconds": 0}, **pod(fail=True)),
            ],
            template(duration="1s"),
        )
    )
    names = [f"p{i:02d}" for i in range(50)]
    for name in names[:25]:
        runs.start(name, "proof")
    runs.wait_finished(names[0])
    op.kill()  # kill -9 in the middle
    pg.stop()
    for name in names[25:]:
        runs.start(name, "proof")
    op.start()  # runs go on with the database down
    for name in names:
        runs.wait_finished(name)
    pg.start()
    uids = {archived(runs, name)["metadata"]["uid"] for name in names}
    run_rows, attempt_rows = counts(url, runs.ns)
    assert run_rows == Counter({uid: 1 for uid in uids})
    # Every run: a once, b twice (one retry); each attempt exactly one row.
    assert set(attempt_rows.values()) == {1}
    per_run = Counter(uid for uid, _, _ in attempt_rows)
    assert per_run == Counter({uid: 3 for uid in uids})
