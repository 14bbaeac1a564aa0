"""Step 1 and the history: fold the observed Jobs into the run history, recover the cursor. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from punctual.api import ActiveRun, HistoryRecord, Result, ScheduledJobStatus, Trigger
from punctual.core.actions import DeleteJob, Event
from punctual.core.policy import Work
from punctual.core.spec import Subject
from punctual.history import bump_counts, record_from_job
from punctual.jobs import JobPhase, ObservedJob

__all__ = ["JOB_VANISHED_GRACE", "collect_garbage", "cursor_of", "fold_jobs", "last_result"]

_OFF_SCHEDULE = (Trigger.MANUAL, Trigger.BACKFILL)

JOB_VANISHED_GRACE = timedelta(seconds=60)
"""A running record whose Job is gone this long after it started is closed as Failed/JobDeleted."""


def fold_jobs(work: Work, jobs: Sequence[ObservedJob], status: ScheduledJobStatus) -> ScheduledJobStatus:
    """Step 1: bring history up to date with the Jobs (finishes, exit codes, adoption after restart)."""
    new = status
    for job in sorted(jobs, key=lambda j: j.scheduled_time):
        previous = work.history.get(job.name)
        record = record_from_job(job, previous)
        if job.trigger not in _OFF_SCHEDULE:
            # A Job's scheduled-time annotation proves its slot started: recovers lastScheduleTime
            # when the status was lost. Manual and backfill runs say nothing of the schedule's progress.
            work.last_started_slot = max(job.scheduled_time, work.last_started_slot or job.scheduled_time)
        if previous is None or record != previous:
            work.put(record)
            if previous is None:
                bump_counts(work.counts, Result.RUNNING)
        was_running = previous is None or previous.result is Result.RUNNING
        if was_running and record.result in (Result.SUCCEEDED, Result.FAILED):
            bump_counts(work.counts, record.result)
            work.finished.append(record)
            when = job.completion_time or work.now
            if record.result is Result.SUCCEEDED:
                if new.lastSuccessfulTime is None or when > new.lastSuccessfulTime:
                    new.lastSuccessfulTime = when
                work.events.append(Event("Normal", "RunSucceeded", f"Job {job.name} succeeded"))
            else:
                if new.lastFailureTime is None or when > new.lastFailureTime:
                    new.lastFailureTime = when
                detail = f" ({record.reason})" if record.reason else ""
                code = f", exit code {record.exitCode}" if record.exitCode is not None else ""
                work.events.append(Event("Warning", "RunFailed", f"Job {job.name} failed{detail}{code}"))
        if job.phase is JobPhase.ACTIVE and not job.deleting and record.result is Result.RUNNING:
            work.active[job.name] = ActiveRun(
                name=job.name,
                scheduledTime=job.scheduled_time,
                trigger=job.trigger,
                startTime=record.startTime,
            )
    seen = {j.name for j in jobs}
    for name, rec in list(work.history.items()):
        if rec.result is Result.RUNNING and name not in seen:
            started = rec.startTime or rec.scheduledTime
            if work.now - started >= JOB_VANISHED_GRACE:
                closed = rec.model_copy(
                    update={
                        "result": Result.FAILED,
                        "reason": "JobDeleted",
                        "message": "the Job disappeared before it finished",
                        "completionTime": work.now,
                    }
                )
                work.put(closed)
                work.finished.append(closed)
                bump_counts(work.counts, Result.FAILED)
                work.events.append(Event("Warning", "RunFailed", f"Job {name} disappeared before it finished"))
            else:
                work.active.setdefault(
                    name,
                    ActiveRun(name=name, scheduledTime=rec.scheduledTime, trigger=rec.trigger, startTime=started),
                )
    return new


def cursor_of(subject: Subject, status: ScheduledJobStatus, jobs: Sequence[ObservedJob]) -> datetime:
    """Every slot at or before the cursor has been decided. Rebuilt from the Jobs if status is gone."""
    if status.scheduledThrough is not None:
        return status.scheduledThrough
    candidates = [subject.creation]
    candidates += [j.scheduled_time for j in jobs if j.trigger not in _OFF_SCHEDULE]
    if status.lastScheduleTime is not None:
        candidates.append(status.lastScheduleTime)
    return max(candidates)


_RUN_OUTCOMES = (Result.SUCCEEDED, Result.FAILED)


def last_result(history: Sequence[HistoryRecord], *, previous: str | None) -> str | None:
    """The newest finished run's outcome: Succeeded or Failed, by completion time.

    Slots that did not run (Skipped, Missed, Dropped) and runs cut short (Replaced) are newer records
    but no run's outcome; with no finished run left in history the previous outcome stays.
    """
    finished = [r for r in history if r.result in _RUN_OUTCOMES]
    if finished:
        newest = max(finished, key=lambda r: (r.completionTime or r.scheduledTime, r.scheduledTime))
        return newest.result.value
    return previous if previous in (Result.SUCCEEDED.value, Result.FAILED.value) else None


def collect_garbage(work: Work, jobs: Sequence[ObservedJob]) -> None:
    """Step 7: delete finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit."""
    for phase, limit in (
        (JobPhase.SUCCEEDED, work.spec.successfulJobsHistoryLimit),
        (JobPhase.FAILED, work.spec.failedJobsHistoryLimit),
    ):
        done = [j for j in jobs if j.phase is phase and not j.deleting]
        done.sort(key=lambda j: (j.completion_time or j.scheduled_time, j.name), reverse=True)
        for job in done[limit:]:
            work.deletes.append(DeleteJob(name=job.name, reason="HistoryLimit"))
