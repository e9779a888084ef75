"""Trigger schedules: which cron expressions and time zones Runwright accepts.

Only validation lives here for now; the schedule maths (next fire, missed fires,
catch-up) will join it, so everything about `spec.schedule` stays in one module.
Kubernetes CronJobs take 5-field cron, so we do too: croniter would also accept a
6th (seconds) field, which a cluster-side schedule could never honour.
"""

from __future__ import annotations

import functools
import zoneinfo

from croniter import croniter
from croniter.croniter import CroniterError

from runwright.api.trigger import ScheduleConfig, TriggerSpec
from runwright.engine.dag import Problem, did_you_mean

#: The @-macros a schedule may use instead of five fields.
MACROS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")
CRON_FIELDS = 5
_CRON_HELP = (
    'use 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 2 * * *") '
    "or one of " + ", ".join(MACROS)
)


def check_cron(expression: str) -> str | None:
    """Why `expression` is not an accepted cron schedule, or None when it is."""
    text = expression.strip()
    if text.startswith("@"):
        if text in MACROS:
            return None
        return f'"{expression}" is not a supported macro; {_CRON_HELP}{did_you_mean(text, MACROS)}'
    fields = text.split()
    if len(fields) != CRON_FIELDS:
        extra = "; seconds are not supported" if len(fields) == CRON_FIELDS + 1 else ""
        return f'"{expression}" has {len(fields)} fields{extra}; {_CRON_HELP}'
    try:
        croniter(text)
    except (CroniterError, ValueError, KeyError) as exc:
        detail = str(exc).replace(f"[{text}] ", "")
        return f'"{expression}" is not a valid cron expression ({detail}); {_CRON_HELP}'
    return None


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str | None:
    """Why `name` is not an IANA time zone this machine knows, or None when it is."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, _zone_names())
        return f'"{name}" is not an IANA time zone; use a name such as Europe/Berlin or UTC{hint}'
    return None


def validate_schedule(schedule: ScheduleConfig, field: str = "spec.schedule") -> list[Problem]:
    """Every problem of one schedule block, each naming its field."""
    problems: list[Problem] = []
    cron = check_cron(schedule.cron)
    if cron is not None:
        problems.append(Problem(f"{field}.cron", cron, "InvalidSchedule"))
    zone = check_timezone(schedule.timezone)
    if zone is not None:
        problems.append(Problem(f"{field}.timezone", zone, "UnknownTimezone"))
    start, end = schedule.start_time, schedule.end_time
    if start is not None and end is not None and end <= start:
        problems.append(
            Problem(f"{field}.endTime", "must be after startTime; swap them", "InvalidSchedule")
        )
    return problems


def validate(spec: TriggerSpec) -> list[Problem]:
    """The schedule problems of a trigger (none when it has no schedule)."""
    if spec.schedule is None:
        return []
    return validate_schedule(spec.schedule)
