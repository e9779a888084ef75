"""No hot loops (issue 16 item 7): pods and Jobs deleted behind the operator's back.

On the operator of issue 16, deleting the pod of ONE finished run (its Job stayed) sent
the operator to 100% CPU: 219,437 reconciles in 40 s, no request sent, forever. Here
the pods of finished runs and of a running run are deleted, and a finished run's Job
too; the operator's own counters (/metrics) must stay bounded while the lost pods'
grace runs out and well after, no run may change its verdict, and the running run's
block must be retried and succeed. Waiting is on the cluster; the bound is a count.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .operator_fixture import Operator, Runs, block, block_status, pipeline, status, template

#: Reconciles allowed for every run of the test after the deletions (a handful each:
#: the deletion events, the retry, the grace's recheck). The hot loop made thousands
#: per second.
RECONCILE_BOUND = 150


def counter(operator: Operator, name: str, kind: str = "PipelineRun") -> float:
    """The value of one series of the operator's /metrics (0 when not exposed yet)."""
    for family in text_string_to_metric_families(operator.metrics()):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("kind") == kind:
                return float(sample.value)
    return 0.0


def reconciles(operator: Operator) -> float:
    return counter(operator, "runwright_reconcile_duration_seconds_count")


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_deleted_pods_and_jobs_of_finished_and_running_runs_cause_no_hot_loop(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("quick", [block("a")], template(duration="1s")))
    runs.apply(
        pipeline(
            "slow",
            [block("a", retry={"limit": 1, "backoffSeconds": 1})],
            template(duration="6s"),
        )
    )
    finished = [runs.start(f"quick-{i}", "quick") for i in (1, 2, 3)]
    for name in finished:
        run = runs.wait_finished(name)
        assert status(run)["phase"] == "Succeeded", status(run)
    runs.start("slow-1", "slow")
    runs.wait_pod_running("slow-1-a-1")

    before = reconciles(operator)
    throttled_before = counter(operator, "runwright_reconcile_throttled_total")
    # The pods of two finished runs (their Jobs stay), the Job of the third (and so its
    # pod), and the pod of the running run.
    for name in ("quick-1", "quick-2", "slow-1"):
        runs.cluster.kubectl(
            "delete", "pods", "-n", runs.ns, "-l", f"job-name={name}-a-1", "--wait=false"
        )
    runs.cluster.kubectl("delete", "job", "quick-3-a-1", "-n", runs.ns, "--wait=false")

    # The running run: its attempt lost its pod, is judged failed, and is retried.
    slow = runs.wait_finished("slow-1", timeout=180)
    assert status(slow)["phase"] == "Succeeded", status(slow)
    a = block_status(slow, "a")
    assert (a["phase"], a["attempt"], a["job"]) == ("Succeeded", 2, "slow-1-a-2")

    # By now the lost pods' grace (30 s after their Jobs finished) ended a while ago;
    # one more run start to finish is the window in which a spin would show.
    runs.start("quick-4", "quick")
    assert status(runs.wait_finished("quick-4"))["phase"] == "Succeeded"

    after = reconciles(operator)
    print(f"reconciles of PipelineRuns after the deletions: {after - before:.0f}")
    assert after - before < RECONCILE_BOUND, operator.log_tail()
    # The fix is at the root: nothing asked to be reconciled again at once.
    assert counter(operator, "runwright_reconcile_throttled_total") == throttled_before
    for name in finished:
        run = runs.get(name)
        assert status(run)["phase"] == "Succeeded", (name, status(run))
        assert block_status(run, "a")["attempt"] == 1
