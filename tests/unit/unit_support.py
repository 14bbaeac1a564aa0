"""Builders shared by the unit tests of the pure core: specs, subjects, observed Jobs, statuses.

Times are aware UTC datetimes; ``at("10:30")`` is that time on a fixed Monday, so a table row reads
like the situation it describes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from punctual.api import (
    ActiveRun,
    Condition,
    HistoryRecord,
    QueuedSlot,
    Result,
    ScheduledJobSpec,
    ScheduledJobStatus,
    Trigger,
)
from punctual.core import Decision, Subject, decide, parse_spec
from punctual.jobs import JobPhase, ObservedJob, manual_job_name, slot_job_name

__all__ = [
    "DAY",
    "NAME",
    "TEMPLATE",
    "active_job",
    "at",
    "created",
    "decide_at",
    "done_job",
    "history_of",
    "make_spec",
    "make_status",
    "make_subject",
    "manual_name",
    "queued",
    "running_record",
    "slot_name",
    "suspended_condition",
]

DAY = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
NAME = "report"
NAMESPACE = "default"

TEMPLATE: dict[str, Any] = {
    "spec": {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "busybox:1.36", "command": ["date"]}],
            }
        }
    }
}


def at(hhmm: str, *, day: int = 0) -> datetime:
    """``at("10:30")`` or ``at("10:30:45")`` on the fixed day (plus ``day`` days)."""
    parts = [int(p) for p in hhmm.split(":")]
    while len(parts) < 3:
        parts.append(0)
    return DAY + timedelta(days=day, hours=parts[0], minutes=parts[1], seconds=parts[2])


def make_spec(**fields: Any) -> ScheduledJobSpec:
    raw: dict[str, Any] = {"schedule": "*/30 * * * *", "jobTemplate": TEMPLATE}
    raw.update(fields)
    if "schedules" in fields and "schedule" not in fields:
        del raw["schedule"]
    return parse_spec(raw)


def make_subject(
    spec: ScheduledJobSpec | None = None,
    *,
    name: str = NAME,
    creation: datetime | None = None,
    run_request: str | None = None,
    backfill_request: str | None = None,
    backfill_cancel: str | None = None,
    **fields: Any,
) -> Subject:
    return Subject(
        namespace=NAMESPACE,
        name=name,
        uid="uid-1",
        creation=creation or at("00:00", day=-30),
        spec=spec or make_spec(**fields),
        generation=1,
        run_request=run_request,
        backfill_request=backfill_request,
        backfill_cancel=backfill_cancel,
    )


def slot_name(slot: datetime, *, name: str = NAME, seconds: bool = False) -> str:
    return slot_job_name(name, slot, seconds=seconds)


def manual_name(token: str, *, name: str = NAME) -> str:
    return manual_job_name(name, token)


def active_job(slot: datetime, *, trigger: Trigger = Trigger.SCHEDULE, name: str | None = None) -> ObservedJob:
    return ObservedJob(
        name=name or slot_name(slot),
        scheduled_time=slot,
        trigger=trigger,
        phase=JobPhase.ACTIVE,
        created=slot,
        start_time=slot,
    )


def done_job(
    slot: datetime,
    *,
    finished: datetime,
    ok: bool = True,
    exit_code: int | None = None,
    reason: str | None = None,
    trigger: Trigger = Trigger.SCHEDULE,
    name: str | None = None,
) -> ObservedJob:
    return ObservedJob(
        name=name or slot_name(slot),
        scheduled_time=slot,
        trigger=trigger,
        phase=JobPhase.SUCCEEDED if ok else JobPhase.FAILED,
        created=slot,
        start_time=slot,
        completion_time=finished,
        reason=reason or ("Completed" if ok else "BackoffLimitExceeded"),
        exit_code=exit_code if exit_code is not None else (0 if ok else 1),
        image="busybox:1.36",
    )


def running_record(slot: datetime, *, trigger: Trigger = Trigger.SCHEDULE, name: str | None = None) -> HistoryRecord:
    return HistoryRecord(
        job=name or slot_name(slot), scheduledTime=slot, trigger=trigger, result=Result.RUNNING, startTime=slot
    )


def queued(slot: datetime, *, trigger: Trigger = Trigger.SCHEDULE, queued_at: datetime | None = None) -> QueuedSlot:
    return QueuedSlot(
        scheduledTime=slot, trigger=trigger, job=slot_name(slot), queuedAt=queued_at or slot, dueTime=slot
    )


def suspended_condition(when: datetime) -> Condition:
    return Condition(type="Suspended", status="True", reason="Suspended", lastTransitionTime=when)


def make_status(
    *,
    through: datetime | None,
    jobs: Iterable[ObservedJob] = (),
    queue: Iterable[QueuedSlot] = (),
    **fields: Any,
) -> ScheduledJobStatus:
    """A status as the operator would have written it: running Jobs recorded and listed as active."""
    history = [running_record(j.scheduled_time, trigger=j.trigger, name=j.name) for j in jobs if not j.finished]
    active = [
        ActiveRun(name=j.name, scheduledTime=j.scheduled_time, trigger=j.trigger, startTime=j.start_time)
        for j in jobs
        if not j.finished
    ]
    return ScheduledJobStatus(
        scheduledThrough=through,
        history=fields.pop("history", history),
        active=active,
        queued=list(queue),
        **fields,
    )


def decide_at(
    subject: Subject, now: datetime, *, status: ScheduledJobStatus, jobs: Iterable[ObservedJob] = ()
) -> Decision:
    return decide(subject, status=status, jobs=list(jobs), now=now)


def created(decision: Decision) -> list[tuple[datetime, Trigger]]:
    return [(c.slot, c.trigger) for c in decision.creates]


def history_of(decision: Decision) -> dict[str, HistoryRecord]:
    return {r.job: r for r in decision.status.history}
