"""The CLI's exit statuses (API.md, "Local mode") and the error that maps to status 2."""

from __future__ import annotations

from typing import Final

from runwright.api.trigger import RunPhase

SUCCEEDED: Final = 0
FAILED: Final = 1
INVALID_INPUT: Final = 2
CANCELLED: Final = 3
#: A bug of ours rather than of the input (EX_SOFTWARE of sysexits.h).
INTERNAL_ERROR: Final = 70

BY_PHASE: Final = {
    RunPhase.SUCCEEDED: SUCCEEDED,
    RunPhase.FAILED: FAILED,
    RunPhase.CANCELLED: CANCELLED,
}


class InputError(Exception):
    """Bad input from the user: printed as one line, exit status 2, nothing runs."""
