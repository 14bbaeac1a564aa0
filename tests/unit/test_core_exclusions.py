"""Exclusions and calendars: ``spec.exclude``, ``spec.calendars`` and the Calendars they name. Pure core.

The ScheduledJob is ``*/30 * * * *`` in UTC on Monday 2026-01-05 (as in ``test_core_decide.py``);
slots up to 10:00 were decided unless a row says otherwise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unit_support import active_job, at, created, make_spec, make_status, make_subject, slot_name

from punctual.api import Result, Trigger, format_time
from punctual.core import SpecError, decide, schedule_fingerprint
from punctual.core.exclusions import RuleError, parse_rule

S, C = Trigger.SCHEDULE, Trigger.CATCHUP
TEN = at("10:00")


def decide_ex(
    now: datetime, *, through: datetime = TEN, cals: dict[str, Any] | None = None, status: Any = None, **spec: Any
) -> Any:
    subject = make_subject(make_spec(**spec))
    status = status or make_status(through=through, observedSchedule=schedule_fingerprint(subject.spec))
    return decide(subject, status=status, jobs=[], now=now, calendars=cals)


def skipped(decision: Any) -> list[tuple[datetime, str, str]]:
    return [
        (r.scheduledTime, r.reason or "", r.message or "")
        for r in decision.status.history
        if r.result is Result.SKIPPED
    ]


def condition(decision: Any, type_: str) -> tuple[str, str, str] | None:
    found = next((c for c in decision.status.conditions if c.type == type_), None)
    return (found.status, found.reason, found.message) if found else None


EXCLUDED_ROWS = [
    ("a date excludes the whole day", ["2026-01-05"], True),
    ("a date range includes its first day", ["2026-01-05..2026-01-07"], True),
    ("a date range includes its last day", ["2026-01-01..2026-01-05"], True),
    ("a date range ending the day before does not exclude", ["2026-01-01..2026-01-04"], False),
    ("a cron rule excludes the times it matches", ["30 10 * * *"], True),
    ("a cron rule of every minute of a day excludes that day", ["* * 5 1 *"], True),
    ("a cron rule of another minute does not exclude", ["0 10 * * *"], False),
    ("a weekday cron rule excludes Mondays", ["* * * * MON"], True),
    ("a macro is a cron rule", ["@hourly"], False),
]


@pytest.mark.parametrize(("rules", "excluded"), [r[1:] for r in EXCLUDED_ROWS], ids=[r[0] for r in EXCLUDED_ROWS])
def test_spec_exclude(rules: list[str], excluded: bool) -> None:
    d = decide_ex(at("10:30"), exclude=rules)
    if excluded:
        assert created(d) == []
        ((slot, reason, message),) = skipped(d)
        assert (slot, reason) == (at("10:30"), "Excluded")
        assert message == f'slot {format_time(at("10:30"))} excluded by spec.exclude "{rules[0]}"'
        assert [(e.type, e.reason) for e in d.events] == [("Normal", "SlotSkipped")]
    else:
        assert created(d) == [(at("10:30"), S)]
        assert skipped(d) == []


def test_rules_are_read_in_the_schedule_time_zone() -> None:
    # 2026-01-05T23:30Z is 2026-01-06 00:30 in Berlin: excluded by the 6th, not by the 5th.
    berlin = decide_ex(at("23:30"), through=at("23:00"), timeZone="Europe/Berlin", exclude=["2026-01-06"])
    assert created(berlin) == [] and skipped(berlin)[0][1] == "Excluded"
    utc = decide_ex(at("23:30"), through=at("23:00"), exclude=["2026-01-06"])
    assert created(utc) == [(at("23:30"), S)]


def test_next_schedule_time_skips_excluded_slots_but_the_operator_wakes_to_record_them() -> None:
    d = decide_ex(at("10:00"), through=at("09:30"), exclude=["2026-01-05"])
    assert d.status.nextScheduleTime == at("00:00", day=1)
    assert d.wake_at == at("10:30")
    ready = condition(d, "Ready")
    assert ready is not None and ready[2] == f"next run at {format_time(at('00:00', day=1))}"


def test_an_excluded_slot_does_not_supersede_an_older_missed_slot() -> None:
    # down from 08:15 to 10:35, catchUp Latest; 10:30 is excluded: 10:00 is the newest that may run
    d = decide_ex(at("10:35"), through=at("08:15"), exclude=["30 10 * * *"])
    assert created(d) == [(at("10:00"), C)]
    assert [s for s, _, _ in skipped(d)] == [at("10:30")]


def test_a_slot_whose_job_exists_is_not_recorded_skipped() -> None:
    # the Job of 10:30 was created before a crash lost the status write (and before the rule came)
    subject = make_subject(make_spec(exclude=["2026-01-05"]))
    status = make_status(through=TEN, observedSchedule=schedule_fingerprint(subject.spec))
    d = decide(subject, status=status, jobs=[active_job(at("10:30"))], now=at("10:30"))
    assert skipped(d) == []
    assert d.status.history[0].job == slot_name(at("10:30"))


CALENDAR_ROWS = [
    (
        "a calendar's date excludes the slot",
        {"holidays": ["2026-01-05"]},
        [],
        ("Excluded", 'excluded by calendar holidays "2026-01-05"'),
        ("True", "Found", "calendars: holidays"),
    ),
    (
        "a calendar without a matching rule lets the slot run",
        {"holidays": ["2026-12-25"]},
        [(at("10:30"), S)],
        None,
        ("True", "Found", "calendars: holidays"),
    ),
    (
        "a missing calendar: the slot does not run",
        {},
        [],
        ("CalendarNotFound", "not run: Calendar holidays not found: no scheduled slot runs until it exists"),
        ("False", "CalendarNotFound", "Calendar holidays not found: no scheduled slot runs until it exists"),
    ),
    (
        "a calendar with a bad date: the slot does not run",
        {"holidays": ["2026-02-30"]},
        [],
        ("CalendarInvalid", "Calendar holidays: '2026-02-30': 2026-02-30 is not a date"),
        ("False", "CalendarInvalid", "Calendar holidays: '2026-02-30': 2026-02-30 is not a date"),
    ),
    (
        "a calendar with a range in reverse: the slot does not run",
        {"holidays": ["2026-12-26..2026-12-24"]},
        [],
        ("CalendarInvalid", "the range ends before it starts"),
        ("False", "CalendarInvalid", "Calendar holidays: '2026-12-26..2026-12-24': the range ends before it starts"),
    ),
    (
        "a calendar with an unreadable spec: the slot does not run",
        {"holidays": None},
        [],
        ("CalendarInvalid", "Calendar holidays has an unreadable spec.exclude"),
        ("False", "CalendarInvalid", "Calendar holidays has an unreadable spec.exclude"),
    ),
]


@pytest.mark.parametrize(
    ("calendars", "runs", "skip", "valid"), [r[1:] for r in CALENDAR_ROWS], ids=[r[0] for r in CALENDAR_ROWS]
)
def test_spec_calendars(
    calendars: dict[str, Any],
    runs: list[Any],
    skip: tuple[str, str] | None,
    valid: tuple[str, str, str],
) -> None:
    d = decide_ex(at("10:30"), cals=calendars, calendars=["holidays"])
    assert created(d) == runs
    if skip is None:
        assert skipped(d) == []
    else:
        ((slot, reason, message),) = skipped(d)
        assert (slot, reason) == (at("10:30"), skip[0])
        assert skip[1] in message
    got = condition(d, "CalendarsValid")
    assert got is not None
    assert got[:2] == valid[:2] and valid[2] in got[2]
    ready = condition(d, "Ready")
    assert ready is not None
    if valid[0] == "False":
        assert ready[:2] == ("False", valid[1])
        assert d.status.nextScheduleTime is None
        assert ("Warning", valid[1]) in [(e.type, e.reason) for e in d.events]
    else:
        assert ready[0] == "True"


def test_a_missing_calendar_is_warned_once_and_found_later_applies_from_its_next_decision() -> None:
    first = decide_ex(at("10:30"), cals={}, calendars=["holidays"])
    assert [e.reason for e in first.events].count("CalendarNotFound") == 1
    again = decide_ex(at("11:00"), cals={}, status=first.status, calendars=["holidays"])
    assert "CalendarNotFound" not in [e.reason for e in again.events]
    assert created(again) == []
    found = decide_ex(at("11:30"), cals={"holidays": []}, status=again.status, calendars=["holidays"])
    assert created(found) == [(at("11:30"), S)]
    assert condition(found, "CalendarsValid") == ("True", "Found", "calendars: holidays")
    changed = decide_ex(at("12:00"), cals={"holidays": ["2026-01-05"]}, status=found.status, calendars=["holidays"])
    assert created(changed) == []
    assert {slot: reason for slot, reason, _ in skipped(changed)} == {
        at("10:30"): "CalendarNotFound",
        at("11:00"): "CalendarNotFound",
        at("12:00"): "Excluded",
    }


def test_without_calendars_there_is_no_calendars_condition() -> None:
    d = decide_ex(at("10:30"), exclude=["2026-12-25"])
    assert condition(d, "CalendarsValid") is None


def test_manual_runs_ignore_exclusions() -> None:
    subject = make_subject(make_spec(exclude=["2026-01-05"]), run_request="now-1")
    status = make_status(through=TEN, observedSchedule=schedule_fingerprint(subject.spec))
    d = decide(subject, status=status, jobs=[], now=at("10:10"))
    assert [c.trigger for c in d.creates] == [Trigger.MANUAL]


BAD_RULES = [
    ("a date that does not exist", "2026-02-30", "2026-02-30 is not a date"),
    ("a range in reverse", "2026-12-26..2026-12-24", "the range ends before it starts"),
    ("a range without its end", "2026-12-24..", "is not a date range"),
    ("a cron rule with too few fields", "0 0 25", "is neither a date, a date range nor a cron expression"),
    ("a cron rule with a bad field", "0 0 32 12 *", "is neither a date, a date range nor a cron expression"),
    ("a cron rule with an H token", "H 0 25 12 *", "H tokens are not allowed"),
    ("an unknown macro", "@christmas", "unknown macro"),
]


@pytest.mark.parametrize(("text", "message"), [r[1:] for r in BAD_RULES], ids=[r[0] for r in BAD_RULES])
def test_a_bad_rule_is_a_readable_error(text: str, message: str) -> None:
    with pytest.raises(RuleError, match=message.replace("(", r"\(")):
        parse_rule(text, source="spec.exclude")


def test_a_bad_spec_exclude_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"spec.exclude: '2026-12-26..2026-12-24': the range ends before it starts"):
        decide_ex(at("10:30"), exclude=["2026-12-26..2026-12-24"])


@given(
    st.dates(min_value=datetime(2020, 1, 1).date(), max_value=datetime(2030, 12, 31).date()),
    st.integers(min_value=0, max_value=40),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)),
)
def test_a_date_range_excludes_exactly_its_days(first: Any, length: int, wall: datetime) -> None:
    from datetime import timedelta

    last = first + timedelta(days=length)
    rule = parse_rule(f"{first.isoformat()}..{last.isoformat()}", source="spec.exclude")
    assert rule.matches(wall) == (first <= wall.date() <= last)


def test_a_rule_in_a_zone_with_dst_matches_local_days() -> None:
    from punctual.core.exclusions import Exclusions

    ex = Exclusions(rules=(parse_rule("2026-03-29", source="spec.exclude"),))
    berlin = ZoneInfo("Europe/Berlin")
    assert ex.verdict(datetime.fromisoformat("2026-03-28T23:30:00+00:00"), berlin) is not None  # 01:30 CET
    assert ex.verdict(datetime.fromisoformat("2026-03-29T22:30:00+00:00"), berlin) is None  # 00:30 CEST on the 30th
