"""Pause after failures (``spec.pauseAfterFailures``), decided by the pure core.

A ScheduledJob ``*/30 * * * *``: each test walks it through decisions, feeding the Jobs that
exist, and reads what the core decided (runs created, status.pause, conditions, Events).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from unit_support import active_job, at, created, decide_at, done_job, make_spec, make_status, make_subject

from punctual.api import ScheduledJobStatus, Trigger
from punctual.core import Decision, Subject, schedule_fingerprint
from punctual.jobs import ObservedJob

S, M = Trigger.SCHEDULE, Trigger.MANUAL


def subject(**spec: Any) -> Subject:
    return make_subject(make_spec(pauseAfterFailures=2, **spec))


def start(sub: Subject) -> ScheduledJobStatus:
    return make_status(through=at("10:00"), observedSchedule=schedule_fingerprint(sub.spec))


def failed(slot: str) -> ObservedJob:
    return done_job(at(slot), finished=at(slot) + (at("00:05") - at("00:00")), ok=False)


def succeeded(slot: str) -> ObservedJob:
    return done_job(at(slot), finished=at(slot) + (at("00:05") - at("00:00")))


def condition(decision: Decision, type_: str) -> tuple[str, str]:
    c = next(c for c in decision.status.conditions if c.type == type_)
    return c.status, c.reason


def reasons(decision: Decision) -> list[str]:
    return [e.reason for e in decision.events]


def run(sub: Subject, status: ScheduledJobStatus, now: datetime, jobs: list[ObservedJob]) -> Decision:
    return decide_at(sub, now, status=status, jobs=jobs)


def two_failures(sub: Subject) -> tuple[Decision, list[ObservedJob]]:
    """10:00 failed (seen at 10:10), 10:30 ran and failed (seen at 10:40): paused at 10:40."""
    jobs = [failed("10:00")]
    d = run(sub, start(sub), at("10:10"), jobs)
    d = run(sub, d.status, at("10:30"), jobs)
    assert created(d) == [(at("10:30"), S)]
    jobs = [failed("10:00"), failed("10:30")]
    return run(sub, d.status, at("10:40"), jobs), jobs


def test_two_consecutive_failures_pause_the_next_slots() -> None:
    sub = subject()
    paused, jobs = two_failures(sub)
    assert paused.status.consecutiveFailures == 2
    assert paused.status.pause is not None and paused.status.pause.failures == 2
    assert "PausedAfterFailures" in reasons(paused)
    assert condition(paused, "Suspended") == ("True", "TooManyFailures")
    assert condition(paused, "Ready") == ("True", "Paused")
    assert paused.status.nextScheduleTime is None
    later = run(sub, paused.status, at("11:00"), jobs)
    assert created(later) == []  # the 11:00 slot is consumed, not run
    assert "PausedAfterFailures" not in reasons(later)  # said once
    after = run(sub, later.status, at("12:10"), jobs)
    assert created(after) == [] and after.status.scheduledThrough == at("12:10")


def test_a_success_between_failures_resets_the_count() -> None:
    sub = subject()
    d = run(sub, start(sub), at("10:10"), [failed("10:00")])
    assert d.status.consecutiveFailures == 1
    d = run(sub, d.status, at("10:40"), [failed("10:00"), succeeded("10:30")])
    assert d.status.consecutiveFailures == 0
    d = run(sub, d.status, at("11:10"), [failed("10:00"), succeeded("10:30"), failed("11:00")])
    assert (d.status.consecutiveFailures, d.status.pause) == (1, None)


def test_a_run_is_counted_once_however_often_it_is_seen() -> None:
    sub = subject()
    d = run(sub, start(sub), at("10:10"), [failed("10:00")])
    for minute in ("10:11", "10:12", "10:13"):
        d = run(sub, d.status, at(minute), [failed("10:00")])
    assert (d.status.consecutiveFailures, d.status.pause) == (1, None)


def test_resume_request_lifts_the_pause_and_the_count_starts_again() -> None:
    sub = subject()
    paused, jobs = two_failures(sub)
    resumed = run(replace(sub, resume_request="tok-1"), paused.status, at("10:50"), jobs)
    assert (resumed.status.pause, resumed.status.consecutiveFailures) == (None, 0)
    assert resumed.status.lastHandledResumeRequest == "tok-1"
    assert "Resumed" in reasons(resumed)
    assert condition(resumed, "Suspended") == ("False", "Active")
    nxt = run(replace(sub, resume_request="tok-1"), resumed.status, at("11:00"), jobs)
    assert created(nxt) == [(at("11:00"), S)]


def test_an_old_resume_token_does_not_lift_a_later_pause() -> None:
    sub = replace(subject(), resume_request="tok-old")
    status = start(sub).model_copy(update={"lastHandledResumeRequest": "tok-old"})
    jobs = [failed("10:00")]
    d = run(sub, status, at("10:10"), jobs)
    d = run(sub, d.status, at("10:30"), jobs)
    d = run(sub, d.status, at("10:40"), [failed("10:00"), failed("10:30")])
    assert d.status.pause is not None


def test_a_resume_token_seen_while_not_paused_is_used_up() -> None:
    sub = replace(subject(), resume_request="tok-early")
    d = run(sub, start(sub), at("10:10"), [failed("10:00")])
    assert d.status.lastHandledResumeRequest == "tok-early"
    d = run(sub, d.status, at("10:30"), [failed("10:00")])
    d = run(sub, d.status, at("10:40"), [failed("10:00"), failed("10:30")])
    assert d.status.pause is not None  # the early token does not lift it


def test_a_spec_change_lifts_the_pause() -> None:
    sub = subject()
    paused, jobs = two_failures(sub)
    edited = replace(sub, generation=(sub.generation or 0) + 1)
    d = run(edited, paused.status, at("10:50"), jobs)
    assert (d.status.pause, d.status.consecutiveFailures) == (None, 0)
    assert created(run(edited, d.status, at("11:00"), jobs)) == [(at("11:00"), S)]


def test_removing_pause_after_failures_lifts_the_pause() -> None:
    sub = subject()
    paused, jobs = two_failures(sub)
    plain = make_subject(make_spec())
    d = run(replace(plain, generation=sub.generation), paused.status, at("10:50"), jobs)
    assert d.status.pause is None


def test_a_manual_run_still_starts_while_paused() -> None:
    sub = subject()
    paused, jobs = two_failures(sub)
    d = run(replace(sub, run_request="2026-01-05T10:45:00Z"), paused.status, at("10:45"), jobs)
    assert [t for _, t in created(d)] == [M]
    assert d.status.pause is not None


def test_queued_slots_wait_while_paused() -> None:
    sub = subject(concurrencyPolicy="Queue")
    jobs = [failed("10:00")]
    d = run(sub, start(sub), at("10:10"), jobs)
    d = run(sub, d.status, at("10:30"), jobs)  # 10:30 runs (nothing active)
    jobs = [failed("10:00"), active_job(at("10:30"))]
    d = run(sub, d.status, at("11:00"), jobs)  # 11:00 queues behind 10:30
    assert [q.scheduledTime for q in d.status.queued] == [at("11:00")]
    jobs = [failed("10:00"), failed("10:30")]
    d = run(sub, d.status, at("11:05"), jobs)  # 10:30 failed: paused, 11:00 stays queued
    assert d.status.pause is not None
    assert created(d) == [] and [q.scheduledTime for q in d.status.queued] == [at("11:00")]


def test_without_the_field_failures_are_counted_but_nothing_pauses() -> None:
    sub = make_subject(make_spec())
    status = make_status(through=at("10:00"), observedSchedule=schedule_fingerprint(sub.spec))
    jobs = [failed("10:00")]
    d = run(sub, status, at("10:10"), jobs)
    for slot in ("10:30", "11:00", "11:30"):
        d = run(sub, d.status, at(slot), jobs)
        jobs = [*jobs, failed(slot)]
    d = run(sub, d.status, at("11:40"), jobs)
    assert d.status.pause is None and d.status.consecutiveFailures >= 3


def test_failed_backfill_runs_neither_pause_nor_reset_the_count() -> None:
    sub = subject()
    d = run(sub, start(sub), at("10:10"), [failed("10:00")])
    old = [
        done_job(at(t, day=-3), finished=at("10:20"), ok=False, trigger=Trigger.BACKFILL) for t in ("01:00", "01:30")
    ]
    d = run(sub, d.status, at("10:25"), [failed("10:00"), *old])
    assert (d.status.consecutiveFailures, d.status.pause) == (1, None)
