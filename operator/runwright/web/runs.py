"""PURE: the runs list as rows, and the filter, sort and page the web view applies to them.

A PipelineRun body (live) or an archive record becomes a `RunRow` with the
seed's columns plus duration, cost and tokens. `RunQuery` is what the list's
URL asks for; `select` filters, sorts (every column; the key, then uid, with
missing values last in either direction, as the archive sorts) and pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from runwright import labels

PHASES = ("Pending", "Queued", "Running", "Succeeded", "Failed", "Cancelled")
#: The list's columns, in the order the table shows them; every one sorts.
COLUMNS = (
    "name",
    "namespace",
    "pipeline",
    "phase",
    "reason",
    "trigger",
    "triggeredBy",
    "started",
    "completed",
    "duration",
    "itemsProcessed",
    "cost",
    "tokens",
    "message",
)
#: Last hour / 24 h / 7 d / 30 d: the time-range presets on startedAt.
RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7)}
RANGES["30d"] = timedelta(days=30)
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


@dataclass(frozen=True)
class RunRow:
    """One run as the list shows it (JSON field names are the table's column keys)."""

    uid: str
    namespace: str
    name: str
    pipeline: str
    phase: str
    reason: str = ""
    trigger: str = ""
    triggeredBy: str = ""
    started: str | None = None
    completed: str | None = None
    duration: int | None = None
    progress: str = ""
    itemsProcessed: float | None = None
    cost: float | None = None
    tokens: float | None = None
    message: str = ""
    #: The message of a run that failed or was cancelled (the seed's "error message").
    error: str = ""
    blocks: str = ""
    archived: bool = False

    def json(self) -> dict[str, Any]:
        """The row as the browser gets it."""
        return asdict(self)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def row_of(body: Mapping[str, Any]) -> RunRow:
    """The row of a live PipelineRun body."""
    meta = body.get("metadata", {})
    spec = body.get("spec", {})
    status = body.get("status") or {}
    metrics = status.get("metrics") or {}
    run_labels = meta.get("labels") or {}
    return RunRow(
        uid=str(meta.get("uid", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        pipeline=str((spec.get("pipelineRef") or {}).get("name", "")),
        phase=str(status.get("phase") or "Pending"),
        reason=str(status.get("reason") or ""),
        trigger=str(
            (spec.get("triggerRef") or {}).get("name") or run_labels.get(labels.TRIGGER, "")
        ),
        triggeredBy=str(spec.get("triggeredBy") or "Manual"),
        started=status.get("startedAt"),
        completed=status.get("completedAt"),
        duration=status.get("durationSeconds"),
        progress=str(status.get("progress") or ""),
        itemsProcessed=_number(metrics.get("itemsProcessed")),
        cost=_number(metrics.get("cost")),
        tokens=_number(metrics.get("tokens")),
        message=str(status.get("message") or ""),
        error=_error(status.get("phase"), status.get("message")),
        blocks=" ".join(sorted((status.get("blocks") or {}).keys())),
    )


def _error(phase: Any, message: Any) -> str:
    return str(message or "") if phase in ("Failed", "Cancelled") else ""


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def row_of_archived(run: Any) -> RunRow:
    """The row of an archive record (`runwright.archive.ArchivedRun`), marked archived."""
    return RunRow(
        uid=run.uid,
        namespace=run.namespace,
        name=run.name,
        pipeline=run.pipeline,
        phase=run.phase,
        reason=run.reason,
        trigger=run.trigger or "",
        triggeredBy=run.triggered_by,
        started=_iso(run.started_at),
        completed=_iso(run.completed_at),
        duration=run.duration_seconds,
        itemsProcessed=run.items_processed,
        cost=run.cost,
        tokens=run.tokens,
        message=run.message,
        error=_error(run.phase, run.message),
        blocks=run.block_names,
        archived=True,
    )


@dataclass(frozen=True)
class RunQuery:
    """What the runs list asks for (the URL's query parameters)."""

    phases: tuple[str, ...] = ()
    pipeline: str = ""
    trigger: str = ""
    triggered_by: str = ""
    namespace: str = ""
    since: datetime | None = None
    until: datetime | None = None
    text: str = ""
    sort: str = "started"
    descending: bool = True
    limit: int = DEFAULT_LIMIT
    cursor: str | None = None
    archived: bool = True


class QueryError(ValueError):
    """A query parameter the list cannot use; the message names it and the fix."""


def _time(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise QueryError(
            f"{name}={text!r}: not a time; use RFC 3339, e.g. 2026-11-30T12:00:00Z"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_query(params: Mapping[str, str], now: datetime) -> RunQuery:
    """A `RunQuery` from URL parameters; a bad value raises QueryError naming it."""
    phases = tuple(p for p in params.get("phase", "").split(",") if p)
    for phase in phases:
        if phase not in PHASES:
            raise QueryError(f"phase={phase!r}: not a phase; use one of {', '.join(PHASES)}")
    sort = params.get("sort", "started")
    if sort not in COLUMNS:
        raise QueryError(f"sort={sort!r}: not a column; use one of {', '.join(COLUMNS)}")
    since = until = None
    preset = params.get("range", "")
    if preset:
        if preset not in RANGES:
            raise QueryError(f"range={preset!r}: use one of {', '.join(RANGES)}, or since/until")
        since = now - RANGES[preset]
    if params.get("since"):
        since = _time("since", params["since"])
    if params.get("until"):
        until = _time("until", params["until"])
    try:
        limit = max(1, min(int(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT))
    except ValueError:
        raise QueryError(f"limit={params.get('limit')!r}: not a number") from None
    return RunQuery(
        phases=phases,
        pipeline=params.get("pipeline", "").strip(),
        trigger=params.get("trigger", "").strip(),
        triggered_by=params.get("triggeredBy", "").strip(),
        namespace=params.get("namespace", "").strip(),
        since=since,
        until=until,
        text=params.get("q", "").strip(),
        sort=sort,
        descending=params.get("order", "desc") != "asc",
        limit=limit,
        cursor=params.get("cursor") or None,
        archived=params.get("archived", "1") != "0",
    )


def matches(row: RunRow, query: RunQuery, *, phases: bool = True) -> bool:
    """True when `row` passes every filter of `query` (the phase filter only if `phases`)."""
    if phases and query.phases and row.phase not in query.phases:
        return False
    if query.pipeline and row.pipeline != query.pipeline:
        return False
    if query.trigger and row.trigger != query.trigger:
        return False
    if query.triggered_by and row.triggeredBy != query.triggered_by:
        return False
    if query.namespace and row.namespace != query.namespace:
        return False
    if query.since or query.until:
        if row.started is None:
            return False
        started = _time("started", row.started)
        if query.since and started < query.since:
            return False
        if query.until and started >= query.until:
            return False
    if query.text:
        needle = query.text.lower()
        haystack = (row.name, row.message, row.blocks, row.pipeline)
        if not any(needle in part.lower() for part in haystack):
            return False
    return True


def sort_key(row: RunRow, column: str) -> Any:
    """The comparable value of `column` for `row` (None: the row lacks it)."""
    return getattr(row, column)


def _order(rows: Iterable[RunRow], column: str, descending: bool) -> list[RunRow]:
    keyed = [r for r in rows if sort_key(r, column) is not None]
    unkeyed = [r for r in rows if sort_key(r, column) is None]
    keyed.sort(key=lambda r: (sort_key(r, column), r.uid), reverse=descending)
    unkeyed.sort(key=lambda r: r.uid, reverse=descending)
    return keyed + unkeyed


def after(row: RunRow, column: str, descending: bool, mark: tuple[Any, str]) -> bool:
    """True when `row` comes after the page mark (value, uid) in this order."""
    value, uid = sort_key(row, column), row.uid
    mark_value, mark_uid = mark
    if mark_value is None:
        if value is not None:
            return False
        return uid < mark_uid if descending else uid > mark_uid
    if value is None:
        return True
    return (
        (value, uid) < (mark_value, mark_uid)
        if descending
        else (value, uid) > (mark_value, mark_uid)
    )


def encode_cursor(payload: Mapping[str, Any]) -> str:
    """An opaque page cursor."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> dict[str, Any]:
    """The payload of a page cursor; a foreign one raises QueryError."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        payload = json.loads(raw)
    except (ValueError, binascii.Error):
        raise QueryError(f"cursor={text!r}: not a cursor of this list; start from page 1") from None
    if not isinstance(payload, dict):
        raise QueryError(f"cursor={text!r}: not a cursor of this list; start from page 1")
    return payload


@dataclass(frozen=True)
class RunsPage:
    """One page of rows, the next page's cursor, and the counts by phase of every match."""

    rows: list[RunRow]
    next_cursor: str | None
    counts: dict[str, int]
    total: int


def select(rows: Sequence[RunRow], query: RunQuery) -> RunsPage:
    """Filter, count, sort and page live rows (keyset: the cursor is the last row's key)."""
    unphased = [r for r in rows if matches(r, query, phases=False)]
    counts = dict(Counter(r.phase for r in unphased))
    chosen = [r for r in unphased if not query.phases or r.phase in query.phases]
    ordered = _order(chosen, query.sort, query.descending)
    if query.cursor:
        payload = decode_cursor(query.cursor)
        mark = (payload.get("v"), str(payload.get("u", "")))
        ordered = [r for r in ordered if after(r, query.sort, query.descending, mark)]
    page = ordered[: query.limit]
    next_cursor = None
    if len(ordered) > query.limit:
        last = page[-1]
        next_cursor = encode_cursor({"v": sort_key(last, query.sort), "u": last.uid})
    return RunsPage(rows=page, next_cursor=next_cursor, counts=counts, total=len(chosen))
