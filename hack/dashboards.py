"""Generate the Grafana dashboards of the Helm chart (charts/runwright/dashboards/*.json).

Built with grafana-foundation-sdk, Grafana Labs' own typed builders generated from
Grafana's schemas (the Python flavour of the SDK behind grafana/grafana-foundation-sdk).
We chose it over grafanalib, the older community library: grafanalib's last release
(0.7.1) predates Grafana 11 and its maintainer organisation is gone, while the
foundation SDK is released with each Grafana version, is typed end to end (mypy
checks our panels), and emits the JSON model Grafana itself reads. It is a dev
dependency only: generation happens here, the chart ships the JSON.

Every query names only metrics from `runwright.metrics` (a unit test parses the
JSON and checks), and the output is deterministic, so `--check` fails CI when the
committed JSON is stale:

    python hack/dashboards.py [--out charts/runwright/dashboards] [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.common import VizLegendOptions
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    GraphDrawStyle,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

OUT = Path(__file__).resolve().parent.parent / "charts" / "runwright" / "dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
TAGS = ["runwright"]

#: Label matchers of the overview (multi-value variables) and the drill-down (single).
OVERVIEW = 'namespace=~"$namespace", pipeline=~"$pipeline"'
PIPELINE = 'namespace="$namespace", pipeline="$pipeline"'
BLOCKS = PIPELINE + ', block=~"$block"'


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    """A range query with a legend."""
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)


def series(
    title: str,
    description: str,
    targets: list[tuple[str, str]],
    unit: str = "short",
    width: int = 12,
    stacked_bars: bool = False,
) -> timeseries.Panel:
    """A time-series panel of (expr, legend) queries."""
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .min(0)
        .span(width)
        .height(8)
        .legend(
            VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
    )
    if stacked_bars:
        panel = panel.draw_style(GraphDrawStyle.BARS).fill_opacity(80).line_width(1)
    for i, (expr, legend) in enumerate(targets):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + i)))
    return panel


def single(title: str, description: str, expr: str, unit: str, width: int = 6) -> stat.Panel:
    """A single-number panel over the dashboard's time range."""
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .datasource(DS)
        .unit(unit)
        .span(width)
        .height(4)
        .with_target(query(expr, title).instant())
    )


def quantiles(metric: str, matcher: str, by: str) -> list[tuple[str, str]]:
    """p50 and p95 of a histogram, per `by` label."""
    return [
        (
            f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({metric}_bucket{{{matcher}}}[{RATE}])))",
            f"{{{{{by}}}}} p{int(q * 100)}",
        )
        for q in (0.5, 0.95)
    ]


def variables(board: dash.Dashboard, *, multi: bool, block: bool) -> dash.Dashboard:
    """datasource, namespace and pipeline (and block) variables."""
    board = board.with_variable(
        dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
    )
    ns_source = "label_values(runwright_pipeline_runs_total, namespace)"
    ns_filter = 'namespace=~"$namespace"' if multi else 'namespace="$namespace"'
    pipelines = f"label_values(runwright_pipeline_runs_total{{{ns_filter}}}, pipeline)"
    chosen: list[tuple[str, str, str]] = [
        ("namespace", "Namespace", ns_source),
        ("pipeline", "Pipeline", pipelines),
    ]
    if block:
        chosen.append(
            (
                "block",
                "Block",
                f"label_values(runwright_block_runs_total{{{PIPELINE}}}, block)",
            )
        )
    for name, label, source in chosen:
        many = multi or name == "block"
        variable = (
            dash.QueryVariable(name)
            .label(label)
            .datasource(DS)
            .query(source)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(many)
            .include_all(many)
        )
        if many:
            variable = variable.all_value(".*").current(
                VariableOption(selected=True, text="All", value="$__all")
            )
        board = board.with_variable(variable)
    return board


def base(uid: str, title: str, description: str) -> dash.Dashboard:
    """Common settings: tags, refresh, shared crosshair, last 6 hours."""
    return (
        dash.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .editable()
    )


def overview() -> dash.Dashboard:
    """Every pipeline at a glance: runs, success, durations, SLAs, blocks, triggers, operator."""
    board = variables(
        base(
            "runwright-overview",
            "Runwright: Overview",
            "Runs, durations, SLAs, block concurrency and triggers across pipelines.",
        ),
        multi=True,
        block=False,
    )
    finished = 'phase=~"Succeeded|Failed|Cancelled"'
    runs = "runwright_pipeline_runs_total"
    board = (
        board.with_row(dash.Row("Runs"))
        .with_panel(
            single(
                "Success rate",
                "Succeeded runs / all finished runs in the time range.",
                f'sum(increase({runs}{{{OVERVIEW}, phase="Succeeded"}}[$__range])) / '
                f"sum(increase({runs}{{{OVERVIEW}, {finished}}}[$__range]))",
                "percentunit",
            )
        )
        .with_panel(
            single(
                "Finished runs",
                "Runs that finished (any phase) in the time range.",
                f"sum(increase({runs}{{{OVERVIEW}, {finished}}}[$__range]))",
                "short",
            )
        )
        .with_panel(
            single(
                "SLA misses",
                "Runs still unfinished past executionDate + slaSeconds, in the time range.",
                f"sum(increase(runwright_sla_missed_total{{{OVERVIEW}}}[$__range]))",
                "short",
            )
        )
        .with_panel(
            single(
                "Timeouts",
                "Runs ended by their timeout in the time range.",
                f"sum(increase(runwright_pipeline_run_timeouts_total{{{OVERVIEW}}}[$__range]))",
                "short",
            )
        )
        .with_panel(
            series(
                "Runs by phase",
                "Runs entering each phase per interval (Running = started).",
                [(f"sum by (phase) (increase({runs}{{{OVERVIEW}}}[{RATE}]))", "{{phase}}")],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Active runs by phase",
                "Unfinished runs now: Pending, Queued (waiting on pipelineRunLimit), Running.",
                [
                    (
                        f"sum by (phase) (runwright_pipeline_runs_active{{{OVERVIEW}}})",
                        "{{phase}}",
                    )
                ],
            )
        )
        .with_panel(
            series(
                "Run duration p50 / p95 by pipeline",
                "Duration of finished runs (startedAt to completedAt).",
                quantiles("runwright_pipeline_run_duration_seconds", OVERVIEW, "pipeline"),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Failed runs and SLA misses by pipeline",
                "Runs that ended Failed, SLA misses and timeouts per interval.",
                [
                    (
                        f'sum by (pipeline) (increase({runs}{{{OVERVIEW}, phase="Failed"}}[{RATE}]))',
                        "{{pipeline}} failed",
                    ),
                    (
                        f"sum by (pipeline) (increase(runwright_sla_missed_total{{{OVERVIEW}}}[{RATE}]))",
                        "{{pipeline}} SLA missed",
                    ),
                    (
                        "sum by (pipeline) (increase(runwright_pipeline_run_timeouts_total"
                        f"{{{OVERVIEW}}}[{RATE}]))",
                        "{{pipeline}} timed out",
                    ),
                ],
                stacked_bars=True,
            )
        )
        .with_row(dash.Row("Blocks"))
        .with_panel(
            series(
                "Active and queued blocks",
                "Blocks Running, and blocks Queued on a concurrency limit "
                "(--max-concurrent-blocks, the namespace annotation, blockRunLimit).",
                [
                    (f"sum(runwright_block_runs_active{{{OVERVIEW}}})", "running"),
                    (f"sum(runwright_block_runs_queued{{{OVERVIEW}}})", "queued"),
                ],
            )
        )
        .with_panel(
            series(
                "Block start latency p50 / p95",
                "From a block (or a retry) being ready to its Job being created.",
                quantiles("runwright_block_start_latency_seconds", OVERVIEW, "pipeline"),
                unit="s",
            )
        )
        .with_row(dash.Row("Triggers"))
        .with_panel(
            series(
                "Trigger lag p95",
                "From a fire's scheduled time to its run being created.",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, trigger) (rate("
                        f"runwright_trigger_lag_seconds_bucket{{{OVERVIEW}}}[{RATE}])))",
                        "{{trigger}}",
                    )
                ],
                unit="s",
            )
        )
        .with_panel(
            series(
                "Trigger fires and skips",
                "Runs created by triggers, by type; fires that created no run, by reason.",
                [
                    (
                        "sum by (type) (increase(runwright_trigger_fires_total"
                        f"{{{OVERVIEW}}}[{RATE}]))",
                        "fired {{type}}",
                    ),
                    (
                        "sum by (reason) (increase(runwright_trigger_skipped_total"
                        f"{{{OVERVIEW}}}[{RATE}]))",
                        "skipped {{reason}}",
                    ),
                ],
                stacked_bars=True,
            )
        )
        .with_row(dash.Row("Operator"))
        .with_panel(
            series(
                "Reconcile duration p95 and errors",
                "How long one reconcile takes, and reconciles that raised (retried with "
                "backoff), by kind.",
                [
                    (
                        "histogram_quantile(0.95, sum by (le, kind) "
                        f"(rate(runwright_reconcile_duration_seconds_bucket[{RATE}])))",
                        "{{kind}} p95",
                    ),
                    (
                        f"sum by (kind) (rate(runwright_reconcile_errors_total[{RATE}]))",
                        "{{kind}} errors/s",
                    ),
                ],
                unit="s",
            )
        )
        .with_panel(
            series(
                "Kubernetes API requests",
                "Requests per second the operator makes, by verb, resource and HTTP code.",
                [
                    (
                        "sum by (verb, resource, code) "
                        f"(rate(runwright_kube_requests_total[{RATE}]))",
                        "{{verb}} {{resource}} {{code}}",
                    )
                ],
                unit="reqps",
            )
        )
        .with_row(dash.Row("Archive"))
        .with_panel(
            series(
                "Archive writes and errors",
                "Rows committed to the run archive per second (runs, logs, Events, prunes), "
                "and failed writes (retried with backoff).",
                [
                    (
                        f"sum by (kind) (rate(runwright_archive_writes_total[{RATE}]))",
                        "{{kind}} writes/s",
                    ),
                    (
                        f"sum by (kind) (rate(runwright_archive_errors_total[{RATE}]))",
                        "{{kind}} errors/s",
                    ),
                ],
                unit="ops",
            )
        )
        .with_panel(
            series(
                "Archive lag p95 and backlog",
                "From a run's completion to its record, logs and Events committed (p95), and "
                "finished runs waiting for the archive (retention keeps them meanwhile).",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(runwright_archive_lag_seconds_bucket[{RATE}])))",
                        "lag p95",
                    ),
                    ("max(runwright_archive_backlog)", "backlog (runs)"),
                ],
                unit="s",
            )
        )
        .with_row(dash.Row("Notifications"))
        .with_panel(
            series(
                "Notifications by result",
                "Notification attempts (spec.notifications) per interval: sent, retried (an "
                "attempt failed, another follows), failed (given up) and interrupted (in flight "
                "when the operator stopped; never sent twice).",
                [
                    (
                        "sum by (result) (increase(runwright_notifications_total"
                        f"{{{OVERVIEW}}}[{RATE}]))",
                        "{{result}}",
                    ),
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Failed notifications by pipeline and event",
                "Notifications given up or interrupted: the run's Warning Events "
                "(NotificationFailed) and status.notifications say why.",
                [
                    (
                        "sum by (pipeline, event) (increase(runwright_notifications_total"
                        f'{{{OVERVIEW}, result=~"failed|interrupted"}}[{RATE}]))',
                        "{{pipeline}} {{event}}",
                    ),
                ],
                stacked_bars=True,
            )
        )
    )
    return board


def pipeline() -> dash.Dashboard:
    """One pipeline: its runs, and each block's durations, retries, failures and metrics."""
    board = variables(
        base(
            "runwright-pipeline",
            "Runwright: Pipeline",
            "One pipeline's runs and blocks: durations, retries, failures, start latency "
            "and the metrics blocks report.",
        ),
        multi=False,
        block=True,
    )
    blocks = "runwright_block_runs_total"
    output = "runwright_block_output_metric_total"
    board = (
        board.with_row(dash.Row("Runs"))
        .with_panel(
            series(
                "Runs by phase",
                "Runs of this pipeline entering each phase per interval.",
                [
                    (
                        f"sum by (phase) (increase(runwright_pipeline_runs_total{{{PIPELINE}}}[{RATE}]))",
                        "{{phase}}",
                    )
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Run duration p50 / p95",
                "Duration of this pipeline's finished runs, by final phase.",
                quantiles("runwright_pipeline_run_duration_seconds", PIPELINE, "phase"),
                unit="s",
            )
        )
        .with_row(dash.Row("Blocks"))
        .with_panel(
            series(
                "Block duration p50 / p95",
                "Duration of each block's last attempt.",
                quantiles("runwright_block_run_duration_seconds", BLOCKS, "block"),
                unit="s",
            )
        )
        .with_panel(
            series(
                "Block results",
                "Blocks finishing per interval, by block and final phase.",
                [
                    (
                        f"sum by (block, phase) (increase({blocks}{{{BLOCKS}}}[{RATE}]))",
                        "{{block}} {{phase}}",
                    )
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Retries by block",
                "Automatic retries (attempts after a failed one) per interval.",
                [
                    (
                        f"sum by (block) (increase(runwright_block_retries_total{{{BLOCKS}}}[{RATE}]))",
                        "{{block}}",
                    )
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Failures by reason",
                "Blocks that ended Failed, by reason (Error, Timeout, OOMKilled, JobRejected, ...).",
                [
                    (
                        f'sum by (reason) (increase({blocks}{{{BLOCKS}, phase="Failed"}}[{RATE}]))',
                        "{{reason}}",
                    )
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Block start latency p50 / p95",
                "From a block (or a retry) being ready to its Job being created.",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) (rate("
                        f"runwright_block_start_latency_seconds_bucket{{{PIPELINE}}}[{RATE}])))",
                        f"p{int(q * 100)}",
                    )
                    for q in (0.5, 0.95)
                ],
                unit="s",
            )
        )
        .with_panel(
            series(
                "Active and queued blocks",
                "This pipeline's blocks Running, and Queued on a concurrency limit.",
                [
                    (f"sum(runwright_block_runs_active{{{PIPELINE}}})", "running"),
                    (f"sum(runwright_block_runs_queued{{{PIPELINE}}})", "queued"),
                ],
            )
        )
        .with_row(dash.Row("Block metrics"))
        .with_panel(
            series(
                "Items processed",
                'The "itemsProcessed" metric blocks report, summed per interval by block.',
                [
                    (
                        f'sum by (block) (increase({output}{{{BLOCKS}, metric="itemsProcessed"}}[{RATE}]))',
                        "{{block}}",
                    )
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Cost",
                'The "cost" metric blocks report, summed per interval by block.',
                [
                    (
                        f'sum by (block) (increase({output}{{{BLOCKS}, metric="cost"}}[{RATE}]))',
                        "{{block}}",
                    )
                ],
                stacked_bars=True,
            )
        )
        .with_panel(
            series(
                "Every block metric",
                "All numeric metrics blocks report, per interval, by name (names past the "
                'first 20 of a pipeline appear as "_other").',
                [
                    (
                        f"sum by (metric) (increase({output}{{{BLOCKS}}}[{RATE}]))",
                        "{{metric}}",
                    )
                ],
                width=24,
            )
        )
    )
    return board


DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    "runwright-overview.json": overview,
    "runwright-pipeline.json": pipeline,
}


def render(build: Callable[[], dash.Dashboard]) -> str:
    """The dashboard's JSON model, with stable key order and panel ids."""
    model: dict[str, Any] = json.loads(json.dumps(build().build(), cls=JSONEncoder))
    for number, panel in enumerate(model.get("panels", []), start=1):
        panel["id"] = number
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def expressions(model: Any) -> list[str]:
    """Every PromQL expression in a dashboard's JSON model (targets and variable queries)."""
    found: list[str] = []
    if isinstance(model, dict):
        for key, item in model.items():
            if key in ("expr", "query") and isinstance(item, str):
                found.append(item)
            else:
                found.extend(expressions(item))
    elif isinstance(model, list):
        for item in model:
            found.extend(expressions(item))
    return found


def main(argv: list[str] | None = None) -> int:
    """Write (or, with --check, compare) every dashboard."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="fail if the files differ")
    args = parser.parse_args(argv)
    stale: list[str] = []
    expected = set(DASHBOARDS)
    for name, build in DASHBOARDS.items():
        path = args.out / name
        text = render(build)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    extra = sorted(p.name for p in args.out.glob("*.json") if p.name not in expected)
    if args.check and extra:
        stale.extend(str(args.out / name) for name in extra)
    if stale:
        print(
            "stale dashboards (run `make dashboards` and commit the result):\n  "
            + "\n  ".join(stale),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
