"""The run archive at scale, on SQLite and on a real PostgreSQL.

A benchmark, not a test: it prints a table and writes bench/results/archive.json.
For each backend: fill the archive with N runs (default 1,000,000; realistic
spread of namespaces, pipelines, triggers, phases, times and metrics) by bulk
load (executemany for SQLite, COPY for PostgreSQL; the indexes, triggers and text
search index the migrations made are dropped first and rebuilt after the load from
their own SQL, then ANALYZE), then time through the real query layer
(`Archive.list_runs`) the first page of 50 runs for several filter/sort
combinations (text search included), p50/p95 over repeated queries in rounds,
with the load average printed (goal: p95 < 100 ms),
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
import itertools
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
from sqlalchemy import make_url

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
COLUMNS = [c.name for c in Run.__table__.columns]
TIMES = frozenset({"execution_date", "created_at", "started_at", "completed_at", "archived_at"})
VARIABLES = {region: json.dumps({"env": "prod", "region": region}) for region in ("eu", "us")}


def generate(count: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    """`count` archived runs over the last year, as tuples in `COLUMNS` order.

    Times are aware datetimes and JSON columns are already JSON text, so a row goes to
    COPY as it is and to SQLite after one pass over its five time columns.
    """
    rng = random.Random(seed)
    phases, weights = zip(*PHASES, strict=True)
    cumulative = list(itertools.accumulate(weights))
    assert ROW_ORDER == COLUMNS, "the runs table's columns changed: update generate()"
    for i in range(count):
        namespace = NAMESPACES[rng.randrange(len(NAMESPACES))]
        pipeline = f"pipe-{rng.randrange(PIPELINES_PER_NAMESPACE)}"
        phase = rng.choices(phases, cum_weights=cumulative)[0]
        scheduled = rng.random() < 0.7
        started = (
            NOW - timedelta(seconds=rng.randrange(365 * 86400)) if phase != "Pending" else None
        )
        finished = phase in ("Succeeded", "Failed", "Cancelled")
        duration = int(rng.lognormvariate(4, 1.2)) if finished and started else None
        items = rng.randrange(100_000) if rng.random() < 0.6 else None
        cost = tokens = None
        if rng.random() < 0.3:
            cost, tokens = round(rng.random() * 20, 4), rng.randrange(1_000_000)
        metrics = {
            k: v
            for k, v in (("itemsProcessed", items), ("cost", cost), ("tokens", tokens))
            if v is not None
        }
        blocks = rng.sample(BLOCKS, rng.randint(2, 6))
        yield (
            f"{i:08x}-{rng.getrandbits(64):016x}",
            namespace,
            f"{pipeline}-{i:x}",
            pipeline,
            rng.randint(1, 20),
            "nightly" if scheduled else None,
            "Schedule" if scheduled else rng.choice(["Manual", "API", "Event"]),
            phase,
            "BlockFailed" if phase == "Failed" else "",
            rng.choice(MESSAGES) if phase in ("Failed", "Cancelled") else "",
            f" {' '.join(sorted(blocks))} ",
            VARIABLES[rng.choice(["eu", "us"])],
            f'{{"{blocks[0]}": {{"rows": "{rng.randrange(10_000)}"}}}}',
            json.dumps(metrics) if metrics else "{}",
            items,
            cost,
            tokens,
            started,
            (started or NOW) - timedelta(seconds=1),
            started,
            started + timedelta(seconds=duration) if started and duration is not None else None,
            duration,
            NOW,
        )


#: The column order `generate` yields (checked against the table's).
ROW_ORDER = [
    "uid", "namespace", "name", "pipeline", "pipeline_generation", "trigger", "triggered_by",
    "phase", "reason", "message", "block_names", "variables", "outputs", "metrics",
    "items_processed", "cost", "tokens", "execution_date", "created_at", "started_at",
    "completed_at", "duration_seconds", "archived_at",
]  # fmt: skip


def batches(count: int, size: int = 50_000) -> Iterator[list[tuple[Any, ...]]]:
    rows = generate(count)
    while batch := list(itertools.islice(rows, size)):
        yield batch


def _sqlite_time(value: datetime | None) -> str | None:
    """How `UtcDateTime` stores a time on SQLite: naive UTC text (NOW and all times are UTC)."""
    return None if value is None else value.replace(tzinfo=None).isoformat(" ", "microseconds")


def fill_sqlite(path: Path, count: int) -> None:
    """Bulk load: drop the table's indexes and triggers (keeping their SQL), insert with
    executemany, recreate them from the same SQL, rebuild the FTS index once, ANALYZE."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("PRAGMA cache_size=-262144")  # 256 MiB for the index builds
    saved = connection.execute(
        "SELECT type, name, sql FROM sqlite_master "
        "WHERE tbl_name = 'runs' AND type IN ('index', 'trigger') AND sql IS NOT NULL"
    ).fetchall()
    for kind, name, _ in saved:
        connection.execute(f"DROP {kind.upper()} {name}")
    insert = f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    times = [COLUMNS.index(c) for c in sorted(TIMES)]
    for batch in batches(count):
        rows = []
        for row in batch:
            values = list(row)
            for i in times:
                values[i] = _sqlite_time(values[i])
            rows.append(values)
        connection.execute("BEGIN")
        connection.executemany(insert, rows)
        connection.execute("COMMIT")
    for _, _, sql in saved:
        connection.execute(sql)
    connection.execute("INSERT INTO runs_fts(runs_fts) VALUES ('rebuild')")
    connection.execute("PRAGMA analysis_limit = 1000")  # as the migration does
    connection.execute("ANALYZE")
    connection.close()


async def fill_postgres(url: str, count: int) -> None:
    """Bulk load: drop the table's indexes (keeping their definitions, trigram ones too),
    COPY, recreate them from the same definitions, VACUUM ANALYZE."""
    target = make_url(url)
    connection = await asyncpg.connect(
        host=target.host, port=target.port, user=target.username, database=target.database
    )
    try:
        saved = await connection.fetch(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename = 'runs' AND indexname <> 'pk_runs'"
        )
        for index in saved:
            await connection.execute(f"DROP INDEX {index['indexname']}")
        for batch in batches(count):
            await connection.copy_records_to_table("runs", records=batch, columns=COLUMNS)
        await connection.execute("SET maintenance_work_mem = '256MB'")
        for index in saved:
            await connection.execute(index["indexdef"])
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
    (
        "5 namespaces, text 'OOMKilled'",
        RunFilter(namespaces=ALLOWED, text="oomkilled"),
        Sort(SortKey.STARTED),
    ),
    # No run matches: without a text index every row is read (39 s on SQLite before 0002).
    ("text matching nothing", RunFilter(text="nothing-matches"), Sort(SortKey.STARTED)),
]
#: The second page of the first query, through its cursor.
SECOND_PAGE = "5 namespaces, newest started, page 2 (cursor)"


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": statistics.median(ordered),
        "p95_ms": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "max_ms": ordered[-1],
    }


def load_average() -> float:
    """The 1-minute load average: the figures mean little when it is above the core count."""
    return os.getloadavg()[0]


async def sample(call: Any, repeat: int, cpu: list[float] | None = None) -> list[float]:
    """`repeat` wall-clock timings of `call` (ms); with `cpu`, this process's CPU time of
    each call is appended to it: what the query costs when it does not wait for a core
    (SQLite runs in-process, so for it that is the whole query)."""
    samples = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
        if cpu is not None:
            cpu.append((time.process_time() - start_cpu) * 1000)
    return samples


async def time_queries(calls: dict[str, Any], repeat: int, rounds: int) -> list[dict[str, Any]]:
    """Each query `repeat` times per round, the rounds one after the other (so a burst of
    load from other processes spreads over every query instead of ruining one), with the
    load average at each round's start. p50/p95 over all samples; `round_p95_ms` is the
    spread of the per-round p95s."""
    for call in calls.values():
        await call()  # warm the cache and the connection pool
    samples: dict[str, list[float]] = {label: [] for label in calls}
    cpu: dict[str, list[float]] = {label: [] for label in calls}
    per_round: dict[str, list[float]] = {label: [] for label in calls}
    loads = []
    for number in range(rounds):
        loads.append(load_average())
        print(f"  round {number + 1}/{rounds}, load average {loads[-1]:.1f}", flush=True)
        for label, call in calls.items():
            taken = await sample(call, repeat, cpu[label])
            samples[label] += taken
            per_round[label].append(percentiles(taken)["p95_ms"])
    rows = []
    for label in calls:
        figures = percentiles(samples[label])
        spread = [round(min(per_round[label]), 1), round(max(per_round[label]), 1)]
        cost = percentiles(cpu[label])
        rows.append(
            {
                "query": label,
                **figures,
                "round_p95_ms": spread,
                "cpu_p50_ms": cost["p50_ms"],
                "cpu_p95_ms": cost["p95_ms"],
                "load": loads,
            }
        )
        print(
            f"  {label:<46} p50 {figures['p50_ms']:7.1f}  p95 {figures['p95_ms']:7.1f} ms"
            f"  (round p95s {spread[0]:.1f}-{spread[1]:.1f}; CPU p50 {cost['p50_ms']:.1f}"
            f" p95 {cost['p95_ms']:.1f})",
            flush=True,
        )
    return rows


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
        load_after_fill = load_average()
        print(
            f"{name}: filled {args.runs:,} runs in {fill_seconds:.0f} s "
            f"(load average {load_after_fill:.1f} on {os.cpu_count()} CPUs)",
            flush=True,
        )
        archive = await Archive.open(url, migrate_schema=False)
        try:
            calls: dict[str, Any] = {}
            for label, where, sort in QUERIES:

                async def page(where: RunFilter = where, sort: Sort = sort) -> None:
                    await archive.list_runs(where, sort, limit=50)

                calls[label] = page
            first = await archive.list_runs(RunFilter(namespaces=ALLOWED), Sort(SortKey.STARTED))

            async def second_page() -> None:
                await archive.list_runs(
                    RunFilter(namespaces=ALLOWED), Sort(SortKey.STARTED), cursor=first.next_cursor
                )

            calls[SECOND_PAGE] = second_page
            rows = await time_queries(calls, args.repeat, args.rounds)

            async def counts() -> None:
                await archive.count_by_phase(RunFilter(namespaces=["team-03"]))

            counting = percentiles(await sample(counts, max(5, args.repeat)))
            print(
                f"  {'counts by phase, one namespace':<46} p50 {counting['p50_ms']:7.1f}  "
                f"p95 {counting['p95_ms']:7.1f} ms"
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
        "load_average_after_fill": load_after_fill,
        "first_page_50": rows,
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
    parser.add_argument(
        "--repeat", type=int, default=20, help="timed repeats of each query per round"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over every query (the p95 spread)"
    )
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
