"""Fan-out items through the executors: each item's pod or Job is labelled with its index
and observed on its own (key `<block>/<index>`), so the engine sees every attempt chain."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from runwright import labels
from runwright.engine.plan import AttemptState
from runwright.executors.job_manifest import build_job
from runwright.executors.job_records import job_record, observations
from runwright.executors.pod_manifest import build_pod
from runwright.executors.pod_records import attempt_pod, pod_observations

from .test_kubernetes_executor import RUN, spec, start, with_pod

ROOT = Path(__file__).resolve().parents[2]
RUNWRIGHT = str(Path(sys.executable).parent / "runwright")


def item(index: int, attempt: int = 1) -> Any:
    action = with_pod(spec(), start("extract", attempt))
    return dataclasses.replace(action, item=index, name=f"{RUN.name}-extract-{index}-{attempt}")


def test_an_items_pod_carries_its_index_and_is_observed_under_its_key() -> None:
    pods = []
    for index in (0, 7):
        body = build_pod(RUN, item(index))
        assert body["metadata"]["labels"][labels.ITEM] == str(index)
        assert body["metadata"]["labels"][labels.BLOCK] == "extract"
        body["metadata"]["uid"] = f"pod-{index}"
        body["status"] = {"phase": "Running"}
        pod = attempt_pod(body)
        assert pod is not None
        pods.append(pod)
    seen = pod_observations(pods, run_uid=RUN.uid)
    assert set(seen) == {"extract/0", "extract/7"}
    assert all(o.state == AttemptState.RUNNING for o in seen.values())


def test_a_plain_blocks_pod_has_no_item_label() -> None:
    body = build_pod(RUN, with_pod(spec(), start("extract", 1)))
    assert labels.ITEM not in body["metadata"]["labels"]


def test_an_items_job_is_observed_under_its_key() -> None:
    body = build_job(RUN, item(3, attempt=2))
    assert body["metadata"]["labels"][labels.ITEM] == "3"
    body["status"] = {"active": 1}
    record = job_record(body)
    assert record is not None
    seen = observations([record], {}, run_uid=RUN.uid, expected=[("extract/4", 1)])
    assert set(seen) == {"extract/3", "extract/4"}
    assert seen["extract/3"].attempt == 2


def test_local_mode_runs_the_fanout_example_and_downstream_sees_the_lists() -> None:
    proc = subprocess.run(
        [RUNWRIGHT, "run", "examples/fanout-files.yaml", "-o", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)["status"]
    assert status["phase"] == "Succeeded"
    count = status["blocks"]["count"]
    assert count["items"]["counts"] == {"Succeeded": 6}
    assert [o["file"] for o in count["items"]["outputs"]] == [
        f"orders-2026-11-21-{i:02d}.csv" for i in range(6)
    ]
    assert status["blocks"]["total"]["outputs"] == {"files": "6", "lines": "2100"}
    assert status["metrics"] == {"itemsProcessed": 2100.0}
