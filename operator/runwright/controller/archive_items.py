"""The archiver's fan-out part: every item's every attempt, and its log tail, archived once.

When a forEach block has ended (its items all done) in a run body the archiver
writes, its items are archived: the block's item pods (the Pod executor's and the
Job executor's pods alike carry the run/block/item/attempt labels) are listed a page
at a time, each pod judged by the one attempt verdict (engine/verdict.py), the
status's row of each item's latest attempt laid over its pod's (`archive.items.merge`),
and the rows upserted page by page; then the ended attempts' logs are read, at most
LOG_PARALLEL at once, each written as soon as it is read. Items that have no pod
left (deleted by someone, or a Job's pod garbage-collected) keep the row the status
gives. So a 5,000-item block never has more than PAGE pod bodies and LOG_PARALLEL
logs in memory, and its rows are upserts: archiving it again rewrites them in place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping
from typing import Any, Protocol

from kubernetes_asyncio.client.exceptions import ApiException

from runwright import labels
from runwright.archive import Archive, ItemAttemptRecord, status_item_attempts
from runwright.archive.items import merge
from runwright.engine import outputs
from runwright.engine.naming import item_attempt_name
from runwright.engine.plan import AttemptState
from runwright.engine.verdict import Ending, judge
from runwright.executors.job_manifest import CONTAINER
from runwright.executors.job_records import JOB_NAME_LABELS, pod_state
from runwright.kube.client import Kube
from runwright.metrics import METRICS

log = logging.getLogger("runwright.archive")

#: Pods listed per API call (and rows upserted per statement).
PAGE = 500
#: Item logs read at once: what bounds the memory one fan-out's logs take (x the cap).
LOG_PARALLEL = 8
#: Seconds one pod log read may take before the attempt is archived without its log.
LOG_TIMEOUT = 30.0
_ENDED = frozenset({"Succeeded", "Failed", "Cancelled"})
_PHASE = {AttemptState.SUCCEEDED: "Succeeded", AttemptState.FAILED: "Failed"}


class ItemFiles(Protocol):
    """An item attempt's log kept outside a pod (the local executor's file), by its name."""

    def __call__(
        self, namespace: str, run: str, name: str, cap: int
    ) -> Awaitable[bytes | None]: ...


class ItemPods(Protocol):
    """Where an item's pods and their logs are read (the API server, in the operator)."""

    def pages(self, namespace: str, run: str, block: str) -> AsyncIterator[list[dict[str, Any]]]:
        """The block's item pods (camelCase bodies), a page at a time."""
        ...

    def log(self, namespace: str, pod: str, cap: int) -> Awaitable[bytes | None]:
        """The tail (about `cap` bytes) of a pod's log; None when it cannot be had."""
        ...


def pod_item_attempt(run_uid: str, body: Mapping[str, Any]) -> ItemAttemptRecord | None:
    """An item pod body as its attempt's row (PURE); None for a pod that is not one.

    A pod of another run of the same name (its controlling owner is another
    PipelineRun uid) is not this run's. A pod still Pending or Running has not ended:
    its row says Running (the status's row, if any, wins over it).
    """
    meta = body.get("metadata") or {}
    lbl = meta.get("labels") or {}
    block, item, attempt = lbl.get(labels.BLOCK), lbl.get(labels.ITEM), lbl.get(labels.ATTEMPT)
    if not (
        isinstance(block, str)
        and str(item or "").isdigit()
        and str(attempt or "").isdigit()
        and int(str(attempt)) >= 1
    ):
        return None
    for ref in meta.get("ownerReferences") or ():
        if ref.get("kind") == "PipelineRun" and ref.get("controller") and ref.get("uid") != run_uid:
            return None
    name = str(meta.get("name") or "")
    job = next((str(lbl[k]) for k in JOB_NAME_LABELS if isinstance(lbl.get(k), str)), name)
    record = pod_state(body, name)
    if record is None:
        return None
    common = {
        "run_uid": run_uid,
        "block": block,
        "item": int(str(item)),
        "attempt": int(str(attempt)),
        "job": job,  # the Job's name for a Job's pod, as the run's status says it
        "started_at": record.started_at,
        "completed_at": record.finished_at,
        "exit_code": record.exit_code,
    }
    if not record.terminated:
        return ItemAttemptRecord(phase="Running", **common)  # type: ignore[arg-type]
    if record.exit_code is not None:
        verdict = judge(
            Ending.EXITED,
            exit_code=record.exit_code,
            output=record.message,
            tail=outputs.tail(record.message),
            reason=record.reason,
        )
    else:
        verdict = judge(
            Ending.FAILED, exit_code=None, output=None, reason=record.reason, detail=record.message
        )
    return ItemAttemptRecord(
        phase=_PHASE.get(verdict.state, "Failed"),
        reason=str(verdict.reason),
        message=verdict.message,
        outputs=dict(verdict.outputs),
        **common,  # type: ignore[arg-type]
    )


async def archive_items(
    archive: Archive,
    pods: ItemPods,
    body: Mapping[str, Any],
    block: str,
    files: ItemFiles | None = None,
) -> int:
    """Archive every attempt of every item of one ended forEach block; returns the rows.

    Each log's tail is read and kept up to the archive's `log_cap`: from the item's pod,
    else (an attempt with no pod: the local executor's) from `files`, when given.
    """
    meta, status = body.get("metadata") or {}, body.get("status") or {}
    uid, namespace, run = str(meta["uid"]), str(meta.get("namespace")), str(meta["name"])
    items = ((status.get("blocks") or {}).get(block) or {}).get("items") or {}
    told = {r.key: r for r in status_item_attempts(uid, block, items)}
    written = 0
    with_pod: set[tuple[int, int]] = set()
    limit = asyncio.Semaphore(LOG_PARALLEL)

    async def store_log(row: ItemAttemptRecord, pod: str) -> None:
        async with limit:
            text = await pods.log(namespace, pod, archive.log_cap)
            if text is not None:
                await archive.record_item_log(uid, block, row.item, row.attempt, text)
                METRICS.archive_writes_total.labels("log").inc()

    async def store_file_log(row: ItemAttemptRecord) -> None:
        assert files is not None
        async with limit:
            name = item_attempt_name(run, block, row.item, row.attempt)
            text = await files(namespace, run, name, archive.log_cap)
            if text is not None:
                await archive.record_item_log(uid, block, row.item, row.attempt, text)
                METRICS.archive_writes_total.labels("log").inc()

    async for page in pods.pages(namespace, run, block):
        found: dict[tuple[int, int], tuple[ItemAttemptRecord, str]] = {}
        for pod in page:
            seen = pod_item_attempt(uid, pod)
            if seen is not None and seen.block == block:
                # A Job's second pod of an attempt: one row (the pod listed last).
                found[seen.key] = (seen, str(pod["metadata"]["name"]))
        rows = {
            key: (merge(seen, told[key]) if key in told else seen, name)
            for key, (seen, name) in found.items()
        }
        with_pod.update(rows)
        await archive.record_item_attempts([row for row, _ in rows.values()])
        written += len(rows)
        await asyncio.gather(*(store_log(r, n) for r, n in rows.values() if r.phase in _ENDED))
    # Items whose latest attempt has no pod left: the status's row alone.
    rest = [row for key, row in told.items() if key not in with_pod]
    for start in range(0, len(rest), PAGE):
        page_rows = rest[start : start + PAGE]
        await archive.record_item_attempts(page_rows)
        if files is not None:
            await asyncio.gather(*(store_file_log(r) for r in page_rows if r.phase in _ENDED))
    METRICS.archive_writes_total.labels("items").inc()
    return written + len(rest)


def kube_item_pods(kube: Kube, timeout: float = LOG_TIMEOUT) -> ItemPods:
    """Item pods and their logs from the API server."""
    return _KubeItemPods(kube, timeout)


class _KubeItemPods:
    def __init__(self, kube: Kube, timeout: float) -> None:
        self.kube, self.timeout = kube, timeout

    async def pages(
        self, namespace: str, run: str, block: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        selector = f"{labels.RUN}={run},{labels.BLOCK}={block},{labels.ITEM}"
        token = ""
        while True:
            page: dict[str, Any] = {"_continue": token} if token else {}
            answer = await self.kube.core.list_namespaced_pod(
                namespace, label_selector=selector, limit=PAGE, **page
            )
            yield [self.kube.api.sanitize_for_serialization(p) for p in answer.items or ()]
            token = (answer.metadata._continue if answer.metadata else "") or ""
            if not token:
                return

    async def log(self, namespace: str, pod: str, cap: int) -> bytes | None:
        try:
            text: str = await self.kube.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=CONTAINER,
                tail_lines=max(cap // 32, 100),
                limit_bytes=cap * 4,
                _request_timeout=self.timeout,
            )
        except (ApiException, TimeoutError) as exc:
            log.warning(
                "log of %s/%s not archived: %s %s",
                namespace,
                pod,
                getattr(exc, "status", "timeout"),
                getattr(exc, "reason", "") or type(exc).__name__,
            )
            return None
        return text.encode()
