"""The run archive at scale, on SQLite and on a real PostgreSQL.

A benchmark, not a test: it prints a table and writes bench/results/archive.json.
For each backend: fill the archive with N runs (default 1,000,000; realistic
spread of namespaces, pipelines, triggers, phases, times and metrics) by bulk
load (executemany for SQLite, COPY for PostgreSQL; indexes built after the load,
from the same definitions the migration creates), then time through the real
query layer (`Archive.list_runs`) the first page of 50 runs for several
filter/sort combinations, p50/p95 over repeated queries (goal: p95 < 100 ms),
and the archive write of a finished run (`Archive.record_run`, run + attempts)
paced at 200 runs per minute (goal: p95 < 1 s), and the operator's archiver end to
end (finished -> confirmed, `--lag-runs`, against the control plane). PostgreSQL
runs with fsync on.

    python tests/bench/bench_archive.py [--runs N] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import Index, Table, make_url

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_operator import report_header  # noqa: E402
from tests.postgres import postgres_server  # noqa: E402

from runwright.archive import Archive, RunFilter, Sort, SortKey, migrate  # noqa: E402
from runwright.archive.schema import Run  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "archive.json"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
NAMESPACES = [f"team-{i:02d}" for i in range(20)]
PIPELINES_PER_NAMESPACE = 10
BLOCKS = ["extract", "clean", "enrich", "load", "report", "notify", "embed", "score"]
PHASES = [
    ("Succeeded", 0.80),
    ("Failed", 0.12),
    ("Cancelled", 0.05),
    ("Running", 0.02),
    ("Pending", 0.01),
]
MESSAGES = [
    "block load failed: connection refused",
    "timeout after 3600s",
    "OOMKilled in embed",
    "upstream extract failed",
    "cancelled by user",
]
TABLE: Table = Run.__table__  # type: ignore[assignment]
COLUMNS = [c.name for c in TABLE.columns]


def generate(count: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """`count` archived runs over the last year, as column dicts."""
    rng = random.Random(seed)
    phases, weights = zip(*PHASES, strict=True)
    for i in range(count):
        namespace = rng.choice(NAMESPACES)
        pipeline = f"pipe-{rng.randrange(PIPELINES_PER_NAMESPACE)}"
        phase = rng.choices(phases, weights)[0]
        scheduled = rng.random() < 0.7
        started = (
            NOW - timedelta(seconds=rng.randrange(365 * 86400)) if phase != "Pending" else None
        )
        finished = phase in ("Succeeded", "Failed", "Cancelled")
        duration = int(rng.lognormvariate(4, 1.2)) if finished and started else None
        metrics: dict[str, float] = {}
        if rng.random() < 0.6:
            metrics["itemsProcessed"] = rng.randrange(100_000)
        if rng.random() < 0.3:
            metrics["cost"] = round(rng.random() * 20, 4)
            metrics["tokens"] = rng.randrange(1_000_000)
        blocks = rng.sample(BLOCKS, rng.randint(2, 6))
        yield {
            "uid": f"{i:08x}-{rng.getrandbits(64):016x}",
            "namespace": namespace,
            "name": f"{pipeline}-{i:x}",
            "pipeline": pipeline,
            "pipeline_generation": rng.randint(1, 20),
            "trigger": "nightly" if scheduled else None,
            "triggered_by": "Schedule" if scheduled else rng.choice(["Manual", "API", "Event"]),
            "phase": phase,
            "reason": "BlockFailed" if phase == "Failed" else "",
            "message": rng.choice(MESSAGES) if phase in ("Failed", "Cancelled") else "",
            "block_names": f" {' '.join(sorted(blocks))} ",
            "variables": {"env": "prod", "region": rng.choice(["eu", "us"])},
            "outputs": {blocks[0]: {"rows": str(rng.randrange(10_000))}},
            "metrics": metrics,
            "items_processed": metrics.get("itemsProcessed"),
            "cost": metrics.get("cost"),
            "tokens": metrics.get("tokens"),
            "execution_date": started,
            "created_at": (started or NOW) - timedelta(seconds=1),
            "started_at": started,
            "completed_at": started + timedelta(seconds=duration)
            if started and duration is not None
            else None,
            "duration_seconds": duration,
            "archived_at": NOW,
        }


def batches(count: int, size: int = 50_000) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in generate(count):
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):  # how SQLAlchemy stores it: naive UTC text
        return (
            value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        )
    if isinstance(value, dict):
        return json.dumps(value)
    return value


def fill_sqlite(path: Path, count: int) -> None:
    """Bulk load with executemany, then build the indexes the migration defines."""
    connection = sqlite3.connect(path)
    for index in TABLE.indexes:
        connection.execute(f"DROP INDEX {index.name}")
    insert = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    for batch in batches(count):
        connection.executemany(insert, [[_sqlite_value(r[c]) for c in COLUMNS] for r in batch])
        connection.commit()
    _create_indexes(lambda sql: connection.execute(sql))
    connection.execute("ANALYZE")
    connection.commit()
    connection.close()


def _create_indexes(run: Any) -> None:
    for index in TABLE.indexes:
        assert isinstance(index, Index)
        run(f"CREATE INDEX {index.name} ON runs ({', '.join(c.name for c in index.columns)})")


async def fill_postgres(url: str, count: int) -> None:
    """Bulk load with COPY, then build the indexes the migration defines."""
    target = make_url(url)
    connection = await asyncpg.connect(
        host=target.host, port=target.port, user=target.username, database=target.database
    )
    try:
        for index in TABLE.indexes:
            await connection.execute(f"DROP INDEX {index.name}")
        for batch in batches(count):
            records = [
                tuple(json.dumps(r[c]) if isinstance(r[c], dict) else r[c] for c in COLUMNS)
                for r in batch
            ]
            await connection.copy_records_to_table("runs", records=records, columns=COLUMNS)
        await connection.execute("SET maintenance_work_mem = '256MB'")
        for index in TABLE.indexes:
            await connection.execute(
                f"CREATE INDEX {index.name} ON runs ({', '.join(c.name for c in index.columns)})"
            )
        await connection.execute("VACUUM ANALYZE runs")
    finally:
        await connection.close()


ALLOWED = NAMESPACES[:5]
QUERIES: list[tuple[str, RunFilter, Sort]] = [
    ("5 namespaces, newest started", RunFilter(namespaces=ALLOWED), Sort(SortKey.STARTED)),
    ("all, newest started", RunFilter(), Sort(SortKey.STARTED)),
    (
        "namespace+pipeline, newest started",
        RunFilter(namespaces=["team-03"], pipeline="pipe-4"),
        Sort(SortKey.STARTED),
    ),
    (
        "namespace+trigger, oldest started",
        RunFilter(namespaces=["team-07"], trigger="nightly"),
        Sort(SortKey.STARTED, descending=False),
    ),
    ("phase Failed, latest completed", RunFilter(phases=["Failed"]), Sort(SortKey.COMPLETED)),
    (
        "5 namespaces, last 7 days, longest",
        RunFilter(namespaces=ALLOWED, started_since=NOW - timedelta(days=7)),
        Sort(SortKey.DURATION),
    ),
    ("all, highest cost", RunFilter(), Sort(SortKey.COST)),
    (
        "5 namespaces, most items processed",
        RunFilter(namespaces=ALLOWED),
        Sort(SortKey.ITEMS_PROCESSED),
    ),
    ("all, by phase", RunFilter(), Sort(SortKey.PHASE, descending=False)),
    ("triggeredBy API, newest started", RunFilter(triggered_by="API"), Sort(SortKey.STARTED)),
    ("text 'OOMKilled', newest started", RunFilter(text="OOMKilled"), Sort(SortKey.STARTED)),
]
#: Text that matches no run: every row is read. Timed with fewer repeats, outside the goal:
#: substring search has no index on either backend (see docs/archive.md).
FULL_SCAN = (
    "text matching nothing (full scan)",
    RunFilter(text="nothing-matches"),
    Sort(SortKey.STARTED),
)


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max_ms": ordered[-1],
    }


async def timed(call: Any, repeat: int) -> dict[str, float]:
    for _ in range(3):
        await call()  # warm the cache and the connection pool
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


def finished_run_body(i: int) -> dict[str, Any]:
    """A finished 5-block run with one retried block, as the operator would archive it."""
    started = NOW + timedelta(seconds=i)
    blocks = {
        name: {
            "phase": "Succeeded",
            "attempt": 1,
            "exitCode": 0,
            "job": f"w-{i}-{name}-1",
            "startedAt": started.isoformat(),
            "completedAt": (started + timedelta(seconds=9)).isoformat(),
            "outputs": {"rows": "1200"},
            "metrics": {"itemsProcessed": 1200},
        }
        for name in BLOCKS[:5]
    }
    blocks["load"] |= {"attempt": 2, "attempts": [{"attempt": 1, "phase": "Failed", "exitCode": 1}]}
    return {
        "metadata": {
            "uid": f"write-{i:06d}",
            "name": f"bench-{i}",
            "namespace": "team-00",
            "creationTimestamp": started.isoformat(),
        },
        "spec": {
            "pipelineRef": {"name": "pipe-0"},
            "triggeredBy": "Schedule",
            "triggerRef": {"name": "nightly"},
        },
        "status": {
            "phase": "Succeeded",
            "startedAt": started.isoformat(),
            "completedAt": (started + timedelta(seconds=10)).isoformat(),
            "durationSeconds": 10,
            "variables": {"env": "prod"},
            "metrics": {"itemsProcessed": 6000},
            "blocks": blocks,
        },
    }


async def write_latency(archive: Archive, runs: int, per_minute: int) -> dict[str, float]:
    """Archive `runs` finished runs at `per_minute`, each write timed from call to commit."""
    interval = 60 / per_minute
    samples = []
    next_at = time.monotonic()
    for i in range(runs):
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # pacing, not waiting for state
        next_at += interval
        start = time.perf_counter()
        await archive.record_run(finished_run_body(i))
        samples.append((time.perf_counter() - start) * 1000)
    return percentiles(samples)


async def archiver_lag(url: str, runs: int, per_minute: int) -> dict[str, float]:
    """The operator's archiver end to end: run finished -> record, logs, Events committed and
    the run confirmed (its annotation patched), while `per_minute` runs finish.

    Real PipelineRuns on the local control plane (KUBECONFIG; no operator runs them: their
    finished bodies are handed to the archiver the way the watch would), the real
    `Archiver` (queue, batches, pod log lookups, Event list, annotation patch) and the
    archive database under test. Lag is measured from the body's completedAt.
    """
    from kubernetes_asyncio import client, config

    from runwright.controller.archiver import Archiver, ArchiveSettings, pod_logs
    from runwright.kube.client import Kube

    await config.load_kube_config(config_file=os.environ["KUBECONFIG"])
    kube = Kube(client.ApiClient())
    namespace = f"bench-archive-{random.randrange(16**6):06x}"
    await kube.core.create_namespace({"metadata": {"name": namespace}})
    lags: dict[str, float] = {}
    completed: dict[tuple[str, str], datetime] = {}
    done = asyncio.Event()
    archiver = Archiver(ArchiveSettings(url=url), kube, pod_logs(kube), set())

    def confirmed(key: tuple[str, str]) -> None:
        lags[key[1]] = (datetime.now(UTC) - completed[key]).total_seconds() * 1000
        if len(lags) == runs:
            done.set()

    archiver.on_confirmed = confirmed
    try:
        await archiver.start()
        await archiver.opened.wait()  # migrations are start-up, not lag
        interval = 60 / per_minute
        next_at = time.monotonic()
        for i in range(runs):
            body = finished_run_body(i)
            manifest = {
                "apiVersion": "runwright.dev/v1alpha1",
                "kind": "PipelineRun",
                "metadata": {"name": f"lag-{i}"},
                "spec": body["spec"],
            }
            created = await kube.create("pipelineruns", namespace, manifest)
            assert created is not None
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # pacing
            next_at += interval
            now = datetime.now(UTC)
            body["metadata"] = created["metadata"]
            body["status"]["completedAt"] = now.isoformat()
            completed[(namespace, f"lag-{i}")] = now
            archiver.observe("MODIFIED", body)
        await asyncio.wait_for(done.wait(), timeout=300)
    finally:
        await archiver.close()
        await kube.core.delete_namespace(namespace)
        await kube.close()
    return percentiles(list(lags.values()))


@contextlib.asynccontextmanager
async def backend(name: str) -> AsyncIterator[tuple[str, Path | None]]:
    if name == "sqlite":
        with tempfile.TemporaryDirectory(prefix="runwright-bench-") as tmp:
            path = Path(tmp) / "archive.db"
            yield f"sqlite:///{path}", path
    else:
        with postgres_server(durable=True) as server:
            yield server.create_database("archive"), None


async def bench_backend(name: str, args: argparse.Namespace) -> dict[str, Any]:
    async with backend(name) as (url, path):
        await migrate(url)
        start = time.perf_counter()
        if path is not None:
            await asyncio.to_thread(fill_sqlite, path, args.runs)
        else:
            await fill_postgres(url, args.runs)
        fill_seconds = time.perf_counter() - start
        print(f"{name}: filled {args.runs:,} runs in {fill_seconds:.0f} s", flush=True)
        archive = await Archive.open(url, migrate_schema=False)
        try:
            rows = []
            for label, where, sort in QUERIES:

                async def page(where: RunFilter = where, sort: Sort = sort) -> None:
                    await archive.list_runs(where, sort, limit=50)

                figures = await timed(page, args.repeat)
                rows.append({"query": label, **figures})
                print(
                    f"  {label:<42} p50 {figures['p50_ms']:8.1f}  p95 {figures['p95_ms']:8.1f} ms",
                    flush=True,
                )
            label, where, sort = FULL_SCAN

            async def scan() -> None:
                await archive.list_runs(where, sort, limit=50)

            scanning = await timed(scan, 5)
            print(
                f"  {label:<42} p50 {scanning['p50_ms']:8.1f}  p95 {scanning['p95_ms']:8.1f} ms",
                flush=True,
            )
            first = await archive.list_runs(RunFilter(namespaces=ALLOWED), Sort(SortKey.STARTED))

            async def second_page() -> None:
                await archive.list_runs(
                    RunFilter(namespaces=ALLOWED), Sort(SortKey.STARTED), cursor=first.next_cursor
                )

            figures = await timed(second_page, args.repeat)
            rows.append({"query": "5 namespaces, newest started, page 2 (cursor)", **figures})
            print(
                f"  {'page 2 (cursor)':<42} p50 {figures['p50_ms']:8.1f}  p95 {figures['p95_ms']:8.1f} ms"
            )

            async def counts() -> None:
                await archive.count_by_phase(RunFilter(namespaces=["team-03"]))

            counting = await timed(counts, max(5, args.repeat // 3))
            print(
                f"  {'counts by phase, one namespace':<42} p50 {counting['p50_ms']:8.1f}  p95 {counting['p95_ms']:8.1f} ms"
            )
            writes = await write_latency(archive, args.write_runs, args.per_minute)
            print(
                f"  {'archive write, finished run':<42} p50 {writes['p50_ms']:8.1f}  p95 {writes['p95_ms']:8.1f} ms",
                flush=True,
            )
            lag: dict[str, float] | None = None
            if args.lag_runs:
                lag = await archiver_lag(url, args.lag_runs, args.per_minute)
                print(
                    f"  {'archiver lag, finished -> confirmed':<42} p50 {lag['p50_ms']:8.1f}  "
                    f"p95 {lag['p95_ms']:8.1f} ms",
                    flush=True,
                )
        finally:
            await archive.close()
    return {
        "backend": name,
        "runs": args.runs,
        "fill_seconds": round(fill_seconds, 1),
        "first_page_50": rows,
        "full_scan_text_no_match": scanning,
        "counts_by_phase_one_namespace": counting,
        "write_finished_run": {"runs": args.write_runs, "per_minute": args.per_minute, **writes},
        "archiver_lag": lag and {"runs": args.lag_runs, "per_minute": args.per_minute, **lag},
        "goals": {
            "first_page_p95_under_100ms": all(r["p95_ms"] < 100 for r in rows),
            "write_p95_under_1s": writes["p95_ms"] < 1000,
            "archiver_lag_p95_under_1s": lag is not None and lag["p95_ms"] < 1000,
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=1_000_000, help="archived runs to fill")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=30, help="timed repeats of each query")
    parser.add_argument("--write-runs", type=int, default=200, help="finished runs to archive")
    parser.add_argument("--per-minute", type=int, default=200, help="their pace")
    parser.add_argument(
        "--lag-runs",
        type=int,
        default=200,
        help="runs finished through the operator's archiver against the control plane in "
        "KUBECONFIG (default: this worktree's .cluster/kubeconfig); 0 skips it",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.lag_runs and not os.environ.get("KUBECONFIG"):
        local = ROOT / ".cluster" / "kubeconfig"
        if not local.exists():
            parser.error("--lag-runs needs a control plane: make cluster-up, or set KUBECONFIG")
        os.environ["KUBECONFIG"] = str(local)
    results = [asyncio.run(bench_backend(name, args)) for name in args.backends.split(",")]
    report = {**report_header("archive"), "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
