"""The operator on the local control plane: start latency, status latency, throughput, cost.

A benchmark, not a test: it prints a table and writes bench/results/operator.json.
Goals reported against (never asserted, issue 11): diamond step ready → next pod p95
at most 250 ms, at most 3 API writes per block attempt besides Events, at most 3
reconciles per one-block run, 300 one-block runs at 50 in flight at 850 runs/min or more.

    python tests/bench/bench_operator.py [--executors pod,job] [--diamond-runs 60]
        [--diamond-in-flight 20] [--single-runs 300] [--in-flight 50]
        [--max-concurrent-blocks 500]

Each executor (`--executor pod`, the default, and `--executor job`) gets its own
operator and its own namespace, one after the other, and the same two workloads;
the table has a column per executor and workload. Pod to pod, as issue 11's table:
"step ready → next pod" is from the last upstream pod's success (as the bench's pod
watch sees it) to the next block's pod's ADDED event, split into what the operator
took (→ the next Job or pod created) and what Kubernetes took (the Job controller:
Job → its pod; nothing for the Pod executor).

Setup: the control plane in RUNWRIGHT_TEST_KUBECONFIG when set (shared; left as it
is), else the local one (reused when running, else started here and stopped at the
end); crds/ applied, a fresh namespace. Pods on the kwok node succeed at once (no sim
annotations), so every figure is the operator plus the control plane, never block
work. Two workloads, one after the other: runs of a 5-block diamond (a → b, c, d → e),
then runs of one block.

How it measures:

- The operator is a SUBPROCESS (hack/operator_process.py, the launcher the tests and
  the demo use): `runwright operator -n <ns> --max-concurrent-blocks N`, as a user
  runs it (default log level), log in .cluster/bench/operator.log. So its CPU and
  memory are its own, and nothing of the bench runs in it.
- Per workload, before and after: its /metrics (runwright_kube_requests_total by verb,
  resource and code; runwright_reconcile_duration_seconds_count by kind) and its
  /proc/<pid>/stat (utime + stime). The differences, per block attempt, are the API
  writes (every verb but get/list/watch; Events are resource `events`), the
  reconciles, and the CPU milliseconds. Peak RSS is the process's VmHWM.
- The bench watches Jobs and PipelineRuns of the namespace itself (kubernetes_asyncio)
  and stamps (time.time(), one clock) when each event arrives.
- ready → Job created: a block is ready when its last upstream Job's first terminal
  success condition (`SuccessCriteriaMet`, else `Complete`: the operator acts on
  either; the Job controller's gap between the two is reported too) arrives in the
  bench's watch (the operator gets the same event from the same API server at about
  the same instant); a root block is ready when the bench's create of the run
  returned. "Created" is the Job's ADDED event in the bench's watch, so the figure
  includes the operator's watch delivery, queueing, reconcile (plan), the create round
  trip, and one watch delivery back to the bench.
- Job complete → run status updated: from that success event to the first
  PipelineRun event in which the block shows Succeeded (two watch deliveries included).
- Load is closed-loop: at most --in-flight runs unfinished at once; a new run is created
  when one finishes. Throughput is runs finished per minute, first create to last finish.
- --max-concurrent-blocks defaults to 500 here (the operator's default is 20), so the
  global budget never queues a block: the figures are the operator's, not the budget's.

The bench and the control plane share the machine's CPUs with the operator: on a
loaded machine the latencies grow; the per-attempt counts do not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config, watch
from prometheus_client.parser import text_string_to_metric_families

from runwright import labels

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # hack/ is importable from the repository root
from hack.operator_process import OperatorProcess  # noqa: E402

CLUSTER = ROOT / ".cluster"
#: RUNWRIGHT_TEST_KUBECONFIG: a control plane that runs already (shared; never stopped here).
EXTERNAL_KUBECONFIG = os.environ.get("RUNWRIGHT_TEST_KUBECONFIG")
KUBECONFIG = Path(EXTERNAL_KUBECONFIG) if EXTERNAL_KUBECONFIG else CLUSTER / "kubeconfig"
RESULTS = ROOT / "bench" / "results" / "operator.json"
LOG_DIR = CLUSTER / "bench"
IMAGE = "registry.invalid/bench:1"
FINISHED = {"Succeeded", "Failed", "Cancelled"}

DIAMOND: dict[str, list[str]] = {"a": [], "b": ["a"], "c": ["a"], "d": ["a"], "e": ["b", "c", "d"]}
SINGLE: dict[str, list[str]] = {"only": []}


# ----- stamps ------------------------------------------------------------------------------


@dataclass
class Stamps:
    """Arrival times (time.time()) of the events the bench's own watches deliver."""

    run_created: dict[str, float] = field(default_factory=dict)
    job_created: dict[str, float] = field(default_factory=dict)
    """The Job's first event in the bench's watch (its ADDED)."""
    job_complete: dict[str, float] = field(default_factory=dict)
    """First success condition seen (SuccessCriteriaMet or Complete): what the operator acts on."""
    job_complete_condition: dict[str, float] = field(default_factory=dict)
    """The `Complete` condition itself (for the Job controller's own gap)."""
    job_criteria_met: dict[str, float] = field(default_factory=dict)
    block_succeeded: dict[tuple[str, str], float] = field(default_factory=dict)
    run_finished: dict[str, float] = field(default_factory=dict)
    run_phase: dict[str, str] = field(default_factory=dict)
    pod_created: dict[str, float] = field(default_factory=dict)
    """An attempt's (`<run>-<block>-<attempt>`) pod's first event in the bench's watch."""
    pod_succeeded: dict[str, float] = field(default_factory=dict)
    """The first event showing the attempt's pod Succeeded (or its container exited 0)."""
    run_seen_running: set[str] = field(default_factory=set)
    """Runs the bench saw Running before they finished: their held start was written
    (the block outlived --status-delay), a status and a label write more."""


STAMPS = Stamps()


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


def kubectl_binary() -> str:
    """kubectl beside the kubeconfig's control plane (.cluster/bin), else on PATH."""
    for candidate in (KUBECONFIG.parent / "bin" / "kubectl", CLUSTER / "bin" / "kubectl"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("kubectl")
    if found is None:
        raise SystemExit("no kubectl: neither .cluster/bin/kubectl nor one on PATH")
    return found


def kubectl(*args: str) -> str:
    return subprocess.run(
        [kubectl_binary(), f"--kubeconfig={KUBECONFIG}", *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout


def cluster_up() -> bool:
    """Reuse a healthy control plane or start one; True when started here."""
    if EXTERNAL_KUBECONFIG:
        kubectl("get", "namespaces", "-o", "name")  # reachable, or CalledProcessError
        return False
    if hack("cluster.py", "status") == 0:
        return False
    if hack("tools.py", "build") != 0 or hack("cluster.py", "up") != 0:
        raise SystemExit("the local control plane could not be started (Go >= 1.26 needed)")
    return True


# ----- the operator: a subprocess, measured from outside ----------------------------------

#: Verbs that read; every other verb in runwright_kube_requests_total is a write.
READ_VERBS = frozenset({"get", "list", "watch"})


@dataclass(frozen=True)
class Sample:
    """What the operator process has done so far: its counters, CPU and memory."""

    requests: Counter[tuple[str, str, str]]
    """runwright_kube_requests_total by (verb, resource, code)."""
    reconciles: Counter[str]
    """runwright_reconcile_duration_seconds_count by kind."""
    cpu_seconds: float
    """utime + stime from /proc/<pid>/stat."""
    peak_rss_mib: float
    """VmHWM from /proc/<pid>/status: the most resident memory it ever had."""
    rss_mib: float
    rate_limit_wait_seconds: float = 0.0
    """The sum of runwright_kube_client_rate_limit_wait_seconds: time its requests waited
    for --qps/--burst (Events' own limit is not in it)."""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of stat(5)
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def memory_mib(pid: int) -> dict[str, float]:
    """VmHWM and VmRSS of the process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(rest.split()[0]) / 1024  # kB
    return out


def sample(operator: OperatorProcess) -> Sample:
    requests: Counter[tuple[str, str, str]] = Counter()
    reconciles: Counter[str] = Counter()
    rate_wait = 0.0
    for family in text_string_to_metric_families(operator.metrics()):
        for s in family.samples:
            if s.name == "runwright_kube_requests_total":
                key = (s.labels["verb"], s.labels["resource"], s.labels["code"])
                requests[key] += int(s.value)
            elif s.name == "runwright_reconcile_duration_seconds_count":
                reconciles[s.labels["kind"]] += int(s.value)
            elif s.name == "runwright_kube_client_rate_limit_wait_seconds_sum":
                rate_wait += s.value
    memory = memory_mib(operator.pid)
    return Sample(
        requests,
        reconciles,
        cpu_seconds(operator.pid),
        memory["VmHWM"],
        memory["VmRSS"],
        rate_wait,
    )


def writes(requests: Counter[tuple[str, str, str]]) -> Counter[str]:
    """Write requests by "verb resource" (every answer code counted: a retry is a request)."""
    out: Counter[str] = Counter()
    for (verb, resource, _code), n in requests.items():
        if verb not in READ_VERBS and n:
            out[f"{verb} {resource}"] += n
    return out


async def settled(operator: OperatorProcess, quiet: float = 1.0, limit: float = 15.0) -> Sample:
    """A sample once the write counters stopped moving for `quiet` seconds (the last
    status patches land after the last run shows finished in the bench's watch)."""
    last = await asyncio.to_thread(sample, operator)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)  # the quiet period being checked for
        now = await asyncio.to_thread(sample, operator)
        if writes(now.requests) == writes(last.requests):
            return now
        last = now
    return last


# ----- the bench's own watches -------------------------------------------------------------


def _condition(job: dict[str, Any], type_: str) -> bool:
    return any(
        c.get("type") == type_ and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


class RawWatch(watch.Watch):
    """A watch whose objects stay the API's JSON: building V1Pod models from every pod
    event took the bench's CPU (on the operator's 2 cores) and delayed its stamps."""

    def get_return_type(self, func: object) -> str:
        return ""


async def watch_forever(
    list_call: Callable[..., Awaitable[Any]],
    on_event: Callable[[str, dict[str, Any]], None],
    **kwargs: Any,
) -> None:
    """Watch from now on; reconnect from the last resourceVersion when the stream ends,
    and after a transient refusal (429, 5xx)."""
    version: str | None = None
    while True:
        w = RawWatch()
        try:
            async for event in w.stream(
                list_call, timeout_seconds=300, resource_version=version, **kwargs
            ):
                obj = event["object"]
                meta = obj.get("metadata", {}) if isinstance(obj, dict) else obj.metadata
                found = meta.get("resourceVersion") if isinstance(meta, dict) else None
                version = found or getattr(meta, "resource_version", None) or version
                on_event(event["type"], obj)
        except client.exceptions.ApiException as exc:
            if exc.status == 410:  # expired: list again from now
                version = None
            elif exc.status == 429 or exc.status >= 500:  # e.g. a CRD's storage initializing
                await asyncio.sleep(1.0)  # the API server's usual Retry-After
            else:
                raise
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
        STAMPS.job_created.setdefault(name, time.time())
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

    def on_pod(self, _type: str, pod: dict[str, Any]) -> None:
        lbl = pod["metadata"].get("labels") or {}
        key = f"{lbl.get(labels.RUN)}-{lbl.get(labels.BLOCK)}-{lbl.get(labels.ATTEMPT)}"
        STAMPS.pod_created.setdefault(key, time.time())
        status = pod.get("status") or {}
        exited = any(
            ((c.get("state") or {}).get("terminated") or {}).get("exitCode") == 0
            for c in status.get("containerStatuses") or []
        )
        if key not in STAMPS.pod_succeeded and (status.get("phase") == "Succeeded" or exited):
            STAMPS.pod_succeeded[key] = time.time()

    def on_run(self, _type: str, run: dict[str, Any]) -> None:
        now = time.time()
        name = run["metadata"]["name"]
        status = run.get("status") or {}
        for block, b in (status.get("blocks") or {}).items():
            if b.get("phase") == "Succeeded":
                STAMPS.block_succeeded.setdefault((name, block), now)
        phase = status.get("phase")
        if phase == "Running" and name not in STAMPS.run_finished:
            STAMPS.run_seen_running.add(name)
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

    def start(self, core: client.CoreV1Api) -> None:
        ns = self.namespace

        def on_pod(kind: str, pod: Any) -> None:
            self.on_pod(kind, pod)  # the API's JSON (RawWatch), like the others

        self.tasks = [
            asyncio.create_task(
                watch_forever(
                    core.list_namespaced_pod, on_pod, namespace=ns, label_selector=labels.RUN
                )
            ),
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
    before: Sample | None = None
    after: Sample | None = None


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
    complete_to_status: list[float] = []
    criteria_to_complete: list[float] = []
    missing = Counter[str]()
    attempts = 0
    run_to_pod: list[float] = []
    step: list[float] = []
    step_operator: list[float] = []
    step_kubernetes: list[float] = []
    pod_life: list[float] = []
    for run in workload.run_names:
        for block, upstream in workload.dag.items():
            job = f"{run}-{block}-1"
            pod_at = STAMPS.pod_created.get(job)
            done_at = STAMPS.pod_succeeded.get(job)
            if pod_at is not None and done_at is not None:
                pod_life.append(done_at - pod_at)
            made = STAMPS.job_created.get(job, pod_at)  # what the operator created
            if pod_at is not None and made is not None:
                if not upstream:
                    run_to_pod.append(pod_at - STAMPS.run_created[run])
                else:
                    ups = [STAMPS.pod_succeeded.get(f"{run}-{u}-1") for u in upstream]
                    if all(u is not None for u in ups):
                        ready = max(u for u in ups if u is not None)
                        step.append(pod_at - ready)
                        step_operator.append(made - ready)
                        step_kubernetes.append(pod_at - made)
                    else:
                        missing["upstream pod success not seen"] += 1
            created = STAMPS.job_created.get(job)
            if created is None:
                if pod_at is not None:
                    attempts += 1  # the Pod executor's attempt: no Job to time
                else:
                    missing["attempt not created"] += 1
                continue
            attempts += 1
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
    assert workload.before is not None and workload.after is not None
    before, after = workload.before, workload.after
    requests = after.requests - before.requests
    wrote = writes(requests)
    events = sum(n for key, n in wrote.items() if key.endswith(" events"))
    total = sum(wrote.values())
    reconciles = after.reconciles - before.reconciles
    cpu_ms = (after.cpu_seconds - before.cpu_seconds) * 1000

    def per_attempt(n: float) -> float | None:
        return n / attempts if attempts else None

    return {
        "runs": workload.runs,
        "runs_finished": len(finished),
        "runs_by_phase": dict(Counter(STAMPS.run_phase[n] for n in finished)),
        "block_attempts": attempts,
        "elapsed_seconds": elapsed,
        "runs_per_minute": len(finished) / elapsed * 60,
        "blocks_per_second": attempts / elapsed,
        "run_created_to_first_pod": dist_ms(run_to_pod),
        "step_ready_to_next_pod": dist_ms(step),
        "pod_created_to_succeeded": dist_ms(pod_life),
        "step_operator_part": dist_ms(step_operator),
        "step_kubernetes_part": dist_ms(step_kubernetes),
        "ready_to_job_created": dist_ms(ready_root + ready_down),
        "ready_to_job_created_root_blocks": dist_ms(ready_root),
        "ready_to_job_created_downstream_blocks": dist_ms(ready_down),
        "job_complete_to_status": dist_ms(complete_to_status),
        "job_success_criteria_met_to_complete": dist_ms(criteria_to_complete),
        "writes": dict(sorted(wrote.items())),
        "requests": {" ".join(k): v for k, v in sorted(requests.items())},
        "writes_per_attempt": per_attempt(total),
        "writes_per_attempt_without_events": per_attempt(total - events),
        "reconciles": dict(reconciles),
        "reconciles_per_attempt": per_attempt(reconciles.get("PipelineRun", 0)),
        "reconciles_per_run": reconciles.get("PipelineRun", 0) / max(len(finished), 1),
        "operator_cpu_ms_per_run": cpu_ms / max(len(finished), 1),
        "writes_per_run": total / max(len(finished), 1),
        "writes_per_run_without_events": (total - events) / max(len(finished), 1),
        "operator_cpu_ms": cpu_ms,
        "operator_cpu_ms_per_attempt": per_attempt(cpu_ms),
        "runs_seen_running": len(STAMPS.run_seen_running & set(finished)),
        "rate_limit_wait_seconds": after.rate_limit_wait_seconds - before.rate_limit_wait_seconds,
        "operator_peak_rss_mib": after.peak_rss_mib,
        "operator_rss_mib_at_end": after.rss_mib,
        "not_measured": dict(missing),
    }


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_table(report: dict[str, Any]) -> None:
    rows = [
        ("runs finished / created", lambda f: f"{f['runs_finished']}/{f['runs']}"),
        ("runs per minute (goal ≥850 for 300 one-block runs)", lambda f: fmt(f["runs_per_minute"], 0)),
        ("run created→first pod p50 ms", lambda f: fmt(f["run_created_to_first_pod"]["p50_ms"], 0)),
        ("step ready→next pod p50 ms", lambda f: fmt(f["step_ready_to_next_pod"]["p50_ms"], 0)),
        ("step ready→next pod p95 ms (goal ≤250)", lambda f: fmt(f["step_ready_to_next_pod"]["p95_ms"], 0)),
        ("pod created→succeeded p50/p95 ms (scheduler, kwok)", lambda f: fmt(f["pod_created_to_succeeded"]["p50_ms"], 0) + "/" + fmt(f["pod_created_to_succeeded"]["p95_ms"], 0)),
        ("  of which the operator p50/p95 ms", lambda f: fmt(f["step_operator_part"]["p50_ms"], 0) + "/" + fmt(f["step_operator_part"]["p95_ms"], 0)),
        ("  of which Kubernetes p50/p95 ms", lambda f: fmt(f["step_kubernetes_part"]["p50_ms"], 0) + "/" + fmt(f["step_kubernetes_part"]["p95_ms"], 0)),
        ("operator CPU ms per run", lambda f: fmt(f["operator_cpu_ms_per_run"], 1)),
        ("API writes per run, all / without Events", lambda f: fmt(f["writes_per_run"], 1) + "/" + fmt(f["writes_per_run_without_events"], 1)),
        ("PipelineRun reconciles per run (goal ≤3 one-block)", lambda f: fmt(f["reconciles_per_run"], 2)),
        ("block attempts (Jobs)", lambda f: fmt(f["block_attempts"])),
        ("API writes per attempt, without Events (goal ≤3)", lambda f: fmt(f["writes_per_attempt_without_events"], 2)),
        ("API writes per attempt, with Events", lambda f: fmt(f["writes_per_attempt"], 2)),
        ("PipelineRun reconciles per attempt (goal ≤4)", lambda f: fmt(f["reconciles_per_attempt"], 2)),
        ("operator CPU ms per attempt", lambda f: fmt(f["operator_cpu_ms_per_attempt"], 1)),
        ("ready→Job created p50 ms", lambda f: fmt(f["ready_to_job_created"]["p50_ms"], 1)),
        ("ready→Job created p95 ms (goal <250)", lambda f: fmt(f["ready_to_job_created"]["p95_ms"], 1)),
        ("ready→Job created p99 ms", lambda f: fmt(f["ready_to_job_created"]["p99_ms"], 1)),
        ("Job complete→status p50 ms", lambda f: fmt(f["job_complete_to_status"]["p50_ms"], 1)),
        ("Job complete→status p95 ms", lambda f: fmt(f["job_complete_to_status"]["p95_ms"], 1)),
        ("(Job controller: SuccessCriteriaMet→Complete p50 ms)", lambda f: fmt(f["job_success_criteria_met_to_complete"]["p50_ms"], 1)),
        ("block attempts per second", lambda f: fmt(f["blocks_per_second"], 1)),
        ("runs seen Running (outlived --status-delay)", lambda f: fmt(f["runs_seen_running"])),
        ("requests' wait for --qps/--burst, s total", lambda f: fmt(f["rate_limit_wait_seconds"], 1)),
        ("operator peak RSS MiB (VmHWM)", lambda f: fmt(f["operator_peak_rss_mib"], 0)),
    ]  # fmt: skip
    names = list(report["workloads"])
    width = max(len(r[0]) for r in rows)
    print()
    print(f"{'':<{width}}  " + "  ".join(f"{n:>16}" for n in names))  # executor/workload
    for label, get in rows:
        cells = "  ".join(f"{get(report['workloads'][n]):>16}" for n in names)  # type: ignore[no-untyped-call]
        print(f"{label:<{width}}  {cells}")
    for n in names:
        w = report["workloads"][n]["writes"]
        print(f"writes by verb and resource, {n}: " + ", ".join(f"{k} {v}" for k, v in w.items()))
        r = report["workloads"][n]["reconciles"]
        print(f"reconciles by kind, {n}: " + ", ".join(f"{k} {v}" for k, v in sorted(r.items())))
    print(f"\nreport: {RESULTS.relative_to(ROOT)}")


# ----- main --------------------------------------------------------------------------------


def operator_process(
    namespace: str,
    max_blocks: int,
    name: str,
    executor: str = "pod",
    extra: tuple[str, ...] = (),
) -> OperatorProcess:
    """The operator the benchmarks measure: `runwright operator -n <namespace>`, a subprocess."""
    return OperatorProcess(
        KUBECONFIG,
        [namespace],
        ["--max-concurrent-blocks", str(max_blocks), "--executor", executor, *extra],
        LOG_DIR / f"{name}.log",
    )


def fresh_namespace(name: str) -> None:
    """Create a namespace and wait for its default service account (pods need it)."""
    kubectl("create", "namespace", name)
    deadline = time.monotonic() + 60
    while not kubectl("get", "sa", "-n", name, "--ignore-not-found", "-o", "name"):
        if time.monotonic() > deadline:
            raise SystemExit(f"no default service account in {name}")
        time.sleep(0.1)  # poll interval


async def bench_executor(
    args: argparse.Namespace, api: client.ApiClient, namespace: str, executor: str
) -> tuple[list[Workload], list[str]]:
    """Both workloads under one operator with `--executor executor`, in `namespace`."""
    custom = client.CustomObjectsApi(api)
    operator = operator_process(
        namespace,
        args.max_concurrent_blocks,
        f"operator-{executor}",
        executor,
        tuple(args.operator_arg),
    )
    watcher = Watcher(custom, namespace)
    watcher.start(client.CoreV1Api(api))
    workloads = [
        Workload(f"{executor}/diamond", f"{executor}-diamond", DIAMOND, args.diamond_runs),
        Workload(f"{executor}/single", f"{executor}-single", SINGLE, args.single_runs),
    ]
    in_flight = {"diamond": args.diamond_in_flight, "single": args.in_flight}
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
        print(f"[bench] {executor}: operator pid {operator.pid}, log {operator.log_path}")
        await settled(operator)
        for w in workloads:
            if w.runs <= 0:
                continue
            flight = in_flight[w.name.split("/")[1]]
            print(f"[bench] {w.name}: {w.runs} runs, at most {flight} in flight", flush=True)
            w.before = await settled(operator)
            await drive(w, custom, watcher, namespace, flight, args.timeout)
            w.after = await settled(operator)
    finally:
        await asyncio.to_thread(operator.stop)
        await watcher.stop()
    return workloads, operator.command()


async def bench(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    await config.load_kube_config(config_file=str(KUBECONFIG))
    api = client.ApiClient()
    workloads: list[Workload] = []
    commands: dict[str, str] = {}
    try:
        for executor in args.executors.split(","):
            space = f"{namespace}-{executor}"
            fresh_namespace(space)
            try:
                done, command = await bench_executor(args, api, space, executor)
            finally:
                if not args.keep_namespace:
                    with contextlib.suppress(Exception):
                        kubectl("delete", "namespace", space, "--wait=false")
            workloads.extend(done)
            commands[executor] = " ".join(command)
    finally:
        await api.close()
    return {
        **report_header("operator"),
        "settings": {
            "diamond_runs": args.diamond_runs,
            "diamond_in_flight": args.diamond_in_flight,
            "single_runs": args.single_runs,
            "in_flight": args.in_flight,
            "max_concurrent_blocks": args.max_concurrent_blocks,
            "executors": "pods or Jobs on the kwok node, pods succeed at once",
            "operators": commands,
            "kubeconfig": str(KUBECONFIG),
        },
        "goals": {
            "step_ready_to_next_pod_p95_ms": 250,
            "writes_per_attempt_without_events": 3,
            "reconciles_per_one_block_run": 3,
            "one_block_runs_per_minute": 850,
        },
        "workloads": {w.name: figures(w) for w in workloads if w.runs > 0},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executors", default="pod,job",
                        help="executors to measure, in order (default pod,job)")  # fmt: skip
    parser.add_argument("--diamond-runs", type=int, default=60, metavar="N")
    parser.add_argument("--diamond-in-flight", type=int, default=20, metavar="N",
                        help="diamond runs unfinished at once (default 20)")  # fmt: skip
    parser.add_argument("--single-runs", type=int, default=300, metavar="N")
    parser.add_argument("--operator-arg", action="append", default=[], metavar="ARG",
                        help="one more flag of the measured operator, repeatable: "
                        "--operator-arg=--status-delay=0, or --operator-arg=--no-leader-elect "
                        "on a machine too loaded for the Lease's 7 s renew deadline")  # fmt: skip
    parser.add_argument("--in-flight", type=int, default=50, metavar="N",
                        help="runs unfinished at once (closed loop; default 50)")  # fmt: skip
    parser.add_argument("--max-concurrent-blocks", type=int, default=500, metavar="N",
                        help="the operator's global block budget (default 500; 0: none)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=420.0,
                        help="seconds per workload before giving up (default 420)")  # fmt: skip
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
    started it (never one in RUNWRIGHT_TEST_KUBECONFIG). Shared by every operator-level
    benchmark.
    """
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
