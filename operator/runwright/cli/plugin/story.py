"""What happened in one run, from the cluster or the archive alike (PURE).

`get` and `timeline` read a `Story`: the run's record, every attempt of every
block, its Events in true order, and the blocks in DAG order. A PipelineRun body
goes through the archive's own mapping (`run_records`, `event_records`), so a
live run and an archived one are told the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runwright.archive import ItemAttemptRecord, RunDetail
from runwright.archive.records import (
    AttemptRecord,
    EventRecord,
    RunRecord,
    event_records,
    parse_time,
    run_records,
)
from runwright.cli.plugin import items as fan_out


@dataclass(frozen=True)
class BlockStory:
    """One block: its phase now, its attempts oldest first, what it reported."""

    name: str
    phase: str
    attempts: list[AttemptRecord]
    ready_at: datetime | None = None
    outputs: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Story:
    """One run told in full."""

    run: RunRecord
    blocks: list[BlockStory]
    events: list[EventRecord]
    archived: bool = False
    sla_seconds: int | None = None
    timeout_seconds: int | None = None
    sla_missed: bool = False
    timed_out: bool = False
    failed_block: str = ""
    progress: str = ""
    items: dict[str, fan_out.FanOutStory] = field(default_factory=dict)
    """The forEach blocks' items: counts, failed items, every attempt known."""


def dag_order(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    """Block names upstream-first, ties in the pipeline's order; a cycle (a run that never
    ran) leaves the remaining blocks in the pipeline's order."""
    names = [str(b.get("name")) for b in blocks]
    upstream = {str(b.get("name")): [str(u) for u in b.get("upstream") or ()] for b in blocks}
    done: list[str] = []
    placed: set[str] = set()
    progress = True
    while progress and len(done) < len(names):
        progress = False
        for name in names:
            if name not in placed and all(u in placed or u not in upstream for u in upstream[name]):
                done.append(name)
                placed.add(name)
                progress = True
                break
    return done + [n for n in names if n not in placed]


def _by_block(attempts: Iterable[AttemptRecord]) -> dict[str, list[AttemptRecord]]:
    grouped: dict[str, list[AttemptRecord]] = {}
    for attempt in sorted(attempts, key=lambda a: (a.block, a.attempt)):
        grouped.setdefault(attempt.block, []).append(attempt)
    return grouped


def from_body(body: Mapping[str, Any], events: Iterable[Mapping[str, Any]] = ()) -> Story:
    """A PipelineRun body (and its Events) as a story."""
    records = run_records(body)
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    frozen = status.get("pipelineSpec") or {}
    states: Mapping[str, Mapping[str, Any]] = status.get("blocks") or {}
    order = dag_order(list(frozen.get("blocks") or ())) or sorted(states)
    order += [name for name in sorted(states) if name not in order]
    attempts = _by_block(records.attempts)
    blocks = [
        BlockStory(
            name=name,
            phase=str((states.get(name) or {}).get("phase") or "Pending"),
            attempts=attempts.get(name, []),
            ready_at=parse_time((states.get(name) or {}).get("readyAt")),
            outputs=dict((states.get(name) or {}).get("outputs") or {}),
            metrics=dict((states.get(name) or {}).get("metrics") or {}),
        )
        for name in order
    ]
    return Story(
        run=records.run,
        blocks=blocks,
        events=sorted(event_records(records.run.uid, events), key=_event_order),
        sla_seconds=spec.get("slaSeconds") or frozen.get("slaSeconds"),
        timeout_seconds=spec.get("timeoutSeconds") or frozen.get("timeoutSeconds"),
        sla_missed=bool(status.get("slaMissed")),
        timed_out=bool(status.get("timedOut")),
        failed_block=str(status.get("failedBlock") or ""),
        progress=str(status.get("progress") or ""),
        items=fan_out.from_status(records.run.uid, states),
    )


def from_archive(detail: RunDetail, items: Iterable[ItemAttemptRecord] = ()) -> Story:
    """An archived run as a story: blocks in the order they first started (the archive
    keeps no pipeline spec), each block's phase its latest attempt's; `items` are its
    fan-out items' attempts (`runwright.archive.item_attempts`)."""
    attempts = _by_block(detail.attempts)
    names = list(detail.run.block_names.split())
    names += [n for n in attempts if n not in names]

    def first_start(name: str) -> tuple[bool, datetime | str]:
        starts = [a.started_at for a in attempts.get(name, []) if a.started_at is not None]
        return (not starts, min(starts) if starts else name)

    order = sorted(names, key=lambda n: (first_start(n)[0], str(first_start(n)[1]), n))
    blocks = [
        BlockStory(
            name=name,
            phase=attempts[name][-1].phase if attempts.get(name) else "NotRun",
            attempts=attempts.get(name, []),
            outputs=dict(detail.run.outputs.get(name) or {}),
            metrics=dict(attempts[name][-1].metrics) if attempts.get(name) else {},
        )
        for name in order
    ]
    return Story(
        run=detail.run,
        blocks=blocks,
        events=sorted(detail.events, key=_event_order),
        archived=True,
        items=fan_out.from_rows(items),
    )


def _event_order(event: EventRecord) -> tuple[str, str]:
    return (event.time.isoformat() if event.time else "", event.key)


def tail(message: str, lines: int = 3) -> str:
    """The last `lines` non-empty lines of a message (where an error shows)."""
    kept = [line.rstrip() for line in message.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])
