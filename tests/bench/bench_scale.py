"""The operator at scale: restart time and memory with thousands of finished runs, a drain.

A benchmark, not a test: it prints figures and writes bench/results/scale.json.
Goals reported against (never asserted), from issue 17: first Job of a new run within
5 s of an operator start with 10,000 runs held; at most 10 KB (and 250 MiB) of RSS
per idle finished run; queued runs start oldest executionDate first.

    python tests/bench/bench_scale.py [--sizes 1000,5000,10000] [--drain 2000] [--limit 5]
    python tests/bench/bench_scale.py --namespace rw-scale-abc123 --sizes 10000 --drain 0

--namespace reuses a namespace a run with --keep-namespace left (its held runs are
counted, not made again): a 10,000-run figure without 10,000 creates each time.

Setup as bench_operator.py: the control plane in RUNWRIGHT_TEST_KUBECONFIG, else the
local one (started and stopped here if it was not running); a fresh namespace.

- Held runs are made directly, not run: a PipelineRun is created, then its status is
  patched to Succeeded with a frozen Pipeline and one finished block, as the operator
  would have left it. No Jobs or pods: with the default --job-ttl they are gone a
  day after their run, and a Job cannot be created finished.
- Restart: with the operator stopped, the held runs are brought to the next size and
  one new run of a one-block Pipeline is created; then the operator (a subprocess,
  hack/operator_process.py) starts. Figures: seconds from the process start to
  /readyz 200 and to the new run's Job (the bench's own watch); the operator's CPU
  seconds (utime + stime) by then, and per run added since the previous size in µs;
  RSS once settled, and
  per held run over the first start's; the load average beside them (a shared
  machine's wall times are noisy, CPU seconds much less).
- Drain: --drain runs of a Pipeline with pipelineRunLimit --limit are created, in
  shuffled order with distinct executionDates, while the operator is stopped; then it
  starts and the bench stamps when each run is first seen Running. Figures: runs
  finished per minute, and how many runs started before an older one (by
  executionDate) and by how many places at most.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import random
import sys
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch

from runwright import labels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_operator import (
    IMAGE,
    KUBECONFIG,
    LOG_DIR,
    ROOT,
    cpu_seconds,
    memory_mib,
    on_bench_cluster,
    report_header,
)

sys.path.insert(0, str(ROOT))
from hack.operator_process import OperatorProcess

RESULTS = ROOT / "bench" / "results" / "scale.json"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CONCURRENCY = 32


def pipeline(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"template": {"image": IMAGE}, "blocks": [{"name": "only"}], **spec},
    }


def run(name: str, pipeline_name: str, execution_date: datetime | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"pipelineRef": {"name": pipeline_name}}
    if execution_date is not None:
        spec["executionDate"] = _iso(execution_date)
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": spec,
    }


def _iso(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def finished_status(frozen: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The status a one-block run that succeeded has."""
    done = _iso(at)
    return {
        "phase": "Succeeded",
        "executionDate": done,
        "startedAt": done,
        "completedAt": done,
        "pipelineSpec": frozen,
        "pipelineGeneration": 1,
        "observedGeneration": 1,
        "duration": "0s",
        "durationSeconds": 0,
        "blocks": {
            "only": {
                "phase": "Succeeded",
                "attempt": 1,
                "startedAt": done,
                "completedAt": done,
                "exitCode": 0,
                "attempts": [
                    {
                        "attempt": 1,
                        "phase": "Succeeded",
                        "exitCode": 0,
                        "startedAt": done,
                        "completedAt": done,
                    }
                ],
            }
        },
    }


class Bench:
    def __init__(self, args: argparse.Namespace, namespace: str) -> None:
        self.args = args
        self.ns = namespace
        self.held = 0
        self.frozen: dict[str, Any] = {}

    async def setup(self) -> None:
        await config.load_kube_config(config_file=str(KUBECONFIG))
        self.api = client.ApiClient()
        self.custom = client.CustomObjectsApi(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.core = client.CoreV1Api(self.api)

    async def create(self, plural: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = await self.custom.create_namespaced_custom_object(
            labels.GROUP, labels.VERSION, self.ns, plural, body
        )
        return result

    async def reuse(self) -> None:
        """A kept namespace: count its held runs, drop its probes (each restart makes one)."""
        listed = await self.custom.list_namespaced_custom_object(
            labels.GROUP, labels.VERSION, self.ns, "pipelineruns"
        )
        names = [item["metadata"]["name"] for item in listed["items"]]
        self.held = sum(1 for n in names if n.startswith("held-"))
        for name in names:
            if name.startswith("probe-"):
                await self.custom.delete_namespaced_custom_object(
                    labels.GROUP, labels.VERSION, self.ns, "pipelineruns", name
                )
        await self.batch.delete_collection_namespaced_job(
            self.ns, label_selector=labels.RUN, propagation_policy="Background"
        )
        await self.core.delete_collection_namespaced_pod(self.ns, label_selector=labels.RUN)
        print(f"[bench] reusing {self.ns}: {self.held} held runs", flush=True)

    async def hold_more(self, upto: int) -> None:
        """Held (finished) runs up to `upto`, CONCURRENCY requests at a time."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(self.held, upto):
            queue.put_nowait(i)

        async def one() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                name = f"held-{i:05}"
                await self.create("pipelineruns", run(name, "held"))
                await self.custom.patch_namespaced_custom_object_status(
                    labels.GROUP,
                    labels.VERSION,
                    self.ns,
                    "pipelineruns",
                    name,
                    {"status": finished_status(self.frozen, T0 + timedelta(seconds=i))},
                    _content_type="application/merge-patch+json",
                )

        started = time.monotonic()
        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
        print(
            f"[bench] {upto - self.held} held runs made in {time.monotonic() - started:.0f}s",
            flush=True,
        )
        self.held = upto

    def operator(self, name: str) -> OperatorProcess:
        return OperatorProcess(KUBECONFIG, [self.ns], [], LOG_DIR / f"scale-{name}.log")

    async def first_job(self, run_name: str, within: float) -> float | None:
        """time.time() when the first attempt of `run_name` is seen: its pod (the Pod
        executor, the default) or its Job (`--executor job`); None: not `within` seconds."""
        selector = f"{labels.RUN}={run_name}"
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            jobs = await self.batch.list_namespaced_job(self.ns, label_selector=selector)
            pods = await self.core.list_namespaced_pod(self.ns, label_selector=selector)
            if jobs.items or pods.items:
                return time.time()
            await asyncio.sleep(0.1)  # poll interval
        return None

    async def restart(self, size: int) -> dict[str, Any]:
        await self.hold_more(size)
        probe = f"probe-{size}"
        await self.create("pipelineruns", run(probe, "probe"))
        op = self.operator(f"restart-{size}")
        load = _load()
        started = time.time()
        await asyncio.to_thread(op.start, 600)
        job_task = asyncio.create_task(self.first_job(probe, 600))
        ready_at = await asyncio.to_thread(_wait_ready, op.url, 600)
        cpu_ready = cpu_seconds(op.pid)
        job_at = await job_task
        cpu_job = cpu_seconds(op.pid)
        await asyncio.sleep(self.args.settle)  # the paced look at every finished run
        rss = memory_mib(op.pid)
        cpu_settled = cpu_seconds(op.pid)
        await asyncio.to_thread(op.stop)
        figures = {
            "held_runs": size,
            "seconds_to_ready": round(ready_at - started, 2) if ready_at else None,
            "seconds_to_first_job": round(job_at - started, 2) if job_at else None,
            "cpu_seconds_to_ready": round(cpu_ready, 2),
            "cpu_seconds_to_first_job": round(cpu_job, 2),
            "cpu_seconds_settled": round(cpu_settled, 2),
            "rss_mib": round(rss["VmRSS"], 1),
            "peak_rss_mib": round(rss["VmHWM"], 1),
            "load_before": load,
            "load_after": _load(),
        }
        print(f"[bench] restart: {figures}", flush=True)
        return figures

    async def drain(self, count: int, limit: int) -> dict[str, Any]:
        await self.create("pipelines", pipeline("drain", concurrency={"pipelineRunLimit": limit}))
        dates = {f"drain-{i:05}": T0 + timedelta(minutes=i) for i in range(count)}
        names = list(dates)
        random.Random(16).shuffle(names)
        queue: asyncio.Queue[str] = asyncio.Queue()
        for name in names:
            queue.put_nowait(name)

        async def one() -> None:
            while not queue.empty():
                name = queue.get_nowait()
                await self.create("pipelineruns", run(name, "drain", dates[name]))

        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
        running: dict[str, float] = {}
        finished: dict[str, float] = {}
        op = self.operator("drain")
        done = asyncio.Event()
        watcher = asyncio.create_task(self._watch_runs(running, finished, set(dates), done))
        started = time.time()
        await asyncio.to_thread(op.start, 600)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), self.args.timeout)
        peak = memory_mib(op.pid)["VmHWM"]
        await asyncio.to_thread(op.stop)
        watcher.cancel()
        order = sorted(running, key=lambda n: running[n])
        rank = {name: i for i, name in enumerate(sorted(dates, key=lambda n: dates[n]))}
        overtakers, most = 0, 0
        later_started_older: list[int] = []
        for i, name in enumerate(order):
            older_after = sum(1 for other in order[i + 1 :] if rank[other] < rank[name])
            later_started_older.append(older_after)
            if older_after:
                overtakers += 1
                most = max(most, older_after)
        span = (max(finished.values()) - started) if finished else 0.0
        figures = {
            "runs": count,
            "pipeline_run_limit": limit,
            "finished": len(finished),
            "seconds": round(span, 1),
            "runs_per_minute": round(len(finished) / span * 60, 1) if span else None,
            "runs_started_before_an_older_one": overtakers,
            "most_older_runs_overtaken": most,
            "first_five_started_ranks": [rank[n] + 1 for n in order[:5]],
            "peak_rss_mib": round(peak, 1),
        }
        print(f"[bench] drain: {figures}", flush=True)
        return figures

    async def _watch_runs(
        self,
        running: dict[str, float],
        finished: dict[str, float],
        names: set[str],
        done: asyncio.Event,
    ) -> None:
        while True:
            stream = watch.Watch()
            try:
                async for event in stream.stream(
                    self.custom.list_namespaced_custom_object,
                    labels.GROUP,
                    labels.VERSION,
                    self.ns,
                    "pipelineruns",
                    timeout_seconds=300,
                ):
                    obj = event["object"]
                    name = obj["metadata"]["name"]
                    if name not in names:
                        continue
                    phase = (obj.get("status") or {}).get("phase")
                    now = time.time()
                    if phase in ("Running", "Succeeded", "Failed", "Cancelled"):
                        running.setdefault(name, now)
                    if phase in ("Succeeded", "Failed", "Cancelled"):
                        finished.setdefault(name, now)
                        if len(finished) == len(names):
                            done.set()
            finally:
                await stream.close()


def _load() -> float:
    """The 1-minute load average: beside every figure, the machine is shared."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _wait_ready(url: str, timeout: float) -> float | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return time.time()
        except OSError:
            pass
        time.sleep(0.1)  # poll interval
    return None


async def bench(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    b = Bench(args, namespace)
    await b.setup()
    try:
        b.frozen = {"template": {"image": IMAGE}, "blocks": [{"name": "only"}]}
        if args.namespace:
            await b.reuse()
        else:
            await b.create("pipelines", pipeline("held"))
            await b.create("pipelines", pipeline("probe"))
        restarts = []
        if b.held == 0:
            restarts.append(await b.restart(0))
        for size in args.sizes:
            restarts.append(await b.restart(max(size, b.held)))
        base = restarts[0]
        for previous, r in itertools.pairwise(restarts):
            if not base["held_runs"]:
                extra = r["held_runs"]
                r["rss_kib_per_held_run"] = round(
                    (r["rss_mib"] - base["rss_mib"]) * 1024 / extra, 2
                )
            # CPU per listed run as the slope between sizes: a start's fixed cost (imports,
            # the API client) varies by a second on a shared machine, the slope much less.
            added = r["held_runs"] - previous["held_runs"]
            if added > 0:
                spent = r["cpu_seconds_to_ready"] - previous["cpu_seconds_to_ready"]
                r["cpu_us_per_added_run"] = round(spent * 1e6 / added)
        drain = await b.drain(args.drain, args.limit) if args.drain else None
    finally:
        await b.api.close()
    return {
        **report_header("scale"),
        "settings": {
            "sizes": args.sizes,
            "drain": args.drain,
            "limit": args.limit,
            "kubeconfig": str(KUBECONFIG),
        },
        "goals": {
            "seconds_to_first_job_at_10000": 5,
            "rss_kib_per_held_run": 10,
            "rss_mib_at_10000": 250,
        },
        "restarts": restarts,
        "drain": drain,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 5000, 10000]
    )
    parser.add_argument("--drain", type=int, default=2000, metavar="N")
    parser.add_argument("--limit", type=int, default=5, metavar="N")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds before RSS is read")
    parser.add_argument("--timeout", type=float, default=1200.0, help="drain time limit")
    parser.add_argument("--keep-namespace", action="store_true")
    parser.add_argument(
        "--namespace", help="reuse this kept namespace and its held runs (the cluster runs)"
    )
    args = parser.parse_args(argv)
    if args.namespace:
        report = asyncio.run(bench(args, args.namespace))
    else:
        report = on_bench_cluster(
            "rw-scale", args.keep_namespace, lambda namespace: asyncio.run(bench(args, namespace))
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({"restarts": report["restarts"], "drain": report["drain"]}, indent=2))
    print(f"\nreport: {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
