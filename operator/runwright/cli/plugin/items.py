"""A fan-out's items as `get` tells them (PURE): counts by phase, then the failed items.

From a live run, the block's bounded `items` status (one letter and attempt per item,
detail for the first failed ones); from the archive, every attempt of every item
(`item_attempts`), each item counted by its latest attempt. `-o json|yaml` carries
every item attempt either source has.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from runwright.archive import ItemAttemptRecord, status_item_attempts
from runwright.cli.plugin import output

#: Failed items listed per block in the table (all of them are in -o json).
SHOWN_FAILED = 20
_FAILED = ("Failed", "Cancelled")


@dataclass(frozen=True)
class FanOutStory:
    """One forEach block's items."""

    block: str
    count: int
    """Items the block had (from the archive: the items that started an attempt)."""
    counts: dict[str, int]
    """Items by the phase of their latest attempt."""
    failed: list[ItemAttemptRecord]
    """The latest attempt of each item that failed or was cancelled, by item."""
    attempts: list[ItemAttemptRecord]
    """Every item attempt known, by (item, attempt)."""


def from_status(run_uid: str, blocks: Mapping[str, Mapping[str, Any]]) -> dict[str, FanOutStory]:
    """The forEach blocks of a live run's status."""
    stories = {}
    for name, state in blocks.items():
        items = state.get("items")
        if not isinstance(items, Mapping):
            continue
        rows = list(status_item_attempts(run_uid, name, items))
        stories[name] = FanOutStory(
            block=name,
            count=int(items.get("count") or 0),
            counts={str(k): int(v) for k, v in (items.get("counts") or {}).items()},
            failed=[r for r in rows if r.phase in _FAILED],
            attempts=rows,
        )
    return stories


def from_rows(rows: Iterable[ItemAttemptRecord]) -> dict[str, FanOutStory]:
    """The forEach blocks of an archived run, from its item attempts."""
    by_block: dict[str, list[ItemAttemptRecord]] = {}
    for row in sorted(rows, key=lambda r: (r.block, r.item, r.attempt)):
        by_block.setdefault(row.block, []).append(row)
    stories = {}
    for name, attempts in by_block.items():
        latest = {row.item: row for row in attempts}  # sorted: the last is the latest
        counts: dict[str, int] = {}
        for row in latest.values():
            counts[row.phase] = counts.get(row.phase, 0) + 1
        stories[name] = FanOutStory(
            block=name,
            count=len(latest),
            counts=dict(sorted(counts.items())),
            failed=[r for r in latest.values() if r.phase in _FAILED],
            attempts=attempts,
        )
    return stories


def summary(story: FanOutStory) -> str:
    """`6 items: 4 succeeded, 1 failed, 1 cancelled`."""
    parts = [f"{n} {phase.lower()}" for phase, n in story.counts.items() if n]
    return f"{story.count} items: {', '.join(parts) or 'none'}"


def table(stories: Mapping[str, FanOutStory]) -> Table:
    """Per forEach block its counts, then its failed items (the first SHOWN_FAILED)."""
    grid = Table(
        box=None,
        show_edge=False,
        pad_edge=False,
        header_style="bold",
        title="Fan-out items",
        title_justify="left",
    )
    for column in ("BLOCK", "ITEM", "ATTEMPT", "PHASE", "EXIT", "REASON", "MESSAGE"):
        grid.add_column(column, no_wrap=column != "MESSAGE", overflow="fold")
    for name, story in stories.items():
        grid.add_row(Text(name, style="bold"), "", "", "", "", "", summary(story))
        for row in story.failed[:SHOWN_FAILED]:
            grid.add_row(
                "",
                str(row.item),
                f"#{row.attempt}",
                output.phase_text(row.phase),
                "" if row.exit_code is None else str(row.exit_code),
                row.reason,
                row.message.strip().splitlines()[-1] if row.message.strip() else "",
            )
        more = len(story.failed) - SHOWN_FAILED
        if more > 0:
            grid.add_row("", "", "", "", "", "", f"... {more} more failed (-o json lists all)")
    return grid
