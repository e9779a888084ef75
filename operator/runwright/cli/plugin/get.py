"""`get RUN`: one screen that answers "what happened" (from the cluster, else the archive).

The run (phase, reason and message; pipeline and generation; trigger and
triggeredBy; variables; execution date; SLA and timeout), then its blocks in DAG
order with every attempt (phase, duration, exit code, reason, the message's
tail), outputs and metrics, then per forEach block its items by phase and its
failed items (from the archive, every item attempt it keeps), then its Events in
true order. `-o json|yaml` prints the same as data, every item attempt included.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from runwright.api.common import format_time
from runwright.archive import ItemAttemptRecord, item_attempts
from runwright.cli.plugin import archived, errors, output
from runwright.cli.plugin import items as fan_out
from runwright.cli.plugin.client import Cluster
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.output import Format
from runwright.cli.plugin.story import Story, from_archive, from_body, tail
from runwright.engine.durations import human


async def load(cluster: Cluster, name: str, archive: str | None, *, logs: bool = False) -> Story:
    """The run from the cluster (with its Events), else from the archive, else not found."""
    body = await cluster.get_run(name)
    if body is not None:
        events = await cluster.run_events(cluster.namespace, name)
        return from_body(body, events)
    engine = archived.open_engine(archive, required=False)
    if engine is None:
        raise PluginError(
            f"pipelinerun {cluster.namespace}/{name} not found in the cluster "
            f"(and no archive to look in: pass --archive URL or set {archived.ENV})",
            errors.NOT_FOUND,
        )
    try:
        detail = await archived.find_run(engine, cluster.namespace, name)
        rows = [] if detail is None else await _item_rows(engine, detail.run.uid)
    finally:
        await engine.dispose()
    if detail is None:
        raise PluginError(
            f"pipelinerun {cluster.namespace}/{name} not found in the cluster nor in the archive",
            errors.NOT_FOUND,
        )
    return from_archive(detail, rows)


async def _item_rows(engine: AsyncEngine, uid: str) -> list[ItemAttemptRecord]:
    """Every fan-out item attempt of an archived run."""
    try:
        return await item_attempts(engine, uid)
    except SQLAlchemyError as exc:
        raise archived.unreachable(exc) from None


def _time(value: datetime | None) -> str:
    return format_time(value) if value else "-"


def _span(start: datetime | None, end: datetime | None, now: datetime) -> str:
    if start is None:
        return ""
    return human(((end or now) - start).total_seconds())


def summary(story: Story, now: datetime) -> Table:
    """The run's own fields, two columns."""
    run = story.run
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    title = Text(f"{run.namespace}/{run.name}")
    if story.archived:
        title.append(output.ARCHIVED_MARK, style="dim")
    phase = output.phase_text(run.phase)
    if run.reason:
        phase.append(f" ({run.reason})")
    rows: list[tuple[str, RenderableType]] = [
        ("Run", title),
        ("Phase", phase),
        ("Message", run.message or "-"),
        (
            "Pipeline",
            f"{run.pipeline}"
            + (f" (generation {run.pipeline_generation})" if run.pipeline_generation else ""),
        ),
        ("Trigger", f"{run.trigger or '-'} (triggeredBy {run.triggered_by})"),
        ("Variables", ", ".join(f"{k}={v}" for k, v in sorted(run.variables.items())) or "-"),
        ("Execution date", _time(run.execution_date)),
        ("Started", _time(run.started_at)),
        ("Completed", _time(run.completed_at)),
        (
            "Duration",
            human(run.duration_seconds)
            if run.duration_seconds is not None
            else _span(run.started_at, run.completed_at, now) or "-",
        ),
    ]
    if story.progress:
        rows.append(("Progress", story.progress))
    if not story.archived:
        sla = f"{human(story.sla_seconds)}" if story.sla_seconds else "none"
        rows.append(("SLA", sla + (" (missed)" if story.sla_missed else "")))
        timeout = f"{human(story.timeout_seconds)}" if story.timeout_seconds else "none"
        rows.append(("Timeout", timeout + (" (timed out)" if story.timed_out else "")))
    if run.metrics:
        rows.append(
            (
                "Metrics",
                ", ".join(f"{k}={output.number(v)}" for k, v in sorted(run.metrics.items())),
            )
        )
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def blocks_table(story: Story, now: datetime) -> Table:
    """Blocks in DAG order, a line per attempt under each, with outputs."""
    grid = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title="Blocks",
        title_justify="left",
    )
    for column in ("BLOCK", "ATTEMPT", "PHASE", "DURATION", "EXIT", "REASON", "MESSAGE"):
        grid.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
    for block in story.blocks:
        grid.add_row(
            Text(block.name, style="bold"),
            "",
            Text(block.phase),
            "",
            "",
            "",
            _outputs(block.outputs),
        )
        for attempt in block.attempts:
            grid.add_row(
                "",
                f"#{attempt.attempt}",
                output.phase_text(attempt.phase),
                _span(attempt.started_at, attempt.completed_at, now),
                "" if attempt.exit_code is None else str(attempt.exit_code),
                attempt.reason,
                tail(attempt.message),
            )
    return grid


def _outputs(outputs: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(dict(outputs).items())) if outputs else ""


def events_table(story: Story) -> Table:
    """The run's Events, oldest first (their microsecond eventTime is the true order)."""
    grid = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title="Events",
        title_justify="left",
    )
    for column in ("TIME", "TYPE", "REASON", "MESSAGE"):
        grid.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
    for event in story.events:
        count = f" (x{event.count})" if event.count > 1 else ""
        style = "yellow" if event.type == "Warning" else ""
        grid.add_row(
            _time(event.time), Text(event.type, style=style), event.reason, event.message + count
        )
    return grid


def as_data(story: Story) -> dict[str, Any]:
    """The story as plain data for -o json|yaml."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return format_time(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    data = plain(dataclasses.asdict(story))
    return dict(data)


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """`get RUN`."""
    story = await load(cluster, args.run, args.archive)
    fmt = Format(args.output)
    if fmt in (Format.JSON, Format.YAML):
        sys.stdout.write(output.dump(as_data(story), fmt))
        return 0
    now = datetime.now(UTC)
    parts: list[RenderableType] = [summary(story, now), Text(""), blocks_table(story, now)]
    if story.items:
        parts += [Text(""), fan_out.table(story.items)]
    if story.events:
        parts += [Text(""), events_table(story)]
    output.console(sys.stdout).print(Group(*parts))
    return 0
