"""`watch [RUN | -l SEL]`: the live table of the demo, until the runs finish.

One run: its blocks as `runwright run` shows them (cli/progress.py's table). A
selection: the runs table. The runs come from a Kubernetes watch (follow.py: a list,
then every change from its resourceVersion), so each phase a run goes through is
seen once, in order, as soon as the server has it; nothing is read again on a timer.
On a terminal the table is redrawn in place on every change, and every `--interval`
seconds (default 1) so running durations tick; in a pipe a line is printed per
phase change. Exit status: 0 when every run Succeeded, 1 when one Failed, 3 when one
was Cancelled (the local `runwright run` statuses).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from rich.console import RenderableType
from rich.live import Live

from runwright.cli import exits
from runwright.cli.plugin import errors, follow, output
from runwright.cli.plugin.client import Cluster
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.follow import Change
from runwright.cli.plugin.listing import selection_of
from runwright.cli.plugin.rows import RunRow, from_body
from runwright.cli.plugin.selection import Selection


def status_of(rows: list[RunRow]) -> int:
    """The exit status of finished runs: cancelled over failed over succeeded."""
    phases = {row.phase for row in rows}
    if "Cancelled" in phases:
        return exits.CANCELLED
    if "Failed" in phases:
        return exits.FAILED
    return exits.SUCCEEDED


def single_view(body: dict[str, Any], now: datetime) -> RenderableType:
    """One run's block table (the local run's view); the runs table if the body is newer
    than this plugin's models."""
    from pydantic import ValidationError

    from runwright.api.run import PipelineRun
    from runwright.cli.progress import run_table

    try:
        return run_table(PipelineRun.model_validate(body), now)
    except ValidationError:
        return output.table([from_body(body)], now, wide=False, namespaces=False)


async def _ticking(
    changes: AsyncIterator[Change], interval: float | None
) -> AsyncIterator[Change | None]:
    """The changes, and None every `interval` seconds without one (a redraw); the watch
    is read by a task of its own, so a tick never interrupts it."""
    queue: asyncio.Queue[Change | BaseException | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for change in changes:
                await queue.put(change)
        except BaseException as exc:  # handed to the reader below, re-raised there
            await queue.put(exc)
            raise
        await queue.put(None)

    reader = asyncio.create_task(read())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield None
                continue
            if isinstance(item, BaseException):
                raise item
            if item is None:
                return
            yield item
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader


def _apply(
    runs: dict[tuple[str, str], dict[str, Any]], change: Change, run: str | None, ns: str
) -> None:
    """The runs after `change`; the one watched run gone is an error naming it."""
    if change.relisted:
        runs.clear()
    for body in change.runs:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        if change.deleted:
            runs.pop(key, None)
        else:
            runs[key] = body
    if run is not None and not runs:
        gone = "was deleted" if change.deleted else "not found"
        raise PluginError(f"pipelinerun {ns}/{run} {gone}", errors.NOT_FOUND)


def _rows(runs: dict[tuple[str, str], dict[str, Any]], selection: Selection) -> list[RunRow]:
    rows = [from_body(body) for _, body in sorted(runs.items())]
    return [row for row in rows if selection.matches(row)]


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """Follow the runs until every watched one is finished."""
    now = datetime.now(UTC)
    selection = selection_of(args, now)
    if args.run is None and not (
        selection.label_selector() or selection.search or selection.triggered_by
    ):
        raise PluginError(
            "watch RUN, or select runs with -l, --phase, --pipeline, ...", errors.INVALID_INPUT
        )
    terminal = sys.stdout.isatty()
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    seen: dict[tuple[str, str], str] = {}
    if args.run:
        stream = follow.changes(cluster, None, name=args.run)
    else:
        selector, *unlabelled = selection.label_selectors()
        stream = follow.changes(cluster, selector, unlabelled=next(iter(unlabelled), None))
    live = Live(console=output.console(sys.stdout), auto_refresh=False) if terminal else None
    if live is not None:
        live.start()
    try:
        async for change in _ticking(stream, args.interval if terminal else None):
            if change is not None:
                _apply(runs, change, args.run, cluster.namespace)
            now = datetime.now(UTC)
            rows = [from_body(b) for b in runs.values()] if args.run else _rows(runs, selection)
            if live is not None:
                view = (
                    single_view(next(iter(runs.values())), now)
                    if args.run
                    else output.table(rows, now, wide=False, namespaces=cluster.all_namespaces)
                )
                live.update(view, refresh=True)
            else:
                for row in rows:
                    if seen.get(row.key) != row.phase:
                        seen[row.key] = row.phase
                        stamp = now.strftime("%H:%M:%S")
                        print(
                            f"{stamp} {row.namespace}/{row.name} {row.phase} {row.progress}".rstrip(),
                            flush=True,
                        )
            if rows and all(row.finished for row in rows):
                return status_of(rows)
        raise PluginError(f"watch pipelineruns in {cluster.where}: ended", errors.FAILED)
    finally:
        if live is not None:
            live.stop()
