"""Editing a ScheduledJob's schedule, and an invalid spec, through the real operator and the emulator.

A schedule made valid, or changed, is scheduled from the moment the operator first sees it: its slots
that fell before the edit are not caught up (they never were the schedule). An invalid spec costs one
log line per decision.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from integration_support import (
    NS,
    SJ_API,
    OperatorFactory,
    TestClock,
    condition,
    history,
    jobs_of,
    parse,
    scheduled_job,
    status,
)
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.core import schedule_fingerprint

START = datetime(2026, 3, 2, 9, 58, tzinfo=UTC)  # two minutes before the 10:00 slot
FIXED = "0 10 * * *"


@pytest.fixture
def clock() -> TestClock:
    return TestClock(start=START)


def fingerprint(schedule: str) -> str:
    return f"UTC: {schedule}"


def test_the_fingerprint_helper_matches_the_core() -> None:
    from punctual.api import ScheduledJobSpec

    spec = ScheduledJobSpec.model_validate(scheduled_job("x", FIXED)["spec"])
    assert schedule_fingerprint(spec) == fingerprint(FIXED)


@pytest.mark.parametrize(
    "before",
    ["every day at ten", "0 9 * * *"],
    ids=["invalid schedule fixed", "valid schedule changed"],
)
def test_an_edited_schedule_does_not_catch_up_its_slots_before_the_edit(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock, before: str
) -> None:
    operator()
    emulator.create(scheduled_job("edited", before))
    if before.startswith("every"):
        wait_for(lambda: (condition(emulator, "edited", "ScheduleValid") or {}).get("status") == "False", 20)
    else:
        wait_for(lambda: status(emulator, "edited").get("observedGeneration") == 1, 20)
    clock.jump(180)  # three minutes later: 10:01, the 10:00 slot of the new schedule is 60+ s past
    edited = emulator.patch(SJ_API, "scheduledjobs", "edited", {"spec": {"schedule": FIXED}}, namespace=NS)
    generation = edited["metadata"]["generation"]

    wait_for(lambda: status(emulator, "edited").get("observedGeneration") == generation, 20, what="decided")

    assert jobs_of(emulator, "edited") == []  # before the fix: a catchup Job for 10:00 at once
    assert history(emulator, "edited") == []
    decided = status(emulator, "edited")
    assert decided["observedSchedule"] == fingerprint(FIXED)
    assert parse(decided["nextScheduleTime"]) == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert parse(decided["scheduledThrough"]) > START + timedelta(minutes=3)
    assert (condition(emulator, "edited", "ScheduleValid") or {}).get("status") == "True"


def test_an_invalid_spec_is_one_log_line_per_decision(
    emulator: Emulator, operator: OperatorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    operator()
    emulator.create(scheduled_job("broken", "every day at ten"))
    wait_for(lambda: (condition(emulator, "broken", "ScheduleValid") or {}).get("status") == "False", 20)

    def lines() -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.getMessage().startswith(f"{NS}/broken: ") and "every day at ten" in r.getMessage()
        ]

    wait_for(lambda: lines(), 10, what="the InvalidSpec line")
    assert len(lines()) == 1, lines()
    # Another decision of the same invalid spec (a run request wakes it): no Event this time (the
    # conditions did not change), and still exactly one line for it.
    patch = {"metadata": {"annotations": {"punctual.dev/run-requested-at": "2026-03-02T09:58:30Z"}}}
    emulator.patch(SJ_API, "scheduledjobs", "broken", patch, namespace=NS)
    wait_for(lambda: len(lines()) >= 2, 10, what="the second decision's line")
    assert len(lines()) == 2, lines()
