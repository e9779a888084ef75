"""The documented limits are the API server's and the operator's, tested at the boundary.

- Blocks and upstreams: the CRD's maxItems (MAX_BLOCKS x MAX_UPSTREAM), which keep
  its CEL rules inside the API server's runtime cost budget: the largest shape is
  accepted with names as long as a request the API server takes allows (every block
  naming MAX_UPSTREAM others; 63-character names with a smaller fan-in), one more
  block or upstream is refused by name.
- Size: a Pipeline whose run could outgrow etcd is not Ready, with the sizes.
- Order: runs queued while the operator was down start oldest executionDate first
  from its very first start (it admits nothing until it has seen every run).
"""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runwright.api.pipeline import MAX_BLOCKS, MAX_UPSTREAM
from runwright.engine import run_size

from .kube import Cluster
from .operator_fixture import Operators, Runs, block, pipeline, status, template

pytestmark = pytest.mark.integration


def _name(i: int, length: int = 63) -> str:
    return f"b{i}".ljust(length, "x")  # the longest name: the costliest CEL comparisons


def dense(blocks: int, upstream: int, length: int = 63) -> dict[str, Any]:
    """`blocks` blocks, each naming `upstream` others: the CEL rules' worst case."""
    return pipeline(
        "dense",
        [
            {
                "name": _name(i, length),
                "command": ["x"],
                "upstream": [_name((i + k) % blocks, length) for k in range(1, upstream + 1)],
            }
            for i in range(blocks)
        ],
    )


def dry_run(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> tuple[bool, str]:
    res = cluster.kubectl(
        "create", "--dry-run=server", "-n", ns, "-f", "-", stdin=json.dumps(manifest), check=False
    )
    return res.ok, res.stderr


def test_the_largest_documented_pipeline_is_accepted(cluster: Cluster, ns: str) -> None:
    # 1,000 x 50 upstreams of 63-character names is a 3.3 MB request, over what the API
    # server takes at all (3 MiB): 36-character names fill it (2.0 MB) instead.
    ok, err = dry_run(cluster, ns, dense(MAX_BLOCKS, MAX_UPSTREAM, length=36))
    assert ok, err


def test_the_most_blocks_with_the_longest_names_are_accepted(cluster: Cluster, ns: str) -> None:
    ok, err = dry_run(cluster, ns, dense(MAX_BLOCKS, 10))
    assert ok, err


def test_one_block_more_is_refused_naming_the_limit(cluster: Cluster, ns: str) -> None:
    ok, err = dry_run(cluster, ns, dense(MAX_BLOCKS + 1, 1))
    assert not ok
    assert "spec.blocks" in err and f"must have at most {MAX_BLOCKS} items" in err, err


def test_one_upstream_more_is_refused_naming_the_limit(cluster: Cluster, ns: str) -> None:
    ok, err = dry_run(cluster, ns, dense(MAX_UPSTREAM + 2, MAX_UPSTREAM + 1))
    assert not ok
    assert "upstream" in err and f"must have at most {MAX_UPSTREAM} items" in err, err


def test_a_pipeline_whose_run_could_outgrow_etcd_is_not_ready(
    operators: Operators, runs: Runs
) -> None:
    operators()
    big = [block(f"b{i}", args=["a" * 8000]) for i in range(100)]
    runs.apply(pipeline("big", big))

    def ready() -> dict[str, Any] | None:
        conditions = status(runs.get("big", "pipeline")).get("conditions") or []
        found = [c for c in conditions if c["type"] == "Ready"]
        return found[0] if found else None

    condition = runs.cluster.wait_for("Ready of big", ready)
    assert condition["status"] == "False"
    assert condition["reason"] == "TooLarge"
    assert f"{run_size.MAX_RUN_BYTES:,}-byte limit" in condition["message"]


def test_runs_queued_while_the_operator_was_down_start_oldest_first(
    operators: Operators, runs: Runs
) -> None:
    runs.apply(
        pipeline(
            "q",
            [block("a")],
            template(duration="1s"),
            concurrency={"pipelineRunLimit": 1, "onLimit": "Wait"},
        )
    )
    base = datetime(2026, 1, 1, tzinfo=UTC)
    dates = {f"q-{i:02}": base + timedelta(minutes=i) for i in range(30)}
    created = list(dates)
    random.Random(17).shuffle(created)  # creation order is not the order promised
    for name in created:
        runs.start(name, "q", executionDate=dates[name].isoformat().replace("+00:00", "Z"))
    operators()
    ordered = sorted(dates, key=lambda n: dates[n])
    finished = [runs.wait_finished(name, timeout=300) for name in ordered]
    for before, after in itertools.pairwise(finished):
        assert status(after)["startedAt"] >= status(before)["completedAt"], (
            f"{after['metadata']['name']} started before the older "
            f"{before['metadata']['name']} finished"
        )
