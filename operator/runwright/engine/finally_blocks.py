"""Finally blocks at run time: run once the DAG is done, whatever its outcome.

The rule (docs/finally.md; Tekton's `finally` and Argo's `onExit` agree on it):
1. The run reaches an end (every block of spec.blocks finished, failFast, spec.cancel,
   or its timeout) while Running, and the Pipeline has finally blocks: instead of
   finishing, `begin` records that outcome in status.finally (runPhase, reason,
   message, failedBlocks), the run stays Running with reason RunningFinally, and the
   finally blocks start, as a DAG of their own (upstream among them), with retries and
   timeouts per block as ever. failFast does not apply among them: cleanup all runs.
   A run that never ran (Pending, Queued, cancelled or skipped before admission) runs
   no finally blocks.
2. The run's timeoutSeconds bounds spec.blocks only: finally blocks are bounded by their
   own timeoutSeconds (per attempt). A cancel that comes while they run changes nothing
   (the outcome is known, and finally is what a cancel runs anyway); spec.skipFinally
   stops them, and with it set before the end they never start.
3. When every finally block is finished, the run ends with the recorded outcome, except
   that a finally block failing (without allowFailure) fails a Succeeded run (reason
   FinallyFailed, failedBlock names it). A Failed or Cancelled run keeps its phase and
   reason; its message adds the finally failure. The FinallySucceeded condition and a
   FinallyFailed Event report a finally failure in every case.
4. Finally runs once per end of the DAG: status.finally is set once, and a finished
   status.finally never starts a block again. An in-place retry clears it and resets
   every finally block to Pending (attempt numbers go on), so a retried run runs its
   finally blocks again after its blocks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from runwright.api.pipeline import PipelineSpec
from runwright.api.run import (
    MAX_FAILED_BLOCKS,
    BlockPhase,
    BlockStatus,
    FinallyPhase,
    FinallyStatus,
)
from runwright.api.trigger import RunPhase
from runwright.engine import block_states, dag
from runwright.engine.block_start import start_ready
from runwright.engine.reasons import (
    BlockReason,
    ConditionReason,
    ConditionType,
    EventReason,
    RunReason,
    StopReason,
)
from runwright.engine.run_model import AttemptState, Work


@dataclass(frozen=True)
class Ending:
    """How the run ends once its finally blocks are done (case 3)."""

    phase: RunPhase
    reason: str
    message: str
    failed_block: str | None = None
    """Set when a finally block failed a Succeeded run: status.failedBlock."""


def initial(spec: PipelineSpec) -> dict[str, BlockStatus]:
    """The finally blocks' entries of status.blocks when a run starts: all Pending."""
    return {b.name: BlockStatus() for b in spec.finally_}


def dag_statuses(work: Work) -> Mapping[str, BlockStatus]:
    """The status of the blocks of spec.blocks only (status.blocks also holds finally's)."""
    blocks = work.status.blocks
    if not work.frozen.finally_:
        return blocks
    graph = dag.cached_build(work.frozen.blocks)
    return {name: blocks[name] for name in graph.order if name in blocks}


def active(work: Work) -> bool:
    """True while the run's finally blocks run (case 1 happened, case 3 not yet)."""
    fin = work.status.finally_
    return fin is not None and fin.phase == FinallyPhase.RUNNING


def begin(work: Work, phase: RunPhase, reason: str, message: str) -> bool:
    """Case 1: the DAG ended with `phase`; True when finally blocks now run instead."""
    st = work.status
    if st.phase != RunPhase.RUNNING or st.finally_ is not None or st.pipeline_spec is None:
        return False
    spec = st.pipeline_spec
    if not spec.finally_:
        return False
    graph = dag.cached_build(spec.blocks)
    failed = [n for n in graph.order if n in st.blocks and st.blocks[n].phase == BlockPhase.FAILED]
    st.finally_ = FinallyStatus(
        phase=FinallyPhase.RUNNING,
        run_phase=phase,
        reason=reason,
        message=message,
        failed_blocks=failed[:MAX_FAILED_BLOCKS],
        started_at=work.now,
    )
    outcome = f"the blocks ended {phase}" + (f" ({message})" if message else "")
    st.reason = RunReason.RUNNING_FINALLY
    st.message = f"{outcome}; running finally blocks"
    if work.inp.spec.skip_finally:
        return True  # `step` skips them at once, with the condition that says so
    names = ", ".join(b.name for b in spec.finally_)
    work.event(EventReason.FINALLY_STARTED, f"{outcome}; finally blocks {names} run")
    return True


def step(work: Work) -> Ending | None:
    """Cases 2-3: run the finally blocks on; their Ending once all are finished."""
    graph = dag.cached_build(work.frozen.finally_)
    blocks = work.status.blocks
    _stop_dag_strays(work, graph)
    if work.inp.spec.skip_finally:
        _skip(work, graph)
    else:
        block_states.observe(work, graph)
        for _ in range(len(graph.order) + 1):
            block_states.propagate(work, graph)
            if not start_ready(work, graph):
                break
        if not all(blocks[n].phase.finished for n in graph.order):
            _schedule_wakes(work, graph)
            return None
    return _ending(work, graph)


def reset(work: Work) -> None:
    """Case 4: an accepted in-place retry runs the finally blocks again after the blocks.

    Called after the retry settled status.blocks (and a re-frozen spec): every finally
    block of the spec the run now runs is Pending again, keeping its attempt number
    (and history) from before, so attempt names stay unique.
    """
    st = work.status
    st.finally_ = None
    before = work.inp.status.blocks
    for block in work.frozen.finally_:
        old = st.blocks.get(block.name) or before.get(block.name) or BlockStatus()
        st.blocks[block.name] = old.model_copy(
            update={
                "phase": BlockPhase.PENDING,
                "retries": 0,
                "ready_at": None,
                "started_at": None,
                "completed_at": None,
                "next_attempt_at": None,
                "exit_code": None,
                "reason": "",
                "message": "",
                "outputs": {},
                "metrics": {},
            }
        )


def _ending(work: Work, graph: dag.Graph) -> Ending:
    """Case 3: settle status.finally and say how the run ends."""
    st = work.status
    fin = st.finally_
    assert fin is not None, "step is only called while finally blocks run"
    skipped = work.inp.spec.skip_finally
    culprit = next(
        (n for n in graph.order if not block_states.block_ok(graph.blocks[n], st.blocks[n])),
        None,
    )
    phase, reason, message = fin.run_phase, fin.reason, fin.message
    failed_block = None
    if skipped:
        why = "spec.skipFinally is true: finally blocks were stopped or not run"
        work.condition(ConditionType.FINALLY_SUCCEEDED, False, ConditionReason.FINALLY_SKIPPED, why)
        fin_phase = FinallyPhase.SKIPPED
    elif culprit is not None:
        failure = _failure(culprit, st.blocks[culprit])
        work.condition(
            ConditionType.FINALLY_SUCCEEDED, False, ConditionReason.FINALLY_FAILED, failure
        )
        work.event(EventReason.FINALLY_FAILED, failure, warning=True)
        fin_phase = FinallyPhase.FAILED
        if phase == RunPhase.SUCCEEDED:
            phase, reason, message = RunPhase.FAILED, RunReason.FINALLY_FAILED, failure
            failed_block = culprit
        else:
            message = f"{message}; {failure}" if message else failure
    else:
        work.condition(
            ConditionType.FINALLY_SUCCEEDED,
            True,
            ConditionReason.FINALLY_SUCCEEDED,
            f"{len(graph.order)} finally blocks finished",
        )
        fin_phase = FinallyPhase.SUCCEEDED
    st.finally_ = fin.model_copy(update={"phase": fin_phase, "completed_at": work.now})
    return Ending(phase, reason, message, failed_block)


def _failure(name: str, st: BlockStatus) -> str:
    """'finally block cleanup failed (Error): ...' for messages, conditions and Events."""
    if st.phase != BlockPhase.FAILED:
        return f"finally block {name} is {st.phase}"
    detail = f": {st.message}" if st.message else ""
    return f"finally block {name} failed ({st.reason}){detail}"


def _skip(work: Work, graph: dag.Graph) -> None:
    """spec.skipFinally: stop what runs, and no finally block starts any more."""
    message = "spec.skipFinally is true"
    for name in graph.order:
        st = work.status.blocks[name]
        if st.phase.finished:
            continue
        was_running = st.phase == BlockPhase.RUNNING
        if was_running:
            work.stop(name, StopReason.SKIP_FINALLY)
        work.set_block(
            name,
            phase=BlockPhase.CANCELLED,
            completed_at=work.now,
            next_attempt_at=None,
            reason=BlockReason.SKIP_FINALLY,
            message=message,
        )
        if was_running:
            work.record_attempt(name)


def _stop_dag_strays(work: Work, graph: dag.Graph) -> None:
    """Level-triggered: no block of spec.blocks runs once finally has begun (a lost stop)."""
    stopping = {(stop.block, stop.attempt) for stop in work.plan.stops}
    for name, obs in work.inp.observed.items():
        if (
            name not in graph.blocks
            and obs.state == AttemptState.RUNNING
            and (name, obs.attempt) not in stopping
        ):
            work.stop_attempt(name, obs.attempt, StopReason.NOT_RUNNING)


def _schedule_wakes(work: Work, graph: dag.Graph) -> None:
    """Wake at the next retry of a finally block, or the next attempt timeout."""
    for name in graph.order:
        st = work.status.blocks[name]
        if st.phase == BlockPhase.RETRYING:
            work.plan.wake(st.next_attempt_at)
        elif st.phase == BlockPhase.RUNNING:
            timeout = graph.blocks[name].timeout_seconds
            if timeout is not None and st.started_at is not None:
                work.plan.wake(st.started_at + timedelta(seconds=timeout))
