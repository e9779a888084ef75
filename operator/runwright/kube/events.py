"""What the operator's Events say, and when: events.k8s.io/v1 bodies, in order, in series.

core/v1 Events carry whole-second timestamps, so `kubectl describe` (which sorts by
time) could show a BlockStarted after the RunFailed of the same second. An
events.k8s.io/v1 Event has a microsecond `eventTime` (MicroTime), and `EventLog`
stamps every Event with a time strictly later than the one before it, so the
operator's Events sort in the order the operator decided them: a reconcile's plan
order, even within one microsecond of the clock.

A happening that repeats on one object (a block retrying, a fire skipped) is one
Event with a `series` {count, lastObservedTime}, patched on each repeat, as
client-go's events broadcaster does, instead of one Event per repeat. Which
Events are "the same" is their isomorphic key: the object, the type, the reason,
and the note's shape: its first word as it is (the block a block Event is about,
so "step1" and "step2" stay apart) and the numbers of the rest masked ("a attempt
2 failed ... in 5s" and "a attempt 3 failed ... in 10s" are one series). An
Event's note cannot change after it is created (the API server refuses it), so a
series keeps the note of its first occurrence, as client-go's does. A series ends
when it has not repeated for SERIES_WINDOW (client-go's 6 minutes); the keys are
kept in a bounded LRU, so memory stays flat however many runs come and go.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runwright import labels

API_VERSION = "events.k8s.io/v1"
REPORTING_CONTROLLER = "runwright.dev/operator"
SERIES_WINDOW = timedelta(minutes=6)
SERIES_KEYS = 4096
NOTE_BYTES = 1024  # the API server's limit on `note`
FIELD_CHARS = 128  # the limit on reason, action and reportingInstance
TICK = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_NUMBERS = re.compile(r"\d+")

Key = tuple[str, str, str, str]


def micro_time(at: datetime) -> str:
    """RFC 3339 with microseconds, the wire form of a MicroTime."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bounded_note(message: str) -> str:
    """The message cut to the API server's 1 kB note limit (bytes, not characters)."""
    return message.encode()[:NOTE_BYTES].decode(errors="ignore")


def shape(note: str) -> str:
    """What repeats of one happening share: the first word, then the note without its numbers."""
    first, space, rest = note.partition(" ")
    return first + space + _NUMBERS.sub("#", rest)


def reporting_instance() -> str:
    """Who posts: the pod's name (a pod's hostname), or the machine's outside a cluster."""
    return socket.gethostname()[:FIELD_CHARS] or "runwright-operator"


@dataclass
class Series:
    """One posted Event and how often it has happened so far."""

    namespace: str
    name: str
    count: int
    last: datetime
    # Orders the create and the patches of one Event: a patch must not overtake the
    # create it patches, nor an older count overwrite a newer one.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Post:
    """One write to send: create `body`, or merge-patch `body` onto the Event `series.name`."""

    series: Series
    create: bool
    body: dict[str, Any]
    key: Key


class EventLog:
    """Stamps the operator's Events and remembers their series (in memory, bounded)."""

    def __init__(
        self,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        instance: str | None = None,
        capacity: int = SERIES_KEYS,
        window: timedelta = SERIES_WINDOW,
    ) -> None:
        self.clock = clock
        self.instance = instance if instance is not None else reporting_instance()
        self.capacity = capacity
        self.window = window
        self.series: OrderedDict[Key, Series] = OrderedDict()
        self._last: datetime | None = None

    def stamp(self) -> datetime:
        """Now, or a microsecond after the previous stamp when the clock has not moved on."""
        now = self.clock()
        if self._last is not None and now <= self._last:
            now = self._last + TICK
        self._last = now
        return now

    def record(self, involved: Mapping[str, Any], type_: str, reason: str, message: str) -> Post:
        """Decide the write for one happening: a new Event, or one more of a series.

        Synchronous on purpose: callers that post several Events at once call it in
        their plan order before any of the writes starts, so the times follow that order.
        """
        meta = involved["metadata"]
        note = bounded_note(message)
        key: Key = (
            str(meta.get("uid") or f"{involved['kind']}/{meta['namespace']}/{meta['name']}"),
            type_,
            reason,
            shape(note),
        )
        at = self.stamp()
        known = self.series.get(key)
        if known is not None and at - known.last <= self.window:
            known.count += 1
            known.last = at
            self.series.move_to_end(key)
            body = {"series": {"count": known.count, "lastObservedTime": micro_time(at)}}
            return Post(known, False, body, key)
        # Fixed-width hex of the microsecond: an object's Events list (by name) in the
        # order they first happened, which is the order `kubectl describe` shows.
        name = f"{meta['name']}.{(at - EPOCH) // TICK:016x}"
        started = Series(meta["namespace"], name, 1, at)
        self.series[key] = started
        self.series.move_to_end(key)
        while len(self.series) > self.capacity:
            self.series.popitem(last=False)
        return Post(started, True, self.body(involved, name, type_, reason, note, at), key)

    def body(
        self,
        involved: Mapping[str, Any],
        name: str,
        type_: str,
        reason: str,
        note: str,
        at: datetime,
    ) -> dict[str, Any]:
        """An events.k8s.io/v1 Event (no deprecated* fields: the API refuses them on create)."""
        meta = involved["metadata"]
        return {
            "apiVersion": API_VERSION,
            "kind": "Event",
            "metadata": {"name": name, "namespace": meta["namespace"]},
            "eventTime": micro_time(at),
            "reportingController": REPORTING_CONTROLLER,
            "reportingInstance": self.instance,
            "action": reason[:FIELD_CHARS],
            "reason": reason[:FIELD_CHARS],
            "note": note,
            "type": type_,
            "regarding": {
                "apiVersion": involved.get("apiVersion", labels.API_VERSION),
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid"),
            },
        }

    def lost(self, post: Post) -> None:
        """The Event of `post` does not exist (a failed create, an expired Event): the
        next repeat starts a new one instead of patching nothing."""
        if self.series.get(post.key) is post.series:
            del self.series[post.key]
