"""Objects created but not yet seen: expected before the request, until seen, forgotten or old."""

from __future__ import annotations

from datetime import UTC, datetime

from runwright.api.trigger import RunPhase
from runwright.controller.readmodel import ReadModel
from runwright.controller.runs import RunState
from runwright.controller.triggers import ExpectedRuns, trigger_runs
from runwright.engine.triggers import TriggerRun
from runwright.kube.expectations import Expectations


def expectations(now: list[float]) -> Expectations[tuple[str, str], int]:
    return Expectations(60.0, clock=lambda: now[0])


def test_an_expected_object_is_answered_for_its_owner_only() -> None:
    now = [0.0]
    exp = expectations(now)
    exp.expect(("ns", "a"), "run-1", 1)
    exp.expect(("ns", "b"), "run-2", 2)
    assert exp.of("run-1") == {("ns", "a"): 1}
    assert exp.of("run-3") == {}
    assert ("ns", "b") in exp and len(exp) == 2


def test_seen_and_forgotten_objects_are_no_longer_expected() -> None:
    now = [0.0]
    exp = expectations(now)
    for name in "abc":
        exp.expect(("ns", name), "run", 0)
    exp.seen([("ns", "a"), ("ns", "unknown")])
    exp.forget(("ns", "b"))
    assert exp.of("run") == {("ns", "c"): 0}
    exp.forget_owner("run")
    assert exp.of("run") == {}


def test_an_expectation_ends_after_its_time_out_and_a_new_one_restarts_the_clock() -> None:
    now = [0.0]
    exp = expectations(now)
    exp.expect(("ns", "a"), "run", 1)
    exp.expect(("ns", "b"), "run", 1)
    now[0] = 50.0
    exp.expect(("ns", "b"), "run", 2)
    now[0] = 60.0
    assert exp.of("run") == {("ns", "a"): 1, ("ns", "b"): 2}  # not older than the time-out
    now[0] = 60.5
    assert exp.of("run") == {("ns", "b"): 2}
    now[0] = 111.0
    assert exp.of("run") == {}


# ----- a trigger's runs: the watch's, then the expected ones ----------------------------


def test_a_triggers_runs_include_expected_ones_until_the_watch_shows_them() -> None:
    t0 = datetime(2026, 11, 21, tzinfo=UTC)
    expected: ExpectedRuns = Expectations(300.0, clock=lambda: 0.0)
    for name in ("hook-a", "hook-b"):
        expected.expect(("ns", name), ("ns", "hook"), TriggerRun(name, RunPhase.PENDING, t0))
    model = ReadModel()
    model.runs.update(
        {
            ("ns", "hook-a"): RunState("etl", t0, t0, RunPhase.RUNNING, None, trigger="hook"),
            ("ns", "other"): RunState("etl", t0, t0, RunPhase.RUNNING, None, trigger="cron"),
        }
    )
    runs = {r.name: r.phase for r in trigger_runs(model, expected, ("ns", "hook"))}
    assert runs == {"hook-a": RunPhase.RUNNING, "hook-b": RunPhase.PENDING}
    assert list(expected.of(("ns", "hook"))) == [("ns", "hook-b")]  # hook-a was seen
