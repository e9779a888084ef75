"""pipelineRunLimit from an ordered queue: the same answers as the O(runs) functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from runwright.api.trigger import RunPhase
from runwright.controller.readmodel import RunState, RunTable
from runwright.engine.concurrency import (
    PipelineQueue,
    PipelineRunSlot,
    RunSlot,
    admission_wakes,
    admitted,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
runs = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from([None, "Queued", "Running", "Succeeded"])),
    max_size=12,
)


@given(runs=runs, limit=st.integers(1, 4))
def test_the_queue_answers_as_the_scan_does(runs: list[tuple[int, str | None]], limit: int) -> None:
    table = RunTable()
    for i, (day, phase) in enumerate(runs):
        date = T0 + timedelta(days=day)
        table[("ns", f"r{i:02}")] = RunState(
            "p", date, date, RunPhase(phase) if phase else None, None
        )
    queue = table.queue("ns", "p")
    states = table.of_pipeline("ns", "p")
    slots = [
        RunSlot(n, s.execution_date, s.phase == RunPhase.RUNNING)
        for n, s in states.items()
        if s.active
    ]
    for name, state in states.items():
        if state.active:
            assert queue.admitted(name, state.execution_date, limit) == admitted(name, slots, limit)
    wanted = admission_wakes(
        (
            PipelineRunSlot(
                ("ns", n),
                s.execution_date,
                active=s.phase == RunPhase.RUNNING,
                waiting=s.active and s.phase != RunPhase.RUNNING,
            )
            for n, s in states.items()
        ),
        limit,
    )
    assert queue.wakes(limit) == [name for _ns, name in wanted]


def test_a_run_changing_phase_moves_between_waiting_and_running_and_leaves_when_done() -> None:
    table = RunTable()
    table[("ns", "old")] = RunState("p", T0, T0, RunPhase.QUEUED, None)
    table[("ns", "new")] = RunState("p", T0 + timedelta(1), T0, RunPhase.QUEUED, None)
    assert table.queue("ns", "p").wakes(1) == ["old"]
    table[("ns", "old")] = RunState("p", T0, T0, RunPhase.RUNNING, None)
    assert not table.queue("ns", "p").admitted("new", T0 + timedelta(1), 1)
    table[("ns", "old")] = RunState("p", T0, T0, RunPhase.SUCCEEDED, T0)
    assert table.queue("ns", "p").wakes(1) == ["new"]
    del table[("ns", "new")]
    assert len(table.queue("ns", "p")) == 0
    assert list(table.of_pipeline("ns", "p")) == ["old"]
    assert isinstance(table.queue("ns", "q"), PipelineQueue)
