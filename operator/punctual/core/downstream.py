"""Step 5b: a downstream's runs after its upstreams, and the ``DependenciesValid`` condition. Pure.

The rules are :mod:`punctual.core.pipeline`'s; this module applies them to one decision's
:class:`~punctual.core.policy.Work`: each settled logical time becomes an offer (trigger
``upstream``, through the concurrency policy) or a Skipped record, and ``upstreamThrough`` moves.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from punctual.api import Result, ScheduledJobStatus, Trigger, format_time
from punctual.core.actions import Event
from punctual.core.conditions import set_condition
from punctual.core.pipeline import (
    Gate,
    Problem,
    Upstreams,
    dependency_problem,
    depends_on_window,
    gate,
    upstream_job_name,
    upstream_times,
)
from punctual.core.policy import Work
from punctual.core.spec import Subject
from punctual.jobs import ObservedJob

__all__ = ["CONDITION", "check", "dependencies_condition", "run_after_upstreams", "slot_gate", "upstream_cursor"]

CONDITION = "DependenciesValid"


def upstream_cursor(subject: Subject, status: ScheduledJobStatus, jobs: Sequence[ObservedJob]) -> datetime:
    """Every upstream logical time at or before this is decided; rebuilt from the Jobs if status is gone.

    It starts at the downstream's creation: an upstream's old history is not run the moment a
    downstream of it is created.
    """
    candidates = [status.upstreamThrough if status.upstreamThrough is not None else subject.creation]
    candidates += [j.scheduled_time for j in jobs if j.trigger is Trigger.UPSTREAM]
    return max(candidates)


def run_after_upstreams(work: Work, *, upstreams: Upstreams, cursor: datetime) -> datetime:
    """Offer one run per settled logical time whose upstreams all have a run that counts; the new cursor."""
    for settled in upstream_times(work.subject, upstreams, after=cursor):
        cursor = settled.logical_time
        job = upstream_job_name(work.subject.name, settled.logical_time)
        if settled.runs:
            # Due now, when its upstreams let it run: startingDeadlineSeconds counts from here (a
            # queued run waits for the downstream's own active run, not for the upstreams again).
            work.offer(job=job, slot=settled.logical_time, due=work.now, trigger=Trigger.UPSTREAM)
        elif settled.reason is not None and job not in work.history and job not in work.existing:
            work.record(
                job=job,
                slot=settled.logical_time,
                trigger=Trigger.UPSTREAM,
                result=Result.SKIPPED,
                reason="UpstreamNotSucceeded",
                message=f"logical time {format_time(settled.logical_time)} not run: {settled.reason}",
            )
    return cursor


def slot_gate(work: Work, upstreams: Upstreams) -> Callable[[datetime], Gate]:
    """The gate of a scheduled slot of a downstream with a schedule (Work.upstream_gate)."""
    schedule = work.schedule

    def check(slot: datetime) -> Gate:
        interval = schedule.interval_hint(slot - timedelta(microseconds=1)) if schedule is not None else None
        window = depends_on_window(work.subject, interval)
        return gate(work.subject, upstreams, slot=slot, window=window)

    return check


def dependencies_condition(
    subject: Subject, status: ScheduledJobStatus, *, problem: Problem | None, now: datetime
) -> tuple[ScheduledJobStatus, tuple[Event, ...]]:
    """``DependenciesValid`` set (or dropped, without dependsOn); a Warning Event when it turns False or changes."""
    if not subject.spec.dependsOn:
        status.conditions = [c for c in status.conditions if c.type != CONDITION]
        return status, ()
    before = next((c for c in status.conditions if c.type == CONDITION), None)
    if problem is None:
        names = ", ".join(d.name for d in subject.spec.dependsOn)
        status.conditions = set_condition(
            status.conditions,
            type_=CONDITION,
            status="True",
            reason="Valid",
            message=f"upstreams: {names}",
            now=now,
            generation=subject.generation,
        )
        return status, ()
    status.conditions = set_condition(
        status.conditions,
        type_=CONDITION,
        status="False",
        reason=problem.reason,
        message=problem.message,
        now=now,
        generation=subject.generation,
    )
    if before is not None and before.status == "False" and before.message == problem.message:
        return status, ()
    return status, (Event("Warning", f"Dependencies{problem.reason}", problem.message),)


def check(subject: Subject, upstreams: Upstreams) -> Problem | None:
    """The dependency problem of a subject with dependsOn (None: valid, or no dependsOn)."""
    return dependency_problem(subject, upstreams) if subject.spec.dependsOn else None
