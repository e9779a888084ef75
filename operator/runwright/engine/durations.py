"""Durations as a human reads them: `0.4s`, `4.2s`, `12s`, `1m32s`, `1h02m`, `2d03h`.

One formatter for every place a person sees a duration (the local live view, the
summary table, and a status field a printer column can show), so the same run reads
the same everywhere. Pure: seconds in, text out. Two units at most, the larger one
first: precision a human does not need is noise in a table column.
"""

from __future__ import annotations

import math

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR


def human(seconds: float) -> str:
    """`seconds` in at most two units: `0s`, `4.2s`, `59s`, `1m32s`, `1h02m`, `2d03h`.

    Under 10 s one decimal is kept (a block's 0.4 s matters) unless the value is whole
    seconds (a status's durationSeconds reads `5s`); above, whole seconds rounded down. A negative or non-finite value (clock skew, a missing end) is `0s`.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        return "0s"
    if seconds < 10 and not float(seconds).is_integer():
        tenths = math.floor(seconds * 10) / 10
        return f"{tenths:.1f}s" if tenths < 10 else "10s"
    total = int(seconds)
    if total < _MINUTE:
        return f"{total}s"
    if total < _HOUR:
        return f"{total // _MINUTE}m{total % _MINUTE:02d}s"
    if total < _DAY:
        return f"{total // _HOUR}h{total % _HOUR // _MINUTE:02d}m"
    return f"{total // _DAY}d{total % _DAY // _HOUR:02d}h"
