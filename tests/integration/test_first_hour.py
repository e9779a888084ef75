"""Issue 10 where only the cluster can show it: a retry that takes the fix, live retention,
the columns a new user reads, a suspended trigger's NEXT time.

Each test starts its own operator for its namespace (operator_fixture.py) and waits by
polling the API server: no sleeps, no timing assertions.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from runwright import labels

from .operator_fixture import (
    Operator,
    Runs,
    block,
    block_status,
    pipeline,
    pod,
    status,
)

pytestmark = pytest.mark.integration


def test_a_current_retry_runs_the_fixed_pipeline_and_records_its_generation(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("fix", [block("a"), block("b", "a", **pod(fail=True)), block("d")]))
    runs.start("fix-1", "fix")
    failed = runs.wait_finished("fix-1")
    assert status(failed)["phase"] == "Failed"
    first_generation = status(failed)["pipelineGeneration"]

    # The user fixes b (no longer scripted to fail), adds c, drops d; then retries.
    runs.apply(pipeline("fix", [block("a"), block("b", "a"), block("c", "b")]))
    generation = runs.get("fix", kind="pipeline")["metadata"]["generation"]
    assert generation > first_generation
    runs.patch(
        "fix-1",
        {"spec": {"retry": {"id": "1", "mode": "Incomplete", "pipelineSpec": "Current"}}},
    )
    run = runs.wait(
        "fix-1",
        "the Current retry handled and the run finished",
        lambda b: status(b).get("retryId") == "1" and status(b).get("phase") == "Succeeded",
    )
    st = status(run)
    assert st["pipelineGeneration"] == generation
    assert set(st["blocks"]) == {"a", "b", "c"}
    attempts = {n: block_status(run, n)["attempt"] for n in ("a", "b", "c")}
    assert attempts == {"a": 1, "b": 2, "c": 1}
    story = [(r["attempt"], r["phase"]) for r in block_status(run, "b")["attempts"]]
    assert story == [(1, "Failed"), (2, "Succeeded")]
    removed = runs.wait_event("fix-1", "BlocksRemoved")
    assert '"d"' in removed["message"]


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_current_rerun_runs_the_pipeline_as_it_is_now(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("again", [block("a")]))
    runs.start("again-1", "again")
    runs.wait_finished("again-1")
    runs.apply(pipeline("again", [block("a"), block("b", "a")]))
    generation = runs.get("again", kind="pipeline")["metadata"]["generation"]
    runs.start("again-2", "again", rerunOf={"name": "again-1", "pipelineSpec": "Current"})
    rerun = runs.wait_finished("again-2")
    assert status(rerun)["phase"] == "Succeeded"
    assert status(rerun)["pipelineGeneration"] == generation
    assert runs.job_names("again-2") == {"again-2-a-1", "again-2-b-1"}
    assert rerun["spec"]["triggeredBy"] == "Rerun"  # what kubectl shows, not only the operator


def test_editing_retention_cleans_finished_runs_and_last_run_keeps_the_record(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(pipeline("keep", [block("a")]))
    runs.start("keep-1", "keep")
    assert status(runs.wait_finished("keep-1"))["phase"] == "Succeeded"
    runs.cluster.wait_for(
        "the Pipeline's lastRun",
        lambda: (
            (runs.get("keep", kind="pipeline").get("status") or {}).get("lastRun", {}).get("phase")
            == "Succeeded"
        ),
    )

    runs.apply(pipeline("keep", [block("a")], retention={"succeededSeconds": 0}))
    runs.cluster.wait_for("retention to delete the run", lambda: runs.find("keep-1") is None)
    last = (runs.get("keep", kind="pipeline").get("status") or {}).get("lastRun") or {}
    assert (last.get("name"), last.get("phase")) == ("keep-1", "Succeeded")


def _row(runs: Runs, kind: str, name: str, *args: str) -> dict[str, str]:
    """One row of `kubectl get` by column header (cells are cut where the headers start,
    since an empty cell leaves only spaces)."""
    header, line = runs.cluster.kubectl("get", kind, name, "-n", runs.ns, *args).stdout.splitlines()
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [m.group() for m in re.finditer(r"\S+(?: \S+)*", header)]
    ends = [*starts[1:], None]
    return {n: line[a:b].strip() for n, a, b in zip(names, starts, ends, strict=True)}


def test_get_plr_shows_reason_honest_progress_human_duration_and_wide_the_failed_block(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "cols", [block("a"), block("b", **pod(fail=True, message="disk full"))], failFast=False
        )
    )
    runs.start("cols-1", "cols")
    assert status(runs.wait_finished("cols-1"))["phase"] == "Failed"
    row = _row(runs, "plr", "cols-1", "-o", "wide")
    shown = [row[c] for c in ("PIPELINE", "PHASE", "REASON", "PROGRESS", "FAILED BLOCK")]
    assert shown == ["cols", "Failed", "BlockFailed", "1/2", "b"], row
    assert re.fullmatch(r"(\d+m)?\d+s", row["DURATION"]), row
    assert "block b failed" in row["MESSAGE"], row


def test_a_suspended_trigger_shows_no_next_time(operator: Operator, runs: Runs) -> None:
    runs.apply(pipeline("sus", [block("a")]))
    trigger: dict[str, Any] = {
        "apiVersion": labels.API_VERSION,
        "kind": "Trigger",
        "metadata": {"name": "nightly"},
        "spec": {
            "pipelineRef": {"name": "sus"},
            "type": "Schedule",
            "schedule": {"cron": "0 2 * * *"},
        },
    }
    runs.apply(trigger)
    runs.cluster.wait_for(
        "a NEXT time while active",
        lambda: (runs.get("nightly", kind="trigger").get("status") or {}).get("nextScheduleTime"),
    )
    runs.patch("nightly", {"spec": {"suspend": True}}, kind="trigger")
    generation = runs.get("nightly", kind="trigger")["metadata"]["generation"]
    runs.cluster.wait_for(
        "the suspended generation planned",
        lambda: (
            (runs.get("nightly", kind="trigger").get("status") or {}).get("observedGeneration")
            == generation
        ),
    )
    assert "nextScheduleTime" not in runs.get("nightly", kind="trigger")["status"]
    row = _row(runs, "trg", "nightly")
    assert (row["SUSPEND"], row["NEXT"]) == ("true", ""), row
