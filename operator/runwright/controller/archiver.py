"""The operator's side of the run archive: what to write, when, and what it confirms.

Level-triggered and idempotent. Every PipelineRun the watch shows is queued (the
latest body per run uid wins, so a burst of status writes costs one upsert); a
writer task drains the queue in batches, each one transaction (`Archive.record_runs`:
upserts keyed by run uid and by (uid, block, attempt), so every attempt the run's
status history shows is kept, and a repeat rewrites rows in place). When an attempt
has ended its log tail is read (the pod log API, or the local executor's file) and
stored with it; when a forEach block has ended, every attempt of every item and its
log tail are stored (`controller.archive_items`, bounded per block); when the run has finished its Events are stored too, and the archive's
confirmation is written on the run as the annotation `runwright.dev/archived`
(`<phase>/<completedAt as Unix seconds>`).

That annotation is the one "archived" fact: the reconcile passes `archive_pending`
into the engine (CR retention waits), the trigger controller passes `archived` into
its history limits (through `ReadModel.unarchived`), and a restarted operator finds
every finished run without it in its first listing and archives it then. The
annotation's own watch event wakes the run, so retention proceeds once confirmed.

If the database is down, runs go on: the batch stays queued (a newer body of the
same run replaces it), `runwright_archive_errors_total` counts, the backlog
(`runwright_archive_backlog`, finished runs not yet confirmed) grows, a log line says
so once per outage, and the writer retries with backoff until the database returns.
The queue is bounded for unfinished runs (their next change re-queues them); a
finished run is always queued, as retention keeps it until it is archived.

Writes happen only inside the kopf operator (the leader, when leader election runs).
Nothing here blocks the event loop: the engine is async, file reads run in a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.archive import DEFAULT_LOG_CAP, Archive, RetentionPolicy, RunRecords
from runwright.archive.items import ended_fan_outs
from runwright.archive.records import parse_time
from runwright.controller.archive_items import (
    ItemFiles,
    ItemPods,
    archive_items,
    kube_item_pods,
)
from runwright.engine.concurrency import RunKey
from runwright.engine.naming import attempt_name
from runwright.engine.reasons import EventReason
from runwright.executors.job_manifest import CONTAINER
from runwright.kube.client import MERGE_PATCH, Kube
from runwright.metrics import METRICS

log = logging.getLogger("runwright.archive")

#: PipelineRun annotation: the archive has the run's final record, logs and Events.
ARCHIVED = f"{labels.GROUP}/archived"
#: Attempt phases after which its log is complete and is read.
_ENDED = frozenset({"Succeeded", "Failed", "Cancelled"})
_FINISHED = _ENDED
#: Retry delays while the database (or the API server) fails: first, cap.
BACKOFF = (0.5, 10.0)
#: The Events that end a run; a finished run is archived once one of them is listed.
ENDING = frozenset({EventReason.RUN_SUCCEEDED, EventReason.RUN_FAILED, EventReason.RUN_CANCELLED})
#: The longest a finished run's archiving waits for its ending Event (seconds).
ENDING_EVENT_WAIT = 5.0
#: Seconds one pod log read may take before the attempt is archived without its log.
LOG_TIMEOUT = 30.0


class LogSource(Protocol):
    """The tail (at most `cap` bytes, roughly) of one attempt's log; None when there is none."""

    def __call__(
        self, namespace: str, run: str, block: str, attempt: int, cap: int
    ) -> Awaitable[bytes | None]: ...


@dataclass
class ArchiveSettings:
    """`runwright operator --archive ...` and friends."""

    url: str | None = None
    """sqlite:///PATH or postgresql+asyncpg://...; None: no archive (`--archive none`)."""
    log_cap: int = DEFAULT_LOG_CAP
    """Bytes of each attempt's log kept (its tail)."""
    batch: int = 100
    """Runs written per transaction."""
    max_pending: int = 10_000
    """Unfinished runs queued at most (finished ones are always queued)."""
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    prune_interval: float = 600.0
    """Seconds between retention passes over the archive."""
    prune_batch: int = 200
    """Runs deleted per pruning transaction."""


def marker(body: Mapping[str, Any]) -> str | None:
    """The run's archive marker (`<phase>/<completedAt Unix seconds>`); None unless finished."""
    status = body.get("status") or {}
    return finished_marker(status.get("phase"), parse_time(status.get("completedAt")))


def finished_marker(phase: Any, completed: datetime | None) -> str | None:
    """The marker of a phase and completion time (None while unfinished)."""
    if str(phase) not in _FINISHED or completed is None:
        return None
    return f"{phase}/{int(completed.timestamp())}"


def confirmed(body: Mapping[str, Any]) -> bool:
    """The archive has confirmed this finished run (its annotation matches its status)."""
    mark = marker(body)
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return mark is not None and annotations.get(ARCHIVED) == mark


def pending_for(annotations: Mapping[str, str], phase: Any, completed: datetime | None) -> bool:
    """For the reconcile: True unless the archive confirmed this very finish of the run."""
    mark = finished_marker(phase, completed)
    return mark is None or annotations.get(ARCHIVED) != mark


class Archiver:
    """Queues run bodies, writes them in batches, reads logs and Events, confirms runs."""

    def __init__(
        self,
        settings: ArchiveSettings,
        kube: Kube,
        logs: LogSource,
        unarchived: set[RunKey],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        item_pods: ItemPods | None = None,
        item_files: ItemFiles | None = None,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.logs = logs
        #: Finished runs not confirmed yet (shared with the ReadModel: history limits).
        self.unarchived = unarchived
        self.clock = clock
        self.archive: Archive | None = None
        self.pending: dict[str, Mapping[str, Any]] = {}
        self.keys: dict[str, RunKey] = {}
        self.confirmed: set[str] = set()
        #: Attempts whose log is stored, per run uid (dropped once the run is confirmed).
        self.logged: dict[str, set[tuple[str, int]]] = {}
        #: Fan-out blocks (and their end) whose items are archived, per run uid (dropped
        #: as `logged` is): each end of a block is archived once.
        self.items_done: dict[str, set[tuple[str, str]]] = {}
        #: Where item pods and their logs are read (default: the API server).
        self.item_pods = (
            item_pods if item_pods is not None or kube is None else kube_item_pods(kube)
        )
        #: Item attempts' logs kept in files (the local executor), read when no pod is.
        self.item_files = item_files
        #: Called with a run's key once it is confirmed (wakes its Trigger's history).
        self.on_confirmed: Callable[[RunKey], None] = lambda _key: None
        self._wake = asyncio.Event()
        #: Set once the schema is migrated and the archive is open.
        self.opened = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._failing = False

    @property
    def enabled(self) -> bool:
        """An archive is configured."""
        return self.settings.url is not None

    # ----- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the writer and the pruner (the schema is migrated by the writer first)."""
        if self.enabled:
            self._tasks = [
                asyncio.create_task(self._write_loop(), name="archive-writer"),
                asyncio.create_task(self._prune_loop(), name="archive-pruner"),
            ]

    async def close(self) -> None:
        """Stop writing (what is queued is written by the next operator) and disconnect."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.archive is not None:
            await self.archive.close()

    # ----- events in ------------------------------------------------------------------------

    def observe(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        """A PipelineRun event (no await: called from the watch handler)."""
        if not self.enabled:
            return
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid") or "")
        if not uid:
            return
        key: RunKey = (str(meta.get("namespace")), str(meta.get("name")))
        if event_type == "DELETED":
            self.pending.pop(uid, None)
            self.keys.pop(uid, None)
            self.logged.pop(uid, None)
            self.items_done.pop(uid, None)
            self.confirmed.discard(uid)
            self.unarchived.discard(key)
            self._gauge()
            return
        if confirmed(body):
            self.confirmed.add(uid)
            self.pending.pop(uid, None)
            self.keys.pop(uid, None)
            self.logged.pop(uid, None)
            self.items_done.pop(uid, None)
            self.unarchived.discard(key)
            self._gauge()
            return
        self.confirmed.discard(uid)
        finished = marker(body) is not None
        if finished:
            self.unarchived.add(key)
        elif uid not in self.pending and len(self.pending) >= self.settings.max_pending:
            return  # bounded: its next change (or its finish) queues it again
        self.pending[uid] = body
        self.keys[uid] = key
        self._gauge()
        self._wake.set()

    async def archived(self, namespace: str, run_uid: str) -> bool:
        """May the run's pods and Jobs go? True when its final record, logs and Events are
        committed, or when no archive is configured. The hook for pod/Job GC."""
        return not self.enabled or run_uid in self.confirmed

    def _gauge(self) -> None:
        METRICS.archive_backlog.set(len(self.unarchived))

    # ----- the writer -----------------------------------------------------------------------

    async def _open(self) -> Archive:
        delay = BACKOFF[0]
        while True:
            try:
                assert self.settings.url is not None
                return await Archive.open(self.settings.url, log_cap=self.settings.log_cap)
            except Exception as exc:  # any database failure: retry
                METRICS.archive_errors_total.labels("connect").inc()
                log.warning("archive database unavailable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF[1])

    async def _write_loop(self) -> None:
        self.archive = await self._open()
        self.opened.set()
        delay = BACKOFF[0]
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.pending:
                uids = list(self.pending)[: self.settings.batch]
                batch = {uid: self.pending.pop(uid) for uid in uids}
                try:
                    await self._write(self.archive, batch)
                except Exception as exc:  # the database or the API server
                    for uid, body in batch.items():
                        self.pending.setdefault(uid, body)  # a newer body of it wins
                    METRICS.archive_errors_total.labels("run").inc()
                    if not self._failing:
                        log.warning(
                            "archive write failed (%s): %d finished runs wait; retrying",
                            exc,
                            len(self.unarchived),
                        )
                    self._failing = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, BACKOFF[1])
                    continue
                if self._failing:
                    log.warning("archive writes resumed; %d runs queued", len(self.pending))
                self._failing = False
                delay = BACKOFF[0]

    async def _write(self, archive: Archive, batch: Mapping[str, Mapping[str, Any]]) -> None:
        bodies = list(batch.values())
        records = await archive.record_runs(bodies, now=self.clock())
        METRICS.archive_writes_total.labels("run").inc(len(records))
        # Each run's logs, Events and confirmation are API round trips: runs in parallel.
        outcomes = await asyncio.gather(
            *(self._follow_up(archive, b, r) for b, r in zip(bodies, records, strict=True)),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _follow_up(
        self, archive: Archive, body: Mapping[str, Any], record: RunRecords
    ) -> None:
        await self._store_logs(archive, record)
        await self._store_items(archive, body, record)
        if record.run.finished:
            await self._finish(archive, body, record)

    async def _store_logs(self, archive: Archive, records: RunRecords) -> None:
        run = records.run
        logged = self.logged.setdefault(run.uid, set())
        ended = [
            a for a in records.attempts if a.phase in _ENDED and (a.block, a.attempt) not in logged
        ]
        texts = await asyncio.gather(
            *(
                self.logs(run.namespace, run.name, a.block, a.attempt, self.settings.log_cap)
                for a in ended
            )
        )
        for attempt, text in zip(ended, texts, strict=True):
            if text is not None:
                await archive.record_log(run.uid, attempt.block, attempt.attempt, text)
                METRICS.archive_writes_total.labels("log").inc()
            logged.add((attempt.block, attempt.attempt))

    async def _store_items(
        self, archive: Archive, body: Mapping[str, Any], records: RunRecords
    ) -> None:
        """Every item of each forEach block that ended, once per block (see archive_items)."""
        if self.item_pods is None:
            return
        done = self.items_done.setdefault(records.run.uid, set())
        for block, end in ended_fan_outs(body):
            if (block, end) not in done:
                await archive_items(archive, self.item_pods, body, block, self.item_files)
                done.add((block, end))

    async def _final_events(self, namespace: str, uid: str) -> list[dict[str, Any]]:
        """The finished run's Events, its ending one (RunFailed...) included.

        The reconcile posts a run's last Events right after the status that finishes it,
        and that status is what brought the run here: listed at once, the ending Event
        is often not there yet. So the list is read again (0.2 s, doubling) until it
        is, for at most ENDING_EVENT_WAIT seconds; a run that ended without one (or
        whose Event post failed) is archived with what exists then.
        """
        delay, waited = 0.2, 0.0
        while True:
            answer = await self.kube.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.uid={uid}"
            )
            events = [e.to_dict() for e in answer.items or ()]
            if waited >= ENDING_EVENT_WAIT or any(e.get("reason") in ENDING for e in events):
                return events
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, ENDING_EVENT_WAIT - waited) or delay

    async def _finish(self, archive: Archive, body: Mapping[str, Any], records: RunRecords) -> None:
        run = records.run
        events = await self._final_events(run.namespace, run.uid)
        await archive.record_events(run.uid, events)
        METRICS.archive_writes_total.labels("events").inc()
        mark = marker(body)
        try:
            await self.kube.custom.patch_namespaced_custom_object(
                labels.GROUP,
                labels.VERSION,
                run.namespace,
                "pipelineruns",
                run.name,
                {"metadata": {"annotations": {ARCHIVED: mark}}},
                _content_type=MERGE_PATCH,  # type: ignore[call-arg]
            )
        except ApiException as exc:
            if exc.status != 404:  # a run deleted meanwhile needs no confirmation
                raise
        self.confirmed.add(run.uid)
        self.logged.pop(run.uid, None)
        self.items_done.pop(run.uid, None)
        key = (run.namespace, run.name)
        self.unarchived.discard(key)
        self._gauge()
        if run.completed_at is not None:
            lag = (self.clock() - run.completed_at).total_seconds()
            METRICS.archive_lag_seconds.observe(max(lag, 0.0))
        self.on_confirmed(key)

    # ----- retention in the archive ---------------------------------------------------------

    async def _prune_loop(self) -> None:
        while True:
            if self.archive is not None:
                try:
                    while True:
                        n = await self.archive.prune(
                            self.settings.retention,
                            now=self.clock(),
                            limit=self.settings.prune_batch,
                        )
                        METRICS.archive_pruned_total.inc(n)
                        if n:
                            METRICS.archive_writes_total.labels("prune").inc()
                        if n < self.settings.prune_batch:
                            break
                        await asyncio.sleep(0)  # small batches: let the writer in between
                except Exception as exc:  # the database: next interval
                    METRICS.archive_errors_total.labels("prune").inc()
                    log.warning("archive retention pass failed: %s", exc)
            await asyncio.sleep(self.settings.prune_interval)


# ----- log sources --------------------------------------------------------------------------


def pod_logs(kube: Kube) -> LogSource:
    """Read an attempt's log from its pod (labels run, block, attempt: Job or bare pod)."""

    async def read(namespace: str, run: str, block: str, attempt: int, cap: int) -> bytes | None:
        selector = f"{labels.RUN}={run},{labels.BLOCK}={block},{labels.ATTEMPT}={attempt}"
        pods = await kube.core.list_namespaced_pod(namespace, label_selector=selector)
        if not pods.items:
            return None  # gone (deleted with its Job, or never created)
        pod = max(pods.items, key=lambda p: p.metadata.creation_timestamp or datetime.min)
        try:
            # The API has no "last N bytes": take enough last lines, cut to cap after.
            text: str = await kube.core.read_namespaced_pod_log(
                pod.metadata.name,
                namespace,
                container=CONTAINER,
                tail_lines=max(cap // 32, 100),
                limit_bytes=cap * 4,
                _request_timeout=LOG_TIMEOUT,
            )
        except (ApiException, TimeoutError) as exc:
            # The API server answered, but the log is not to be had: never started, its
            # node gone or unreachable (a 4xx/5xx from the kubelet proxy), too slow. The
            # attempt is archived without a log rather than holding the archive back.
            status = getattr(exc, "status", "timeout")
            log.warning(
                "log of %s/%s (attempt %d of %s) not archived: %s %s",
                namespace,
                pod.metadata.name,
                attempt,
                block,
                status,
                getattr(exc, "reason", "") or type(exc).__name__,
            )
            return None
        return text.encode()

    return read


def file_logs(path_of: Callable[[str, str, str], Path | None]) -> LogSource:
    """Read an attempt's log from a local file (the local executor's process output)."""

    async def read(namespace: str, run: str, block: str, attempt: int, cap: int) -> bytes | None:
        path = path_of(namespace, run, attempt_name(run, block, attempt))
        return None if path is None else await asyncio.to_thread(_tail, path, cap)

    return read


def file_item_logs(path_of: Callable[[str, str, str], Path | None]) -> ItemFiles:
    """Read an item attempt's log from a local file, by the attempt's name."""

    async def read(namespace: str, run: str, name: str, cap: int) -> bytes | None:
        path = path_of(namespace, run, name)
        return None if path is None else await asyncio.to_thread(_tail, path, cap)

    return read


def _tail(path: Path, cap: int) -> bytes | None:
    """The last cap + 1 bytes: one more than kept, so `log_record` knows it was cut."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(max(size - cap - 1, 0))
            return handle.read()
    except OSError:
        return None
