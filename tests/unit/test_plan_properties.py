"""Property tests of plan() over random DAGs, limits and block outcomes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwright.api import BlockPhase, PipelineSpec, RunPhase
from runwright.engine import backoff
from runwright.engine.plan import block_ok, final_phase
from tests.unit.sim import Outcome, Sim, satisfies_downstream


@st.composite
def pipelines(draw: st.DrawFn) -> tuple[PipelineSpec, dict[str, list[Outcome]]]:
    """A random DAG (edges only to earlier blocks), random limits and scripted outcomes."""
    n = draw(st.integers(min_value=1, max_value=12))
    blocks: list[dict[str, Any]] = []
    scripts: dict[str, list[Outcome]] = {}
    for i in range(n):
        ups = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        block: dict[str, Any] = {
            "name": f"b{i}",
            "command": ["x"],
            "upstream": [f"b{u}" for u in ups],
            "allowFailure": draw(st.booleans()),
            "retry": {"limit": draw(st.integers(0, 2)), "backoffSeconds": draw(st.integers(0, 5))},
        }
        if draw(st.integers(0, 5)) == 0:
            block["when"] = [
                {
                    "input": "{{ variables.go }}",
                    "operator": "In",
                    "values": [draw(st.sampled_from(["yes", "no"]))],
                }
            ]
        if draw(st.booleans()):
            block["timeoutSeconds"] = draw(st.integers(1, 20))
        blocks.append(block)
        scripts[f"b{i}"] = [
            Outcome(seconds=draw(st.integers(0, 15)), exit_code=draw(st.sampled_from([0, 0, 1])))
            for _ in range(3)
        ]
    spec: dict[str, Any] = {
        "variables": {"go": "yes"},
        "failFast": draw(st.booleans()),
        "blocks": blocks,
    }
    if draw(st.booleans()):
        spec["concurrency"] = {"blockRunLimit": draw(st.integers(1, 3))}
    return PipelineSpec.model_validate(spec), scripts


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pipelines())
def test_plan_invariants_hold_over_random_runs(
    case: tuple[PipelineSpec, dict[str, list[Outcome]]],
) -> None:
    spec, scripts = case
    by_name = {b.name: b for b in spec.blocks}
    sim = Sim(spec, scripts)
    previous_finished = False
    attempts: dict[str, int] = {}
    for _ in range(2_000):
        result = sim.step()
        status = result.status
        blocks = status.blocks
        assert status.phase is not None
        # A finished run never starts anything.
        if previous_finished:
            assert not result.starts
        # Nothing starts before its upstream allows it.
        for start in result.starts:
            block = by_name[start.block]
            for up in block.upstream:
                assert satisfies_downstream(by_name[up], blocks[up]), (start.block, up)
            attempts[start.block] = start.attempt
        # Never more than blockRunLimit running.
        limit = spec.concurrency.block_run_limit
        running = sum(1 for b in blocks.values() if b.phase == BlockPhase.RUNNING)
        if limit is not None:
            assert running <= limit
        # Attempts never exceed 1 + the retry limit.
        for name, attempt in attempts.items():
            assert attempt <= 1 + backoff.resolve(spec, by_name[name]).limit
        # A run is finished iff every block is.
        all_done = all(b.phase.finished for b in blocks.values())
        assert status.phase.finished == all_done, (status.phase, blocks)
        previous_finished = status.phase.finished
        if previous_finished:
            break
        if not result.starts and not sim.advance(result.wake_at):
            raise AssertionError(f"stuck: {blocks}")
    else:
        raise AssertionError("the run never finished")
    # The final phase follows API.md's rule: Succeeded iff every block is Succeeded or
    # ConditionFailed, or Failed/UpstreamFailed under allowFailure; Failed otherwise.
    ok = all(block_ok(by_name[n], b) for n, b in status.blocks.items())
    assert status.phase == (RunPhase.SUCCEEDED if ok else RunPhase.FAILED)
    assert status.phase == final_phase(spec, status.blocks)


@settings(max_examples=100, deadline=None)
@given(case=pipelines())
def test_plan_is_deterministic(case: tuple[PipelineSpec, dict[str, list[Outcome]]]) -> None:
    spec, scripts = case
    first, second = Sim(spec, scripts), Sim(spec, scripts)
    a, b = first.run(), second.run()
    assert a == b
    assert [s.name for s in first.started] == [s.name for s in second.started]
