"""spec.finally: blocks run once the DAG is done, whatever the outcome (docs/finally.md)."""

from __future__ import annotations

from datetime import timedelta

from runwright.api import PipelineRunStatus, RunPhase
from runwright.api.run import FinallyPhase
from runwright.checks import check_pipeline
from runwright.engine.plan import Plan
from tests.unit.sim import FAIL, OK, T0, Outcome, Sim, run_spec, spec

CLEANUP = """
blocks:
- {name: extract, command: [x]}
- {name: load, command: [x], upstream: [extract]}
finally:
- name: cleanup
  command: [x]
  args: ["{{ run.phase }}", "{{ run.reason }}", "{{ run.failedBlocks | join(',') }}"]
"""


def args_of(sim: Sim, attempt_name: str) -> list[str]:
    return next(s.args for s in sim.started if s.name == attempt_name)


def until_started(sim: Sim, attempt_name: str) -> None:
    """Drive the run until the attempt has started (its start carried out)."""
    while attempt_name not in [s.name for s in sim.started]:
        result = sim.step()
        if not result.starts:
            assert sim.advance(result.wake_at), "the run is stuck"


def reasons(plans: list[Plan]) -> list[str]:
    return [str(e.reason) for p in plans for e in p.events]


def condition(status: PipelineRunStatus, type_: str) -> tuple[str, str]:
    (found,) = [c for c in status.conditions if c.type == type_]
    return str(found.status), found.reason


def test_finally_runs_after_success_and_sees_run_phase_succeeded() -> None:
    sim = Sim(spec(CLEANUP))
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started] == ["r-extract-1", "r-load-1", "r-cleanup-1"]
    assert args_of(sim, "r-cleanup-1") == ["Succeeded", "", ""]
    assert sim.phases()["cleanup"] == "Succeeded"
    assert status.progress == "3/3"
    assert status.finally_ is not None and status.finally_.phase == FinallyPhase.SUCCEEDED
    assert condition(status, "FinallySucceeded") == ("True", "FinallySucceeded")
    events = reasons(sim.history)
    assert events.index("FinallyStarted") < events.index("RunSucceeded")
    assert events[-1] == "RunSucceeded"


def test_the_run_stays_running_with_reason_running_finally_until_finally_is_done() -> None:
    sim = Sim(spec(CLEANUP), {"cleanup": [Outcome(seconds=30)]})
    until_started(sim, "r-cleanup-1")
    assert sim.status.phase == RunPhase.RUNNING
    assert sim.status.reason == "RunningFinally"
    assert sim.status.completed_at is None
    assert sim.status.progress == "2/3"
    assert sim.status.finally_ is not None
    assert sim.status.finally_.run_phase == RunPhase.SUCCEEDED
    assert sim.run().completed_at == T0 + timedelta(seconds=2 + 30)


def test_finally_runs_after_failure_and_the_run_stays_failed() -> None:
    sim = Sim(spec(CLEANUP), {"load": [FAIL]})
    status = sim.run()
    assert status.phase == RunPhase.FAILED
    assert status.reason == "BlockFailed"
    assert status.failed_block == "load"
    assert sim.phases() == {"extract": "Succeeded", "load": "Failed", "cleanup": "Succeeded"}
    assert args_of(sim, "r-cleanup-1") == ["Failed", "BlockFailed", "load"]
    assert status.finally_ is not None and status.finally_.failed_blocks == ["load"]
    assert reasons(sim.history)[-1] == "RunFailed"


def test_finally_blocks_read_the_outputs_of_any_block_even_a_failed_ones_absence() -> None:
    pipeline = spec(
        """
blocks:
- {name: a, command: [x]}
- {name: b, command: [x], upstream: [a]}
finally:
- name: report
  command: [x]
  args: ["{{ blocks.a.outputs.rows }}", "{{ blocks.b.outputs.rows | default('none') }}"]
"""
    )
    sim = Sim(pipeline, {"a": [Outcome(outputs={"rows": "7"})], "b": [FAIL]})
    sim.run()
    assert args_of(sim, "r-report-1") == ["7", "none"]


def test_a_when_on_run_phase_runs_a_finally_block_only_on_failure() -> None:
    pipeline = spec(
        CLEANUP
        + """
- name: alert
  command: [x]
  when: [{input: "{{ run.phase }}", operator: Equals, values: [Failed]}]
"""
    )
    ok = Sim(pipeline)
    assert ok.run().phase == RunPhase.SUCCEEDED
    assert ok.phases()["alert"] == "ConditionFailed"
    failed = Sim(pipeline, {"extract": [FAIL]})
    assert failed.run().phase == RunPhase.FAILED
    assert failed.phases()["alert"] == "Succeeded"


def test_cancel_cancels_the_blocks_then_runs_finally_and_ends_cancelled() -> None:
    sim = Sim(spec(CLEANUP), {"extract": [Outcome(seconds=100)]})
    sim.step()
    sim.spec = run_spec(cancel=True)
    result = sim.step()
    assert [s.name for s in result.stops] == ["r-extract-1"]
    assert [s.name for s in result.starts] == ["r-cleanup-1"]
    assert result.status.phase == RunPhase.RUNNING
    status = sim.run()
    assert status.phase == RunPhase.CANCELLED
    assert status.reason == "Cancelled"
    assert sim.phases() == {"extract": "Cancelled", "load": "Cancelled", "cleanup": "Succeeded"}
    assert args_of(sim, "r-cleanup-1") == ["Cancelled", "Cancelled", ""]


def test_a_cancel_while_finally_runs_lets_it_finish() -> None:
    sim = Sim(spec(CLEANUP), {"cleanup": [Outcome(seconds=30)]})
    until_started(sim, "r-cleanup-1")
    assert sim.status.reason == "RunningFinally"
    sim.spec = run_spec(cancel=True)
    result = sim.step()
    assert not result.stops
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert sim.phases()["cleanup"] == "Succeeded"


def test_skip_finally_with_cancel_ends_the_run_at_once_without_finally() -> None:
    sim = Sim(spec(CLEANUP), {"extract": [Outcome(seconds=100)]})
    sim.step()
    sim.spec = run_spec(cancel=True, skipFinally=True)
    result = sim.step()
    assert result.status.phase == RunPhase.CANCELLED
    assert not result.starts
    assert sim.phases()["cleanup"] == "Cancelled"
    assert result.status.blocks["cleanup"].reason == "SkipFinally"
    assert condition(result.status, "FinallySucceeded") == ("False", "FinallySkipped")
    assert "FinallyStarted" not in reasons(sim.history)


def test_skip_finally_while_finally_runs_stops_it_and_keeps_the_outcome() -> None:
    sim = Sim(spec(CLEANUP), {"load": [FAIL], "cleanup": [Outcome(seconds=300)]})
    until_started(sim, "r-cleanup-1")
    sim.spec = run_spec(skipFinally=True)
    result = sim.step()
    assert [s.name for s in result.stops] == ["r-cleanup-1"]
    assert result.status.phase == RunPhase.FAILED
    assert result.status.reason == "BlockFailed"
    assert sim.phases()["cleanup"] == "Cancelled"


def test_finally_runs_after_the_run_timeout_outside_the_runs_deadline() -> None:
    pipeline = spec(
        """
timeoutSeconds: 10
timeoutStatus: Cancelled
blocks: [{name: a, command: [x]}]
finally:
- {name: cleanup, command: [x], args: ["{{ run.phase }}", "{{ run.reason }}"]}
"""
    )
    sim = Sim(pipeline, {"a": [Outcome(seconds=60)], "cleanup": [Outcome(seconds=20)]})
    status = sim.run()
    assert status.phase == RunPhase.CANCELLED
    assert status.reason == "Timeout"
    assert status.timed_out
    assert args_of(sim, "r-cleanup-1") == ["Cancelled", "Timeout"]
    # The run's timeout bounded the blocks; finally ran its 20s after it.
    assert sim.phases() == {"a": "Cancelled", "cleanup": "Succeeded"}
    assert status.completed_at == T0 + timedelta(seconds=30)


def test_a_finally_block_over_its_own_timeout_fails() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x]}]\n"
        "finally: [{name: cleanup, command: [x], timeoutSeconds: 5}]\n"
    )
    sim = Sim(pipeline, {"cleanup": [Outcome(seconds=60)]})
    status = sim.run()
    assert status.blocks["cleanup"].reason == "Timeout"
    assert status.phase == RunPhase.FAILED
    assert status.reason == "FinallyFailed"


def test_a_finally_failure_fails_a_succeeded_run_with_reason_finally_failed() -> None:
    sim = Sim(spec(CLEANUP), {"cleanup": [FAIL]})
    status = sim.run()
    assert status.phase == RunPhase.FAILED
    assert status.reason == "FinallyFailed"
    assert status.failed_block == "cleanup"
    assert status.message == "finally block cleanup failed (Error): boom"
    assert status.finally_ is not None and status.finally_.run_phase == RunPhase.SUCCEEDED
    assert condition(status, "FinallySucceeded") == ("False", "FinallyFailed")
    assert "FinallyFailed" in reasons(sim.history)


def test_a_finally_failure_keeps_a_failed_runs_own_reason_and_names_both() -> None:
    sim = Sim(spec(CLEANUP), {"load": [FAIL], "cleanup": [FAIL]})
    status = sim.run()
    assert status.phase == RunPhase.FAILED
    assert status.reason == "BlockFailed"
    assert status.failed_block == "load"
    assert status.message.startswith("block load failed (Error): boom")
    assert status.message.endswith("; finally block cleanup failed (Error): boom")
    assert condition(status, "FinallySucceeded") == ("False", "FinallyFailed")


def test_a_finally_failure_keeps_a_cancelled_run_cancelled() -> None:
    sim = Sim(spec(CLEANUP), {"extract": [Outcome(seconds=100)], "cleanup": [FAIL]})
    sim.step()
    sim.spec = run_spec(cancel=True)
    status = sim.run()
    assert status.phase == RunPhase.CANCELLED
    assert status.reason == "Cancelled"


def test_a_finally_block_with_allow_failure_does_not_fail_the_run() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x]}]\n"
        "finally: [{name: cleanup, command: [x], allowFailure: true}]\n"
    )
    sim = Sim(pipeline, {"cleanup": [FAIL]})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.progress == "2/2"
    assert condition(status, "FinallySucceeded") == ("True", "FinallySucceeded")


def test_finally_blocks_are_retried_per_their_policy() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x]}]\n"
        "finally: [{name: cleanup, command: [x], retry: {limit: 2, backoffSeconds: 5}}]\n"
    )
    sim = Sim(pipeline, {"cleanup": [FAIL, FAIL, OK]})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started] == ["r-a-1", "r-cleanup-1", "r-cleanup-2", "r-cleanup-3"]
    assert reasons(sim.history).count("BlockRetrying") == 2


def test_a_failing_finally_block_does_not_cancel_the_others() -> None:
    pipeline = spec(
        """
failFast: true
blocks: [{name: a, command: [x]}]
finally:
- {name: quick, command: [x]}
- {name: slow, command: [x]}
- {name: after-slow, command: [x], upstream: [slow]}
"""
    )
    sim = Sim(pipeline, {"quick": [FAIL], "slow": [Outcome(seconds=50)]})
    status = sim.run()
    assert sim.phases() == {
        "a": "Succeeded",
        "quick": "Failed",
        "slow": "Succeeded",
        "after-slow": "Succeeded",
    }
    assert status.reason == "FinallyFailed"


def test_a_failed_finally_upstream_makes_its_downstream_upstream_failed() -> None:
    pipeline = spec(
        "blocks: [{name: a, command: [x]}]\n"
        "finally: [{name: f1, command: [x]}, {name: f2, command: [x], upstream: [f1]}]\n"
    )
    sim = Sim(pipeline, {"f1": [FAIL]})
    sim.run()
    assert sim.phases()["f2"] == "UpstreamFailed"


def test_retry_incomplete_runs_finally_again_with_attempts_going_on() -> None:
    sim = Sim(spec(CLEANUP), {"load": [FAIL, OK]})
    assert sim.run().phase == RunPhase.FAILED
    sim.spec = run_spec(retry={"id": "1", "mode": "Incomplete"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started] == [
        "r-extract-1",
        "r-load-1",
        "r-cleanup-1",
        "r-load-2",
        "r-cleanup-2",
    ]
    assert args_of(sim, "r-cleanup-2") == ["Succeeded", "", ""]
    assert condition(status, "FinallySucceeded") == ("True", "FinallySucceeded")


def test_retry_of_a_run_failed_only_by_finally_runs_just_finally_again() -> None:
    sim = Sim(spec(CLEANUP), {"cleanup": [FAIL, OK]})
    assert sim.run().reason == "FinallyFailed"
    sim.spec = run_spec(retry={"id": "1", "mode": "Incomplete"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert status.failed_block is None
    assert [s.name for s in sim.started][3:] == ["r-cleanup-2"]


def test_a_run_that_never_started_runs_no_finally() -> None:
    pipeline = spec(CLEANUP + "concurrency: {pipelineRunLimit: 1, onLimit: Skip}\n")
    sim = Sim(pipeline, admitted=False)
    status = sim.run()
    assert status.phase == RunPhase.CANCELLED
    assert not sim.started
    assert status.finally_ is None


def test_finally_never_runs_twice_once_the_run_is_finished() -> None:
    sim = Sim(spec(CLEANUP))
    sim.run()
    for _ in range(3):
        sim.now += timedelta(hours=1)
        assert not sim.step().starts
    assert [s.block for s in sim.started].count("cleanup") == 1


# ----- validation -------------------------------------------------------------------


def problems(text: str) -> list[str]:
    return [str(p) for p in check_pipeline(spec(text))]


def test_finally_names_must_differ_from_block_names() -> None:
    assert problems("blocks: [{name: a, command: [x]}]\nfinally: [{name: a, command: [x]}]") == [
        'spec.finally[0].name: "a" is already the name of spec.blocks[0]; names are unique '
        "across spec.blocks and spec.finally"
    ]


def test_a_finally_upstream_may_name_only_finally_blocks() -> None:
    text = "blocks: [{name: a, command: [x]}]\nfinally: [{name: f, command: [x], upstream: [a]}]"
    (problem,) = problems(text)
    assert problem.startswith('spec.finally[0].upstream[0]: names "a" of spec.blocks')


def test_a_block_cannot_wait_for_a_finally_block() -> None:
    text = "blocks: [{name: a, command: [x], upstream: [f]}]\nfinally: [{name: f, command: [x]}]"
    (problem,) = problems(text)
    assert problem.startswith('spec.blocks[0].upstream[0]: names "f", a finally block')


def test_finally_blocks_may_not_form_a_cycle() -> None:
    text = """
blocks: [{name: a, command: [x]}]
finally:
- {name: f, command: [x], upstream: [g]}
- {name: g, command: [x], upstream: [f]}
"""
    (problem,) = problems(text)
    assert problem.startswith("spec.finally[") and "cycle" in problem


def test_run_phase_is_only_for_finally_blocks() -> None:
    text = 'blocks: [{name: a, command: [x], args: ["{{ run.phase }}"]}]'
    (problem,) = problems(text)
    assert "run.phase is set only in spec.finally blocks" in problem


def test_a_finally_template_is_checked_like_any_block() -> None:
    text = """
blocks: [{name: a, command: [x]}]
finally: [{name: f, command: [x], args: ["{{ run.phaze }}", "{{ blocks.nope.outputs.x }}"]}]
"""
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith("spec.finally[0].args[0]: run.phaze does not exist")
    assert 'did you mean "phase"' in found[0]
    assert found[1].startswith("spec.finally[0].args[1]: blocks.nope is not upstream")


def test_a_valid_finally_has_no_problems() -> None:
    assert problems(CLEANUP) == []


def test_retry_with_the_current_pipeline_keeps_finally_attempts_going_on() -> None:
    sim = Sim(spec(CLEANUP), {"load": [FAIL, OK]})
    assert sim.run().phase == RunPhase.FAILED
    sim.pipeline = spec(CLEANUP.replace("{{ run.reason }}", "fixed"))
    sim.spec = run_spec(retry={"id": "1", "mode": "Incomplete", "pipelineSpec": "Current"})
    status = sim.run()
    assert status.phase == RunPhase.SUCCEEDED
    assert [s.name for s in sim.started][3:] == ["r-load-2", "r-cleanup-2"]
    assert args_of(sim, "r-cleanup-2") == ["Succeeded", "fixed", ""]
    assert "BlocksRemoved" not in reasons(sim.history)
