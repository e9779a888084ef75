"""Which runs a command acts on, and in what order (PURE: no I/O, `now` passed in).

One `Selection` serves `list`, `export`, `watch` and the bulk actions: the filters a
user gives become a label selector for the API server (phase, pipeline and trigger
are labels on every run once the operator has written its status, so the server does
that part; runs not labelled yet are listed apart), the rest is checked per row, and
the same filters become the archive's `RunFilter`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from runwright import labels
from runwright.cli.exits import InputError
from runwright.cli.plugin.rows import RunRow

if TYPE_CHECKING:  # the archive is imported only when it is used
    from runwright.archive import RunFilter, Sort

_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str, flag: str) -> timedelta:
    """`30s`, `90m`, `24h`, `7d`, `2w` as a timedelta; anything else is an InputError."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise InputError(f"{flag} {text!r}: write a duration like 30m, 24h or 7d")
    return timedelta(seconds=int(found[1]) * _UNIT_SECONDS[found[2]])


def parse_point(text: str, flag: str, now: datetime) -> datetime:
    """A point in time: a duration ago (`24h`) or an RFC 3339 time (`2026-11-30T00:00:00Z`)."""
    if _DURATION.match(text.strip()):
        return now - parse_age(text, flag)
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{flag} {text!r}: write a duration ago (24h, 7d) or an RFC 3339 time "
            "(2026-11-30T00:00:00Z)"
        ) from None
    if value.tzinfo is None:
        raise InputError(f"{flag} {text!r}: the time needs a zone, e.g. 2026-11-30T00:00:00Z")
    return value


class SortBy(StrEnum):
    """The sorts of `list --sort`; each has the direction a reader expects first."""

    STARTED = "started"
    DURATION = "duration"
    PHASE = "phase"
    ITEMS = "items"
    COST = "cost"
    PIPELINE = "pipeline"


#: Biggest first for the measures, alphabetical for the names (newest first for time).
_DESCENDING = {SortBy.STARTED, SortBy.DURATION, SortBy.ITEMS, SortBy.COST}
#: The archive's SortKey values (runwright.archive.SortKey) of each sort.
_ARCHIVE_SORT = {
    SortBy.STARTED: "started",
    SortBy.DURATION: "duration",
    SortBy.PHASE: "phase",
    SortBy.ITEMS: "itemsProcessed",
    SortBy.COST: "cost",
}


@dataclass(frozen=True)
class Selection:
    """Filters over runs; every one given must hold. Empty means no condition."""

    phases: Sequence[str] = ()
    pipeline: str | None = None
    trigger: str | None = None
    triggered_by: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    selector: str | None = None
    search: str | None = None
    names: Sequence[str] = field(default_factory=tuple)

    def label_selector(self) -> str | None:
        """The part of the filters the API server can apply (labels on every run)."""
        parts = [self.selector] if self.selector else []
        if len(self.phases) == 1:
            parts.append(f"{labels.PHASE}={self.phases[0]}")
        elif self.phases:
            parts.append(f"{labels.PHASE} in ({','.join(self.phases)})")
        if self.pipeline:
            parts.append(f"{labels.PIPELINE}={self.pipeline}")
        if self.trigger:
            parts.append(f"{labels.TRIGGER}={self.trigger}")
        return ",".join(parts) or None

    def label_selectors(self) -> list[str | None]:
        """Every list the server is asked for: `label_selector()`'s, and, when that uses our
        own labels, the runs without a phase label yet (checked here by `matches`).

        The operator writes a run's labels with its first status write, which may wait up
        to --status-delay (a one-block run then costs 3 API writes, not 4: issue 11), so a
        run created a moment ago carries none yet; `--pipeline X` must still find it (a
        `delete --keep 1` that missed the newest run would delete it). Those runs are few:
        the second list is small, though the server still reads the namespace's runs.
        """
        main = self.label_selector()
        if not (self.phases or self.pipeline or self.trigger):
            return [main]
        unlabelled = [self.selector] if self.selector else []
        unlabelled.append(f"!{labels.PHASE}")
        return [main, ",".join(unlabelled)]

    def matches(self, row: RunRow) -> bool:
        """Whether the row passes every filter (labels included, for archived rows)."""
        if self.names and row.name not in self.names:
            return False
        if self.phases and row.phase not in self.phases:
            return False
        if self.pipeline and row.pipeline != self.pipeline:
            return False
        if self.trigger and row.trigger != self.trigger:
            return False
        if self.triggered_by and row.triggered_by != self.triggered_by:
            return False
        if self.since is not None and (row.started is None or row.started < self.since):
            return False
        if self.until is not None and (row.started is None or row.started >= self.until):
            return False
        if self.selector and not selector_matches(self.selector, row.labels):
            return False
        return not self.search or _mentions(row, self.search)

    def archive_filter(self, namespaces: Sequence[str] | None) -> RunFilter:
        """The same filters for the archive's query layer (labels other than ours excepted)."""
        from runwright.archive import RunFilter

        return RunFilter(
            namespaces=namespaces,
            pipeline=self.pipeline,
            trigger=self.trigger,
            phases=tuple(self.phases),
            triggered_by=self.triggered_by,
            started_since=self.since,
            started_before=self.until,
            text=self.search,
        )


def _mentions(row: RunRow, text: str) -> bool:
    needle = text.lower()
    haystack = (row.name, row.message, *row.block_names)
    return any(needle in part.lower() for part in haystack)


# ----- label selectors, for rows the API server did not select (the archive's) --------------

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|!=|=)\s*(?P<value>[A-Za-z0-9._-]*)"
    r"|\s(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$"
)


def _requirements(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [p for p in parts if p.strip()]


def selector_matches(selector: str, row_labels: Mapping[str, str]) -> bool:
    """Kubernetes label selector semantics (=, ==, !=, in, notin, key, !key) over a dict."""
    for requirement in _requirements(selector):
        found = _REQUIREMENT.match(requirement)
        if found is None:
            raise InputError(f"-l {selector!r}: {requirement.strip()!r} is not a label requirement")
        key, value = found["key"], row_labels.get(found["key"])
        if found["op"] in ("=", "=="):
            ok = value == found["value"]
        elif found["op"] == "!=":
            ok = value != found["value"]
        elif found["setop"]:
            allowed = {v.strip() for v in found["values"].split(",") if v.strip()}
            ok = (value in allowed) if found["setop"] == "in" else (value not in allowed)
        else:
            ok = (key in row_labels) != bool(found["neg"])
        if not ok:
            return False
    return True


# ----- order --------------------------------------------------------------------------------


def _sort_value(row: RunRow, by: SortBy) -> object:
    match by:
        case SortBy.STARTED:
            return row.started or row.created
        case SortBy.DURATION:
            return row.duration_seconds
        case SortBy.PHASE:
            return row.phase
        case SortBy.ITEMS:
            return row.items
        case SortBy.COST:
            return row.cost
        case SortBy.PIPELINE:
            return row.pipeline


def is_descending(by: SortBy, reverse: bool = False) -> bool:
    """Whether `by` lists largest first: started, duration, items and cost do (newest,
    longest, most), phase and pipeline do not; `reverse` flips it."""
    return (by in _DESCENDING) != reverse


def sort_rows(rows: Iterable[RunRow], by: SortBy, reverse: bool = False) -> list[RunRow]:
    """Rows in `by` order (its natural direction, flipped by `reverse`); rows without the
    key come last either way, and the name breaks ties so the order is stable."""
    descending = is_descending(by, reverse)
    keyed = [(_sort_value(row, by), row) for row in rows]
    present = [(v, r) for v, r in keyed if v is not None]
    absent = [r for v, r in keyed if v is None]
    present.sort(key=lambda vr: (vr[0], vr[1].namespace, vr[1].name), reverse=descending)
    absent.sort(key=lambda r: (r.namespace, r.name))
    return [r for _, r in present] + absent


def archive_sort(by: SortBy, reverse: bool = False) -> Sort:
    """The archive's sort for `by` (pipeline has none there: started, re-sorted here)."""
    from runwright.archive import Sort, SortKey

    key = SortKey(_ARCHIVE_SORT.get(by, "started"))
    return Sort(key=key, descending=is_descending(by, reverse))


def merge(cluster: Iterable[RunRow], archived: Iterable[RunRow]) -> list[RunRow]:
    """Cluster rows and archived rows as one list; a run in both is shown from the cluster."""
    rows = list(cluster)
    seen = {row.uid for row in rows if row.uid}
    rows.extend(r for r in archived if r.uid not in seen)
    return rows
