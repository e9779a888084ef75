"""PURE mapping from what the API server returns to archive rows: no I/O, no clock.

A PipelineRun body (the dict, status included) becomes one run record and one
record per block attempt; Kubernetes Events and attempt logs become theirs.
Field names of the records are the archive's column names, so the store writes
them as they are.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runwright import labels

#: Block phases in which the block's latest attempt has really run (or runs now).
#: Pending/Queued after an in-place retry still carry the previous attempt's number,
#: but not its outcome: that attempt's row is left as it was archived.
_ATTEMPT_PHASE_OF_BLOCK = {
    "Running": "Running",
    "Retrying": "Failed",  # the attempt failed; the block waits for the next one
    "Succeeded": "Succeeded",
    "Failed": "Failed",
    "Cancelled": "Cancelled",
}

#: status.metrics keys that get their own sortable columns.
ITEMS_PROCESSED, COST, TOKENS = "itemsProcessed", "cost", "tokens"

#: The default cap on a stored log: its last 1 MiB.
DEFAULT_LOG_CAP = 1 << 20


@dataclass(frozen=True)
class RunRecord:
    """The archive's row for one run (everything but archived_at, which the store sets)."""

    uid: str
    namespace: str
    name: str
    pipeline: str
    pipeline_generation: int | None
    trigger: str | None
    triggered_by: str
    phase: str
    reason: str
    message: str
    block_names: str
    variables: dict[str, Any]
    outputs: dict[str, Any]
    metrics: dict[str, Any]
    items_processed: float | None
    cost: float | None
    tokens: float | None
    execution_date: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: int | None

    @property
    def finished(self) -> bool:
        """True in the three phases a run ends in."""
        return self.phase in ("Succeeded", "Failed", "Cancelled")


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt of one block, keyed (run uid, block, attempt)."""

    run_uid: str
    block: str
    attempt: int
    phase: str
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    job: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class EventRecord:
    """A Kubernetes Event about a run, keyed (run uid, key)."""

    run_uid: str
    key: str
    time: datetime | None
    type: str
    reason: str
    message: str
    count: int


@dataclass(frozen=True)
class LogRecord:
    """The stored tail of one attempt's log."""

    run_uid: str
    block: str
    attempt: int
    text: str
    truncated: bool
    size: int


@dataclass(frozen=True)
class RunRecords:
    """Everything one PipelineRun body maps to."""

    run: RunRecord
    attempts: tuple[AttemptRecord, ...]


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 time from the API server (or a datetime) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _number(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def run_records(body: Mapping[str, Any]) -> RunRecords:
    """Map a PipelineRun body to its run row and one row per block attempt.

    status.blocks holds each block's latest attempt; a per-attempt history list
    (`status.blocks.NAME.attempts`) adds the earlier ones when present, and the
    latest attempt's full status (outputs, metrics, job, message) wins over its
    history entry where both say something.
    """
    meta = body.get("metadata") or {}
    spec = body.get("spec") or {}
    status = body.get("status") or {}
    uid = str(meta["uid"])
    blocks: Mapping[str, Mapping[str, Any]] = status.get("blocks") or {}
    metrics = dict(status.get("metrics") or {})
    started = parse_time(status.get("startedAt"))
    completed = parse_time(status.get("completedAt"))
    duration = status.get("durationSeconds")
    if duration is None and started and completed:
        duration = int((completed - started).total_seconds())
    trigger_ref = spec.get("triggerRef") or {}
    run = RunRecord(
        uid=uid,
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta["name"]),
        pipeline=str((spec.get("pipelineRef") or {}).get("name", "")),
        pipeline_generation=status.get("pipelineGeneration"),
        trigger=trigger_ref.get("name") or (meta.get("labels") or {}).get(labels.TRIGGER),
        triggered_by=str(spec.get("triggeredBy") or "Manual"),
        phase=str(status.get("phase") or "Pending"),
        reason=str(status.get("reason") or ""),
        message=str(status.get("message") or ""),
        block_names=f" {' '.join(sorted(blocks))} " if blocks else "",
        variables=dict(status.get("variables") or spec.get("variables") or {}),
        outputs={name: dict(b["outputs"]) for name, b in blocks.items() if b.get("outputs")},
        metrics=metrics,
        items_processed=_number(metrics, ITEMS_PROCESSED),
        cost=_number(metrics, COST),
        tokens=_number(metrics, TOKENS),
        execution_date=parse_time(status.get("executionDate") or spec.get("executionDate")),
        created_at=parse_time(meta.get("creationTimestamp")),
        started_at=started,
        completed_at=completed,
        duration_seconds=None if duration is None else int(duration),
    )
    attempts: dict[tuple[str, int], AttemptRecord] = {}
    for block, state in blocks.items():
        for entry in state.get("attempts") or ():
            number = int(entry.get("attempt") or 0)
            if number >= 1:
                attempts[(block, number)] = _attempt(uid, block, number, entry, entry.get("phase"))
        number = int(state.get("attempt") or 0)
        phase = _ATTEMPT_PHASE_OF_BLOCK.get(str(state.get("phase")))
        if number >= 1 and phase is not None:
            # The latest attempt's full status wins; its history entry fills the gaps.
            known: Mapping[str, Any] = next(
                (e for e in state.get("attempts") or () if e.get("attempt") == number), {}
            )
            given = {key: value for key, value in state.items() if value not in (None, "", {})}
            attempts[(block, number)] = _attempt(uid, block, number, {**known, **given}, phase)
    return RunRecords(run=run, attempts=tuple(attempts[k] for k in sorted(attempts)))


def _attempt(
    uid: str, block: str, number: int, state: Mapping[str, Any], phase: Any
) -> AttemptRecord:
    return AttemptRecord(
        run_uid=uid,
        block=block,
        attempt=number,
        phase=str(phase or "Pending"),
        reason=str(state.get("reason") or ""),
        message=str(state.get("message") or ""),
        exit_code=state.get("exitCode"),
        job=state.get("job"),
        started_at=parse_time(state.get("startedAt")),
        completed_at=parse_time(state.get("completedAt")),
        outputs=dict(state.get("outputs") or {}),
        metrics=dict(state.get("metrics") or {}),
    )


def event_records(run_uid: str, events: Iterable[Mapping[str, Any]]) -> list[EventRecord]:
    """Map Kubernetes Events (core/v1 or events.k8s.io/v1 bodies) to archive rows.

    The key is the Event's uid when it has one, else a digest of its content, so
    writing the same Events again never doubles them; a repeated Event (its count
    grown) updates its row.
    """
    records = []
    for event in events:
        meta = event.get("metadata") or {}
        time = parse_time(
            event.get("lastTimestamp")
            or event.get("eventTime")
            or event.get("firstTimestamp")
            or meta.get("creationTimestamp")
        )
        reason = str(event.get("reason") or "")
        message = str(event.get("message") or event.get("note") or "")
        key = (
            meta.get("uid")
            or hashlib.sha256(
                f"{time.isoformat() if time else ''}\0{reason}\0{message}".encode()
            ).hexdigest()[:32]
        )
        records.append(
            EventRecord(
                run_uid=run_uid,
                key=str(key),
                time=time,
                type=str(event.get("type") or "Normal"),
                reason=reason,
                message=message,
                count=int(event.get("count") or (event.get("series") or {}).get("count") or 1),
            )
        )
    return records


def log_record(
    run_uid: str, block: str, attempt: int, log: str | bytes, cap: int = DEFAULT_LOG_CAP
) -> LogRecord:
    """Keep the last `cap` bytes of a log (the end is where a failure shows)."""
    data = log.encode() if isinstance(log, str) else log
    tail = data[-cap:] if cap > 0 else b""
    cut = len(tail) < len(data)
    # A cut may split a UTF-8 sequence: drop its broken lead bytes. NUL cannot be
    # stored in PostgreSQL text, and is no use in a log read by people.
    text = tail.decode(errors="ignore" if cut else "replace").replace("\x00", "")
    return LogRecord(
        run_uid=run_uid,
        block=block,
        attempt=attempt,
        text=text,
        truncated=cut,
        size=len(data),
    )
