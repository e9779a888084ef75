"""`list` (alias `ls`): the runs in scope, filtered and sorted, from the cluster and the archive.

Phase, pipeline, trigger and `-l` go to the API server as a label selector, so it
drops what does not match. The first `--limit` rows, in any sort, come from the
server's Table rendering and a GET of each row shown (firstpage.py: ~130 bytes a
run instead of ~3 KB); `--limit 0`, filters that match few runs, and a CRD without
the sort's printer column read every run in full, a page at a time
(limit/continue): about 0.1 ms of CPU a run plus the transfer. The archive (with
`--archived`, opened in a thread meanwhile) gives its first keyset page in the same
order and counts by phase capped at COUNT_CAP. The first `--limit` rows of the two
merged are the first `--limit` of all, so nothing past the first page of the
archive is ever read. A run in both is shown from the cluster; a run only the
archive has is marked `(archived)`.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from runwright.cli.plugin import firstpage, output
from runwright.cli.plugin.rows import RunRow, from_archived, from_body
from runwright.cli.plugin.selection import (
    Selection,
    SortBy,
    archive_sort,
    merge,
    parse_point,
    sort_rows,
)

if TYPE_CHECKING:  # imported by the commands that use them: `--help` stays quick
    from sqlalchemy.ext.asyncio import AsyncEngine

    from runwright.cli.plugin.client import Cluster

#: Rows `list` shows unless `--limit` says otherwise.
DEFAULT_LIMIT = 100
#: The footer counts the archive's runs of each phase up to this many and shows more as
#: `10000+`: an exact count reads every matching run (~0.5 s over 1,000,000 in SQLite),
#: a capped one at most this many index entries a phase (~20 ms).
COUNT_CAP = 10_000


def add_filters(parser: argparse.ArgumentParser) -> None:
    """The filters `list`, `export`, `watch` and the bulk actions share."""
    parser.add_argument(
        "--phase",
        action="append",
        default=[],
        metavar="PHASE",
        help="only runs in this phase (repeatable)",
    )
    parser.add_argument("--pipeline", help="only runs of this Pipeline")
    parser.add_argument("--trigger", help="only runs made by this Trigger")
    parser.add_argument(
        "--by",
        metavar="TRIGGERED_BY",
        help="only runs triggered by: Manual, Schedule, Once, AlwaysOn, Event, API, Rerun",
    )
    parser.add_argument("--since", help="only runs started since: 24h, 7d or an RFC 3339 time")
    parser.add_argument("--until", help="only runs started before: 24h, 7d or an RFC 3339 time")
    parser.add_argument("-l", "--selector", help="label selector, e.g. runwright.dev/phase=Failed")
    parser.add_argument(
        "--search", metavar="TEXT", help="text in the run's name, message or block names (any case)"
    )


def selection_of(
    args: argparse.Namespace, now: datetime, names: list[str] | None = None
) -> Selection:
    """The filters given on the command line."""
    return Selection(
        phases=tuple(args.phase or ()),
        pipeline=args.pipeline,
        trigger=args.trigger,
        triggered_by=args.by,
        since=parse_point(args.since, "--since", now) if args.since else None,
        until=parse_point(args.until, "--until", now) if args.until else None,
        selector=args.selector,
        search=args.search,
        names=tuple(names or ()),
    )


@dataclass
class Listing:
    """Rows in order, and the archive's counts by phase (None without the archive), each
    counted up to `count_cap` (a count equal to it means "that many or more")."""

    rows: list[RunRow]
    archived_counts: dict[str, int] | None = None
    count_cap: int | None = None


async def cluster_rows(cluster: Cluster, selection: Selection) -> list[RunRow]:
    """Every run in scope that passes the filters, from the cluster (paginated)."""
    rows: dict[tuple[str, str], RunRow] = {}
    for selector in selection.label_selectors():
        async for page in cluster.run_pages(selector):
            for row in map(from_body, page):
                if selection.matches(row):
                    rows.setdefault(row.key, row)  # labelled between the two lists: once
    return list(rows.values())


async def collect(
    cluster: Cluster,
    selection: Selection,
    *,
    sort: SortBy = SortBy.STARTED,
    reverse: bool = False,
    limit: int | None = DEFAULT_LIMIT,
    engine: AsyncEngine | Awaitable[AsyncEngine | None] | None = None,
) -> Listing:
    """The runs to show: the cluster's, plus the archive's first page when `engine` is given
    (read at the same time as the cluster: neither waits for the other). `engine` may be
    still opening (`open_in_background`): the cluster's answer is awaited meanwhile."""

    async def from_cluster() -> tuple[list[RunRow], firstpage.Page | None]:
        first = None
        if limit is not None:
            first = await firstpage.first_page(cluster, selection, sort, reverse, limit)
        return (first.rows if first is not None else await cluster_rows(cluster, selection)), first

    async def from_archive() -> tuple[list[RunRow], dict[str, int] | None]:
        opened = await engine if inspect.isawaitable(engine) else engine
        if opened is None:
            return [], None
        from runwright.cli.plugin import archived

        where = selection.archive_filter(cluster.namespaces)
        page_size = limit if limit is not None else 500
        page, counts = await archived.first_page(
            opened, where, archive_sort(sort, reverse), page_size, count_cap=COUNT_CAP
        )
        return [r for r in map(from_archived, page) if selection.matches(r)], counts

    (rows, first), (archived_rows, counts) = await asyncio.gather(from_cluster(), from_archive())
    ordered = sort_rows(merge(rows, archived_rows), sort, reverse)
    if first is not None and archived_rows:
        ordered = await _without_cluster_copies(cluster, selection, ordered, first.names, limit)
    cap = None if counts is None else COUNT_CAP
    return Listing(ordered if limit is None else ordered[:limit], counts, cap)


async def _without_cluster_copies(
    cluster: Cluster,
    selection: Selection,
    ordered: list[RunRow],
    names: set[tuple[str, str]],
    limit: int | None,
) -> list[RunRow]:
    """`merge` keeps an archived row unless the cluster's rows have its uid; from the Table
    only the first page's rows are known in full. An archived row that would be shown and
    whose name the Table listed is checked with a GET: the same run (uid) that passes the
    filters in the cluster is shown from the cluster (at its own place), so it goes."""
    kept: list[RunRow] = []
    for row in ordered:
        if limit is not None and len(kept) >= limit:
            break
        if row.archived and row.key in names:
            body = await cluster.get_run(row.name, row.namespace)
            if body is not None:
                live = from_body(body)
                if live.uid == row.uid and selection.matches(live):
                    continue
        kept.append(row)
    return kept


def open_in_background(flag: str | None) -> asyncio.Task[AsyncEngine | None]:
    """The archive's engine, opened in a thread: its imports (SQLAlchemy, the archive's
    models: ~0.3 s of CPU) run while the API server renders the cluster's Table, so the
    first page waits for the slower of the two, not for both."""

    def opening() -> AsyncEngine | None:
        from runwright.cli.plugin import archived

        return archived.open_engine(flag, required=True)

    return asyncio.create_task(asyncio.to_thread(opening))


async def run(args: argparse.Namespace, cluster: Cluster) -> int:
    """`list`: print the runs; the exit status is 0 even when none match (like kubectl)."""
    now = datetime.now(UTC)
    opening = open_in_background(args.archive) if args.archived else None
    try:
        listing = await collect(
            cluster,
            selection_of(args, now),
            sort=SortBy(args.sort),
            reverse=args.reverse,
            limit=args.limit or None,
            engine=opening,
        )
    finally:
        if opening is not None:
            await asyncio.wait([opening])  # a failure to open is collect's to raise
            if not opening.cancelled() and opening.exception() is None:
                engine = opening.result()
                if engine is not None:
                    await engine.dispose()
    output.print_rows(
        listing.rows,
        output.Format(args.output),
        sys.stdout,
        namespaces=cluster.all_namespaces,
        archived_counts=listing.archived_counts,
        count_cap=listing.count_cap,
        now=now,
    )
    return 0
