"""The fan-out planner: a forEach block's items, each its own attempt chain.

Cases, as `run_lifecycle.running` applies them to every forEach block each call:
1. `expand_ready`: a ready forEach block renders its items (a literal list, or a
   template rendering to a JSON list; a bad list or one over MAX_ITEMS fails the block
   with InvalidItems/TooManyItems/InvalidTemplate) and becomes Running with every item
   Pending. Items an in-place retry kept (Incomplete) are not rendered again.
2. `observe` (from `block_states.observe`): an item's attempt Succeeded -> its outputs
   and metrics are kept; Failed, gone (JobDeleted) or over the block's timeoutSeconds
   (Timeout) -> Retrying after the block's backoff while its retry policy allows, else
   Failed. Attempts of items that are not Running are stopped.
3. `start_items`: ready items (a retry whose backoff is over first, then Pending items in
   list order) start while the block's maxParallel (items Running or Retrying), the
   run's blockRunLimit and the global/namespace budget allow; items count like blocks.
4. `settle`: more Failed items than forEach.allowFailures -> the block Failed
   (ItemsFailed), its other items stopped and Cancelled; no item left to run -> the
   block Succeeded. Downstream blocks then start as after any block.
5. `end_block` (run cancelled, timed out or failed fast): items stopped and Cancelled.
6. `reset` (in-place retry): Incomplete puts Failed and Cancelled items back to Pending,
   keeping Succeeded items and their outputs; FromBlock renders the items again (an
   upstream may have changed them). Attempt numbers go on, so names stay unique.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from runwright.api.fanout import (
    ITEM_DETAIL,
    MAX_ITEM_OUTPUTS_BYTES,
    MAX_PARALLEL,
    FanOutStatus,
    ForEach,
    ItemStatus,
)
from runwright.api.pipeline import Block
from runwright.api.run import BlockPhase, BlockStatus
from runwright.engine import backoff, block_start, dag, fanout, templating
from runwright.engine.fanout import (
    CANCELLED,
    FAILED,
    ITEM_MESSAGE_CHARS,
    PENDING,
    RETRYING,
    RUNNING,
    SUCCEEDED,
    UNFINISHED,
    ItemValue,
)
from runwright.engine.naming import ITEM_SEPARATOR, item_attempt_name, item_key, split_key
from runwright.engine.reasons import BlockReason, EventReason, StopReason, retryable
from runwright.engine.run_model import AttemptState, Observation, StopBlock, Work

_TO_CANCELLED = bytes.maketrans(b"PRW", b"CCC")
_DONE = frozenset(ord(letter) for letter in (SUCCEEDED, FAILED, CANCELLED))
_TO_PENDING = bytes.maketrans(b"FC", b"PP")


class _Items:
    """One fan-out's items as decided in this call; written back to status once, if changed."""

    def __init__(self, work: Work, block: Block, items: FanOutStatus) -> None:
        assert block.for_each is not None
        self.work, self.block, self.spec = work, block, block.for_each
        self.name = block.name
        self.count = items.count
        self.phases = bytearray(items.phases, "ascii")
        self.attempts = list(items.attempts)
        self.active = {entry.index: entry for entry in items.active}
        self.failed = list(items.failed)
        self.outputs = items.outputs
        self._own_outputs = False
        self.output_bytes = items.output_bytes
        self.metrics = dict(work.status.blocks[block.name].metrics)
        self.changed = False
        self.events = 0

    def letter(self, index: int) -> str:
        return chr(self.phases[index])

    def set(self, index: int, letter: str) -> None:
        self.phases[index] = ord(letter)
        self.changed = True

    def put_output(self, index: int, outputs: dict[str, str], size: int) -> None:
        """Keep an item's outputs (the list is copied on the first write of a call)."""
        if not self._own_outputs:
            self.outputs = list(self.outputs)
            self._own_outputs = True
        self.outputs[index] = outputs
        self.output_bytes += size

    def has(self, letter: str) -> int:
        return self.phases.count(letter.encode())

    def status(self) -> FanOutStatus:
        phases = self.phases.decode("ascii")
        return FanOutStatus.model_construct(
            count=self.count,
            phases=phases,
            counts=fanout.counts(phases),
            attempts=self.attempts,
            active=[self.active[i] for i in sorted(self.active)],
            failed=self.failed,
            outputs=self.outputs,
            output_bytes=self.output_bytes,
        )

    def write(self, **changes: Any) -> BlockStatus:
        """Write the items (and any block changes) into the run's status."""
        items = self.status()
        if "message" not in changes:
            changes["message"] = fanout.summary(items, self.spec.allow_failures)
        return self.work.set_block(self.name, items=items, metrics=self.metrics, **changes)

    def event(self, reason: EventReason, message: str, warning: bool = False) -> None:
        """An item's Event; only the first ITEM_DETAIL of a call, the rest are counted."""
        self.events += 1
        if self.events <= ITEM_DETAIL:
            self.work.event(reason, message, warning)


def _size(outputs: dict[str, str]) -> int:
    """An item's outputs' size as counted against MAX_ITEM_OUTPUTS_BYTES (compact JSON)."""
    return len(json.dumps(outputs, separators=(",", ":")).encode())


def _for_each(block: Block) -> ForEach:
    assert block.for_each is not None
    return block.for_each


def item_values(work: Work, graph: dag.Graph, name: str) -> list[Any]:
    """The block's items (rendered once per call); raises TemplateError or ValueError."""
    key = ("items", name)
    if key not in work.cache:
        spec = _for_each(graph.blocks[name])
        text = spec.items
        if fanout.is_template(text):
            ctx = block_start.template_context(work, graph, name, 1)
            text = templating.render(text, ctx, f"block {name}: forEach.items")
        work.cache[key] = fanout.parse_items(text)
    result: list[Any] = work.cache[key]
    return result


def expand_ready(work: Work, graph: dag.Graph) -> bool:
    """Case 1 for every ready forEach block; True when one finished at once."""
    blocks, settled = work.status.blocks, False
    for name in graph.order:
        if graph.blocks[name].for_each is None:
            continue
        st = blocks[name]
        if st.phase not in (BlockPhase.PENDING, BlockPhase.QUEUED):
            continue
        if st.ready_at is None and name not in work.newly_ready:
            continue
        settled = _expand(work, graph, name) or settled
    return settled


def _expand(work: Work, graph: dag.Graph, name: str) -> bool:
    st, now = work.status.blocks[name], work.now
    try:
        values = item_values(work, graph, name)
        refusal = fanout.too_many(len(values))
        if refusal is not None:
            raise OverflowError(refusal)
    except templating.TemplateError as exc:
        return _refuse(work, name, BlockReason.INVALID_TEMPLATE, str(exc))
    except OverflowError as exc:
        return _refuse(
            work, name, BlockReason.TOO_MANY_ITEMS, f"block {name}: forEach.items: {exc}"
        )
    except ValueError as exc:
        return _refuse(work, name, BlockReason.INVALID_ITEMS, f"block {name}: forEach.items {exc}")
    items = st.items
    if items is None or items.count != len(values):
        base = max([st.attempt, *(items.attempts if items is not None else [])])
        n = len(values)
        items = FanOutStatus.model_construct(
            count=n,
            phases=PENDING * n,
            counts=fanout.counts(PENDING * n),
            attempts=[base] * n,
            active=[],
            failed=[],
            outputs=[{}] * n,
        )
    work.set_block(
        name,
        phase=BlockPhase.RUNNING,
        items=items,
        ready_at=st.ready_at or now,
        started_at=now,
        completed_at=None,
        next_attempt_at=None,
        exit_code=None,
        reason="",
        message=fanout.summary(items, _for_each(graph.blocks[name]).allow_failures),
    )
    work.event(EventReason.BLOCK_STARTED, f"{name} fans out over {items.count} items")
    state = _Items(work, graph.blocks[name], items)
    return settle(state)


def _refuse(work: Work, name: str, reason: BlockReason, message: str) -> bool:
    work.set_block(
        name,
        phase=BlockPhase.FAILED,
        completed_at=work.now,
        next_attempt_at=None,
        reason=reason,
        message=message,
    )
    work.event(EventReason.BLOCK_FAILED, message, warning=True)
    return True


def _observed(work: Work) -> dict[str, dict[int, Observation]]:
    """The observations of items, by block and index (indexed once per call)."""
    key = "fanout-observed"
    if key not in work.cache:
        index: dict[str, dict[int, Observation]] = {}
        for obs_key, obs in work.inp.observed.items():
            if ITEM_SEPARATOR in obs_key:  # thousands of items: parse only what is one
                block, item = split_key(obs_key)
                if item is not None:
                    index.setdefault(block, {})[item] = obs
        work.cache[key] = index
    result: dict[str, dict[int, Observation]] = work.cache[key]
    return result


def observe(work: Work, graph: dag.Graph, name: str) -> None:
    """Case 2 for one forEach block (a block that is not Running only has strays stopped)."""
    st = work.status.blocks[name]
    seen = _observed(work).get(name, {})
    if st.items is None or st.phase != BlockPhase.RUNNING:
        for index, obs in seen.items():
            if obs.state == AttemptState.RUNNING:
                work.stop_attempt(item_key(name, index), obs.attempt, StopReason.NOT_RUNNING)
        return
    state = _Items(work, graph.blocks[name], st.items)
    now, phases, done = work.now, state.phases, _DONE
    for index, obs in seen.items():
        if index >= state.count:
            if obs.state == AttemptState.RUNNING:
                work.stop_attempt(item_key(name, index), obs.attempt, StopReason.NOT_RUNNING)
            continue
        if phases[index] in done and obs.state != AttemptState.RUNNING:
            continue  # the usual case by far: a finished item's ended attempt
        letter = state.letter(index)
        if letter in (PENDING, RETRYING) and obs.attempt == state.attempts[index] + 1:
            _adopt(state, index, obs)  # a start whose status write was lost
            letter = RUNNING
        if letter != RUNNING:
            if obs.state == AttemptState.RUNNING:
                work.stop_attempt(item_key(name, index), obs.attempt, StopReason.NOT_RUNNING)
            continue
        if obs.attempt != state.attempts[index]:
            continue  # an older attempt; the current one is judged below
        if obs.state == AttemptState.SUCCEEDED:
            _succeeded(state, index, obs)
        elif obs.state == AttemptState.FAILED:
            reason = obs.reason or BlockReason.ERROR
            _failed(state, index, reason, obs.message, obs.exit_code, obs)
    timeout = graph.blocks[name].timeout_seconds
    for index, entry in list(state.active.items()):
        if entry.phase != BlockPhase.RUNNING:
            continue
        current = seen.get(index)
        if current is None or current.attempt != entry.attempt:
            message = f"{entry.job} disappeared before it finished"
            _failed(state, index, BlockReason.JOB_DELETED, message, None)
        elif timeout is not None and now >= (entry.started_at or now) + timedelta(seconds=timeout):
            work.plan.stops.append(
                _stop(name, entry, StopReason.TIMEOUT)  # stop it, then count the failure
            )
            message = f"item {index} attempt {entry.attempt} exceeded {timeout}s"
            _failed(state, index, BlockReason.TIMEOUT, message, None)
    settle(state)


def _stop(name: str, entry: ItemStatus, reason: StopReason) -> StopBlock:
    return StopBlock(name, entry.attempt, entry.job or "", reason, entry.index)


def _adopt(state: _Items, index: int, obs: Observation) -> None:
    previous = state.active.get(index)
    state.attempts[index] = obs.attempt
    state.set(index, RUNNING)
    state.active[index] = ItemStatus(
        index=index,
        phase=BlockPhase.RUNNING,
        attempt=obs.attempt,
        retries=previous.retries if previous is not None else 0,
        job=_job(state, index, obs.attempt),
        started_at=obs.started_at or state.work.now,
    )


def _job(state: _Items, index: int, attempt: int) -> str:
    return item_attempt_name(state.work.inp.run_name, state.name, index, attempt)


def _succeeded(state: _Items, index: int, obs: Observation) -> None:
    outputs = dict(obs.outputs)
    size = _size(outputs) if outputs else 0
    if size and state.output_bytes + size > MAX_ITEM_OUTPUTS_BYTES:
        message = (
            f"its outputs ({size:,} bytes) would take the fan-out's items' outputs past "
            f"{MAX_ITEM_OUTPUTS_BYTES:,} bytes; report smaller values and write data elsewhere"
        )
        _failed(state, index, BlockReason.OUTPUTS_TOO_LARGE, message, obs.exit_code, obs)
        return
    state.active.pop(index, None)
    state.set(index, SUCCEEDED)
    if outputs:
        state.put_output(index, outputs, size)
    for key, value in obs.metrics.items():
        state.metrics[key] = state.metrics.get(key, 0.0) + value


def _failed(
    state: _Items,
    index: int,
    reason: str,
    message: str,
    exit_code: int | None,
    obs: Observation | None = None,
) -> None:
    """An item's attempt failed: Retrying after the backoff if allowed, else Failed."""
    work, name = state.work, state.name
    entry = state.active.get(index) or ItemStatus(
        index=index, phase=BlockPhase.RUNNING, attempt=state.attempts[index]
    )
    message = message[-ITEM_MESSAGE_CHARS:]
    policy = backoff.resolve(work.frozen, state.block)
    ended = obs.finished_at if obs is not None and obs.finished_at else work.now
    if (
        retryable(reason)
        and reason != BlockReason.OUTPUTS_TOO_LARGE
        and entry.retries < policy.limit
    ):
        delay = policy.delay(entry.retries + 1)
        state.active[index] = entry.model_copy(
            update={
                "phase": BlockPhase.RETRYING,
                "retries": entry.retries + 1,
                "next_attempt_at": work.now + timedelta(seconds=delay),
                "completed_at": ended,
                "exit_code": exit_code,
                "reason": reason,
                "message": message,
            }
        )
        state.set(index, RETRYING)
        state.event(
            EventReason.BLOCK_RETRYING,
            f"{name} item {index} attempt {entry.attempt} failed ({reason}); attempt "
            f"{entry.attempt + 1} in {delay:g}s",
            warning=True,
        )
        return
    state.active.pop(index, None)
    state.set(index, FAILED)
    if len(state.failed) < ITEM_DETAIL:
        state.failed.append(
            entry.model_copy(
                update={
                    "phase": BlockPhase.FAILED,
                    "completed_at": ended,
                    "next_attempt_at": None,
                    "exit_code": exit_code,
                    "reason": reason,
                    "message": message,
                }
            )
        )
    state.event(
        EventReason.BLOCK_FAILED,
        f"{name} item {index} attempt {entry.attempt} failed ({reason})"
        f"{': ' + message if message else ''}",
        warning=True,
    )


def settle(state: _Items) -> bool:
    """Case 4: fail the block past allowFailures, or finish it; write the items. True if done."""
    work, name = state.work, state.name
    failed = state.has(FAILED)
    if failed > state.spec.allow_failures:
        _cancel_items(state, StopReason.FAIL_FAST)
        first = state.failed[0] if state.failed else None
        detail = f"; item {first.index}: {first.reason} {first.message}".rstrip() if first else ""
        message = (
            f"{failed} of {state.count} items failed (allowFailures "
            f"{state.spec.allow_failures}){detail}"
        )
        state.write(
            phase=BlockPhase.FAILED,
            completed_at=work.now,
            reason=BlockReason.ITEMS_FAILED,
            message=message,
        )
        work.event(EventReason.BLOCK_FAILED, f"{name}: {message}", warning=True)
        return True
    if any(state.has(letter) for letter in UNFINISHED):
        if state.changed:
            state.write()
        return False
    state.write(phase=BlockPhase.SUCCEEDED, completed_at=work.now, reason="")
    work.event(EventReason.BLOCK_SUCCEEDED, f"{name}: {state.count - failed} items succeeded")
    return True


def _cancel_items(state: _Items, reason: StopReason) -> None:
    """Stop the items in flight and mark every unfinished item Cancelled."""
    for _index, entry in sorted(state.active.items()):
        if entry.phase == BlockPhase.RUNNING:
            state.work.plan.stops.append(_stop(state.name, entry, reason))
        if len(state.failed) < ITEM_DETAIL:
            state.failed.append(
                entry.model_copy(
                    update={
                        "phase": BlockPhase.CANCELLED,
                        "completed_at": state.work.now,
                        "next_attempt_at": None,
                        "reason": str(reason),
                    }
                )
            )
    state.active.clear()
    state.phases = bytearray(bytes(state.phases).translate(_TO_CANCELLED))
    state.changed = True


def start_items(work: Work, graph: dag.Graph) -> bool:
    """Case 3 for every Running forEach block; True when a block finished (a start failed)."""
    blocks, now = work.status.blocks, work.now
    fanouts = [
        n
        for n in graph.order
        if graph.blocks[n].for_each is not None
        and blocks[n].phase == BlockPhase.RUNNING
        and blocks[n].items is not None
    ]
    if not fanouts:
        return False
    limit = work.frozen.concurrency.block_run_limit
    running = sum(fanout.slots(b) for b in blocks.values())
    free_run = limit - running if limit is not None else MAX_PARALLEL * len(fanouts)
    budget = MAX_PARALLEL * len(fanouts)
    if work.inp.budget is not None:
        # The budget was counted against the slots this run held when it was last
        # planned; the items this call saw finish have given theirs back. Without this,
        # a wave of items ending together would leave the next wave waiting for a wake.
        held = sum(fanout.slots(b) for b in work.inp.status.blocks.values())
        freed = held - (running - len(work.plan.starts))
        budget = work.inp.budget + max(0, freed)
    budget -= len(work.plan.starts)
    settled = False
    for name in fanouts:
        st = blocks[name]
        assert st.items is not None
        state = _Items(work, graph.blocks[name], st.items)
        spec = state.spec
        before = st
        in_flight = state.has(RUNNING) + state.has(RETRYING)
        room = (spec.max_parallel or MAX_PARALLEL) - in_flight
        ready = sorted(
            i
            for i, e in state.active.items()
            if e.phase == BlockPhase.RETRYING and e.next_attempt_at and e.next_attempt_at <= now
        )
        position = 0
        while room > 0:
            position = state.phases.find(b"P", position)
            if position < 0:
                break
            ready.append(position)
            position += 1
            room -= 1
        started = 0
        for index in ready:
            if free_run <= 0 or budget <= 0:
                if budget <= 0 and free_run > 0:
                    work.plan.queued_on_budget.append(name)
                continue
            if _start(work, graph, state, index):
                started += 1
                free_run -= 1
                budget -= 1
        if started:
            noun = "item" if started == 1 else "items"
            message = f"{name}: started {started} {noun} ({state.count - state.has(PENDING)} of "
            work.event(EventReason.BLOCK_STARTED, message + f"{state.count} started so far)")
            if name not in work.started:
                work.started[name] = (before, work.plan.events[-1])
        if state.changed:
            settled = settle(state) or settled
    return settled


def _start(work: Work, graph: dag.Graph, state: _Items, index: int) -> bool:
    """Start one item's next attempt; False when its templates failed (the item Failed)."""
    name = state.name
    attempt = state.attempts[index] + 1
    previous = state.active.get(index)
    value = ItemValue(item_values(work, graph, name)[index], index)
    try:
        action = block_start.start_action(work, graph, name, attempt, value)
    except templating.TemplateError as exc:
        state.attempts[index] = attempt
        state.active[index] = ItemStatus(index=index, phase=BlockPhase.RUNNING, attempt=attempt)
        _failed(state, index, BlockReason.INVALID_TEMPLATE, str(exc), None)
        return False
    work.plan.starts.append(action)
    state.attempts[index] = attempt
    state.set(index, RUNNING)
    state.active[index] = ItemStatus(
        index=index,
        phase=BlockPhase.RUNNING,
        attempt=attempt,
        retries=previous.retries if previous is not None else 0,
        job=action.name,
        started_at=work.now,
    )
    return True


def end_block(work: Work, name: str, reason: BlockReason, message: str) -> None:
    """Case 5: the run ends; the fan-out's items are stopped and it is Cancelled."""
    st = work.status.blocks[name]
    graph = dag.cached_build(work.frozen.blocks)
    if st.items is None:
        work.set_block(
            name, phase=BlockPhase.CANCELLED, completed_at=work.now, reason=reason, message=message
        )
        return
    state = _Items(work, graph.blocks[name], st.items)
    _cancel_items(state, StopReason(reason))
    state.write(
        phase=BlockPhase.CANCELLED, completed_at=work.now, next_attempt_at=None, reason=reason
    )


def schedule_wakes(work: Work, graph: dag.Graph, name: str) -> None:
    """Wake at an item's next retry or its attempt's timeout."""
    st = work.status.blocks[name]
    if st.items is None or st.phase != BlockPhase.RUNNING:
        return
    timeout = graph.blocks[name].timeout_seconds
    for entry in st.items.active:
        if entry.phase == BlockPhase.RETRYING:
            if entry.next_attempt_at is not None and entry.next_attempt_at > work.now:
                work.plan.wake(entry.next_attempt_at)
        elif timeout is not None and entry.started_at is not None:
            work.plan.wake(entry.started_at + timedelta(seconds=timeout))


def reset(work: Work, name: str, before: BlockStatus, *, whole: bool) -> None:
    """Case 6: an in-place retry reset this block; decide what its items keep."""
    items = before.items
    if items is None:
        return
    base = max([before.attempt, *items.attempts])
    if whole:
        work.set_block(name, items=None, attempt=base)
        return
    phases = items.phases.encode("ascii").translate(_TO_PENDING).decode("ascii")
    kept = FanOutStatus.model_construct(
        count=items.count,
        phases=phases,
        counts=fanout.counts(phases),
        attempts=items.attempts,
        active=[],
        failed=[],
        outputs=items.outputs,
        output_bytes=items.output_bytes,
    )
    work.set_block(name, items=kept, attempt=base, metrics=dict(before.metrics))


__all__ = [
    "CANCELLED",
    "end_block",
    "expand_ready",
    "item_values",
    "observe",
    "reset",
    "schedule_wakes",
    "settle",
    "start_items",
]
