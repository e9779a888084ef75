"""The operator on the local control plane: start latency, status latency, throughput, writes.

A benchmark, not a test: it prints a table and writes bench/results/operator.json.
Goals reported against (never asserted): p95 ready→Job under 250 ms, at most 3 API
writes per block attempt.

    python tests/bench/bench_operator.py [--diamond-runs 200] [--single-runs 1000]
        [--in-flight 50] [--max-concurrent-blocks 500]

Setup: the local control plane (reused when running, else started here and stopped at
the end), crds/ applied, a fresh namespace. Pods on the kwok node succeed at once (no
sim annotations), so every figure is the operator plus the control plane, never block
work. Two workloads, one after the other: runs of a 5-block diamond (a → b, c, d → e),
then runs of one block.

How it measures (all stamps are time.time() in this one process, so they compare at
sub-millisecond precision; the API's own timestamps have whole seconds):

- The operator runs IN-PROCESS: kopf.operator with our handlers, in a thread with its
  own event loop, `--executor kubernetes`, scoped to the namespace. The bench wraps
  `KubernetesExecutor.start` to stamp when each Job create returned (201 or 409), and
  reads the operator's write counters (`Kube.writes`, `KubernetesExecutor.writes`).
- The bench watches Jobs and PipelineRuns of the namespace itself (kubernetes_asyncio,
  main thread) and stamps when each event arrives.
- ready → Job created: a block is ready when its last upstream Job's first terminal
  success condition (`SuccessCriteriaMet`, else `Complete`: the operator acts on either;
  the Job controller's gap between the two is reported too) arrives in the bench's watch (the operator gets the same event from the same
  API server at about the same instant); a root block is ready when the bench's create of
  the run returned. "Created" is the operator's create call returning. It includes the
  operator's watch delivery, queueing, reconcile (plan), and the create round trip.
- Job complete → run status updated: from that success event to the first
  PipelineRun event in which the block shows Succeeded (two watch deliveries included).
- Load is closed-loop: at most --in-flight runs unfinished at once; a new run is created
  when one finishes. Throughput is runs finished per minute, first create to last finish.
- --max-concurrent-blocks defaults to 500 here (the operator's default is 20), so the
  global budget never queues a block: the figures are the operator's, not the budget's.
- Peak RSS is this whole process (operator + the bench's watches and stamps) from
  getrusage; the RSS before the operator started is reported next to it.

The shared process means the bench's watches compete with the operator for the GIL;
that makes the figures slightly pessimistic, never optimistic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kopf
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.config import kube_config as kube_config_module

from runwright import labels
from runwright.controller import config as operator_config
from runwright.executors.kubernetes import KubernetesExecutor
from runwright.kube.client import Kube

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / ".cluster"
KUBECONFIG = CLUSTER / "kubeconfig"
RESULTS = ROOT / "bench" / "results" / "operator.json"
IMAGE = "registry.invalid/bench:1"
FINISHED = {"Succeeded", "Failed", "Cancelled"}

DIAMOND: dict[str, list[str]] = {"a": [], "b": ["a"], "c": ["a"], "d": ["a"], "e": ["b", "c", "d"]}
SINGLE: dict[str, list[str]] = {"only": []}


# ----- stamps ------------------------------------------------------------------------------


@dataclass
class Stamps:
    """Arrival times (time.time()) of everything measured; filled from two threads."""

    run_created: dict[str, float] = field(default_factory=dict)
    job_create_sent: dict[str, float] = field(default_factory=dict)
    job_created: dict[str, float] = field(default_factory=dict)
    job_complete: dict[str, float] = field(default_factory=dict)
    """First success condition seen (SuccessCriteriaMet or Complete): what the operator acts on."""
    job_complete_condition: dict[str, float] = field(default_factory=dict)
    """The `Complete` condition itself (for the Job controller's own gap)."""
    job_criteria_met: dict[str, float] = field(default_factory=dict)
    block_succeeded: dict[tuple[str, str], float] = field(default_factory=dict)
    run_finished: dict[str, float] = field(default_factory=dict)
    run_phase: dict[str, str] = field(default_factory=dict)
    status_patches: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


STAMPS = Stamps()


def instrument() -> None:
    """Stamp each Job create, and count status patches by resource (runs vs Pipelines)."""
    original_start = KubernetesExecutor.start
    original_patch = Kube.patch_status

    async def start(self: KubernetesExecutor, run: Any, spec: Any, action: Any) -> None:
        STAMPS.job_create_sent[action.name] = time.time()
        await original_start(self, run, spec, action)
        STAMPS.job_created[action.name] = time.time()

    async def patch_status(self: Kube, plural: str, *args: Any, **kwargs: Any) -> None:
        STAMPS.status_patches[plural] += 1
        await original_patch(self, plural, *args, **kwargs)

    KubernetesExecutor.start = start  # type: ignore[method-assign]
    Kube.patch_status = patch_status  # type: ignore[method-assign]


# ----- cluster -----------------------------------------------------------------------------


def hack(script: str, *args: str) -> int:
    return subprocess.run(
        [sys.executable, str(ROOT / "hack" / script), *args],
        cwd=ROOT,
        env={**os.environ, "GOTOOLCHAIN": "local"},
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=None,
    ).returncode


def kubectl(*args: str) -> str:
    return subprocess.run(
        [str(CLUSTER / "bin" / "kubectl"), f"--kubeconfig={KUBECONFIG}", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def cluster_up() -> bool:
    """Reuse a healthy control plane or start one; True when started here."""
    if hack("cluster.py", "status") == 0:
        return False
    if hack("tools.py", "build") != 0 or hack("cluster.py", "up") != 0:
        raise SystemExit("the local control plane could not be started (Go >= 1.26 needed)")
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


# ----- the operator, in a thread -------------------------------------------------------------


class InProcessOperator:
    """kopf.operator with Runwright's handlers, in a thread with its own loop."""

    def __init__(self, namespace: str, max_blocks: int, batch_window: float | None) -> None:
        cfg = operator_config.CONFIG
        cfg.namespaces = [namespace]
        cfg.executor = "kubernetes"
        cfg.max_concurrent_blocks = max_blocks or None
        cfg.health_host = "127.0.0.1"
        cfg.health_port = free_port()
        self.namespace = namespace
        self.memo = kopf.Memo()
        self.settings = kopf.OperatorSettings()
        if batch_window is not None:  # an experiment; the operator keeps kopf's default
            self.settings.batching.batch_window = batch_window
        self.stop_flag = threading.Event()
        self.ready_flag = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="operator", daemon=True)

    def _run(self) -> None:
        import runwright.controller  # noqa: F401  (registers the handlers)

        try:
            asyncio.run(
                kopf.operator(
                    standalone=True,
                    clusterwide=False,
                    namespaces=[self.namespace],
                    memo=self.memo,
                    settings=self.settings,
                    stop_flag=self.stop_flag,
                    ready_flag=self.ready_flag,
                )
            )
        except BaseException as exc:
            self.error = exc
            self.ready_flag.set()

    def start(self) -> None:
        self.thread.start()
        if not self.ready_flag.wait(60) or self.error is not None or "kube" not in self.memo:
            raise SystemExit(f"the in-process operator did not start: {self.error!r}")

    def stop(self) -> None:
        self.stop_flag.set()
        self.thread.join(60)

    def writes(self) -> Counter[str]:
        """Every write the operator sent so far, by kind."""
        out: Counter[str] = Counter()
        kube = getattr(self.memo, "kube", None)
        jobs = getattr(self.memo, "jobs", None)
        if kube is not None:
            out.update(kube.writes)
        if jobs is not None:
            out["job_writes"] = jobs.writes
        out.update({f"status_{k}": v for k, v in STAMPS.status_patches.items()})
        return out


# ----- the bench's own watches -------------------------------------------------------------


def _condition(job: dict[str, Any], type_: str) -> bool:
    return any(
        c.get("type") == type_ and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


async def watch_forever(
    list_call: Callable[..., Awaitable[Any]],
    on_event: Callable[[str, dict[str, Any]], None],
    **kwargs: Any,
) -> None:
    """Watch from now on; reconnect from the last resourceVersion when the stream ends."""
    version: str | None = None
    while True:
        w = watch.Watch()
        try:
            async for event in w.stream(
                list_call, timeout_seconds=300, resource_version=version, **kwargs
            ):
                obj = event["object"]
                version = obj.get("metadata", {}).get("resourceVersion", version)
                on_event(event["type"], obj)
        except client.exceptions.ApiException as exc:
            if exc.status != 410:
                raise
            version = None
        finally:
            await w.close()


class Watcher:
    """Stamps Job completions and run status changes as they arrive."""

    def __init__(self, custom: client.CustomObjectsApi, namespace: str) -> None:
        self.custom = custom
        self.namespace = namespace
        self.finished: dict[str, asyncio.Event] = {}
        self.tasks: list[asyncio.Task[None]] = []

    def on_job(self, _type: str, job: dict[str, Any]) -> None:
        name = job["metadata"]["name"]
        # The Job controller sets SuccessCriteriaMet first and Complete once its pods are
        # finished; the operator acts on whichever comes first, so that is "the Job
        # completed".
        if name not in STAMPS.job_criteria_met and _condition(job, "SuccessCriteriaMet"):
            STAMPS.job_criteria_met[name] = time.time()
        if name not in STAMPS.job_complete_condition and _condition(job, "Complete"):
            STAMPS.job_complete_condition[name] = time.time()
        done = _condition(job, "SuccessCriteriaMet") or _condition(job, "Complete")
        if name not in STAMPS.job_complete and done:
            STAMPS.job_complete[name] = time.time()

    def on_run(self, _type: str, run: dict[str, Any]) -> None:
        now = time.time()
        name = run["metadata"]["name"]
        status = run.get("status") or {}
        for block, b in (status.get("blocks") or {}).items():
            if b.get("phase") == "Succeeded":
                STAMPS.block_succeeded.setdefault((name, block), now)
        phase = status.get("phase")
        if phase in FINISHED and name not in STAMPS.run_finished:
            STAMPS.run_finished[name] = now
            STAMPS.run_phase[name] = phase
            event = self.finished.get(name)
            if event is not None:
                event.set()

    @staticmethod
    def _failed(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            print(f"[bench] a watch failed: {task.exception()!r}", file=sys.stderr, flush=True)

    def start(self) -> None:
        ns = self.namespace
        self.tasks = [
            asyncio.create_task(
                watch_forever(
                    self.custom.list_namespaced_custom_object,
                    self.on_job,
                    group="batch",
                    version="v1",
                    namespace=ns,
                    plural="jobs",
                    label_selector=labels.RUN,
                )
            ),
            asyncio.create_task(
                watch_forever(
                    self.custom.list_namespaced_custom_object,
                    self.on_run,
                    group=labels.GROUP,
                    version=labels.VERSION,
                    namespace=ns,
                    plural="pipelineruns",
                )
            ),
        ]
        for task in self.tasks:
            task.add_done_callback(self._failed)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


# ----- workloads ---------------------------------------------------------------------------


def pipeline_manifest(name: str, dag: dict[str, list[str]]) -> dict[str, Any]:
    blocks = []
    for block, upstream in dag.items():
        body: dict[str, Any] = {"name": block, "command": ["true"]}
        if upstream:
            body["upstream"] = upstream
        blocks.append(body)
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"template": {"image": IMAGE}, "blocks": blocks},
    }


@dataclass
class Workload:
    name: str
    pipeline: str
    dag: dict[str, list[str]]
    runs: int
    run_names: list[str] = field(default_factory=list)
    began: float = 0.0
    ended: float = 0.0
    writes: Counter[str] = field(default_factory=Counter)
    rss_peak_mib: float = 0.0


async def drive(
    workload: Workload,
    custom: client.CustomObjectsApi,
    watcher: Watcher,
    namespace: str,
    in_flight: int,
    seconds: float,
) -> None:
    """Closed loop: at most `in_flight` runs unfinished; each finish lets the next one in."""
    slots = asyncio.Semaphore(in_flight)
    prefix = f"{workload.pipeline}-"

    async def one(i: int) -> None:
        name = f"{prefix}{i:05d}"
        async with slots:
            watcher.finished[name] = asyncio.Event()
            await custom.create_namespaced_custom_object(
                labels.GROUP,
                labels.VERSION,
                namespace,
                "pipelineruns",
                {
                    "apiVersion": labels.API_VERSION,
                    "kind": "PipelineRun",
                    "metadata": {"name": name},
                    "spec": {"pipelineRef": {"name": workload.pipeline}},
                },
            )
            STAMPS.run_created[name] = time.time()
            workload.run_names.append(name)
            await watcher.finished[name].wait()

    workload.began = time.time()
    try:
        async with asyncio.timeout(seconds):
            await asyncio.gather(*(one(i) for i in range(workload.runs)))
    except TimeoutError:
        done = sum(1 for n in workload.run_names if n in STAMPS.run_finished)
        print(
            f"  {workload.name}: timed out after {seconds:.0f}s with {done} runs finished",
            file=sys.stderr,
        )
    workload.ended = max(
        (STAMPS.run_finished[n] for n in workload.run_names if n in STAMPS.run_finished),
        default=time.time(),
    )


# ----- figures -----------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def dist_ms(values: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values]
    return {
        "count": len(ms),
        "p50_ms": pct(ms, 0.50),
        "p95_ms": pct(ms, 0.95),
        "p99_ms": pct(ms, 0.99),
        "max_ms": max(ms) if ms else None,
        "mean_ms": statistics.fmean(ms) if ms else None,
    }


def figures(workload: Workload) -> dict[str, Any]:
    ready_root: list[float] = []
    ready_down: list[float] = []
    create_call: list[float] = []
    complete_to_status: list[float] = []
    criteria_to_complete: list[float] = []
    missing = Counter[str]()
    attempts = 0
    for run in workload.run_names:
        for block, upstream in workload.dag.items():
            job = f"{run}-{block}-1"
            created = STAMPS.job_created.get(job)
            if created is None:
                missing["job not created"] += 1
                continue
            attempts += 1
            create_call.append(created - STAMPS.job_create_sent[job])
            if upstream:
                ups = [STAMPS.job_complete.get(f"{run}-{u}-1") for u in upstream]
                if any(u is None for u in ups):
                    missing["upstream completion not seen"] += 1
                else:
                    ready_down.append(created - max(u for u in ups if u is not None))
            else:
                ready_root.append(created - STAMPS.run_created[run])
            complete = STAMPS.job_complete.get(job)
            criteria = STAMPS.job_criteria_met.get(job)
            condition = STAMPS.job_complete_condition.get(job)
            if condition is not None and criteria is not None:
                criteria_to_complete.append(condition - criteria)
            shown = STAMPS.block_succeeded.get((run, block))
            if complete is not None and shown is not None:
                complete_to_status.append(shown - complete)
            else:
                missing["completion or Succeeded status not seen"] += 1
    finished = [n for n in workload.run_names if n in STAMPS.run_finished]
    elapsed = max(workload.ended - workload.began, 1e-9)
    total_writes = sum(workload.writes.values())
    events = workload.writes.get("event", 0)
    return {
        "runs": workload.runs,
        "runs_finished": len(finished),
        "runs_by_phase": dict(Counter(STAMPS.run_phase[n] for n in finished)),
        "block_attempts": attempts,
        "elapsed_seconds": elapsed,
        "runs_per_minute": len(finished) / elapsed * 60,
        "blocks_per_second": attempts / elapsed,
        "ready_to_job_created": dist_ms(ready_root + ready_down),
        "ready_to_job_created_root_blocks": dist_ms(ready_root),
        "ready_to_job_created_downstream_blocks": dist_ms(ready_down),
        "job_create_call": dist_ms(create_call),
        "job_complete_to_status": dist_ms(complete_to_status),
        "job_success_criteria_met_to_complete": dist_ms(criteria_to_complete),
        "writes": dict(workload.writes),
        "writes_per_attempt": total_writes / attempts if attempts else None,
        "writes_per_attempt_without_events": (total_writes - events) / attempts
        if attempts
        else None,
        "peak_rss_mib": workload.rss_peak_mib,
        "not_measured": dict(missing),
    }


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(report: dict[str, Any]) -> None:
    rows = [
        ("runs finished / created", lambda f: f"{f['runs_finished']}/{f['runs']}"),
        ("block attempts (Jobs)", lambda f: fmt(f["block_attempts"])),
        ("ready→Job created p50 ms", lambda f: fmt(f["ready_to_job_created"]["p50_ms"], 1)),
        ("ready→Job created p95 ms (goal <250)", lambda f: fmt(f["ready_to_job_created"]["p95_ms"], 1)),
        ("ready→Job created p99 ms", lambda f: fmt(f["ready_to_job_created"]["p99_ms"], 1)),
        ("  of which Job create call p50 ms", lambda f: fmt(f["job_create_call"]["p50_ms"], 1)),
        ("Job complete→status p50 ms", lambda f: fmt(f["job_complete_to_status"]["p50_ms"], 1)),
        ("Job complete→status p95 ms", lambda f: fmt(f["job_complete_to_status"]["p95_ms"], 1)),
        ("(Job controller: SuccessCriteriaMet→Complete p50 ms)", lambda f: fmt(f["job_success_criteria_met_to_complete"]["p50_ms"], 1)),
        ("runs per minute (sustained)", lambda f: fmt(f["runs_per_minute"], 0)),
        ("block attempts per second", lambda f: fmt(f["blocks_per_second"], 1)),
        ("API writes per attempt (goal ≤3)", lambda f: fmt(f["writes_per_attempt"], 2)),
        ("  without Events", lambda f: fmt(f["writes_per_attempt_without_events"], 2)),
        ("peak RSS MiB (whole bench process)", lambda f: fmt(f["peak_rss_mib"], 0)),
    ]  # fmt: skip
    names = list(report["workloads"])
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'':<{width}}  " + "  ".join(f"{n:>16}" for n in names))
    for label, get in rows:
        cells = "  ".join(f"{get(report['workloads'][n]):>16}" for n in names)  # type: ignore[no-untyped-call]
        print(f"{label:<{width}}  {cells}")
    for n in names:
        w = report["workloads"][n]["writes"]
        print(f"writes by kind, {n}: " + ", ".join(f"{k} {v}" for k, v in sorted(w.items())))
    print(f"\nreport: {RESULTS.relative_to(ROOT)}")


# ----- main --------------------------------------------------------------------------------


async def bench(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    await config.load_kube_config(config_file=str(KUBECONFIG))
    api = client.ApiClient()
    custom = client.CustomObjectsApi(api)
    rss_before = current_rss_mib()
    instrument()
    operator = InProcessOperator(namespace, args.max_concurrent_blocks, args.kopf_batch_window)
    watcher = Watcher(custom, namespace)
    watcher.start()
    workloads = [
        Workload("diamond", "bench-diamond", DIAMOND, args.diamond_runs),
        Workload("single", "bench-single", SINGLE, args.single_runs),
    ]
    try:
        for w in workloads:
            await custom.create_namespaced_custom_object(
                labels.GROUP,
                labels.VERSION,
                namespace,
                "pipelines",
                pipeline_manifest(w.pipeline, w.dag),
            )
        await asyncio.to_thread(operator.start)
        for w in workloads:
            if w.runs <= 0:
                continue
            print(
                f"[bench] {w.name}: {w.runs} runs, at most {args.in_flight} in flight", flush=True
            )
            before = operator.writes()
            await drive(w, custom, watcher, namespace, args.in_flight, args.timeout)
            # The last status patches land after the last run shows finished in our watch.
            await asyncio.sleep(1.0)  # settle: count the writes that belong to this workload
            w.writes = operator.writes() - before
            w.rss_peak_mib = rss_mib()
    finally:
        await asyncio.to_thread(operator.stop)
        await watcher.stop()
        await api.close()
    return {
        **report_header("operator"),
        "settings": {
            "diamond_runs": args.diamond_runs,
            "single_runs": args.single_runs,
            "in_flight": args.in_flight,
            "max_concurrent_blocks": args.max_concurrent_blocks,
            "executor": "kubernetes (Jobs on the kwok node, pods succeed at once)",
            "operator": "in-process (kopf.operator in a thread), logging at WARNING",
            "kopf_batch_window_seconds": operator.settings.batching.batch_window,
        },
        "rss_before_operator_mib": rss_before,
        "goals": {"ready_to_job_p95_ms": 250, "writes_per_attempt": 3},
        "workloads": {w.name: figures(w) for w in workloads if w.runs > 0},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--diamond-runs", type=int, default=200, metavar="N")
    parser.add_argument("--single-runs", type=int, default=1000, metavar="N")
    parser.add_argument("--in-flight", type=int, default=50, metavar="N",
                        help="runs unfinished at once (closed loop; default 50)")  # fmt: skip
    parser.add_argument("--max-concurrent-blocks", type=int, default=500, metavar="N",
                        help="the operator's global block budget (default 500; 0: none)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=420.0,
                        help="seconds per workload before giving up (default 420)")  # fmt: skip
    parser.add_argument("--kopf-batch-window", type=float, metavar="SECONDS",
                        help="experiment: kopf's per-object event batching window "
                        "(the operator uses kopf's default, 0.1 s)")  # fmt: skip
    parser.add_argument("--keep-namespace", action="store_true")
    args = parser.parse_args(argv)

    report = on_bench_cluster(
        "rw-bench", args.keep_namespace, lambda namespace: asyncio.run(bench(args, namespace))
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def report_header(benchmark: str) -> dict[str, Any]:
    """What every benchmark report starts with: its name, when, and on which machine."""
    return {
        "benchmark": benchmark,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
        },
    }


def on_bench_cluster(
    prefix: str, keep_namespace: bool, run: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    """Bring up the control plane, apply the CRDs, run `run(namespace)` in a fresh namespace.

    Cleans up after itself: the namespace (unless kept) and the control plane if it
    started it. Shared by every operator-level benchmark.
    """
    # For kopf and the operator's own client (which read the default location at import).
    os.environ["KUBECONFIG"] = str(KUBECONFIG)
    kube_config_module.KUBE_CONFIG_DEFAULT_LOCATION = str(KUBECONFIG)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = cluster_up()
    namespace = f"{prefix}-{uuid.uuid4().hex[:6]}"
    try:
        crds = sorted((ROOT / "crds").glob("*.yaml"))
        kubectl("apply", "--server-side", "--force-conflicts", *(f"-f={f}" for f in crds))
        kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
        kubectl("create", "namespace", namespace)
        # Pods of the first Jobs need the namespace's default service account.
        deadline = time.monotonic() + 60
        while not kubectl("get", "sa", "-n", namespace, "--ignore-not-found", "-o", "name"):
            if time.monotonic() > deadline:
                raise SystemExit(f"no default service account in {namespace}")
            time.sleep(0.1)  # poll interval
        return run(namespace)
    finally:
        if not keep_namespace:
            with contextlib.suppress(Exception):
                kubectl("delete", "namespace", namespace, "--wait=false")
        if started:
            hack("cluster.py", "down")


if __name__ == "__main__":
    sys.exit(main())
