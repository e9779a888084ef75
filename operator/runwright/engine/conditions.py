"""Conditions, the Kubernetes way: one entry per type, its transition time kept until it flips.

One helper for every planner (run, trigger), so a condition means the same
everywhere: `lastTransitionTime` moves only when the status changes, and
`observedGeneration` says which spec the condition was computed from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from runwright.api.common import Condition, ConditionStatus


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    ok: bool,
    reason: str,
    message: str,
    *,
    now: datetime,
    generation: int | None,
) -> tuple[list[Condition], bool]:
    """(the new conditions, whether `type_` changed status: a transition worth an Event)."""
    status = ConditionStatus.TRUE if ok else ConditionStatus.FALSE
    old = next((c for c in conditions if c.type == type_), None)
    changed = old is None or old.status != status
    kept = [c for c in conditions if c.type != type_]
    kept.append(
        Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            last_transition_time=now if changed or old is None else old.last_transition_time,
            observed_generation=generation,
        )
    )
    return kept, changed


def is_true(conditions: Sequence[Condition], type_: str) -> bool:
    """True when a condition of `type_` exists with status True."""
    return any(c.type == type_ and c.status == ConditionStatus.TRUE for c in conditions)


def has(conditions: Sequence[Condition], type_: str) -> bool:
    """True when a condition of `type_` exists, whatever its status."""
    return any(c.type == type_ for c in conditions)
