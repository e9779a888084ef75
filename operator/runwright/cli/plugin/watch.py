"""`watch [RUN | -l SEL]`: the live table of the demo, until the runs finish.

One run: its blocks as `runwright run` shows them (cli/progress.py's table). A
selection: the runs table. On a terminal the table is redrawn in place; in a pipe
a line is printed per phase change. The cluster is read again every `--interval`
seconds (default 2). Exit status: 0 when every run Succeeded, 1 when one Failed,
3 when one was Cancelled (the local `runwright run` statuses).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from rich.console import RenderableType
from rich.live import Live

from runwright.api.run import PipelineRun
from runwright.cli import exits
from runwright.cli.plugin import errors, output
from runwright.cli.plugin.client import Cluster
from runwright.cli.plugin.errors import PluginError
from runwright.cli.plugin.listing import cluster_rows, selection_of
from runwright.cli.plugin.rows import RunRow, from_body
from runwright.cli.progress import run_table


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
    try:
        return run_table(PipelineRun.model_validate(body), now)
    except ValidationError:
        return output.table([from_body(body)], now, wide=False, namespaces=False)


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """Redraw until every watched run is finished."""
    now = datetime.now(UTC)
    selection = selection_of(args, now)
    if args.run is None and not (
        selection.label_selector() or selection.search or selection.triggered_by
    ):
        raise PluginError(
            "watch RUN, or select runs with -l, --phase, --pipeline, ...", errors.INVALID_INPUT
        )
    terminal = sys.stdout.isatty()
    seen: dict[tuple[str, str], str] = {}
    live = Live(console=output.console(sys.stdout), auto_refresh=False) if terminal else None
    if live is not None:
        live.start()
    try:
        while True:
            now = datetime.now(UTC)
            if args.run is not None:
                body = await cluster.get_run(args.run)
                if body is None:
                    raise PluginError(
                        f"pipelinerun {cluster.namespace}/{args.run} not found", errors.NOT_FOUND
                    )
                rows = [from_body(body)]
                view = single_view(body, now)
            else:
                rows = await cluster_rows(cluster, selection)
                view = output.table(rows, now, wide=False, namespaces=cluster.all_namespaces)
            if live is not None:
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
            await asyncio.sleep(args.interval)  # a CLI refresh period, not a test wait
    finally:
        if live is not None:
            live.stop()
