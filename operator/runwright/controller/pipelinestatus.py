"""A Pipeline's status, written by its own small loop: once per burst of changes.

Every run that starts or ends changes its Pipeline's `activeRuns` or `lastRun`.
Writing once per run phase change would make a burst of a thousand runs a thousand
Pipeline writes; instead, while one write of a Pipeline is in flight, further
changes only mark it dirty, and the writer then writes once more with the latest
picture, no sooner than MIN_INTERVAL after its previous write (changes meanwhile
fold into it): a Pipeline's status is written at most about once a second however
many of its runs start and end (issue 11 counted 0.35 Pipeline writes per
one-block run without it). A change that finds no write in flight and none within
the interval is written at once. Callers on a run's reconcile path do not wait for
it (RunController runs it in the background).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from runwright import labels
from runwright.api.common import RunRecord
from runwright.controller.pipelines import pipeline_status, same_status
from runwright.controller.readmodel import PipelineKey, ReadModel
from runwright.kube.client import Kube

PIPELINES = "pipelines"
#: Seconds between two status writes of one Pipeline, at least.
MIN_INTERVAL = 1.0


class PipelineStatusWriter:
    """Validity, active runs and last run of each Pipeline, from the read model."""

    def __init__(
        self,
        kube: Kube,
        model: ReadModel,
        clock: Callable[[], datetime],
        *,
        interval: float = MIN_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.kube = kube
        self.model = model
        self.clock = clock
        self.interval, self.monotonic, self.sleep = interval, monotonic, sleep
        self._last_write: dict[PipelineKey, float] = {}
        self.written: dict[PipelineKey, dict[str, Any]] = {}
        self._dirty: set[PipelineKey] = set()
        self._writing: set[PipelineKey] = set()
        self._newest: dict[PipelineKey, tuple[datetime, str, RunRecord]] = {}
        """The newest run seen per Pipeline: lastRun outlives the run (retention deletes it)."""

    def summary(self, namespace: str, pipeline: str) -> tuple[int, RunRecord | None]:
        """(active runs, the most recent run) of a pipeline, from memory.

        The most recent run is remembered after retention deletes it, so LAST RUN does
        not go blank (or back to an older run); after a restart, with no run left, the
        stored status.lastRun is kept.
        """
        key = (namespace, pipeline)
        mine = list(self.model.runs_of_pipeline(namespace, pipeline))
        active = sum(1 for _, s in mine if s.active)
        newest = self._newest.get(key)
        if mine:
            name, latest = max(mine, key=lambda item: (item[1].created, item[0]))
            if newest is None or (latest.created, name) >= newest[:2]:
                record = RunRecord(
                    name=name,
                    phase=str(latest.phase) if latest.phase else None,
                    completed_at=latest.completed_at,
                )
                newest = self._newest[key] = (latest.created, name, record)
        if newest is not None:
            return active, newest[2]
        body = self.model.pipelines.get(key) or {}
        stored = (body.get("status") or {}).get("lastRun")
        return active, RunRecord.model_validate(stored) if stored else None

    async def changed(self, namespace: str, name: str) -> None:
        """Something the Pipeline's status shows may have changed: write it (coalesced)."""
        key = (namespace, name)
        self._dirty.add(key)
        if key in self._writing:
            return  # the write in flight writes once more when it is done
        self._writing.add(key)
        try:
            while key in self._dirty:
                last = self._last_write.get(key)
                if last is not None and (wait := last + self.interval - self.monotonic()) > 0:
                    await self.sleep(wait)  # changes meanwhile fold into this write
                self._dirty.discard(key)
                self._last_write[key] = self.monotonic()
                await self._write(namespace, name)
        finally:
            self._writing.discard(key)

    def forget(self, namespace: str, name: str) -> None:
        """The Pipeline was deleted."""
        self.written.pop((namespace, name), None)
        self._last_write.pop((namespace, name), None)
        self._dirty.discard((namespace, name))
        self._newest.pop((namespace, name), None)

    async def _write(self, namespace: str, name: str) -> None:
        body = self.model.pipelines.get((namespace, name))
        checked = self.model.validated(namespace, name)
        if body is None or checked is None:
            return
        active, last = self.summary(namespace, name)
        new = pipeline_status(
            body,
            active_runs=active,
            last_run=last,
            now=self.clock(),
            validated=(checked.spec, checked.reason, checked.message),
        )
        stored = self.written.get((namespace, name)) or body.get("status")
        if same_status(stored, new):
            return
        await self.kube.patch_status(PIPELINES, namespace, name, new)
        self.written[(namespace, name)] = new
        problem = newly_not_ready(stored, new)
        if problem is not None:
            # `kubectl describe pipeline` and `kubectl get events` say it too, once per
            # new problem (not per status write).
            involved = {
                "apiVersion": labels.API_VERSION,
                "kind": "Pipeline",
                "metadata": body["metadata"],
            }
            await self.kube.event(involved, "Warning", *problem)


def _ready(status: Mapping[str, Any] | None) -> Mapping[str, Any]:
    conditions = (status or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), {})


def newly_not_ready(
    stored: Mapping[str, Any] | None, new: Mapping[str, Any]
) -> tuple[str, str] | None:
    """(reason, message) when `new` says Ready=False with a problem `stored` did not say."""
    old, now = _ready(stored), _ready(new)
    if now.get("status") != "False":
        return None
    if (old.get("status"), old.get("reason"), old.get("message")) == (
        now.get("status"),
        now.get("reason"),
        now.get("message"),
    ):
        return None
    return str(now.get("reason") or "Invalid"), str(now.get("message") or "")
