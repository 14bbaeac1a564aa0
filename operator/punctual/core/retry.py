"""Retries (``spec.retry``): a failed run's slot gets a new Job after a delay. Pure.

* **Which runs retry.** A Failed run of a scheduled, catch-up or upstream slot, and a failed retry,
  until the slot has had ``limit`` retries. Manual runs do not retry (you are there to run it again),
  nor do a backfill's runs (a backfill is its own lane and counts its failures; backfill again).
  A Replaced run, a Job that could not be created and slots that did not run are not failures here.
* **The delay.** Retry *n* (attempt *n* + 1 of the slot) is due ``delay * backoff**(n-1)`` after the
  failed run finished, at most ``maxDelay`` (and never more than :data:`MAX_RETRY_DELAY`).
* **Persisted.** A pending retry waits in ``status.retries`` (its Job name, attempt and due time), so
  it survives an operator restart. Its Job carries the ``punctual.dev/attempt`` and
  ``punctual.dev/retry-of`` annotations and its own name per attempt (``<first>-r<attempt>``): a lost
  status is rebuilt from the failed Jobs: a failure seen anew plans its retry again unless a Job was
  created after it (then its retry had its chance and may be gone with the history limits); a retry
  whose Job exists is adopted. No attempt runs twice.
* **Through the concurrency policy.** A due retry starts at once under Allow. Under Forbid and Queue
  it waits (reason ``WaitingForActiveRun``) while another run is active and starts when none is.
  Under Replace a retry never deletes a run: once a newer slot has started, the retry is recorded
  Skipped (reason ``Superseded``); else it waits as under Forbid. ``startingDeadlineSeconds`` counts
  from the retry's due time (recorded Missed, ``DeadlineExceeded``).
* **Suspend, pause, spec changes.** While suspended or paused a due retry waits (reason ``Suspended``
  or ``Paused``). Removing ``spec.retry`` (or lowering ``limit`` below a retry's number) cancels the
  pending retries (a ``RetryCancelled`` Event); other spec changes keep them as planned.
* **pauseAfterFailures counts slots.** A failed run whose slot gets a retry does not move the count;
  the slot's last attempt does (Failed adds one, Succeeded sets it to zero).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta

from punctual.api import ConcurrencyPolicy, HistoryRecord, Result, RetryPending, RetryPolicy, Trigger, format_time
from punctual.core.actions import Event
from punctual.core.policy import Work
from punctual.core.spec import starting_deadline
from punctual.durations import format_duration, parse_duration
from punctual.jobs import ObservedJob, retry_job_name

__all__ = [
    "MAX_RETRY_DELAY",
    "RETRIED_TRIGGERS",
    "plan_retries",
    "retry_delay",
    "retry_wakes",
    "run_retries",
]

MAX_RETRY_DELAY = timedelta(days=7)
"""The longest wait before a retry whatever maxDelay says: a retry later than that is a new slot's job."""

RETRIED_TRIGGERS = frozenset({Trigger.SCHEDULE, Trigger.CATCHUP, Trigger.UPSTREAM, Trigger.RETRY})
"""The triggers whose failed runs are retried: manual and backfill runs are not."""

_STARTED = (Result.RUNNING, Result.SUCCEEDED, Result.FAILED, Result.REPLACED)


def retry_delay(policy: RetryPolicy, retry: int) -> timedelta:
    """The wait after a failure before retry number ``retry`` (1 for the slot's first retry)."""
    cap = min(parse_duration(policy.maxDelay), MAX_RETRY_DELAY)
    base = parse_duration(policy.delay).total_seconds()
    # Capped before it becomes a timedelta: backoff 100 at retry 100 is far past any timedelta.
    exponent = min(retry - 1, 200)
    seconds = min(base * policy.backoff**exponent, cap.total_seconds())
    return timedelta(seconds=seconds)


def plan_retries(
    work: Work, pending: Sequence[RetryPending], *, known: Collection[str], jobs: Sequence[ObservedJob]
) -> list[RetryPending]:
    """This decision's failed runs whose slot has retries left join ``pending`` (by due time).

    ``known`` are the Jobs the status recorded before this decision. A failure it did not record is
    seen in a rebuild (a lost status); if any Job was created after that failure, the operator of
    then had its chance to retry it (the retry's Job may be gone, deleted by the history limits):
    it is not planned again, so that no attempt runs twice.
    """
    policy = work.spec.retry
    planned = list(pending)
    if policy is None:
        return planned
    for record in work.finished:
        if record.job not in known and _created_since(jobs, record):
            work.retrying.add(record.job)  # decided by the lost status: its slot's outcome is unknown here
            continue
        if record.result is not Result.FAILED or record.trigger not in RETRIED_TRIGGERS:
            continue
        attempt = record.attempt or 1
        first = record.retryOf or record.job
        if attempt > policy.limit:
            if policy.limit:
                work.events.append(
                    Event(
                        "Warning",
                        "RetriesExhausted",
                        f"Job {record.job} failed: slot {format_time(record.scheduledTime)} "
                        f"had all {policy.limit} retries (spec.retry.limit)",
                    )
                )
            continue
        job = retry_job_name(first, attempt + 1)
        # The slot is not decided yet: its failure does not count for pauseAfterFailures.
        work.retrying.add(record.job)
        if job in work.history or job in work.existing or any(p.job == job for p in planned):
            continue  # planned before a lost status, or started already: never twice
        wait = retry_delay(policy, attempt)
        due = (record.completionTime or work.now) + wait
        planned.append(
            RetryPending(job=job, retryOf=first, scheduledTime=record.scheduledTime, attempt=attempt + 1, dueTime=due)
        )
        work.events.append(
            Event(
                "Normal",
                "RetryScheduled",
                f"Job {record.job} failed: retry {attempt}/{policy.limit} of slot "
                f"{format_time(record.scheduledTime)} as {job} in {format_duration(wait)} ({format_time(due)})",
            )
        )
    return sorted(planned, key=lambda p: (p.dueTime, p.job))


def _created_since(jobs: Sequence[ObservedJob], record: HistoryRecord) -> bool:
    finished = record.completionTime
    return finished is not None and any(j.created is not None and j.created > finished for j in jobs)


def run_retries(work: Work, pending: Sequence[RetryPending], *, hold: str | None) -> list[RetryPending]:
    """Start the due retries the concurrency policy lets start; the rest stay pending (``hold``: why all wait)."""
    policy = work.spec.retry
    kept: list[RetryPending] = []
    for p in pending:
        if p.job in work.existing:
            # Started by a decision whose status write was lost (a crash): adopt it.
            _start(work, p)
            continue
        if p.job in work.history:
            continue  # decided before: never twice
        if policy is None or p.attempt > policy.limit + 1:
            why = "spec.retry was removed" if policy is None else f"spec.retry.limit is now {policy.limit}"
            work.events.append(
                Event(
                    "Normal",
                    "RetryCancelled",
                    f"retry {p.job} of slot {format_time(p.scheduledTime)} cancelled: {why}",
                )
            )
            continue
        if p.dueTime > work.now:
            kept.append(p.model_copy(update={"reason": None}) if p.reason else p)
            continue
        if hold is not None:
            kept.append(p.model_copy(update={"reason": hold}))
            continue
        if work.deadline_passed(p.dueTime):
            _record(work, p, Result.MISSED, "DeadlineExceeded", "passed startingDeadlineSeconds after its due time")
            continue
        concurrency = work.spec.concurrencyPolicy
        if concurrency is ConcurrencyPolicy.REPLACE and _newer_started(work.history.values(), p):
            _record(work, p, Result.SKIPPED, "Superseded", "a newer slot has run since (concurrencyPolicy Replace)")
            continue
        if concurrency is not ConcurrencyPolicy.ALLOW and work.policy_active:
            kept.append(p.model_copy(update={"reason": "WaitingForActiveRun"}))
            continue
        if work.capped:
            # Allow with maxActive: a retry is a run like any other and waits below the cap.
            kept.append(p.model_copy(update={"reason": "MaxActive"}))
            continue
        _start(work, p)
    return kept


def retry_wakes(pending: Sequence[RetryPending], *, work: Work) -> list[datetime]:
    """When the pending retries need a decision: their due times, a waiting one's deadline."""
    deadline = starting_deadline(work.spec)
    wakes = [p.dueTime for p in pending if p.dueTime > work.now]
    if deadline is not None:
        wakes += [p.dueTime + deadline + timedelta(milliseconds=1) for p in pending if p.dueTime <= work.now]
    return wakes


def _start(work: Work, p: RetryPending) -> None:
    work.start(job=p.job, slot=p.scheduledTime, trigger=Trigger.RETRY, attempt=p.attempt, retry_of=p.retryOf)


def _record(work: Work, p: RetryPending, result: Result, reason: str, why: str) -> None:
    work.record(
        job=p.job,
        slot=p.scheduledTime,
        trigger=Trigger.RETRY,
        result=result,
        reason=reason,
        message=f"retry {p.attempt - 1} of slot {format_time(p.scheduledTime)} not run: {why}",
        attempt=p.attempt,
        retry_of=p.retryOf,
    )


def _newer_started(history: Iterable[HistoryRecord], p: RetryPending) -> bool:
    return any(
        r.scheduledTime > p.scheduledTime and r.trigger in RETRIED_TRIGGERS and r.result in _STARTED for r in history
    )
