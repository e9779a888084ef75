"""Time one plan() call for DAGs of 10 to 5,000 blocks: chain, wide fan-out, random,
layered (10 layers, fan-in 5: bench_bigdag's shape) and fan-in (layers of 50, each
block depending on all 50 before it: MAX_UPSTREAM).

A benchmark, not a test: it prints a table and writes bench/results/engine.json.
The measured call is the one a controller makes most often: a run mid-way, half
its blocks Succeeded, a slice Running, and one attempt just finished. Two budgets:
"unlimited" lets every ready block start in that one call (the worst case: in a
fan-out, thousands of starts); "budget 20" is the operator's default
--max-concurrent-blocks, so at most 20 starts.

    python tests/bench/bench_engine.py [--repeat N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runwright.api import (
    Block,
    BlockPhase,
    BlockStatus,
    PipelineRunSpec,
    PipelineRunStatus,
    PipelineSpec,
)
from runwright.engine.plan import AttemptState, Observation, PlanInput, plan

SIZES = (10, 100, 1_000, 5_000)
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def chain(n: int, _rng: random.Random) -> list[list[int]]:
    return [[i - 1] if i else [] for i in range(n)]


def fan_out(n: int, _rng: random.Random) -> list[list[int]]:
    return [[0] if i else [] for i in range(n)]


def random_dag(n: int, rng: random.Random) -> list[list[int]]:
    return [sorted(set(rng.sample(range(i), min(i, rng.randint(0, 3))))) for i in range(n)]


def layered(n: int, rng: random.Random) -> list[list[int]]:
    """10 layers; each block depends on 5 blocks of the layer before (bench_bigdag's DAG)."""
    width = max(1, n // 10)
    return [
        sorted(rng.sample(range(i - i % width - width, i - i % width), min(5, width)))
        if i >= width
        else []
        for i in range(n)
    ]


def fan_in(n: int, _rng: random.Random) -> list[list[int]]:
    """Layers of 50 blocks, each depending on all 50 of the layer before: MAX_UPSTREAM."""
    return [list(range(i - i % 50 - 50, i - i % 50)) if i >= 50 else [] for i in range(n)]


SHAPES: dict[str, Callable[[int, random.Random], list[list[int]]]] = {
    "chain": chain,
    "fan-out": fan_out,
    "random": random_dag,
    "layered": layered,
    "fan-in": fan_in,
}


def make_input(n: int, ups: list[list[int]]) -> PlanInput:
    """A Running run, blocks in topological order: first half done, next 20 running."""
    # Manifests are capped at MAX_BLOCKS (the CRD's CEL cost budget); the engine is not,
    # so the spec is assembled from validated blocks without the list-length check.
    spec = PipelineSpec.model_construct(
        blocks=[
            Block(name=f"b{i}", command=["x"], upstream=[f"b{u}" for u in up])
            for i, up in enumerate(ups)
        ]
    )
    half = n // 2
    blocks: dict[str, BlockStatus] = {}
    observed: dict[str, Observation] = {}
    for i in range(n):
        name = f"b{i}"
        if i < half:
            blocks[name] = BlockStatus(phase=BlockPhase.SUCCEEDED, attempt=1, job=f"r-{name}-1")
        elif i < half + 20 and all(u < half for u in ups[i]):
            blocks[name] = BlockStatus(
                phase=BlockPhase.RUNNING, attempt=1, job=f"r-{name}-1", started_at=NOW
            )
            done = i == half  # one attempt just finished: the usual wake-up
            observed[name] = Observation(
                1, AttemptState.SUCCEEDED if done else AttemptState.RUNNING, finished_at=NOW
            )
        else:
            blocks[name] = BlockStatus()
    status = PipelineRunStatus(
        phase="Running", pipeline_spec=spec, blocks=blocks, started_at=NOW, execution_date=NOW
    )
    return PlanInput(
        run_name="r",
        spec=PipelineRunSpec.model_validate({"pipelineRef": {"name": "p"}}),
        status=status,
        now=NOW,
        created_at=NOW,
        observed=observed,
    )


#: Items of the forEach block in the fan-out case (issue 15: plan() under 50 ms a call).
FANOUT_ITEMS = (1_000, 5_000)


def fanout_items_input(n: int) -> PlanInput:
    """A Running run of list -> forEach over n items -> after: the first half of the
    items Succeeded (their pods still observed, each with outputs), the next 20 Running
    with one attempt just finished, the rest Pending."""
    from runwright.api.fanout import FanOutStatus, ItemStatus
    from runwright.engine.fanout import counts
    from runwright.engine.naming import item_attempt_name, item_key

    files = json.dumps([f"orders-{i:05d}.csv" for i in range(n)])
    spec = PipelineSpec.model_validate(
        {
            "blocks": [
                {"name": "list", "command": ["x"]},
                {
                    "name": "each",
                    "command": ["x"],
                    "args": ["{{ item }}", "{{ item.index }}"],
                    "upstream": ["list"],
                    # A pod's outputs hold 4 KiB: thousands of items are written out.
                    "forEach": {"items": files, "maxParallel": 50},
                },
                {
                    "name": "after",
                    "command": ["x"],
                    "upstream": ["each"],
                    "args": ["{{ blocks.each.outputs.rows }}"],
                },
            ]
        }
    )
    half, running = n // 2, 20
    phases = "S" * half + "R" * running + "P" * (n - half - running)
    observed: dict[str, Observation] = {}
    for i in range(half):
        observed[item_key("each", i)] = Observation(
            1, AttemptState.SUCCEEDED, finished_at=NOW, outputs={"rows": "1200"}
        )
    active = []
    for i in range(half, half + running):
        job = item_attempt_name("r", "each", i, 1)
        active.append(ItemStatus(index=i, phase="Running", attempt=1, job=job, started_at=NOW))
        done = i == half  # one item just finished: the usual wake-up
        observed[item_key("each", i)] = Observation(
            1,
            AttemptState.SUCCEEDED if done else AttemptState.RUNNING,
            finished_at=NOW,
            outputs={"rows": "1200"} if done else {},
        )
    items = FanOutStatus(
        count=n,
        phases=phases,
        counts=counts(phases),
        attempts=[1] * (half + running) + [0] * (n - half - running),
        active=active,
        outputs=[{"rows": "1200"}] * half + [{}] * (n - half),
    )
    blocks = {
        "list": BlockStatus(phase=BlockPhase.SUCCEEDED, attempt=1, job="r-list-1"),
        "each": BlockStatus(phase=BlockPhase.RUNNING, started_at=NOW, items=items),
        "after": BlockStatus(),
    }
    observed["list"] = Observation(1, AttemptState.SUCCEEDED, finished_at=NOW)
    status = PipelineRunStatus(
        phase="Running", pipeline_spec=spec, blocks=blocks, started_at=NOW, execution_date=NOW
    )
    return PlanInput(
        run_name="r",
        spec=PipelineRunSpec.model_validate({"pipelineRef": {"name": "p"}}),
        status=status,
        now=NOW,
        created_at=NOW,
        observed=observed,
    )


def fanout_rows(repeat: int) -> list[dict[str, Any]]:
    """plan() with a forEach block of FANOUT_ITEMS items; prints a table, returns rows."""
    rows: list[dict[str, Any]] = []
    print(f"\n{'forEach items':<13} {'budget':>9} {'median ms':>10} {'min ms':>8} {'max ms':>8} "
          f"{'starts':>6} {'status KiB':>10}")  # fmt: skip
    for n in FANOUT_ITEMS:
        base = fanout_items_input(n)
        for budget in (None, 20):
            inp = dataclasses.replace(base, budget=budget)
            figures = measure(inp, repeat)
            result = plan(inp)
            size = len(json.dumps(result.status.dump(), separators=(",", ":"))) / 1024
            label = "unlimited" if budget is None else str(budget)
            rows.append(
                {"items": n, "budget": label, **figures, "starts": len(result.starts),
                 "status_kib": round(size, 1)}
            )  # fmt: skip
            print(
                f"{n:<13} {label:>9} {figures['median_ms']:>10.2f} {figures['min_ms']:>8.2f} "
                f"{figures['max_ms']:>8.2f} {len(result.starts):>6} {size:>10.1f}"
            )
    return rows


def measure(inp: PlanInput, repeat: int) -> dict[str, float]:
    plan(inp)  # warm caches (compiled templates, imports)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        plan(inp)
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--out", type=Path, default=Path("bench/results/engine.json"))
    args = parser.parse_args()
    rng = random.Random(42)
    rows: list[dict[str, Any]] = []
    print(
        f"{'shape':<8} {'blocks':>6} {'budget':>9} {'median ms':>10} {'min ms':>8} "
        f"{'max ms':>8} {'us/block':>9}"
    )
    for shape, make in SHAPES.items():
        for n in SIZES:
            base = make_input(n, make(n, rng))
            for budget in (None, 20):
                figures = measure(dataclasses.replace(base, budget=budget), args.repeat)
                per_block = figures["median_ms"] * 1000 / n
                label = "unlimited" if budget is None else str(budget)
                rows.append(
                    {
                        "shape": shape,
                        "blocks": n,
                        "budget": label,
                        **figures,
                        "us_per_block": per_block,
                    }
                )
                print(
                    f"{shape:<8} {n:>6} {label:>9} {figures['median_ms']:>10.2f} "
                    f"{figures['min_ms']:>8.2f} {figures['max_ms']:>8.2f} {per_block:>9.1f}"
                )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fanout = fanout_rows(args.repeat)
    report = {"benchmark": "engine.plan", "python": platform.python_version(), "results": rows}
    report["fanout"] = fanout
    args.out.write_text(json.dumps(report, indent=2))
    print(f"report: {args.out}")


if __name__ == "__main__":
    main()
