"""Deterministic names: one shortener for Job names and trigger run names, stable across versions."""

from __future__ import annotations

from runwright.engine.naming import MAX_NAME, attempt_name, run_name


def test_short_names_are_joined_unchanged() -> None:
    assert attempt_name("etl-1", "load", 2) == "etl-1-load-2"
    assert run_name("nightly", "1767232800") == "nightly-1767232800"


def test_long_names_keep_their_suffix_and_stay_as_they_were_named_before() -> None:
    # Pinned values: a change here renames in-flight Jobs and runs (a repeat would no
    # longer be a 409), so these must never change.
    job = attempt_name("r" * 40, "b" * 30, 12)
    assert job == "r" * 40 + "-" + "b" * 8 + "-905e4be372-12"
    run = run_name("n" * 63, "1767232800")
    assert run == "n" * 43 + "-4ed71940-1767232800"
    assert len(job) == len(run) == MAX_NAME


def test_a_suffix_too_long_to_keep_is_replaced_by_the_hash() -> None:
    assert run_name("t", "u" * 70) == "t-055d76ab"
