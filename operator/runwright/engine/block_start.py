"""Block start: which ready blocks start now within the limits, and each start's whole intent.

A ready block (upstream settled, `when` true, or a retry whose backoff is over) starts
when the run's blockRunLimit and the global/namespace budget allow; otherwise it is
Queued, with the reason naming the limit. Queued work is served oldest-ready first,
then in topological order. The start action (`StartBlock`) carries everything an
executor needs: the rendered args and env, the container contract and the pod's pieces.
"""

from __future__ import annotations

import json
from typing import Any

from runwright import labels
from runwright.api.pipeline import Block, EnvVar, PodTemplate
from runwright.api.run import BlockPhase
from runwright.engine import dag, fanout, finally_spec, templating
from runwright.engine.naming import attempt_name, item_attempt_name
from runwright.engine.reasons import BlockReason, EventReason
from runwright.engine.run_model import StartBlock, Work


def start_ready(work: Work, graph: dag.Graph) -> bool:
    """Start what is ready within the limits; mark the rest Queued. True if a start failed."""
    blocks, now = work.status.blocks, work.now
    ready: list[str] = []
    for name in graph.order:
        st = blocks[name]
        if st.phase == BlockPhase.RETRYING:
            if st.next_attempt_at is not None and st.next_attempt_at <= now:
                ready.append(name)
        elif st.phase in (BlockPhase.PENDING, BlockPhase.QUEUED) and (
            st.ready_at is not None or name in work.newly_ready
        ):
            ready.append(name)
    if not ready:
        return False
    # Oldest-ready first, then topological order: queued work is served in order.
    ready.sort(key=lambda n: (blocks[n].ready_at or now, graph.index[n]))
    running = sum(fanout.slots(b) for b in blocks.values())
    limit = work.frozen.concurrency.block_run_limit
    free_run = limit - running if limit is not None else len(ready)
    budget = work.inp.budget if work.inp.budget is not None else len(ready)
    budget -= len(work.plan.starts)
    start_failed = False
    for name in ready:
        st = blocks[name]
        if free_run <= 0 or budget <= 0:
            by_run = free_run <= 0
            reason = BlockReason.BLOCK_RUN_LIMIT if by_run else BlockReason.CONCURRENCY_LIMIT
            message = (
                f"waiting: blockRunLimit {limit} reached in this run"
                if by_run
                else "waiting: the global or namespace block limit is reached"
            )
            if st.phase != BlockPhase.QUEUED or st.reason != reason or st.ready_at is None:
                # A retry whose backoff is over waits like any ready block: Queued, in
                # line by the time it became ready again.
                work.set_block(
                    name,
                    phase=BlockPhase.QUEUED,
                    ready_at=st.next_attempt_at or st.ready_at or now,
                    next_attempt_at=None,
                    reason=reason,
                    message=message,
                )
            continue
        try:
            action = start_action(work, graph, name, st.attempt + 1)
        except templating.TemplateError as exc:
            work.set_block(
                name,
                phase=BlockPhase.FAILED,
                attempt=st.attempt + 1,
                started_at=None,
                completed_at=now,
                next_attempt_at=None,
                exit_code=None,
                reason=BlockReason.INVALID_TEMPLATE,
                message=str(exc),
            )
            work.record_attempt(name)
            work.event(EventReason.BLOCK_FAILED, str(exc), warning=True)
            start_failed = True
            continue
        work.plan.starts.append(action)
        work.set_block(
            name,
            phase=BlockPhase.RUNNING,
            attempt=action.attempt,
            job=action.name,
            ready_at=st.ready_at or now,
            started_at=now,
            completed_at=None,
            next_attempt_at=None,
            exit_code=None,
            reason="",
            message="",
        )
        work.record_attempt(name)
        work.event(
            EventReason.BLOCK_STARTED, f"{name} attempt {action.attempt} started as {action.name}"
        )
        work.started[name] = (st, work.plan.events[-1])
        free_run -= 1
        budget -= 1
    return start_failed


def template_context(
    work: Work, graph: dag.Graph, name: str, attempt: int, item: fanout.ItemValue | None = None
) -> dict[str, Any]:
    """What `{{ }}` in the block's args, env and when may name (API.md); `item` in a fan-out."""
    ctx = templating.context(
        variables=work.status.variables,
        run_name=work.inp.run_name,
        pipeline=work.inp.spec.pipeline_ref.name,
        execution_date=work.execution_date,
        attempt=attempt,
        upstream_outputs={u: upstream_outputs(work, u) for u in graph.upstream[name]},
    )
    if work.status.finally_ is not None and finally_spec.is_finally(work.frozen, name):
        ctx = finally_spec.context(ctx, work.status, work.frozen, graph.upstream[name])
    if item is not None:
        ctx["item"] = item
    return ctx


def upstream_outputs(work: Work, name: str) -> dict[str, str]:
    """A block's outputs as its downstream sees them (a fan-out's as lists), once per call."""
    key = ("outputs", name)
    if key not in work.cache:
        work.cache[key] = fanout.outputs_of(work.status.blocks[name])
    value: dict[str, str] = work.cache[key]
    return value


def start_action(
    work: Work, graph: dag.Graph, name: str, attempt: int, item: fanout.ItemValue | None = None
) -> StartBlock:
    """The StartBlock of one attempt (of an item, in a fan-out); raises TemplateError when a
    template fails to render."""
    block = graph.blocks[name]
    template = work.frozen.template
    templated = any(templating.is_template(text) for _, text in templating.template_fields(block))
    templated = templated or any(
        v.value is not None and templating.is_template(v.value) for v in template.env
    )
    ctx = template_context(work, graph, name, attempt, item) if templated else {}
    budget = templating.Budget()
    args = [
        templating.render(a, ctx, f"block {name}: args[{i}]", budget)
        for i, a in enumerate(block.args)
    ]
    env: dict[str, EnvVar] = {}
    fields = [(f"template.env[{i}]", v) for i, v in enumerate(template.env)]
    fields += [(f"env[{i}]", v) for i, v in enumerate(block.env)]
    for where, var in fields:
        if var.value is not None and templating.is_template(var.value):
            value = templating.render(var.value, ctx, f"block {name}: {where}.value", budget)
            var = var.model_copy(update={"value": value})
        env[var.name] = var
    contract = {
        labels.ENV_RUN: work.inp.run_name,
        labels.ENV_PIPELINE: work.inp.spec.pipeline_ref.name,
        labels.ENV_BLOCK: name,
        labels.ENV_ATTEMPT: str(attempt),
        labels.ENV_EXECUTION_DATE: work.execution_date,
        labels.ENV_VARIABLES: _variables_json(work),
        labels.ENV_UPSTREAM_OUTPUTS: _upstream_json(work, graph.upstream[name]),
    }
    index = None if item is None else int(item["index"])
    if item is not None:
        contract[labels.ENV_ITEM] = str(item)
        contract[labels.ENV_ITEM_INDEX] = str(index)
    run = work.inp.run_name
    return StartBlock(
        block=name,
        attempt=attempt,
        name=(
            attempt_name(run, name, attempt)
            if index is None
            else item_attempt_name(run, name, index, attempt)
        ),
        image=block.image or template.image,
        command=list(block.command),
        args=args,
        env=list(env.values()),
        contract=contract,
        timeout_seconds=block.timeout_seconds,
        ready_at=work.status.blocks[name].ready_at,
        item=index,
        **pod_intent(template, block),
    )


def pod_intent(template: PodTemplate, block: Block) -> dict[str, Any]:
    """The pod fields of a start action: the pipeline's template merged with the block.

    The block's labels, annotations and resources win over the template's; the
    executor adds its own labels last. One merge, so no executor re-reads the spec.
    """
    return {
        "pod_template": template,
        "labels": {**template.labels, **block.labels},
        "annotations": {**template.annotations, **block.annotations},
        "resources": block.resources if block.resources is not None else template.resources,
    }


def _variables_json(work: Work) -> str:
    """RUNWRIGHT_VARIABLES: the same for every block, so encoded once per call."""
    key = "variables"
    if key not in work.cache:
        work.cache[key] = json.dumps(work.status.variables, sort_keys=True)
    value: str = work.cache[key]
    return value


def _upstream_json(work: Work, upstream: tuple[str, ...]) -> str:
    """RUNWRIGHT_UPSTREAM_OUTPUTS for a set of upstream blocks, encoded once per call.

    Finished blocks' outputs do not change within a call, and in a fan-out thousands
    of blocks share one upstream: encoding it once keeps the call linear and cheap.
    """
    cached = work.cache.get(upstream)
    if cached is None:
        outputs = {u: upstream_outputs(work, u) for u in upstream}
        cached = work.cache[upstream] = json.dumps(outputs, sort_keys=True)
    value: str = cached
    return value
