"""spec.finally on the control plane: finally blocks run as pods after the DAG, whatever
its outcome, and see it in their templates; the CRD refuses a finally block that could
never run right at apply time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .kube import Cluster
from .operator_fixture import (
    Operator,
    Runs,
    block,
    block_phases,
    pipeline,
    pod,
    status,
    template,
)

pytestmark = pytest.mark.integration

PLUGIN = str(Path(sys.executable).with_name("kubectl-runwright"))


def pod_args(runs: Runs, name: str) -> list[str]:
    body = runs.get(name, kind="pod")
    args: list[str] = body["spec"]["containers"][0]["args"]
    return args


def with_finally(name: str, dag: list[dict[str, Any]], fin: list[dict[str, Any]]) -> dict[str, Any]:
    manifest = pipeline(name, dag)
    manifest["spec"]["finally"] = fin
    return manifest


def test_a_failed_block_runs_finally_which_sees_run_phase_failed_and_the_run_stays_failed(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        with_finally(
            "fin",
            [block("extract"), block("load", "extract", **pod(fail=True))],
            [
                block(
                    "cleanup",
                    args=["{{ run.phase }}", "{{ run.failedBlocks | join(',') }}"],
                ),
                block(
                    "on-success",
                    when=[{"input": "{{ run.phase }}", "operator": "Equals", "values": ["X"]}],
                ),
            ],
        )
    )
    runs.start("fin-1", "fin")
    run = runs.wait_finished("fin-1")

    st = status(run)
    assert st["phase"] == "Failed", st
    assert st["reason"] == "BlockFailed"
    assert st["failedBlock"] == "load"
    assert block_phases(run) == {
        "extract": "Succeeded",
        "load": "Failed",
        "cleanup": "Succeeded",
        "on-success": "ConditionFailed",
    }
    assert pod_args(runs, "fin-1-cleanup-1") == ["Failed", "load"]
    assert st["finally"]["phase"] == "Succeeded"
    assert st["finally"]["runPhase"] == "Failed"
    reasons = runs.event_reasons("fin-1")
    assert reasons.index("FinallyStarted") < reasons.index("RunFailed")
    assert st["progress"] == "3/4"  # extract, cleanup, and on-success skipped


def test_a_failing_finally_block_fails_a_succeeded_run_with_reason_finally_failed(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        with_finally("finf", [block("a")], [block("cleanup", **pod(fail=True))]),
    )
    runs.start("finf-1", "finf")
    run = runs.wait_finished("finf-1")

    st = status(run)
    assert (st["phase"], st["reason"], st["failedBlock"]) == ("Failed", "FinallyFailed", "cleanup")
    (cond,) = [c for c in st["conditions"] if c["type"] == "FinallySucceeded"]
    assert (cond["status"], cond["reason"]) == ("False", "FinallyFailed")
    assert "FinallyFailed" in runs.event_reasons("finf-1")


def test_cancel_runs_finally_before_the_run_ends_cancelled(operator: Operator, runs: Runs) -> None:
    runs.apply(
        with_finally(
            "finc",
            [block("slow", **pod(duration="300s"))],
            [block("cleanup", args=["{{ run.phase }}"])],
        )
    )
    runs.start("finc-1", "finc")
    runs.wait_pod_running("finc-1-slow-1")
    runs.patch("finc-1", {"spec": {"cancel": True}})
    run = runs.wait_finished("finc-1")

    st = status(run)
    assert st["phase"] == "Cancelled", st
    assert block_phases(run) == {"slow": "Cancelled", "cleanup": "Succeeded"}
    assert pod_args(runs, "finc-1-cleanup-1") == ["Cancelled"]


def test_cancel_with_skip_finally_ends_the_run_without_starting_finally(
    operator: Operator, runs: Runs, cluster: Cluster, ns: str
) -> None:
    runs.apply(with_finally("fins", [block("slow", **pod(duration="300s"))], [block("cleanup")]))
    runs.start("fins-1", "fins")
    runs.wait_pod_running("fins-1-slow-1")
    done = subprocess.run(
        [PLUGIN, "cancel", f"--kubeconfig={cluster.kubeconfig}", "-n", ns,
         "--skip-finally", "fins-1"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    run = runs.wait_finished("fins-1")

    st = status(run)
    assert st["phase"] == "Cancelled", st
    assert block_phases(run) == {"slow": "Cancelled", "cleanup": "Cancelled"}
    assert st["blocks"]["cleanup"]["reason"] == "SkipFinally"
    assert st["blocks"]["cleanup"].get("attempt", 0) == 0
    assert "FinallyStarted" not in runs.event_reasons("fins-1")


@pytest.mark.parametrize(
    ("fin", "words"),
    [
        (
            [{"name": "a", "command": ["x"]}],
            ("spec.finally", "names are unique across blocks and finally"),
        ),
        (
            [{"name": "f", "command": ["x"], "upstream": ["a"]}],
            ("spec.finally[].upstream", "may name only other finally blocks"),
        ),
    ],
    ids=["name-of-a-block", "upstream-a-block"],
)
def test_the_api_server_refuses_a_finally_block_that_breaks_the_rules(
    cluster: Cluster, ns: str, fin: list[dict[str, Any]], words: tuple[str, ...]
) -> None:
    manifest = with_finally("bad", [block("a")], fin)
    res = cluster.apply(manifest, ns, check=False)
    assert not res.ok, "the API server accepted it"
    for word in words:
        assert word in res.stderr, res.stderr


def test_a_pipeline_with_finally_is_accepted(cluster: Cluster, ns: str) -> None:
    manifest = with_finally("good", [block("a")], [block("f"), block("g", "f")])
    manifest["spec"]["template"] = template()
    assert cluster.apply(manifest, ns, check=False).ok
