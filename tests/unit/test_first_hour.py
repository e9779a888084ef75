"""Issue 10, where the engine decides: retry that takes the fix, honest retries, failFast
that starts nothing, live retention, readable template errors, honest columns, attempts."""

from __future__ import annotations

from datetime import timedelta

from runwright.api import BlockPhase, PipelineRunStatus, RunPhase
from runwright.api.run import MAX_ATTEMPT_HISTORY, TriggeredBy
from runwright.engine.durations import human
from runwright.engine.plan import PlanInput, plan
from runwright.engine.reasons import BlockReason, ConditionReason, EventReason
from tests.unit.sim import FAIL, T0, Outcome, Sim, run_spec, spec

DIAMOND = """
blocks:
- {name: extract, command: [x]}
- {name: clean, command: [x], upstream: [extract]}
- {name: enrich, command: [x], upstream: [extract]}
- {name: export, command: [x], upstream: [clean, enrich]}
"""

BROKEN = """
failFast: false
blocks:
- {name: a, command: [x]}
- {name: b, command: [x], upstream: [a], args: ["{{ blocks.a.outputs.rows }}"]}
- {name: d, command: [x]}
"""

FIXED = """
failFast: false
blocks:
- {name: a, command: [x]}
- {name: b, command: [x], upstream: [a], args: ["fixed"]}
- {name: c, command: [x], upstream: [b]}
"""


def _condition(status: PipelineRunStatus, type_: str) -> tuple[str, str, str]:
    cond = next(c for c in status.conditions if c.type == type_)
    return str(cond.status), cond.reason, cond.message


def _events(sim: Sim) -> list[tuple[str, str]]:
    return [(e.reason, e.message) for p in sim.history for e in p.events]


# ----- item 1: retry and rerun with pipelineSpec Current ------------------------------------


def test_a_frozen_retry_runs_the_frozen_spec_and_fails_the_same_way() -> None:
    sim = Sim(spec(BROKEN))
    sim.pipeline_generation = 1
    assert sim.run().phase == RunPhase.FAILED
    sim.pipeline, sim.pipeline_generation = spec(FIXED), 2
    sim.spec = run_spec(retry={"id": "2", "mode": "Incomplete"})
    status = sim.run()
    assert status.phase == RunPhase.FAILED
    assert status.blocks["b"].reason == BlockReason.INVALID_TEMPLATE
    assert status.pipeline_generation == 1


def test_a_current_retry_takes_the_fix_keeps_succeeded_blocks_and_drops_removed_ones() -> None:
    sim = Sim(spec(BROKEN), {"a": [Outcome(outputs={"count": "3"})]})
    sim.pipeline_generation = 1
    first = sim.run()
    assert first.phase == RunPhase.FAILED
    assert first.pipeline_generation == 1
    a_before = first.blocks["a"]
    sim.pipeline, sim.pipeline_generation = spec(FIXED), 2
    sim.spec = run_spec(retry={"id": "2", "mode": "Incomplete", "pipelineSpec": "Current"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.pipeline_generation == 2
    assert set(status.blocks) == {"a", "b", "c"}
    assert status.blocks["a"] == a_before  # kept: state and outputs
    assert status.blocks["b"].attempt == 2  # attempt numbers go on
    assert status.blocks["c"].attempt == 1  # a new block, started from Pending
    assert status.pipeline_spec is not None
    assert [b.name for b in status.pipeline_spec.blocks] == ["a", "b", "c"]
    removed = [m for r, m in _events(sim) if r == EventReason.BLOCKS_REMOVED]
    assert len(removed) == 1 and '"d"' in removed[0]


def test_a_current_retry_of_an_invalid_pipeline_is_refused() -> None:
    sim = Sim(spec(BROKEN))
    sim.run()
    sim.pipeline = spec("blocks: [{name: a, command: [x], upstream: [zz]}]")
    sim.spec = run_spec(retry={"id": "2", "pipelineSpec": "Current"})
    result = sim.step()
    assert result.status.phase == RunPhase.FAILED
    status, reason, message = _condition(result.status, "RetryAccepted")
    assert (status, reason) == ("False", ConditionReason.INVALID_PIPELINE)
    assert "zz" in message
    assert not result.starts


def test_a_current_rerun_runs_the_live_pipeline_with_the_source_inputs() -> None:
    source = Sim(spec("variables: {v: old}\nblocks: [{name: a, command: [x]}]"))
    source.spec = run_spec(executionDate="2026-01-01T00:00:00Z", variables={"v": "run"})
    source_status = source.run()
    edited = spec("variables: {v: new, w: x}\nblocks: [{name: b, command: [x]}]")
    rerun = run_spec(rerunOf={"name": "r", "pipelineSpec": "Current"})
    assert rerun.triggered_by == TriggeredBy.RERUN
    result = plan(
        PlanInput(
            run_name="r2",
            spec=rerun,
            status=PipelineRunStatus(),
            now=T0,
            created_at=T0,
            pipeline=edited,
            pipeline_generation=7,
            rerun_source=source_status,
        )
    )
    assert set(result.status.blocks) == {"b"}
    assert result.status.variables == {"v": "run", "w": "x"}
    assert result.status.execution_date == source_status.execution_date
    assert result.status.pipeline_generation == 7


def test_a_rerun_is_triggered_by_rerun_unless_it_says_otherwise() -> None:
    assert run_spec(rerunOf={"name": "r"}).triggered_by == TriggeredBy.RERUN
    assert run_spec(rerunOf={"name": "r"}, triggeredBy="API").triggered_by == TriggeredBy.API
    assert run_spec().triggered_by == TriggeredBy.MANUAL


def test_a_run_records_the_pipeline_generation_it_froze() -> None:
    sim = Sim(spec(DIAMOND))
    sim.pipeline_generation = 4
    assert sim.step().status.pipeline_generation == 4


# ----- item 2: FromBlock on a branch never cancels finished work -----------------------------


def test_from_block_on_a_branch_while_a_sibling_failed_is_refused_naming_it() -> None:
    sim = Sim(spec(DIAMOND), {"enrich": [FAIL]})
    assert sim.run().phase == RunPhase.FAILED
    before = sim.status
    sim.spec = run_spec(retry={"id": "1", "mode": "FromBlock", "fromBlock": "clean"})
    result = sim.step()
    assert not result.starts
    assert result.status.phase == RunPhase.FAILED
    assert result.status.blocks["clean"] == before.blocks["clean"]
    assert result.status.blocks["clean"].phase == BlockPhase.SUCCEEDED
    status, reason, message = _condition(result.status, "RetryAccepted")
    assert (status, reason) == ("False", ConditionReason.BLOCK_STILL_FAILED)
    assert '"enrich"' in message
    assert "Incomplete" in message and "fromBlock: enrich" in message
    assert any(e.reason == EventReason.RETRY_REJECTED for e in result.events)


def test_from_block_on_the_failed_branch_is_accepted() -> None:
    sim = Sim(spec(DIAMOND), {"enrich": [FAIL, Outcome()]})
    sim.run()
    sim.spec = run_spec(retry={"id": "1", "mode": "FromBlock", "fromBlock": "enrich"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.blocks["clean"].attempt == 1


# ----- item 3: a plan that ends the run starts nothing ---------------------------------------


def test_a_plan_that_fails_the_run_fast_starts_nothing() -> None:
    pipeline = spec(
        """
blocks:
- {name: a, command: [x]}
- {name: b, command: [x], upstream: [a], args: ["{{ blocks.a.outputs.rows }}"]}
- {name: c, command: [x], upstream: [a]}
"""
    )
    sim = Sim(pipeline)
    status = sim.run()
    assert status.phase == RunPhase.FAILED
    ending = next(p for p in sim.history if p.status.phase == RunPhase.FAILED)
    assert ending.starts == []
    assert ending.stops == []
    assert [s.block for s in sim.started] == ["a"]
    reasons = [r for r, _ in _events(sim)]
    assert EventReason.BLOCK_STARTED not in reasons[reasons.index(EventReason.RUN_FAILED) :]
    assert status.blocks["c"].phase == BlockPhase.CANCELLED
    assert status.blocks["c"].attempt == 0


# ----- item 4: retention follows the Pipeline as it is now -----------------------------------


def test_retention_is_read_from_the_live_pipeline() -> None:
    sim = Sim(spec("blocks: [{name: a, command: [x]}]"))
    status = sim.run()
    assert sim.history[-1].wake_at is None  # no retention when it ran
    sim.pipeline = spec("retention: {succeededSeconds: 60}\nblocks: [{name: a, command: [x]}]")
    result = sim.step()
    assert result.wake_at == status.completed_at + timedelta(seconds=60)  # type: ignore[operator]
    sim.now = status.completed_at + timedelta(seconds=60)  # type: ignore[operator]
    assert sim.step().delete


def test_retention_falls_back_to_the_frozen_spec_when_the_pipeline_is_gone() -> None:
    sim = Sim(spec("retention: {succeededSeconds: 60}\nblocks: [{name: a, command: [x]}]"))
    status = sim.run()
    sim.pipeline = None
    result = sim.step()
    assert result.wake_at == status.completed_at + timedelta(seconds=60)  # type: ignore[operator]


# ----- item 6: template errors in the user's terms ------------------------------------------


def test_a_missing_upstream_output_is_named_with_what_the_upstream_wrote() -> None:
    pipeline = spec(
        """
blocks:
- {name: extract, command: [x]}
- {name: load, command: [x], upstream: [extract], args: ["{{ blocks.extract.outputs.rows }}"]}
"""
    )
    sim = Sim(pipeline, {"extract": [Outcome(outputs={"path": "/x", "count": "3"})]})
    status = sim.run()
    expected = (
        "block load: args[0]: {{ blocks.extract.outputs.rows }}: "
        'upstream "extract" wrote no output "rows" (it wrote: count, path)'
    )
    assert status.blocks["load"].message == expected
    assert expected in status.message


def test_a_missing_output_of_an_upstream_that_wrote_none_says_so() -> None:
    pipeline = spec(
        """
blocks:
- {name: extract, command: [x]}
- name: load
  command: [x]
  upstream: [extract]
  when: [{input: "{{ blocks.extract.outputs.go }}", operator: Equals, values: ["y"]}]
"""
    )
    status = Sim(pipeline).run()
    assert status.blocks["load"].message == (
        "block load: when[0].input: {{ blocks.extract.outputs.go }}: "
        'upstream "extract" wrote no output "go" (it wrote no outputs)'
    )


# ----- item 8: honest columns ----------------------------------------------------------------


def test_progress_counts_blocks_completed_successfully_and_the_failed_block_is_named() -> None:
    pipeline = spec(DIAMOND.replace("blocks:", "failFast: false\nblocks:"))
    sim = Sim(pipeline, {"enrich": [Outcome(seconds=91, exit_code=1)]})
    status = sim.run()
    assert status.phase == RunPhase.FAILED
    assert status.progress == "2/4"  # extract, clean; not enrich (Failed), export (Upstream)
    assert status.failed_block == "enrich"
    assert status.duration_seconds == 92
    assert status.duration == "1m32s"


def test_allowed_failures_count_as_progress() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x], allowFailure: true}, {name: b, command: [x]}]"
    )
    status = Sim(pipeline, {"a": [FAIL]}).run()
    assert (status.phase, status.progress, status.failed_block) == (RunPhase.SUCCEEDED, "2/2", None)


def test_a_retry_clears_the_failed_block_and_the_duration() -> None:
    sim = Sim(spec(DIAMOND), {"enrich": [FAIL, Outcome()]})
    sim.run()
    sim.spec = run_spec(retry={"id": "1"})
    first = sim.step().status
    assert (first.failed_block, first.duration, first.duration_seconds) == (None, None, None)


def test_durations_read_in_human_units() -> None:
    # status.duration uses the one formatter of the CLI and the live view.
    assert [human(s) for s in (0, 5, 60, 92, 3600, 3725, 90061)] == [
        "0s",
        "5s",
        "1m00s",
        "1m32s",
        "1h00m",
        "1h02m",
        "1d01h",
    ]


# ----- item 9: the attempts of a block -------------------------------------------------------


def test_each_attempt_of_a_block_is_kept_in_its_status() -> None:
    pipeline = spec("retry: {limit: 3, backoffSeconds: 1}\nblocks: [{name: a, command: [x]}]")
    sim = Sim(pipeline, {"a": [FAIL, FAIL, Outcome()]})
    status = sim.run()
    attempts = status.blocks["a"].attempts
    assert [(r.attempt, r.phase, r.reason, r.exit_code) for r in attempts] == [
        (1, BlockPhase.FAILED, "Error", 1),
        (2, BlockPhase.FAILED, "Error", 1),
        (3, BlockPhase.SUCCEEDED, "", 0),
    ]
    assert all(r.started_at is not None and r.completed_at is not None for r in attempts)
    assert attempts[0].completed_at <= attempts[1].started_at  # type: ignore[operator]


def test_the_attempt_history_keeps_only_the_latest_ten() -> None:
    pipeline = spec("retry: {limit: 20, backoffSeconds: 1}\nblocks: [{name: a, command: [x]}]")
    sim = Sim(pipeline, {"a": [FAIL] * 12 + [Outcome()]})
    attempts = sim.run().blocks["a"].attempts
    assert len(attempts) == MAX_ATTEMPT_HISTORY
    assert [r.attempt for r in attempts] == list(range(4, 14))


def test_an_attempt_cancelled_by_fail_fast_is_recorded_cancelled() -> None:
    pipeline = spec("blocks: [{name: a, command: [x]}, {name: b, command: [x]}]")
    sim = Sim(pipeline, {"a": [FAIL], "b": [Outcome(seconds=10)]})
    status = sim.run()
    assert [(r.attempt, r.phase) for r in status.blocks["b"].attempts] == [
        (1, BlockPhase.CANCELLED)
    ]
