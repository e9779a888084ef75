"""In-place retry of a finished run, and re-freezing a spec from the live Pipeline.

A retry (`spec.retry`, a new `id`) resets blocks to Pending and runs the run again;
attempt numbers go on, so Job names stay unique, and each block's retry budget starts
afresh. Which blocks: mode Incomplete, every block not Succeeded/ConditionFailed;
mode FromBlock, that block and everything downstream of it.

Which spec: `pipelineSpec: Frozen` (default) runs the spec frozen when the run
started; `Current` re-freezes from the Pipeline as it is now ("fix the block, retry
the rest"): blocks still Succeeded keep their state and outputs, blocks new in the
Pipeline start Pending, blocks gone from it leave the run (Event BlocksRemoved), and
status.pipelineGeneration records the generation taken. A rerun (`spec.rerunOf`)
chooses the same way in `run_lifecycle.initialize`, with `refrozen_variables`.

A retry never turns finished work into Cancelled. A FromBlock retry that leaves
another failed block outside its reach would fail the run again at once (with
failFast, cancelling the blocks it just reset), so it is refused: RetryAccepted
False (BlockStillFailed), naming that block and suggesting mode Incomplete or
`fromBlock: <that block>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from runwright.api.pipeline import PipelineSpec
from runwright.api.run import BlockPhase, BlockStatus, PipelineSpecSource, RetryMode, RetryRequest
from runwright.api.trigger import RunPhase
from runwright.engine import dag, fanout_run, finally_blocks, finally_spec, templating
from runwright.engine.block_states import block_ok
from runwright.engine.reasons import ConditionReason, ConditionType, EventReason
from runwright.engine.run_model import Work

#: Blocks an Incomplete retry keeps as they are.
_KEEP = (BlockPhase.SUCCEEDED, BlockPhase.CONDITION_FAILED)


def refrozen_variables(
    live: PipelineSpec, old: PipelineSpec, resolved: Mapping[str, str]
) -> dict[str, str]:
    """The variables of a spec re-frozen from `live`: its defaults, under what was set.

    `resolved` were the run's variables over the `old` frozen spec; the values that
    differ from old's defaults came from the trigger, the run or a rerun source and
    still win, while a default the fix changed takes effect.
    """
    overrides = {k: v for k, v in resolved.items() if old.variables.get(k) != v}
    return {**live.variables, **overrides}


def live_problem(work: Work) -> tuple[ConditionReason, str] | None:
    """Why the live Pipeline cannot be re-frozen (None: it can)."""
    inp = work.inp
    name = inp.spec.pipeline_ref.name
    if inp.pipeline is None and inp.pipeline_error is not None:
        return ConditionReason.INVALID_PIPELINE, f"Pipeline {name}: {inp.pipeline_error}"
    if inp.pipeline is None:
        return ConditionReason.PIPELINE_GONE, f'Pipeline "{name}" does not exist'
    problems = (
        dag.validate(inp.pipeline.blocks)
        or templating.validate(inp.pipeline)
        or finally_spec.validate(inp.pipeline)
    )
    if problems:
        message = f"Pipeline {name}: " + "; ".join(str(p) for p in problems)
        return ConditionReason.INVALID_PIPELINE, message
    return None


def retry(work: Work, request: RetryRequest, then: Callable[[Work], None]) -> None:
    """Reset the requested blocks to Pending and call `then` (admit and run), or refuse."""
    st = work.status
    st.retry_id = request.id
    if st.pipeline_spec is None or not st.blocks:
        message = "the run never started"
        _rejected(work, ConditionReason.NOT_STARTED, message, message + "; create a new run")
        return
    if work.inp.spec.cancel:
        message = "spec.cancel is true; set it to false to retry"
        _rejected(work, ConditionReason.CANCELLED, message, message)
        return
    pipeline = st.pipeline_spec
    if request.pipeline_spec == PipelineSpecSource.CURRENT:
        problem = live_problem(work)
        if problem is not None:
            reason, why = problem
            _rejected(work, reason, f"spec.retry.pipelineSpec is Current: {why}", why)
            return
        assert work.inp.pipeline is not None
        pipeline = work.inp.pipeline
    graph = dag.cached_build(pipeline.blocks)
    blocks = {b.name: st.blocks.get(b.name, BlockStatus()) for b in pipeline.blocks}
    reset = _to_reset(work, request, graph, blocks)
    if reset is None:
        return
    if pipeline is not st.pipeline_spec:
        _refreeze(work, pipeline, blocks)
    for name in reset:
        before = st.blocks[name]
        work.set_block(
            name,
            phase=BlockPhase.PENDING,
            retries=0,
            ready_at=None,
            started_at=None,
            completed_at=None,
            next_attempt_at=None,
            exit_code=None,
            reason="",
            message="",
            outputs={},
            metrics={},
        )
        fanout_run.reset(work, name, before, whole=request.mode == RetryMode.FROM_BLOCK)
    finally_blocks.reset(work)
    st.phase, st.reason, st.message = RunPhase.PENDING, "", ""
    st.completed_at = st.duration_seconds = st.duration = st.failed_block = None
    st.timed_out = False
    accepted = ConditionReason(str(request.mode))
    spec_note = (
        f" (pipeline generation {st.pipeline_generation})"
        if request.pipeline_spec == PipelineSpecSource.CURRENT
        and st.pipeline_generation is not None
        else ""
    )
    work.condition(
        ConditionType.RETRY_ACCEPTED,
        True,
        accepted,
        f"{len(reset)} blocks reset to Pending{spec_note}",
    )
    work.event(
        EventReason.RUN_RETRIED,
        f"retry {request.id} ({request.mode}, pipelineSpec {request.pipeline_spec}): "
        f"{len(reset)} blocks run again{spec_note}",
    )
    then(work)


def refuse_early(work: Work) -> None:
    """A retry request on an unfinished run that can never be carried out: say so now.

    A retry waits for the run to finish; one naming a block the run does not have
    would wait silently and then fail. It is refused at once (RetryAccepted False,
    UnknownBlock, and a Warning Event), the run going on untouched.
    """
    request, st = work.inp.spec.retry, work.status
    if request is None or request.id == st.retry_id or request.mode != RetryMode.FROM_BLOCK:
        return
    names = {b.name for b in work.frozen.blocks}
    if request.pipeline_spec == PipelineSpecSource.CURRENT and work.inp.pipeline is not None:
        names |= {b.name for b in work.inp.pipeline.blocks}
    start = request.from_block or ""
    if start in names:
        return
    st.retry_id = request.id
    message = (
        f'spec.retry.fromBlock names "{start}", no such block{dag.did_you_mean(start, names)}; '
        f"the run goes on unchanged (retry {request.id} is refused: set a new id to ask again)"
    )
    _rejected(work, ConditionReason.UNKNOWN_BLOCK, message, message)


def _to_reset(
    work: Work, request: RetryRequest, graph: dag.Graph, blocks: Mapping[str, BlockStatus]
) -> set[str] | None:
    """The blocks the retry runs again; None when it is refused (the condition says why)."""
    if request.mode != RetryMode.FROM_BLOCK:
        return {n for n, b in blocks.items() if b.phase not in _KEEP}
    start = request.from_block
    if start is None or start not in graph.blocks:
        message = (
            f'spec.retry.fromBlock names "{start}", no such block'
            f"{dag.did_you_mean(start or '', graph.blocks)}"
        )
        _rejected(work, ConditionReason.UNKNOWN_BLOCK, message, message)
        return None
    reset = {start, *graph.descendants(start)}
    still = [
        n
        for n in graph.order
        if n not in reset and blocks[n].phase.finished and not block_ok(graph.blocks[n], blocks[n])
    ]
    if still:
        culprit = next((n for n in still if blocks[n].phase == BlockPhase.FAILED), still[0])
        message = (
            f'block "{culprit}" is {blocks[culprit].phase} and outside fromBlock "{start}": '
            f"the run would fail again at once; use mode Incomplete, or fromBlock: {culprit}"
        )
        _rejected(work, ConditionReason.BLOCK_STILL_FAILED, message, message)
        return None
    return reset


def _refreeze(work: Work, pipeline: PipelineSpec, blocks: dict[str, BlockStatus]) -> None:
    """Take the live Pipeline's spec: its blocks, its variables, its generation."""
    st = work.status
    old = work.frozen
    removed = [
        name
        for name in st.blocks
        if name not in blocks and not finally_spec.is_finally(pipeline, name)
    ]
    st.variables = refrozen_variables(pipeline, old, st.variables)
    st.pipeline_spec = pipeline
    st.pipeline_generation = work.inp.pipeline_generation
    st.blocks = blocks
    work.cache.clear()
    if removed:
        names = ", ".join(f'"{n}"' for n in removed)
        work.event(
            EventReason.BLOCKS_REMOVED,
            f"blocks {names} are gone from the Pipeline and leave the run",
        )


def _rejected(work: Work, reason: ConditionReason, message: str, event: str) -> None:
    work.event(EventReason.RETRY_REJECTED, event, warning=True)
    work.condition(ConditionType.RETRY_ACCEPTED, False, reason, message)
