"""The Events the planners emit: `kubectl describe` on a run or trigger is its history."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event on the run or trigger; `reason` is an `EventReason` (or a problem's)."""

    type: str
    reason: str
    message: str

    @classmethod
    def of(cls, reason: str, message: str, warning: bool = False) -> Event:
        """A Normal Event, or a Warning one for what a person should look at."""
        return cls("Warning" if warning else "Normal", reason, message)
