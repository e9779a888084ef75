"""runwright.metrics: what each transition counts, read back with get_sample_value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY as GLOBAL_REGISTRY

from runwright import metrics as m
from runwright.api.run import BlockPhase, BlockStatus, PipelineRunStatus
from runwright.api.trigger import RunPhase

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
RUN = m.RunLabels(namespace="data", name="etl-x7k2p", pipeline="etl", trigger="nightly")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def status(phase: RunPhase | None = RunPhase.RUNNING, **blocks: BlockStatus) -> PipelineRunStatus:
    return PipelineRunStatus(phase=phase, started_at=T0 if phase else None, blocks=blocks)


@pytest.fixture
def metrics() -> m.Metrics:
    return m.Metrics()


def value(metrics: m.Metrics, name: str, **labels: str) -> float:
    got = metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def test_metrics_live_in_their_own_registry_not_the_global_one() -> None:
    assert m.METRICS.registry is not GLOBAL_REGISTRY
    global_names = {f.name for f in GLOBAL_REGISTRY.collect()}
    assert not any(name.startswith("runwright_") for name in global_names)


def test_every_metric_of_the_issue_is_defined_with_its_labels(metrics: m.Metrics) -> None:
    families = {f.name: f.type for f in metrics.registry.collect()}
    assert families == {
        "runwright_pipeline_runs": "counter",
        "runwright_pipeline_run_duration_seconds": "histogram",
        "runwright_pipeline_runs_active": "gauge",
        "runwright_block_runs": "counter",
        "runwright_block_run_duration_seconds": "histogram",
        "runwright_block_runs_active": "gauge",
        "runwright_block_runs_queued": "gauge",
        "runwright_block_retries": "counter",
        "runwright_block_start_latency_seconds": "histogram",
        "runwright_sla_missed": "counter",
        "runwright_pipeline_run_timeouts": "counter",
        "runwright_trigger_fires": "counter",
        "runwright_trigger_skipped": "counter",
        "runwright_trigger_lag_seconds": "histogram",
        "runwright_block_output_metric": "counter",
        "runwright_reconcile_duration_seconds": "histogram",
        "runwright_kube_requests": "counter",
        "runwright_reconcile_errors": "counter",
        "runwright_reconcile_throttled": "counter",
        "runwright_resync_repairs": "counter",
        "runwright_events_dropped": "counter",
        # issue 12: the run archive
        "runwright_archive_writes": "counter",
        "runwright_archive_errors": "counter",
        "runwright_archive_lag_seconds": "histogram",
        "runwright_archive_backlog": "gauge",
        "runwright_archive_pruned": "counter",
        # issue 15: notifications
        "runwright_notifications": "counter",
    }
    assert "runwright_pipeline_runs_total" in metrics.names()
    assert "runwright_block_run_duration_seconds_bucket" in metrics.names()


def test_no_metric_has_a_run_name_label(metrics: m.Metrics) -> None:
    for collector in metrics.__dict__.values():
        labelnames = getattr(collector, "_labelnames", ())
        assert "run" not in labelnames and "name" not in labelnames


def test_a_run_entering_running_counts_once(metrics: m.Metrics) -> None:
    pending = status(RunPhase.PENDING)
    running = status(RunPhase.RUNNING)
    metrics.observe_run_transition(None, pending, RUN)
    metrics.observe_run_transition(pending, running, RUN)
    metrics.observe_run_transition(running, running, RUN)
    labels = {"namespace": "data", "pipeline": "etl", "trigger": "nightly"}
    assert value(metrics, "runwright_pipeline_runs_total", **labels, phase="Pending") == 1
    assert value(metrics, "runwright_pipeline_runs_total", **labels, phase="Running") == 1


def test_a_finished_run_observes_its_duration_by_phase(metrics: m.Metrics) -> None:
    running = status(RunPhase.RUNNING)
    done = running.model_copy(
        update={"phase": RunPhase.SUCCEEDED, "completed_at": at(42), "duration_seconds": 42}
    )
    metrics.observe_run_transition(running, done, RUN)
    labels = {"namespace": "data", "pipeline": "etl", "phase": "Succeeded"}
    assert value(metrics, "runwright_pipeline_run_duration_seconds_count", **labels) == 1
    assert value(metrics, "runwright_pipeline_run_duration_seconds_sum", **labels) == 42
    assert (
        value(metrics, "runwright_pipeline_run_duration_seconds_bucket", **labels, le="30.0") == 0
    )
    assert (
        value(metrics, "runwright_pipeline_run_duration_seconds_bucket", **labels, le="60.0") == 1
    )


def test_a_restarted_operator_does_not_count_the_stored_phase_again(metrics: m.Metrics) -> None:
    stored = status(RunPhase.SUCCEEDED)
    metrics.observe_run_transition(stored, stored, RUN)
    assert metrics.registry.get_sample_value(
        "runwright_pipeline_runs_total",
        {"namespace": "data", "pipeline": "etl", "trigger": "nightly", "phase": "Succeeded"},
    ) in (None, 0.0)


def test_sla_missed_and_timeout_count_once_each(metrics: m.Metrics) -> None:
    running = status(RunPhase.RUNNING)
    missed = running.model_copy(update={"sla_missed": True})
    timed_out = missed.model_copy(
        update={"timed_out": True, "phase": RunPhase.FAILED, "reason": "Timeout"}
    )
    metrics.observe_run_transition(running, missed, RUN)
    metrics.observe_run_transition(missed, missed, RUN)
    metrics.observe_run_transition(missed, timed_out, RUN)
    assert value(metrics, "runwright_sla_missed_total", namespace="data", pipeline="etl") == 1
    assert (
        value(metrics, "runwright_pipeline_run_timeouts_total", namespace="data", pipeline="etl")
        == 1
    )


def test_a_finished_block_counts_by_phase_and_reason_with_its_duration(
    metrics: m.Metrics,
) -> None:
    running = BlockStatus(phase=BlockPhase.RUNNING, attempt=1, ready_at=T0, started_at=at(1))
    failed = running.model_copy(
        update={"phase": BlockPhase.FAILED, "completed_at": at(11), "reason": "OOMKilled"}
    )
    metrics.observe_run_transition(status(load=running), status(load=failed), RUN)
    block = {"namespace": "data", "pipeline": "etl", "block": "load"}
    assert value(metrics, "runwright_block_runs_total", **block, phase="Failed", reason="OOMKilled")
    assert value(metrics, "runwright_block_run_duration_seconds_sum", **block, phase="Failed") == 10


def test_a_reason_that_is_not_a_camelcase_word_is_reported_as_other() -> None:
    assert m.reason_label("Timeout") == "Timeout"
    assert m.reason_label("") == ""
    assert m.reason_label("exit code 3: boom") == m.OTHER_REASON


def test_retries_count_the_increase_and_survive_a_reset_by_in_place_retry(
    metrics: m.Metrics,
) -> None:
    one = BlockStatus(phase=BlockPhase.RETRYING, attempt=1, retries=1)
    two = BlockStatus(phase=BlockPhase.RETRYING, attempt=2, retries=2)
    reset = BlockStatus(phase=BlockPhase.RETRYING, attempt=3, retries=1)
    metrics.observe_run_transition(status(), status(load=one), RUN)
    metrics.observe_run_transition(status(load=one), status(load=two), RUN)
    metrics.observe_run_transition(status(load=two), status(load=reset), RUN)
    block = {"namespace": "data", "pipeline": "etl", "block": "load"}
    assert value(metrics, "runwright_block_retries_total", **block) == 3


def test_start_latency_is_ready_to_created_and_a_retry_is_ready_when_its_backoff_ends(
    metrics: m.Metrics,
) -> None:
    pending = BlockStatus(phase=BlockPhase.QUEUED, ready_at=T0)
    first = BlockStatus(phase=BlockPhase.RUNNING, attempt=1, ready_at=T0, started_at=at(2))
    retrying = first.model_copy(
        update={"phase": BlockPhase.RETRYING, "retries": 1, "next_attempt_at": at(30)}
    )
    second = first.model_copy(update={"attempt": 2, "retries": 1, "started_at": at(30.5)})
    metrics.observe_run_transition(status(load=pending), status(load=first), RUN)
    metrics.observe_run_transition(status(load=first), status(load=retrying), RUN)
    metrics.observe_run_transition(status(load=retrying), status(load=second), RUN)
    labels = {"namespace": "data", "pipeline": "etl"}
    assert value(metrics, "runwright_block_start_latency_seconds_count", **labels) == 2
    assert value(metrics, "runwright_block_start_latency_seconds_sum", **labels) == 2.5


def test_block_output_metrics_are_summed_when_the_block_finishes(metrics: m.Metrics) -> None:
    running = BlockStatus(phase=BlockPhase.RUNNING, attempt=1)
    done = running.model_copy(
        update={
            "phase": BlockPhase.SUCCEEDED,
            "metrics": {"itemsProcessed": 1200, "cost": 0.25, "delta": -3},
        }
    )
    metrics.observe_run_transition(status(load=running), status(load=done), RUN)
    metrics.observe_run_transition(status(load=done), status(load=done), RUN)
    block = {"namespace": "data", "pipeline": "etl", "block": "load"}
    total = "runwright_block_output_metric_total"
    assert value(metrics, total, **block, metric="itemsProcessed") == 1200
    assert value(metrics, total, **block, metric="cost") == 0.25
    assert value(metrics, total, **block, metric="delta") == 0


def test_block_metric_names_are_capped_per_pipeline(metrics: m.Metrics) -> None:
    names = [f"m{i}" for i in range(m.MAX_OUTPUT_METRIC_NAMES + 5)]
    done = BlockStatus(phase=BlockPhase.SUCCEEDED, metrics=dict.fromkeys(names, 1.0))
    metrics.observe_run_transition(status(), status(load=done), RUN)
    series = {
        s.labels["metric"]
        for f in metrics.registry.collect()
        if f.name == "runwright_block_output_metric"
        for s in f.samples
    }
    assert len(series) == m.MAX_OUTPUT_METRIC_NAMES + 1
    block = {"namespace": "data", "pipeline": "etl", "block": "load"}
    assert value(metrics, "runwright_block_output_metric_total", **block, metric="_other") == 5
    other = m.RunLabels("data", "r2", "another-pipeline")
    assert metrics.output_metric_label("data", other.pipeline, "m24") == "m24"


def gauges(metrics: m.Metrics, pipeline: str = "etl") -> dict[str, float]:
    labels = {"namespace": "data", "pipeline": pipeline}
    out = {
        phase: value(metrics, "runwright_pipeline_runs_active", **labels, phase=phase)
        for phase in ("Pending", "Queued", "Running")
    }
    out["blocks_running"] = value(metrics, "runwright_block_runs_active", **labels)
    out["blocks_queued"] = value(metrics, "runwright_block_runs_queued", **labels)
    return out


def test_gauges_follow_a_run_through_its_phases_and_drop_it_when_finished(
    metrics: m.Metrics,
) -> None:
    queued = status(
        RunPhase.RUNNING,
        a=BlockStatus(phase=BlockPhase.RUNNING),
        b=BlockStatus(phase=BlockPhase.QUEUED),
    )
    metrics.observe_run_transition(None, status(RunPhase.PENDING), RUN)
    assert gauges(metrics)["Pending"] == 1
    metrics.observe_run_transition(status(RunPhase.PENDING), queued, RUN)
    assert gauges(metrics) == {
        "Pending": 0,
        "Queued": 0,
        "Running": 1,
        "blocks_running": 1,
        "blocks_queued": 1,
    }
    metrics.observe_run_transition(queued, queued, RUN)
    assert gauges(metrics)["blocks_running"] == 1
    metrics.observe_run_transition(queued, status(RunPhase.SUCCEEDED), RUN)
    assert set(gauges(metrics).values()) == {0}


def test_a_deleted_run_leaves_the_gauges(metrics: m.Metrics) -> None:
    metrics.observe_run_transition(None, status(RunPhase.QUEUED), RUN)
    metrics.forget_run(RUN.namespace, RUN.name)
    metrics.forget_run(RUN.namespace, RUN.name)
    assert gauges(metrics)["Queued"] == 0


def test_a_restarted_operator_sets_the_gauges_from_each_runs_first_reconcile() -> None:
    # A fresh process: its first reconcile of each run plans from the stored status.
    metrics = m.Metrics()
    runs: list[tuple[m.RunLabels, PipelineRunStatus]] = [
        (m.RunLabels("data", "r1", "etl"), status(RunPhase.QUEUED)),
        (m.RunLabels("data", "r2", "etl"), status(None)),
        (
            m.RunLabels("data", "r3", "etl"),
            status(RunPhase.RUNNING, a=BlockStatus(phase=BlockPhase.RUNNING)),
        ),
        (m.RunLabels("data", "r4", "etl"), status(RunPhase.FAILED)),
    ]
    for labels, stored in runs:
        metrics.observe_run_transition(stored, stored, labels)
    assert gauges(metrics) == {
        "Pending": 1,
        "Queued": 1,
        "Running": 1,
        "blocks_running": 1,
        "blocks_queued": 0,
    }
    # The run seen again by a later reconcile replaces its share, never adds to it.
    metrics.observe_run_transition(runs[2][1], runs[2][1], runs[2][0])
    assert gauges(metrics)["Running"] == 1


def test_trigger_fires_count_by_type_and_observe_the_lag(metrics: m.Metrics) -> None:
    metrics.observe_trigger_fire("data", "nightly", "etl", "Schedule", T0, at(1.5))
    metrics.observe_trigger_fire("data", "hook", "etl", "API", None, at(3))
    fires = "runwright_trigger_fires_total"
    assert value(
        metrics, fires, namespace="data", trigger="nightly", pipeline="etl", type="Schedule"
    )
    assert value(metrics, fires, namespace="data", trigger="hook", pipeline="etl", type="API")
    lag = {"namespace": "data", "trigger": "nightly", "pipeline": "etl"}
    assert value(metrics, "runwright_trigger_lag_seconds_sum", **lag) == 1.5
    hook_lag = {"namespace": "data", "trigger": "hook", "pipeline": "etl"}
    assert value(metrics, "runwright_trigger_lag_seconds_count", **hook_lag) == 0


def test_trigger_skips_count_by_reason(metrics: m.Metrics) -> None:
    metrics.observe_trigger_skipped("data", "nightly", "etl", "ConcurrencyPolicy")
    labels = {"namespace": "data", "trigger": "nightly", "pipeline": "etl"}
    assert value(metrics, "runwright_trigger_skipped_total", **labels, reason="ConcurrencyPolicy")


def test_reconcile_is_timed_and_its_errors_counted(metrics: m.Metrics) -> None:
    with metrics.reconcile("PipelineRun"):
        pass
    with pytest.raises(RuntimeError), metrics.reconcile("PipelineRun"):
        raise RuntimeError("boom")
    kind = {"kind": "PipelineRun"}
    assert value(metrics, "runwright_reconcile_duration_seconds_count", **kind) == 2
    assert value(metrics, "runwright_reconcile_errors_total", **kind) == 1


def test_kube_requests_count_by_verb_resource_and_code(metrics: m.Metrics) -> None:
    metrics.observe_kube_request("create", "jobs", 201)
    metrics.observe_kube_request("create", "jobs", 409)
    labels: dict[str, Any] = {"verb": "create", "resource": "jobs"}
    assert value(metrics, "runwright_kube_requests_total", **labels, code="201") == 1
    assert value(metrics, "runwright_kube_requests_total", **labels, code="409") == 1


def test_the_exposition_has_no_created_series(metrics: m.Metrics) -> None:
    metrics.observe_kube_request("get", "pipelineruns", 200)
    text = metrics.exposition().decode()
    assert "runwright_kube_requests_total{" in text
    assert "_created" not in text
