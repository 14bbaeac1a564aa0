"""The active window (``spec.notBefore``/``spec.notAfter``) through the real operator and the emulator:
no Job before or after it, the ended condition and Event, and a window time without an offset
reported as an invalid spec (kube-apiserver's ``date-time`` format refuses it before; see
tests/realserver/test_realserver_window.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from integration_support import OperatorFactory, condition, events, jobs_of, scheduled_job, slot_of
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.api import format_time


def test_slots_run_only_inside_the_window_then_the_schedule_ends(emulator: Emulator, operator: OperatorFactory) -> None:
    operator()
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(seconds=5), now + timedelta(seconds=11)
    emulator.create(
        scheduled_job(
            "window", "*/2 * * * * *", notBefore=format_time(start), notAfter=format_time(end), historyLimit=30
        )
    )
    wait_for(
        lambda: (condition(emulator, "window", "Ready") or {}).get("reason") == "Ended", 30, what="the schedule to end"
    )
    slots = sorted(slot_of(j) for j in jobs_of(emulator, "window"))
    assert slots and start <= slots[0] and slots[-1] <= end, (start, end, slots)
    assert len(set(slots)) == len(slots)
    ready = condition(emulator, "window", "Ready") or {}
    assert ready["message"] == f"the schedule has ended: spec.notAfter {format_time(end)} has passed"
    assert [e["reason"] for e in events(emulator, "window")].count("ScheduleEnded") == 1


def test_a_window_time_without_an_offset_is_an_invalid_spec(emulator: Emulator, operator: OperatorFactory) -> None:
    operator()
    emulator.create(scheduled_job("naive", "*/2 * * * * *", notBefore="2027-01-04T00:00:00"))
    ready = wait_for(lambda: condition(emulator, "naive", "Ready"), 20, what="the Ready condition")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"] == (
        "spec.notBefore: '2027-01-04T00:00:00' has no UTC offset; use e.g. 2027-01-04T00:00:00Z or "
        "2027-01-04T00:00:00+01:00"
    )
    assert "InvalidSpec" in {e["reason"] for e in events(emulator, "naive")}
    assert jobs_of(emulator, "naive") == []
