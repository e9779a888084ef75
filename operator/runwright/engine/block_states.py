"""The block state machine: the one answer to "what happens when block X fails (or ends)".

Cases, in the order `run_lifecycle.running` applies them each call:
1. Observe: a Running block's attempt Succeeded -> Succeeded; Failed -> `attempt_failed`;
   gone -> `attempt_failed` (JobDeleted); over its timeoutSeconds -> stopped and
   `attempt_failed` (Timeout). An attempt that exists while the status says the block is
   waiting is adopted (a start whose status write was lost); any other live attempt of a
   block that is not Running is stopped.
2. `attempt_failed`: Retrying with a backoff while the retry limit allows and the reason
   is retryable (`reasons.retryable`); else Failed, for good.
3. `propagate`: a waiting block whose upstream failed for good (and without allowFailure),
   or was cancelled or never ran, is UpstreamFailed; one whose upstream was skipped is
   ConditionFailed; once every upstream is finished, its `when` decides: false ->
   ConditionFailed, a template error -> Failed (InvalidTemplate), true -> ready.
4. `fail_fast`: with failFast, the first block Failed for good ends the run.
5. `final_phase`: when all blocks are finished, the run Succeeded iff every block is
   Succeeded or ConditionFailed, or Failed/UpstreamFailed only under allowFailure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from runwright.api.pipeline import Block, ConditionOperator, PipelineSpec
from runwright.api.run import BlockPhase, BlockStatus
from runwright.api.trigger import RunPhase
from runwright.engine import backoff, dag, fanout_run, run_size, templating
from runwright.engine.block_start import template_context
from runwright.engine.naming import attempt_name
from runwright.engine.outputs import MAX_OUTPUT_BYTES
from runwright.engine.reasons import BlockReason, EventReason, StopReason, retryable
from runwright.engine.run_model import AttemptState, Observation, Work

_WAITING = (BlockPhase.PENDING, BlockPhase.QUEUED, BlockPhase.RETRYING)
#: The phases in which a block's attempt that exists is adopted (case 1): a start whose
#: status write was lost, or held back (engine/status_writes.py).
WAITING = _WAITING


def blocks_downstream(block: Block, status: BlockStatus) -> bool:
    """True when this upstream makes its downstream UpstreamFailed."""
    if status.phase == BlockPhase.FAILED:
        return not block.allow_failure
    return status.phase in (BlockPhase.UPSTREAM_FAILED, BlockPhase.CANCELLED)


def block_ok(block: Block, status: BlockStatus) -> bool:
    """True when this finished block does not stop the run from succeeding."""
    if status.phase in (BlockPhase.SUCCEEDED, BlockPhase.CONDITION_FAILED):
        return True
    return block.allow_failure and status.phase in (
        BlockPhase.FAILED,
        BlockPhase.UPSTREAM_FAILED,
    )


def final_phase(spec: PipelineSpec, blocks: Mapping[str, BlockStatus]) -> RunPhase:
    """API.md's rule for a run whose blocks are all finished (no cancel, no timeout)."""
    by_name = {b.name: b for b in spec.blocks}
    ok = all(block_ok(by_name[name], st) for name, st in blocks.items())
    return RunPhase.SUCCEEDED if ok else RunPhase.FAILED


def observe(work: Work, graph: dag.Graph) -> None:
    """Cases 1 and 2: fold the executor's observations into the blocks' status."""
    observed, now = work.inp.observed, work.now
    for name in graph.order:
        if graph.blocks[name].for_each is not None:
            fanout_run.observe(work, graph, name)  # items, each its own attempt chain
            continue
        st = work.status.blocks[name]
        obs = observed.get(name)
        # A start whose status write was lost (crash between "create" and "patch"):
        # the attempt exists, so the block is Running at that attempt.
        if obs is not None and st.phase in _WAITING and obs.attempt == st.attempt + 1:
            st = work.set_block(
                name,
                phase=BlockPhase.RUNNING,
                attempt=obs.attempt,
                job=attempt_name(work.inp.run_name, name, obs.attempt),
                started_at=obs.started_at or now,
                next_attempt_at=None,
                reason="",
                message="",
            )
            work.record_attempt(name)
        if st.phase != BlockPhase.RUNNING:
            if obs is not None and obs.state == AttemptState.RUNNING:
                # Level-triggered cleanup: nothing but a Running block may have a live attempt.
                work.stop_attempt(name, obs.attempt, StopReason.NOT_RUNNING)
            continue
        if obs is None or obs.attempt != st.attempt:
            message = f"{st.job} disappeared before it finished"
            attempt_failed(work, graph, name, BlockReason.JOB_DELETED, message, None)
            continue
        too_big = _over_share(obs, len(work.status.blocks)) if obs.outputs or obs.metrics else None
        if obs.state == AttemptState.SUCCEEDED and too_big is not None:
            kept = replace(obs, outputs={}, metrics={})
            attempt_failed(
                work, graph, name, BlockReason.INVALID_OUTPUT, too_big, obs.exit_code, kept
            )
        elif obs.state == AttemptState.SUCCEEDED:
            work.set_block(
                name,
                phase=BlockPhase.SUCCEEDED,
                completed_at=obs.finished_at or now,
                exit_code=obs.exit_code if obs.exit_code is not None else 0,
                reason="",
                message="",
                outputs=dict(obs.outputs),
                metrics=dict(obs.metrics),
            )
            work.record_attempt(name)
            work.event(EventReason.BLOCK_SUCCEEDED, f"{name} attempt {st.attempt} succeeded")
        elif obs.state == AttemptState.FAILED:
            reason = obs.reason or BlockReason.ERROR
            attempt_failed(work, graph, name, reason, obs.message, obs.exit_code, obs)
        else:
            timeout = graph.blocks[name].timeout_seconds
            started = st.started_at or now
            if timeout is not None and now >= started + timedelta(seconds=timeout):
                work.stop(name, StopReason.TIMEOUT)
                message = f"attempt {st.attempt} exceeded {timeout}s"
                attempt_failed(work, graph, name, BlockReason.TIMEOUT, message, None)


def attempt_failed(
    work: Work,
    graph: dag.Graph,
    name: str,
    reason: str,
    message: str,
    exit_code: int | None,
    obs: Observation | None = None,
) -> None:
    """Case 2: an attempt failed; Retrying after the backoff if allowed, else Failed."""
    st = work.status.blocks[name]
    limit = run_size.reported_limit(len(work.status.blocks))
    if len(message) > limit:
        message = "..." + message[-(limit - 3) :]  # the end of an error says most
    policy = backoff.resolve(work.frozen, graph.blocks[name])
    if retryable(reason) and st.retries < policy.limit:
        delay = policy.delay(st.retries + 1)
        work.set_block(
            name,
            phase=BlockPhase.RETRYING,
            retries=st.retries + 1,
            next_attempt_at=work.now + timedelta(seconds=delay),
            exit_code=exit_code,
            reason=reason,
            message=message,
        )
        ended = obs.finished_at if obs is not None and obs.finished_at else work.now
        work.record_attempt(name, BlockPhase.FAILED, ended)
        work.event(
            EventReason.BLOCK_RETRYING,
            f"{name} attempt {st.attempt} failed ({reason}); attempt {st.attempt + 1} "
            f"in {delay:g}s",
            warning=True,
        )
        return
    work.set_block(
        name,
        phase=BlockPhase.FAILED,
        completed_at=(obs.finished_at if obs and obs.finished_at else work.now),
        next_attempt_at=None,
        exit_code=exit_code,
        reason=reason,
        message=message,
        outputs=dict(obs.outputs) if obs is not None else {},
        metrics=dict(obs.metrics) if obs is not None else {},
    )
    work.record_attempt(name)
    work.event(
        EventReason.BLOCK_FAILED,
        f"{name} attempt {st.attempt} failed ({reason}){': ' + message if message else ''}",
        warning=True,
    )


def _over_share(obs: Observation, blocks: int) -> str | None:
    """Why the attempt's outputs and metrics are over its share of the run's status."""
    limit = run_size.reported_limit(blocks)
    if limit >= MAX_OUTPUT_BYTES:
        return None  # the executor's own 4 KiB limit holds already
    report = {"outputs": dict(obs.outputs), "metrics": dict(obs.metrics)}
    size = len(json.dumps(report, separators=(",", ":"), ensure_ascii=False).encode())
    if size <= limit:
        return None
    return (
        f"outputs and metrics take {size:,} bytes, over the {limit:,} bytes each block of a "
        f"{blocks:,}-block pipeline keeps in the run's status; report small values and write "
        "data elsewhere"
    )


def propagate(work: Work, graph: dag.Graph) -> None:
    """Case 3: decide the fate of waiting blocks whose upstream settled it (topological order)."""
    blocks = work.status.blocks
    # Upstreams that stop their downstream, and those not finished, as sets kept up to
    # date while this pass settles blocks: a waiting block with 50 upstreams costs two
    # set comparisons, not 100 calls (issue 15: 1,000-block pipelines).
    bad = {n for n in graph.order if blocks_downstream(graph.blocks[n], blocks[n])}
    unfinished = {n for n, b in blocks.items() if not b.phase.finished}
    for name in graph.order:
        st = blocks[name]
        if st.phase not in (BlockPhase.PENDING, BlockPhase.QUEUED):
            continue
        ups = graph.upstream[name]
        failed = [] if bad.isdisjoint(ups) else [u for u in ups if u in bad]
        if failed:
            never_runs(
                work,
                name,
                BlockPhase.UPSTREAM_FAILED,
                BlockReason.UPSTREAM_FAILED,
                f"upstream {', '.join(failed)} did not succeed",
                f"{name} will not run: upstream {', '.join(failed)} failed",
            )
            bad.add(name)
            unfinished.discard(name)
            continue
        if not unfinished.isdisjoint(ups):
            continue
        skipped = [u for u in ups if blocks[u].phase == BlockPhase.CONDITION_FAILED]
        if skipped:
            never_runs(
                work,
                name,
                BlockPhase.CONDITION_FAILED,
                BlockReason.UPSTREAM_CONDITION_FAILED,
                f"upstream {', '.join(skipped)} did not run (condition false)",
                f"{name} skipped: upstream {', '.join(skipped)} skipped",
            )
            unfinished.discard(name)
            continue
        if not when_holds(work, graph, name):
            unfinished.discard(name)  # ConditionFailed, or Failed (InvalidTemplate)
            if blocks_downstream(graph.blocks[name], blocks[name]):
                bad.add(name)
            continue
        if st.ready_at is None:
            # Written together with the start (or the Queued mark): one copy, not two.
            work.newly_ready.add(name)


def never_runs(
    work: Work, name: str, phase: BlockPhase, reason: BlockReason, message: str, event: str
) -> None:
    """Settle a block that will not run (UpstreamFailed/ConditionFailed), with its Event."""
    work.set_block(name, phase=phase, completed_at=work.now, reason=reason, message=message)
    kind = (
        EventReason.BLOCK_UPSTREAM_FAILED
        if phase == BlockPhase.UPSTREAM_FAILED
        else EventReason.BLOCK_CONDITION_FAILED
    )
    work.event(kind, event)


def when_holds(work: Work, graph: dag.Graph, name: str) -> bool:
    """Evaluate the block's `when`; a false one makes it ConditionFailed."""
    block = graph.blocks[name]
    if not block.when:
        return True
    ctx = template_context(work, graph, name, work.status.blocks[name].attempt + 1)
    for i, cond in enumerate(block.when):
        try:
            value = templating.render(cond.input, ctx, f"block {name}: when[{i}].input")
        except templating.TemplateError as exc:
            work.set_block(
                name,
                phase=BlockPhase.FAILED,
                completed_at=work.now,
                reason=BlockReason.INVALID_TEMPLATE,
                message=str(exc),
            )
            work.event(EventReason.BLOCK_FAILED, str(exc), warning=True)
            return False
        if not _compare(cond.operator, value, cond.values):
            work.set_block(
                name,
                phase=BlockPhase.CONDITION_FAILED,
                completed_at=work.now,
                reason=BlockReason.CONDITION_FALSE,
                message=f"when[{i}]: {value!r} {cond.operator} {cond.values} is false",
            )
            work.event(EventReason.BLOCK_CONDITION_FAILED, f"{name} skipped: when[{i}] is false")
            return False
    return True


def fail_fast(work: Work, graph: dag.Graph) -> str | None:
    """Case 4: with failFast, why the run must end now (None: it goes on)."""
    if not work.frozen.fail_fast:
        return None
    blocks = work.status.blocks
    if not any(
        blocks[n].phase == BlockPhase.FAILED and not graph.blocks[n].allow_failure
        for n in graph.order
    ):
        return None
    return first_failure(work, graph) + "; failFast cancelled the rest"


def failed_block(work: Work, graph: dag.Graph) -> str | None:
    """The first block (topologically) that fails the run: status.failedBlock."""
    blocks = work.status.blocks
    for name in graph.order:
        if blocks[name].phase == BlockPhase.FAILED and not graph.blocks[name].allow_failure:
            return name
    return next((n for n in graph.order if not block_ok(graph.blocks[n], blocks[n])), None)


def first_failure(work: Work, graph: dag.Graph) -> str:
    """The run's failure message: the first block (topologically) that failed it."""
    name = failed_block(work, graph)
    if name is None:
        return "a block failed"
    st = work.status.blocks[name]
    if st.phase != BlockPhase.FAILED:
        return f"block {name} is {st.phase}"
    detail = f": {st.message}" if st.message else ""
    return f"block {name} failed ({st.reason}){detail}"


def _compare(op: ConditionOperator, value: str, values: list[str]) -> bool:
    match op:
        case ConditionOperator.IN:
            return value in values
        case ConditionOperator.NOT_IN:
            return value not in values
        case ConditionOperator.EQUALS:
            return bool(values) and value == values[0]
        case ConditionOperator.NOT_EQUALS:
            return not values or value != values[0]
        case ConditionOperator.EXISTS:
            return value.strip() != ""
        case ConditionOperator.DOES_NOT_EXIST:
            return value.strip() == ""
