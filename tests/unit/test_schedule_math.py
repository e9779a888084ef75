"""When a schedule fires (engine.schedule): time zones, DST days, month ends, leap years, bounds."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import given, settings
from hypothesis import strategies as st

from runwright.api.trigger import ScheduleConfig
from runwright.engine import schedule

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def sched(cron: str, timezone: str = "UTC", **fields: object) -> ScheduleConfig:
    return ScheduleConfig.model_validate({"cron": cron, "timezone": timezone, **fields})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def local(timezone: str, *args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(timezone), fold=fold).astimezone(UTC)  # type: ignore[misc,arg-type]


def fires(s: ScheduleConfig, after: datetime, count: int) -> list[datetime]:
    return schedule.fires_between(s, after, None, count)


# ----- ordinary days -----------------------------------------------------------------------


def test_a_daily_fire_is_read_on_the_wall_clock_of_its_timezone() -> None:
    s = sched("0 2 * * *", BERLIN)
    assert fires(s, utc(2026, 1, 10), 2) == [utc(2026, 1, 10, 1), utc(2026, 1, 11, 1)]
    summer = fires(s, utc(2026, 7, 9, 12), 1)
    assert summer == [utc(2026, 7, 10, 0)]  # CEST is UTC+2


def test_results_are_aware_utc_datetimes() -> None:
    fire = schedule.next_fire(sched("0 9 * * *", "Asia/Kolkata"), utc(2026, 5, 1))
    assert fire == utc(2026, 5, 1, 3, 30)
    assert fire is not None and fire.tzinfo is UTC


def test_a_timezone_ahead_of_utc_fires_on_the_previous_utc_day() -> None:
    fire = schedule.next_fire(sched("0 0 1 * *", "Pacific/Auckland"), utc(2026, 6, 1))
    assert fire == utc(2026, 6, 30, 12)  # midnight July 1st NZST (UTC+12)


def test_next_fire_is_strictly_after_the_given_instant() -> None:
    s = sched("0 2 * * *")
    assert schedule.next_fire(s, utc(2026, 1, 1, 2)) == utc(2026, 1, 2, 2)
    assert schedule.next_fire(s, utc(2026, 1, 1, 1, 59, 59)) == utc(2026, 1, 1, 2)


def test_previous_fire_includes_the_given_instant() -> None:
    s = sched("0 2 * * *")
    assert schedule.previous_fire(s, utc(2026, 1, 1, 2)) == utc(2026, 1, 1, 2)
    assert schedule.previous_fire(s, utc(2026, 1, 1, 1, 59)) == utc(2025, 12, 31, 2)


def test_fires_between_is_after_exclusive_until_inclusive_and_limited() -> None:
    s = sched("0 * * * *")
    got = schedule.fires_between(s, utc(2026, 1, 1, 0), utc(2026, 1, 1, 3), 10)
    assert got == [utc(2026, 1, 1, 1), utc(2026, 1, 1, 2), utc(2026, 1, 1, 3)]
    assert schedule.fires_between(s, utc(2026, 1, 1, 0), utc(2026, 1, 1, 3), 2) == got[:2]
    assert schedule.fires_between(s, utc(2026, 1, 1, 3), utc(2026, 1, 1, 0), 10) == []


@pytest.mark.parametrize(
    ("macro", "after", "expected"),
    [
        ("@hourly", utc(2026, 3, 1, 10, 5), utc(2026, 3, 1, 11)),
        ("@daily", utc(2026, 3, 1, 10), utc(2026, 3, 2)),
        ("@weekly", utc(2026, 3, 4), utc(2026, 3, 8)),  # Sunday
        ("@monthly", utc(2026, 3, 4), utc(2026, 4, 1)),
        ("@yearly", utc(2026, 3, 4), utc(2027, 1, 1)),
    ],
)
def test_the_macros_mean_what_cron_means(macro: str, after: datetime, expected: datetime) -> None:
    assert schedule.next_fire(sched(macro), after) == expected


def test_yearly_in_a_timezone_fires_at_local_new_year() -> None:
    assert fires(sched("@yearly", NEW_YORK), utc(2026, 6, 1), 2) == [
        utc(2027, 1, 1, 5),
        utc(2028, 1, 1, 5),
    ]


# ----- month ends and leap years ---------------------------------------------------------------


def test_the_31st_fires_only_in_months_that_have_one() -> None:
    got = fires(sched("0 0 31 * *"), utc(2026, 1, 1), 7)
    assert [(f.month, f.day) for f in got] == [
        (1, 31),
        (3, 31),
        (5, 31),
        (7, 31),
        (8, 31),
        (10, 31),
        (12, 31),
    ]


def test_february_29th_fires_only_in_leap_years() -> None:
    got = fires(sched("0 0 29 2 *"), utc(2025, 1, 1), 3)
    assert got == [utc(2028, 2, 29), utc(2032, 2, 29), utc(2036, 2, 29)]


def test_2100_is_not_a_leap_year() -> None:
    got = fires(sched("0 0 29 2 *"), utc(2096, 3, 1), 1)
    assert got == [utc(2104, 2, 29)]


def test_day_of_month_and_day_of_week_both_restricted_fire_on_either() -> None:
    # cron's rule: "the 13th, or any Friday".
    got = fires(sched("0 0 13 * 5"), utc(2026, 2, 1), 4)
    assert [f.day for f in got] == [6, 13, 20, 27]


def test_a_date_that_never_exists_is_an_invalid_schedule() -> None:
    problem = schedule.check_cron("0 0 30 2 *")
    assert problem is not None and "never fires" in problem


@pytest.mark.parametrize("cron", ["R 2 * * *", "H 2 * * *", "0 H/4 * * *"])
def test_random_and_hashed_fields_are_rejected(cron: str) -> None:
    problem = schedule.check_cron(cron)
    assert problem is not None and "random (R) or hashed (H)" in problem


def test_month_and_weekday_names_are_not_mistaken_for_hashed_fields() -> None:
    assert schedule.check_cron("0 0 * MAR THU") is None


# ----- DST: spring forward ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "day", "gap_end"),
    [
        (BERLIN, (2026, 3, 29), utc(2026, 3, 29, 1)),  # 02:00 CET -> 03:00 CEST
        (NEW_YORK, (2026, 3, 8), utc(2026, 3, 8, 7)),  # 02:00 EST -> 03:00 EDT
    ],
)
def test_a_fixed_time_fire_in_the_skipped_hour_runs_once_when_the_gap_ends(
    timezone: str, day: tuple[int, int, int], gap_end: datetime
) -> None:
    s = sched("30 2 * * *", timezone)
    day_before = local(timezone, *day) - timedelta(days=1)
    got = fires(s, day_before, 3)
    assert got[0] == local(timezone, *day) - timedelta(days=1) + timedelta(hours=2, minutes=30)
    assert got[1] == gap_end
    assert got[1].astimezone(ZoneInfo(timezone)).strftime("%H:%M") == "03:00"
    assert got[2].astimezone(ZoneInfo(timezone)).strftime("%H:%M") == "02:30"


def test_several_fixed_time_fires_in_the_gap_become_one() -> None:
    # "0,30 2" and "0 3": 02:00, 02:30 and 03:00 are all the instant the gap ends.
    got = fires(sched("0,30 2,3 * * *", BERLIN), utc(2026, 3, 28, 12), 3)
    assert got == [utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0)]


def test_a_wildcard_fire_in_the_skipped_hour_does_not_run() -> None:
    got = fires(sched("30 * * * *", BERLIN), utc(2026, 3, 28, 23), 3)
    walls = [f.astimezone(ZoneInfo(BERLIN)).strftime("%H:%M") for f in got]
    assert walls == ["00:30", "01:30", "03:30"]


def test_hourly_across_spring_forward_has_one_hour_between_fires() -> None:
    got = fires(sched("@hourly", NEW_YORK), local(NEW_YORK, 2026, 3, 8, 0, 30), 3)
    assert got == [utc(2026, 3, 8, 6), utc(2026, 3, 8, 7), utc(2026, 3, 8, 8)]


def test_a_half_hour_gap_is_handled_like_an_hour() -> None:
    # Lord Howe Island moves from +10:30 to +11 at 02:00 on the first Sunday of October.
    got = fires(sched("15 2 * * *", "Australia/Lord_Howe"), utc(2026, 10, 3, 0), 1)
    assert got[0].astimezone(ZoneInfo("Australia/Lord_Howe")).strftime("%H:%M") == "02:30"


# ----- DST: fall back ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "cron", "day", "first_pass"),
    [
        (BERLIN, "30 2 * * *", (2026, 10, 25), utc(2026, 10, 25, 0, 30)),  # 02:30 CEST
        (NEW_YORK, "30 1 * * *", (2026, 11, 1), utc(2026, 11, 1, 5, 30)),  # 01:30 EDT
    ],
)
def test_a_fixed_time_fire_in_the_repeated_hour_runs_once_in_the_first_pass(
    timezone: str, cron: str, day: tuple[int, int, int], first_pass: datetime
) -> None:
    got = fires(sched(cron, timezone), local(timezone, *day) - timedelta(hours=12), 2)
    assert got[0] == first_pass
    assert got[1] - got[0] == timedelta(hours=25)  # the next day, in standard time


def test_a_wildcard_fire_in_the_repeated_hour_runs_in_both_passes() -> None:
    got = fires(sched("0 * * * *", BERLIN), utc(2026, 10, 24, 23, 30), 4)
    assert got == [
        utc(2026, 10, 25, 0),
        utc(2026, 10, 25, 1),
        utc(2026, 10, 25, 2),
        utc(2026, 10, 25, 3),
    ]
    walls = [f.astimezone(ZoneInfo(BERLIN)).strftime("%H:%M %Z") for f in got]
    assert walls == ["02:00 CEST", "02:00 CET", "03:00 CET", "04:00 CET"]


def test_wildcard_fires_of_both_passes_come_out_in_time_order() -> None:
    got = fires(sched("*/30 * * * *", NEW_YORK), utc(2026, 11, 1, 5), 5)
    assert got == [utc(2026, 11, 1, 5, 30) + timedelta(minutes=30 * i) for i in range(5)]


def test_a_start_inside_the_first_pass_still_sees_the_second_pass() -> None:
    s = sched("15 * * * *", BERLIN)
    after = local(BERLIN, 2026, 10, 25, 2, 40, fold=0)  # 00:40 UTC
    assert fires(s, after, 2) == [utc(2026, 10, 25, 1, 15), utc(2026, 10, 25, 2, 15)]


def test_previous_fire_from_the_second_pass_sees_the_first_pass() -> None:
    s = sched("45 2 * * *", BERLIN)
    at = local(BERLIN, 2026, 10, 25, 2, 30, fold=1)  # 01:30 UTC, after 02:45 CEST
    assert schedule.previous_fire(s, at) == utc(2026, 10, 25, 0, 45)


def test_croniter_alone_would_fire_a_fixed_time_twice_in_the_repeated_hour() -> None:
    # Why engine.schedule maps wall-clock matches itself: with a zone-aware start,
    # croniter 7 returns 02:30 CEST and 02:30 CET.
    it = croniter("30 2 * * *", datetime(2026, 10, 24, 12, tzinfo=ZoneInfo(BERLIN)))
    raw = [it.get_next(datetime).astimezone(UTC) for _ in range(3)]
    ours = fires(sched("30 2 * * *", BERLIN), utc(2026, 10, 24, 12), 3)
    assert raw[:2] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30)]
    assert ours[:2] == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]


# ----- startTime and endTime --------------------------------------------------------------------


def test_no_fire_before_start_time_and_start_time_itself_fires() -> None:
    s = sched("0 * * * *", startTime="2026-05-01T10:00:00Z")
    assert schedule.next_fire(s, utc(2026, 1, 1)) == utc(2026, 5, 1, 10)
    assert schedule.previous_fire(s, utc(2026, 5, 1, 9, 59)) is None


def test_no_fire_after_end_time_and_end_time_itself_fires() -> None:
    s = sched("0 * * * *", endTime="2026-05-01T10:00:00Z")
    assert schedule.next_fire(s, utc(2026, 5, 1, 9, 30)) == utc(2026, 5, 1, 10)
    assert schedule.next_fire(s, utc(2026, 5, 1, 10)) is None
    assert schedule.previous_fire(s, utc(2027, 1, 1)) == utc(2026, 5, 1, 10)
    assert schedule.fires_between(s, utc(2026, 5, 1, 8), utc(2026, 6, 1), 10) == [
        utc(2026, 5, 1, 9),
        utc(2026, 5, 1, 10),
    ]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        schedule.next_fire(sched("@daily"), datetime(2026, 1, 1))


# ----- properties -------------------------------------------------------------------------------

CRONS = [
    "* * * * *",
    "*/7 * * * *",
    "30 * * * *",
    "0 */3 * * *",
    "30 2 * * *",
    "0,30 1-3 * * *",
    "15 2 * * 0",
    "0 0 31 * *",
    "0 0 29 2 *",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@yearly",
]
ZONES = ["UTC", BERLIN, NEW_YORK, "Australia/Lord_Howe", "Asia/Kolkata", "America/Santiago"]
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


def matches(s: ScheduleConfig, fire: datetime) -> bool:
    """The fire's wall-clock minute matches the cron, or it is the end of a DST gap."""
    zone = ZoneInfo(s.timezone)
    wall = fire.astimezone(zone).replace(tzinfo=None)
    if croniter.match(schedule.expand(s.cron), wall):
        return True
    just_before = (fire - timedelta(seconds=1)).astimezone(zone).utcoffset()
    return just_before != fire.astimezone(zone).utcoffset()


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CRONS), st.sampled_from(ZONES), instants)
def test_fires_strictly_increase_and_match_the_cron_in_its_timezone(
    cron: str, zone: str, after: datetime
) -> None:
    s = sched(cron, zone)
    got = fires(s, after, 30)
    assert got == sorted(set(got))
    assert all(f > after and f.tzinfo is UTC for f in got)
    assert all(matches(s, f) for f in got)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(CRONS), st.sampled_from(ZONES), instants)
def test_next_and_previous_fire_agree_with_fires_between(
    cron: str, zone: str, after: datetime
) -> None:
    s = sched(cron, zone)
    got = fires(s, after, 3)
    assert schedule.next_fire(s, after) == got[0]
    for earlier, later in itertools.pairwise(got):
        assert schedule.next_fire(s, earlier) == later
        assert schedule.previous_fire(s, later - timedelta(microseconds=1)) == earlier
        assert schedule.previous_fire(s, later) == later


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(CRONS),
    st.sampled_from(ZONES),
    instants,
    st.integers(min_value=0, max_value=400 * 24),
    st.integers(min_value=1, max_value=60 * 24 * 40),
)
def test_no_fire_outside_start_time_and_end_time(
    cron: str, zone: str, start: datetime, offset_hours: int, length_minutes: int
) -> None:
    begin = start.replace(second=0, microsecond=0)
    end = begin + timedelta(minutes=length_minutes)
    s = sched(cron, zone, startTime=begin.isoformat(), endTime=end.isoformat())
    got = schedule.fires_between(s, begin - timedelta(hours=offset_hours), None, 50)
    assert all(begin <= f <= end for f in got)
    nxt = schedule.next_fire(s, begin - timedelta(days=1))
    assert nxt is None or begin <= nxt <= end


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(CRONS), st.sampled_from([BERLIN, NEW_YORK]), st.integers(2021, 2034))
def test_a_fixed_time_schedule_fires_at_most_once_per_matching_wall_clock_time(
    cron: str, zone: str, year: int
) -> None:
    s = sched(cron, zone)
    if schedule.is_wildcard(cron):
        return
    # Fall-back days: the last Sunday of October (Berlin), the first of November (New York).
    got = fires(s, utc(year, 10, 20), 40)
    walls = [f.astimezone(ZoneInfo(zone)).replace(tzinfo=None) for f in got]
    assert len(walls) == len(set(walls))


def oracle(s: ScheduleConfig, start: datetime, end: datetime) -> list[datetime]:
    """The DST rule applied the slow way: walk every UTC minute and look at the wall clock.

    A wall-clock minute seen before is a second pass (wildcard schedules only); a wall
    clock that jumps over matching minutes fires once at the jump (fixed-time only).
    """
    zone, cron = ZoneInfo(s.timezone), schedule.expand(s.cron)
    wildcard = schedule.is_wildcard(cron)
    seen: set[datetime] = set()
    out: list[datetime] = []
    minute = start - timedelta(hours=6)  # see the first pass of a fall-back before `start`
    previous = minute.astimezone(zone).replace(tzinfo=None)
    # Every matching wall-clock minute of the window, once (croniter.match is slow).
    walls = croniter(cron, previous - timedelta(days=1))
    matching: set[datetime] = set()
    while (w := walls.get_next(datetime)) < previous + (end - minute) + timedelta(days=1):
        matching.add(w)
    while minute <= end:
        minute += timedelta(minutes=1)
        wall = minute.astimezone(zone).replace(tzinfo=None)
        skipped = []
        gap = previous + timedelta(minutes=1)
        while gap < wall:
            skipped.append(gap)
            gap += timedelta(minutes=1)
        fire = wall in matching and (wildcard or wall not in seen)
        fire = fire or (not wildcard and any(w in matching for w in skipped))
        if fire and minute > start:
            out.append(minute)
        seen.add(wall)
        previous = wall
    return out


def transitions(zone: str, year: int) -> list[datetime]:
    """The UTC days of a year on which the zone's offset changes."""
    z, days = ZoneInfo(zone), []
    day = utc(year, 1, 1)
    while day.year == year:
        if day.astimezone(z).utcoffset() != (day + timedelta(days=1)).astimezone(z).utcoffset():
            days.append(day)
        day += timedelta(days=1)
    return days


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(CRONS[1:]),
    st.sampled_from([z for z in ZONES if z not in ("UTC", "Asia/Kolkata")]),
    st.integers(2024, 2030),
    st.booleans(),
)
def test_fires_around_every_dst_change_equal_the_minute_by_minute_oracle(
    cron: str, zone: str, year: int, autumn: bool
) -> None:
    s = sched(cron, zone)
    change = transitions(zone, year)[1 if autumn else 0]
    start, end = change - timedelta(hours=12), change + timedelta(hours=36)
    assert schedule.fires_between(s, start, end, 10_000) == oracle(s, start, end)
