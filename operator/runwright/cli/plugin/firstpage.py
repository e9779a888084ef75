"""The first page of `list` without reading every run in full: the server's Table, then a few GETs.

The API server cannot sort, so the newest 50 of 10,000 runs need something of all
10,000; a full list is ~3 KB a run (the frozen spec, managedFields) and ~24 MB to
parse. The server's Table rendering of the same list (`as=Table`, no objects) is
~130 bytes a run: the name and the CRD's printer columns (phase, pipeline, and the
start time rendered as an age, e.g. `5m44s`, `6d22h`). The age is coarse but it is
a bound: `5m44s` means 344 <= age < 345 seconds, `6d22h` a whole hour. So the rows
are taken best bound first and fetched in full (GET, a few at a time) until the
page is certain: `limit` fetched rows pass every filter and no row left unfetched
can beat them (its best bound is past the page's worst). Filters the Table cannot
check (`--by`, `--search`, block names) are checked on the fetched rows; when too
many fetches would be needed (filters that match few runs, or every run started in
the same hour), None: the caller reads the full list instead.

Sorts it serves: started (the default, either direction), and the exact keys:
phase, pipeline, and duration, items and cost (the CRD's `-o wide`-only printer
columns `Duration Seconds`, `Items`, `Cost`: priority 1, so `kubectl get` hides them
but the Table still carries them). Exact keys are ranked as `sort_rows` ranks them
(a run without the value last); only the page's runs and a few past it are fetched.
A Table without the sort's column (a cluster whose CRD predates it): full list.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runwright.cli.plugin.kubeapi import TABLE
from runwright.cli.plugin.rows import RunRow, from_body
from runwright.cli.plugin.selection import Selection, SortBy, is_descending, sort_rows

if TYPE_CHECKING:
    from runwright.cli.plugin.client import Cluster

#: The Table column of each exact sort key (crds: the PipelineRun's printer columns).
EXACT_COLUMNS = {
    SortBy.PHASE: "Phase",
    SortBy.PIPELINE: "Pipeline",
    SortBy.DURATION: "Duration Seconds",
    SortBy.ITEMS: "Items",
    SortBy.COST: "Cost",
}
#: Sorts the Table can order by.
SERVED = frozenset({SortBy.STARTED, *EXACT_COLUMNS})
#: GETs in flight at once (each one more connection: a TLS handshake's CPU).
CONCURRENCY = 8
#: Table rows per request: ~130 bytes each, so 10,000 are one answer of ~1.3 MB. Fewer
#: pages matter: on the bundled control plane every `continue` page of 10,000 runs cost
#: about a second more (25-48 s in pages of 500-2000 against 0.5-0.8 s in one, measured
#: under load 13-15).
TABLE_PAGE = 10_000
#: Give up (the caller lists in full) past this many GETs: about what a full list costs.
MAX_FETCHES = 400

#: Kubernetes' HumanDuration: up to two units, largest first (`3y45d`, `6d22h`, `5m44s`).
_AGE = re.compile(r"(?:(\d+)y)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (365 * 86400, 86400, 3600, 60, 1)


def age_bounds(text: str | None) -> tuple[float, float] | None:
    """The age a Table cell says, as [low, high) seconds (Kubernetes' HumanDuration:
    the smallest unit shown is the precision); None for an empty cell or `<unknown>`.
    `<invalid>` (a time in the future) is before everything."""
    if not text or text == "<unknown>":
        return None
    if text == "<invalid>":
        return (-math.inf, 0.0)
    found = _AGE.fullmatch(text)
    if found is None:
        return None
    low, unit = 0, 0
    for value, seconds in zip(found.groups(), _UNITS, strict=True):
        if value is not None:
            low, unit = low + int(value) * seconds, seconds
    return (float(low), float(low + unit))


@dataclass
class Candidate:
    """A Table row: where the run is, and bounds of its sort key (smaller comes first)."""

    namespace: str
    name: str
    low: float
    high: float


def _columns(table: dict[str, Any]) -> dict[str, int]:
    return {str(c.get("name")): i for i, c in enumerate(table.get("columnDefinitions") or [])}


def _cell(cells: list[Any], index: int | None) -> Any:
    return cells[index] if index is not None and index < len(cells) else None


def _table_matches(selection: Selection, name: str, phase: str, pipeline: str) -> bool:
    """The filters the Table answers exactly (the rest are checked after the GET)."""
    if selection.names and name not in selection.names:
        return False
    if selection.phases and phase not in selection.phases:
        return False
    return not (selection.pipeline and pipeline != selection.pipeline)


def _exact_key(sort: SortBy, value: Any) -> Any:
    """A Table cell as `sort_rows` would see the run's value (None: the run has none).
    Phase and pipeline are never absent (from_body: `Pending`, `""`); the numbers are
    None when the status has no number there (the server renders a non-number as null)."""
    if sort == SortBy.PHASE:
        return str(value or "Pending")
    if sort == SortBy.PIPELINE:
        return str(value or "")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if sort == SortBy.DURATION else float(value)


def _ranked(raw: list[tuple[str, str, Any]], sort: SortBy, reverse: bool) -> list[Candidate]:
    """Exact keys in `sort_rows`' order: (value, namespace, name), its direction; runs
    without the value last by (namespace, name). The rank is each one's bound."""
    present = [r for r in raw if r[2] is not None]
    absent = [r for r in raw if r[2] is None]
    present.sort(key=lambda r: (r[2], r[0], r[1]), reverse=is_descending(sort, reverse))
    absent.sort(key=lambda r: (r[0], r[1]))
    return [Candidate(r[0], r[1], float(i), float(i)) for i, r in enumerate(present + absent)]


async def _candidates(
    cluster: Cluster, selection: Selection, sort: SortBy, reverse: bool
) -> list[Candidate] | None:
    """Every run in scope the Table does not rule out, best bound first (see `rank`)."""
    include = "Metadata" if cluster.all_namespaces else "None"
    began = time.monotonic()
    tables = [
        table
        for selector in selection.label_selectors()
        async for table in cluster.pages(
            selector, accept=TABLE, params={"includeObject": include}, page=TABLE_PAGE
        )
    ]
    # Pages are rendered at different instants: an age read later is up to `skew` older.
    skew = time.monotonic() - began + 1.0
    return rank(tables, selection, sort, reverse, namespace=cluster.namespace, skew=skew)


def rank(
    tables: Iterable[dict[str, Any]],
    selection: Selection,
    sort: SortBy,
    reverse: bool,
    *,
    namespace: str,
    skew: float = 1.0,
) -> list[Candidate] | None:
    """The rows of the API server's Table answers that pass the filters the Table can
    check, best bound first; None when the Table cannot order them (not a Table, no
    column for the sort, an age it cannot bound). `namespace`: the rows' namespace when
    the answer has no object metadata (one namespace listed)."""
    raw: list[tuple[str, str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for table in tables:
        if table.get("kind") != "Table":
            return None  # a server without Table rendering
        index = _columns(table)
        if sort in EXACT_COLUMNS and EXACT_COLUMNS[sort] not in index:
            return None  # the cluster's CRD has no such column yet
        for row in table.get("rows") or []:
            cells = list(row.get("cells") or [])
            name = str(_cell(cells, index.get("Name")) or "")
            meta = (row.get("object") or {}).get("metadata") or {}
            phase = str(_cell(cells, index.get("Phase")) or "Pending")
            pipeline = str(_cell(cells, index.get("Pipeline")) or "")
            key_of = (str(meta.get("namespace") or namespace), name)
            if key_of in seen or not _table_matches(selection, name, phase, pipeline):
                continue  # in two answers (labelled between the lists), or filtered out
            seen.add(key_of)
            if sort == SortBy.STARTED:
                key = _cell(cells, index.get("Started")) or _cell(cells, index.get("Age"))
            else:
                key = _exact_key(sort, _cell(cells, index.get(EXACT_COLUMNS[sort])))
            raw.append((*key_of, key))
    if sort != SortBy.STARTED:
        return _ranked(raw, sort, reverse)
    found = []
    for ns, name, key in raw:
        bounds = age_bounds(key)
        if bounds is None:
            return None  # no start or creation time the Table can bound
        low, high = bounds[0] - skew, bounds[1]
        # Newest first is the smallest age first; --reverse, the largest first.
        found.append(Candidate(ns, name, *((-high, -low) if reverse else (low, high))))
    found.sort(key=lambda c: c.low)
    return found


@dataclass
class Page:
    """The first rows, and (namespace, name) of every run the Table did not rule out (a
    run the archive also has is in the cluster only if its name is here)."""

    rows: list[RunRow]
    names: set[tuple[str, str]]


async def first_page(
    cluster: Cluster, selection: Selection, sort: SortBy, reverse: bool, limit: int
) -> Page | None:
    """The first `limit` runs in `sort` order that pass `selection`, as a full list would
    give them; None when the Table cannot say it in few requests (list in full then)."""
    if sort not in SERVED or limit <= 0:
        return None
    candidates = await _candidates(cluster, selection, sort, reverse)
    if candidates is None:
        return None
    gate = asyncio.Semaphore(CONCURRENCY)

    async def fetch(c: Candidate) -> tuple[Candidate, dict[str, Any] | None]:
        async with gate:
            return c, await cluster.get_run(c.name, c.namespace)

    kept: list[tuple[Candidate, RunRow]] = []
    position, fetched = 0, 0
    while position < len(candidates):
        page = _page(kept, limit, sort, reverse)
        if len(page) >= limit and candidates[position].low >= max(c.high for c, _ in page):
            break  # no unfetched run can come before the page's last
        want = max(limit - len(page), 1) + CONCURRENCY
        batch = candidates[position : position + want]
        position += len(batch)
        fetched += len(batch)
        if fetched > max(MAX_FETCHES, 2 * limit):
            return None
        for c, body in await asyncio.gather(*(fetch(c) for c in batch)):
            if body is None:
                continue  # deleted since the Table was read
            row = from_body(body)
            if selection.matches(row):
                kept.append((c, row))
    rows = [row for _, row in _page(kept, limit, sort, reverse)]
    return Page(rows, {(c.namespace, c.name) for c in candidates})


def _page(
    kept: Iterable[tuple[Candidate, RunRow]], limit: int, sort: SortBy, reverse: bool
) -> list[tuple[Candidate, RunRow]]:
    """The first `limit` fetched rows in the exact order, each with its Table bounds."""
    by_row = {id(row): (c, row) for c, row in kept}
    ordered = sort_rows((row for _, row in by_row.values()), sort, reverse)
    return [by_row[id(row)] for row in ordered[:limit]]
