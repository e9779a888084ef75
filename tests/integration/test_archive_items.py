"""Issue 15: the archive keeps every fan-out item, its attempts and their logs.

A real `runwright operator --archive sqlite:///...` runs a six-item fan-out on the
control plane; item 2's first pod is made to fail (its kwok outcome label set while
it runs), so item 2 succeeds on its retry. Once the run is archived and its CR
deleted, the archive holds every item attempt (exact rows), and
`kubectl runwright logs RUN work --item 2` prints that item's own log lines, first
from its live pod, then from the archive.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from hack import kwokstages
from runwright.archive import ItemAttemptRecord, create_engine, item_attempts
from runwright.controller.archiver import ARCHIVED

from .kube import Cluster
from .operator_fixture import Operators, Runs, block, pipeline, pod
from .podlogs import namespace_logs, pod_log, require_pod_logs, write_log
from .test_kubectl_plugin import plugin

pytestmark = pytest.mark.integration

ITEMS = ["a", "b", "c", "d", "e", "f"]
RUN = "fan-1"
SHARED = ["a line every pod logs", "and its last"]


def item_rows(url: str, uid: str) -> list[ItemAttemptRecord]:
    async def go() -> list[ItemAttemptRecord]:
        engine = create_engine(url)
        try:
            return await item_attempts(engine, uid)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def lines_of(item: int, attempt: int) -> list[str]:
    return [f"item {item} attempt {attempt} starts", f"item {item} attempt {attempt} ends"]


@pytest.mark.parametrize("executor", ["Pod", "Job"])
def test_every_item_attempt_and_its_log_are_archived_and_read_back(
    operators: Operators, runs: Runs, cluster: Cluster, ns: str, tmp_path: Path, executor: str
) -> None:
    require_pod_logs(cluster)
    url = f"sqlite:///{tmp_path / 'archive.db'}"
    pods = [(i, 1) for i in range(len(ITEMS))] + [(2, 2)]
    with contextlib.ExitStack() as stack:
        if executor == "Pod":  # each item pod logs its own lines (kwok Logs by pod name)
            for item, attempt in pods:
                path = write_log(tmp_path / f"{item}-{attempt}.log", lines_of(item, attempt))
                pod_log(cluster, ns, f"{RUN}-work-{item}-{attempt}", path)
        else:  # a Job's pod name is not known ahead: every pod logs the same lines
            path = write_log(tmp_path / "all.log", SHARED)
            stack.enter_context(namespace_logs(cluster, ns, path))
        check(operators, runs, cluster, ns, url, executor, pods)


def check(
    operators: Operators,
    runs: Runs,
    cluster: Cluster,
    ns: str,
    url: str,
    executor: str,
    pods: list[tuple[int, int]],
) -> None:
    def lines(item: int, attempt: int) -> list[str]:
        return lines_of(item, attempt) if executor == "Pod" else SHARED

    operators("--archive", url)
    runs.apply(
        pipeline(
            "fan",
            [
                block(
                    "work",
                    forEach={"items": json.dumps(ITEMS)},
                    retry={"limit": 1, "backoffSeconds": 0},
                    **pod(duration="5s", outputs={"v": "ok"}),
                )
            ],
            executor=executor,
        )
    )
    runs.start(RUN, "fan")
    # Item 2's first attempt fails: kwok's failure stage, exit code 7, its message.
    first = runs.wait_pod_running(f"{RUN}-work-2-1")
    cluster.kubectl(
        "patch", "pod", first["metadata"]["name"], "-n", ns, "--type=merge", "-p",
        json.dumps({"metadata": {
            "labels": {kwokstages.OUTCOME: kwokstages.FAIL},
            "annotations": {
                kwokstages.DURATION: "0s",
                kwokstages.EXIT_CODE: "7",
                kwokstages.MESSAGE: "item 2 broke",
            },
        }}),
    )  # fmt: skip
    body = runs.wait(
        RUN,
        "confirmed by the archive",
        lambda b: (b["metadata"].get("annotations") or {}).get(ARCHIVED),
    )
    assert body["status"]["phase"] == "Succeeded", body["status"]
    assert body["status"]["blocks"]["work"]["items"]["attempts"] == [1, 1, 2, 1, 1, 1]
    uid = body["metadata"]["uid"]

    live = plugin(cluster.kubeconfig, ns, "logs", RUN, "work", "--item", "2", "--archive", url)
    assert live.ok, live.stderr
    assert live.stdout.splitlines() == [f"[work/2/2] {line}" for line in lines(2, 2)]

    cluster.kubectl("delete", "pipelinerun", RUN, "-n", ns)
    cluster.wait_for(f"{RUN} and its pods deleted", lambda: runs.find(RUN) is None)
    cluster.wait_for("the item pods garbage-collected", lambda: not runs.pods(RUN))

    rows = item_rows(url, uid)
    ok = {"v": "ok"}
    assert [
        (r.block, r.item, r.attempt, r.phase, r.reason, r.message, r.exit_code, r.outputs)
        for r in rows
    ] == [
        ("work", 0, 1, "Succeeded", "", "", 0, ok),
        ("work", 1, 1, "Succeeded", "", "", 0, ok),
        ("work", 2, 1, "Failed", "Error", "item 2 broke", 7, {}),
        ("work", 2, 2, "Succeeded", "", "", 0, ok),
        ("work", 3, 1, "Succeeded", "", "", 0, ok),
        ("work", 4, 1, "Succeeded", "", "", 0, ok),
        ("work", 5, 1, "Succeeded", "", "", 0, ok),
    ]
    assert all(r.started_at and r.completed_at for r in rows)
    assert [r.job for r in rows] == [f"{RUN}-work-{i}-{a}" for i, a in sorted(pods)]

    latest = plugin(cluster.kubeconfig, ns, "logs", RUN, "work", "--item", "2", "--archive", url)
    assert latest.ok, latest.stderr
    assert latest.stdout.splitlines() == [f"[work/2/2] {line}" for line in lines(2, 2)]
    failed = plugin(
        cluster.kubeconfig, ns, "logs", RUN, "work", "--item", "2", "--attempt", "1",
        "--archive", url,
    )  # fmt: skip
    assert failed.stdout.splitlines() == [f"[work/2/1] {line}" for line in lines(2, 1)]
    other = plugin(cluster.kubeconfig, ns, "logs", RUN, "work", "--item", "5", "--archive", url)
    assert other.stdout.splitlines() == [f"[work/5/1] {line}" for line in lines(5, 1)]

    shown = plugin(cluster.kubeconfig, ns, "get", RUN, "--archive", url)
    assert shown.ok, shown.stderr
    assert "6 items: 6 succeeded" in shown.stdout
    data: dict[str, Any] = json.loads(
        plugin(cluster.kubeconfig, ns, "get", RUN, "-o", "json", "--archive", url).stdout
    )
    work = data["items"]["work"]
    assert (work["count"], work["counts"], work["failed"]) == (6, {"Succeeded": 6}, [])
    assert [(a["item"], a["attempt"]) for a in work["attempts"]] == sorted(pods)
