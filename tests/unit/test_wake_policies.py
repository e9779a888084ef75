"""Whom to wake when capacity frees up: pure policies, oldest executionDate first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from runwright.engine.concurrency import (
    Claim,
    PipelineRunSlot,
    admission_wakes,
    capacity_wakes,
)

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def slot(
    name: str, minutes: int, *, active: bool = False, waiting: bool = False
) -> PipelineRunSlot:
    return PipelineRunSlot(("ns", name), T0 + timedelta(minutes=minutes), active, waiting)


def test_a_freed_run_slot_wakes_only_the_oldest_waiting_runs_it_can_take() -> None:
    runs = [
        slot("young", 3, waiting=True),
        slot("old", 1, waiting=True),
        slot("mid", 2, waiting=True),
    ]
    assert admission_wakes(runs, 2) == [("ns", "old"), ("ns", "mid")]


def test_active_runs_keep_their_slots_so_a_full_pipeline_wakes_nobody() -> None:
    runs = [slot("a", 0, active=True), slot("w", 1, waiting=True)]
    assert admission_wakes(runs, 1) == []


def test_without_a_run_limit_nobody_is_woken() -> None:
    assert admission_wakes([slot("w", 1, waiting=True)], None) == []


def claim(minutes: int, *, running: int = 0, wanted: int = 0, ns: str = "ns") -> Claim:
    return Claim(ns, T0 + timedelta(minutes=minutes), running=running, wanted=wanted)


def test_freed_blocks_wake_the_oldest_runs_until_their_wants_use_them_up() -> None:
    claims = {
        ("ns", "w2"): claim(2, wanted=1),
        ("ns", "w1"): claim(1, wanted=1),
        ("ns", "w3"): claim(3, wanted=1),
    }
    assert capacity_wakes(claims, 2, {}, claims) == [("ns", "w1"), ("ns", "w2")]


def test_a_run_whose_namespace_is_full_is_passed_over() -> None:
    claims = {
        ("full", "busy"): claim(0, running=1, ns="full"),
        ("full", "w1"): claim(1, wanted=1, ns="full"),
        ("ns", "w2"): claim(2, wanted=1),
    }
    assert capacity_wakes(claims, 1, {"full": 1}, claims) == [("ns", "w2")]


def test_runs_without_a_worker_are_not_woken() -> None:
    claims = {("ns", "gone"): claim(0, wanted=1), ("ns", "here"): claim(1, wanted=1)}
    assert capacity_wakes(claims, 1, {}, {("ns", "here")}) == [("ns", "here")]
