"""The run lifecycle: start, admission, cancel, in-place retry, SLA, timeout, completion, retention.

A call of `plan` walks these cases in order (the blocks' own fate is `block_states`):
1. No phase yet: `initialize` freezes the Pipeline spec (and records its generation) and
   the variables (a rerun copies its source's; with pipelineSpec Current it takes the
   live spec), or fails the run (InvalidPipeline, InvalidRerun), or waits a grace period
   for a Pipeline that does not exist yet.
2. Finished: stop stray attempts; handle a new in-place retry request (`run_retry`),
   else delete the run once the live Pipeline's retention has passed.
3. spec.cancel: `end` Cancelled.
4. Pending/Queued: `admit` under pipelineRunLimit (Queued, or Cancelled with onLimit Skip).
5. Running: observe, propagate, fail fast, start what is ready; then complete, time out,
   or ask to be woken at the next deadline (retry backoff, attempt or run timeout, SLA).
   A Running run that reaches its end with finally blocks runs them first
   (`finally_blocks`): `complete` hands over, and the run goes on in that stage.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from runwright.api.common import TimeoutStatus, format_time
from runwright.api.pipeline import OnLimit, PipelineSpec
from runwright.api.run import BlockPhase, BlockStatus, PipelineRunSpec, PipelineSpecSource
from runwright.api.trigger import RunPhase
from runwright.engine import (
    block_states,
    dag,
    durations,
    fanout_run,
    finally_blocks,
    finally_spec,
    run_retry,
    templating,
)
from runwright.engine.block_start import start_ready
from runwright.engine.reasons import (
    BlockReason,
    ConditionReason,
    ConditionType,
    EventReason,
    RunReason,
    StopReason,
)
from runwright.engine.run_model import AttemptState, Plan, Work

#: How long a run waits for its Pipeline to appear before it fails (apply order races).
PIPELINE_GRACE_SECONDS = 30

_RUN_ENDED_EVENT = {
    RunPhase.CANCELLED: EventReason.RUN_CANCELLED,
    RunPhase.FAILED: EventReason.RUN_FAILED,
    RunPhase.SUCCEEDED: EventReason.RUN_SUCCEEDED,
}


def effective_timeout(spec: PipelineRunSpec, frozen: PipelineSpec) -> int | None:
    """Run timeout: the run's own (copied from its trigger) over the pipeline's."""
    return spec.timeout_seconds if spec.timeout_seconds is not None else frozen.timeout_seconds


def effective_sla(spec: PipelineRunSpec, frozen: PipelineSpec) -> int | None:
    """SLA seconds: the run's own (copied from its trigger) over the pipeline's."""
    return spec.sla_seconds if spec.sla_seconds is not None else frozen.sla_seconds


def run(work: Work) -> Plan:
    """Cases 1-5 of the module docstring."""
    st = work.status
    st.observed_generation = work.inp.generation
    if st.phase is None and not initialize(work):
        return work.finish()
    assert st.phase is not None
    if not st.phase.finished:
        run_retry.refuse_early(work)
    if st.phase.finished:
        stop_strays(work)
        finished_run(work)
    elif finally_blocks.active(work):
        finally_stage(work)
    elif work.inp.spec.cancel:
        end(work, RunPhase.CANCELLED, RunReason.CANCELLED, "cancelled by spec.cancel")
    elif st.phase not in (RunPhase.PENDING, RunPhase.QUEUED) or admit(work):
        running(work)
    return work.finish()


def initialize(work: Work) -> bool:
    """Case 1: freeze the pipeline spec and variables; False when the run cannot start."""
    inp, st = work.inp, work.status
    st.execution_date = inp.spec.execution_date or inp.created_at
    pipeline = inp.pipeline
    base_variables = {**(pipeline.variables if pipeline else {}), **inp.trigger_variables}
    generation = inp.pipeline_generation
    if inp.spec.rerun_of is not None:
        # A rerun repeats the earlier run's inputs: its resolved variables and its
        # executionDate, and (pipelineSpec Frozen, the default) its frozen spec; the
        # rerun's own variables still win.
        source = inp.rerun_source
        if source is None or source.pipeline_spec is None:
            message = (
                f'spec.rerunOf.name: PipelineRun "{inp.spec.rerun_of.name}" does not exist '
                "or never started; rerun a run that ran"
            )
            _invalid(work, ConditionReason.RERUN_SOURCE_NOT_FOUND, message, RunReason.INVALID_RERUN)
            return False
        st.execution_date = inp.spec.execution_date or source.execution_date or st.execution_date
        if inp.spec.rerun_of.pipeline_spec == PipelineSpecSource.CURRENT:
            # The Pipeline as it is now, with the source's inputs (its variables that
            # were not the old defaults, its executionDate).
            if pipeline is not None:
                base_variables = run_retry.refrozen_variables(
                    pipeline, source.pipeline_spec, source.variables
                )
        else:
            pipeline = source.pipeline_spec
            generation = source.pipeline_generation
            base_variables = dict(source.variables)
    if pipeline is None and inp.pipeline_error is not None:
        message = f"Pipeline {inp.spec.pipeline_ref.name}: {inp.pipeline_error}"
        _invalid(work, ConditionReason.INVALID_PIPELINE, message)
        return False
    if pipeline is None:
        name = inp.spec.pipeline_ref.name
        deadline = inp.created_at + timedelta(seconds=PIPELINE_GRACE_SECONDS)
        message = f'spec.pipelineRef.name: Pipeline "{name}" does not exist in this namespace'
        if work.now < deadline:
            st.phase = None
            st.reason, st.message = RunReason.PIPELINE_NOT_FOUND, message + "; waiting for it"
            work.plan.wake(deadline)
            return False
        st.phase = RunPhase.FAILED
        _invalid(work, ConditionReason.PIPELINE_NOT_FOUND, message)
        return False
    problems = (
        dag.validate(pipeline.blocks)
        or templating.validate(pipeline)
        or finally_spec.validate(pipeline)
    )
    if problems:
        st.pipeline_spec = pipeline
        _invalid(work, problems[0].reason, "; ".join(str(p) for p in problems))
        return False
    st.pipeline_spec = pipeline
    st.pipeline_generation = generation
    st.variables = {**base_variables, **inp.spec.variables}
    st.blocks = {b.name: BlockStatus() for b in pipeline.blocks}
    st.blocks.update(finally_blocks.initial(pipeline))
    st.phase = RunPhase.PENDING
    st.reason = st.message = ""
    st.retry_id = inp.spec.retry.id if inp.spec.retry is not None else None
    work.condition(ConditionType.PIPELINE_VALID, True, ConditionReason.VALID, "")
    return True


def _invalid(
    work: Work, why: str, message: str, reason: RunReason = RunReason.INVALID_PIPELINE
) -> None:
    """The run cannot start: PipelineValid False (`why`), and the run Failed."""
    work.condition(ConditionType.PIPELINE_VALID, False, why, message)
    complete(work, RunPhase.FAILED, reason, message, EventReason.RUN_FAILED)


def admit(work: Work) -> bool:
    """Case 4: Pending/Queued -> Running when the pipelineRunLimit allows; else wait or skip."""
    st, frozen = work.status, work.frozen
    if not work.inp.admitted:
        limit = frozen.concurrency.pipeline_run_limit
        message = f"the pipeline already has {limit} active runs (pipelineRunLimit {limit})"
        if frozen.concurrency.on_limit == OnLimit.SKIP:
            end(
                work, RunPhase.CANCELLED, RunReason.CONCURRENCY_LIMIT, message + "; onLimit is Skip"
            )
            return False
        if st.phase != RunPhase.QUEUED:
            work.event(EventReason.RUN_QUEUED, "waiting: " + message)
        st.phase, st.reason, st.message = (
            RunPhase.QUEUED,
            RunReason.CONCURRENCY_LIMIT,
            "waiting: " + message,
        )
        sla_check(work)
        return False
    st.phase, st.reason, st.message = RunPhase.RUNNING, "", ""
    st.started_at = work.now
    work.event(EventReason.RUN_STARTED, f"run started ({len(frozen.blocks)} blocks)")
    return True


def stop_strays(work: Work) -> None:
    """Level-triggered cleanup: a finished run has no live attempts (a lost stop is redone)."""
    for name, obs in work.inp.observed.items():
        if obs.state == AttemptState.RUNNING:
            work.stop_attempt(name, obs.attempt, StopReason.RUN_FINISHED)


def finished_run(work: Work) -> None:
    """Case 2: a finished run: handle an in-place retry request, or its retention."""
    st, spec = work.status, work.inp.spec
    request = spec.retry
    if request is not None and request.id != st.retry_id:
        run_retry.retry(work, request, _admit_and_run)
        return
    if st.completed_at is None or st.pipeline_spec is None or st.phase is None:
        return
    # Retention is policy, not part of what the run executed: the Pipeline as it is now
    # decides (its frozen copy only when the Pipeline is gone or invalid).
    retention = (work.inp.pipeline or st.pipeline_spec).retention
    ttl = {
        RunPhase.SUCCEEDED: retention.succeeded_seconds,
        RunPhase.FAILED: retention.failed_seconds,
        RunPhase.CANCELLED: retention.cancelled_seconds,
    }.get(st.phase)
    if ttl is not None:
        expires = st.completed_at + timedelta(seconds=ttl)
        if work.now >= expires:
            # Never delete what the archive has not confirmed; its confirmation wakes us.
            work.plan.delete = not work.inp.archive_pending
        else:
            work.plan.wake(expires)


def _admit_and_run(work: Work) -> None:
    """After an accepted retry: admission, then the blocks, as for a new run."""
    if not work.inp.spec.cancel and admit(work):
        running(work)


def running(work: Work) -> None:
    """Case 5: observations in, propagation, starts, timeouts, completion."""
    graph = dag.cached_build(work.frozen.blocks)
    block_states.observe(work, graph)
    sla_check(work)
    for _ in range(len(graph.order) + 1):
        block_states.propagate(work, graph)
        failure = block_states.fail_fast(work, graph)
        if failure is not None:
            end(
                work,
                RunPhase.FAILED,
                RunReason.BLOCK_FAILED,
                failure,
                block_reason=BlockReason.FAIL_FAST,
            )
            return
        expanded = fanout_run.expand_ready(work, graph)
        start_failed = start_ready(work, graph)
        if not (fanout_run.start_items(work, graph) or start_failed or expanded):
            break
    blocks = finally_blocks.dag_statuses(work)
    if all(b.phase.finished for b in blocks.values()):
        phase = block_states.final_phase(work.frozen, blocks)
        if phase == RunPhase.SUCCEEDED:
            complete(work, phase, "", "all blocks finished", EventReason.RUN_SUCCEEDED)
        else:
            culprit = block_states.first_failure(work, graph)
            complete(work, phase, RunReason.BLOCK_FAILED, culprit, EventReason.RUN_FAILED)
        return
    if timeout_check(work):
        return
    schedule_wakes(work, graph)


def finally_stage(work: Work) -> None:
    """The blocks are done and finally blocks run; complete the run once they are."""
    sla_check(work)
    ending = finally_blocks.step(work)
    if ending is None:
        return
    complete(work, ending.phase, ending.reason, ending.message, _RUN_ENDED_EVENT[ending.phase])
    if ending.failed_block is not None:
        work.status.failed_block = ending.failed_block


def sla_check(work: Work) -> None:
    """slaMissed turns true once, when the run is unfinished past executionDate + slaSeconds."""
    st = work.status
    if st.pipeline_spec is None or st.sla_missed or st.execution_date is None:
        return
    sla = effective_sla(work.inp.spec, st.pipeline_spec)
    if sla is None:
        return
    deadline = st.execution_date + timedelta(seconds=sla)
    if work.now >= deadline:
        st.sla_missed = True
        work.event(
            EventReason.SLA_MISSED,
            f"unfinished {sla}s after its executionDate {format_time(st.execution_date)}",
            warning=True,
        )
    else:
        work.plan.wake(deadline)


def run_deadline(work: Work) -> datetime | None:
    """When the run times out (None: no timeout, or not started)."""
    timeout = effective_timeout(work.inp.spec, work.frozen)
    if timeout is None or work.status.started_at is None:
        return None
    return work.status.started_at + timedelta(seconds=timeout)


def timeout_check(work: Work) -> bool:
    """End the run (Failed, or Cancelled by timeoutStatus) once its deadline passed."""
    deadline = run_deadline(work)
    if deadline is None or work.now < deadline:
        return False
    status = work.inp.spec.timeout_status or work.frozen.timeout_status
    phase = RunPhase.CANCELLED if status == TimeoutStatus.CANCELLED else RunPhase.FAILED
    message = f"the run exceeded its timeout of {effective_timeout(work.inp.spec, work.frozen)}s"
    work.status.timed_out = True
    work.event(EventReason.TIMED_OUT, message, warning=True)
    end(work, phase, RunReason.TIMEOUT, message, block_reason=BlockReason.TIMEOUT)
    return True


def schedule_wakes(work: Work, graph: dag.Graph) -> None:
    """Wake at the run deadline, the next retry, or the next attempt timeout."""
    plan = work.plan
    plan.wake(run_deadline(work))
    for name, st in work.status.blocks.items():
        block = graph.blocks.get(name)
        if block is None:
            continue  # a finally block: not started before the DAG is done
        if block.for_each is not None:
            fanout_run.schedule_wakes(work, graph, name)
        elif st.phase == BlockPhase.RETRYING:
            plan.wake(st.next_attempt_at)
        elif st.phase == BlockPhase.RUNNING:
            timeout = block.timeout_seconds
            if timeout is not None and st.started_at is not None:
                plan.wake(st.started_at + timedelta(seconds=timeout))


def end(
    work: Work,
    phase: RunPhase,
    reason: RunReason,
    message: str,
    block_reason: BlockReason = BlockReason.CANCELLED,
) -> None:
    """Finish the run early: stop what runs and cancel every unfinished block.

    Starts planned in this same call are taken back first: a plan that ends the run
    starts nothing (no BlockStarted after RunFailed).
    """
    work.retract_starts()
    for name, st in list(finally_blocks.dag_statuses(work).items()):
        if st.phase.finished:
            continue
        if st.items is not None:
            why = message if block_reason != BlockReason.CANCELLED else "the run was cancelled"
            fanout_run.end_block(work, name, block_reason, why)
            continue
        was_running = st.phase == BlockPhase.RUNNING
        if was_running:
            work.stop(name, StopReason(block_reason))
        work.set_block(
            name,
            phase=BlockPhase.CANCELLED,
            completed_at=work.now,
            next_attempt_at=None,
            reason=block_reason,
            message=message if block_reason != BlockReason.CANCELLED else "the run was cancelled",
        )
        if was_running:
            work.record_attempt(name)
    complete(work, phase, reason, message, _RUN_ENDED_EVENT[phase])


def complete(work: Work, phase: RunPhase, reason: str, message: str, event: EventReason) -> None:
    """The run is finished: phase, reason, duration, its Event; then retention applies.

    A Running run with finally blocks is not finished yet: they run first, and the
    run completes when they are done (`finally_stage`).
    """
    st = work.status
    if finally_blocks.begin(work, phase, reason, message):
        finally_stage(work)
        return
    if st.phase is not None and not st.phase.finished and st.pipeline_spec is not None:
        sla_check(work)  # a run that finishes late has missed its SLA too
    st.phase, st.reason, st.message = phase, reason, message
    st.completed_at = work.now
    st.failed_block = None
    if reason == RunReason.BLOCK_FAILED and st.pipeline_spec is not None:
        st.failed_block = block_states.failed_block(work, dag.cached_build(work.frozen.blocks))
    if st.started_at is not None:
        st.duration_seconds = int((work.now - st.started_at).total_seconds())
        st.duration = durations.human(st.duration_seconds)
    work.event(event, message or f"run {phase}", warning=phase != RunPhase.SUCCEEDED)
    finished_run(work)
