"""`runwright run --archive URL`: keep a local run in the run archive, as the operator would.

The finished PipelineRun (status with every attempt) and each attempt's process
output (the tail, as for pods) are written through `runwright.archive`, the one
code path the operator uses too. A local run has no Kubernetes uid or namespace:
it gets a fresh uid and the namespace `local`, so it never collides with a
cluster's runs in a shared archive.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from runwright.api.run import PipelineRun
from runwright.archive import DEFAULT_LOG_CAP, Archive
from runwright.engine.naming import attempt_name

#: The namespace local runs are archived under.
LOCAL_NAMESPACE = "local"


async def archive_local_run(
    url: str, run: PipelineRun, workdir: Path, *, log_cap: int = DEFAULT_LOG_CAP
) -> str:
    """Write the finished run, its attempts and their logs; returns the uid it got."""
    body = run.model_dump(by_alias=True, mode="json", exclude_none=True)
    meta = body.setdefault("metadata", {})
    meta["uid"] = meta.get("uid") or str(uuid.uuid4())
    meta["namespace"] = meta.get("namespace") or LOCAL_NAMESPACE
    archive = await Archive.open(url, log_cap=log_cap)
    try:
        records = await archive.record_run(body)
        for attempt in records.attempts:
            log = workdir / f"{attempt_name(records.run.name, attempt.block, attempt.attempt)}.log"
            if log.exists():
                data = log.read_bytes()  # a finished local run's logs: small files, at the end
                await archive.record_log(records.run.uid, attempt.block, attempt.attempt, data)
    finally:
        await archive.close()
    return str(meta["uid"])
