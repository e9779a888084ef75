"""The archive's query layer on SQLite and a real PostgreSQL: filters, sorts, keyset pages, counts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import pytest_asyncio

from runwright.archive import (
    Archive,
    ArchivedRun,
    InvalidCursor,
    RunFilter,
    Sort,
    SortKey,
    run_records,
)
from tests.unit.archive_bodies import T0, run_body

# 12 runs with deliberate ties (same start, same cost) and gaps (no start, no cost).
RUNS: list[dict[str, Any]] = [
    run_body(
        "r00",
        namespace="data",
        pipeline="etl",
        phase="Succeeded",
        seconds=10,
        metrics={"itemsProcessed": 100, "cost": 1.0},
    ),
    run_body(
        "r01",
        namespace="data",
        pipeline="etl",
        phase="Failed",
        seconds=20,
        message="load: connection refused",
        metrics={"cost": 1.0},
    ),
    run_body(
        "r02",
        namespace="data",
        pipeline="etl",
        trigger="nightly",
        triggered_by="Schedule",
        started=T0 + timedelta(hours=1),
        seconds=30,
        metrics={"itemsProcessed": 300},
    ),
    run_body(
        "r03",
        namespace="data",
        pipeline="report",
        phase="Cancelled",
        started=T0 + timedelta(hours=1),
        seconds=5,
    ),
    run_body(
        "r04",
        namespace="ml",
        pipeline="train",
        phase="Running",
        seconds=None,
        started=T0 + timedelta(hours=2),
        metrics={"tokens": 5},
    ),
    run_body("r05", namespace="ml", pipeline="train", phase="Pending", started=None),
    run_body(
        "r06",
        namespace="ml",
        pipeline="train",
        started=T0 + timedelta(hours=3),
        seconds=10,
        metrics={"cost": 2.5, "itemsProcessed": 50},
    ),
    run_body(
        "r07",
        namespace="ml",
        pipeline="train",
        phase="Failed",
        started=T0 + timedelta(hours=3),
        seconds=10,
        blocks={"embed_chunks": {"phase": "Failed", "attempt": 1}},
    ),
    run_body(
        "r08",
        namespace="ops",
        pipeline="backup",
        trigger="hourly",
        triggered_by="Schedule",
        started=T0 - timedelta(days=1),
        seconds=70,
        metrics={"cost": 0.5},
    ),
    run_body(
        "r09",
        namespace="ops",
        pipeline="backup",
        trigger="hourly",
        triggered_by="Schedule",
        started=T0 - timedelta(days=1),
        seconds=70,
        metrics={"cost": 0.5},
    ),
    run_body(
        "r10",
        namespace="ops",
        pipeline="backup",
        triggered_by="API",
        phase="Failed",
        started=T0 + timedelta(days=1),
        seconds=1,
        name="Backup_100%",
    ),
    run_body("r11", namespace="ops", pipeline="backup", phase="Cancelled", started=None),
]


@pytest_asyncio.fixture(loop_scope="function")
async def filled(archive: Archive) -> Archive:
    for body in RUNS:
        await archive.record_run(body)
    return archive


def uids(runs: list[ArchivedRun]) -> list[str]:
    return [run.uid for run in runs]


async def everything(archive: Archive, where: RunFilter | None, sort: Sort, size: int) -> list[str]:
    """Follow the cursors from the first page to the last."""
    seen: list[str] = []
    cursor = None
    while True:
        page = await archive.list_runs(where, sort, limit=size, cursor=cursor)
        seen += uids(page.runs)
        if page.next_cursor is None:
            return seen
        assert len(page.runs) == size
        cursor = page.next_cursor


def expected_order(key: SortKey, descending: bool, where: RunFilter | None = None) -> list[str]:
    """The order the archive must return: by key, ties by uid, runs without the key last."""
    field = {
        SortKey.STARTED: "started_at",
        SortKey.COMPLETED: "completed_at",
        SortKey.DURATION: "duration_seconds",
        SortKey.PHASE: "phase",
        SortKey.ITEMS_PROCESSED: "items_processed",
        SortKey.COST: "cost",
    }[key]
    records = [run_records(body).run for body in RUNS]
    if where and where.namespaces is not None:
        records = [r for r in records if r.namespace in where.namespaces]
    keyed = sorted(
        (r for r in records if getattr(r, field) is not None),
        key=lambda r: (getattr(r, field), r.uid),
        reverse=descending,
    )
    unkeyed = sorted(
        (r for r in records if getattr(r, field) is None), key=lambda r: r.uid, reverse=descending
    )
    return [r.uid for r in keyed + unkeyed]


@pytest.mark.parametrize("key", list(SortKey))
@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
async def test_each_sort_orders_by_its_key_then_uid_with_missing_keys_last(
    filled: Archive, key: SortKey, descending: bool
) -> None:
    page = await filled.list_runs(sort=Sort(key, descending), limit=50)
    assert uids(page.runs) == expected_order(key, descending) and page.next_cursor is None


@pytest.mark.parametrize("key", list(SortKey))
@pytest.mark.parametrize("size", [1, 2, 5])
async def test_keyset_pages_cover_every_run_exactly_once_in_order(
    filled: Archive, key: SortKey, size: int
) -> None:
    for descending in (True, False):
        seen = await everything(filled, None, Sort(key, descending), size)
        assert seen == expected_order(key, descending)


async def test_pages_of_a_filtered_list_stay_inside_the_filter(filled: Archive) -> None:
    where = RunFilter(namespaces=["ml", "ops"])
    seen = await everything(filled, where, Sort(SortKey.COST), 3)
    assert seen == expected_order(SortKey.COST, True, where)


async def test_a_run_written_after_the_first_page_does_not_shift_the_next(filled: Archive) -> None:
    sort = Sort(SortKey.STARTED, descending=True)
    first = await filled.list_runs(sort=sort, limit=4)
    await filled.record_run(run_body("r99", started=T0 + timedelta(days=9)))  # sorts first
    second = await filled.list_runs(sort=sort, limit=4, cursor=first.next_cursor)
    assert uids(first.runs) + uids(second.runs) == expected_order(SortKey.STARTED, True)[:8]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (RunFilter(namespaces=["data"]), {"r00", "r01", "r02", "r03"}),
        (RunFilter(namespaces=[]), set()),
        (RunFilter(namespaces=["ml", "nope"], pipeline="train"), {"r04", "r05", "r06", "r07"}),
        (RunFilter(pipeline="etl"), {"r00", "r01", "r02"}),
        (RunFilter(trigger="hourly"), {"r08", "r09"}),
        (RunFilter(phases=["Failed", "Cancelled"]), {"r01", "r03", "r07", "r10", "r11"}),
        (RunFilter(triggered_by="Schedule"), {"r02", "r08", "r09"}),
        (
            RunFilter(
                started_since=T0 + timedelta(hours=1), started_before=T0 + timedelta(hours=3)
            ),
            {"r02", "r03", "r04"},
        ),
        (RunFilter(text="CONNECTION"), {"r01"}),
        (RunFilter(text="embed_chunks"), {"r07"}),
        (RunFilter(text="_100%"), {"r10"}),  # LIKE wildcards are matched literally
        (RunFilter(text="report-r03"), {"r03"}),
        (RunFilter(namespaces=["ops"], phases=["Succeeded"], trigger="hourly"), {"r08", "r09"}),
    ],
)
async def test_filters(filled: Archive, where: RunFilter, expected: set[str]) -> None:
    page = await filled.list_runs(where, limit=50)
    assert set(uids(page.runs)) == expected


async def test_counts_by_phase_use_the_same_filter(filled: Archive) -> None:
    assert await filled.count_by_phase() == {
        "Succeeded": 5,
        "Failed": 3,
        "Cancelled": 2,
        "Running": 1,
        "Pending": 1,
    }
    assert await filled.count_by_phase(RunFilter(namespaces=["ops"])) == {
        "Succeeded": 2,
        "Failed": 1,
        "Cancelled": 1,
    }
    assert await filled.count_by_phase(RunFilter(namespaces=[])) == {}


async def test_a_cursor_from_another_sort_is_refused(filled: Archive) -> None:
    page = await filled.list_runs(sort=Sort(SortKey.COST), limit=2)
    assert page.next_cursor is not None
    with pytest.raises(InvalidCursor, match="sort cost desc"):
        await filled.list_runs(sort=Sort(SortKey.COST, descending=False), cursor=page.next_cursor)
    with pytest.raises(InvalidCursor, match="not one this archive made"):
        await filled.list_runs(cursor="not-a-cursor")


async def test_an_unknown_run_is_none(filled: Archive) -> None:
    assert await filled.get_run("nope") is None
