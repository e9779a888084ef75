"""A flood of invalid objects against a real operator: its peak memory, and any traceback.

On the operator of issue 16, 74 broken manifests made it log 7 tracebacks and reach a
peak RSS of 1.66 GB. This applies 500 invalid objects (every case of
tests/integration/invalid_cases.py in turn, each under a fresh name, plus runs of the
not-Ready Pipelines and a few large Pipelines full of template attacks) to one
namespace watched by a `runwright operator` subprocess, waits until the operator has
judged every object that reached it, and prints:

- how many objects the API server refused at apply time and how many reached the
  operator (and got Ready=False, or a Failed run);
- the operator's peak RSS (VmHWM from /proc/<pid>/status) and its RSS before the flood;
- the slowest /healthz answer during the flood (the event loop was never blocked long);
- whether its log holds a traceback.

Figures, not assertions (tests/integration/test_invalid_objects.py asserts). Run it on
your own control plane (`make cluster-up`), or set RUNWRIGHT_TEST_KUBECONFIG:

    make bench-invalid            # or: python tests/bench/bench_invalid.py --objects 500
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # hack/ and tests/ are importable from the repository root
from tests.integration.invalid_cases import (  # noqa: E402
    API,
    CASES,
    TEMPLATE_ATTACKS,
    pipeline,
)

from hack.operator_process import OperatorProcess  # noqa: E402

CLUSTER = ROOT / ".cluster"
RESULTS = ROOT / "bench" / "results" / "invalid.json"
#: Objects per `kubectl apply` call.
BATCH = 50
#: How long the operator may take to judge everything that reached it.
SETTLE_TIMEOUT = 300.0


def kubectl_binary() -> str:
    local = CLUSTER / "bin" / "kubectl"
    return str(local) if local.exists() else (shutil.which("kubectl") or "kubectl")


class Kubectl:
    def __init__(self, kubeconfig: Path) -> None:
        self.base = [kubectl_binary(), "--kubeconfig", str(kubeconfig)]

    def __call__(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(
            [*self.base, *args], input=stdin, capture_output=True, text=True, check=False
        )
        if check and res.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
        return res


def big_attack(name: str) -> dict[str, Any]:
    """A Pipeline of 100 blocks, each with an 8 KiB template the language refuses."""
    attack = "{{ '" + "x" * 8000 + "' * 300000000 }}"
    blocks = [{"name": f"b{i}", "args": [attack]} for i in range(100)]
    return pipeline(name, blocks=blocks)


def objects(count: int) -> list[dict[str, Any]]:
    """`count` invalid objects: the cases in turn, runs of not-Ready Pipelines, big ones."""
    out: list[dict[str, Any]] = []
    i = 0
    while len(out) < count:
        case = CASES[i % len(CASES)]
        name = f"{case.id}-{i}"
        out.append(case.make(name))
        if not case.refused:
            out.append(
                {
                    "apiVersion": API,
                    "kind": "PipelineRun",
                    "metadata": {"name": f"run-{name}"},
                    "spec": {"pipelineRef": {"name": name}},
                }
            )
        if i % 50 == 0:
            out.append(big_attack(f"big-{i}"))
        i += 1
    return out[:count]


def memory_mib(pid: int) -> dict[str, float]:
    """VmHWM (peak) and VmRSS of a process, in MiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(rest.split()[0]) / 1024
    return out


class HealthProbe(threading.Thread):
    """Asks /healthz in a loop and keeps the slowest answer (the event loop's worst stall)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.slowest = 0.0
        self.failures = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as resp:
                    resp.read()
            except OSError:
                self.failures += 1
            self.slowest = max(self.slowest, time.monotonic() - began)
            self.stopping.wait(0.2)


def judged(kubectl: Kubectl, ns: str) -> tuple[int, int, int, int]:
    """(Pipelines, of them Ready=False, runs, of them Failed) in the namespace."""
    res = kubectl("get", "pipelines,pipelineruns", "-n", ns, "-o", "json")
    pipelines = not_ready = runs = failed = 0
    for item in json.loads(res.stdout)["items"]:
        st = item.get("status") or {}
        if item["kind"] == "Pipeline":
            pipelines += 1
            ready = next((c for c in st.get("conditions") or [] if c["type"] == "Ready"), None)
            not_ready += ready is not None and ready["status"] == "False"
        else:
            runs += 1
            failed += st.get("phase") == "Failed"
    return pipelines, not_ready, runs, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--objects", type=int, default=500, help="invalid objects to apply")
    args = parser.parse_args()
    kubeconfig = Path(os.environ.get("RUNWRIGHT_TEST_KUBECONFIG") or CLUSTER / "kubeconfig")
    if not kubeconfig.exists():
        print(f"no control plane: {kubeconfig} is missing (run `make cluster-up`)")
        return 2
    kubectl = Kubectl(kubeconfig)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    ns = f"bench-invalid-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", ns)
    log_path = CLUSTER / "operators" / f"{ns}.log"
    operator = OperatorProcess(kubeconfig, [ns], [], log_path)
    probe: HealthProbe | None = None
    try:
        operator.start()
        before = memory_mib(operator.pid)
        probe = HealthProbe(f"{operator.url}/healthz")
        probe.start()
        flood = objects(args.objects)
        refused = 0
        started = time.monotonic()
        for at in range(0, len(flood), BATCH):
            batch = flood[at : at + BATCH]
            res = kubectl(
                "apply",
                "--server-side",
                "-n",
                ns,
                "-f",
                "-",
                stdin=yaml.safe_dump_all(batch),
                check=False,
            )
            applied = sum(1 for line in res.stdout.splitlines() if "serverside-applied" in line)
            refused += len(batch) - applied
        applied_seconds = time.monotonic() - started
        reached = len(flood) - refused
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            pipelines, not_ready, runs, failed = judged(kubectl, ns)
            if (not_ready == pipelines and failed == runs) or time.monotonic() > deadline:
                break
            time.sleep(2)  # polling the API server for the operator's verdicts
        settled_seconds = time.monotonic() - started
        after = memory_mib(operator.pid)
    finally:
        if probe is not None:
            probe.stopping.set()
        operator.stop()
        kubectl("delete", "namespace", ns, "--wait=false", check=False)
    log = log_path.read_text(errors="replace")
    figures = {
        "objects": len(flood),
        "refused_at_apply": refused,
        "reached_the_operator": reached,
        "pipelines": pipelines,
        "pipelines_ready_false": not_ready,
        "runs": runs,
        "runs_failed": failed,
        "apply_seconds": round(applied_seconds, 1),
        "settled_seconds": round(settled_seconds, 1),
        "operator_rss_before_mib": round(before["VmRSS"], 1),
        "operator_peak_rss_mib": round(after["VmHWM"], 1),
        "operator_rss_after_mib": round(after["VmRSS"], 1),
        "slowest_healthz_seconds": round(probe.slowest if probe else 0.0, 3),
        "healthz_failures": probe.failures if probe else 0,
        "tracebacks": log.count("Traceback"),
        "template_attacks": sorted(TEMPLATE_ATTACKS),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"  {key:<{width}}  {value}")
    print(f"  (operator log: {log_path}; figures: {RESULTS})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
