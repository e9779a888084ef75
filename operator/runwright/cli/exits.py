"""The CLI's exit statuses (API.md, "Local mode") and the error that maps to status 2."""

from __future__ import annotations

from typing import Final

SUCCEEDED: Final = 0
FAILED: Final = 1
INVALID_INPUT: Final = 2
CANCELLED: Final = 3
#: A bug of ours rather than of the input (EX_SOFTWARE of sysexits.h).
INTERNAL_ERROR: Final = 70

#: By a finished run's phase (RunPhase values: a StrEnum member finds its string; the
#: strings keep this module free of the API models, which `kubectl runwright` must not
#: pay for at start-up).
BY_PHASE: Final[dict[str, int]] = {
    "Succeeded": SUCCEEDED,
    "Failed": FAILED,
    "Cancelled": CANCELLED,
}


class InputError(Exception):
    """Bad input from the user: printed as one line, exit status 2, nothing runs."""
