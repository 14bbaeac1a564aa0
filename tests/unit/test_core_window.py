"""The active window, ``spec.notBefore``/``spec.notAfter``: slots outside it do not exist. Pure core.

The ScheduledJob is ``*/30 * * * *`` in UTC (as in ``test_core_decide.py``); slots up to 10:00 were
decided unless a row says otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from unit_support import active_job, at, created, decide_at, make_spec, make_status, make_subject, slot_name

from punctual.api import Result, Trigger, format_time
from punctual.core import SpecError, parse_spec, schedule_fingerprint

S, C = Trigger.SCHEDULE, Trigger.CATCHUP
TEN = at("10:00")


def t(hhmm: str, *, day: int = 0) -> str:
    return format_time(at(hhmm, day=day))


def decide_window(now: datetime, *, through: datetime | None = TEN, same_window: bool = True, **spec: Any) -> Any:
    """Decide with the window already recorded as the schedule (unless ``same_window`` is False)."""
    subject = make_subject(make_spec(**spec))
    observed = schedule_fingerprint(subject.spec) if same_window else schedule_fingerprint(make_spec())
    return decide_at(subject, now, status=make_status(through=through, observedSchedule=observed))


def condition(decision: Any, type_: str) -> tuple[str, str, str]:
    c = next(c for c in decision.status.conditions if c.type == type_)
    return c.status, c.reason, c.message


def test_a_slot_before_not_before_does_not_run() -> None:
    d = decide_window(at("10:30"), notBefore=t("11:00"))
    assert created(d) == []
    assert d.status.nextScheduleTime == at("11:00")
    assert d.wake_at == at("11:00")


def test_the_slot_at_not_before_itself_runs() -> None:
    d = decide_window(at("11:00"), through=at("10:30"), notBefore=t("11:00"))
    assert created(d) == [(at("11:00"), S)]


def test_slots_before_not_before_are_not_caught_up_after_an_outage() -> None:
    # down from 06:00 to 12:10, catchUp All: only the window's slots 11:00..12:00 are missed slots
    d = decide_window(at("12:10"), through=at("06:00"), catchUp="All", notBefore=t("11:00"))
    assert created(d) == [(at("11:00"), C), (at("11:30"), C), (at("12:00"), C)]
    assert not [r for r in d.status.history if r.result is Result.MISSED]


def test_a_slot_after_not_after_does_not_run_and_the_schedule_has_ended() -> None:
    d = decide_window(at("11:00"), through=at("10:30"), notAfter=t("10:45"))
    assert created(d) == []
    assert d.status.nextScheduleTime is None
    assert condition(d, "Ready") == (
        "True",
        "Ended",
        f"the schedule has ended: spec.notAfter {t('10:45')} has passed",
    )
    assert [(e.type, e.reason) for e in d.events] == [("Normal", "ScheduleEnded")]
    assert d.wake_at is None


def test_the_ended_event_is_said_once() -> None:
    subject = make_subject(make_spec(notAfter=t("10:45")))
    status = make_status(through=at("10:30"), observedSchedule=schedule_fingerprint(subject.spec))
    first = decide_at(subject, at("11:00"), status=status)
    again = decide_at(subject, at("11:30"), status=first.status)
    assert [e.reason for e in again.events] == []
    assert condition(again, "Ready")[1] == "Ended"


def test_the_slot_at_not_after_itself_runs_then_the_operator_wakes_to_say_it_ended() -> None:
    d = decide_window(at("10:30"), notAfter=t("10:45"))
    assert created(d) == [(at("10:30"), S)]
    assert d.status.nextScheduleTime is None
    assert condition(d, "Ready") == ("True", "Scheduling", f"no slot left before spec.notAfter {t('10:45')}")
    later = decide_at(
        make_subject(make_spec(notAfter=t("10:45"))), at("10:35"), status=d.status, jobs=[active_job(at("10:30"))]
    )
    assert later.wake_at == at("10:45") + timedelta(milliseconds=1)


def test_slots_after_not_after_are_not_caught_up() -> None:
    d = decide_window(at("12:10"), through=at("09:00"), catchUp="All", notAfter=t("10:00"))
    assert created(d) == [(at("09:30"), C), (at("10:00"), C)]


def test_a_changed_window_does_not_catch_up_the_slots_it_newly_admits() -> None:
    # notBefore moved back from tomorrow to 08:00 at 10:40: 08:00..10:30 were never the schedule
    d = decide_window(at("10:40"), through=at("07:00"), same_window=False, catchUp="All", notBefore=t("08:00"))
    assert created(d) == []
    assert d.status.nextScheduleTime == at("11:00")


def test_a_manual_run_outside_the_window_still_runs() -> None:
    subject = make_subject(make_spec(notAfter=t("09:00")), run_request="tok-1")
    d = decide_at(
        subject, at("10:40"), status=make_status(through=TEN, observedSchedule=schedule_fingerprint(subject.spec))
    )
    assert created(d) == [(at("10:40"), Trigger.MANUAL)]


def test_no_window_leaves_the_fingerprint_as_it_was() -> None:
    assert schedule_fingerprint(make_spec()) == "UTC: */30 * * * *"
    assert schedule_fingerprint(make_spec(notBefore=t("08:00"))) == f"UTC: */30 * * * * [{t('08:00')}..]"


@pytest.mark.parametrize(
    ("fields", "needle"),
    [
        ({"notBefore": "2027-01-04T00:00:00"}, "'2027-01-04T00:00:00' has no UTC offset; use e.g. 2027-01-04"),
        ({"notAfter": "next tuesday"}, "'next tuesday' is not an RFC 3339 time"),
        ({"notBefore": "2027-02-01T00:00:00Z", "notAfter": "2027-01-01T00:00:00Z"}, "is before spec.notBefore"),
    ],
)
def test_a_bad_window_is_a_clear_spec_error(fields: dict[str, Any], needle: str) -> None:
    raw = {"schedule": "*/30 * * * *", "jobTemplate": make_spec().jobTemplate.model_dump(), **fields}
    with pytest.raises(SpecError) as exc:
        parse_spec(raw)
    assert needle in str(exc.value)


def test_offsets_are_honoured() -> None:
    spec = make_spec(notBefore="2026-01-05T12:00:00+01:00")
    assert spec.notBefore == at("11:00")


def test_the_job_name_of_a_window_slot_is_the_slot_name() -> None:
    d = decide_window(at("11:00"), through=at("10:30"), notBefore=t("11:00"))
    assert [c.name for c in d.creates] == [slot_name(at("11:00"))]
