"""``punctual.schedule.Schedule``: cron with seconds, macros, @every, unions, DST in three zones,
Jenkins H, jitter, and the errors a user must fix."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from punctual.schedule import Schedule, ScheduleError, jitter_offset

ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone)).astimezone(UTC)  # type: ignore[misc]


def slots(
    exprs: str | list[str],
    start: datetime,
    end: datetime,
    *,
    zone: str = "UTC",
    key: str = "default/report",
    anchor: datetime = ANCHOR,
) -> list[datetime]:
    schedule = Schedule([exprs] if isinstance(exprs, str) else exprs, time_zone=zone, anchor=anchor, key=key)
    out, more = schedule.slots(start, end, limit=100_000)
    assert not more
    return out


# --- cron fields, macros, @every, unions ------------------------------------------------------------


CRON_CASES = [
    (
        "5 fields, every 15 minutes",
        "*/15 * * * *",
        utc(2026, 1, 5, 10, 0),
        utc(2026, 1, 5, 11, 0),
        [utc(2026, 1, 5, 10, 15), utc(2026, 1, 5, 10, 30), utc(2026, 1, 5, 10, 45), utc(2026, 1, 5, 11, 0)],
    ),
    (
        "6 fields, every 20 seconds",
        "*/20 * * * * *",
        utc(2026, 1, 5, 10, 0),
        utc(2026, 1, 5, 10, 1),
        [utc(2026, 1, 5, 10, 0, 20), utc(2026, 1, 5, 10, 0, 40), utc(2026, 1, 5, 10, 1)],
    ),
    (
        "6 fields, one second of the day",
        "30 0 9 * * *",
        utc(2026, 1, 5),
        utc(2026, 1, 7),
        [utc(2026, 1, 5, 9, 0, 30), utc(2026, 1, 6, 9, 0, 30)],
    ),
    (
        "weekdays at nine",
        "0 9 * * 1-5",
        utc(2026, 1, 2),
        utc(2026, 1, 7),
        [utc(2026, 1, 2, 9), utc(2026, 1, 5, 9), utc(2026, 1, 6, 9)],
    ),
    (
        "names for months and days",
        "0 12 * JAN MON",
        utc(2026, 1, 1),
        utc(2026, 1, 15),
        [utc(2026, 1, 5, 12), utc(2026, 1, 12, 12)],
    ),
    (
        "day of month or day of week (Vixie)",
        "0 0 13 * 5",
        utc(2026, 2, 1),
        utc(2026, 2, 16),
        [utc(2026, 2, 6), utc(2026, 2, 13)],
    ),
    ("last day of month", "0 0 L * *", utc(2026, 1, 15), utc(2026, 3, 15), [utc(2026, 1, 31), utc(2026, 2, 28)]),
    ("Sunday as 7", "0 0 * * 7", utc(2026, 1, 1), utc(2026, 1, 12), [utc(2026, 1, 4), utc(2026, 1, 11)]),
    (
        "@hourly",
        "@hourly",
        utc(2026, 1, 5, 10, 30),
        utc(2026, 1, 5, 12, 30),
        [utc(2026, 1, 5, 11), utc(2026, 1, 5, 12)],
    ),
    ("@daily", "@daily", utc(2026, 1, 5, 1), utc(2026, 1, 7, 1), [utc(2026, 1, 6), utc(2026, 1, 7)]),
    ("@midnight", "@midnight", utc(2026, 1, 5, 1), utc(2026, 1, 6, 1), [utc(2026, 1, 6)]),
    ("@weekly on Sunday", "@weekly", utc(2026, 1, 5), utc(2026, 1, 19), [utc(2026, 1, 11), utc(2026, 1, 18)]),
    ("@monthly", "@monthly", utc(2026, 1, 5), utc(2026, 3, 5), [utc(2026, 2, 1), utc(2026, 3, 1)]),
    ("@yearly", "@yearly", utc(2026, 1, 5), utc(2028, 1, 5), [utc(2027, 1, 1), utc(2028, 1, 1)]),
    ("@annually, upper case", "@ANNUALLY", utc(2026, 1, 5), utc(2027, 1, 5), [utc(2027, 1, 1)]),
    ("extra spaces", "  0   9 * * *  ", utc(2026, 1, 5), utc(2026, 1, 6), [utc(2026, 1, 5, 9)]),
]


@pytest.mark.parametrize(
    ("expr", "start", "end", "expected"), [c[1:] for c in CRON_CASES], ids=[c[0] for c in CRON_CASES]
)
def test_cron_expressions(expr: str, start: datetime, end: datetime, expected: list[datetime]) -> None:
    assert slots(expr, start, end) == expected


def test_slots_are_after_start_inclusive_of_end() -> None:
    assert slots("0 * * * *", utc(2026, 1, 5, 10), utc(2026, 1, 5, 11)) == [utc(2026, 1, 5, 11)]


def test_has_seconds() -> None:
    assert not Schedule(["*/5 * * * *"], anchor=ANCHOR, key="k").has_seconds
    assert Schedule(["*/5 * * * * *"], anchor=ANCHOR, key="k").has_seconds
    assert Schedule(["@every 90s"], anchor=ANCHOR, key="k").has_seconds
    assert not Schedule(["@every 2m"], anchor=ANCHOR, key="k").has_seconds
    assert Schedule(["@every 2m"], anchor=ANCHOR + timedelta(seconds=7), key="k").has_seconds


def test_every_is_anchored_to_creation() -> None:
    anchor = utc(2026, 1, 5, 10, 7, 13)
    got = slots("@every 90m", anchor - timedelta(hours=1), anchor + timedelta(hours=5), anchor=anchor)
    assert got == [anchor + timedelta(minutes=90) * k for k in (1, 2, 3)]
    # Asked from any point, the grid stays the same: anchor + k*D, k >= 1.
    schedule = Schedule(["@every 90m"], anchor=anchor, key="k")
    assert schedule.next_after(anchor + timedelta(minutes=100)) == anchor + timedelta(minutes=180)
    assert schedule.next_after(anchor + timedelta(minutes=90)) == anchor + timedelta(minutes=180)
    assert schedule.next_after(anchor) == anchor + timedelta(minutes=90)
    assert schedule.next_after(anchor - timedelta(days=3)) == anchor + timedelta(minutes=90)


def test_every_with_compound_duration() -> None:
    anchor = utc(2026, 1, 5)
    assert slots("@every 1h30m", anchor, anchor + timedelta(hours=3), anchor=anchor) == [
        utc(2026, 1, 5, 1, 30),
        utc(2026, 1, 5, 3),
    ]


def test_union_of_schedules() -> None:
    got = slots(["0 9 * * 1-5", "0 12 * * 6,0", "0 9 * * *"], utc(2026, 1, 2), utc(2026, 1, 5, 10))
    # Friday 9:00 (two expressions, one slot), Saturday 9 and 12, Sunday 9 and 12, Monday 9.
    assert got == [
        utc(2026, 1, 2, 9),
        utc(2026, 1, 3, 9),
        utc(2026, 1, 3, 12),
        utc(2026, 1, 4, 9),
        utc(2026, 1, 4, 12),
        utc(2026, 1, 5, 9),
    ]


def test_union_of_cron_and_every() -> None:
    anchor = utc(2026, 1, 5, 10, 10)
    got = slots(["0 * * * *", "@every 45m"], anchor, anchor + timedelta(hours=2), anchor=anchor)
    assert got == [utc(2026, 1, 5, 10, 55), utc(2026, 1, 5, 11), utc(2026, 1, 5, 11, 40), utc(2026, 1, 5, 12)]


def test_limit_and_more_flag() -> None:
    schedule = Schedule(["* * * * *"], anchor=ANCHOR, key="k")
    got, more = schedule.slots(utc(2026, 1, 5), utc(2026, 1, 6), limit=10)
    assert len(got) == 10 and more
    got, more = schedule.slots(utc(2026, 1, 5), utc(2026, 1, 5, 0, 10), limit=10)
    assert len(got) == 10 and not more


def test_time_zone_shifts_fixed_times() -> None:
    got = slots("0 9 * * *", utc(2026, 1, 5), utc(2026, 1, 6), zone="America/New_York")
    assert got == [utc(2026, 1, 5, 14)]
    got = slots("0 9 * * *", utc(2026, 7, 5), utc(2026, 7, 6), zone="America/New_York")
    assert got == [utc(2026, 7, 5, 13)]


# --- DST -----------------------------------------------------------------------------------------

# (zone, the local date of the spring-forward gap 02:00-03:00, the local date of the fall-back fold)
ZONES = [
    ("Europe/Berlin", (2026, 3, 29), (2026, 10, 25), 2),  # fold hour 02:xx
    ("America/New_York", (2026, 3, 8), (2026, 11, 1), 1),  # fold hour 01:xx
    ("Australia/Sydney", (2026, 10, 4), (2026, 4, 5), 2),  # southern hemisphere: spring in October
]


@pytest.mark.parametrize(("zone", "gap_day", "fold_day", "fold_hour"), ZONES, ids=[z[0] for z in ZONES])
def test_fixed_time_in_the_spring_forward_gap_runs_once_after_the_gap(
    zone: str, gap_day: tuple[int, int, int], fold_day: tuple[int, int, int], fold_hour: int
) -> None:
    day = datetime(*gap_day)
    start = local(zone, *(day - timedelta(days=1)).timetuple()[:3], 12)
    end = local(zone, *(day + timedelta(days=1)).timetuple()[:3], 12)
    after_gap = local(zone, *gap_day, 3)
    for expr in ("30 2 * * *", "0 2 * * *", "0,15,30,45 2 * * *", "0 30 2 * * *"):
        got = slots(expr, start, end, zone=zone)
        assert after_gap in got, expr
        on_gap_day = [t for t in got if t.astimezone(ZoneInfo(zone)).date() == day.date()]
        assert on_gap_day == [after_gap], expr  # every slot in the gap becomes one run
        assert got[0] == after_gap
        assert got[1].astimezone(ZoneInfo(zone)).hour == 2  # the next day is ordinary again
        assert got[0].astimezone(ZoneInfo(zone)).strftime("%H:%M") == "03:00"


@pytest.mark.parametrize(("zone", "gap_day", "fold_day", "fold_hour"), ZONES, ids=[z[0] for z in ZONES])
def test_fixed_time_in_the_fall_back_hour_runs_once_at_its_first_occurrence(
    zone: str, gap_day: tuple[int, int, int], fold_day: tuple[int, int, int], fold_hour: int
) -> None:
    tz = ZoneInfo(zone)
    start = local(zone, *fold_day) - timedelta(hours=6)
    end = local(zone, *fold_day) + timedelta(hours=12)
    expr = f"30 {fold_hour} * * *"
    got = slots(expr, start, end, zone=zone)
    first = datetime(*fold_day, fold_hour, 30, tzinfo=tz, fold=0).astimezone(UTC)
    second = datetime(*fold_day, fold_hour, 30, tzinfo=tz, fold=1).astimezone(UTC)
    assert second - first == timedelta(hours=1)  # the wall time really happens twice
    assert got == [first]
    # Asked from between the two occurrences, the next run is the next day's.
    schedule = Schedule([expr], time_zone=zone, anchor=ANCHOR, key="k")
    following = schedule.next_after(first)
    assert following is not None and following > second + timedelta(hours=20)


TRANSITIONS = [
    (zone, which, local(zone, *day) + timedelta(hours=3))
    for zone, gap, fold, _ in ZONES
    for which, day in (("spring", gap), ("fall", fold))
]


@pytest.mark.parametrize(("zone", "which", "around"), TRANSITIONS, ids=[f"{z} {w}" for z, w, _ in TRANSITIONS])
@pytest.mark.parametrize(
    ("expr", "spacing"),
    [
        ("*/15 * * * *", timedelta(minutes=15)),
        ("@hourly", timedelta(hours=1)),
        ("*/30 * * * * *", timedelta(seconds=30)),
    ],
)
def test_wildcard_hour_schedules_follow_elapsed_real_time(
    zone: str, which: str, around: datetime, expr: str, spacing: timedelta
) -> None:
    window = timedelta(hours=4) if spacing >= timedelta(minutes=1) else timedelta(hours=3, minutes=30)
    got = slots(expr, around - window, around + window, zone=zone)
    assert len(got) == (2 * window) // spacing
    assert all(b - a == spacing for a, b in pairwise(got))


def test_hourly_runs_twice_in_the_repeated_hour_and_skips_none_in_the_gap() -> None:
    zone = "America/New_York"
    fall = slots("0 * * * *", utc(2026, 11, 1, 4), utc(2026, 11, 1, 8), zone=zone)
    walls = [t.astimezone(ZoneInfo(zone)).strftime("%H:%M%z") for t in fall]
    assert walls == ["01:00-0400", "01:00-0500", "02:00-0500", "03:00-0500"]
    spring = slots("0 * * * *", utc(2026, 3, 8, 5), utc(2026, 3, 8, 9), zone=zone)
    walls = [t.astimezone(ZoneInfo(zone)).strftime("%H:%M%z") for t in spring]
    assert walls == ["01:00-0500", "03:00-0400", "04:00-0400", "05:00-0400"]


# --- H: deterministic spread -----------------------------------------------------------------------


def test_h_is_deterministic_for_a_key_across_fresh_schedules() -> None:
    a = slots("H H * * *", utc(2026, 1, 5), utc(2026, 1, 12), key="team-a/backup")
    b = slots("H H * * *", utc(2026, 1, 5), utc(2026, 1, 12), key="team-a/backup")
    assert a == b and len(a) == 7
    assert len({(t.hour, t.minute) for t in a}) == 1


def test_h_is_deterministic_across_processes() -> None:
    code = (
        "from datetime import datetime, UTC;"
        "from punctual.schedule import Schedule;"
        "s = Schedule(['H H(2-5) * * *', 'H/10 * * * * *'], anchor=datetime(2026,1,1,tzinfo=UTC), key='ns/x');"
        "print(s.next_after(datetime(2026,1,5,tzinfo=UTC)).isoformat())"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": seed}
        ).stdout
        for seed in ("1", "2", "random")
    }
    assert len(outputs) == 1
    schedule = Schedule(["H H(2-5) * * *", "H/10 * * * * *"], anchor=ANCHOR, key="ns/x")
    assert outputs == {f"{schedule.next_after(utc(2026, 1, 5)).isoformat()}\n"}  # type: ignore[union-attr]


def test_h_spreads_different_keys() -> None:
    minutes = {slots("H * * * *", utc(2026, 1, 5), utc(2026, 1, 5, 1), key=f"ns/job-{i}")[0].minute for i in range(40)}
    assert len(minutes) >= 15


@pytest.mark.parametrize("i", range(30))
def test_h_range_and_step_stay_in_bounds(i: int) -> None:
    key = f"ns/job-{i}"
    just_before = utc(2026, 1, 5) - timedelta(seconds=1)  # slots are strictly after the start
    got = slots("H(10-20) H(3-4) * * *", utc(2026, 1, 5), utc(2026, 1, 6), key=key)
    assert len(got) == 1 and 10 <= got[0].minute <= 20 and 3 <= got[0].hour <= 4
    stepped = slots("H/15 * * * *", just_before, utc(2026, 1, 5, 0, 59, 59), key=key)
    assert len(stepped) == 4
    assert stepped[0].minute < 15
    assert all(b - a == timedelta(minutes=15) for a, b in pairwise(stepped))
    seconds = slots("H/20 * * * * *", just_before, utc(2026, 1, 5, 0, 0, 59), key=key)
    assert len(seconds) == 3 and seconds[0].second < 20
    ranged = slots("H(30-59)/10 * * * *", utc(2026, 1, 5), utc(2026, 1, 5, 1), key=key)
    assert len(ranged) == 3 and all(30 <= t.minute <= 59 for t in ranged)
    dom = slots("0 0 H * *", utc(2025, 12, 31, 23), utc(2026, 12, 31), key=key)
    assert len(dom) == 12  # within 1-28: the day exists in every month


# --- jitter ----------------------------------------------------------------------------------------


def test_jitter_is_deterministic_and_in_range() -> None:
    limit = timedelta(seconds=30)
    slot = utc(2026, 1, 5, 10)
    offsets = [jitter_offset("ns/a", slot + timedelta(minutes=i), limit) for i in range(200)]
    assert all(timedelta(0) <= o < limit for o in offsets)
    assert offsets == [jitter_offset("ns/a", slot + timedelta(minutes=i), limit) for i in range(200)]
    assert len(set(offsets)) > 100  # spread, not a constant
    assert jitter_offset("ns/a", slot, limit) != jitter_offset("ns/b", slot, limit) or jitter_offset(
        "ns/a", slot + timedelta(minutes=1), limit
    ) != jitter_offset("ns/b", slot + timedelta(minutes=1), limit)
    assert jitter_offset("ns/a", slot, timedelta(0)) == timedelta(0)
    tiny = timedelta(milliseconds=1)
    assert jitter_offset("ns/a", slot, tiny) == timedelta(0)


# --- errors ----------------------------------------------------------------------------------------

ERRORS = [
    ("seven fields", "0 0 0 * * * *", "7 fields"),
    ("four fields", "0 0 * *", "4 fields"),
    ("L in day of week", "0 0 * * 5L", "L and #"),
    ("# in day of week", "0 0 * * 1#2", "#"),
    ("W in day of month", "0 0 15W * *", "W is not supported"),
    ("February 30 never fires", "0 0 30 2 *", "never fires"),
    ("April 31 never fires", "0 0 31 4 *", "never fires"),
    ("unknown macro", "@fortnightly", "unknown macro"),
    ("minute out of range", "60 * * * *", "invalid cron expression"),
    ("hour out of range", "0 24 * * *", "invalid cron expression"),
    ("H range out of bounds", "H(50-70) * * * *", "within 0-59"),
    ("bad H token", "Hx * * * *", "bad H token"),
    ("H step too large", "H/90 * * * *", "H step"),
    ("@every without a duration", "@every", "duration"),
    ("@every zero", "@every 0s", "at least 1s"),
    ("@every garbage", "@every often", "invalid duration"),
    ("empty", "   ", "empty"),
]


@pytest.mark.parametrize(("expr", "needle"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_schedule_errors(expr: str, needle: str) -> None:
    with pytest.raises(ScheduleError, match=None) as info:
        Schedule([expr], anchor=ANCHOR, key="k")
    assert needle in str(info.value)


def test_unknown_zone_and_no_expressions() -> None:
    with pytest.raises(ScheduleError, match="Mars/Olympus"):
        Schedule(["@daily"], time_zone="Mars/Olympus", anchor=ANCHOR, key="k")
    with pytest.raises(ScheduleError, match="no schedule"):
        Schedule([], anchor=ANCHOR, key="k")


def test_leap_day_fires_only_in_leap_years() -> None:
    got = slots("0 0 29 2 *", utc(2026, 1, 1), utc(2029, 1, 1))
    assert got == [utc(2028, 2, 29)]
