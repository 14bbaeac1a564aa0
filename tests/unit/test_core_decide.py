"""Table-driven tests of ``punctual.core.decide``, one row per behaviour (as cronjob_controllerv2_test.go).

Every row: a ScheduledJob ``*/30 * * * *`` whose slots up to ``through`` were decided, the Jobs that
exist, the queue, and ``now``. The row names what should happen: which runs are created, which slots are
recorded (Skipped, Missed, Dropped, ...), which Jobs are deleted and what is left waiting in the queue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from unit_support import (
    active_job,
    at,
    created,
    decide_at,
    done_job,
    make_spec,
    make_status,
    make_subject,
    manual_name,
    queued,
    slot_name,
    suspended_condition,
)

from punctual.api import HistoryRecord, QueuedSlot, Result, ScheduledJobStatus, Trigger
from punctual.core import AGGREGATE_MISSED, INVALID_SCHEDULE, ON_TIME_TOLERANCE, decide_invalid, schedule_fingerprint
from punctual.jobs import ObservedJob

S = Trigger.SCHEDULE
C = Trigger.CATCHUP
M = Trigger.MANUAL
TOKEN = "2026-01-05T10:10:00Z"
TEN = at("10:00")  # slots up to here were decided


def half_hours(first: str, last: str, *, day: int = 0) -> list[datetime]:
    out, t = [], at(first, day=day)
    while t <= at(last, day=day):
        out.append(t)
        t += timedelta(minutes=30)
    return out


@dataclass(frozen=True)
class Case:
    name: str
    now: datetime
    spec: dict[str, Any] = field(default_factory=dict)
    through: datetime | None = TEN
    jobs: tuple[ObservedJob, ...] = ()
    queue: tuple[QueuedSlot, ...] = ()
    run_request: str | None = None
    suspended_before: bool = False
    creates: tuple[tuple[datetime, Trigger], ...] = ()
    recorded: tuple[tuple[datetime, Result, str], ...] = ()
    """Records of this decision other than Running ones: (slot, result, reason)."""
    deletes: tuple[tuple[str, str], ...] = ()
    queued_after: tuple[tuple[datetime, Trigger], ...] = ()
    observed_schedule: str | None = None
    """status.observedSchedule: the schedule the earlier decisions were made under (None: not recorded)."""


def fingerprint(**spec: Any) -> str:
    return schedule_fingerprint(make_spec(**spec))


HALF_HOURLY = fingerprint()  # the rows' schedule, */30 * * * * in UTC
HOURLY = fingerprint(schedule="0 * * * *")


RUNNING_1000 = (active_job(at("10:00")),)
CATCHUP_0930 = (queued(at("09:30"), trigger=C, queued_at=at("09:30")),)
ENDED_1000 = (done_job(at("10:00"), finished=at("10:25")),)
ENDED_1000_REC = ((at("10:00"), Result.SUCCEEDED, "Completed"),)
OUTAGE = half_hours("06:30", "10:00")  # slots missed while the operator was down from 06:00


def missed(slots: list[datetime], reason: str) -> tuple[tuple[datetime, Result, str], ...]:
    return tuple((s, Result.MISSED, reason) for s in slots)


CASES = [
    # --- the concurrency policies x nothing active / a run active / the queue non-empty ----------------
    Case("never ran, is time, Allow", at("10:30"), {"concurrencyPolicy": "Allow"}, creates=((at("10:30"), S),)),
    Case("never ran, is time, Forbid", at("10:30"), {"concurrencyPolicy": "Forbid"}, creates=((at("10:30"), S),)),
    Case("never ran, is time, Replace", at("10:30"), {"concurrencyPolicy": "Replace"}, creates=((at("10:30"), S),)),
    Case("never ran, is time, Queue", at("10:30"), {"concurrencyPolicy": "Queue"}, creates=((at("10:30"), S),)),
    Case("never ran, not time yet, Allow", at("10:29:59"), {"concurrencyPolicy": "Allow"}),
    Case(
        "still active, is time, Allow: runs beside it",
        at("10:30"),
        {"concurrencyPolicy": "Allow"},
        jobs=RUNNING_1000,
        creates=((at("10:30"), S),),
    ),
    Case(
        "still active, is time, Forbid: skipped",
        at("10:30"),
        {"concurrencyPolicy": "Forbid"},
        jobs=RUNNING_1000,
        recorded=((at("10:30"), Result.SKIPPED, "ConcurrencyForbid"),),
    ),
    Case(
        "still active, is time, Replace: the active run is deleted",
        at("10:30"),
        {"concurrencyPolicy": "Replace"},
        jobs=RUNNING_1000,
        creates=((at("10:30"), S),),
        recorded=((at("10:00"), Result.REPLACED, "Replaced"),),
        deletes=((slot_name(at("10:00")), "Replaced"),),
    ),
    Case(
        "still active, is time, Queue: waits",
        at("10:30"),
        {"concurrencyPolicy": "Queue"},
        jobs=RUNNING_1000,
        queued_after=((at("10:30"), S),),
    ),
    Case(
        "still active, not time yet, Forbid: nothing",
        at("10:20"),
        {"concurrencyPolicy": "Forbid"},
        jobs=RUNNING_1000,
    ),
    Case(
        "still active, queue full at maxQueued 1, Queue: dropped",
        at("10:30"),
        {"concurrencyPolicy": "Queue", "maxQueued": 1},
        jobs=(active_job(at("09:30")),),
        queue=(queued(at("10:00")),),
        recorded=((at("10:30"), Result.DROPPED, "QueueFull"),),
        queued_after=((at("10:00"), S),),
    ),
    Case(
        "still active, one queued below maxQueued 2, Queue: waits second",
        at("10:30"),
        {"concurrencyPolicy": "Queue", "maxQueued": 2},
        jobs=(active_job(at("09:30")),),
        queue=(queued(at("10:00")),),
        queued_after=((at("10:00"), S), (at("10:30"), S)),
    ),
    Case(
        "queue non-empty, still active, Allow: the queue starts beside the active run",
        at("10:30"),
        {"concurrencyPolicy": "Allow"},
        jobs=RUNNING_1000,
        queue=CATCHUP_0930,
        creates=((at("09:30"), C), (at("10:30"), S)),
    ),
    Case(
        "queue non-empty, still active, Forbid: skipped",
        at("10:30"),
        {"concurrencyPolicy": "Forbid"},
        jobs=RUNNING_1000,
        queue=CATCHUP_0930,
        recorded=((at("10:30"), Result.SKIPPED, "ConcurrencyForbid"),),
        queued_after=((at("09:30"), C),),
    ),
    Case(
        "queue non-empty, still active, Replace: replaces the active run, catch-up keeps waiting",
        at("10:30"),
        {"concurrencyPolicy": "Replace"},
        jobs=RUNNING_1000,
        queue=CATCHUP_0930,
        creates=((at("10:30"), S),),
        recorded=((at("10:00"), Result.REPLACED, "Replaced"),),
        deletes=((slot_name(at("10:00")), "Replaced"),),
        queued_after=((at("09:30"), C),),
    ),
    Case(
        "queue non-empty, still active, Queue: waits behind the catch-up (catch-ups do not count to maxQueued)",
        at("10:30"),
        {"concurrencyPolicy": "Queue"},
        jobs=RUNNING_1000,
        queue=CATCHUP_0930,
        queued_after=((at("09:30"), C), (at("10:30"), S)),
    ),
    Case(
        "queue non-empty, run just ended, Allow: both start",
        at("10:30"),
        {"concurrencyPolicy": "Allow"},
        jobs=ENDED_1000,
        queue=CATCHUP_0930,
        creates=((at("09:30"), C), (at("10:30"), S)),
        recorded=ENDED_1000_REC,
    ),
    Case(
        "queue non-empty, run just ended, Forbid: the catch-up starts, the slot is skipped",
        at("10:30"),
        {"concurrencyPolicy": "Forbid"},
        jobs=ENDED_1000,
        queue=CATCHUP_0930,
        creates=((at("09:30"), C),),
        recorded=(*ENDED_1000_REC, (at("10:30"), Result.SKIPPED, "ConcurrencyForbid")),
    ),
    Case(
        "queue non-empty, run just ended, Replace: the slot starts, the catch-up is neither created nor deleted",
        at("10:30"),
        {"concurrencyPolicy": "Replace"},
        jobs=ENDED_1000,
        queue=CATCHUP_0930,
        creates=((at("10:30"), S),),
        recorded=ENDED_1000_REC,
        queued_after=((at("09:30"), C),),
    ),
    Case(
        "queue non-empty, run just ended, Queue: the catch-up starts, the slot waits",
        at("10:30"),
        {"concurrencyPolicy": "Queue"},
        jobs=ENDED_1000,
        queue=CATCHUP_0930,
        creates=((at("09:30"), C),),
        recorded=ENDED_1000_REC,
        queued_after=((at("10:30"), S),),
    ),
    Case(
        "queued slot starts when the active run ends, Queue",
        at("10:40"),
        {"concurrencyPolicy": "Queue"},
        through=at("10:30"),
        jobs=(done_job(at("10:00"), finished=at("10:40")),),
        queue=(queued(at("10:30")),),
        creates=((at("10:30"), S),),
        recorded=((at("10:00"), Result.SUCCEEDED, "Completed"),),
    ),
    # --- catch-up after an outage (the operator was down from 06:00 to now) ---------------------------
    Case(
        "outage, catchUp None: missed slots recorded, the on-time slot runs",
        at("10:30"),
        {"catchUp": "None"},
        through=at("06:00"),
        creates=((at("10:30"), S),),
        recorded=missed(OUTAGE, "CatchUpNone"),
    ),
    Case(
        "outage, catchUp None, newest slot late too: nothing runs",
        at("10:45"),
        {"catchUp": "None"},
        through=at("06:00"),
        recorded=missed([*OUTAGE, at("10:30")], "CatchUpNone"),
    ),
    Case(
        "outage, catchUp Latest, newest on time: it runs on schedule, the rest are superseded",
        at("10:30"),
        {"catchUp": "Latest"},
        through=at("06:00"),
        creates=((at("10:30"), S),),
        recorded=missed(OUTAGE, "Superseded"),
    ),
    Case(
        "outage, catchUp Latest, newest late: only the newest runs, as a catch-up",
        at("10:45"),
        {"catchUp": "Latest"},
        through=at("06:00"),
        creates=((at("10:30"), C),),
        recorded=missed(OUTAGE, "Superseded"),
    ),
    Case(
        "outage, catchUp All, Allow: every missed slot starts at once with its own time",
        at("10:30"),
        {"catchUp": "All", "concurrencyPolicy": "Allow"},
        through=at("06:00"),
        creates=(*((s, C) for s in OUTAGE), (at("10:30"), S)),
    ),
    Case(
        "outage, catchUp All, Forbid: catch-ups serialised oldest first, the on-time slot skipped",
        at("10:30"),
        {"catchUp": "All", "concurrencyPolicy": "Forbid"},
        through=at("06:00"),
        creates=((at("06:30"), C),),
        recorded=((at("10:30"), Result.SKIPPED, "ConcurrencyForbid"),),
        queued_after=tuple((s, C) for s in OUTAGE[1:]),
    ),
    Case(
        "outage, catchUp All, Queue: catch-ups serialised, the on-time slot queued after them",
        at("10:30"),
        {"catchUp": "All", "concurrencyPolicy": "Queue"},
        through=at("06:00"),
        creates=((at("06:30"), C),),
        queued_after=(*((s, C) for s in OUTAGE[1:]), (at("10:30"), S)),
    ),
    Case(
        "outage, catchUp All, Replace: the on-time slot runs, catch-ups wait their turn",
        at("10:30"),
        {"catchUp": "All", "concurrencyPolicy": "Replace"},
        through=at("06:00"),
        creates=((at("10:30"), S),),
        queued_after=tuple((s, C) for s in OUTAGE),
    ),
    Case(
        "outage, catchUp All, maxCatchUp 3: the newest three run, older ones Missed",
        at("10:30"),
        {"catchUp": "All", "maxCatchUp": 3},
        through=at("06:00"),
        creates=((at("09:00"), C), (at("09:30"), C), (at("10:00"), C), (at("10:30"), S)),
        recorded=missed(OUTAGE[:-3], "CatchUpLimit"),
    ),
    Case(
        "outage, catchUp All, maxCatchUp 0: nothing is caught up",
        at("10:30"),
        {"catchUp": "All", "maxCatchUp": 0},
        through=at("06:00"),
        creates=((at("10:30"), S),),
        recorded=missed(OUTAGE, "CatchUpLimit"),
    ),
    # --- ON_TIME_TOLERANCE --------------------------------------------------------------------------
    Case(
        "seen exactly ON_TIME_TOLERANCE late: still on time",
        at("10:30") + ON_TIME_TOLERANCE,
        {"catchUp": "None"},
        creates=((at("10:30"), S),),
    ),
    Case(
        "seen 1 microsecond past ON_TIME_TOLERANCE, catchUp None: missed",
        at("10:30") + ON_TIME_TOLERANCE + timedelta(microseconds=1),
        {"catchUp": "None"},
        recorded=missed([at("10:30")], "CatchUpNone"),
    ),
    Case(
        "seen 1 microsecond past ON_TIME_TOLERANCE, catchUp Latest: runs as a catch-up",
        at("10:30") + ON_TIME_TOLERANCE + timedelta(microseconds=1),
        {"catchUp": "Latest"},
        creates=((at("10:30"), C),),
    ),
    # --- startingDeadlineSeconds --------------------------------------------------------------------
    Case(
        "on time but past startingDeadlineSeconds: missed",
        at("10:30:45"),
        {"startingDeadlineSeconds": 30},
        recorded=((at("10:30"), Result.MISSED, "DeadlineExceeded"),),
    ),
    Case(
        "on time within startingDeadlineSeconds: runs",
        at("10:30:45"),
        {"startingDeadlineSeconds": 60},
        creates=((at("10:30"), S),),
    ),
    Case(
        "startingDeadlineSeconds 0, seen at the slot's instant: runs",
        at("10:30"),
        {"startingDeadlineSeconds": 0},
        creates=((at("10:30"), S),),
    ),
    Case(
        "catch-up slot past startingDeadlineSeconds: missed",
        at("10:45"),
        {"catchUp": "Latest", "startingDeadlineSeconds": 600},
        recorded=((at("10:30"), Result.MISSED, "DeadlineExceeded"),),
    ),
    Case(
        "catch-up slot within startingDeadlineSeconds: runs",
        at("10:45"),
        {"catchUp": "Latest", "startingDeadlineSeconds": 1200},
        creates=((at("10:30"), C),),
    ),
    Case(
        "queued slot past startingDeadlineSeconds: missed, leaves the queue",
        at("10:36"),
        {"concurrencyPolicy": "Queue", "startingDeadlineSeconds": 300},
        through=at("10:30"),
        jobs=RUNNING_1000,
        queue=(queued(at("10:30")),),
        recorded=((at("10:30"), Result.MISSED, "DeadlineExceeded"),),
    ),
    Case(
        "queued slot past startingDeadlineSeconds when the run ends: missed, not started",
        at("10:36"),
        {"concurrencyPolicy": "Queue", "startingDeadlineSeconds": 300},
        through=at("10:30"),
        jobs=(done_job(at("10:00"), finished=at("10:36")),),
        queue=(queued(at("10:30")),),
        recorded=((at("10:00"), Result.SUCCEEDED, "Completed"), (at("10:30"), Result.MISSED, "DeadlineExceeded")),
    ),
    Case(
        "queued slot within startingDeadlineSeconds when the run ends: starts",
        at("10:33"),
        {"concurrencyPolicy": "Queue", "startingDeadlineSeconds": 300},
        through=at("10:30"),
        jobs=(done_job(at("10:00"), finished=at("10:33")),),
        queue=(queued(at("10:30")),),
        creates=((at("10:30"), S),),
        recorded=((at("10:00"), Result.SUCCEEDED, "Completed"),),
    ),
    # --- suspend ------------------------------------------------------------------------------------
    Case("suspended, is time: nothing runs, nothing recorded", at("10:30"), {"suspend": True}),
    Case(
        "suspended, catchUp All after an outage: nothing runs",
        at("10:30"),
        {"suspend": True, "catchUp": "All"},
        through=at("06:00"),
    ),
    Case(
        "resumed after suspension, catchUp All: the slots consumed while suspended are not caught up",
        at("10:10"),
        {"catchUp": "All"},
        through=at("10:00"),
        suspended_before=True,
    ),
    Case(
        "resumed while the operator was down, catchUp All: the downtime slots are caught up, not skipped",
        at("10:10"),
        {"catchUp": "All"},
        through=at("08:00"),
        suspended_before=True,
        creates=((at("08:30"), C), (at("09:00"), C), (at("09:30"), C), (at("10:00"), C)),
    ),
    Case(
        "suspended, manual run requested: it runs",
        at("10:10"),
        {"suspend": True},
        run_request=TOKEN,
        creates=((at("10:10"), M),),
    ),
    # --- manual runs, through the concurrency policy --------------------------------------------------
    Case(
        "manual run, nothing active, Forbid",
        at("10:10"),
        {"concurrencyPolicy": "Forbid"},
        run_request=TOKEN,
        creates=((at("10:10"), M),),
    ),
    Case(
        "manual run, a run active, Allow: runs beside it",
        at("10:10"),
        {"concurrencyPolicy": "Allow"},
        jobs=RUNNING_1000,
        run_request=TOKEN,
        creates=((at("10:10"), M),),
    ),
    Case(
        "manual run, a run active, Forbid: skipped",
        at("10:10"),
        {"concurrencyPolicy": "Forbid"},
        jobs=RUNNING_1000,
        run_request=TOKEN,
        recorded=((at("10:10"), Result.SKIPPED, "ConcurrencyForbid"),),
    ),
    Case(
        "manual run, a run active, Replace: replaces it",
        at("10:10"),
        {"concurrencyPolicy": "Replace"},
        jobs=RUNNING_1000,
        run_request=TOKEN,
        creates=((at("10:10"), M),),
        recorded=((at("10:00"), Result.REPLACED, "Replaced"),),
        deletes=((slot_name(at("10:00")), "Replaced"),),
    ),
    Case(
        "manual run, a run active, Queue: waits",
        at("10:10"),
        {"concurrencyPolicy": "Queue"},
        jobs=RUNNING_1000,
        run_request=TOKEN,
        queued_after=((at("10:10"), M),),
    ),
    Case(
        "manual run, queue full, Queue: dropped",
        at("10:10"),
        {"concurrencyPolicy": "Queue"},
        jobs=(active_job(at("09:30")),),
        queue=(queued(at("10:00")),),
        run_request=TOKEN,
        recorded=((at("10:10"), Result.DROPPED, "QueueFull"),),
        queued_after=((at("10:00"), S),),
    ),
    # --- a spec change that makes the schedule valid or different: its earlier slots never existed ----
    Case(
        "invalid schedule fixed: no catch-up of slots before the fix",
        at("10:03"),
        through=None,  # invalid since creation: no slot was ever decided
        observed_schedule=INVALID_SCHEDULE,
    ),
    Case(
        "invalid schedule fixed after it was valid: the slots while invalid are not caught up",
        at("10:45"),
        {"catchUp": "All"},
        through=at("09:00"),
        observed_schedule=INVALID_SCHEDULE,
    ),
    Case(
        "schedule changed: old slots not caught up under the new schedule",
        at("10:45"),  # 10:30 of the new */30 schedule would be a catch-up
        through=TEN,
        observed_schedule=HOURLY,
    ),
    Case(
        "schedule changed, catchUp All: no slot of the new schedule before the change runs",
        at("10:45"),
        {"catchUp": "All"},
        through=at("06:00"),
        observed_schedule=HOURLY,
    ),
    Case(
        "schedule changed at a slot of the new schedule: that slot runs on time",
        at("10:30"),
        through=TEN,
        observed_schedule=HOURLY,
        creates=((at("10:30"), S),),
    ),
    Case(
        "time zone changed: old slots not caught up in the new zone",
        at("10:20"),  # 10:15 UTC is 16:00 in Kathmandu (+05:45): a catch-up without the rule
        {"timeZone": "Asia/Kathmandu"},
        through=TEN,
        observed_schedule=HALF_HOURLY,
    ),
    Case(
        "unchanged schedule after restart: catch-up All still runs every missed slot",
        at("10:30"),
        {"catchUp": "All", "concurrencyPolicy": "Allow"},
        through=at("06:00"),
        observed_schedule=HALF_HOURLY,
        creates=(*((s, C) for s in OUTAGE), (at("10:30"), S)),
    ),
    Case(
        "unchanged schedule after restart: catch-up Latest still runs the newest missed slot",
        at("10:45"),
        through=at("06:00"),
        observed_schedule=HALF_HOURLY,
        creates=((at("10:30"), C),),
        recorded=missed(OUTAGE, "Superseded"),
    ),
    Case(
        "jitter changed: not a schedule change, the missed slot is caught up",
        at("10:45"),
        {"jitter": "1m"},
        through=TEN,
        observed_schedule=HALF_HOURLY,
        creates=((at("10:30"), C),),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    subject = make_subject(run_request=case.run_request, **case.spec)
    conditions = [suspended_condition(at("06:00"))] if case.suspended_before else []
    status = make_status(
        through=case.through,
        jobs=case.jobs,
        queue=case.queue,
        conditions=conditions,
        observedSchedule=case.observed_schedule,
    )

    decision = decide_at(subject, case.now, status=status, jobs=case.jobs)

    assert created(decision) == list(case.creates)
    for create in decision.creates:
        expected = manual_name(TOKEN) if create.trigger is M else slot_name(create.slot)
        assert create.name == expected == create.manifest["metadata"]["name"]
    recorded = sorted(
        (r.scheduledTime, r.result, r.reason or "") for r in decision.records if r.result is not Result.RUNNING
    )
    assert recorded == sorted(case.recorded)
    assert [(d.name, d.reason) for d in decision.deletes] == list(case.deletes)
    assert [(q.scheduledTime, q.trigger) for q in decision.status.queued] == list(case.queued_after)
    # Invariants of every decision.
    status_out = decision.status
    assert status_out.queuedCount == len(status_out.queued)
    assert status_out.activeCount == len(status_out.active)
    finished = {j.name for j in case.jobs if j.finished} | {d.name for d in decision.deletes}
    assert not finished & {a.name for a in status_out.active}
    assert decision.wake_at is None or decision.wake_at > case.now
    assert status_out.scheduledThrough is not None and status_out.scheduledThrough <= case.now
    if case.run_request:
        assert status_out.lastHandledRunRequest == case.run_request
    assert status_out.observedSchedule == schedule_fingerprint(subject.spec)


def test_every_policy_and_situation_is_covered() -> None:
    names = " ".join(c.name for c in CASES)
    for policy in ("Allow", "Forbid", "Replace", "Queue"):
        for situation in ("never ran", "still active", "queue non-empty", "manual run"):
            assert any(situation in c.name and c.name.count(policy) for c in CASES), (situation, policy)
    assert "dropped" in names


def test_aggregated_missed_record_for_a_long_outage() -> None:
    subject = make_subject(catchUp="None")
    lost = half_hours("10:30", "23:30", day=-1) + half_hours("00:00", "10:00")
    assert len(lost) > AGGREGATE_MISSED

    decision = decide_at(subject, at("10:30"), status=make_status(through=at("10:00", day=-1)))

    missed_records = [r for r in decision.records if r.result is Result.MISSED]
    assert len(missed_records) == 1
    (record,) = missed_records
    assert record.slotCount == len(lost) == 48
    assert record.scheduledTime == lost[0]
    assert record.reason == "CatchUpNone"
    assert "48 slots" in (record.message or "")
    assert decision.status.counts["Missed"] == 48
    assert created(decision) == [(at("10:30"), S)]
    assert [e.reason for e in decision.events].count("SlotMissed") == 1


def test_a_few_missed_slots_are_recorded_one_by_one() -> None:
    subject = make_subject(catchUp="None")
    decision = decide_at(subject, at("10:30"), status=make_status(through=at("05:00")))
    records = [r for r in decision.records if r.result is Result.MISSED]
    assert len(records) == AGGREGATE_MISSED
    assert all(r.slotCount is None for r in records)


# -- the schedule a decision was made under (status.observedSchedule) ------------------------------


def test_the_rule_is_what_stops_the_catch_up() -> None:
    """Without a recorded schedule (a status lost, or from before the field) the old cursor rules."""
    subject = make_subject()
    for observed, expected in ((None, [(at("10:30"), C)]), (HALF_HOURLY, [(at("10:30"), C)]), (HOURLY, [])):
        status = make_status(through=TEN, observedSchedule=observed)
        assert created(decide_at(subject, at("10:45"), status=status)) == expected, observed


def test_an_invalid_spec_is_recorded_and_the_fixed_one_resumes_from_the_fix() -> None:
    created_at = at("09:58")
    invalid = decide_invalid(1, status=ScheduledJobStatus(), error="spec.schedule: bad", now=created_at)
    assert invalid.status.observedSchedule == INVALID_SCHEDULE
    subject = make_subject(creation=created_at)
    fixed = decide_at(subject, at("10:01:30"), status=invalid.status)  # 10:00 of the new schedule passed
    assert created(fixed) == [] and not [r for r in fixed.records if r.result is not Result.RUNNING]
    assert fixed.status.observedSchedule == HALF_HOURLY
    assert fixed.status.nextScheduleTime == at("10:30")
    # The status is all a restart needs: the next decision runs the next slot, on time.
    later = decide_at(subject, at("10:30"), status=fixed.status)
    assert created(later) == [(at("10:30"), S)]


def test_a_changed_schedule_survives_a_restart_through_status() -> None:
    before = decide_at(make_subject(schedule="0 * * * *"), at("10:00"), status=make_status(through=at("09:00")))
    assert before.status.observedSchedule == HOURLY
    changed = decide_at(make_subject(), at("10:45"), status=before.status)
    assert created(changed) == []
    # A restart re-reads that status: the schedule is now the recorded one, so no reset and no loss.
    after_restart = decide_at(make_subject(), at("11:05"), status=changed.status)
    assert created(after_restart) == [(at("11:00"), C)]


# -- status.lastResult: the newest finished run's outcome -------------------------------------------


def record(slot: str, result: Result, *, finished: str | None = None) -> HistoryRecord:
    return HistoryRecord(
        job=slot_name(at(slot)),
        scheduledTime=at(slot),
        trigger=S,
        result=result,
        completionTime=at(finished) if finished else None,
    )


LAST_RESULT_CASES = [
    (
        "a slot dropped after the run that then succeeded: Succeeded",
        [
            record("11:00", Result.DROPPED),
            record("10:30", Result.SKIPPED),
            record("10:00", Result.SUCCEEDED, finished="11:05"),
        ],
        None,
        "Succeeded",
    ),
    (
        "a failed run, then slots skipped and missed: Failed",
        [
            record("11:00", Result.MISSED),
            record("10:30", Result.SKIPPED),
            record("10:00", Result.FAILED, finished="10:20"),
        ],
        None,
        "Failed",
    ),
    (
        "two finished runs: the one that finished last",
        [record("10:30", Result.SUCCEEDED, finished="10:40"), record("10:00", Result.FAILED, finished="10:50")],
        None,
        "Failed",
    ),
    ("a replaced run is no finished run's outcome", [record("10:00", Result.REPLACED, finished="10:30")], None, None),
    ("only slots that did not run: none yet", [record("10:00", Result.DROPPED)], None, None),
    (
        "the finished runs trimmed away: the recorded outcome stays",
        [record("10:00", Result.MISSED)],
        "Succeeded",
        "Succeeded",
    ),
    ("an old status that said Dropped is not kept", [record("10:00", Result.SKIPPED)], "Dropped", None),
]


@pytest.mark.parametrize(
    ("history", "previous", "expected"), [c[1:] for c in LAST_RESULT_CASES], ids=[c[0] for c in LAST_RESULT_CASES]
)
def test_last_result(history: list[HistoryRecord], previous: str | None, expected: str | None) -> None:
    status = make_status(through=at("11:00"), history=history, lastResult=previous)
    decision = decide_at(make_subject(historyLimit=100), at("11:10"), status=status)
    assert decision.status.lastResult == expected


def test_last_result_after_a_queue_drop_and_a_success_in_one_decision() -> None:
    """The finding: Queue, 10:00 running, 10:30 queued, 11:00 dropped; 10:00 then succeeds."""
    subject = make_subject(concurrencyPolicy="Queue")
    jobs = (active_job(at("10:00")),)
    dropped = decide_at(
        subject,
        at("11:00"),
        status=make_status(through=at("10:30"), jobs=jobs, queue=(queued(at("10:30")),)),
        jobs=jobs,
    )
    assert [r.result for r in dropped.records if r.result is not Result.RUNNING] == [Result.DROPPED]
    assert dropped.status.lastResult is None
    done = (done_job(at("10:00"), finished=at("11:05")),)
    after = decide_at(subject, at("11:05"), status=dropped.status, jobs=done)
    assert after.status.lastResult == "Succeeded"


# -- Superseded: the message says what became of the later slot -------------------------------------


def superseded_messages(decision: Any) -> set[str]:
    """What the Superseded records say about the later slot (the part after "slot T not run: ")."""
    return {(r.message or "").split(" not run: ", 1)[1] for r in decision.records if r.reason == "Superseded"}


@pytest.mark.parametrize(
    ("policy", "jobs", "fate"),
    [
        ("Allow", (), "ran instead"),
        ("Forbid", (), "was queued instead"),  # a catch-up under Forbid waits its turn in the queue
        ("Queue", (active_job(at("09:00")),), "was queued instead"),
    ],
    ids=["Allow: started", "Forbid: queued catch-up", "Queue behind a run: queued"],
)
def test_superseded_says_whether_the_later_slot_ran_or_was_queued(
    policy: str, jobs: tuple[Any, ...], fate: str
) -> None:
    subject = make_subject(concurrencyPolicy=policy)
    decision = decide_at(subject, at("10:45"), status=make_status(through=at("08:00"), jobs=jobs), jobs=jobs)
    (message,) = superseded_messages(decision)
    assert message == f"the later slot 2026-01-05T10:30:00Z {fate} (catchUp Latest)"


def test_superseded_by_an_on_time_slot_that_was_skipped_says_so() -> None:
    subject = make_subject(concurrencyPolicy="Forbid")
    jobs = (active_job(at("09:00")),)
    decision = decide_at(subject, at("10:30"), status=make_status(through=at("09:00"), jobs=jobs), jobs=jobs)
    (message,) = superseded_messages(decision)
    assert "the later slot 2026-01-05T10:30:00Z was taken instead (catchUp Latest)" in message
    assert "did not run either (Skipped: ConcurrencyForbid)" in message
    assert "ran instead" not in message


def test_superseded_events_still_come_before_the_later_slot_events() -> None:
    decision = decide_at(make_subject(), at("10:45"), status=make_status(through=at("09:00")))
    reasons = [e.reason for e in decision.events]
    assert reasons.index("SlotMissed") < reasons.index("RunStarted")
