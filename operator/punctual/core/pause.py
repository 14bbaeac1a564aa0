"""Pause after failures (``spec.pauseAfterFailures``): count consecutive Failed runs, pause, lift. Pure.

* Every run that ends in a decision moves the count: Failed adds one, Succeeded sets it to zero.
  Slots that did not run (Skipped, Missed, Dropped), runs cut short (Replaced) and a backfill's runs
  (their own lane) leave it.
* When the count reaches ``pauseAfterFailures`` the ScheduledJob is paused (``status.pause``): its
  slots are consumed as while suspended (neither run nor caught up later) and queued slots wait
  (their deadline still applies). Manual runs still start: they are how a fix is tried.
* The pause is lifted by ``kubectl sj resume`` (a new ``punctual.dev/resume-requested-at`` token)
  or by a spec change (a new ``metadata.generation``); the count starts again from zero. The
  operator never writes the user's spec.
"""

from __future__ import annotations

from punctual.api import Pause, Result, ScheduledJobStatus, Trigger
from punctual.core.actions import Event
from punctual.core.policy import Work
from punctual.core.spec import Subject

__all__ = ["paused_message", "update_pause"]


def paused_message(subject: Subject, pause: Pause) -> str:
    return (
        f"paused after {pause.failures} consecutive failed runs (pauseAfterFailures "
        f"{subject.spec.pauseAfterFailures}): no slot runs until kubectl sj resume {subject.name} or a spec change"
    )


def update_pause(work: Work, subject: Subject, status: ScheduledJobStatus) -> bool:
    """Fold this decision's finished runs into the count, lift or begin a pause; True while paused."""
    failures = status.consecutiveFailures
    # A backfill's runs are their own lane (status.backfills counts their failures): they neither
    # pause the schedule nor reset its count. A failed run whose slot gets a retry (spec.retry) is
    # not the slot's outcome yet: the count is of slots, moved by each slot's last attempt.
    runs = [r for r in work.finished if r.trigger is not Trigger.BACKFILL and r.job not in work.retrying]
    for record in sorted(runs, key=lambda r: (r.completionTime or r.scheduledTime, r.scheduledTime)):
        failures = failures + 1 if record.result is Result.FAILED else 0
    token = subject.resume_request
    resume_requested = bool(token) and token != status.lastHandledResumeRequest
    if resume_requested:
        status.lastHandledResumeRequest = token
    pause = status.pause
    if pause is not None:
        if resume_requested:
            why = "resume requested"
        elif subject.spec.pauseAfterFailures is None:
            why = "spec.pauseAfterFailures removed"
        elif subject.generation != pause.generation:
            why = "the spec changed"
        else:
            why = ""
        if why:
            pause, failures = None, 0
            work.events.append(Event("Normal", "Resumed", f"runs resume after the pause ({why})"))
    limit = subject.spec.pauseAfterFailures
    if pause is None and limit is not None and failures >= limit:
        pause = Pause(since=work.now, failures=failures, generation=subject.generation)
        work.events.append(Event("Warning", "PausedAfterFailures", paused_message(subject, pause)))
    status.consecutiveFailures = failures
    status.pause = pause
    return pause is not None
