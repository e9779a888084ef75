"""The pure mapping from a PipelineRun body to archive rows."""

from __future__ import annotations

from datetime import timedelta

from runwright.archive import event_records, log_record, run_records
from tests.unit.archive_bodies import T0, run_body


def test_a_run_maps_to_one_row_with_its_identity_times_and_inputs() -> None:
    body = run_body(
        "u1",
        namespace="data",
        pipeline="etl",
        trigger="nightly",
        triggered_by="Schedule",
        phase="Failed",
        seconds=42,
        message="block load failed",
    )
    body["status"]["reason"] = "BlockFailed"
    body["status"]["pipelineGeneration"] = 7
    run = run_records(body).run
    assert (run.uid, run.namespace, run.name, run.pipeline) == ("u1", "data", "etl-u1", "etl")
    assert (run.trigger, run.triggered_by, run.pipeline_generation) == ("nightly", "Schedule", 7)
    assert (run.phase, run.reason, run.message) == ("Failed", "BlockFailed", "block load failed")
    assert run.started_at == T0 and run.completed_at == T0 + timedelta(seconds=42)
    assert run.duration_seconds == 42 and run.variables == {"env": "prod"} and run.finished


def test_items_processed_cost_and_tokens_come_from_the_summed_metrics() -> None:
    body = run_body("u1", metrics={"itemsProcessed": 1200, "cost": 0.25, "tokens": 900, "rows": 3})
    run = run_records(body).run
    assert (run.items_processed, run.cost, run.tokens) == (1200.0, 0.25, 900.0)
    assert run.metrics["rows"] == 3


def test_metrics_no_block_reported_stay_null_not_zero() -> None:
    run = run_records(run_body("u1")).run
    assert (run.items_processed, run.cost, run.tokens) == (None, None, None)


def test_duration_is_derived_when_the_status_has_none() -> None:
    body = run_body("u1", seconds=30)
    body["status"]["durationSeconds"] = None
    assert run_records(body).run.duration_seconds == 30


def test_block_names_outputs_and_the_latest_attempt_of_each_block() -> None:
    blocks = {
        "extract": {
            "phase": "Succeeded",
            "attempt": 1,
            "outputs": {"rows": "12"},
            "job": "r-extract-1",
        },
        "load": {"phase": "Failed", "attempt": 3, "exitCode": 2, "message": "boom"},
        "report": {"phase": "UpstreamFailed", "attempt": 0},
    }
    records = run_records(run_body("u1", phase="Failed", blocks=blocks))
    assert records.run.block_names == " extract load report "
    assert records.run.outputs == {"extract": {"rows": "12"}}
    assert [(a.block, a.attempt, a.phase) for a in records.attempts] == [
        ("extract", 1, "Succeeded"),
        ("load", 3, "Failed"),
    ]
    assert records.attempts[0].job == "r-extract-1" and records.attempts[1].exit_code == 2


def test_a_retrying_block_records_its_last_attempt_as_failed() -> None:
    blocks = {"load": {"phase": "Retrying", "attempt": 1, "exitCode": 1, "reason": "Error"}}
    (attempt,) = run_records(run_body("u1", phase="Running", blocks=blocks)).attempts
    assert (attempt.attempt, attempt.phase, attempt.exit_code) == (1, "Failed", 1)


def test_a_block_reset_by_an_in_place_retry_does_not_overwrite_its_finished_attempt() -> None:
    # After `retry`, the block is Pending but still carries attempt 2's number.
    blocks = {"load": {"phase": "Pending", "attempt": 2}}
    assert run_records(run_body("u1", phase="Running", blocks=blocks)).attempts == ()


def test_a_per_attempt_history_adds_every_earlier_attempt() -> None:
    blocks = {
        "load": {
            "phase": "Succeeded",
            "attempt": 3,
            "outputs": {"rows": "5"},
            "attempts": [
                {
                    "attempt": 1,
                    "phase": "Failed",
                    "exitCode": 1,
                    "startedAt": "2026-11-21T02:00:00Z",
                },
                {"attempt": 2, "phase": "Failed", "exitCode": 137, "reason": "OOMKilled"},
                {"attempt": 3, "phase": "Succeeded", "exitCode": 0},
            ],
        }
    }
    attempts = run_records(run_body("u1", blocks=blocks)).attempts
    assert [(a.attempt, a.phase, a.exit_code) for a in attempts] == [
        (1, "Failed", 1),
        (2, "Failed", 137),
        (3, "Succeeded", 0),
    ]
    assert attempts[1].reason == "OOMKilled" and attempts[0].started_at == T0
    assert attempts[2].outputs == {"rows": "5"}  # the latest attempt's full status wins


def test_events_are_keyed_by_their_uid_or_their_content() -> None:
    event = {
        "metadata": {"uid": "e1"},
        "type": "Warning",
        "reason": "BlockFailed",
        "message": "load failed",
        "lastTimestamp": "2026-11-21T02:01:00Z",
        "count": 2,
    }
    anonymous = {"reason": "RunSucceeded", "message": "done", "eventTime": "2026-11-21T02:02:00Z"}
    first, second = event_records("u1", [event, anonymous])
    assert (first.key, first.type, first.count, first.time) == (
        "e1",
        "Warning",
        2,
        T0 + timedelta(minutes=1),
    )
    assert second.key == event_records("u1", [dict(anonymous)])[0].key != first.key


def test_a_log_over_the_cap_keeps_its_tail() -> None:
    record = log_record("u1", "load", 1, "a" * 10 + "the end", cap=7)
    assert (record.text, record.truncated, record.size) == ("the end", True, 17)


def test_a_cut_through_a_multibyte_character_drops_only_that_character() -> None:
    record = log_record("u1", "load", 1, "é" * 4, cap=3)  # 8 bytes; the cut splits one é
    assert (record.text, record.truncated) == ("é", True)


def test_a_log_under_the_cap_is_kept_whole_without_nul_bytes() -> None:
    record = log_record("u1", "load", 1, b"line 1\nline\x00 2\n")
    assert (record.text, record.truncated, record.size) == ("line 1\nline 2\n", False, 15)
