"""Run history in ``status.history``: folding Jobs into records, trimming, counting. Pure."""

from __future__ import annotations

from collections.abc import Iterable

from punctual.api import HistoryRecord, Result
from punctual.jobs import JobPhase, ObservedJob

__all__ = ["FINAL_RESULTS", "bump_counts", "record_from_job", "trim"]

FINAL_RESULTS = frozenset(
    {Result.SUCCEEDED, Result.FAILED, Result.SKIPPED, Result.REPLACED, Result.MISSED, Result.DROPPED}
)


def record_from_job(job: ObservedJob, previous: HistoryRecord | None) -> HistoryRecord:
    """The history record of a run after observing its Job (keeps a recorded Replaced as it is)."""
    if previous is not None and previous.result is Result.REPLACED:
        return previous
    result = {
        JobPhase.ACTIVE: Result.RUNNING,
        JobPhase.SUCCEEDED: Result.SUCCEEDED,
        JobPhase.FAILED: Result.FAILED,
    }[job.phase]
    # The start recorded when the Job was created wins over the Job's own startTime: rewriting it
    # would cost a status write per run for nothing.
    start = (previous.startTime if previous else None) or job.start_time or job.created
    # The duration is the Job's own: its startTime and completionTime, both written by the Job
    # controller at one-second precision from one clock (what `kubectl get jobs` shows as DURATION).
    # The recorded start is the operator's sub-second clock at creation: against a truncated
    # completionTime it came out up to a second short (a 2 s run read 1.98 s, printed "1s").
    begin = job.start_time or start
    duration = None
    if job.completion_time is not None and begin is not None:
        duration = max(0.0, (job.completion_time - begin).total_seconds())
    return HistoryRecord(
        job=job.name,
        scheduledTime=job.scheduled_time,
        trigger=job.trigger,
        result=result,
        startTime=start,
        completionTime=job.completion_time,
        durationSeconds=duration,
        reason=job.reason if job.finished else None,
        message=job.message if job.finished else None,
        # A run's exit code and image ID are its outcome's: read once its Job has finished. A Pod
        # that ended before the Job controller marked the Job finished (a real server's order, the
        # Job's next update seconds later) would otherwise cost the run a status write of its own.
        exitCode=job.exit_code if job.finished else None,
        image=job.image,
        imageID=job.image_id if job.finished else None,
        attempt=job.attempt,
        retryOf=job.retry_of,
        # The Job's annotation says what it ran with; a Job without one (edited away) keeps the record's.
        overrides=job.overrides if job.overrides is not None else (previous.overrides if previous else None),
    )


def trim(records: Iterable[HistoryRecord], *, limit: int) -> list[HistoryRecord]:
    """Newest first (by scheduled time, then start), at most ``limit``; running records are kept."""
    ordered = sorted(
        records,
        key=lambda r: (r.scheduledTime, r.startTime or r.scheduledTime, r.job),
        reverse=True,
    )
    running = [r for r in ordered if r.result is Result.RUNNING]
    finished = [r for r in ordered if r.result is not Result.RUNNING]
    keep = set(id(r) for r in running) | set(id(r) for r in finished[: max(0, limit - len(running))])
    return [r for r in ordered if id(r) in keep]


def bump_counts(counts: dict[str, int], result: Result, n: int = 1) -> None:
    """Add ``n`` to the per-result tally (``status.counts``)."""
    counts[result.value] = counts.get(result.value, 0) + n
