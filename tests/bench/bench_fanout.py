"""A 5,000-item fan-out run on the control plane: time to finish, and the run object's size.

A benchmark, not a test: it prints figures and writes bench/results/fanout.json.
Issue 15's goal, reported against (never asserted): a run with a 5,000-item forEach
block completes, and its PipelineRun stays under 512 KiB.

    python tests/bench/bench_fanout.py [--items 5000] [--parallel 200] [--budget 200]

Setup as bench_operator.py: the control plane in RUNWRIGHT_TEST_KUBECONFIG, else the
local one (started and stopped here if it was not running); a fresh namespace; the
operator a subprocess (Pod executor, --max-concurrent-blocks BUDGET). The Pipeline is
list -> each (forEach over ITEMS numbers written out, each item's pod reporting
`{"rows": "1200"}` on kwok) -> after (reading the rows list). The run is read every
few seconds: its object's size as compact JSON (what the API server stores; kubectl's
indented output is reported too), the largest seen, and the items by phase.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_operator import IMAGE, KUBECONFIG, LOG_DIR, ROOT, kubectl, on_bench_cluster

sys.path.insert(0, str(ROOT))
from hack import kwokstages
from hack.operator_process import OperatorProcess

RESULTS = ROOT / "bench" / "results" / "fanout.json"
#: Seconds between reads of the run (a benchmark's poll, not a test's wait).
POLL = 3.0


def pipeline(items: int, parallel: int) -> dict[str, Any]:
    outputs = json.dumps({"outputs": {"rows": "1200"}})
    return {
        "apiVersion": "runwright.dev/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "fanout"},
        "spec": {
            "template": {"image": IMAGE, "annotations": {kwokstages.DURATION: "1s"}},
            "blocks": [
                {"name": "list", "command": ["list"]},
                {
                    "name": "each",
                    "upstream": ["list"],
                    "command": ["count"],
                    "args": ["{{ item }}", "{{ item.index }}"],
                    "forEach": {"items": json.dumps(list(range(items))), "maxParallel": parallel},
                    "annotations": {kwokstages.MESSAGE: outputs},
                },
                {
                    "name": "after",
                    "upstream": ["each"],
                    "command": ["sum"],
                    "args": ["{{ blocks.each.outputs.rows }}"],
                },
            ],
        },
    }


def compact(value: Any) -> int:
    """Bytes of `value` as compact JSON: what the API server stores of an object."""
    return len(json.dumps(value, separators=(",", ":")).encode())


def apply(namespace: str, body: dict[str, Any]) -> None:
    path = LOG_DIR / f"{body['kind'].lower()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(body))
    kubectl("apply", "--server-side", "-n", namespace, "-f", str(path))


def measure(namespace: str, args: argparse.Namespace) -> dict[str, Any]:
    operator = OperatorProcess(
        KUBECONFIG,
        [namespace],
        ["--max-concurrent-blocks", str(args.budget)],
        log_path=LOG_DIR / "operator-fanout.log",
    )
    operator.start()
    try:
        apply(namespace, pipeline(args.items, args.parallel))
        run = {
            "apiVersion": "runwright.dev/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": "fanout-1"},
            "spec": {"pipelineRef": {"name": "fanout"}},
        }
        start = time.monotonic()
        apply(namespace, run)
        largest, body = 0, {}
        while True:
            text = kubectl("get", "plr", "fanout-1", "-n", namespace, "-o", "json")
            body = json.loads(text)
            largest = max(largest, compact(body))
            st = body.get("status") or {}
            each = (st.get("blocks") or {}).get("each") or {}
            counts = (each.get("items") or {}).get("counts")
            print(f"{time.monotonic() - start:7.1f}s {st.get('phase')} each: {counts}", flush=True)
            if st.get("phase") in ("Succeeded", "Failed", "Cancelled"):
                break
            if time.monotonic() - start > args.timeout:
                raise SystemExit(f"the run did not finish in {args.timeout}s")
            time.sleep(POLL)
        seconds = time.monotonic() - start
        text = kubectl("get", "plr", "fanout-1", "-n", namespace, "-o", "json")
        body = json.loads(text)
        meta = body["metadata"]
        return {
            "items": args.items,
            "maxParallel": args.parallel,
            "budget": args.budget,
            "phase": body["status"]["phase"],
            "seconds": round(seconds, 1),
            "items_per_second": round(args.items / seconds, 1),
            "run_object_bytes": compact(body),
            "run_object_bytes_largest_seen": largest,
            "run_object_bytes_kubectl_indented": len(text.encode()),
            "status_bytes": compact(body["status"]),
            "frozen_spec_bytes": compact(body["status"]["pipelineSpec"]),
            "managed_fields_bytes": compact(meta.get("managedFields") or []),
            "goal_bytes": 512 * 1024,
            "each": body["status"]["blocks"]["each"]["items"]["counts"],
        }
    finally:
        operator.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--parallel", type=int, default=200)
    parser.add_argument("--budget", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--keep-namespace", action="store_true")
    args = parser.parse_args()
    figures = on_bench_cluster("bench-fanout", args.keep_namespace, lambda ns: measure(ns, args))
    for key, value in figures.items():
        print(f"{key:>30}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "fanout", **figures}, indent=2))
    print(f"report: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
