"""The operator's own memory of watched Jobs and pods, and when it has seen them all.

kopf's indexes did this before, and their readiness bookkeeping was quadratic: every
handler taking index kwargs waits on one condition that every object's first event
notifies (issue 17: with 5,000 runs and their Jobs and pods the operator sent no
request for 540 s, 64.6% of it in Condition.notify_all). Here the kopf.on.event
handlers put small records (executors/job_records.py) into keyed stores, O(1) per
add and remove, and `Catchup` says when the initial listing of each kind has been
seen: until then no run is planned, because a run planned from a half-listed store
would take its live Jobs for lost ones, or admit a younger run before an older one
the operator has not seen yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from kubernetes_asyncio import client

from runwright import labels

log = logging.getLogger("runwright.watchstore")

R = TypeVar("R")
ObjectKey = tuple[str, str]
"""(namespace, name) of one watched object."""


class Store(Generic[R]):
    """One record per object, findable by the named keys (`Store(run=lambda r: ...)`).

    A key function returns the value the record is filed under; adding a way to look
    records up (pods by run, say) is one more keyword argument.
    """

    def __init__(self, **keys: Callable[[R], Hashable]) -> None:
        self.keys = keys
        self.records: dict[ObjectKey, R] = {}
        self._by: dict[str, dict[Hashable, dict[ObjectKey, R]]] = {k: {} for k in keys}

    def __len__(self) -> int:
        return len(self.records)

    def put(self, obj: ObjectKey, record: R | None) -> None:
        """The object's latest record; None (not one of ours, or malformed) forgets it."""
        self.remove(obj)
        if record is None:
            return
        self.records[obj] = record
        for name, key_of in self.keys.items():
            self._by[name].setdefault(key_of(record), {})[obj] = record

    def remove(self, obj: ObjectKey) -> None:
        """The object was deleted."""
        old = self.records.pop(obj, None)
        if old is None:
            return
        for name, key_of in self.keys.items():
            index = self._by[name]
            key = key_of(old)
            bucket = index.get(key)
            if bucket is not None:
                bucket.pop(obj, None)
                if not bucket:
                    del index[key]

    def by(self, name: str, key: Hashable) -> list[R]:
        """The records filed under `key` in the named lookup (empty when none)."""
        bucket = self._by[name].get(key)
        return list(bucket.values()) if bucket else []

    def groups(self, name: str) -> Mapping[Hashable, Mapping[ObjectKey, R]]:
        """Every key of the named lookup with its records (read only)."""
        return self._by[name]


class Catchup:
    """Has every object that existed at start been handed to our handlers yet?

    kopf's watch begins with a LIST whose objects reach on.event handlers one by
    one, and says nothing when the last one has been handled. So the operator LISTs
    each kind itself at start (uids only) and counts them off as the handlers see
    them. An object deleted between the two LISTs is never seen: when the count
    stops going down, the kind is listed again and what is gone is struck off.
    """

    def __init__(
        self,
        kinds: Iterable[str],
        lister: Callable[[str], Awaitable[set[str]]],
        watches: int | None = None,
    ) -> None:
        self.lister = lister
        self.expected: dict[str, set[str] | None] = {k: None for k in kinds}
        """Per kind: uids still to be seen; None before our LIST of it answered."""
        self.seen_early: dict[str, set[str]] = {k: set() for k in self.expected}
        """uids seen before our LIST answered (struck off when it does)."""
        self.done = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        #: Per kind: kopf's LISTs still to end (one per watched namespace; see `listed`).
        self.lists_left: dict[str, int] = dict.fromkeys(self.expected, watches) if watches else {}

    @property
    def synced(self) -> bool:
        """True once every kind's initial objects were all seen."""
        return self.done.is_set()

    def waiting_for(self) -> dict[str, int | None]:
        """Per kind not caught up yet: how many objects are still to be seen (None: not listed)."""
        return {
            kind: (len(left) if left is not None else None)
            for kind, left in self.expected.items()
            if left is None or left
        }

    def seen(self, kind: str, uid: str) -> None:
        """A handler saw the object (any event)."""
        if self.synced:
            return
        left = self.expected.get(kind)
        if left is None:
            early = self.seen_early.get(kind)
            if early is not None:
                early.add(uid)
            return
        left.discard(uid)
        if not left:
            self._check()

    def listed(self, kind: str) -> None:
        """One of kopf's LISTs of the kind ended, each of its objects handed to a handler.

        kopflisting.py hands a LIST's objects over in kopf's watch stream, in order,
        so its end means all of them were seen: once every watched namespace's LIST
        of the kind ended, nothing of it is left to see, without a LIST of our own.
        Ignored when the number of watches is not known (namespace globs).
        """
        left = self.lists_left.get(kind)
        if left is None or self.synced:
            return
        self.lists_left[kind] = left - 1
        if left > 1:
            return
        self.expected[kind] = set()
        self.seen_early.pop(kind, None)
        self._check()

    def start(self, stall_seconds: float = 5.0) -> None:
        """List every kind (in the background) and watch the count go down."""
        self.task = asyncio.create_task(self._run(stall_seconds), name="catch-up")

    async def _run(self, stall_seconds: float) -> None:
        for kind in self.expected:
            if self.expected[kind] is not None:
                continue  # kopf's LIST of it was all handed over already (`listed`)
            uids = await self._list(kind)
            if self.expected[kind] is not None:
                continue  # ... while ours was on its way
            uids -= self.seen_early.pop(kind, set())
            self.expected[kind] = uids
        self.seen_early.clear()
        self._check()
        # Whatever is left after a quiet spell may have been deleted before kopf's LIST.
        while not self.synced:
            before = sum(len(v or ()) for v in self.expected.values())
            try:
                await asyncio.wait_for(self.done.wait(), stall_seconds)
                return
            except TimeoutError:
                pass
            after = sum(len(v or ()) for v in self.expected.values())
            if after < before:
                continue  # still going down: kopf is still handing them over
            for kind, left in self.expected.items():
                if left:
                    left &= await self._list(kind)
                    log.info("catching up: %d %s still to be seen", len(left), kind)
            self._check()

    async def _list(self, kind: str) -> set[str]:
        while True:
            try:
                return set(await self.lister(kind))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("catching up: cannot list %s (%s); retrying in 2s", kind, exc)
                await asyncio.sleep(2.0)

    def _check(self) -> None:
        if all(left is not None and not left for left in self.expected.values()):
            if not self.done.is_set():
                log.info("caught up: every watched object was seen")
            self.done.set()

    async def close(self) -> None:
        """Stop listing (operator shutdown)."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


#: What the operator watches, as (API path prefix, plural, label selector).
KINDS: dict[str, tuple[str, str, str | None]] = {
    "pipelines": (f"/apis/{labels.GROUP}/{labels.VERSION}", "pipelines", None),
    "pipelineruns": (f"/apis/{labels.GROUP}/{labels.VERSION}", "pipelineruns", None),
    "jobs": ("/apis/batch/v1", "jobs", labels.RUN),
    "pods": ("/api/v1", "pods", labels.RUN),
}
#: Metadata only: a LIST of 10,000 runs must not cost their statuses.
PARTIAL = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
PAGE = 500


def watch_count(namespaces: list[str]) -> int | None:
    """kopf's watches per kind: one per namespace, one cluster-wide; None for globs."""
    if any(ch in p for p in namespaces for ch in "*?[!"):
        return None  # kopf finds the namespaces as they come
    return len(namespaces) or 1


def _matches(namespace: str, patterns: list[str]) -> bool:
    """kopf's namespace patterns: globs, with `!glob` excluding."""
    positive = [p for p in patterns if not p.startswith("!")]
    if positive and not any(fnmatch.fnmatch(namespace, p) for p in positive):
        return False
    return not any(fnmatch.fnmatch(namespace, p[1:]) for p in patterns if p.startswith("!"))


class UidLister:
    """The uids of every watched object of a kind, from paged metadata-only LISTs."""

    def __init__(self, api: client.ApiClient, namespaces: list[str]) -> None:
        self.api = api
        self.namespaces = namespaces

    async def __call__(self, kind: str) -> set[str]:
        prefix, plural, selector = KINDS[kind]
        globbed = any(ch in p for p in self.namespaces for ch in "*?[!")
        if not self.namespaces or globbed:
            return await self._list(f"{prefix}/{plural}", selector)
        uids: set[str] = set()
        for namespace in self.namespaces:
            uids |= await self._list(f"{prefix}/namespaces/{namespace}/{plural}", selector)
        return uids

    async def _list(self, path: str, selector: str | None) -> set[str]:
        uids: set[str] = set()
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", PAGE)]
            if selector:
                query.append(("labelSelector", selector))
            if token:
                query.append(("continue", token))
            response = await self.api.call_api(
                path,
                "GET",
                query_params=query,
                header_params={"Accept": PARTIAL},
                auth_settings=["BearerToken"],
                _preload_content=False,
            )
            try:
                raw = await response.read()
                if int(response.status) >= 300:
                    raise RuntimeError(f"GET {path}: HTTP {response.status}: {raw[:200]!r}")
                page = json.loads(raw)
            finally:
                response.release()
            for item in page.get("items") or []:
                meta = item.get("metadata") or {}
                namespace = meta.get("namespace", "")
                if self.namespaces and not _matches(namespace, self.namespaces):
                    continue
                uids.add(meta.get("uid", ""))
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return uids
