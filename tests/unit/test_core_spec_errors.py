"""Invalid specs: ``parse_spec`` / ``build_schedule`` raise SpecError saying what to fix, and
``decide_invalid`` reports it in conditions and one Warning Event."""

from __future__ import annotations

from typing import Any

import pytest
from unit_support import TEMPLATE, at, make_subject

from punctual.api import ScheduledJobStatus
from punctual.core import SpecError, build_schedule, decide, decide_invalid, parse_spec

NO_CONTAINERS = {"spec": {"template": {"spec": {"containers": []}}}}

PARSE_ERRORS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("neither schedule nor schedules", {"jobTemplate": TEMPLATE}, ["spec.schedule", "e.g."]),
    ("schedules empty", {"schedules": [], "jobTemplate": TEMPLATE}, ["spec.schedule"]),
    (
        "both schedule and schedules",
        {"schedule": "@daily", "schedules": ["@hourly"], "jobTemplate": TEMPLATE},
        ["not both"],
    ),
    (
        "negative successfulJobsHistoryLimit",
        {"schedule": "@daily", "successfulJobsHistoryLimit": -1, "jobTemplate": TEMPLATE},
        ["spec.successfulJobsHistoryLimit", "0"],
    ),
    (
        "negative failedJobsHistoryLimit",
        {"schedule": "@daily", "failedJobsHistoryLimit": -2, "jobTemplate": TEMPLATE},
        ["spec.failedJobsHistoryLimit"],
    ),
    (
        "negative historyLimit",
        {"schedule": "@daily", "historyLimit": -1, "jobTemplate": TEMPLATE},
        ["spec.historyLimit"],
    ),
    (
        "negative startingDeadlineSeconds",
        {"schedule": "@daily", "startingDeadlineSeconds": -5, "jobTemplate": TEMPLATE},
        ["spec.startingDeadlineSeconds"],
    ),
    ("maxQueued zero", {"schedule": "@daily", "maxQueued": 0, "jobTemplate": TEMPLATE}, ["spec.maxQueued"]),
    (
        "unknown concurrencyPolicy",
        {"schedule": "@daily", "concurrencyPolicy": "Sometimes", "jobTemplate": TEMPLATE},
        ["spec.concurrencyPolicy", "Forbid"],
    ),
    ("unknown catchUp", {"schedule": "@daily", "catchUp": "Some", "jobTemplate": TEMPLATE}, ["spec.catchUp"]),
    ("unknown field", {"schedule": "@daily", "schedul": "x", "jobTemplate": TEMPLATE}, ["spec.schedul"]),
    ("missing jobTemplate", {"schedule": "@daily"}, ["spec.jobTemplate"]),
    (
        "missing containers",
        {"schedule": "@daily", "jobTemplate": NO_CONTAINERS},
        ["spec.jobTemplate.spec", "containers"],
    ),
    ("no pod template", {"schedule": "@daily", "jobTemplate": {"spec": {}}}, ["containers"]),
]


@pytest.mark.parametrize(("raw", "needles"), [(r, n) for _, r, n in PARSE_ERRORS], ids=[i for i, _, _ in PARSE_ERRORS])
def test_parse_spec_rejects_with_an_actionable_message(raw: dict[str, Any], needles: list[str]) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message


SCHEDULE_ERRORS: list[tuple[str, dict[str, Any], list[str]]] = [
    ("bad cron", {"schedule": "61 * * * *"}, ["61 * * * *"]),
    ("garbage cron", {"schedule": "every day"}, ["every day", "fields"]),
    ("seven fields", {"schedule": "0 0 0 * * * *"}, ["7 fields", "5"]),
    ("unknown zone", {"schedule": "@daily", "timeZone": "Mars/Olympus"}, ["Mars/Olympus", "IANA"]),
    ("bad jitter", {"schedule": "@daily", "jitter": "soon"}, ["soon", "90s"]),
    ("negative jitter", {"schedule": "@daily", "jitter": "-5"}, ["-5"]),
    ("unknown macro", {"schedule": "@fortnightly"}, ["@fortnightly", "@daily"]),
    ("one bad expression in schedules", {"schedules": ["@daily", "0 25 * * *"]}, ["0 25 * * *"]),
    ("February 30", {"schedule": "0 0 30 2 *"}, ["never fires"]),
]


@pytest.mark.parametrize(
    ("fields", "needles"), [(f, n) for _, f, n in SCHEDULE_ERRORS], ids=[i for i, _, _ in SCHEDULE_ERRORS]
)
def test_build_schedule_rejects_with_an_actionable_message(fields: dict[str, Any], needles: list[str]) -> None:
    subject = make_subject(**fields)
    with pytest.raises(SpecError) as info:
        build_schedule(subject)
    for needle in needles:
        assert needle in str(info.value)
    # decide itself refuses the same spec with the same error: it never schedules a bad spec.
    with pytest.raises(SpecError):
        decide(subject, status=ScheduledJobStatus(), jobs=[], now=at("10:00"))


def test_decide_invalid_sets_conditions_and_emits_one_warning() -> None:
    error = "spec.schedule: invalid cron expression '61 * * * *'"
    status = ScheduledJobStatus(nextScheduleTime=at("11:00"))

    first = decide_invalid(3, status=status, error=error, now=at("10:00"))

    conditions = {c.type: c for c in first.status.conditions}
    for type_ in ("ScheduleValid", "Ready"):
        assert conditions[type_].status == "False"
        assert conditions[type_].reason == "InvalidSpec"
        assert conditions[type_].message == error
        assert conditions[type_].observedGeneration == 3
        assert conditions[type_].lastTransitionTime == at("10:00")
    assert [(e.type, e.reason, e.message) for e in first.events] == [("Warning", "InvalidSpec", error)]
    assert first.creates == () and first.deletes == () and first.wake_at is None
    assert first.status.nextScheduleTime is None
    assert first.status.observedGeneration == 3

    # Seen again unchanged: no second Event, the transition time stays.
    again = decide_invalid(3, status=first.status, error=error, now=at("10:05"))
    assert again.events == ()
    assert {c.type: c.lastTransitionTime for c in again.status.conditions}["Ready"] == at("10:00")

    # Fixed: a valid decision flips the conditions back to True.
    fixed = decide(make_subject(), status=again.status, jobs=[], now=at("10:10"))
    assert {c.type: c.status for c in fixed.status.conditions}["ScheduleValid"] == "True"
    assert {c.type: c.status for c in fixed.status.conditions}["Ready"] == "True"


def test_decide_invalid_new_error_emits_a_new_event() -> None:
    first = decide_invalid(1, status=ScheduledJobStatus(), error="bad one", now=at("10:00"))
    second = decide_invalid(2, status=first.status, error="bad two", now=at("10:01"))
    assert [e.message for e in second.events] == ["bad two"]
