#!/usr/bin/env python3
"""`make demo`: the example pipelines run by the operator on the local control plane.

    .venv/bin/python hack/demo.py [--keep-cluster] [--timeout SECONDS]

1. the local control plane: reused when `make cluster-up` already runs one, else
   built (Go, cached) and started here (RUNWRIGHT_TEST_KUBECONFIG: use that running
   control plane instead, as the tests and benchmarks do);
2. crds/ applied (waiting for Established), namespace `runwright-demo` (runs of an
   earlier demo in it are deleted);
3. the operator, `runwright operator -n runwright-demo --executor local`, started by
   hack/operator_process.py (the launcher the tests and benchmarks use): blocks run
   as real local processes of the operator, every state change is written to the
   PipelineRuns (its log: .cluster/demo/operator.log);
4. every Pipeline in examples/ applied, one PipelineRun per pipeline (two for
   `conditional`: env=prod and env=dev), shown live until all have finished;
5. `kubectl get plr -n runwright-demo`, then the operator is stopped, and the
   control plane too if this script started it (--keep-cluster keeps it).

The operator archives every run (`--archive`) into an SQLite file outside the
control plane's directory, $RUNWRIGHT_CACHE/demo-archive.db (else
~/.cache/runwright/demo-archive.db): the demo waits until the archive has
confirmed every run and lists what it holds, and those runs are still there
after the demo (and its control plane) are gone. See docs/archive.md.

Exit status: 0 when every run ended with the expected phases, 1 otherwise, 2 when
the demo could not be set up (e.g. no Go to build the control plane).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from operator_process import OperatorProcess, OperatorStartError  # hack/, beside this script

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / ".cluster"
#: RUNWRIGHT_TEST_KUBECONFIG (as for the tests and benchmarks): a running control plane
#: to use instead of this checkout's .cluster/; it is never started or stopped here.
EXTERNAL_KUBECONFIG = os.environ.get("RUNWRIGHT_TEST_KUBECONFIG")
KUBECONFIG = Path(EXTERNAL_KUBECONFIG) if EXTERNAL_KUBECONFIG else CLUSTER / "kubeconfig"
#: The control plane's own kubectl (.cluster/bin); for another one without it, PATH's.
KUBECTL = KUBECONFIG.parent / "bin" / "kubectl"
if EXTERNAL_KUBECONFIG and not KUBECTL.exists():
    KUBECTL = Path(shutil.which("kubectl") or KUBECTL)
DEMO_DIR = CLUSTER / "demo"
#: The demo's run archive: outside .cluster/ (which `make cluster-up` wipes).
ARCHIVE_DB = (
    Path(os.environ.get("RUNWRIGHT_CACHE") or Path.home() / ".cache" / "runwright")
    / "demo-archive.db"
)
ARCHIVED = "runwright.dev/archived"  # = runwright.controller.archiver.ARCHIVED
NAMESPACE = "runwright-demo"
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
FINISHED = {"Succeeded", "Failed", "Cancelled"}
NO_GO = "make demo needs Go to build the control plane; try make demo-local"


class DemoError(Exception):
    """The demo could not be set up; the message says why."""


@dataclass
class Expected:
    """One run the demo creates and what it should end as."""

    pipeline: str
    variables: dict[str, str] = field(default_factory=dict)
    phase: str = "Succeeded"
    blocks: dict[str, str] = field(default_factory=dict)
    """Block phases that must hold at the end (the others: Succeeded)."""


EXPECTED = (
    Expected("diamond-etl"),
    Expected(
        "conditional",
        {"env": "prod"},
        blocks={"deploy-sandbox": "ConditionFailed", "smoke-test": "ConditionFailed"},
    ),
    Expected(
        "conditional",
        {"env": "dev"},
        blocks={"deploy-prod": "ConditionFailed", "announce": "ConditionFailed"},
    ),
    Expected("flaky-retries", blocks={"lint": "Failed"}),
    Expected("fanout-files"),
)


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def kube_env() -> dict[str, str]:
    return {**os.environ, "KUBECONFIG": str(KUBECONFIG)}


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(
        [str(KUBECTL), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=kube_env(),
        check=False,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def hack(script: str, *args: str, quiet: bool = False) -> int:
    """Run a hack/ script with this Python; its output goes to the terminal unless quiet."""
    out = subprocess.DEVNULL if quiet else None
    return subprocess.run(
        [sys.executable, str(ROOT / "hack" / script), *args],
        cwd=ROOT,
        env={**os.environ, "GOTOOLCHAIN": "local"},
        stdout=out,
        stderr=out,
        check=False,
    ).returncode


# ----- the control plane and the CRDs --------------------------------------------------


def cluster_up() -> bool:
    """Reuse a healthy control plane or start one; True when started here."""
    if EXTERNAL_KUBECONFIG:
        say(f"using the control plane of RUNWRIGHT_TEST_KUBECONFIG ({KUBECONFIG})")
        kubectl("get", "namespaces", "-o", "name")  # reachable, or DemoError
        return False
    if hack("cluster.py", "status", quiet=True) == 0:
        say("reusing the running local control plane (.cluster/)")
        return False
    cached = all((CLUSTER / "bin" / tool).exists() for tool in TOOLS)
    if shutil.which("go") is None and not cached:
        raise DemoError(NO_GO)
    say("building the control plane tools when missing (Go, cached in ~/.cache/runwright)")
    if hack("tools.py", "build") != 0:
        raise DemoError(
            "hack/tools.py build failed (see above)" + ("" if shutil.which("go") else f"; {NO_GO}")
        )
    say("starting the local control plane")
    if hack("cluster.py", "up") != 0:
        hack("cluster.py", "down", quiet=True)
        raise DemoError("hack/cluster.py up failed; see .cluster/*.log")
    return True


def apply_crds() -> None:
    files = sorted((ROOT / "crds").glob("*.yaml"))
    kubectl("apply", "--server-side", "--force-conflicts", *(f"-f={f}" for f in files))
    names = [
        doc["metadata"]["name"]
        for f in files
        for doc in yaml.safe_load_all(f.read_text())
        if doc and doc.get("kind") == "CustomResourceDefinition"
    ]
    for name in names:
        kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
    say(f"CRDs established: {', '.join(names)}")


def prepare_namespace() -> None:
    if not kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name"):
        kubectl("create", "namespace", NAMESPACE)
    # Runs of an earlier demo: gone, so the table shows this demo only.
    kubectl("delete", "pipelineruns", "--all", "-n", NAMESPACE, "--wait=true")
    kubectl("delete", "jobs", "-l", "runwright.dev/run", "-n", NAMESPACE, "--wait=true")
    say(f"namespace {NAMESPACE} ready")


# ----- the operator ----------------------------------------------------------------------


class Operator:
    """The demo's operator: `--executor local`, scoped to the demo namespace."""

    def __init__(self) -> None:
        args = ["--executor", "local", "--workdir", str(DEMO_DIR / "work")]
        args += ["--archive", f"sqlite:///{ARCHIVE_DB}"]
        self.process = OperatorProcess(KUBECONFIG, [NAMESPACE], args, DEMO_DIR / "operator.log")

    def start(self) -> None:
        try:
            self.process.start()
        except OperatorStartError as exc:
            raise DemoError(str(exc)) from None
        say(
            f"operator running (pid {self.process.pid}, --executor local, "
            f"log {self.process.log_path})"
        )

    def stop(self) -> None:
        if not self.process.running:
            return
        status = self.process.stop(timeout=30)  # kopf stops its workers and local processes
        say(f"operator stopped (pid {self.process.pid}, exit status {status})")


# ----- the runs --------------------------------------------------------------------------


def pipelines() -> list[Path]:
    return [
        path
        for path in sorted((ROOT / "examples").glob("*.yaml"))
        if any(
            isinstance(d, dict) and d.get("kind") == "Pipeline"
            for d in yaml.safe_load_all(path.read_text())
        )
    ]


def create_runs() -> dict[str, Expected]:
    for path in pipelines():
        kubectl("apply", "--server-side", "--field-manager=runwright-demo", "-n", NAMESPACE,
                "-f", str(path))  # fmt: skip
        say(f"applied {path.relative_to(ROOT)}")
    runs: dict[str, Expected] = {}
    for want in EXPECTED:
        spec: dict[str, Any] = {"pipelineRef": {"name": want.pipeline}}
        if want.variables:
            spec["variables"] = want.variables
        manifest = {
            "apiVersion": "runwright.dev/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"generateName": f"{want.pipeline}-", "namespace": NAMESPACE},
            "spec": spec,
        }
        out = kubectl("create", "-f", "-", "-o", "name", stdin=json.dumps(manifest))
        name = out.strip().rsplit("/", 1)[-1]
        runs[name] = want
        extra = " ".join(f"{k}={v}" for k, v in want.variables.items())
        say(f"created PipelineRun {name}" + (f" ({extra})" if extra else ""))
    return runs


def list_runs() -> dict[str, dict[str, Any]]:
    items = json.loads(kubectl("get", "pipelineruns", "-n", NAMESPACE, "-o", "json"))["items"]
    return {item["metadata"]["name"]: item for item in items}


def block_summary(status: dict[str, Any]) -> str:
    marks = {
        "Succeeded": "✓",
        "Failed": "✗",
        "Running": "▶",
        "Retrying": "↻",
        "ConditionFailed": "○",
        "UpstreamFailed": "✗",
        "Cancelled": "✗",
    }
    blocks = status.get("blocks") or {}
    return " ".join(f"{name} {marks.get(b.get('phase', ''), '·')}" for name, b in blocks.items())


def row(name: str, obj: dict[str, Any] | None) -> list[str]:
    status = (obj or {}).get("status") or {}
    spec = (obj or {}).get("spec") or {}
    duration = status.get("durationSeconds")
    variables = " ".join(f"{k}={v}" for k, v in (spec.get("variables") or {}).items())
    return [
        name,  # <pipeline>-xxxxx: generateName says the pipeline
        variables,
        status.get("phase") or "",
        status.get("progress") or "",
        f"{duration}s" if duration is not None else "",
        block_summary(status),
    ]


COLUMNS = ("NAME", "VARIABLES", "PHASE", "PROGRESS", "DURATION", "BLOCKS")


def table(runs: dict[str, Expected], seen: dict[str, dict[str, Any]]) -> Any:
    from rich import box
    from rich.table import Table

    t = Table(title=f"PipelineRuns in {NAMESPACE}", title_justify="left", box=box.SIMPLE_HEAD)
    rows = [row(name, seen.get(name)) for name in runs]
    for i, col in enumerate(COLUMNS):
        if col == "BLOCKS":  # the one column that wraps on a narrow terminal
            t.add_column(col, ratio=1, min_width=12)
        else:
            width = max([len(col), *(len(r[i]) for r in rows)])
            t.add_column(col, no_wrap=True, min_width=width)
    styles = {"Succeeded": "green", "Failed": "red", "Cancelled": "yellow", "Running": "cyan"}
    for cells in rows:
        style = styles.get(cells[2], "")
        cells[2] = f"[{style}]{cells[2]}[/]" if style else cells[2]
        t.add_row(*cells)
    return t


def watch(runs: dict[str, Expected], timeout: float) -> dict[str, dict[str, Any]]:
    """Show the runs until every one has finished (or the timeout); return their objects."""
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}

    def done() -> bool:
        return all(((seen.get(n) or {}).get("status") or {}).get("phase") in FINISHED for n in runs)

    if sys.stdout.isatty():
        from rich.console import Console
        from rich.live import Live

        with Live(table(runs, seen), console=Console(), refresh_per_second=8) as live:
            while not done() and time.monotonic() < deadline:
                time.sleep(0.25)  # refresh interval of the live table
                seen = list_runs()
                live.update(table(runs, seen))
    else:
        printed: dict[str, list[str]] = {}
        while not done() and time.monotonic() < deadline:
            time.sleep(0.25)  # poll interval
            seen = list_runs()
            for name in runs:
                cells = row(name, seen.get(name))
                if printed.get(name) != cells:
                    printed[name] = cells
                    print("  ".join(c for c in cells if c), flush=True)
    if not done():
        say(f"not every run finished within {timeout:.0f}s")
    return seen


def wait_archived(runs: dict[str, Expected], timeout: float) -> list[str]:
    """Wait until the archive confirmed every run (its annotation); problems, if any."""
    deadline = time.monotonic() + timeout
    while True:
        seen = list_runs()
        missing = [
            n
            for n in runs
            if ARCHIVED not in ((seen.get(n) or {}).get("metadata") or {}).get("annotations", {})
        ]
        if not missing:
            return []
        if time.monotonic() > deadline:
            return [f"the archive did not confirm {', '.join(missing)} within {timeout:.0f}s"]
        time.sleep(0.25)  # poll interval


def show_archive() -> None:
    """What the archive holds now (it outlives the demo): newest runs of the namespace."""
    import asyncio

    from runwright.archive import Archive, RunFilter

    async def page() -> list[Any]:
        archive = await Archive.open(f"sqlite:///{ARCHIVE_DB}", migrate_schema=False)
        try:
            found = await archive.list_runs(RunFilter(namespaces=[NAMESPACE]), limit=20)
            return list(found.runs)
        finally:
            await archive.close()

    print(f"\n$ runwright.archive: newest runs in {ARCHIVE_DB}", flush=True)
    for run in asyncio.run(page()):
        when = run.completed_at.isoformat(timespec="seconds") if run.completed_at else "-"
        print(f"{run.name:40} {run.phase:10} {run.pipeline:20} {when}", flush=True)


def judge(runs: dict[str, Expected], seen: dict[str, dict[str, Any]]) -> list[str]:
    """What differs from the expected phases, one line each (empty: all as expected)."""
    problems = []
    for name, want in runs.items():
        status = (seen.get(name) or {}).get("status") or {}
        if status.get("phase") != want.phase:
            problems.append(f"{name}: phase {status.get('phase')!r}, expected {want.phase}")
        for block, b in (status.get("blocks") or {}).items():
            expected = want.blocks.get(block, "Succeeded")
            if b.get("phase") != expected:
                problems.append(f"{name}: block {block} {b.get('phase')!r}, expected {expected}")
    return problems


# ----- main ------------------------------------------------------------------------------


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--keep-cluster",
        action="store_true",
        help="leave a control plane started here running (one already running is always kept)",
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds for all runs")
    args = parser.parse_args(argv)

    started_cluster = False
    operator = Operator()
    problems: list[str] = []
    runs: dict[str, Expected] = {}
    signal.signal(signal.SIGTERM, _interrupt)  # e.g. a CI timeout: clean up like Ctrl-C
    try:
        started_cluster = cluster_up()
        apply_crds()
        prepare_namespace()
        operator.start()
        runs = create_runs()
        seen = watch(runs, args.timeout)
        print()
        print(f"$ kubectl get plr -n {NAMESPACE}", flush=True)
        print(kubectl("get", "plr", "-n", NAMESPACE), end="", flush=True)
        problems = judge(runs, seen)
        problems += wait_archived(runs, 60.0)
        show_archive()
        jobs = kubectl("get", "jobs", "-n", NAMESPACE, "-l", "runwright.dev/run", "-o", "name")
        if jobs.strip():
            # --executor local never makes Jobs: someone else's operator runs these runs too.
            problems.append(
                f"Jobs appeared in {NAMESPACE} ({len(jobs.split())}): another Runwright "
                "operator (one watching every namespace?) also manages these runs; stop it "
                "and run make demo again"
            )
    except DemoError as exc:
        print(f"[demo] error: {exc}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("\n[demo] interrupted", file=sys.stderr, flush=True)
        return 130
    finally:
        operator.stop()
        if started_cluster and not args.keep_cluster:
            say("stopping the control plane this demo started (--keep-cluster keeps it)")
            with contextlib.suppress(Exception):
                hack("cluster.py", "down", quiet=True)
    if problems:
        for line in problems:
            print(f"[demo] unexpected: {line}", file=sys.stderr)
        return 1
    say(f"every run ended as expected ({len(runs)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
