"""Every Prometheus metric Runwright exposes, defined once, and the functions that feed them.

The metrics live in their own `CollectorRegistry` (not prometheus_client's global
one), so tests build a fresh `Metrics` per case and the operator serves exactly
these series on `:8080/metrics`. Labels are bounded: namespace, pipeline, trigger,
block, phase, reason, kind, verb, resource, code, and block metric names capped per
pipeline. A run's name is never a label; it would make a new series per run.

The controller calls two things:

- `observe_run_transition(old, new, run)` after each reconcile, with the status the
  worker planned from and the one it wrote: counters and histograms come from the
  difference alone, so a restarted operator (whose first "old" is the stored status)
  never counts a transition twice. The gauges come from `new` alone, as this run's
  share replacing its previous one: after a restart each run's first reconcile puts
  it back into them, so no separate rebuild from a listing is needed;
- `forget_run(namespace, name)` when a run is deleted.

Counters count transitions *into* a phase: an in-place retry that takes a Failed run
back to Running and on to Succeeded counts one Failed and one Succeeded.
"""

from __future__ import annotations

import re
import time
from collections import Counter as Tally
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from runwright.api.run import BlockPhase, BlockStatus, PipelineRunStatus
from runwright.api.trigger import RunPhase
from runwright.engine.reasons import SkipReason

# `_created` series double every counter and histogram for a timestamp nobody graphs.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: Distinct block metric names (itemsProcessed, cost, ...) kept per pipeline; the rest
#: are counted under OTHER_METRIC so a block cannot mint unbounded series.
MAX_OUTPUT_METRIC_NAMES = 20
OTHER_METRIC = "_other"
#: A reason label value that is not a CamelCase word is reported as this.
OTHER_REASON = "Other"
_REASON = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_METRIC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,62}$")

#: Phases in runwright_pipeline_runs_active (a run not yet planned counts as Pending).
ACTIVE_RUN_PHASES = (RunPhase.PENDING, RunPhase.QUEUED, RunPhase.RUNNING)

_SECONDS_LONG = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400)
_SECONDS_SHORT = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
_SECONDS_RECONCILE = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class RunLabels:
    """Who a run belongs to: the label values of its series (never its name)."""

    namespace: str
    name: str
    pipeline: str
    trigger: str = ""
    """The trigger that made the run; empty for manual runs."""


@dataclass(frozen=True)
class _Share:
    """What one run adds to the gauges."""

    run_phase: RunPhase | None
    blocks_running: int
    blocks_queued: int


class Metrics:
    """The metric objects, in one registry, and the bookkeeping the gauges need."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        run = ["namespace", "pipeline"]
        block = ["namespace", "pipeline", "block"]

        # ----- runs ---------------------------------------------------------------------
        self.pipeline_runs_total = Counter(
            "runwright_pipeline_runs_total",
            "PipelineRuns that entered each phase.",
            [*run, "trigger", "phase"],
            registry=r,
        )
        self.pipeline_run_duration_seconds = Histogram(
            "runwright_pipeline_run_duration_seconds",
            "Duration of finished PipelineRuns (startedAt to completedAt), by final phase.",
            [*run, "phase"],
            buckets=_SECONDS_LONG,
            registry=r,
        )
        self.pipeline_runs_active = Gauge(
            "runwright_pipeline_runs_active",
            "Unfinished PipelineRuns by phase (Pending, Queued, Running).",
            [*run, "phase"],
            registry=r,
        )
        self.sla_missed_total = Counter(
            "runwright_sla_missed_total",
            "PipelineRuns that were still unfinished past executionDate + slaSeconds.",
            run,
            registry=r,
        )
        self.pipeline_run_timeouts_total = Counter(
            "runwright_pipeline_run_timeouts_total",
            "PipelineRuns ended by their timeoutSeconds.",
            run,
            registry=r,
        )

        # ----- blocks -------------------------------------------------------------------
        self.block_runs_total = Counter(
            "runwright_block_runs_total",
            "Blocks that finished, by final phase and reason.",
            [*block, "phase", "reason"],
            registry=r,
        )
        self.block_run_duration_seconds = Histogram(
            "runwright_block_run_duration_seconds",
            "Duration of a block's last attempt (startedAt to completedAt), by final phase.",
            [*block, "phase"],
            buckets=_SECONDS_LONG,
            registry=r,
        )
        self.block_runs_active = Gauge(
            "runwright_block_runs_active",
            "Blocks Running now.",
            run,
            registry=r,
        )
        self.block_runs_queued = Gauge(
            "runwright_block_runs_queued",
            "Blocks Queued now (ready, waiting on a concurrency limit).",
            run,
            registry=r,
        )
        self.block_retries_total = Counter(
            "runwright_block_retries_total",
            "Automatic retries of blocks (attempts after a failed one).",
            block,
            registry=r,
        )
        self.block_start_latency_seconds = Histogram(
            "runwright_block_start_latency_seconds",
            "From a block (or a retry) being ready to its attempt being created.",
            run,
            buckets=_SECONDS_SHORT,
            registry=r,
        )
        self.block_output_metric_total = Counter(
            "runwright_block_output_metric_total",
            "Sums of the numeric metrics blocks report (itemsProcessed, cost, tokens, ...); "
            f"at most {MAX_OUTPUT_METRIC_NAMES} names per pipeline, the rest as "
            f'metric="{OTHER_METRIC}".',
            [*block, "metric"],
            registry=r,
        )

        # ----- triggers -----------------------------------------------------------------
        self.trigger_fires_total = Counter(
            "runwright_trigger_fires_total",
            "Runs created by triggers.",
            ["namespace", "trigger", "pipeline", "type"],
            registry=r,
        )
        self.trigger_skipped_total = Counter(
            "runwright_trigger_skipped_total",
            "Trigger fires that created no run, by reason (" + ", ".join(SkipReason) + ").",
            ["namespace", "trigger", "pipeline", "reason"],
            registry=r,
        )
        self.trigger_lag_seconds = Histogram(
            "runwright_trigger_lag_seconds",
            "From a fire's scheduled time to its run being created.",
            ["namespace", "trigger", "pipeline"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 15, 30, 60, 300, 900, 3600),
            registry=r,
        )

        # ----- the operator itself ------------------------------------------------------
        self.reconcile_duration_seconds = Histogram(
            "runwright_reconcile_duration_seconds",
            "Time of one reconcile, by resource kind.",
            ["kind"],
            buckets=_SECONDS_RECONCILE,
            registry=r,
        )
        self.reconcile_errors_total = Counter(
            "runwright_reconcile_errors_total",
            "Reconciles that raised (and are retried with backoff), by resource kind.",
            ["kind"],
            registry=r,
        )
        self.reconcile_throttled_total = Counter(
            "runwright_reconcile_throttled_total",
            "Reconciles that asked to run again at once with nothing new (no progress "
            "possible) and were delayed with backoff instead, by resource kind.",
            ["kind"],
            registry=r,
        )
        self.resync_repairs_total = Counter(
            "runwright_resync_repairs_total",
            "Periodic resyncs of unfinished runs and of triggers that found work to do: "
            "each one means an event that should have woken the object was missed (see "
            "--resync-period), by resource kind.",
            ["kind"],
            registry=r,
        )
        self.events_dropped_total = Counter(
            "runwright_events_dropped_total",
            "Events the operator dropped unposted because too many waited to be posted "
            "(the API server refusing them, or --event-qps too low for the load).",
            registry=r,
        )
        self.kube_requests_total = Counter(
            "runwright_kube_requests_total",
            "Kubernetes API requests the operator made, by verb, resource and HTTP code.",
            ["verb", "resource", "code"],
            registry=r,
        )

        # ----- the run archive (runwright.archive; issue 12) ----------------------------------
        self.archive_writes_total = Counter(
            "runwright_archive_writes_total",
            "Archive writes committed, by kind (run, log, events, items, prune).",
            ["kind"],
            registry=r,
        )
        self.archive_errors_total = Counter(
            "runwright_archive_errors_total",
            "Archive writes (or log and Event reads for it) that failed and will be retried, "
            "by kind.",
            ["kind"],
            registry=r,
        )
        self.archive_lag_seconds = Histogram(
            "runwright_archive_lag_seconds",
            "From a run's completedAt to its final record, logs and Events being committed.",
            buckets=_SECONDS_SHORT,
            registry=r,
        )
        self.archive_backlog = Gauge(
            "runwright_archive_backlog",
            "Finished runs the archive has not confirmed yet (retention keeps them meanwhile).",
            registry=r,
        )
        self.archive_pruned_total = Counter(
            "runwright_archive_pruned_total",
            "Archived runs deleted by the archive's own retention.",
            registry=r,
        )

        # ----- notifications (spec.notifications; issue 15) -------------------------------
        self.notifications_total = Counter(
            "runwright_notifications_total",
            "Notification attempts by event (Failed, SLAMissed, ...), kind (webhook, slack) and "
            "result: sent, retried (failed, another attempt follows), failed (given up), "
            "interrupted (in flight when the operator stopped; never sent again).",
            [*run, "event", "kind", "result"],
            registry=r,
        )

        self._shares: dict[tuple[str, str], tuple[RunLabels, _Share]] = {}
        self._metric_names: dict[tuple[str, str], set[str]] = {}

    # ----- runs and blocks ------------------------------------------------------------------

    def observe_run_transition(
        self, old: PipelineRunStatus | None, new: PipelineRunStatus, run: RunLabels
    ) -> None:
        """Count what changed between two statuses of one run, and update its gauge share.

        `old` is the status the reconcile planned from (None for a run never seen
        before), `new` the one it wrote. Calling it again with the same pair's `new`
        as both arguments changes no counter.
        """
        before = old if old is not None else PipelineRunStatus()
        ns, pl = run.namespace, run.pipeline
        if new.phase is not None and new.phase != before.phase:
            self.pipeline_runs_total.labels(ns, pl, run.trigger, str(new.phase)).inc()
            if new.phase.finished:
                seconds = _run_seconds(new)
                if seconds is not None:
                    self.pipeline_run_duration_seconds.labels(ns, pl, str(new.phase)).observe(
                        seconds
                    )
        if new.sla_missed and not before.sla_missed:
            self.sla_missed_total.labels(ns, pl).inc()
        if new.timed_out and not before.timed_out:
            self.pipeline_run_timeouts_total.labels(ns, pl).inc()
        for name, block in sorted(new.blocks.items()):
            self._observe_block(run, name, before.blocks.get(name), block)
        self._set_share(run, _share(new))

    def _observe_block(
        self, run: RunLabels, name: str, old: BlockStatus | None, new: BlockStatus
    ) -> None:
        ns, pl = run.namespace, run.pipeline
        was = old if old is not None else BlockStatus()
        retries = new.retries - was.retries if new.retries >= was.retries else new.retries
        if retries > 0:
            self.block_retries_total.labels(ns, pl, name).inc(retries)
        if new.attempt > was.attempt and new.started_at is not None:
            # A retry is ready when its backoff ends, not when the block first was.
            ready = was.next_attempt_at if new.attempt > 1 and was.next_attempt_at else None
            ready = ready or new.ready_at
            if ready is not None:
                latency = max((new.started_at - ready).total_seconds(), 0.0)
                self.block_start_latency_seconds.labels(ns, pl).observe(latency)
        if new.phase.finished and new.phase != was.phase:
            self.block_runs_total.labels(
                ns, pl, name, str(new.phase), reason_label(new.reason)
            ).inc()
            if new.started_at is not None and new.completed_at is not None and new.attempt:
                seconds = max((new.completed_at - new.started_at).total_seconds(), 0.0)
                self.block_run_duration_seconds.labels(ns, pl, name, str(new.phase)).observe(
                    seconds
                )
            for metric, value in sorted(new.metrics.items()):
                # Counters only go up: a negative metric (a delta, a loss) is not summable here.
                if value > 0:
                    label = self.output_metric_label(ns, pl, metric)
                    self.block_output_metric_total.labels(ns, pl, name, label).inc(value)

    def output_metric_label(self, namespace: str, pipeline: str, metric: str) -> str:
        """The `metric` label for a block metric name: itself, or OTHER_METRIC past the cap."""
        seen = self._metric_names.setdefault((namespace, pipeline), set())
        if metric in seen:
            return metric
        if len(seen) >= MAX_OUTPUT_METRIC_NAMES or not _METRIC_NAME.match(metric):
            return OTHER_METRIC
        seen.add(metric)
        return metric

    def forget_run(self, namespace: str, name: str) -> None:
        """The run is deleted: take its share out of the gauges."""
        entry = self._shares.get((namespace, name))
        if entry is not None:
            self._set_share(entry[0], _Share(None, 0, 0), present=False)

    def _set_share(self, run: RunLabels, share: _Share, present: bool = True) -> None:
        key = (run.namespace, run.name)
        previous = self._shares.get(key)
        old = previous[1] if previous is not None else None
        labels = previous[0] if previous is not None else run
        ns, pl = labels.namespace, labels.pipeline
        if old is not None:
            if old.run_phase is not None:
                self.pipeline_runs_active.labels(ns, pl, str(old.run_phase)).dec()
            self.block_runs_active.labels(ns, pl).dec(old.blocks_running)
            self.block_runs_queued.labels(ns, pl).dec(old.blocks_queued)
        ns, pl = run.namespace, run.pipeline
        active = share.run_phase is not None or share.blocks_running or share.blocks_queued
        if not present or not active:
            self._shares.pop(key, None)
            return
        for phase in ACTIVE_RUN_PHASES:
            # Zero-valued children, so a dashboard shows 0 rather than "no data".
            self.pipeline_runs_active.labels(ns, pl, str(phase))
        if share.run_phase is not None:
            self.pipeline_runs_active.labels(ns, pl, str(share.run_phase)).inc()
        self.block_runs_active.labels(ns, pl).inc(share.blocks_running)
        self.block_runs_queued.labels(ns, pl).inc(share.blocks_queued)
        self._shares[key] = (run, share)

    # ----- triggers ------------------------------------------------------------------------

    def observe_trigger_fire(
        self,
        namespace: str,
        trigger: str,
        pipeline: str,
        trigger_type: str,
        scheduled_at: datetime | None,
        created_at: datetime,
    ) -> None:
        """A trigger created a run; `scheduled_at` (None for API/Event fires) gives the lag."""
        self.trigger_fires_total.labels(namespace, trigger, pipeline, trigger_type).inc()
        if scheduled_at is not None:
            lag = max((created_at - scheduled_at).total_seconds(), 0.0)
            self.trigger_lag_seconds.labels(namespace, trigger, pipeline).observe(lag)

    def observe_trigger_skipped(
        self, namespace: str, trigger: str, pipeline: str, reason: str, count: int = 1
    ) -> None:
        """`count` fires created no run, for a `SkipReason` (Forbid, past the deadline...)."""
        self.trigger_skipped_total.labels(namespace, trigger, pipeline, reason_label(reason)).inc(
            count
        )

    # ----- the operator --------------------------------------------------------------------

    @contextmanager
    def reconcile(self, kind: str) -> Iterator[None]:
        """Time a reconcile of `kind` (PipelineRun, Pipeline, Trigger); count it if it raises."""
        start = time.perf_counter()
        try:
            yield
        except Exception:
            # Cancellation (operator shutdown) is a BaseException, not an error.
            self.reconcile_errors_total.labels(kind).inc()
            raise
        finally:
            self.reconcile_duration_seconds.labels(kind).observe(time.perf_counter() - start)

    def observe_kube_request(self, verb: str, resource: str, code: int | str) -> None:
        """One API request: verb (create, patch, ...), resource (jobs, pipelineruns/status), code."""
        self.kube_requests_total.labels(verb, resource, str(code)).inc()

    def observe_notification(
        self, namespace: str, pipeline: str, event: str, kind: str, result: str
    ) -> None:
        """One notification attempt's result (sent, retried, failed, interrupted)."""
        self.notifications_total.labels(namespace, pipeline, event, kind, result).inc()

    # ----- exposition ----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format of every series, as /metrics serves it."""
        return generate_latest(self.registry)

    def names(self) -> frozenset[str]:
        """Every series name this registry can expose (with _total, _bucket, ... suffixes)."""
        suffixes = {
            "counter": ("_total",),
            "gauge": ("",),
            "histogram": ("_bucket", "_sum", "_count"),
        }
        return frozenset(
            family.name + suffix
            for family in self.registry.collect()
            for suffix in suffixes.get(family.type, ("",))
        )


def reason_label(reason: str) -> str:
    """A reason as a label value: a CamelCase word, "" for none, OTHER_REASON otherwise."""
    if not reason:
        return ""
    return reason if _REASON.match(reason) else OTHER_REASON


def _run_seconds(status: PipelineRunStatus) -> float | None:
    if status.duration_seconds is not None:
        return float(status.duration_seconds)
    if status.started_at is not None and status.completed_at is not None:
        return max((status.completed_at - status.started_at).total_seconds(), 0.0)
    return None


def _share(status: PipelineRunStatus) -> _Share:
    phase = status.phase
    if phase is not None and phase.finished:
        return _Share(None, 0, 0)
    counts: Mapping[BlockPhase, int] = Tally(b.phase for b in status.blocks.values())
    return _Share(
        run_phase=phase if phase is not None else RunPhase.PENDING,
        blocks_running=counts.get(BlockPhase.RUNNING, 0),
        blocks_queued=counts.get(BlockPhase.QUEUED, 0),
    )


#: The operator's metrics; `/metrics` serves METRICS.registry.
METRICS = Metrics()
