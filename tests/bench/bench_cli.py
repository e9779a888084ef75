"""`kubectl runwright list` at scale: 10,000 runs in the cluster, 1,000,000 archived.

A benchmark, not a test: it prints figures and writes bench/results/cli.json.
On the local control plane (or RUNWRIGHT_TEST_KUBECONFIG's), in a fresh namespace:
create N PipelineRuns with a realistic status (4 blocks, a frozen pipeline spec,
metrics; written through the status subresource, no operator running), fill an
SQLite archive with M runs of the same namespace (bench_archive's bulk load, the
migration's indexes), then time the first page (`--limit 50`) of `list` as a user
runs it: the `kubectl-runwright` process, start to exit, p50/max over repeats
(goal: under 2 s), for the cluster alone, cluster + archive, a phase filter the
API server applies, and the sorts by duration and cost (the Table's `-o wide`
columns). The cluster is read as one Table answer plus a GET per row shown, the
archive by one keyset page and counts capped per phase.

    python tests/bench/bench_cli.py [--cluster-runs N] [--archived-runs M] [--repeat R]
        [--keep-namespace] [--reuse NAMESPACE] [--archive-file PATH] [--namespace NS]

Creating 10,000 runs and a million archived ones takes minutes of a shared machine's
CPU: `--keep-namespace --archive-file F` keeps both, and `--reuse NAMESPACE
--archive-file F` measures them again without making them anew; `--namespace NS
--archive-file F` makes the cluster's runs (on a new control plane) in the namespace
an existing archive file was filled for. Every figure is printed with the load
average at the time (the machine may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench import bench_archive  # noqa: E402
from tests.bench.bench_operator import (  # noqa: E402
    KUBECONFIG,
    cluster_up,
    kubectl,
    on_bench_cluster,
    report_header,
)

from runwright import labels  # noqa: E402
from runwright.archive import migrate  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "cli.json"
PLUGIN = str(Path(sys.executable).with_name("kubectl-runwright"))
BLOCKS = ["extract", "clean", "load", "report"]
NOW = datetime.now(UTC).replace(microsecond=0)
#: Requests in flight while creating the runs.
CONCURRENCY = 32


def run_body(i: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A PipelineRun (without status) and the status the operator would have written."""
    phase = "Failed" if i % 10 == 0 else "Succeeded"
    started = NOW - timedelta(minutes=i)
    finished = started + timedelta(seconds=60 + i % 120)
    body = {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {
            "name": f"etl-{i:05d}",
            "labels": {labels.PIPELINE: f"etl-{i % 10}", labels.PHASE: phase},
        },
        "spec": {"pipelineRef": {"name": f"etl-{i % 10}"}, "triggeredBy": "Schedule"},
    }
    stamp = started.strftime("%Y-%m-%dT%H:%M:%SZ")
    end = finished.strftime("%Y-%m-%dT%H:%M:%SZ")
    status = {
        "phase": phase,
        "reason": "BlockFailed" if phase == "Failed" else "",
        "message": "block load failed: connection refused"
        if phase == "Failed"
        else "all blocks finished",
        "startedAt": stamp,
        "completedAt": end,
        "durationSeconds": int((finished - started).total_seconds()),
        "progress": "3/4" if phase == "Failed" else "4/4",
        "metrics": {"itemsProcessed": 1000 + i, "cost": round(0.01 * (i % 50), 2)},
        "pipelineSpec": {
            "template": {"image": "registry.invalid/etl:1"},
            "blocks": [
                {
                    "name": b,
                    "command": ["python", "-m", f"etl.{b}"],
                    **({"upstream": [BLOCKS[n - 1]]} if n else {}),
                }
                for n, b in enumerate(BLOCKS)
            ],
        },
        "blocks": {
            b: {
                "phase": "Failed" if phase == "Failed" and b == "load" else "Succeeded",
                "attempt": 1,
                "job": f"etl-{i:05d}-{b}-1",
                "startedAt": stamp,
                "completedAt": end,
                "exitCode": 0,
            }
            for b in BLOCKS
        },
    }
    return body, status


async def create_runs(namespace: str, count: int) -> float:
    """Create `count` runs with their status; seconds it took."""
    api = await config.new_client_from_config(config_file=str(KUBECONFIG))
    custom = client.CustomObjectsApi(api)
    gate = asyncio.Semaphore(CONCURRENCY)
    began = time.monotonic()

    async def one(i: int) -> None:
        body, status = run_body(i)
        async with gate:
            await custom.create_namespaced_custom_object(
                labels.GROUP, labels.VERSION, namespace, "pipelineruns", body
            )
            await custom.patch_namespaced_custom_object_status(
                labels.GROUP,
                labels.VERSION,
                namespace,
                "pipelineruns",
                body["metadata"]["name"],
                {"status": status},
                _content_type="application/merge-patch+json",
            )

    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        await api.close()
    return time.monotonic() - began


def fill_archive(path: Path, namespace: str, count: int) -> float:
    """An SQLite archive of `count` runs, all in `namespace`; seconds it took."""
    began = time.monotonic()
    asyncio.run(migrate(f"sqlite:///{path}"))
    bench_archive.NAMESPACES = [namespace]  # generate() draws namespaces from here
    bench_archive.fill_sqlite(path, count)
    return time.monotonic() - began


def load() -> float:
    """The 1-minute load average now (next to each figure: the machine may be shared)."""
    return round(os.getloadavg()[0], 2)


def timed(args: list[str], repeat: int) -> dict[str, Any]:
    """The plugin process, start to exit: p50 and max seconds, and its last output's tail."""
    samples, cpu, out = [], [], ""
    before = load()
    for _ in range(repeat):
        began, used = time.monotonic(), _children_cpu()
        proc = subprocess.run(
            [PLUGIN, *args], capture_output=True, text=True, check=False, timeout=600
        )
        samples.append(time.monotonic() - began)
        cpu.append(_children_cpu() - used)
        if proc.returncode != 0:
            raise SystemExit(f"kubectl-runwright {' '.join(args)} failed: {proc.stderr}")
        out = proc.stdout
    return {
        "p50_s": round(statistics.median(samples), 3),
        "cpu_p50_s": round(statistics.median(cpu), 3),
        "max_s": round(max(samples), 3),
        "rows": max(len(out.splitlines()) - 2, 0),
        "footer": out.strip().splitlines()[-1] if out.strip() else "",
        "load_before": before,
        "load_after": load(),
    }


def _children_cpu() -> float:
    """CPU seconds (user + system) of finished child processes so far: on a loaded machine
    the process's own work, apart from the time it waited for a CPU."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def startup(repeat: int) -> float:
    """The plugin's own start-up (imports) with nothing to do: `--help`."""
    samples = []
    for _ in range(repeat):
        began = time.monotonic()
        subprocess.run([PLUGIN, "list", "--help"], capture_output=True, check=True)
        samples.append(time.monotonic() - began)
    return round(statistics.median(samples), 3)


def bench(namespace: str, args: argparse.Namespace) -> dict[str, Any]:
    created = 0.0
    if args.reuse is None:
        created = asyncio.run(create_runs(namespace, args.cluster_runs))
        print(f"created {args.cluster_runs} runs in {created:.1f}s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.archive_file or Path(tmp) / "archive.db"
        filled = 0.0
        if not path.exists():
            filled = fill_archive(path, namespace, args.archived_runs)
            print(f"archived {args.archived_runs} runs in {filled:.1f}s", flush=True)
        base = ["list", f"--kubeconfig={KUBECONFIG}", "-n", namespace, "--limit", "50"]
        archive = ["--archived", "--archive", f"sqlite:///{path}"]
        cases = {
            "cluster, newest started": base,
            "cluster + archive, newest started": [*base, *archive],
            "cluster + archive, phase Failed": [*base, *archive, "--phase", "Failed"],
            "cluster, longest duration": [*base, "--sort", "duration"],
            "cluster + archive, longest duration": [*base, *archive, "--sort", "duration"],
            "cluster + archive, highest cost": [*base, *archive, "--sort", "cost"],
        }
        results = {name: timed(case, args.repeat) for name, case in cases.items()}
    return {
        "cluster_runs": args.cluster_runs,
        "archived_runs": args.archived_runs,
        "create_s": round(created, 1),
        "archive_fill_s": round(filled, 1),
        "startup_s": startup(args.repeat),
        "startup_load": load(),
        "first_page": results,
    }


def in_namespace(namespace: str, args: argparse.Namespace) -> dict[str, Any]:
    """`bench` with the runs made in a namespace of the caller's choosing, kept afterwards
    (an archive file holds its runs' namespace: a new cluster's runs must share it)."""
    cluster_up()
    crds = sorted((ROOT / "crds").glob("*.yaml"))
    kubectl("apply", "--server-side", "--force-conflicts", *(f"-f={f}" for f in crds))
    kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    if not kubectl("get", "namespace", namespace, "--ignore-not-found", "-o", "name"):
        kubectl("create", "namespace", namespace)
    return bench(namespace, args)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cluster-runs", type=int, default=10_000)
    parser.add_argument("--archived-runs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-namespace", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--reuse", metavar="NAMESPACE", help="measure the runs a --keep-namespace run left here"
    )
    parser.add_argument(
        "--archive-file", type=Path, help="the SQLite archive: filled when missing, else reused"
    )
    parser.add_argument(
        "--namespace",
        help="make the runs in this namespace (created when missing, kept): the one an"
        " existing --archive-file was filled for",
    )
    args = parser.parse_args()
    if args.namespace is not None:
        measured = {"namespace": args.namespace, **in_namespace(args.namespace, args)}
    elif args.reuse is not None:
        measured = {"namespace": args.reuse, **bench(args.reuse, args)}
    else:
        measured = on_bench_cluster("bench-cli", args.keep_namespace, lambda ns: bench(ns, args))
    report = {**report_header("cli"), **measured}
    print(f"plugin start-up (imports, list --help): {report['startup_s']} s"
          f" (load {report['startup_load']})")  # fmt: skip
    print(f"{'first page of list (--limit 50)':40} {'p50 s':>7} {'max s':>7} {'cpu s':>7}"
          f" {'load':>11}  footer")  # fmt: skip
    for name, f in report["first_page"].items():
        print(f"{name:40} {f['p50_s']:7.3f} {f['max_s']:7.3f} {f['cpu_p50_s']:7.3f}"
              f" {f['load_before']:5.2f}-{f['load_after']:<5.2f}  {f['footer']}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"report: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
