"""Exclusions and Calendars through the real operator and the emulator: a missing Calendar keeps every
slot from running (condition CalendarsValid False, slots recorded Skipped CalendarNotFound); once it
is created the operator's Calendar watch wakes the ScheduledJob and its rules exclude their slots
(recorded Skipped, reason Excluded) while the others run. The real-server twin is
tests/realserver/test_realserver_calendars.py."""

from __future__ import annotations

from typing import Any

from integration_support import NS, OperatorFactory, condition, events, jobs_of, records, scheduled_job, slot_of
from punctual_testing import wait_for

from kube_emulator import Emulator

CALENDAR_API = "punctual.dev/v1"


def calendar(name: str, *rules: str) -> dict[str, Any]:
    return {
        "apiVersion": CALENDAR_API,
        "kind": "Calendar",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"exclude": list(rules)},
    }


def test_a_missing_calendar_runs_nothing_then_its_rules_exclude_their_slots(
    emulator: Emulator, operator: OperatorFactory
) -> None:
    operator()
    emulator.create(scheduled_job("office", "*/2 * * * * *", calendars=["quiet"], historyLimit=50))
    valid = wait_for(lambda: condition(emulator, "office", "CalendarsValid"), 20, what="the CalendarsValid condition")
    assert (valid["status"], valid["reason"]) == ("False", "CalendarNotFound")
    wait_for(lambda: records(emulator, "office", "Skipped"), 20, what="a slot Skipped while the Calendar is missing")
    assert {r["reason"] for r in records(emulator, "office", "Skipped")} == {"CalendarNotFound"}
    assert jobs_of(emulator, "office") == []
    ready = condition(emulator, "office", "Ready") or {}
    assert (ready["status"], ready["reason"]) == ("False", "CalendarNotFound")
    assert "CalendarNotFound" in {e["reason"] for e in events(emulator, "office")}
    # The slots at a second divisible by 4 are excluded; the others (…2, …6) run.
    emulator.create(calendar("quiet", "*/4 * * * * *"))
    wait_for(lambda: len(jobs_of(emulator, "office")) >= 2, 30, what="runs once the Calendar exists")
    wait_for(
        lambda: [r for r in records(emulator, "office", "Skipped") if r["reason"] == "Excluded"],
        20,
        what="an excluded slot",
    )
    assert all(slot_of(j).second % 4 == 2 for j in jobs_of(emulator, "office"))
    excluded = [r for r in records(emulator, "office", "Skipped") if r["reason"] == "Excluded"]
    assert all(r["message"].endswith('excluded by calendar quiet "*/4 * * * * *"') for r in excluded)
    assert (condition(emulator, "office", "CalendarsValid") or {})["status"] == "True"


def test_a_bad_spec_exclude_is_an_invalid_spec(emulator: Emulator, operator: OperatorFactory) -> None:
    operator()
    emulator.create(scheduled_job("reversed", "*/2 * * * * *", exclude=["2026-12-26..2026-12-24"]))
    ready = wait_for(lambda: condition(emulator, "reversed", "Ready"), 20, what="the Ready condition")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert ready["message"] == (
        "spec.exclude: '2026-12-26..2026-12-24': the range ends before it starts; write FIRST..LAST, "
        "e.g. 2026-12-24..2026-12-26"
    )
    assert "InvalidSpec" in {e["reason"] for e in events(emulator, "reversed")}
    assert jobs_of(emulator, "reversed") == []
