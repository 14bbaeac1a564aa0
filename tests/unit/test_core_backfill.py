"""Backfill in the pure core (``punctual.core.backfill``), one test or table row per rule.

The ScheduledJob is ``*/30 * * * *``; every slot up to noon was decided (``through``), so the only
runs a decision starts are the backfill's (unless a row says otherwise). A backfill of 08:00..10:00
names five slots: 08:00, 08:30, 09:00, 09:30 and 10:00 (both ends inclusive).
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
    queued,
    running_record,
    slot_name,
)

from punctual.api import BackfillState, HistoryRecord, Result, ScheduledJobStatus, Trigger
from punctual.core import (
    MAX_BACKFILL_SLOTS,
    BackfillError,
    BackfillRequest,
    Decision,
    encode_request,
    parse_request,
    plan_backfill,
    request_identity,
)
from punctual.core.backfill import CONDITION, FINISHED_KEPT, MAX_OPEN_BACKFILLS
from punctual.jobs import ObservedJob

B = Trigger.BACKFILL
S = Trigger.SCHEDULE
NOON = at("12:00")
HALF_PAST_EIGHT = at("08:30")
TOKEN = "2026-01-05T12:00:00.000000001Z"


def request(first: str = "08:00", last: str = "10:00", *, token: str = TOKEN, parallel: int = 1) -> str:
    return encode_request(BackfillRequest(token=token, start=at(first), end=at(last), parallel=parallel))


def halves(first: str, last: str) -> list[datetime]:
    out, t = [], at(first)
    while t <= at(last):
        out.append(t)
        t += timedelta(minutes=30)
    return out


def decide_backfill(
    now: datetime = NOON,
    *,
    backfill: str | None = None,
    cancel: str | None = None,
    status: ScheduledJobStatus | None = None,
    jobs: tuple[ObservedJob, ...] = (),
    **spec: Any,
) -> Decision:
    subject = make_subject(backfill_request=backfill, backfill_cancel=cancel, **spec)
    return decide_at(subject, now, status=status or make_status(through=NOON, jobs=jobs), jobs=jobs)


def backfill_jobs(decision: Decision, *, finished: datetime | None = None, ok: bool = True) -> tuple[ObservedJob, ...]:
    """The Jobs of a decision's backfill creates: running, or finished at ``finished``."""
    if finished is None:
        return tuple(active_job(c.slot, trigger=B) for c in decision.creates)
    return tuple(done_job(c.slot, finished=finished, ok=ok, trigger=B) for c in decision.creates)


# -- accepting a request ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accept:
    name: str
    backfill: str
    state: BackfillState
    total: int = 0
    creates: tuple[datetime, ...] = ()
    reason: str = "Accepted"
    message: str | None = None
    now: datetime = NOON


ACCEPT = [
    Accept(
        "range inclusive at both ends, one after another by default",
        request("08:00", "10:00"),
        BackfillState.RUNNING,
        total=5,
        creates=(at("08:00"),),
    ),
    Accept(
        "range between slots: only the slots inside",
        request("08:10", "09:10"),
        BackfillState.RUNNING,
        total=2,
        creates=(at("08:30"),),
    ),
    Accept(
        "parallel 3 starts three at once",
        request("08:00", "10:00", parallel=3),
        BackfillState.RUNNING,
        total=5,
        creates=(at("08:00"), at("08:30"), at("09:00")),
    ),
    Accept(
        "parallel beyond the range starts them all",
        request("08:00", "09:00", parallel=50),
        BackfillState.RUNNING,
        total=3,
        creates=(at("08:00"), at("08:30"), at("09:00")),
    ),
    Accept("a range without slots completes at once", request("08:01", "08:29"), BackfillState.COMPLETED),
    Accept(
        "slots after now are left to the schedule",
        request("11:00", "23:00", parallel=10),
        BackfillState.RUNNING,
        total=3,
        creates=(at("11:00"), at("11:30"), at("12:00")),
    ),
    Accept(
        "not JSON is rejected",
        "from yesterday to today",
        BackfillState.REJECTED,
        reason="InvalidRequest",
        message='the backfill request is not a JSON object {"token", "from", "to", "parallel"}',
    ),
    Accept(
        "from after to is rejected",
        '{"token":"t1","from":"2026-01-05T10:00:00Z","to":"2026-01-05T08:00:00Z"}',
        BackfillState.REJECTED,
        reason="InvalidRequest",
        message="backfill from 2026-01-05T10:00:00Z is after to 2026-01-05T08:00:00Z",
    ),
    Accept(
        "a bad time is rejected",
        '{"token":"t1","from":"yesterday","to":"2026-01-05T08:00:00Z"}',
        BackfillState.REJECTED,
        reason="InvalidRequest",
        message="backfill 'from' must be an RFC 3339 time, got 'yesterday'",
    ),
    Accept(
        "parallel 0 is rejected",
        '{"token":"t1","from":"2026-01-05T08:00:00Z","to":"2026-01-05T09:00:00Z","parallel":0}',
        BackfillState.REJECTED,
        reason="InvalidRequest",
        message="backfill parallel must be an integer from 1 to 100, got 0",
    ),
    Accept(
        "no token is rejected",
        '{"from":"2026-01-05T08:00:00Z","to":"2026-01-05T09:00:00Z"}',
        BackfillState.REJECTED,
        reason="InvalidRequest",
        message="the backfill request has no token",
    ),
]


@pytest.mark.parametrize("case", ACCEPT, ids=lambda c: c.name)
def test_accepting_a_request(case: Accept) -> None:
    decision = decide_backfill(case.now, backfill=case.backfill)
    [entry] = decision.status.backfills
    assert entry.state is case.state
    assert entry.total == case.total
    assert created(decision) == [(slot, B) for slot in case.creates]
    assert entry.running == len(case.creates)
    assert entry.message == case.message
    assert decision.status.lastHandledBackfillRequest == request_identity(case.backfill)
    [cond] = [c for c in decision.status.conditions if c.type == CONDITION]
    assert (cond.status, cond.reason) == ("True" if case.reason == "Accepted" else "False", case.reason)
    if case.state is BackfillState.REJECTED:
        assert cond.message == case.message
        assert [e.reason for e in decision.events] == ["BackfillRejected"]
        assert decision.events[0].type == "Warning"


def test_more_than_10000_slots_is_rejected_with_the_reason() -> None:
    # Every minute for 7 days: 10,081 slots.
    text = encode_request(BackfillRequest(token="big", start=at("00:00", day=-7), end=at("00:00")))
    decision = decide_backfill(backfill=text, schedule="* * * * *")
    [entry] = decision.status.backfills
    assert entry.state is BackfillState.REJECTED
    assert decision.creates == ()
    assert entry.message == (
        "the range 2025-12-29T00:00:00Z to 2026-01-05T00:00:00Z has more than 10000 slots"
        " (at most 10000 per backfill); split it into smaller ranges"
    )
    [cond] = [c for c in decision.status.conditions if c.type == CONDITION]
    assert (cond.status, cond.reason) == ("False", "TooManySlots")


def test_exactly_10000_slots_is_accepted() -> None:
    start = at("00:00", day=-7)
    text = encode_request(
        BackfillRequest(token="edge", start=start, end=start + timedelta(minutes=MAX_BACKFILL_SLOTS - 1))
    )
    decision = decide_backfill(backfill=text, schedule="* * * * *")
    [entry] = decision.status.backfills
    assert (entry.state, entry.total, len(decision.creates)) == (BackfillState.RUNNING, MAX_BACKFILL_SLOTS, 1)


def test_the_request_token_is_acted_on_once() -> None:
    first = decide_backfill(backfill=request())
    # The same annotation, seen again by a later decision (or after a restart with the status kept).
    again = decide_backfill(backfill=request(), status=first.status, jobs=backfill_jobs(first))
    assert len(again.status.backfills) == 1
    assert again.creates == ()
    assert not [e for e in again.events if e.reason.startswith("Backfill")]


def test_a_rejected_request_is_not_retried() -> None:
    first = decide_backfill(backfill="garbage")
    again = decide_backfill(backfill="garbage", status=first.status)
    assert len(again.status.backfills) == 1
    assert again.events == ()


def test_a_new_token_is_a_new_backfill_that_waits_for_the_first() -> None:
    first = decide_backfill(backfill=request("08:00", "08:30"))
    second = decide_backfill(
        backfill=request("09:00", "09:30", token="second"), status=first.status, jobs=backfill_jobs(first)
    )
    assert [e.state for e in second.status.backfills] == [BackfillState.RUNNING, BackfillState.WAITING]
    assert second.creates == ()
    assert second.status.backfills[1].pending == 2


def test_more_than_five_open_backfills_is_rejected() -> None:
    status = make_status(through=NOON)
    jobs: tuple[ObservedJob, ...] = ()
    for i in range(MAX_OPEN_BACKFILLS + 1):
        d = decide_backfill(backfill=request("08:00", "10:00", token=f"t{i}"), status=status, jobs=jobs)
        status, jobs = d.status, jobs + backfill_jobs(d)
    states = [e.state for e in status.backfills]
    assert states == [BackfillState.RUNNING] + [BackfillState.WAITING] * 4 + [BackfillState.REJECTED]
    assert status.backfills[-1].message == (
        "5 backfills are waiting or running (at most 5); cancel one or wait for it to finish"
    )


# -- skip existing ------------------------------------------------------------------------------------


def ran(slot: datetime, result: Result) -> HistoryRecord:
    return HistoryRecord(job=slot_name(slot), scheduledTime=slot, trigger=S, result=result, startTime=slot)


@dataclass(frozen=True)
class Existing:
    name: str
    jobs: tuple[ObservedJob, ...] = ()
    history: tuple[HistoryRecord, ...] = ()
    queue: tuple[Any, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)
    skipped: int = 1
    first_run: datetime = HALF_PAST_EIGHT


EXISTING = [
    Existing("a slot whose Job exists (finished) is skipped", jobs=(done_job(at("08:00"), finished=at("08:05")),)),
    Existing("a slot whose Job is running is skipped", jobs=(active_job(at("08:00")),)),
    Existing("a slot recorded Succeeded is skipped (its Job deleted)", history=(ran(at("08:00"), Result.SUCCEEDED),)),
    Existing("a slot recorded Failed is skipped: it ran", history=(ran(at("08:00"), Result.FAILED),)),
    Existing("a slot recorded Replaced is skipped: it ran", history=(ran(at("08:00"), Result.REPLACED),)),
    Existing(
        "a queued slot is skipped",
        queue=(queued(at("08:00")),),
        spec={"concurrencyPolicy": "Queue", "maxQueued": 5},
        jobs=(active_job(at("07:30")),),
    ),
    Existing(
        "a slot recorded Missed is run: a gap to fill",
        history=(ran(at("08:00"), Result.MISSED),),
        skipped=0,
        first_run=at("08:00"),
    ),
    Existing(
        "a slot recorded Skipped is run", history=(ran(at("08:00"), Result.SKIPPED),), skipped=0, first_run=at("08:00")
    ),
    Existing(
        "several existing slots in a row are all skipped in one decision",
        jobs=tuple(done_job(s, finished=s + timedelta(minutes=5)) for s in halves("08:00", "09:00")),
        skipped=3,
        first_run=at("09:30"),
    ),
]


@pytest.mark.parametrize("case", EXISTING, ids=lambda c: c.name)
def test_skip_existing(case: Existing) -> None:
    status = make_status(through=NOON, jobs=case.jobs, queue=case.queue)
    if case.history:
        status.history = [*status.history, *case.history]
    decision = decide_backfill(backfill=request(), status=status, jobs=case.jobs, **case.spec)
    [entry] = decision.status.backfills
    assert entry.skippedExisting == case.skipped
    assert created(decision) == [(case.first_run, B)]
    assert entry.pending == 5 - case.skipped - 1


def test_every_slot_existing_completes_at_once_with_nothing_created() -> None:
    jobs = tuple(done_job(s, finished=s + timedelta(minutes=5)) for s in halves("08:00", "10:00"))
    decision = decide_backfill(backfill=request(), status=make_status(through=NOON, jobs=jobs), jobs=jobs)
    [entry] = decision.status.backfills
    assert (entry.state, entry.skippedExisting, entry.pending, decision.creates) == (
        BackfillState.COMPLETED,
        5,
        0,
        (),
    )
    assert "0 run (0 failed), 5 skipped (existing)" in decision.events[-1].message


def test_the_backfill_job_is_named_after_the_slot_as_a_scheduled_run() -> None:
    decision = decide_backfill(backfill=request("08:00", "08:00"))
    [create] = decision.creates
    assert create.name == slot_name(at("08:00"))
    assert create.manifest["metadata"]["labels"]["punctual.dev/trigger"] == "backfill"
    env = create.manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PUNCTUAL_SCHEDULED_TIME", "value": "2026-01-05T08:00:00Z"} in env


# -- progress over decisions, parallel, completion ------------------------------------------------------


def drive(text: str, *, ok: bool = True, **spec: Any) -> list[Decision]:
    """Decide, let every running backfill Job finish 5 minutes later, decide again, until it is over."""
    decisions = [decide_backfill(backfill=text, **spec)]
    jobs: dict[str, ObservedJob] = {}
    now = NOON
    for _ in range(50):
        last = decisions[-1]
        for c in last.creates:
            jobs[c.name] = active_job(c.slot, trigger=B)
        [entry] = last.status.backfills
        if entry.state is BackfillState.COMPLETED:
            return decisions
        now += timedelta(minutes=5)
        jobs = {
            n: done_job(j.scheduled_time, finished=now, ok=ok, trigger=B) if not j.finished else j
            for n, j in jobs.items()
        }
        decisions.append(decide_backfill(now, backfill=text, status=last.status, jobs=tuple(jobs.values()), **spec))
    raise AssertionError("the backfill did not complete")


@pytest.mark.parametrize(
    ("parallel", "batches"),
    [
        (1, [[at("08:00")], [at("08:30")], [at("09:00")], [at("09:30")], [at("10:00")], []]),
        (2, [[at("08:00"), at("08:30")], [at("09:00"), at("09:30")], [at("10:00")], []]),
        (5, [halves("08:00", "10:00"), []]),
    ],
    ids=["parallel 1: one after another", "parallel 2: two at a time", "parallel 5: all at once"],
)
def test_parallel_n_runs_at_most_n_at_once(parallel: int, batches: list[list[datetime]]) -> None:
    decisions = drive(request(parallel=parallel))
    assert [[c.slot for c in d.creates] for d in decisions] == batches
    final = decisions[-1].status.backfills[0]
    assert (final.total, final.done, final.failed, final.running, final.pending) == (5, 5, 0, 0, 0)
    assert final.cursor == at("10:00")
    assert decisions[-1].events[-1].reason == "BackfillCompleted"


def test_failed_runs_are_counted_and_the_backfill_still_completes() -> None:
    decisions = drive(request(parallel=5), ok=False)
    final = decisions[-1].status.backfills[0]
    assert (final.state, final.done, final.failed) == (BackfillState.COMPLETED, 5, 5)


def test_progress_counts_while_running() -> None:
    decisions = drive(request(parallel=2))
    entry = decisions[1].status.backfills[0]
    assert (entry.done, entry.running, entry.pending, entry.runs) == (
        2,
        2,
        1,
        [slot_name(at("09:00")), slot_name(at("09:30"))],
    )


def test_the_status_never_holds_the_slots() -> None:
    start = at("00:00", day=-7)
    text = encode_request(BackfillRequest(token="big", start=start, end=start + timedelta(minutes=9_999), parallel=3))
    decision = decide_backfill(backfill=text, schedule="* * * * *")
    dumped = decision.status.model_dump(mode="json", exclude_none=True)
    assert len(str(dumped["backfills"])) < 1_000
    assert decision.status.queued == []


def test_the_next_backfill_starts_when_the_first_completes() -> None:
    first = decide_backfill(backfill=request("08:00", "08:00"))
    second = decide_backfill(
        backfill=request("09:00", "09:30", token="second"), status=first.status, jobs=backfill_jobs(first)
    )
    done = backfill_jobs(first, finished=at("12:05"))
    third = decide_backfill(
        at("12:05"), backfill=request("09:00", "09:30", token="second"), status=second.status, jobs=done
    )
    assert [e.state for e in third.status.backfills] == [BackfillState.COMPLETED, BackfillState.RUNNING]
    assert created(third) == [(at("09:00"), B)]


def test_a_job_created_before_a_lost_status_write_is_adopted_not_skipped() -> None:
    first = decide_backfill(backfill=request())
    # The status write of `first` was lost: the operator decides again from the old status, and the
    # Job it created exists.
    lost = make_status(through=NOON)
    again = decide_backfill(backfill=request(), status=lost, jobs=backfill_jobs(first))
    [entry] = again.status.backfills
    assert again.creates == ()
    assert (entry.skippedExisting, entry.runs) == (0, [slot_name(at("08:00"))])


def test_finished_backfills_beyond_five_are_dropped_from_status() -> None:
    status = make_status(through=NOON)
    for i in range(FINISHED_KEPT + 2):
        status = decide_backfill(backfill=request("08:01", "08:02", token=f"t{i}"), status=status).status
    assert [e.token for e in status.backfills] == [f"t{i}" for i in range(2, FINISHED_KEPT + 2)]


# -- cancel -------------------------------------------------------------------------------------------


def test_cancel_drops_pending_and_lets_running_finish() -> None:
    first = decide_backfill(backfill=request(parallel=2))
    jobs = backfill_jobs(first)
    cancelled = decide_backfill(at("12:01"), backfill=request(parallel=2), cancel=TOKEN, status=first.status, jobs=jobs)
    [entry] = cancelled.status.backfills
    assert cancelled.creates == ()
    assert (entry.state, entry.pending, entry.running) == (BackfillState.CANCELLED, 0, 2)
    assert entry.message == "cancelled: 3 pending slots dropped, 2 running left to finish"
    assert [e.reason for e in cancelled.events] == ["BackfillCancelled"]
    # The running ones finish and are counted; nothing else starts.
    finished = decide_backfill(
        at("12:05"),
        backfill=request(parallel=2),
        cancel=TOKEN,
        status=cancelled.status,
        jobs=backfill_jobs(first, finished=at("12:05")),
    )
    [entry] = finished.status.backfills
    assert finished.creates == ()
    assert (entry.state, entry.done, entry.running, entry.runs) == (BackfillState.CANCELLED, 2, 0, [])


def test_cancel_of_another_token_changes_nothing() -> None:
    first = decide_backfill(backfill=request())
    again = decide_backfill(backfill=request(), cancel="other", status=first.status, jobs=backfill_jobs(first))
    assert again.status.backfills[0].state is BackfillState.RUNNING


def test_cancel_before_the_request_was_picked_up() -> None:
    decision = decide_backfill(backfill=request(), cancel=f"x,{TOKEN}")
    [entry] = decision.status.backfills
    assert (entry.state, decision.creates) == (BackfillState.CANCELLED, ())
    assert entry.message == "cancelled before it started: 0 pending slots dropped"


def test_cancel_lets_the_next_backfill_start() -> None:
    first = decide_backfill(backfill=request())
    second = decide_backfill(
        backfill=request("11:00", "11:00", token="second"), status=first.status, jobs=backfill_jobs(first)
    )
    third = decide_backfill(
        backfill=request("11:00", "11:00", token="second"),
        cancel=TOKEN,
        status=second.status,
        jobs=backfill_jobs(first),
    )
    assert [e.state for e in third.status.backfills] == [BackfillState.CANCELLED, BackfillState.RUNNING]
    assert created(third) == [(at("11:00"), B)]


def test_a_schedule_change_cancels_the_open_backfill() -> None:
    first = decide_backfill(backfill=request())
    changed = decide_backfill(
        backfill=request(), status=first.status, jobs=backfill_jobs(first), schedule="*/20 * * * *"
    )
    [entry] = changed.status.backfills
    assert entry.state is BackfillState.CANCELLED
    assert entry.message == "cancelled: the schedule changed: 4 pending slots dropped, 1 running left to finish"


# -- its own lane: the concurrency policy -------------------------------------------------------------


@pytest.mark.parametrize("policy", ["Forbid", "Queue", "Replace", "Allow"])
def test_a_scheduled_slot_keeps_its_policy_and_ignores_backfill_runs(policy: str) -> None:
    # 12:30 comes due while a backfill run is active: it starts on time under every policy, and the
    # backfill run is neither deleted nor waited for.
    first = decide_backfill(backfill=request(), concurrencyPolicy=policy)
    jobs = backfill_jobs(first)
    later = decide_backfill(at("12:30"), backfill=request(), status=first.status, jobs=jobs, concurrencyPolicy=policy)
    assert created(later) == [(at("12:30"), S)]
    assert later.deletes == ()
    assert later.status.queued == []


def test_forbid_still_skips_a_slot_for_a_scheduled_run_during_a_backfill() -> None:
    first = decide_backfill(backfill=request(), concurrencyPolicy="Forbid")
    jobs = (*backfill_jobs(first), active_job(at("12:00")))
    status = first.status
    status.history = [*status.history, running_record(at("12:00"))]
    later = decide_backfill(at("12:30"), backfill=request(), status=status, jobs=jobs, concurrencyPolicy="Forbid")
    assert later.creates == ()
    assert history_result(later, at("12:30")) == (Result.SKIPPED, "ConcurrencyForbid")


def history_result(decision: Decision, slot: datetime) -> tuple[Result, str | None]:
    record = next(r for r in decision.status.history if r.job == slot_name(slot))
    return record.result, record.reason


def test_a_backfill_runs_while_a_scheduled_run_is_active_under_forbid() -> None:
    jobs = (active_job(at("12:00")),)
    decision = decide_backfill(
        backfill=request(), status=make_status(through=NOON, jobs=jobs), jobs=jobs, concurrencyPolicy="Forbid"
    )
    assert created(decision) == [(at("08:00"), B)]


def test_a_backfill_runs_while_suspended() -> None:
    decision = decide_backfill(backfill=request(), suspend=True)
    assert created(decision) == [(at("08:00"), B)]


def test_backfill_runs_do_not_move_last_schedule_time() -> None:
    decision = decide_backfill(backfill=request())
    assert decision.status.lastScheduleTime is None


# -- the request and the dry run ----------------------------------------------------------------------


def test_request_round_trips_through_the_annotation() -> None:
    original = BackfillRequest(token="t", start=at("08:00"), end=at("10:00"), parallel=4)
    assert parse_request(encode_request(original)) == original


def test_a_broken_request_has_a_stable_identity() -> None:
    assert request_identity("garbage") == request_identity("garbage")
    assert request_identity("garbage").startswith("invalid-")
    assert request_identity(request()) == TOKEN


def test_dry_run_plan_agrees_with_the_decision() -> None:
    jobs = (done_job(at("08:30"), finished=at("08:35")), active_job(at("09:30"), trigger=B))
    status = make_status(through=NOON, jobs=jobs)
    status.history = [*status.history, ran(at("09:00"), Result.SUCCEEDED), ran(at("10:00"), Result.MISSED)]
    subject = make_subject()
    plan = plan_backfill(subject, start=at("08:00"), end=at("10:00"), status=status, jobs=jobs, now=NOON)
    assert [(s.slot, s.action, s.why) for s in plan.slots] == [
        (at("08:00"), "run", None),
        (at("08:30"), "skip", "Job exists"),
        (at("09:00"), "skip", "recorded Succeeded"),
        (at("09:30"), "skip", "running"),
        (at("10:00"), "run", None),
    ]
    decisions = [decide_backfill(backfill=request(parallel=5), status=status, jobs=jobs)]
    [entry] = decisions[0].status.backfills
    assert [c.slot for c in decisions[0].creates] == [s.slot for s in plan.slots if s.action == "run"]
    assert entry.skippedExisting == plan.skipped == 3


def test_dry_run_bound_and_reversed_range() -> None:
    subject = make_subject(schedule="* * * * *")
    status = make_status(through=NOON)
    with pytest.raises(BackfillError, match="more than 10000 slots"):
        plan_backfill(subject, start=at("00:00", day=-7), end=NOON, status=status, jobs=(), now=NOON)
    with pytest.raises(BackfillError, match="is after"):
        plan_backfill(subject, start=NOON, end=at("08:00"), status=status, jobs=(), now=NOON)


def test_dry_run_cuts_the_range_at_now() -> None:
    plan = plan_backfill(
        make_subject(), start=at("11:00"), end=at("23:00"), status=make_status(through=NOON), jobs=(), now=NOON
    )
    assert [s.slot for s in plan.slots] == [at("11:00"), at("11:30"), at("12:00")]
    assert plan.end == NOON
