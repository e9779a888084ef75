"""PipelineRun bodies as the API server returns them, for the archive tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def rfc3339(when: datetime | None) -> str | None:
    """A time the way the API server writes it."""
    return None if when is None else when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run_body(
    uid: str,
    *,
    name: str | None = None,
    namespace: str = "data",
    pipeline: str = "daily-etl",
    trigger: str | None = None,
    triggered_by: str = "Manual",
    phase: str = "Succeeded",
    started: datetime | None = T0,
    seconds: int | None = 60,
    message: str = "",
    metrics: dict[str, float] | None = None,
    blocks: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A PipelineRun body; finished phases get completedAt = started + seconds."""
    finished = phase in ("Succeeded", "Failed", "Cancelled")
    completed = (
        started + timedelta(seconds=seconds)
        if finished and started and seconds is not None
        else None
    )
    spec: dict[str, Any] = {"pipelineRef": {"name": pipeline}, "triggeredBy": triggered_by}
    if trigger:
        spec["triggerRef"] = {"name": trigger}
    return {
        "apiVersion": "runwright.dev/v1alpha1",
        "kind": "PipelineRun",
        "metadata": {
            "uid": uid,
            "name": name or f"{pipeline}-{uid}",
            "namespace": namespace,
            "creationTimestamp": rfc3339(started or T0),
        },
        "spec": spec,
        "status": {
            "phase": phase,
            "message": message,
            "startedAt": rfc3339(started),
            "completedAt": rfc3339(completed),
            "durationSeconds": seconds if completed else None,
            "variables": {"env": "prod"},
            "metrics": metrics or {},
            "blocks": blocks
            if blocks is not None
            else {"extract": {"phase": "Succeeded", "attempt": 1, "exitCode": 0}},
        },
    }
