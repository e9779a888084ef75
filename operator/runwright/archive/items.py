"""PURE mapping of a fan-out's items to archive rows: one row per item attempt.

A forEach block's status is bounded (api/fanout.py): one letter, attempt number and
outputs per item, full detail only for the items in flight and the first failed
ones. The archive keeps every item: `status_item_attempts` makes each item's latest
attempt's row from that status, the archiver adds the rows its pods tell (every
attempt whose pod it sees, earlier failed ones included, with times and exit codes),
and `merge` lays the status's word (the engine's verdict: reason, outputs) over the
pod's. No I/O, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runwright.archive.records import DEFAULT_LOG_CAP, log_record, parse_time

#: Item letters (FanOutStatus.phases) to the phase of the item's latest attempt. Pending
#: after an in-place retry still carries the previous attempt's number, not its outcome.
_ATTEMPT_PHASE_OF_LETTER = {
    "R": "Running",
    "W": "Failed",  # the attempt failed; the item waits for its next one
    "S": "Succeeded",
    "F": "Failed",
    "C": "Cancelled",
}
#: Block phases after which every item has its last attempt: the items are archived then.
ENDED = frozenset({"Succeeded", "Failed", "Cancelled"})


@dataclass(frozen=True)
class ItemAttemptRecord:
    """One attempt of one item, keyed (run uid, block, item, attempt)."""

    run_uid: str
    block: str
    item: int
    attempt: int
    phase: str
    reason: str = ""
    message: str = ""
    exit_code: int | None = None
    job: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    outputs: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def key(self) -> tuple[int, int]:
        """(item, attempt) inside its block."""
        return (self.item, self.attempt)


@dataclass(frozen=True)
class ItemLogRecord:
    """The stored tail of one item attempt's log."""

    run_uid: str
    block: str
    item: int
    attempt: int
    text: str
    truncated: bool
    size: int


def ended_fan_outs(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The forEach blocks of a PipelineRun body whose items are all done (block ended),
    each with its end (`<phase>/<completedAt>`): an in-place retry that runs the block
    again ends it anew, and its new item attempts are archived then."""
    blocks: Mapping[str, Mapping[str, Any]] = (body.get("status") or {}).get("blocks") or {}
    return sorted(
        (name, f"{state.get('phase')}/{state.get('completedAt') or ''}")
        for name, state in blocks.items()
        if state.get("items") is not None and str(state.get("phase")) in ENDED
    )


def status_item_attempts(
    run_uid: str, block: str, items: Mapping[str, Any]
) -> Iterator[ItemAttemptRecord]:
    """Each item's latest attempt as the block's `items` status tells it, in item order.

    Items never started (attempt 0, or Pending) have no row. Detail (reason, message,
    exit code, times, job) comes from the `active`/`failed` entry of that attempt when
    the status kept one; outputs from `outputs[i]` when the item succeeded.
    """
    phases = str(items.get("phases") or "")
    attempts: list[Any] = list(items.get("attempts") or ())
    outputs: list[Any] = list(items.get("outputs") or ())
    detail = {
        int(e["index"]): e
        for e in (*(items.get("failed") or ()), *(items.get("active") or ()))
        if isinstance(e, Mapping) and isinstance(e.get("index"), int)
    }
    for index, letter in enumerate(phases):
        number = int(attempts[index]) if index < len(attempts) else 0
        phase = _ATTEMPT_PHASE_OF_LETTER.get(letter)
        if number < 1 or phase is None:
            continue
        entry = detail.get(index) or {}
        if entry.get("attempt") != number:
            entry = {}
        given = outputs[index] if letter == "S" and index < len(outputs) else None
        yield ItemAttemptRecord(
            run_uid=run_uid,
            block=block,
            item=index,
            attempt=number,
            phase=phase,
            reason=str(entry.get("reason") or ""),
            message=str(entry.get("message") or ""),
            exit_code=entry.get("exitCode"),
            job=entry.get("job"),
            started_at=parse_time(entry.get("startedAt")),
            completed_at=parse_time(entry.get("completedAt")),
            outputs=dict(given) if isinstance(given, Mapping) else {},
        )


def merge(seen: ItemAttemptRecord | None, told: ItemAttemptRecord) -> ItemAttemptRecord:
    """The status's row over the pod's: what the status says wins, the pod fills the gaps.

    The status carries the engine's verdict (a Timeout, OutputsTooLarge, the outputs it
    kept); the pod carries what the status forgets (times, exit code, the message of an
    item that failed past the first ITEM_DETAIL).
    """
    if seen is None:
        return told
    changes = {
        f.name: getattr(told, f.name)
        for f in dataclasses.fields(told)
        if getattr(told, f.name) not in (None, "", {})
    }
    return dataclasses.replace(seen, **changes)


def item_log_record(
    run_uid: str,
    block: str,
    item: int,
    attempt: int,
    log: str | bytes,
    cap: int = DEFAULT_LOG_CAP,
) -> ItemLogRecord:
    """Keep the last `cap` bytes of an item attempt's log (as `log_record` does)."""
    plain = log_record(run_uid, block, attempt, log, cap)
    return ItemLogRecord(
        run_uid=run_uid,
        block=block,
        item=item,
        attempt=attempt,
        text=plain.text,
        truncated=plain.truncated,
        size=plain.size,
    )
