"""Trigger schedules: which cron expressions and time zones Runwright accepts, and when they fire.

Everything about `spec.schedule` lives here: validation (`validate`) and the maths
(`next_fire`, `previous_fire`, `fires_between`). All of it is pure: times come in as
aware datetimes and go out as aware UTC datetimes; nothing reads a clock.

Kubernetes CronJobs take 5-field cron, so we do too: croniter would also accept a
6th (seconds) field, which a cluster-side schedule could never honour, and an `R`
(random) field, which would fire at different times in two operators.

Time zones and daylight saving time
-----------------------------------
A schedule is read in its IANA `timezone` (default UTC), on the wall clock. Most days
every wall-clock time happens exactly once and a fire is that instant. On the two
kinds of DST day Runwright does what Vixie cron and cronie do, which is what people
who have run cron expect. cronie splits entries into *wildcard* ones, whose minute or
hour field starts with `*` (`* * * * *`, `*/15 * * * *`, `30 * * * *`, `@hourly`), and
*fixed-time* ones (`30 2 * * *`, `0 9 * * 1-5`, `@daily`, `@weekly`, `@monthly`,
`@yearly`):

- Spring forward (a wall-clock range is skipped, e.g. 02:00-02:59 in Europe/Berlin
  on the last Sunday of March): a fixed-time fire inside the gap runs once, at the
  first instant after the gap (`30 2 * * *` fires at 03:00 CEST that day); several
  fixed-time fires inside the same gap become that one fire. A wildcard fire inside
  the gap does not run: the wall clock never shows that minute, and the schedule's
  next minute comes soon anyway (`30 * * * *` fires at 01:30 CET, then 03:30 CEST).
- Fall back (a wall-clock range happens twice, e.g. 02:00-02:59 in Europe/Berlin on
  the last Sunday of October): a fixed-time fire runs once, in the first pass
  (`30 2 * * *` fires at 02:30 CEST = 00:30 UTC, not again at 02:30 CET). A wildcard
  fire runs in both passes, because each pass is a new hour of elapsed time
  (`0 * * * *` fires at 02:00 CEST and 02:00 CET, an hour apart).

croniter 7 gets the gap right for fixed-time entries (it moves them to the end of
the gap) but runs fixed-time entries twice in the repeated hour and moves wildcard
fires out of the gap instead of dropping them; older croniter releases, which
pyproject allows, differ again. So croniter is used here only for what it is exact
at, matching naive wall-clock minutes against the expression, and this module maps
each wall-clock match to instants itself, with zoneinfo and PEP 495's `fold`.
cronie's special cases end at 3-hour (back) and 5-hour (forward) jumps; ours apply to
every offset change the tz database knows (DST, and the rare zone-rule changes).
Day of month and day of week follow cron: when both are restricted, either matches.

Bounds: no fire before `startTime`, none after `endTime` (both inclusive).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

from runwright.api.trigger import ScheduleConfig, TriggerSpec
from runwright.engine.dag import Problem, did_you_mean
from runwright.engine.reasons import ProblemReason

#: The @-macros a schedule may use instead of five fields, and what each means.
MACRO_FIELDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
MACROS = tuple(MACRO_FIELDS)
CRON_FIELDS = 5
_CRON_HELP = (
    'use 5 fields "minute hour day-of-month month day-of-week" (e.g. "0 2 * * *") '
    "or one of " + ", ".join(MACROS)
)
_MINUTE = timedelta(minutes=1)
_TICK = timedelta(microseconds=1)
#: croniter's `R` is random and `H` hashed: a fire time that differs between processes.
#: (Month and weekday names such as MAR or THU contain the letters, hence the shape.)
_NONDETERMINISTIC = re.compile(r"^[RH](\(|/|$)")


def expand(expression: str) -> str:
    """The five fields of an expression, with a macro replaced by what it means."""
    text = expression.strip()
    return MACRO_FIELDS.get(text, " ".join(text.split()))


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
    if any(_NONDETERMINISTIC.match(item) for f in fields for item in f.upper().split(",")):
        return (
            f'"{expression}" uses a random (R) or hashed (H) field, which would fire at '
            f"different times in different operators; {_CRON_HELP}"
        )
    try:
        matcher = croniter(text, datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError) as exc:
        detail = str(exc).replace(f"[{text}] ", "")
        return f'"{expression}" is not a valid cron expression ({detail}); {_CRON_HELP}'
    try:
        matcher.get_next(datetime)
    except CroniterBadDateError:
        return f'"{expression}" never fires: no date matches its day and month fields'
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
        problems.append(Problem(f"{field}.cron", cron, ProblemReason.INVALID_SCHEDULE))
    zone = check_timezone(schedule.timezone)
    if zone is not None:
        problems.append(Problem(f"{field}.timezone", zone, ProblemReason.UNKNOWN_TIMEZONE))
    start, end = schedule.start_time, schedule.end_time
    if start is not None and end is not None and end <= start:
        problems.append(
            Problem(
                f"{field}.endTime",
                "must be after startTime; swap them",
                ProblemReason.INVALID_SCHEDULE,
            )
        )
    return problems


def validate(spec: TriggerSpec) -> list[Problem]:
    """The schedule problems of a trigger (none when it has no schedule)."""
    if spec.schedule is None:
        return []
    return validate_schedule(spec.schedule)


# ----- the maths ---------------------------------------------------------------------------


def is_wildcard(expression: str) -> bool:
    """cronie's "wildcard entry": the minute or the hour field starts with `*`.

    Wildcard entries follow elapsed time across DST changes (both passes of a repeated
    hour, nothing in a skipped one); the others fire once per wall-clock match.
    """
    minute, hour = expand(expression).split()[:2]
    return minute.startswith("*") or hour.startswith("*")


@dataclass(frozen=True)
class _Cron:
    """A valid schedule ready for iteration (the caller validated it first)."""

    expression: str
    zone: zoneinfo.ZoneInfo
    wildcard: bool

    @classmethod
    def of(cls, schedule: ScheduleConfig) -> _Cron:
        fields = expand(schedule.cron)
        return cls(fields, zoneinfo.ZoneInfo(schedule.timezone), is_wildcard(fields))

    def wall(self, instant: datetime) -> datetime:
        """The naive wall-clock time of an instant in this zone."""
        return instant.astimezone(self.zone).replace(tzinfo=None)

    def passes(self, wall: datetime) -> tuple[datetime, datetime]:
        """The UTC instants of a wall-clock time read with fold=0 and fold=1 (PEP 495).

        Equal for an ordinary time; first < second when the time happens twice (fall
        back); first > second when it never happens (spring forward gap).
        """
        first = wall.replace(tzinfo=self.zone, fold=0).astimezone(UTC)
        second = wall.replace(tzinfo=self.zone, fold=1).astimezone(UTC)
        return first, second

    def instants(self, wall: datetime) -> list[datetime]:
        """The fires of one wall-clock match, by the DST rule in the module docstring."""
        first, second = self.passes(wall)
        if first == second:
            return [first]
        if first < second:  # repeated: fixed-time once (first pass), wildcard in both
            return [first, second] if self.wildcard else [first]
        if self.wildcard:  # skipped: a wildcard minute the clock never shows does not run
            return []
        return [self.gap_end(second, first)]

    def gap_end(self, before: datetime, after: datetime) -> datetime:
        """The first instant after a gap: the transition, between `before` and `after`.

        Transitions in the tz database are on whole seconds, so a bisection over seconds
        is exact (about 13 steps for a one-hour gap).
        """
        target = after.astimezone(self.zone).utcoffset()
        lo, hi = int(before.timestamp()), int(after.timestamp())
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if datetime.fromtimestamp(mid, self.zone).utcoffset() == target:
                hi = mid
            else:
                lo = mid
        return datetime.fromtimestamp(hi, UTC)

    def drop(self, wall: datetime) -> timedelta:
        """How long the repeated range around `wall` is (zero when `wall` is not repeated)."""
        first, second = self.passes(wall)
        return second - first if second > first else timedelta(0)

    def walk(self, wall: datetime, forward: bool) -> Iterator[list[datetime]]:
        """The fires of successive wall-clock matches from `wall` on (or back), grouped.

        Wall-clock order is instant order except inside a repeated range, where a
        wildcard schedule's second-pass fires interleave with its first-pass ones; so
        consecutive matches inside one repeated range come out as one sorted group.
        """
        minute = wall.replace(second=0, microsecond=0)
        matcher = croniter(self.expression, minute - _MINUTE if forward else minute + _MINUTE)
        step = matcher.get_next if forward else matcher.get_prev
        pending: datetime | None = None
        while True:
            try:
                current = pending if pending is not None else step(datetime)
            except CroniterBadDateError:
                return
            pending = None
            drop = self.drop(current)
            group = self.instants(current)
            while drop:
                try:
                    following = step(datetime)
                except CroniterBadDateError:
                    break
                if self.drop(following) and abs(following - current) < drop:
                    group += self.instants(following)
                else:
                    pending = following
                    break
            yield sorted(group, reverse=not forward)


def _ascending(cron: _Cron, after: datetime) -> Iterator[datetime]:
    """Every fire strictly after `after`, oldest first, without duplicates."""
    wall = cron.wall(after)
    start = wall
    if after.astimezone(cron.zone).fold == 0:
        # `after` is in the first pass of a repeated range (or an ordinary time): the
        # second pass of earlier wall times is still to come.
        start = wall - cron.drop(wall)
    last: datetime | None = None
    for group in cron.walk(start, forward=True):
        for fire in group:
            if fire > after and fire != last:
                last = fire
                yield fire


def _descending(cron: _Cron, at: datetime) -> Iterator[datetime]:
    """Every fire at or before `at`, newest first, without duplicates."""
    wall = cron.wall(at)
    start = wall
    if at.astimezone(cron.zone).fold == 1:
        # `at` is in the second pass: the first pass of later wall times already happened.
        start = wall + cron.drop(wall)
    last: datetime | None = None
    for group in cron.walk(start, forward=False):
        for fire in group:
            if fire <= at and fire != last:
                last = fire
                yield fire


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value.astimezone(UTC)


def next_fire(schedule: ScheduleConfig, after: datetime) -> datetime | None:
    """The first fire strictly after `after` within [startTime, endTime], or None (UTC)."""
    return next(iter(fires_between(schedule, after, None, 1)), None)


def previous_fire(schedule: ScheduleConfig, at: datetime) -> datetime | None:
    """The latest fire at or before `at` within [startTime, endTime], or None (UTC).

    What a trigger without catch-up runs after missing fires: only the most recent.
    """
    at = _aware(at, "at")
    if schedule.end_time is not None:
        at = min(at, schedule.end_time)
    fire = next(_descending(_Cron.of(schedule), at), None)
    if fire is None or (schedule.start_time is not None and fire < schedule.start_time):
        return None
    return fire


def fires_between(
    schedule: ScheduleConfig, after: datetime, until: datetime | None, limit: int
) -> list[datetime]:
    """The fires in (after, until] within [startTime, endTime], oldest first, at most `limit`.

    `until` None means no upper bound but the schedule's endTime; `limit` keeps a
    trigger that was down for a year on a minutely schedule from enumerating 500,000
    fires in one call (the caller continues from the last one it got).
    """
    after = _aware(after, "after")
    if schedule.start_time is not None and after < schedule.start_time:
        after = schedule.start_time - _TICK
    bounds = [t for t in (until, schedule.end_time) if t is not None]
    upper = min(_aware(t, "until") for t in bounds) if bounds else None
    fires: list[datetime] = []
    if limit <= 0 or (upper is not None and upper <= after):
        return fires
    for fire in _ascending(_Cron.of(schedule), after):
        if upper is not None and fire > upper:
            break
        fires.append(fire)
        if len(fires) >= limit:
            break
    return fires
