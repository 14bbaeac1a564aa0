"""Table-driven tests of ``spec.maxActive`` and ``spec.overflow`` (Allow with a cap), one row per behaviour.

Every row: a ScheduledJob ``*/30 * * * *`` with ``concurrencyPolicy: Allow`` and ``maxActive`` whose
slots up to ``through`` were decided, the Jobs that exist, the queue and ``now``; the row names what
should happen to a slot beyond the cap (queued with reason MaxActive, or Skipped with reason MaxActive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from unit_support import (
    TEMPLATE,
    active_job,
    at,
    created,
    decide_at,
    done_job,
    make_status,
    make_subject,
    manual_name,
    queued,
)

from punctual.api import QueuedSlot, Result, Trigger
from punctual.core import SpecError, parse_spec
from punctual.core.policy import MAX_ACTIVE
from punctual.jobs import ObservedJob

S = Trigger.SCHEDULE
C = Trigger.CATCHUP
M = Trigger.MANUAL
TOKEN = "2026-01-05T10:10:00Z"
TEN = at("10:00")


def waiting(slot: datetime, *, trigger: Trigger = S, reason: str | None = MAX_ACTIVE) -> QueuedSlot:
    q = queued(slot, trigger=trigger)
    return q.model_copy(update={"reason": reason})


@dataclass(frozen=True)
class Case:
    name: str
    now: datetime
    spec: dict[str, Any]
    through: datetime = TEN
    jobs: tuple[ObservedJob, ...] = ()
    queue: tuple[QueuedSlot, ...] = ()
    run_request: str | None = None
    creates: tuple[tuple[datetime, Trigger], ...] = ()
    recorded: tuple[tuple[datetime, Result, str], ...] = ()
    """Records of this decision other than Running ones and finished runs: (slot, result, reason)."""
    queued_after: tuple[tuple[datetime, Trigger, str | None], ...] = ()


TWO = {"maxActive": 2}
TWO_SKIP = {"maxActive": 2, "overflow": "Skip"}
TWO_RUNNING = (active_job(at("09:30")), active_job(at("10:00")))

CASES = [
    Case(
        "one active below maxActive 2: the slot starts beside it",
        at("10:30"),
        TWO,
        jobs=(active_job(at("10:00")),),
        creates=((at("10:30"), S),),
    ),
    Case(
        "maxActive 2 reached, overflow unset (Queue): the slot waits, reason MaxActive",
        at("10:30"),
        TWO,
        jobs=TWO_RUNNING,
        queued_after=((at("10:30"), S, MAX_ACTIVE),),
    ),
    Case(
        "maxActive 2 reached, overflow Queue: the slot waits, reason MaxActive",
        at("10:30"),
        {"maxActive": 2, "overflow": "Queue"},
        jobs=TWO_RUNNING,
        queued_after=((at("10:30"), S, MAX_ACTIVE),),
    ),
    Case(
        "maxActive 2 reached, overflow Skip: the slot is Skipped, reason MaxActive",
        at("10:30"),
        TWO_SKIP,
        jobs=TWO_RUNNING,
        recorded=((at("10:30"), Result.SKIPPED, MAX_ACTIVE),),
    ),
    Case(
        "maxActive 2 reached, one waiting at maxQueued 1, overflow Queue: the slot is Dropped",
        at("10:30"),
        TWO,
        jobs=(active_job(at("09:00")), active_job(at("09:30"))),
        queue=(waiting(at("10:00")),),
        recorded=((at("10:30"), Result.DROPPED, "QueueFull"),),
        queued_after=((at("10:00"), S, MAX_ACTIVE),),
    ),
    Case(
        "maxActive 2 reached, one waiting below maxQueued 2: the slot waits second",
        at("10:30"),
        {"maxActive": 2, "maxQueued": 2},
        jobs=(active_job(at("09:00")), active_job(at("09:30"))),
        queue=(waiting(at("10:00")),),
        queued_after=((at("10:00"), S, MAX_ACTIVE), (at("10:30"), S, MAX_ACTIVE)),
    ),
    Case(
        "a run ended below maxActive 2: the waiting slot starts",
        at("10:20"),
        TWO,
        jobs=(active_job(at("09:00")), done_job(at("09:30"), finished=at("10:15"))),
        queue=(waiting(at("10:00")),),
        creates=((at("10:00"), S),),
    ),
    Case(
        "a run ended, one room, a slot waiting and one due: the waiting one starts, the due one waits",
        at("10:30"),
        TWO,
        jobs=(active_job(at("09:00")), done_job(at("09:30"), finished=at("10:25"))),
        queue=(waiting(at("10:00")),),
        creates=((at("10:00"), S),),
        queued_after=((at("10:30"), S, MAX_ACTIVE),),
    ),
    Case(
        "maxActive 3, nothing active, two slots waiting: both start at once",
        at("10:20"),
        {"maxActive": 3, "maxQueued": 2},
        queue=(waiting(at("09:30")), waiting(at("10:00"))),
        creates=((at("09:30"), S), (at("10:00"), S)),
    ),
    Case(
        "outage, catchUp All, maxActive 2, overflow Skip: catch-ups beyond the cap wait, the on-time slot is Skipped",
        at("10:00"),
        {**TWO_SKIP, "catchUp": "All"},
        through=at("08:00"),
        creates=((at("08:30"), C), (at("09:00"), C)),
        recorded=((at("10:00"), Result.SKIPPED, MAX_ACTIVE),),
        queued_after=((at("09:30"), C, MAX_ACTIVE),),
    ),
    Case(
        "outage, catchUp All, maxActive 2, overflow Queue: the on-time slot waits behind the catch-up",
        at("10:00"),
        {**TWO, "catchUp": "All"},
        through=at("08:00"),
        creates=((at("08:30"), C), (at("09:00"), C)),
        queued_after=((at("09:30"), C, MAX_ACTIVE), (at("10:00"), S, MAX_ACTIVE)),
    ),
    Case(
        "manual run, maxActive 1 reached, overflow Skip: Skipped, reason MaxActive",
        at("10:10"),
        {"maxActive": 1, "overflow": "Skip"},
        jobs=(active_job(at("10:00")),),
        run_request=TOKEN,
        recorded=((at("10:10"), Result.SKIPPED, MAX_ACTIVE),),
    ),
    Case(
        "manual run, maxActive 1 reached, overflow Queue: waits, reason MaxActive",
        at("10:10"),
        {"maxActive": 1},
        jobs=(active_job(at("10:00")),),
        run_request=TOKEN,
        queued_after=((at("10:10"), M, MAX_ACTIVE),),
    ),
    Case(
        "a backfill run does not count to maxActive: the slot starts",
        at("10:30"),
        {"maxActive": 1, "overflow": "Skip"},
        jobs=(active_job(at("08:00"), trigger=Trigger.BACKFILL, name="report-backfill"),),
        creates=((at("10:30"), S),),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_max_active(case: Case) -> None:
    subject = make_subject(run_request=case.run_request, **case.spec)
    status = make_status(through=case.through, jobs=case.jobs, queue=case.queue)

    decision = decide_at(subject, case.now, status=status, jobs=case.jobs)

    assert created(decision) == list(case.creates)
    for create in decision.creates:
        if create.trigger is M:
            assert create.name == manual_name(TOKEN)
    finished = {j.name for j in case.jobs if j.finished}
    recorded = sorted(
        (r.scheduledTime, r.result, r.reason or "")
        for r in decision.records
        if r.result is not Result.RUNNING and r.job not in finished
    )
    assert recorded == sorted(case.recorded)
    assert [(q.scheduledTime, q.trigger, q.reason) for q in decision.status.queued] == list(case.queued_after)
    policy_active = [a for a in decision.status.active if a.trigger is not Trigger.BACKFILL]
    assert len(policy_active) <= subject.spec.maxActive if subject.spec.maxActive else True
    for record in decision.records:
        if record.reason == MAX_ACTIVE:
            assert record.message and f"maxActive {subject.spec.maxActive}" in record.message


def test_a_slot_beyond_the_cap_says_why_in_its_event() -> None:
    subject = make_subject(maxActive=2)
    status = make_status(through=TEN, jobs=TWO_RUNNING)

    decision = decide_at(subject, at("10:30"), status=status, jobs=TWO_RUNNING)

    queued_events = [e for e in decision.events if e.reason == "SlotQueued"]
    assert len(queued_events) == 1 and "2 runs active, maxActive 2" in queued_events[0].message


def test_removing_max_active_starts_every_waiting_slot() -> None:
    """A waiting slot outlives the cap it waited for: without maxActive, Allow starts it beside the others."""
    subject = make_subject()
    status = make_status(through=TEN, jobs=TWO_RUNNING, queue=(waiting(at("10:00", day=-1)),))

    decision = decide_at(subject, at("10:20"), status=status, jobs=TWO_RUNNING)

    assert created(decision) == [(at("10:00", day=-1), S)]
    assert decision.status.queued == []


def spec(**fields: Any) -> dict[str, Any]:
    return {"schedule": "*/30 * * * *", "jobTemplate": TEMPLATE, **fields}


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"maxActive": 2, "concurrencyPolicy": "Forbid"}, ["spec.maxActive", "Allow only", "Forbid"]),
        ({"maxActive": 1, "concurrencyPolicy": "Queue"}, ["spec.maxActive", "Allow only", "Queue"]),
        ({"maxActive": 3, "concurrencyPolicy": "Replace"}, ["spec.maxActive", "Allow only", "Replace"]),
        ({"overflow": "Skip"}, ["spec.overflow", "spec.maxActive", "not set"]),
        ({"overflow": "Queue", "concurrencyPolicy": "Queue"}, ["spec.overflow", "spec.maxActive"]),
        ({"maxActive": 0}, ["maxActive", "greater than or equal to 1"]),
        ({"maxActive": 2, "overflow": "Later"}, ["overflow", "Queue", "Skip"]),
    ],
    ids=[
        "maxActive with Forbid: rejected",
        "maxActive with Queue: rejected",
        "maxActive with Replace: rejected",
        "overflow without maxActive: rejected",
        "overflow without maxActive under Queue: rejected",
        "maxActive zero: rejected",
        "unknown overflow: rejected",
    ],
)
def test_bad_max_active_is_a_spec_error_that_says_what_to_fix(fields: dict[str, Any], words: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        parse_spec(spec(**fields))
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [{"maxActive": 1}, {"maxActive": 5, "overflow": "Skip"}, {"maxActive": 1000, "concurrencyPolicy": "Allow"}],
    ids=["maxActive 1", "maxActive 5 overflow Skip", "maxActive 1000 explicit Allow"],
)
def test_max_active_with_allow_is_accepted(fields: dict[str, Any]) -> None:
    parsed = parse_spec(spec(**fields))
    assert parsed.maxActive == fields["maxActive"]
