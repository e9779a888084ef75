"""Budgets across runs and pipelineRunLimit admission: oldest executionDate first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runwright.engine.concurrency import Claim, RunSlot, admitted, block_budget

T = datetime(2026, 11, 21, tzinfo=UTC)


def test_no_limits_means_no_budget() -> None:
    assert block_budget(("ns", "a"), T, {}, None, None) is None


def test_the_global_limit_counts_every_runs_running_blocks() -> None:
    claims = {("ns", "a"): Claim("ns", T, running=3, wanted=0), ("x", "b"): Claim("x", T, 4, 0)}
    assert block_budget(("ns", "c"), T, claims, 10, None) == 3


def test_the_namespace_limit_counts_only_that_namespace() -> None:
    claims = {("ns", "a"): Claim("ns", T, 3, 0), ("x", "b"): Claim("x", T, 4, 0)}
    assert block_budget(("ns", "c"), T, claims, 100, 5) == 2


def test_a_younger_run_does_not_overtake_an_older_waiting_one() -> None:
    claims = {
        ("ns", "old"): Claim("ns", T, running=0, wanted=3),
        ("ns", "new"): Claim("ns", T + timedelta(hours=1), running=0, wanted=3),
    }
    assert block_budget(("ns", "old"), T, claims, 4, None) == 4
    assert block_budget(("ns", "new"), T + timedelta(hours=1), claims, 4, None) == 1


def test_the_budget_is_never_negative() -> None:
    claims = {("ns", "a"): Claim("ns", T, running=9, wanted=0)}
    assert block_budget(("ns", "b"), T, claims, 5, None) == 0


def test_admission_keeps_active_runs_and_fills_free_slots_oldest_first() -> None:
    runs = [
        RunSlot("active", T, active=True),
        RunSlot("second", T + timedelta(minutes=2), active=False),
        RunSlot("first", T + timedelta(minutes=1), active=False),
    ]
    assert admitted("active", runs, 2)
    assert admitted("first", runs, 2)
    assert not admitted("second", runs, 2)
    assert admitted("second", runs, None)


def test_admission_is_refused_when_the_limit_is_full() -> None:
    runs = [RunSlot("a", T, True), RunSlot("b", T, False)]
    assert not admitted("b", runs, 1)
