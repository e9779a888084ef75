"""`timeline RUN`: a Gantt of the run in the terminal; `-o json` for the same as data.

Blocks in DAG order on one time axis; on each block's lane its attempts (█, in the
colour of how they ended), the wait before the first (░ queued: ready but not yet
started) and the gaps between attempts (╌ retrying: the backoff). Bars that overlap
in time ran in parallel; the footer says how many at most. `layout` and `bars` are
pure, so the drawing is tested without a terminal.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from rich.console import Group
from rich.text import Text

from runwright.api.common import format_time
from runwright.cli.plugin import get, output
from runwright.cli.plugin.client import Cluster
from runwright.cli.plugin.output import Format
from runwright.cli.plugin.story import Story
from runwright.engine.durations import human


class Kind(StrEnum):
    """What a stretch of a lane is."""

    QUEUED = "queued"
    ATTEMPT = "attempt"
    RETRYING = "retrying"


GLYPH = {Kind.QUEUED: "░", Kind.ATTEMPT: "█", Kind.RETRYING: "╌"}
_ATTEMPT_STYLE = {
    "Succeeded": "green",
    "Failed": "red",
    "Cancelled": "magenta",
    "Running": "cyan",
}


@dataclass(frozen=True)
class Segment:
    """One stretch of time on a block's lane."""

    kind: Kind
    start: datetime
    end: datetime
    attempt: int = 0
    phase: str = ""


@dataclass(frozen=True)
class Lane:
    """A block and its stretches, oldest first."""

    block: str
    phase: str
    segments: list[Segment]


def layout(story: Story, now: datetime) -> list[Lane]:
    """Each block's stretches: queued before the first attempt, each attempt, the retry
    gap between two attempts. An attempt still running ends `now`."""
    lanes = []
    for block in story.blocks:
        segments: list[Segment] = []
        previous_end: datetime | None = None
        for attempt in block.attempts:
            if attempt.started_at is None:
                continue
            if (
                previous_end is None
                and block.ready_at is not None
                and block.ready_at < attempt.started_at
            ):
                segments.append(Segment(Kind.QUEUED, block.ready_at, attempt.started_at))
            if previous_end is not None and previous_end < attempt.started_at:
                segments.append(Segment(Kind.RETRYING, previous_end, attempt.started_at))
            end = attempt.completed_at or (
                now if attempt.phase == "Running" else attempt.started_at
            )
            segments.append(
                Segment(Kind.ATTEMPT, attempt.started_at, end, attempt.attempt, attempt.phase)
            )
            previous_end = end
        lanes.append(Lane(block.name, block.phase, segments))
    return lanes


def bounds(lanes: list[Lane]) -> tuple[datetime, datetime] | None:
    """The earliest start and latest end over every lane; None when nothing ran."""
    segments = [s for lane in lanes for s in lane.segments]
    if not segments:
        return None
    return min(s.start for s in segments), max(s.end for s in segments)


def bars(lane: Lane, start: datetime, end: datetime, width: int) -> list[tuple[int, int, Segment]]:
    """The columns [first, last) each stretch covers on an axis of `width` columns; every
    stretch gets at least one column, so a 0.1 s attempt is still seen."""
    span = max((end - start).total_seconds(), 1e-9)
    placed = []
    for segment in lane.segments:
        first = int((segment.start - start).total_seconds() / span * width)
        last = int((segment.end - start).total_seconds() / span * width)
        first = min(max(first, 0), width - 1)
        placed.append((first, max(last, first + 1), segment))
    return placed


def most_parallel(lanes: list[Lane]) -> int:
    """The most attempts running at the same time (half-open intervals)."""
    points = []
    for lane in lanes:
        for s in lane.segments:
            if s.kind == Kind.ATTEMPT and s.end > s.start:
                points += [(s.start, 1), (s.end, -1)]
    most = alive = 0
    for _, step in sorted(points):
        alive += step
        most = max(most, alive)
    return most


def render(story: Story, now: datetime, width: int) -> Group:
    """The Gantt: a header axis, a lane per block with its attempts' summary."""
    lanes = layout(story, now)
    span = bounds(lanes)
    title = Text(f"run {story.run.namespace}/{story.run.name}  ")
    title.append_text(output.phase_text(story.run.phase))
    if span is None:
        return Group(title, Text("no block has started yet", style="dim"))
    start, end = span
    label = max([len(lane.block) for lane in lanes] + [5])
    axis_width = max(width - label - 28, 10)
    lines = [title]
    axis = Text(" " * (label + 1) + format_time(start)[11:19])
    right = "+" + human((end - start).total_seconds())
    axis.append(" " * max(axis_width - 8 - len(right), 1) + right)
    lines.append(axis)
    for lane in lanes:
        row = Text(lane.block.ljust(label) + " ")
        cells: list[tuple[str, str]] = [(" ", "")] * axis_width
        for first, last, segment in bars(lane, start, end, axis_width):
            style = (
                _ATTEMPT_STYLE.get(segment.phase, "")
                if segment.kind == Kind.ATTEMPT
                else ("yellow" if segment.kind == Kind.RETRYING else "dim")
            )
            for column in range(first, min(last, axis_width)):
                cells[column] = (GLYPH[segment.kind], style)
        for glyph, style in cells:
            row.append(glyph, style=style)
        attempts = [s for s in lane.segments if s.kind == Kind.ATTEMPT]
        summary = "  ".join(
            f"#{s.attempt} {s.phase} {human((s.end - s.start).total_seconds())}" for s in attempts
        )
        row.append("  " + (summary or lane.phase), style="dim" if not attempts else "")
        lines.append(row)
    lines.append(
        Text(
            f"{GLYPH[Kind.ATTEMPT]} attempt  {GLYPH[Kind.RETRYING]} retrying (backoff)  {GLYPH[Kind.QUEUED]} queued   at most {most_parallel(lanes)} in parallel",
            style="dim",
        )
    )
    return Group(*lines)


def as_data(story: Story, now: datetime) -> dict[str, Any]:
    """The lanes as data (-o json|yaml)."""
    lanes = layout(story, now)
    span = bounds(lanes)
    return {
        "run": story.run.name,
        "namespace": story.run.namespace,
        "phase": story.run.phase,
        "start": format_time(span[0]) if span else None,
        "end": format_time(span[1]) if span else None,
        "maxParallel": most_parallel(lanes),
        "blocks": [
            {
                "name": lane.block,
                "phase": lane.phase,
                "segments": [
                    {
                        "kind": s.kind.value,
                        "start": s.start.isoformat().replace("+00:00", "Z"),
                        "end": s.end.isoformat().replace("+00:00", "Z"),
                        **(
                            {"attempt": s.attempt, "phase": s.phase}
                            if s.kind == Kind.ATTEMPT
                            else {}
                        ),
                    }
                    for s in lane.segments
                ],
            }
            for lane in lanes
        ],
    }


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """`timeline RUN`."""
    story = await get.load(cluster, args.run, args.archive)
    now = datetime.now(UTC)
    fmt = Format(args.output)
    if fmt in (Format.JSON, Format.YAML):
        sys.stdout.write(output.dump(as_data(story, now), fmt))
        return 0
    width = shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 120
    output.console(sys.stdout).print(render(story, now, width))
    return 0
