"""The operator as a real subprocess against the test cluster, and helpers to watch its runs.

Each test that asks for the `operator` fixture gets its own `runwright operator -n <ns>`
process, scoped to the test's namespace, so no two operators ever manage the same
namespace and a test's flags (`@pytest.mark.operator_args("--max-concurrent-blocks",
"2")`) cannot leak into another test. The process (started by hack/operator_process.py,
the launcher the demo and the benchmarks use too) logs to `.cluster/operators/<ns>.log`
(the report of a failing test carries its tail), is healthy once `/healthz` answers
200, and can be killed with SIGKILL and started again to test crash recovery.

Waiting is polling the API server with a deadline (`Cluster.wait_for`): never a fixed
sleep, never a timing assertion.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hack import kwokstages
from hack.operator_process import START_TIMEOUT, OperatorProcess, OperatorStartError
from hack.operator_process import free_port as free_port  # for tests needing a port
from runwright import labels

from .kube import Cluster

ROOT = Path(__file__).resolve().parents[2]
LOG_DIR = ROOT / ".cluster" / "operators"
#: Default deadline for a run to reach a state (generous: a loaded 2-core CI machine).
RUN_TIMEOUT = 90.0
#: The longest a finished run's ending Event may follow its status (posted behind it).
EVENT_TIMEOUT = 30.0
#: The Event that says a run ended, by its phase.
ENDING_EVENT = {"Succeeded": "RunSucceeded", "Failed": "RunFailed", "Cancelled": "RunCancelled"}
IMAGE = "registry.invalid/block:1"


class Operator(OperatorProcess):
    """One `runwright operator` subprocess of a test, against the test cluster.

    The launcher is hack/operator_process.py (shared with the demo and the
    benchmarks); a start that fails here fails the test, with the log's tail.
    """

    def __init__(
        self,
        cluster: Cluster,
        namespaces: Sequence[str],
        args: Sequence[str] = (),
        log_path: Path = LOG_DIR / "operator.log",
    ) -> None:
        super().__init__(cluster.kubeconfig, namespaces, args, log_path)
        self.cluster = cluster

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the process and wait until /healthz answers 200."""
        try:
            super().start(timeout)
        except OperatorStartError as exc:
            raise AssertionError(str(exc)) from None


class Operators:
    """Starts operators for one test, and stops every one of them at its end."""

    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.cluster = cluster
        self.ns = ns
        self.started: list[Operator] = []

    def __call__(self, *args: str, namespaces: Sequence[str] | None = None) -> Operator:
        """Start `runwright operator -n <the test namespace> ARGS` and wait until healthy."""
        log_path = LOG_DIR / f"{self.ns}-{len(self.started) + 1}.log"
        with contextlib.suppress(FileNotFoundError):
            log_path.unlink()
        op = Operator(self.cluster, namespaces or [self.ns], args, log_path=log_path)
        self.started.append(op)
        op.start()
        return op

    def stop_all(self) -> None:
        for op in self.started:
            op.stop()


@pytest.fixture
def operators(cluster: Cluster, ns: str) -> Iterator[Operators]:
    """Start operators scoped to this test's namespace (e.g. after annotating it)."""
    factory = Operators(cluster, ns)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def operator(request: pytest.FixtureRequest, operators: Operators) -> Operator:
    """A fresh operator scoped to this test's namespace (flags: @pytest.mark.operator_args)."""
    marker = request.node.get_closest_marker("operator_args")
    return operators(*(marker.args if marker else ()))


# ----- manifests ---------------------------------------------------------------------------


def block(name: str, *upstream: str, **fields: Any) -> dict[str, Any]:
    """A block manifest; `fields` are added as they are (camelCase)."""
    body: dict[str, Any] = {"name": name, "command": ["run", name]}
    if upstream:
        body["upstream"] = list(upstream)
    body.update(fields)
    return body


def pod(
    *,
    duration: str | None = None,
    fail: bool = False,
    exit_code: int | None = None,
    message: str | None = None,
    outputs: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Pod `labels` and `annotations` scripting what a block pod does on the kwok node.

    Spread into a block (`block("a", **pod(fail=True))`) for that block only, or use
    `template(...)` for every block of the pipeline.
    """
    pod_labels: dict[str, str] = {}
    annotations: dict[str, str] = {}
    if fail:
        pod_labels[kwokstages.OUTCOME] = kwokstages.FAIL
    if duration is not None:
        annotations[kwokstages.DURATION] = duration
    if exit_code is not None:
        annotations[kwokstages.EXIT_CODE] = str(exit_code)
    if outputs is not None:
        message = json.dumps({"outputs": dict(outputs)})
    if message is not None:
        annotations[kwokstages.MESSAGE] = message
    fields: dict[str, Any] = {}
    if pod_labels:
        fields["labels"] = pod_labels
    if annotations:
        fields["annotations"] = annotations
    return fields


def template(**script: Any) -> dict[str, Any]:
    """`spec.template`: the test image plus `pod(**script)` for every block."""
    return {"image": IMAGE, **pod(**script)}


def pipeline(
    name: str, blocks: list[dict[str, Any]], tmpl: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    """A Pipeline manifest; `spec` fields are added as they are (camelCase)."""
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "Pipeline",
        "metadata": {"name": name},
        "spec": {"template": tmpl or template(), "blocks": blocks, **spec},
    }


def run_manifest(name: str, pipeline_name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": labels.API_VERSION,
        "kind": "PipelineRun",
        "metadata": {"name": name},
        "spec": {"pipelineRef": {"name": pipeline_name}, **spec},
    }


# ----- reading and waiting ----------------------------------------------------------------


class Runs:
    """Pipelines, runs, Jobs and Events of one test namespace, through kubectl."""

    def __init__(self, cluster: Cluster, ns: str) -> None:
        self.cluster = cluster
        self.ns = ns

    def apply(self, manifest: Mapping[str, Any]) -> None:
        self.cluster.apply(dict(manifest), self.ns)

    def start(self, name: str, pipeline_name: str, **spec: Any) -> str:
        self.apply(run_manifest(name, pipeline_name, **spec))
        return name

    def get(self, name: str, kind: str = "pipelinerun") -> dict[str, Any]:
        body: dict[str, Any] = self.cluster.get(kind, name, self.ns)
        return body

    def find(self, name: str, kind: str = "pipelinerun") -> dict[str, Any] | None:
        res = self.cluster.kubectl("get", kind, name, "-n", self.ns, "-o", "json", check=False)
        if not res.ok:
            if "NotFound" in res.stderr:
                return None
            raise AssertionError(f"kubectl get {kind} {name}: {res.stderr.strip()}")
        body: dict[str, Any] = res.json()
        return body

    def patch(self, name: str, patch: Mapping[str, Any], kind: str = "pipelinerun") -> None:
        self.cluster.kubectl(
            "patch", kind, name, "-n", self.ns, "--type=merge", "-p", json.dumps(patch)
        )

    def wait(
        self,
        name: str,
        what: str,
        check: Callable[[dict[str, Any]], Any],
        timeout: float = RUN_TIMEOUT,
    ) -> dict[str, Any]:
        """Poll the run until check(run) is truthy; the run's last body is in the error."""
        last: dict[str, Any] = {}

        def probe() -> Any:
            nonlocal last
            body = self.find(name)
            if body is None:
                return None
            last = body
            return body if check(body) else None

        try:
            result: dict[str, Any] = self.cluster.wait_for(f"{name}: {what}", probe, timeout)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.describe(name, last)}") from None
        return result

    def describe(self, name: str, body: Mapping[str, Any]) -> str:
        """The run's phases and its Jobs and pods, for a failure message."""
        st = body.get("status") or {}
        blocks = {
            n: {k: b.get(k) for k in ("phase", "attempt", "reason", "message") if b.get(k)}
            for n, b in (st.get("blocks") or {}).items()
        }
        summary = {k: st.get(k) for k in ("phase", "reason", "message", "progress")}
        objects = self.cluster.kubectl(
            "get", "jobs,pods", "-n", self.ns, "-o", "wide", check=False
        ).stdout
        return (
            f"last status of {name}: {json.dumps(summary)}\n"
            f"blocks: {json.dumps(blocks, indent=1)}\n{objects}"
        )

    def wait_phase(self, name: str, *phases: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        return self.wait(
            name,
            f"phase in {phases}",
            lambda b: (b.get("status") or {}).get("phase") in phases,
            timeout,
        )

    def wait_finished(self, name: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        return self.wait_phase(name, "Succeeded", "Failed", "Cancelled", timeout=timeout)

    def wait_block(
        self, name: str, block_name: str, *phases: str, timeout: float = RUN_TIMEOUT
    ) -> dict[str, Any]:
        return self.wait(
            name,
            f"block {block_name} in {phases}",
            lambda b: block_phase(b, block_name) in phases,
            timeout,
        )

    def jobs(self, run: str | None = None) -> list[dict[str, Any]]:
        selector = f"{labels.RUN}={run}" if run else labels.RUN
        out = self.cluster.kubectl("get", "jobs", "-n", self.ns, "-l", selector, "-o", "json")
        items: list[dict[str, Any]] = out.json()["items"]
        return items

    def pods(self, run: str | None = None) -> list[dict[str, Any]]:
        """The block pods (of either executor) of one run, or of the namespace."""
        selector = f"{labels.RUN}={run}" if run else labels.RUN
        out = self.cluster.kubectl("get", "pods", "-n", self.ns, "-l", selector, "-o", "json")
        items: list[dict[str, Any]] = out.json()["items"]
        return items

    def job_names(self, run: str | None = None) -> set[str]:
        return {j["metadata"]["name"] for j in self.jobs(run)}

    def wait_job(self, job: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            return self.find(job, kind="job")

        result: dict[str, Any] = self.cluster.wait_for(f"Job {job}", probe, timeout)
        return result

    def wait_pod_running(self, job: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        """The attempt's Running pod: the pod named `job` (Pod executor) or its Job's pod."""

        def probe() -> dict[str, Any] | None:
            out = self.cluster.kubectl("get", "pods", "-n", self.ns, "-l", labels.RUN, "-o", "json")
            running = [
                p
                for p in out.json()["items"]
                if p["status"].get("phase") == "Running"
                and job in (p["metadata"]["name"], p["metadata"]["labels"].get("job-name"))
            ]
            return running[0] if running else None

        result: dict[str, Any] = self.cluster.wait_for(f"a Running pod of {job}", probe, timeout)
        return result

    def events(self, name: str) -> list[dict[str, Any]]:
        """The run's Events; for a finished run, once its ending Event is there.

        The operator posts Events behind its status writes (kube/eventsink.py), so a
        test that saw the run finish may list its Events a moment before the last
        ones are posted: the list is read again until the ending one is in it.
        """
        run = self.find(name)
        ending = ENDING_EVENT.get(status(run or {}).get("phase", ""))
        if ending is None:
            return self._events(name)

        def probe() -> list[dict[str, Any]] | None:
            items = self._events(name)
            return items if any(e["reason"] == ending for e in items) else None

        result: list[dict[str, Any]] = self.cluster.wait_for(
            f"event {ending} on {name}", probe, EVENT_TIMEOUT
        )
        return result

    def _events(self, name: str) -> list[dict[str, Any]]:
        out = self.cluster.kubectl(
            "get",
            "events",
            "-n",
            self.ns,
            "--field-selector",
            f"involvedObject.name={name},involvedObject.kind=PipelineRun",
            "-o",
            "json",
        )
        items: list[dict[str, Any]] = out.json()["items"]
        return items

    def event_reasons(self, name: str) -> list[str]:
        return [e["reason"] for e in self.events(name)]

    def wait_event(self, name: str, reason: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            return next((e for e in self._events(name) if e["reason"] == reason), None)

        result: dict[str, Any] = self.cluster.wait_for(f"event {reason} on {name}", probe, timeout)
        return result


def status(run: Mapping[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = run.get("status") or {}
    return value


def block_status(run: Mapping[str, Any], name: str) -> dict[str, Any]:
    value: dict[str, Any] = (status(run).get("blocks") or {}).get(name) or {}
    return value


def block_phase(run: Mapping[str, Any], name: str) -> str | None:
    phase: str | None = block_status(run, name).get("phase")
    return phase


def block_phases(run: Mapping[str, Any]) -> dict[str, str]:
    return {name: b.get("phase") for name, b in (status(run).get("blocks") or {}).items()}


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def job_end(job: Mapping[str, Any]) -> datetime | None:
    """When the Job finished (Complete or Failed), else None."""
    st = job.get("status") or {}
    if st.get("completionTime"):
        return _time(st["completionTime"])
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Failed" and cond.get("status") == "True":
            return _time(cond["lastTransitionTime"])
    return None


def pod_end(pod: Mapping[str, Any]) -> datetime | None:
    """When the pod's block container finished, else None."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        finished = ((cs.get("state") or {}).get("terminated") or {}).get("finishedAt")
        if finished:
            return _time(finished)
    return None


def most_at_once(
    jobs: Sequence[Mapping[str, Any]],
    end_of: Callable[[Mapping[str, Any]], datetime | None] = job_end,
) -> int:
    """The most Jobs (or pods, with `end_of=pod_end`) ever alive together, each over
    [created, finished).

    Half-open intervals at the API's one-second resolution are exact here: the
    operator creates an attempt for a freed slot only after it saw the other one
    finish (a pod's end: the Job executor too acts on the pod, before its Job's
    condition, so Jobs' own lifetimes may overlap; count their pods).
    """
    points: list[tuple[datetime, int]] = []
    for job in jobs:
        end = end_of(job)
        assert end is not None, f"{job['metadata']['name']} has not finished"
        points.append((_time(job["metadata"]["creationTimestamp"]), 1))
        points.append((end, -1))
    most = alive = 0
    for _, step in sorted(points):  # at equal times -1 sorts first: an end frees the slot
        alive += step
        most = max(most, alive)
    return most
