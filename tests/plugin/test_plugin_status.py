"""kubectl_sj.status reads a status exactly as the operator's model does, or leaves it to the model. Pure."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from kubectl_sj import objects, status
from punctual import api

RECORD = {"job": "x-1", "scheduledTime": "2026-11-23T10:00:00Z", "trigger": "schedule", "result": "Succeeded"}
FULL = {
    "observedGeneration": 3,
    "conditions": [
        {"type": "Ready", "status": "True", "reason": "Scheduling", "lastTransitionTime": "2026-11-23T09:00:00Z"}
    ],
    "nextScheduleTime": "2026-11-23T10:15:00Z",
    "lastScheduleTime": "2026-11-23T10:00:00+01:00",
    "scheduledThrough": "2026-11-23T10:00:00.123456Z",
    "observedSchedule": "UTC: */15 * * * *",
    "lastSuccessfulTime": "2026-11-23T10:00:02Z",
    "lastHandledRunRequest": "2026-11-23T10:00:00.000000001Z",
    "consecutiveFailures": 3,
    "pause": {"since": "2026-11-23T10:00:05Z", "failures": 3, "generation": 2},
    "lastHandledResumeRequest": "2026-11-23T09:00:00.000000001Z",
    "retries": [
        {
            "job": "x-0-r2",
            "retryOf": "x-0",
            "scheduledTime": "2026-11-23T09:45:00Z",
            "attempt": 2,
            "dueTime": "2026-11-23T09:52:00Z",
            "reason": "WaitingForActiveRun",
        }
    ],
    "active": [{"name": "x-2", "scheduledTime": "2026-11-23T10:15:00Z", "trigger": "manual", "startTime": None}],
    "queued": [
        {
            "scheduledTime": "2026-11-23T10:30:00Z",
            "trigger": "catchup",
            "job": "x-3",
            "queuedAt": "2026-11-23T10:16:00Z",
        },
        {
            "scheduledTime": "2026-11-23T10:31:00Z",
            "trigger": "manual",
            "job": "x-m1",
            "queuedAt": "2026-11-23T10:31:00Z",
            "overrides": {"env": ["K=v", "EMPTY="], "args": ["--full", "a b"], "image": "busybox:1.37"},
        },
    ],
    "history": [
        {
            **RECORD,
            "startTime": "2026-11-23T10:00:00.5Z",
            "completionTime": "2026-11-23T10:00:02Z",
            "durationSeconds": 2,
            "exitCode": 0,
            "reason": "CompletionsReached",
            "image": "busybox",
            "extra": 1,
        },
        {**RECORD, "result": "Missed", "slotCount": 12, "message": "operator down"},
        {**RECORD, "job": "x-1-r2", "trigger": "retry", "result": "Failed", "attempt": 2, "retryOf": "x-1"},
        {**RECORD, "job": "x-m2", "trigger": "manual", "overrides": {"args": [], "container": "main"}},
    ],
    "counts": {"Succeeded": 1},
    "activeCount": 1,
    "queuedCount": 1,
    "lastResult": "Succeeded",
    "unknownField": {"ignored": True},
}


def via_model(raw: Any) -> status.Status | None:
    return status.read_status(objects.status_model(raw).model_dump(mode="json"))


@pytest.mark.parametrize(
    "raw", [{}, FULL, {"history": [RECORD]}, {"conditions": []}], ids=["empty", "full", "one", "no-conditions"]
)
def test_what_the_operator_writes_reads_as_the_model_reads_it(raw: dict[str, Any]) -> None:
    direct = status.read_status(raw)
    assert direct is not None
    assert direct == via_model(raw)


@pytest.mark.parametrize(
    "raw",
    [
        {"history": [{**RECORD, "result": "Exploded"}]},  # invalid: the model says empty
        {"history": [{**RECORD, "scheduledTime": 1763892000}]},  # valid for pydantic, not our shape
        {"nextScheduleTime": "2026-11-23T10:00:00"},  # naive: the model's validator makes it UTC
        {"activeCount": "2"},  # lax pydantic turns it into 2
        {"pause": {"since": "2026-11-23T10:00:05Z"}},  # invalid: failures is required
        {
            "retries": [
                {"job": "r", "retryOf": "x", "scheduledTime": "2026-11-23T10:00:00Z", "dueTime": "2026-11-23T10:00:00Z"}
            ]
        },  # attempt is required
        {
            "retries": [
                {
                    "job": "r",
                    "retryOf": "x",
                    "scheduledTime": "2026-11-23T10:00:00Z",
                    "attempt": "2",
                    "dueTime": "2026-11-23T10:00:00Z",
                }
            ]
        },  # lax pydantic
        {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "R",
                    "message": None,
                    "lastTransitionTime": "2026-11-23T09:00:00Z",
                }
            ]
        },
        {"history": None},
        {"history": [{**RECORD, "overrides": {"env": "K=v"}}]},  # invalid: env is a list
        {"history": [{**RECORD, "overrides": {"args": [1]}}]},  # invalid: args are strings
        {"queued": [{**RECORD, "queuedAt": "2026-11-23T10:16:00Z", "overrides": []}]},
        {"history": [{**RECORD, "job": None}]},
        [],
    ],
)
def test_anything_else_is_left_to_the_model(raw: Any) -> None:
    assert status.read_status(raw) is None
    sj = objects.ScheduledJob.from_body({"metadata": {"name": "x"}, "status": raw})
    assert sj.status == (via_model(raw) or status.Status())


def test_the_view_has_the_models_fields_and_values() -> None:
    pairs = [
        (status.Status, api.ScheduledJobStatus),
        (status.HistoryRecord, api.HistoryRecord),
        (status.ActiveRun, api.ActiveRun),
        (status.QueuedSlot, api.QueuedSlot),
        (status.Condition, api.Condition),
        (status.Backfill, api.BackfillStatus),
        (status.Pause, api.Pause),
        (status.RetryPending, api.RetryPending),
        (status.Overrides, api.Overrides),
    ]
    for view, model in pairs:
        assert [f.name for f in dataclasses.fields(view)] == list(model.model_fields), view
    assert {t.value for t in api.Trigger} == status.TRIGGERS
    assert {r.value for r in api.Result} == status.RESULTS
    assert {s.value for s in api.BackfillState} == status.BACKFILL_STATES
    assert (objects.GROUP, objects.VERSION, objects.PLURAL, objects.SINGULAR) == (
        api.GROUP,
        api.VERSION,
        api.PLURAL,
        api.SINGULAR,
    )
