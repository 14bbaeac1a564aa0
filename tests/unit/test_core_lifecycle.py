"""``decide`` over several decisions: adoption after a crash, finishing Jobs, history limits, suspend and
resume, manual request tokens, and a huge backlog worked through without stalling."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from unit_support import (
    active_job,
    at,
    created,
    decide_at,
    done_job,
    history_of,
    make_status,
    make_subject,
    manual_name,
    slot_name,
)

from punctual.api import HistoryRecord, Result, ScheduledJobStatus, Trigger
from punctual.core import ENUMERATION_LIMIT, JOB_VANISHED_GRACE, decide
from punctual.jobs import ObservedJob, observe_job

S = Trigger.SCHEDULE


def as_observed(decision_creates: object, *, now: datetime) -> list[ObservedJob]:
    """What the API would report right after the creates: each Job exists and is active."""
    out = []
    for create in decision_creates:  # type: ignore[attr-defined]
        job = observe_job({**create.manifest, "metadata": {**create.manifest["metadata"], "creationTimestamp": None}})
        assert job is not None
        out.append(ObservedJob(**{**job.__dict__, "created": now, "start_time": now}))
    return out


# --- adoption: idempotent by name -------------------------------------------------------------------


def test_crash_after_create_before_status_write_adopts_the_job() -> None:
    subject = make_subject()
    before = make_status(through=at("10:00"))
    first = decide_at(subject, at("10:30"), status=before)
    assert created(first) == [(at("10:30"), S)]

    # The operator crashed before writing first.status: it decides again from the old status, but the
    # Job it created exists now.
    jobs = as_observed(first.creates, now=at("10:30"))
    again = decide_at(subject, at("10:30:05"), status=before, jobs=jobs)

    assert again.creates == ()
    assert [a.name for a in again.status.active] == [slot_name(at("10:30"))]
    assert history_of(again)[slot_name(at("10:30"))].result is Result.RUNNING
    assert again.status.lastScheduleTime == at("10:30")
    assert again.status.counts.get("Running") == 1


def test_status_lost_entirely_cursor_rebuilt_from_the_jobs_annotations() -> None:
    subject = make_subject()
    jobs = [
        done_job(at("09:30"), finished=at("09:40")),
        done_job(at("10:00"), finished=at("10:12")),
        active_job(at("10:30")),
    ]

    decision = decide_at(subject, at("10:31"), status=ScheduledJobStatus(), jobs=jobs)

    assert decision.creates == ()
    assert decision.status.scheduledThrough == at("10:30")
    assert [a.name for a in decision.status.active] == [slot_name(at("10:30"))]
    assert decision.status.nextScheduleTime == at("11:00")
    assert decision.status.lastSuccessfulTime == at("10:12")
    assert decision.status.lastScheduleTime == at("10:30")  # recovered from the Jobs' annotations
    results = {r.job: r.result for r in decision.status.history}
    assert results[slot_name(at("10:00"))] is Result.SUCCEEDED
    assert results[slot_name(at("10:30"))] is Result.RUNNING
    # The next slot runs normally, once.
    later = decide_at(subject, at("11:00"), status=decision.status, jobs=jobs)
    assert created(later) == [(at("11:00"), S)]


def test_status_lost_manual_jobs_do_not_move_the_cursor() -> None:
    subject = make_subject()
    manual = active_job(at("10:40"), trigger=Trigger.MANUAL, name=manual_name("tok"))
    jobs = [done_job(at("10:00"), finished=at("10:05")), manual]

    decision = decide_at(subject, at("10:45"), status=ScheduledJobStatus(), jobs=jobs)

    # 10:30 came after the last scheduled Job: it is late now, catchUp Latest starts it (once).
    assert created(decision) == [(at("10:30"), Trigger.CATCHUP)]


def test_an_existing_job_for_a_slot_is_never_created_twice_even_if_finished() -> None:
    subject = make_subject()
    jobs = [done_job(at("10:30"), finished=at("10:31"))]
    decision = decide_at(subject, at("10:32"), status=make_status(through=at("10:00")), jobs=jobs)
    assert decision.creates == ()


# --- a Job finishing ---------------------------------------------------------------------------------


def test_job_succeeds_history_and_last_successful_time() -> None:
    subject = make_subject()
    status = make_status(through=at("10:30"), jobs=[active_job(at("10:30"))])
    job = done_job(at("10:30"), finished=at("10:47"), exit_code=0)

    decision = decide_at(subject, at("10:47"), status=status, jobs=[job])

    record = history_of(decision)[job.name]
    assert record.result is Result.SUCCEEDED
    assert record.exitCode == 0
    assert record.reason == "Completed"
    assert record.completionTime == at("10:47")
    assert record.durationSeconds == 17 * 60
    assert decision.status.lastSuccessfulTime == at("10:47")
    assert decision.status.lastFailureTime is None
    assert decision.status.active == []
    assert decision.status.lastResult == "Succeeded"
    assert decision.status.counts.get("Succeeded") == 1
    assert [e.reason for e in decision.events] == ["RunSucceeded"]


def test_job_fails_history_exit_code_reason_and_last_failure_time() -> None:
    subject = make_subject()
    status = make_status(through=at("10:30"), jobs=[active_job(at("10:30"))])
    job = done_job(at("10:30"), finished=at("10:35"), ok=False, exit_code=3, reason="BackoffLimitExceeded")

    decision = decide_at(subject, at("10:35"), status=status, jobs=[job])

    record = history_of(decision)[job.name]
    assert (record.result, record.exitCode, record.reason) == (Result.FAILED, 3, "BackoffLimitExceeded")
    assert decision.status.lastFailureTime == at("10:35")
    assert decision.status.lastSuccessfulTime is None
    assert decision.status.lastResult == "Failed"
    (event,) = decision.events
    assert event.type == "Warning" and "exit code 3" in event.message
    # Seeing the same finished Job again changes nothing and counts nothing twice.
    again = decide_at(subject, at("10:36"), status=decision.status, jobs=[job])
    assert again.events == () and again.status.counts == decision.status.counts


def test_job_vanished_is_closed_as_failed_after_the_grace() -> None:
    subject = make_subject()
    status = make_status(through=at("10:30"), jobs=[active_job(at("10:30"))])
    soon = decide_at(subject, at("10:30") + JOB_VANISHED_GRACE / 2, status=status, jobs=[])
    assert [a.name for a in soon.status.active] == [slot_name(at("10:30"))]
    assert soon.wake_at == at("10:30") + JOB_VANISHED_GRACE

    later = decide_at(subject, at("10:30") + JOB_VANISHED_GRACE, status=soon.status, jobs=[])
    record = history_of(later)[slot_name(at("10:30"))]
    assert (record.result, record.reason) == (Result.FAILED, "JobDeleted")
    assert later.status.active == []


# --- history limits ----------------------------------------------------------------------------------


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    subject = make_subject(successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1)
    ok = [done_job(at(f"0{h}:00"), finished=at(f"0{h}:10")) for h in range(1, 6)]
    bad = [done_job(at(f"0{h}:30"), finished=at(f"0{h}:40"), ok=False) for h in range(1, 4)]

    decision = decide_at(subject, at("09:50"), status=make_status(through=at("09:30")), jobs=ok + bad)

    deleted = {(d.name, d.reason) for d in decision.deletes}
    assert deleted == {(j.name, "HistoryLimit") for j in ok[:3] + bad[:2]}


def test_history_limit_zero_deletes_every_finished_job_but_no_running_one() -> None:
    subject = make_subject(successfulJobsHistoryLimit=0, failedJobsHistoryLimit=0)
    jobs = [done_job(at("09:00"), finished=at("09:10")), active_job(at("09:30"))]
    decision = decide_at(subject, at("09:50"), status=make_status(through=at("09:30"), jobs=jobs[1:]), jobs=jobs)
    assert [(d.name, d.reason) for d in decision.deletes] == [(jobs[0].name, "HistoryLimit")]


def test_history_limit_trims_status_history_newest_first() -> None:
    subject = make_subject(historyLimit=3, concurrencyPolicy="Forbid")
    history = [
        HistoryRecord(job=slot_name(s), scheduledTime=s, trigger=S, result=Result.SKIPPED, reason="x")
        for s in (at("07:00"), at("07:30"), at("08:00"), at("08:30"), at("09:00"))
    ]
    status = make_status(through=at("10:00"), history=history)

    decision = decide_at(subject, at("10:30"), status=status)

    assert [r.scheduledTime for r in decision.status.history] == [at("10:30"), at("09:00"), at("08:30")]
    empty = decide_at(make_subject(historyLimit=0), at("10:30"), status=make_status(through=at("10:00")))
    # A running record is always kept: it is the only evidence of the active run.
    assert [r.result for r in empty.status.history] == [Result.RUNNING]


# --- suspend and resume ------------------------------------------------------------------------------


def test_suspend_then_resume_suspended_slots_never_run() -> None:
    suspended = make_subject(suspend=True, catchUp="All")
    d1 = decide_at(suspended, at("10:30"), status=make_status(through=at("10:00")))
    assert d1.creates == ()
    assert d1.status.nextScheduleTime is None
    assert d1.wake_at == at("11:00")  # a suspended job still wakes at its slots, to consume them
    assert any(c.type == "Suspended" and c.status == "True" for c in d1.status.conditions)

    d2 = decide_at(suspended, at("12:10"), status=d1.status)
    assert d2.creates == () and d2.records == ()

    resumed = make_subject(catchUp="All")
    d3 = decide_at(resumed, at("12:15"), status=d2.status)
    assert d3.creates == () and d3.records == ()
    assert d3.status.nextScheduleTime == at("12:30")
    assert d3.wake_at == at("12:30")
    assert any(c.type == "Suspended" and c.status == "False" for c in d3.status.conditions)

    d4 = decide_at(resumed, at("12:30"), status=d3.status)
    assert created(d4) == [(at("12:30"), S)]


# --- manual run requests -----------------------------------------------------------------------------


def test_manual_request_token_is_handled_once() -> None:
    token = "2026-01-05T10:10:00Z"
    subject = make_subject(run_request=token)
    d1 = decide_at(subject, at("10:10"), status=make_status(through=at("10:00")))
    assert [(c.name, c.trigger) for c in d1.creates] == [(manual_name(token), Trigger.MANUAL)]
    assert d1.status.lastHandledRunRequest == token
    assert d1.creates[0].manifest["metadata"]["labels"]["punctual.dev/trigger"] == "manual"

    jobs = as_observed(d1.creates, now=at("10:10"))
    d2 = decide_at(subject, at("10:11"), status=d1.status, jobs=jobs)
    assert d2.creates == ()
    # Lost status: the token is seen again, but the Job exists: adopted, not duplicated.
    d3 = decide_at(subject, at("10:12"), status=make_status(through=at("10:00")), jobs=jobs)
    assert d3.creates == ()
    # A new token is a new run.
    d4 = decide_at(make_subject(run_request="second"), at("10:20"), status=d2.status, jobs=jobs)
    assert [c.name for c in d4.creates] == [manual_name("second")]


def test_manual_run_does_not_move_last_schedule_time() -> None:
    subject = make_subject(run_request="tok")
    decision = decide_at(subject, at("10:10"), status=make_status(through=at("10:00"), lastScheduleTime=at("10:00")))
    assert decision.status.lastScheduleTime == at("10:00")


# --- wake-ups -----------------------------------------------------------------------------------------


def test_wake_at_is_the_next_slot_plus_its_jitter() -> None:
    subject = make_subject(jitter="10m")
    decision = decide_at(subject, at("10:00") + timedelta(milliseconds=500), status=make_status(through=at("10:00")))
    assert decision.wake_at is not None
    assert at("10:30") <= decision.wake_at < at("10:40")
    # Before the jitter has passed, the slot is not due yet; at the wake-up it is.
    early = decide_at(subject, decision.wake_at - timedelta(milliseconds=1), status=decision.status)
    assert early.creates == ()
    on_time = decide_at(subject, decision.wake_at, status=decision.status)
    assert created(on_time) == [(at("10:30"), S)]


def test_wake_at_for_a_queued_slot_deadline() -> None:
    subject = make_subject(concurrencyPolicy="Queue", startingDeadlineSeconds=300)
    jobs = [active_job(at("10:00"))]
    decision = decide_at(subject, at("10:30"), status=make_status(through=at("10:00"), jobs=jobs), jobs=jobs)
    assert [q.scheduledTime for q in decision.status.queued] == [at("10:30")]
    assert decision.wake_at == at("10:35") + timedelta(milliseconds=1)
    expired = decide_at(subject, decision.wake_at, status=decision.status, jobs=jobs)
    assert [(r.result, r.reason) for r in expired.records] == [(Result.MISSED, "DeadlineExceeded")]
    assert expired.status.queued == []


# --- ENUMERATION_LIMIT: a huge backlog, bounded per decision, converging ---------------------------


def test_every_second_schedule_after_a_one_day_outage_converges_in_bounded_steps() -> None:
    creation = datetime(2026, 1, 1, tzinfo=UTC)
    subject = make_subject(schedule="* * * * * *", catchUp="All", maxCatchUp=5, creation=creation)
    down_from = datetime(2026, 1, 4, tzinfo=UTC)
    now = down_from + timedelta(days=1)
    status = make_status(through=down_from)
    missed = 0
    started: list[datetime] = []
    decisions = 0
    for _ in range(40):
        decisions += 1
        t0 = time.perf_counter()
        decision = decide(subject, status=status, jobs=[], now=now)
        assert time.perf_counter() - t0 < 5, "one decision must stay bounded"
        assert len(decision.records) <= ENUMERATION_LIMIT
        missed += sum(r.slotCount or 1 for r in decision.records if r.result is Result.MISSED)
        started += [c.slot for c in decision.creates]
        status = decision.status
        assert decision.wake_at is not None and decision.wake_at > now
        if decision.wake_at > now + timedelta(milliseconds=500):
            break
        now = decision.wake_at  # the operator continues at once
    else:
        raise AssertionError("the backlog did not converge")
    assert decisions > 86_400 // ENUMERATION_LIMIT  # it took several decisions: each is bounded
    slots_total = int((now - down_from).total_seconds())
    assert now.microsecond < 100_000
    # Every second of the outage is decided exactly once: missed, or one of the newest few caught up.
    assert missed + len(started) == slots_total
    assert len(started) == 5 + 1  # maxCatchUp catch-ups plus the on-time slot
    assert len(set(started)) == len(started)
    assert status.scheduledThrough is not None and status.scheduledThrough <= now


def test_duration_is_the_jobs_own_not_the_recorded_start_to_a_truncated_completion() -> None:
    """A 2 s run read "1s": the operator records a sub-second start, Kubernetes whole seconds."""
    from punctual.history import record_from_job
    from punctual.jobs import JobPhase

    created = datetime(2026, 11, 23, 10, 0, 0, 11_000, tzinfo=UTC)  # the operator's clock, at creation
    previous = HistoryRecord(
        job="heartbeat-1", scheduledTime=created, trigger=Trigger.SCHEDULE, result=Result.RUNNING, startTime=created
    )
    job = ObservedJob(
        name="heartbeat-1",
        scheduled_time=created,
        trigger=Trigger.SCHEDULE,
        phase=JobPhase.SUCCEEDED,
        start_time=datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC),  # the Job controller's, truncated
        completion_time=datetime(2026, 11, 23, 10, 0, 2, tzinfo=UTC),
    )
    record = record_from_job(job, previous)
    assert record.durationSeconds == 2.0
    assert record.startTime == created  # the recorded start is kept (no extra status write)
    without_start = record_from_job(replace(job, start_time=None), previous)
    assert without_start.durationSeconds == (job.completion_time - created).total_seconds()  # type: ignore[operator]


def test_a_pod_ending_before_its_job_is_marked_finished_changes_no_record() -> None:
    """A real server's order: the kubelet ends the Pod, the Job controller marks the Job seconds later.

    The Pod's exit code and image ID belong to the finished run: read while the Job is still active,
    they changed the record, and so cost every run a status write between its start and its end.
    """
    from punctual.history import record_from_job
    from punctual.jobs import JobPhase

    created = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
    previous = HistoryRecord(
        job="heartbeat-1", scheduledTime=created, trigger=Trigger.SCHEDULE, result=Result.RUNNING, startTime=created
    )
    running = ObservedJob(
        name="heartbeat-1",
        scheduled_time=created,
        trigger=Trigger.SCHEDULE,
        phase=JobPhase.ACTIVE,
        start_time=created,
        exit_code=0,  # its Pod has terminated
        image_id="docker-pullable://busybox@sha256:0",
    )
    assert record_from_job(running, previous) == previous
    finished = replace(running, phase=JobPhase.SUCCEEDED, completion_time=created + timedelta(seconds=2))
    record = record_from_job(finished, previous)
    assert (record.result, record.exitCode, record.imageID) == (
        Result.SUCCEEDED,
        0,
        "docker-pullable://busybox@sha256:0",
    )


def test_the_started_runs_job_seen_active_changes_no_record() -> None:
    """The decision that starts a run records what its Job will show once the API has it: seeing the
    Job (created, then picked up by the Job controller) changes nothing, so a run costs no status
    write between its start and its end. The record's image was left for the Job to fill in: a write
    of its own, seconds after the start, on a real server (traced there, 2.98 patches per run)."""
    subject = make_subject()
    first = decide_at(subject, at("10:30"), status=make_status(through=at("10:00")))
    assert created(first) == [(at("10:30"), S)]
    (record,) = [r for r in first.status.history if r.job == slot_name(at("10:30"))]
    assert record.image is not None
    jobs = as_observed(first.creates, now=at("10:30:01"))
    later = decide_at(subject, at("10:30:02"), status=first.status, jobs=jobs)
    assert later.creates == ()
    assert later.status.history == first.status.history
    assert later.status.active == first.status.active
