"""A 1,000-block Pipeline on the local control plane: accepted, run to the end, its size.

A benchmark, not a test: it prints figures and writes bench/results/bigdag.json.
Issue 15's goal (reported against, never asserted): a 1,000-block Pipeline completes
on the bundled control plane, its PipelineRun object under 512 KiB.

    python tests/bench/bench_bigdag.py [--layers 10] [--width 100] [--fan-in 5]
        [--max-concurrent-blocks 200]

The DAG: `layers` layers of `width` blocks; each block of a layer after the first
depends on `fan-in` blocks of the layer before (a fixed random choice). Pods on the
kwok node succeed at once, so the figures are the operator's and the control plane's.

Setup as bench_operator.py: the control plane in RUNWRIGHT_TEST_KUBECONFIG, else the
local one (started here when not running, and stopped at the end); crds/ applied, a
fresh namespace, the operator a subprocess (`--max-concurrent-blocks N`).

Figures: the Pipeline's apply and its time to Ready; the run's wall time (create to
the bench seeing it finished, and the run's own startedAt to completedAt); the
operator's PipelineRun reconciles, API writes by verb and resource, CPU seconds and
peak RSS over the run; the PipelineRun object's size as the API server returns it
(compact JSON), split into the frozen spec and the blocks' status, next to
engine/run_size.py's worst-case estimate; and `kubectl get plr` (printer columns).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

from bench_operator import (
    LOG_DIR,
    ROOT,
    kubectl,
    on_bench_cluster,
    operator_process,
    report_header,
    settled,
    writes,
)

from runwright import labels
from runwright.api.pipeline import PipelineSpec
from runwright.engine import run_size

RESULTS = ROOT / "bench" / "results" / "bigdag.json"
IMAGE = "registry.invalid/bench:1"
FINISHED = {"Succeeded", "Failed", "Cancelled"}


def layered_blocks(layers: int, width: int, fan_in: int, seed: int = 15) -> list[dict[str, Any]]:
    """`layers` x `width` blocks, each depending on `fan_in` blocks of the layer before."""
    rng = random.Random(seed)
    blocks: list[dict[str, Any]] = []
    for layer in range(layers):
        for i in range(width):
            block: dict[str, Any] = {"name": f"l{layer}-b{i}", "command": ["run"]}
            if layer:
                picks = rng.sample(range(width), min(fan_in, width))
                block["upstream"] = [f"l{layer - 1}-b{j}" for j in sorted(picks)]
            blocks.append(block)
    return blocks


def manifest(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def apply(namespace: str, body: dict[str, Any]) -> float:
    """kubectl create from a file; the seconds it took."""
    path = LOG_DIR / f"{body['metadata']['name']}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    start = time.monotonic()
    kubectl("create", "-n", namespace, "-f", str(path))
    return time.monotonic() - start


def get(namespace: str, kind: str, name: str) -> dict[str, Any]:
    return dict(json.loads(kubectl("get", kind, name, "-n", namespace, "-o", "json")))


def compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def wait(what: str, check: Any, timeout: float, interval: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)  # poll interval: each poll reads a large object
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")


def ready(namespace: str) -> dict[str, Any] | None:
    conditions = (get(namespace, "pipeline", "bigdag").get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == "Ready"), None)


def finished(namespace: str, name: str) -> dict[str, Any] | None:
    body = get(namespace, "pipelinerun", name)
    return body if (body.get("status") or {}).get("phase") in FINISHED else None


async def bench(args: argparse.Namespace, namespace: str) -> dict[str, Any]:
    blocks = layered_blocks(args.layers, args.width, args.fan_in)
    spec = {"template": {"image": IMAGE}, "blocks": blocks}
    pipeline = manifest("Pipeline", "bigdag", spec)
    operator = operator_process(namespace, args.max_concurrent_blocks, "operator-bigdag")
    apply_seconds = apply(namespace, pipeline)
    print(f"[bench] Pipeline of {len(blocks)} blocks applied in {apply_seconds:.2f}s")
    await asyncio.to_thread(operator.start)
    print(f"[bench] operator pid {operator.pid}, log {operator.log_path}")
    try:
        start = time.monotonic()
        condition = wait("Ready", lambda: ready(namespace), args.timeout)
        ready_seconds = time.monotonic() - start
        print(
            f"[bench] Ready {condition['status']} ({condition['reason']}) in {ready_seconds:.1f}s"
        )
        if condition["status"] != "True":
            raise SystemExit(f"the Pipeline is not Ready: {condition['message']}")
        before = await settled(operator)
        start = time.monotonic()
        apply(namespace, manifest("PipelineRun", "bigdag-1", {"pipelineRef": {"name": "bigdag"}}))
        run = wait("the run to finish", lambda: finished(namespace, "bigdag-1"), args.timeout)
        wall = time.monotonic() - start
        after = await settled(operator)
        columns = kubectl("get", "pipelinerun", "bigdag-1", "-n", namespace)
    finally:
        await asyncio.to_thread(operator.stop)
    status = run["status"]
    sizes = {
        "object_bytes": compact(run),
        "status_bytes": compact(status),
        "frozen_spec_bytes": compact(status.get("pipelineSpec")),
        "blocks_status_bytes": compact(status.get("blocks")),
        "metadata_bytes": compact(run["metadata"]),
        "estimate_worst_bytes": run_size.worst_run_bytes(PipelineSpec.model_validate(spec)),
        "estimate_limit_bytes": run_size.MAX_RUN_BYTES,
        "pipeline_object_bytes": compact(get(namespace, "pipeline", "bigdag")),
    }
    reconciles = after.reconciles - before.reconciles
    return {
        **report_header("bigdag"),
        "settings": {
            "layers": args.layers,
            "width": args.width,
            "fan_in": args.fan_in,
            "blocks": len(blocks),
            "max_concurrent_blocks": args.max_concurrent_blocks,
            "operator": " ".join(operator.command()),
        },
        "goals": {"object_bytes": 512 * 1024},
        "phase": status.get("phase"),
        "progress": status.get("progress"),
        "pipeline_apply_seconds": apply_seconds,
        "pipeline_ready_seconds": ready_seconds,
        "run_wall_seconds": wall,
        "run_duration_seconds": status.get("durationSeconds"),
        "reconciles": dict(reconciles),
        "writes": dict(writes(after.requests - before.requests)),
        "operator_cpu_seconds": after.cpu_seconds - before.cpu_seconds,
        "operator_peak_rss_mib": after.peak_rss_mib,
        "sizes": sizes,
        "printer_columns": columns,
    }


def print_report(report: dict[str, Any]) -> None:
    sizes = report["sizes"]
    kib = 1024
    rows = [
        ("blocks", report["settings"]["blocks"]),
        ("phase / progress", f"{report['phase']} {report['progress']}"),
        ("Pipeline apply s", f"{report['pipeline_apply_seconds']:.2f}"),
        ("Pipeline Ready s", f"{report['pipeline_ready_seconds']:.1f}"),
        ("run wall s (create -> seen finished)", f"{report['run_wall_seconds']:.1f}"),
        ("run durationSeconds", report["run_duration_seconds"]),
        ("PipelineRun reconciles", report["reconciles"].get("PipelineRun", 0)),
        ("API writes", sum(report["writes"].values())),
        (
            "operator CPU s / peak RSS MiB",
            f"{report['operator_cpu_seconds']:.1f} / {report['operator_peak_rss_mib']:.0f}",
        ),
        ("PipelineRun object KiB (goal < 512)", f"{sizes['object_bytes'] / kib:.1f}"),
        ("  frozen spec KiB", f"{sizes['frozen_spec_bytes'] / kib:.1f}"),
        ("  blocks' status KiB", f"{sizes['blocks_status_bytes'] / kib:.1f}"),
        ("  metadata KiB", f"{sizes['metadata_bytes'] / kib:.1f}"),
        (
            "run_size worst-case estimate KiB (limit)",
            f"{sizes['estimate_worst_bytes'] / kib:.0f} "
            f"({sizes['estimate_limit_bytes'] / kib:.0f})",
        ),
        ("Pipeline object KiB", f"{sizes['pipeline_object_bytes'] / kib:.1f}"),
    ]
    for label, value in rows:
        print(f"{label:<44} {value}")
    print("writes: " + ", ".join(f"{k} {v}" for k, v in sorted(report["writes"].items())))
    print(report["printer_columns"].rstrip())
    print(f"report: {RESULTS.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=10)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--fan-in", type=int, default=5)
    parser.add_argument("--max-concurrent-blocks", type=int, default=200, metavar="N")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep-namespace", action="store_true")
    args = parser.parse_args(argv)
    report = on_bench_cluster(
        "rw-bigdag", args.keep_namespace, lambda namespace: asyncio.run(bench(args, namespace))
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
