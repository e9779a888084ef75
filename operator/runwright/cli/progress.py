"""How a local run shows itself: a live table on a terminal, one line per event elsewhere.

A terminal gets a `rich` Live table that redraws as blocks move; a CI log gets plain,
timestamped lines (a redrawn table would be noise there). Both end with the same
summary table, built by `run_table`: blocks in DAG order (a block never shows above
its upstream; the pipeline's order breaks ties), each phase with a symbol explained
by a one-line legend, durations in human units (engine/durations.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from runwright.api.run import BlockPhase, BlockStatus, PipelineRun
from runwright.api.trigger import RunPhase
from runwright.engine import dag
from runwright.engine.durations import human
from runwright.engine.plan import Event

#: One symbol per block phase, so a glance down the table tells what is done.
BLOCK_SYMBOL: dict[BlockPhase, str] = {
    BlockPhase.PENDING: "·",
    BlockPhase.QUEUED: "…",
    BlockPhase.RUNNING: "▶",
    BlockPhase.RETRYING: "↻",
    BlockPhase.SUCCEEDED: "✓",
    BlockPhase.FAILED: "✗",
    BlockPhase.CANCELLED: "■",
    BlockPhase.UPSTREAM_FAILED: "↑",
    BlockPhase.CONDITION_FAILED: "○",
}


def legend(phases: Iterable[BlockPhase]) -> str:
    """One line saying what the symbols on screen mean, in the order a run meets them.

    Only the phases shown are explained: all nine would not fit one line of a terminal.
    """
    shown = set(phases)
    return "  ".join(f"{BLOCK_SYMBOL[p]} {p}" for p in BLOCK_SYMBOL if p in shown)


BLOCK_STYLE: dict[BlockPhase, str] = {
    BlockPhase.PENDING: "dim",
    BlockPhase.QUEUED: "dim",
    BlockPhase.RUNNING: "bold cyan",
    BlockPhase.RETRYING: "yellow",
    BlockPhase.SUCCEEDED: "green",
    BlockPhase.FAILED: "bold red",
    BlockPhase.CANCELLED: "magenta",
    BlockPhase.UPSTREAM_FAILED: "red",
    BlockPhase.CONDITION_FAILED: "dim",
}
RUN_STYLE: dict[RunPhase, str] = {
    RunPhase.PENDING: "dim",
    RunPhase.QUEUED: "dim",
    RunPhase.RUNNING: "bold cyan",
    RunPhase.SUCCEEDED: "bold green",
    RunPhase.FAILED: "bold red",
    RunPhase.CANCELLED: "bold magenta",
}


class Progress(Protocol):
    """What the run command reports to while the run goes on."""

    def __enter__(self) -> Progress: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def update(self, run: PipelineRun, events: list[Event]) -> None:
        """The run as it now stands, and the events of the last step."""

    def warn(self, message: str) -> None:
        """A warning that is not an event of the run (e.g. a skipped valueFrom)."""


def for_stream(stream: TextIO) -> Progress:
    """A live table when `stream` is a terminal, event lines when it is not."""
    if stream.isatty():
        return LiveProgress(Console(file=stream))
    return LineProgress(stream)


def block_duration(status: BlockStatus, now: datetime) -> str:
    """How long the latest attempt ran (or has run so far)."""
    if status.started_at is None:
        return ""
    end = status.completed_at or now
    return human((end - status.started_at).total_seconds())


def last_line(message: str) -> str:
    """The last non-empty line: for a log tail, usually the error itself."""
    lines = [line for line in message.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def dag_order(run: PipelineRun) -> list[str]:
    """The run's blocks upstream-first, ties in the pipeline's order (the planner's order).

    A spec that is not a DAG never runs, but the table must still show it: then the
    pipeline's own order.
    """
    status = run.status
    if status is None or status.pipeline_spec is None:
        return []
    blocks = status.pipeline_spec.blocks
    # spec.finally blocks run last, so they are listed last (in their own DAG's order).
    finally_ = status.pipeline_spec.finally_
    last = (
        [block.name for block in finally_]
        if dag.validate(finally_)
        else list(dag.cached_build(finally_).order)
    )
    if dag.validate(blocks):
        return [block.name for block in blocks] + last
    return list(dag.cached_build(blocks).order) + last


def run_table(run: PipelineRun, now: datetime | None = None) -> Table:
    """The blocks of a run as a table, in DAG order, with the run in the title."""
    now = now or datetime.now(UTC)
    status = run.status
    table = Table(title=_title(run, now), title_justify="left", expand=False)
    table.add_column("BLOCK", no_wrap=True)
    table.add_column("PHASE", no_wrap=True)
    table.add_column("ATTEMPT", justify="right")
    table.add_column("DURATION", justify="right")
    table.add_column("MESSAGE", overflow="fold")
    if status is None:
        return table
    table.caption = legend(st.phase for st in status.blocks.values())
    table.caption_justify = "left"
    for name in dag_order(run):
        st = status.blocks.get(name)
        if st is None:
            continue
        phase = Text(f"{BLOCK_SYMBOL[st.phase]} {st.phase}", style=BLOCK_STYLE[st.phase])
        message = last_line(st.message)
        if st.phase == BlockPhase.RETRYING and st.next_attempt_at is not None:
            wait = human((st.next_attempt_at - now).total_seconds())
            message = f"next attempt in {wait}: {message}" if message else f"next attempt in {wait}"
        table.add_row(
            name,
            phase,
            str(st.attempt) if st.attempt else "",
            block_duration(st, now),
            message,
        )
    return table


def _title(run: PipelineRun, now: datetime) -> Text:
    status = run.status
    title = Text(f"run {run.metadata.name}  ")
    if status is None or status.phase is None:
        return title
    title.append(str(status.phase), style=RUN_STYLE[status.phase])
    if status.progress:
        title.append(f"  {status.progress} blocks")
    if status.started_at is not None:
        end = status.completed_at or now
        title.append(f"  {human((end - status.started_at).total_seconds())}")
    return title


class LiveProgress:
    """A table redrawn in place (four times a second, so running durations tick)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.run: PipelineRun | None = None
        self.live = Live(
            get_renderable=self._render,
            console=console,
            refresh_per_second=4,
            transient=True,
        )

    def _render(self) -> RenderableType:
        if self.run is None:
            return Text("starting...")
        return Group(run_table(self.run))

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.live.stop()

    def update(self, run: PipelineRun, events: list[Event]) -> None:
        """Redraw with the new state; warnings among the events go above the table."""
        self.run = run
        for event in events:
            if event.type == "Warning" and event.reason not in ("BlockRetrying", "BlockFailed"):
                self.console.print(f"[yellow]{event.reason}[/]: {event.message}")
        self.live.refresh()

    def warn(self, message: str) -> None:
        """Print above the live table."""
        self.console.print(f"[yellow]warning[/]: {message}")


class LineProgress:
    """One plain line per event, for logs that are read later (CI, files, pipes)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stream.flush()

    def update(self, run: PipelineRun, events: list[Event]) -> None:
        """Print the step's events, e.g. `12:00:01 BlockSucceeded extract attempt 1 succeeded`."""
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        for event in events:
            message = event.message.replace("\n", " | ")
            print(f"{stamp} {event.reason} {message}", file=self.stream, flush=True)

    def warn(self, message: str) -> None:
        """Print a warning line."""
        print(f"warning: {message}", file=self.stream, flush=True)
