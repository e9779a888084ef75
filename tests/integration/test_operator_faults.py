"""Faults: the operator killed mid-flight, Jobs deleted behind its back, pods that fail.

The operator is a real subprocess (operator_fixture.py), so `kill -9` is a real crash:
no cleanup handler runs, in-memory budgets and expectations are lost, and the next
operator must rebuild everything from what the API server holds.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import defaultdict

import pytest

from .operator_fixture import (
    Operator,
    Runs,
    block,
    block_status,
    pipeline,
    status,
    template,
)

pytestmark = pytest.mark.integration

RUNS = 50
BLOCKS = ("extract", "transform", "load")
JOB_NAME = re.compile(r"^(?P<run>crash-\d+)-(?P<block>extract|transform|load)-(?P<attempt>\d+)$")


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_runs_survive_the_operator_killed_at_random_moments(operator: Operator, runs: Runs) -> None:
    seed = int(os.environ.get("RUNWRIGHT_FAULT_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    print(f"fault seed {seed} (set RUNWRIGHT_FAULT_SEED to repeat)")
    runs.apply(
        pipeline(
            "crash",
            [block(b, *BLOCKS[i - 1 : i]) for i, b in enumerate(BLOCKS)],
            template(duration="1s"),
        )
    )
    names = [f"crash-{i}" for i in range(RUNS)]
    manifests = [
        {
            "apiVersion": "runwright.dev/v1alpha1",
            "kind": "PipelineRun",
            "metadata": {"name": n},
            "spec": {"pipelineRef": {"name": "crash"}},
        }
        for n in names
    ]
    runs.cluster.apply({"apiVersion": "v1", "kind": "List", "items": manifests}, runs.ns)

    def unfinished() -> list[str]:
        out = runs.cluster.kubectl("get", "plr", "-n", runs.ns, "-o", "json").json()
        return [
            r["metadata"]["name"]
            for r in out["items"]
            if status(r).get("phase") not in ("Succeeded", "Failed", "Cancelled")
        ]

    # Kill -9 at random moments while runs are in flight (in the middle of creating
    # Jobs, writing status, or waiting); each time a new operator takes over. The
    # moments are random points in the run's progress (Jobs created so far), so the
    # test waits on the cluster, never on a clock.
    total = RUNS * len(BLOCKS)
    moments = sorted(rng.sample(range(5, total - 10), 5))
    print(f"kill -9 when these many Jobs exist: {moments}")
    for moment in moments:

        def reached(moment: int = moment) -> bool:
            return len(runs.job_names()) >= moment

        runs.cluster.wait_for(f"{moment} Jobs created", reached, timeout=120)
        operator.kill()
        operator.start()
    assert operator.starts == len(moments) + 1

    runs.cluster.wait_for("every run finished", lambda: not unfinished(), timeout=240)
    bodies = {
        r["metadata"]["name"]: r
        for r in runs.cluster.kubectl("get", "plr", "-n", runs.ns, "-o", "json").json()["items"]
    }
    assert set(bodies) == set(names)
    for name, body in bodies.items():
        st = status(body)
        assert st["phase"] == "Succeeded", (name, st.get("reason"), st.get("message"))
        for b in BLOCKS:
            bs = block_status(body, b)
            assert (bs["phase"], bs["attempt"], bs["job"]) == ("Succeeded", 1, f"{name}-{b}-1")

    # No attempt was ever started twice: Job names are the attempts, and with no failure
    # scripted every block has exactly one Job, attempt 1.
    attempts: dict[tuple[str, str], list[int]] = defaultdict(list)
    for job in runs.jobs():
        match = JOB_NAME.match(job["metadata"]["name"])
        assert match, job["metadata"]["name"]
        attempts[(match["run"], match["block"])].append(int(match["attempt"]))
    assert attempts == {(n, b): [1] for n in names for b in BLOCKS}


@pytest.mark.operator_args("--executor", "job")  # asserts on Jobs
def test_a_job_deleted_by_someone_else_fails_with_job_deleted_and_is_retried(
    operator: Operator, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "gone",
            [block("a", retry={"limit": 1, "backoffSeconds": 1})],
            template(duration="4s"),
        )
    )
    runs.start("gone-1", "gone")
    runs.wait_pod_running("gone-1-a-1")
    runs.cluster.kubectl("delete", "job", "gone-1-a-1", "-n", runs.ns, "--wait=false")
    run = runs.wait_finished("gone-1")

    assert status(run)["phase"] == "Succeeded", status(run)
    a = block_status(run, "a")
    assert (a["phase"], a["attempt"], a["job"]) == ("Succeeded", 2, "gone-1-a-2")
    retrying = [e for e in runs.events("gone-1") if e["reason"] == "BlockRetrying"]
    assert len(retrying) == 1
    assert "JobDeleted" in retrying[0]["message"]
    assert runs.job_names("gone-1") == {"gone-1-a-2"}


def test_a_pod_failing_with_exit_code_7_shows_its_code_and_message(
    operator: Operator, runs: Runs
) -> None:
    message = "Traceback (most recent call last):\nOSError: disk full"
    runs.apply(pipeline("seven", [block("a")], template(fail=True, exit_code=7, message=message)))
    runs.start("seven-1", "seven")
    run = runs.wait_finished("seven-1")

    assert status(run)["phase"] == "Failed"
    a = block_status(run, "a")
    assert (a["phase"], a["exitCode"], a["reason"]) == ("Failed", 7, "Error")
    assert a["message"] == message
    assert "disk full" in status(run)["message"]
