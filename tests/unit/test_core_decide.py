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
    make_status,
    make_subject,
    manual_name,
    queued,
    slot_name,
    suspended_condition,
)

from punctual.api import QueuedSlot, Result, Trigger
from punctual.core import AGGREGATE_MISSED, ON_TIME_TOLERANCE
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
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    subject = make_subject(run_request=case.run_request, **case.spec)
    conditions = [suspended_condition(at("06:00"))] if case.suspended_before else []
    status = make_status(through=case.through, jobs=case.jobs, queue=case.queue, conditions=conditions)

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
