"""The web server's runs list and live stream at scale: figures, not assertions.

1. First page: 10,000 live runs (rows as the server makes them from PipelineRun
   bodies) merged with N archived runs (default 1,000,000, an SQLite archive bulk
   loaded like bench_archive.py), through the server's own list path
   (`runs.select` + `archived.merged_page`), p50/p95 over repeats, for the
   default sort, a phase filter and a text search (goal: p95 < 300 ms). The
   Kubernetes list call itself is not in this figure: it is the API server's.
2. Phase change to the stream (with --kubeconfig, e.g. the shared control plane):
   `runwright server --kubeconfig` runs as a subprocess, a client reads
   /api/events, and 200 runs of a fresh namespace get their status.phase
   patched; the time from each patch's answer to its `run` event reaching the
   client is the latency (goal: p95 < 1 s), an upper bound: it includes the
   start of the kubectl process that patches. The browser's render is not in it.

    python tests/bench/bench_server.py [--archived N] [--live N] [--kubeconfig K] [--active N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_archive import fill_sqlite, percentiles, timed  # noqa: E402

from hack.operator_process import free_port, runwright_executable  # noqa: E402
from runwright.archive import migrate  # noqa: E402
from runwright.web.archived import archived_counts, merged_page, open_read_only  # noqa: E402
from runwright.web.runs import RunQuery, row_of, select  # noqa: E402
from runwright.web.scope import Scope  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "server.json"
T0 = datetime(2026, 11, 30, tzinfo=UTC)
PHASES = ("Succeeded", "Succeeded", "Succeeded", "Failed", "Running", "Cancelled")


def live_body(i: int) -> dict[str, Any]:
    phase = PHASES[i % len(PHASES)]
    started = T0 - timedelta(seconds=i * 7)
    return {
        "metadata": {"uid": f"live-{i:06d}", "name": f"etl-{i:06d}", "namespace": f"team-{i % 20}"},
        "spec": {"pipelineRef": {"name": f"pipe-{i % 50}"}, "triggeredBy": "Schedule"},
        "status": {
            "phase": phase,
            "startedAt": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "durationSeconds": 30 + i % 600,
            "message": "block load failed" if phase == "Failed" else "",
            "metrics": {"itemsProcessed": i, "cost": (i % 100) / 10},
            "blocks": {"extract": {}, "load": {}},
        },
    }


async def first_pages(archived: int, live: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="runwright-bench-server-") as tmp:
        path = Path(tmp) / "archive.db"
        url = f"sqlite:///{path}"
        await migrate(url)
        start = time.perf_counter()
        fill_sqlite(path, archived)
        print(
            f"filled {archived:,} archived runs in {time.perf_counter() - start:.0f} s", flush=True
        )
        engine = open_read_only(url)  # as `runwright server --archive` opens it
        rows = [row_of(live_body(i)) for i in range(live)]
        figures: dict[str, Any] = {}
        for label, params in (
            ("newest first", {}),
            ("phase Failed", {"phases": ("Failed",)}),
            ("text search", {"text": "etl-0001"}),
            ("cost, desc", {"sort": "cost"}),
        ):
            query = RunQuery(**params)  # type: ignore[arg-type]

            async def page(query: RunQuery = query) -> None:
                await merged_page(engine, rows, select(rows, query), query, Scope(None, []))

            async def counts(query: RunQuery = query) -> None:
                await archived_counts(engine, query, Scope(None, []))

            figures[label] = await timed(page, repeat)
            figures[label + ", archive counts"] = await timed(counts, max(3, repeat // 4))
            print(
                f"  first page, {label:<14} p50 {figures[label]['p50_ms']:7.1f} ms   p95 {figures[label]['p95_ms']:7.1f} ms",
                flush=True,
            )
        await engine.dispose()
        return figures


def _kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["kubectl", f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def phase_latency(kubeconfig: str, active: int) -> dict[str, Any]:
    ns = f"rw-bench-web-{uuid.uuid4().hex[:6]}"
    _kubectl(kubeconfig, "create", "namespace", ns)
    port = free_port()
    server = subprocess.Popen(
        [str(runwright_executable()), "server", "--kubeconfig", kubeconfig, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        manifests = "\n---\n".join(
            json.dumps(
                {
                    "apiVersion": "runwright.dev/v1alpha1",
                    "kind": "PipelineRun",
                    "metadata": {"name": f"r-{i}"},
                    "spec": {"pipelineRef": {"name": "absent"}},
                }
            )
            for i in range(active)
        )
        _kubectl(kubeconfig, "apply", "-n", ns, "-f", "-", stdin=manifests)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        arrived: dict[str, float] = {}
        ready = threading.Event()

        def read() -> None:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/events?namespace={ns}", timeout=120
            ) as stream:
                event = ""
                for raw in stream:
                    line = raw.decode().rstrip("\n")
                    if line.startswith("event: "):
                        event = line[7:]
                        if event == "hello":
                            ready.set()
                    elif line.startswith("data: ") and event == "run":
                        row = json.loads(line[6:])["row"]
                        if row["phase"] == "Running" and row["name"] not in arrived:
                            arrived[row["name"]] = time.monotonic()
                            if len(arrived) == active:
                                return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        ready.wait(60)
        sent: dict[str, float] = {}
        for i in range(active):
            # Taken before the patch: the figure includes kubectl's own start (an upper bound).
            sent[f"r-{i}"] = time.monotonic()
            _kubectl(
                kubeconfig,
                "patch",
                "pipelinerun",
                f"r-{i}",
                "-n",
                ns,
                "--subresource=status",
                "--type=merge",
                "-p",
                '{"status": {"phase": "Running"}}',
            )
        reader.join(60)
        samples = [(arrived[name] - sent[name]) * 1000 for name in sent if name in arrived]
        figures = {
            "runs": active,
            "received": len(samples),
            **(percentiles(samples) if samples else {}),
        }
        print(f"  phase change to the stream, {active} runs: {figures}", flush=True)
        return figures
    finally:
        server.terminate()
        server.wait(10)
        _kubectl(kubeconfig, "delete", "namespace", ns, "--wait=false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--archived", type=int, default=1_000_000)
    parser.add_argument("--live", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--kubeconfig", default=None, help="measure phase change to the stream on this cluster"
    )
    parser.add_argument("--active", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, Any] = {
        "first_page": asyncio.run(first_pages(args.archived, args.live, args.repeat))
    }
    if args.kubeconfig:
        results["phase_change"] = phase_latency(args.kubeconfig, args.active)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
