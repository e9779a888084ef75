"""A run whose status the API server refuses as too large: fail it, stop its blocks.

Pipelines are refused up front when a run of theirs could outgrow etcd
(engine/run_size.py); this is the backstop for what slips through (a Pipeline
accepted by an older operator, an unforeseen status). Without it the status write
is retried forever while the run's Jobs go on, unrecorded (issue 17). The failing
write drops the frozen spec (the status's largest part), and the blocks too if
that is still not small enough, so the one fact that matters gets recorded.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException

from runwright.api.run import BlockPhase, PipelineRunStatus
from runwright.engine.reasons import RunReason
from runwright.engine.run_size import ETCD_REQUEST_BYTES
from runwright.executors.contract import Executor, RunRef
from runwright.kube.client import Kube
from runwright.kube.errors import api_message

log = logging.getLogger("runwright.runs")

RUNS = "pipelineruns"


def too_large(exc: BaseException) -> str | None:
    """The API server's words when `exc` refuses a write for its size, else None.

    The API server answers 413 for a body over its own limit; etcd's refusal comes
    back as a 500 "etcdserver: request is too large".
    """
    if not isinstance(exc, ApiException):
        return None
    message = api_message(exc)
    if exc.status == 413 or "too large" in message.lower():
        return message
    return None


async def fail_oversized(
    kube: Kube,
    executor: Executor,
    run: RunRef,
    status: PipelineRunStatus,
    why: str,
    now: datetime,
    *,
    notifications: list[dict[str, Any]] | None = None,
    remember: Callable[[str | None], None] = lambda _version: None,
) -> dict[str, Any]:
    """Stop the run's running blocks and record it Failed (StatusTooLarge).

    `notifications`: status.notifications to write with the phase (the end's delivery
    intents, controller/notifications.py `OversizedEnd`); `remember` is told the
    resourceVersion of the write, so its echo is known as the operator's own.
    Returns the status fields written (merge-patch form), for the caller's memory.
    """
    for block in status.blocks.values():
        if block.phase == BlockPhase.RUNNING and block.job:
            with contextlib.suppress(Exception):
                await executor.stop(run, block.job)
    message = (
        f"the API server refused the run's status as too large ({why}); its running "
        f"blocks were stopped. A run's object must stay under etcd's "
        f"{ETCD_REQUEST_BYTES:,}-byte limit: use fewer blocks or smaller args and outputs"
    )
    patch: dict[str, Any] = {
        "phase": "Failed",
        "reason": str(RunReason.STATUS_TOO_LARGE),
        "message": message,
        "completedAt": now.isoformat().replace("+00:00", "Z"),
        "pipelineSpec": None,
    }
    if notifications is not None:
        patch["notifications"] = notifications
    log.error("run %s/%s failed: %s", run.namespace, run.name, message)
    try:
        remember(await kube.patch_status(RUNS, run.namespace, run.name, patch))
    except ApiException as exc:
        if too_large(exc) is None:
            raise
        patch["blocks"] = None
        remember(await kube.patch_status(RUNS, run.namespace, run.name, patch))
    return patch


def merged(written: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> dict[str, Any]:
    """`written` with the merge patch applied (None deletes)."""
    out = dict(written or {})
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out
