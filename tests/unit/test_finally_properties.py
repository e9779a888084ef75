"""Property tests of finally blocks over random DAGs, outcomes, cancels and timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runwright.api import BlockPhase, PipelineSpec, RunPhase
from runwright.api.run import FinallyPhase
from runwright.engine import backoff
from runwright.engine.plan import block_ok
from tests.unit.sim import Outcome, Sim, run_spec


@dataclass
class Case:
    spec: PipelineSpec
    scripts: dict[str, list[Outcome]]
    cancel_at: int | None
    """Set spec.cancel before this call of plan (None: never)."""
    skip_at: int | None
    """Set spec.skipFinally before this call of plan (None: never)."""


def _block(draw: st.DrawFn, name: str, ups: list[str]) -> dict[str, Any]:
    block: dict[str, Any] = {
        "name": name,
        "command": ["x"],
        "upstream": ups,
        "allowFailure": draw(st.booleans()),
        "retry": {"limit": draw(st.integers(0, 2)), "backoffSeconds": draw(st.integers(0, 5))},
    }
    if draw(st.booleans()):
        block["timeoutSeconds"] = draw(st.integers(1, 20))
    return block


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """A random DAG, 1-3 finally blocks (a DAG of their own), outcomes, cancel, timeout."""
    blocks, finally_ = [], []
    scripts: dict[str, list[Outcome]] = {}
    n = draw(st.integers(1, 8))
    for i in range(n):
        ups = draw(st.lists(st.integers(0, i - 1), max_size=2, unique=True)) if i else []
        blocks.append(_block(draw, f"b{i}", [f"b{u}" for u in ups]))
    m = draw(st.integers(1, 3))
    for i in range(m):
        ups = draw(st.lists(st.integers(0, i - 1), max_size=1, unique=True)) if i else []
        block = _block(draw, f"f{i}", [f"f{u}" for u in ups])
        if draw(st.integers(0, 3)) == 0:
            block["when"] = [
                {"input": "{{ run.phase }}", "operator": "Equals", "values": ["Failed"]}
            ]
        finally_.append(block)
    for block in blocks + finally_:
        scripts[block["name"]] = [
            Outcome(seconds=draw(st.integers(0, 15)), exit_code=draw(st.sampled_from([0, 0, 1])))
            for _ in range(3)
        ]
    spec: dict[str, Any] = {
        "failFast": draw(st.booleans()),
        "blocks": blocks,
        "finally": finally_,
    }
    if draw(st.booleans()):
        spec["timeoutSeconds"] = draw(st.integers(1, 40))
        spec["timeoutStatus"] = draw(st.sampled_from(["Failed", "Cancelled"]))
    if draw(st.booleans()):
        spec["concurrency"] = {"blockRunLimit": draw(st.integers(1, 3))}
    cancel_at = draw(st.none() | st.integers(0, 12))
    skip_at = draw(st.none() | st.integers(0, 20)) if draw(st.integers(0, 3)) == 0 else None
    return Case(PipelineSpec.model_validate(spec), scripts, cancel_at, skip_at)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases())
def test_finally_invariants_hold_over_random_runs(case: Case) -> None:
    spec = case.spec
    dag = {b.name: b for b in spec.blocks}
    fin = {b.name: b for b in spec.finally_}
    sim = Sim(spec, case.scripts)
    started: list[str] = []
    outcome: RunPhase | None = None
    for call in range(2_000):
        fields = {}
        if case.cancel_at is not None and call >= case.cancel_at:
            fields["cancel"] = True
        if case.skip_at is not None and call >= case.skip_at:
            fields["skipFinally"] = True
        sim.spec = run_spec(**fields)
        before = sim.status
        result = sim.step()
        status = result.status
        blocks = status.blocks
        for start in result.starts:
            started.append(start.name)
            if start.block in fin:
                # A finally block starts only once every block of spec.blocks is finished,
                # and never with skipFinally.
                assert all(blocks[n].phase.finished for n in dag), (start.block, blocks)
                assert not sim.spec.skip_finally
                assert status.finally_ is not None
            else:
                # No block of spec.blocks starts once finally has begun.
                assert before.finally_ is None
        # The recorded outcome of the blocks never changes once set.
        if status.finally_ is not None:
            if outcome is None:
                outcome = status.finally_.run_phase
            assert status.finally_.run_phase == outcome
        # Finally blocks run while the run is Running; the run is finished iff every
        # block (finally ones too) is.
        assert status.phase is not None
        if status.phase.finished and status.finally_ is not None:
            assert all(b.phase.finished for b in blocks.values()), blocks
        if status.phase.finished:
            break
        if not result.starts and not sim.advance(result.wake_at):
            raise AssertionError(f"stuck: {blocks}")
    else:
        raise AssertionError("the run never finished")
    # Every attempt starts once; attempts stay within each block's retry limit.
    assert len(started) == len(set(started))
    for name, b in status.blocks.items():
        block = dag.get(name) or fin[name]
        assert b.attempt <= 1 + backoff.resolve(spec, block).limit
    if status.finally_ is None:
        # Only a run cancelled before it ever ran runs no finally blocks.
        assert case.cancel_at == 0 and not started
        return
    # The rule: the blocks' outcome stands, except a finally failure fails a Succeeded run.
    assert outcome is not None
    skipped = status.finally_.phase == FinallyPhase.SKIPPED
    finally_ok = all(block_ok(fin[n], status.blocks[n]) for n in fin)
    if outcome == RunPhase.SUCCEEDED and not finally_ok and not skipped:
        assert status.phase == RunPhase.FAILED
        assert status.reason == "FinallyFailed"
    else:
        assert status.phase == outcome
    if skipped:
        assert all(status.blocks[n].phase != BlockPhase.RUNNING for n in fin)
    # Finally never runs twice: nothing starts once the run is finished.
    for _ in range(2):
        sim.now = sim.now.replace(year=sim.now.year + 1)
        assert not sim.step().starts
