"""One row per run, the same whether it came from the cluster or from the archive (PURE).

Every listing, export and bulk action works on `RunRow`s: a PipelineRun body and an
archived run map to the same fields, so filters, sorts and columns are written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from runwright import labels

if TYPE_CHECKING:  # the archive (SQLAlchemy, Alembic) is imported only when it is used
    from runwright.archive import ArchivedRun

#: status.metrics keys of the ITEMS, COST and TOKENS columns: the archive's own
#: (runwright.archive.records; a unit test holds them equal, without importing the
#: archive on every command).
ITEMS_PROCESSED, COST, TOKENS = "itemsProcessed", "cost", "tokens"

#: The three phases a run ends in.
FINISHED = frozenset({"Succeeded", "Failed", "Cancelled"})


@dataclass(frozen=True)
class RunRow:
    """What the plugin shows of a run; `archived` marks a run only the archive still has."""

    namespace: str
    name: str
    uid: str
    pipeline: str
    phase: str
    reason: str = ""
    message: str = ""
    progress: str = ""
    trigger: str = ""
    triggered_by: str = ""
    created: datetime | None = None
    started: datetime | None = None
    completed: datetime | None = None
    duration_seconds: int | None = None
    items: float | None = None
    cost: float | None = None
    tokens: float | None = None
    failed_block: str = ""
    block_names: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    archived: bool = False

    @property
    def finished(self) -> bool:
        """True once the run is Succeeded, Failed or Cancelled."""
        return self.phase in FINISHED

    @property
    def key(self) -> tuple[str, str]:
        """(namespace, name): how a user names a run."""
        return (self.namespace, self.name)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from the API server as an aware datetime (None when absent)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _number(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def from_body(body: Mapping[str, Any]) -> RunRow:
    """A PipelineRun body as the API server returns it (status may be absent)."""
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    metrics = status.get("metrics") or {}
    run_labels = dict(meta.get("labels") or {})
    started = parse_time(status.get("startedAt"))
    completed = parse_time(status.get("completedAt"))
    duration = status.get("durationSeconds")
    if duration is None and started is not None and completed is not None:
        duration = int((completed - started).total_seconds())
    return RunRow(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        pipeline=str((spec.get("pipelineRef") or {}).get("name") or ""),
        phase=str(status.get("phase") or "Pending"),
        reason=str(status.get("reason") or ""),
        message=str(status.get("message") or ""),
        progress=str(status.get("progress") or ""),
        trigger=str(
            (spec.get("triggerRef") or {}).get("name") or run_labels.get(labels.TRIGGER, "")
        ),
        triggered_by=str(spec.get("triggeredBy") or "Manual"),
        created=parse_time(meta.get("creationTimestamp")),
        started=started,
        completed=completed,
        duration_seconds=None if duration is None else int(duration),
        items=_number(metrics, ITEMS_PROCESSED),
        cost=_number(metrics, COST),
        tokens=_number(metrics, TOKENS),
        failed_block=str(status.get("failedBlock") or ""),
        block_names=tuple(sorted(status.get("blocks") or {})),
        labels=run_labels,
    )


def from_archived(run: ArchivedRun) -> RunRow:
    """A run as the archive keeps it (its CR may be gone)."""
    run_labels = {labels.PIPELINE: run.pipeline, labels.PHASE: run.phase}
    if run.trigger:
        run_labels[labels.TRIGGER] = run.trigger
    return RunRow(
        namespace=run.namespace,
        name=run.name,
        uid=run.uid,
        pipeline=run.pipeline,
        phase=run.phase,
        reason=run.reason,
        message=run.message,
        trigger=run.trigger or "",
        triggered_by=run.triggered_by,
        created=run.created_at,
        started=run.started_at,
        completed=run.completed_at,
        duration_seconds=run.duration_seconds,
        items=run.items_processed,
        cost=run.cost,
        tokens=run.tokens,
        block_names=tuple(run.block_names.split()),
        labels=run_labels,
        archived=True,
    )
