"""`export [filters as list] -o csv|json [--file F]`: the seed's runs table, archive included.

Every matching run of the cluster and (with an archive configured) every matching
archived run, read in keyset pages, newest started first; a run in both is written
once, from the cluster. CSV columns: id, pipeline, phase, reason, started,
completed, duration, items processed, cost, tokens, triggered by, error message.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from runwright.archive import RunFilter, list_runs
from runwright.cli.plugin import archived, output
from runwright.cli.plugin.client import Cluster
from runwright.cli.plugin.listing import cluster_rows, selection_of
from runwright.cli.plugin.rows import RunRow, from_archived
from runwright.cli.plugin.selection import Selection, SortBy, sort_rows


async def archived_rows(
    engine: AsyncEngine, where: RunFilter, selection: Selection
) -> AsyncIterator[RunRow]:
    """Every archived run matching, page after page (keyset)."""
    cursor: str | None = None
    try:
        while True:
            page = await list_runs(engine, where, limit=500, cursor=cursor)
            for run in page.runs:
                row = from_archived(run)
                if selection.matches(row):
                    yield row
            if page.next_cursor is None:
                return
            cursor = page.next_cursor
    except SQLAlchemyError as exc:
        raise archived.unreachable(exc) from None


async def rows_to_export(
    cluster: Cluster, selection: Selection, engine: AsyncEngine | None
) -> list[RunRow]:
    """Cluster rows, then archived rows not in the cluster, newest started first."""
    rows = await cluster_rows(cluster, selection)
    if engine is not None:
        seen = {row.uid for row in rows}
        where = selection.archive_filter(cluster.namespaces)
        rows += [
            row async for row in archived_rows(engine, where, selection) if row.uid not in seen
        ]
    return sort_rows(rows, SortBy.STARTED)


def write(rows: list[RunRow], fmt: str, stream: TextIO) -> None:
    """CSV (the seed's columns) or a JSON array of rows."""
    if fmt == "csv":
        output.write_csv(rows, stream)
    else:
        json.dump([output.row_dict(r) for r in rows], stream, indent=2)
        stream.write("\n")


def _text(rows: list[RunRow], fmt: str) -> str:
    buffer = io.StringIO()
    write(rows, fmt, buffer)
    return buffer.getvalue()


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """Write the rows to --file (or stdout); the count goes to stderr."""
    selection = selection_of(args, datetime.now(UTC))
    engine = archived.open_engine(args.archive, required=False)
    try:
        rows = await rows_to_export(cluster, selection, engine)
    finally:
        if engine is not None:
            await engine.dispose()
    if args.file:
        await asyncio.to_thread(
            Path(args.file).write_text, _text(rows, args.output), encoding="utf-8"
        )
        print(f"{len(rows)} runs written to {args.file}", file=sys.stderr)
    else:
        write(rows, args.output, sys.stdout)
    return 0
