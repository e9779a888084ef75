"""A run's row in the read model, made from its body or its planned step, and nothing more.

The row (readmodel.RunState) is all the operator keeps of a finished run: planning,
admission, triggers and the Pipeline's status read it, never the body. Built here so
that what a row holds is decided in one place: a few scalars, no reference into the
body (issue 17: 10,000 finished runs held at about 10 KB each, the body being 3-100
KB). Strings every row repeats (namespace, Pipeline, Trigger) are interned: 10,000
runs of one Pipeline share one string rather than holding 10,000 copies parsed from
10,000 bodies.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runwright.api.trigger import RunPhase
from runwright.controller.readmodel import RunState
from runwright.engine.concurrency import RunKey
from runwright.reconcile import Step, parse_time


def _interned(value: Any) -> str | None:
    """One shared copy of a string rows repeat; None for anything else (absent, not text)."""
    return sys.intern(value) if isinstance(value, str) else None


def run_key(meta: Mapping[str, Any]) -> RunKey:
    """(namespace, name) of a run, the namespace shared by every run of it."""
    return (sys.intern(meta["namespace"]), meta["name"])


def row_of_body(body: Mapping[str, Any], now: datetime) -> RunState:
    """The row of a run as the watch shows it (listed, added, changed by someone else)."""
    meta = body["metadata"]
    status = body.get("status") or {}
    spec = body.get("spec") or {}
    created = parse_time(meta.get("creationTimestamp")) or now
    completed = parse_time(status.get("completedAt"))
    execution = (
        parse_time(status.get("executionDate")) or parse_time(spec.get("executionDate")) or created
    )
    phase = status.get("phase")
    return RunState(
        pipeline=_interned((spec.get("pipelineRef") or {}).get("name")) or "",
        # One object when the times are equal (a run that did nothing): one less to keep.
        execution_date=completed if completed == execution else execution,
        created=created,
        phase=RunPhase(phase) if phase else None,
        completed_at=completed,
        trigger=_interned((spec.get("triggerRef") or {}).get("name")),
        triggered_by=_interned(spec.get("triggeredBy")),
        cancel=bool(spec.get("cancel")),
    )


def row_of_step(step: Step) -> RunState:
    """The row of a run its worker just planned (the status it is about to write)."""
    new, spec = step.result.status, step.spec
    return RunState(
        pipeline=sys.intern(spec.pipeline_ref.name),
        execution_date=new.execution_date or step.execution_date,
        created=step.created,
        phase=new.phase,
        completed_at=new.completed_at,
        trigger=_interned(step.run.trigger),
        triggered_by=sys.intern(str(spec.triggered_by)),
        cancel=spec.cancel,
    )


def retry_pending(body: Mapping[str, Any]) -> bool:
    """A finished run asked for an in-place retry not handled yet (spec.retry.id)."""
    request = (body.get("spec") or {}).get("retry")
    if not isinstance(request, Mapping):
        return False
    return request.get("id") != (body.get("status") or {}).get("retryId")


def notifications_pending(body: Mapping[str, Any]) -> bool:
    """A finished run with a notification still to send or to settle (status.notifications)."""
    entries = (body.get("status") or {}).get("notifications") or []
    return any(isinstance(e, Mapping) and e.get("state") in ("Pending", "Sending") for e in entries)


def same_spec(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """The same Pipeline spec: by generation when the API server gave one, else by value."""
    before = (old.get("metadata") or {}).get("generation")
    after = (new.get("metadata") or {}).get("generation")
    if before is not None and after is not None:
        return bool(before == after)
    return bool(old.get("spec") == new.get("spec"))
