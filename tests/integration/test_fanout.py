"""Fan-out (forEach) on the bundled control plane: a list block writes its files as an
output, a forEach block runs one pod (or Job) per file, and the block after it reads
every item's output as one JSON list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runwright import labels

from .operator_fixture import Operator, Runs, block, pipeline, pod, status

pytestmark = pytest.mark.integration

FILES = ["a.csv", "b.csv", "c.csv"]


def pods_of(runs: Runs, run: str) -> dict[str, dict[str, Any]]:
    out = runs.cluster.kubectl(
        "get", "pods", "-n", runs.ns, "-l", f"{labels.RUN}={run}", "-o", "json"
    )
    return {p["metadata"]["name"]: p for p in out.json()["items"]}


@pytest.mark.parametrize("executor", ["Pod", "Job"])
def test_a_fan_out_over_an_upstream_list_runs_each_item_and_downstream_sees_the_list(
    operator: Operator, runs: Runs, executor: str
) -> None:
    runs.apply(
        pipeline(
            "fo",
            [
                block("list", **pod(outputs={"files": json.dumps(FILES)})),
                block(
                    "each",
                    "list",
                    args=["{{ item }}", "{{ item.index }}"],
                    forEach={"items": "{{ blocks.list.outputs.files }}", "maxParallel": 2},
                    **pod(outputs={"rows": "10"}),
                ),
                block("after", "each", args=["{{ blocks.each.outputs.rows }}"]),
            ],
            executor=executor,
        )
    )
    runs.start("fo-1", "fo")
    run = runs.wait_finished("fo-1")

    st = status(run)
    assert st["phase"] == "Succeeded", st
    each = st["blocks"]["each"]
    assert each["phase"] == "Succeeded"
    assert each["items"]["counts"] == {"Succeeded": 3}
    assert each["items"]["phases"] == "SSS"
    pods = pods_of(runs, "fo-1")
    items = {
        int(p["metadata"]["labels"][labels.ITEM]): p
        for p in pods.values()
        if p["metadata"]["labels"][labels.BLOCK] == "each"
    }
    assert sorted(items) == [0, 1, 2]
    names = {"fo-1-each-0-1", "fo-1-each-1-1", "fo-1-each-2-1"}
    if executor == "Pod":
        assert {p["metadata"]["name"] for p in items.values()} == names
    else:
        assert runs.job_names("fo-1") == names | {"fo-1-list-1", "fo-1-after-1"}
    for index, item in items.items():
        assert item["spec"]["containers"][0]["args"] == [FILES[index], str(index)]
    after = next(p for p in pods.values() if p["metadata"]["labels"][labels.BLOCK] == "after")
    assert json.loads(after["spec"]["containers"][0]["args"][0]) == ["10", "10", "10"]
    started = [e["message"] for e in runs.events("fo-1") if e["reason"] == "BlockStarted"]
    assert "each fans out over 3 items" in started
