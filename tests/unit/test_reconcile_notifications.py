"""The one reconcile's notification steps (runwright/deliveries.py) when a status write fails.

A lost write of the outcome must not turn a delivered message into an "interrupted"
one, nor send it again: the worker keeps the outcome in memory and writes it on the
next reconcile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runwright.api.notifications import NotificationState
from runwright.api.pipeline import Pipeline
from runwright.executors.local import LocalExecutor
from runwright.executors.localrun import OneRun, new_run
from runwright.manifests import load_text
from runwright.notifier import EnvSecrets, Notifier
from runwright.reconcile import NoLimits, Reconciler, Worker
from runwright.store import MemoryStore
from tests.receiver import receiver

PIPELINE = """
apiVersion: runwright.dev/v1alpha1
kind: Pipeline
metadata: {name: breaks}
spec:
  notifications:
  - "on": [Failed]
    webhook: {urlSecretRef: {name: hooks, key: url}}
  blocks:
  - {name: load, command: [python3, -c, "raise SystemExit(1)"]}
"""


class LosesOneOutcome(MemoryStore):
    """A store whose first write of a Sent outcome fails, as an API server outage would."""

    lost = False

    async def patch_status(self, namespace: str, name: str, patch: Mapping[str, Any]) -> str | None:
        entries = patch.get("notifications") or []
        if not self.lost and any(e.get("state") == "Sent" for e in entries):
            self.lost = True
            raise ConnectionError("the API server is unavailable")
        return await super().patch_status(namespace, name, patch)


async def test_an_outcome_whose_write_failed_is_written_later_not_resent(tmp_path: Path) -> None:
    loaded = load_text(PIPELINE, "breaks.yaml")
    pipeline = loaded.manifests[0].resource
    assert isinstance(pipeline, Pipeline)
    run = new_run(pipeline, {}, "breaks-1", datetime.now(UTC))
    body = run.model_dump(by_alias=True, mode="json", exclude_none=True)
    store = LosesOneOutcome(body, pipeline.spec)
    executor = LocalExecutor(tmp_path)
    reconciler = Reconciler(store, OneRun(executor), NoLimits())
    worker = Worker(key=("", "breaks-1"), body=body)
    with receiver() as r:
        reconciler.notifier = Notifier(EnvSecrets({"RUNWRIGHT_SECRET_HOOKS_URL": r.url()}))
        try:
            for _ in range(50):
                step = await reconciler.step(worker)
                assert step is not None
                try:
                    await reconciler.apply(worker, step)
                except ConnectionError:
                    continue  # the operator's worker retries a failed reconcile
                stored = (store.body.get("status") or {}).get("notifications") or []
                if stored and stored[0]["state"] in ("Sent", "Failed"):
                    break
                await asyncio.wait_for(executor.wait(), timeout=30)
        finally:
            await executor.close()
            await reconciler.notifier.close()
        count = len(r.received)
    assert store.lost
    (entry,) = store.body["status"]["notifications"]
    assert entry["state"] == NotificationState.SENT and entry["attempts"] == 1
    assert count == 1
