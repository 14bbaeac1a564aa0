"""The state machine: ``decide`` runs the numbered steps of one decision. Pure.

``decide`` takes a ScheduledJob (its identity and parsed spec), its recorded status, the Jobs that
exist and ``now``, and returns what to do: Jobs to create and delete, Events to emit, the new status
and when to wake up next. It performs no I/O and never reads a clock. The operator drives it with
the Kubernetes API and the wall clock; ``punctual simulate`` drives the very same function with a
virtual clock and simulated Jobs. Catch-up runs go through the concurrency policy
(:mod:`punctual.core.policy`): under Forbid, Replace and Queue they wait in ``status.queued`` and
start one after another; under Allow they start together.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from punctual.api import ConcurrencyPolicy, Result, ScheduledJobStatus, Trigger, format_time
from punctual.core.actions import Decision, Event
from punctual.core.backfill import advance_backfills
from punctual.core.conditions import set_condition
from punctual.core.downstream import check, dependencies_condition, run_after_upstreams, slot_gate, upstream_cursor
from punctual.core.exclusions import LOOKAHEAD, Calendars, Exclusions, RuleError, calendars_condition, exclusions_of
from punctual.core.fold import JOB_VANISHED_GRACE, collect_garbage, cursor_of, fold_jobs, last_result
from punctual.core.pause import paused_message, update_pause
from punctual.core.pipeline import Upstreams, depends_on_window
from punctual.core.policy import Work
from punctual.core.retry import plan_retries, retry_wakes, run_retries
from punctual.core.run_request import OverridesError, requested
from punctual.core.slots import SOON, due_slots
from punctual.core.spec import SpecError, Subject, build_schedule, schedule_fingerprint, starting_deadline
from punctual.history import trim
from punctual.jobs import ObservedJob, manual_job_name
from punctual.schedule import Schedule

__all__ = ["INVALID_SCHEDULE", "SCHEDULE_CHANGE_EPSILON", "decide", "decide_invalid"]

INVALID_SCHEDULE = "(invalid)"
"""``status.observedSchedule`` while the spec cannot be scheduled."""

SCHEDULE_CHANGE_EPSILON = timedelta(microseconds=1)
"""A slot at exactly the instant a changed schedule is first seen is not before the change: it runs."""


def decide_invalid(
    subject_generation: int | None, *, status: ScheduledJobStatus, error: str, now: datetime
) -> Decision:
    """An invalid spec: say so in conditions and an Event; schedule nothing, never crash."""
    new = status.model_copy()
    new.observedGeneration = subject_generation
    new.nextScheduleTime = None
    # Slots are not decided while the spec is invalid; once it is fixed, the first decision sees a
    # changed schedule and does not catch up the slots of the time it was invalid.
    new.observedSchedule = INVALID_SCHEDULE
    for type_, reason in (("ScheduleValid", "InvalidSpec"), ("Ready", "InvalidSpec")):
        new.conditions = set_condition(
            new.conditions,
            type_=type_,
            status="False",
            reason=reason,
            message=error,
            now=now,
            generation=subject_generation,
        )
    changed = [c.model_dump() for c in new.conditions] != [c.model_dump() for c in status.conditions]
    events = (Event("Warning", "InvalidSpec", error),) if changed else ()
    return Decision(status=new, events=events)


def decide(
    subject: Subject,
    *,
    status: ScheduledJobStatus,
    jobs: Sequence[ObservedJob],
    now: datetime,
    default_time_zone: str = "UTC",
    upstreams: Upstreams | None = None,
    calendars: Calendars | None = None,
) -> Decision:
    """Decide one ScheduledJob at ``now``. Raises SpecError for an unschedulable spec.

    ``upstreams`` are the ScheduledJobs of its namespace as its dependsOn sees them
    (:mod:`punctual.core.pipeline`); without it, every upstream counts as missing. ``calendars``
    are the Calendars of its namespace (:mod:`punctual.core.exclusions`); without it, every
    Calendar of spec.calendars counts as missing.
    """
    # Without a schedule (dependsOn only) there are no slots: steps 2 and 4-5 are skipped.
    schedule = build_schedule(subject, default_time_zone=default_time_zone) if subject.spec.expressions() else None
    depends_on_window(subject, None)  # a bad dependsOnWindow is a SpecError like a bad schedule
    upstreams = upstreams if upstreams is not None else {}
    problem = check(subject, upstreams)
    # A shallow copy is enough: every nested list and record is replaced, never changed in place.
    new = status.model_copy()
    work = Work(
        subject=subject,
        schedule=schedule,
        now=now,
        history={r.job: r for r in new.history},
        counts=dict(new.counts),
        queue=list(new.queued),
        active={},
        existing={j.name for j in jobs},
    )
    if subject.spec.dependsOn and schedule is not None:
        work.upstream_gate = slot_gate(work, upstreams)
    exclusions = _exclusions(subject, calendars) if schedule is not None else None
    if exclusions is not None and schedule is not None:
        zone = schedule.zone
        work.exclusion = lambda slot: exclusions.verdict(slot, zone)
    # 1. Fold the observed Jobs into history and find the active runs.
    new = fold_jobs(work, jobs, new)
    # 2. Recover the cursor (from status, or from the Jobs after a lost status). A schedule that
    # became valid or changed (expressions, time zone) since the last decision starts now: its slots
    # before this first sight of it were never the schedule, so they are not caught up. Without a
    # recorded schedule (a status lost, or written before the field existed) nothing is assumed.
    cursor = cursor_of(subject, new, jobs)
    schedule_changed = False
    if schedule is not None:
        fingerprint = schedule_fingerprint(subject.spec, default_time_zone=default_time_zone)
        schedule_changed = new.observedSchedule is not None and new.observedSchedule != fingerprint
        if schedule_changed:
            cursor = max(cursor, now - SCHEDULE_CHANGE_EPSILON)
        new.observedSchedule = fingerprint
    # 3. Queued slots whose run ended start now (or expire). Not under Replace: a slot due now would
    # replace the head in this very decision (a Job created and deleted at once, its slot lost as
    # Replaced); the head starts in step 6 instead when nothing runs then.
    # 1a. Retries (punctual.core.retry): a failed run's slot with retries left gets one, planned
    # before the pause count, which counts slots, not attempts.
    retries = plan_retries(work, new.retries, known={r.job for r in status.history}, jobs=jobs)
    # 1b. Pause after failures: this decision's finished runs move the count; a pause begins or lifts.
    paused = update_pause(work, subject, new)
    work.drain_queue(start=subject.spec.concurrencyPolicy is not ConcurrencyPolicy.REPLACE and not paused)
    # 4-5. Due slots, unless suspended. A suspended ScheduledJob still wakes at each of its slots and
    # consumes it (neither run nor caught up later), so that after a resume only the slots since the
    # resume are due; if the operator was down across the resume, those are handled as missed during
    # an outage (catchUp decides), never skipped silently.
    resume_at: datetime | None = None
    if subject.spec.suspend or paused:
        cursor = max(cursor, now)
    elif schedule is not None:
        cursor, resume_at = due_slots(work, cursor)
    # 5b. A downstream without a schedule: one run per logical time its upstreams all succeeded for
    # (punctual.core.pipeline). Suspended or paused, the times pass (as a suspended schedule's slots do).
    if subject.spec.dependsOn and schedule is None and problem is None:
        through = upstream_cursor(subject, new, jobs)
        if subject.spec.suspend or paused:
            through = max(through, now)
        new.upstreamThrough = run_after_upstreams(work, upstreams=upstreams, cursor=through)
    # 6. An on-demand run request (the run-requested-at annotation), through the same policy.
    # Its overrides (the run-overrides annotation) must be this request's and must apply, or nothing runs.
    token = subject.run_request
    if token and token != new.lastHandledRunRequest:
        job = manual_job_name(subject.name, token)
        try:
            overrides = requested(
                subject.run_overrides,
                subject.run_overrides_error,
                token=token,
                job_spec=subject.spec.jobTemplate.spec,
            )
        except OverridesError as exc:
            if job in work.existing or job in work.history:
                # Decided before a lost status write (its Job, or its record, exists): never twice.
                work.offer(job=job, slot=now, due=now, trigger=Trigger.MANUAL)
            else:
                work.refuse_run(job=job, slot=now, message=f"run request {token} refused: {exc}; nothing was run")
        else:
            work.offer(job=job, slot=now, due=now, trigger=Trigger.MANUAL, overrides=overrides)
        new.lastHandledRunRequest = token
    work.drain_queue(start=not paused)
    # 6a. Due retries, through the concurrency policy; they wait while suspended or paused.
    hold = "Suspended" if subject.spec.suspend else ("Paused" if paused else None)
    new.retries = run_retries(work, retries, hold=hold)
    # 6b. Backfills (punctual.core.backfill): their own lane, at most `parallel` runs each, never
    # through the concurrency policy; also while suspended, as manual runs.
    backfill_wake = advance_backfills(
        work,
        new,
        request=subject.backfill_request,
        cancel=subject.backfill_cancel,
        schedule_changed=schedule_changed,
        generation=subject.generation,
    )
    # 7. Old finished Jobs beyond the history limits.
    collect_garbage(work, jobs)
    # 8. History, counts, active, queue, times and conditions.
    new.history = trim(work.history.values(), limit=subject.spec.historyLimit)
    # A record whose Job still exists stays even beyond historyLimit: dropped, the next decision
    # would take that Job for a new run (counting it again and repeating its RunSucceeded Event).
    kept = {r.job for r in new.history}
    observed = [r for r in work.history.values() if r.job in work.existing and r.job not in kept]
    if observed:
        new.history = trim([*new.history, *observed], limit=len(new.history) + len(observed))
    new.counts = work.counts
    new.queued = work.queue
    new.active = sorted(work.active.values(), key=lambda a: (a.scheduledTime, a.name))
    new.activeCount = len(new.active)
    new.queuedCount = len(new.queued)
    new.lastResult = last_result(new.history, previous=new.lastResult)
    new.scheduledThrough = cursor
    if work.last_started_slot is not None and (
        new.lastScheduleTime is None or work.last_started_slot > new.lastScheduleTime
    ):
        new.lastScheduleTime = work.last_started_slot
    upcoming = schedule.next_after(cursor) if schedule is not None else None
    # The next slot that will run: excluded ones are looked past (the wake-up is still the next
    # slot's, to record it Skipped); none while a Calendar is missing.
    next_run = upcoming
    if exclusions is not None and schedule is not None and upcoming is not None:
        next_run = _next_not_excluded(schedule, upcoming, exclusions)
    new.nextScheduleTime = None if subject.spec.suspend or paused else next_run
    new.observedGeneration = subject.generation
    suspended = subject.spec.suspend
    ended = schedule is not None and upcoming is None and schedule.ended(now)
    ready_status = "True"
    ready_reason, ready_message = "Scheduling", f"next run at {format_time(next_run) if next_run else 'never'}"
    suspended_reason, suspended_message = "Suspended", "spec.suspend is true: slots are not run"
    calendar_problem = exclusions.problem if exclusions is not None else None
    if problem is not None:
        ready_status, ready_reason, ready_message = "False", "DependenciesInvalid", problem.message
    elif calendar_problem is not None:
        ready_status, (ready_reason, ready_message) = "False", calendar_problem
    elif suspended:
        ready_reason, ready_message = "Suspended", "suspended"
    elif new.pause is not None:
        ready_reason, ready_message = "Paused", paused_message(subject, new.pause)
        suspended_reason, suspended_message = "TooManyFailures", ready_message
    elif schedule is None:
        ready_message = "runs after its upstreams"
    elif ended and schedule.not_after is not None:
        ready_reason = "Ended"
        ready_message = f"the schedule has ended: spec.notAfter {format_time(schedule.not_after)} has passed"
        if _condition_reason(new, "Ready") != "Ended":
            work.events.append(Event("Normal", "ScheduleEnded", ready_message))
    elif upcoming is None and schedule.not_after is not None:
        ready_message = f"no slot left before spec.notAfter {format_time(schedule.not_after)}"
    for type_, value, reason, message in (
        ("ScheduleValid", "True", "Valid", "the schedule and spec are valid"),
        (
            "Suspended",
            "True" if suspended or paused else "False",
            suspended_reason if suspended or paused else "Active",
            suspended_message if suspended or paused else "slots run as scheduled",
        ),
        ("Ready", ready_status, ready_reason, ready_message),
    ):
        new.conditions = set_condition(
            new.conditions,
            type_=type_,
            status=value,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            now=now,
            generation=subject.generation,
        )
    new, dependency_events = dependencies_condition(subject, new, problem=problem, now=now)
    work.events += dependency_events
    new, calendar_events = calendars_condition(subject, new, exclusions=exclusions, now=now)
    work.events += calendar_events
    # 9. The next wake-up: the next slot's due time, a queued slot's deadline, a vanished Job's grace.
    wakes: list[datetime] = [backfill_wake] if backfill_wake is not None else []
    if resume_at is not None:
        wakes.append(resume_at)
    elif upcoming is not None:
        wakes.append(upcoming + work.jitter(upcoming))
    elif schedule is not None and schedule.not_after is not None and not ended:
        wakes.append(schedule.not_after + timedelta(milliseconds=1))  # to say that the schedule has ended
    deadline = starting_deadline(subject.spec)
    if deadline is not None:
        wakes += [(q.dueTime or q.scheduledTime) + deadline + timedelta(milliseconds=1) for q in work.queue]
    wakes += retry_wakes(new.retries, work=work)
    seen = {j.name for j in jobs}
    wakes += [
        (r.startTime or r.scheduledTime) + JOB_VANISHED_GRACE
        for r in work.history.values()
        if r.result is Result.RUNNING and r.job not in seen
    ]
    future = [w for w in wakes if w > now]
    wake_at = min(future) if future else (now + SOON if wakes else None)
    return Decision(
        status=new,
        creates=tuple(work.creates),
        deletes=tuple(work.deletes),
        events=tuple(work.events),
        records=tuple(work.touched.values()),
        wake_at=wake_at,
    )


def _exclusions(subject: Subject, calendars: Calendars | None) -> Exclusions | None:
    """The subject's exclusions (None: it has none); a bad spec.exclude is a SpecError."""
    if not subject.spec.exclude and not subject.spec.calendars:
        return None
    try:
        return exclusions_of(subject.spec, calendars)
    except RuleError as exc:
        raise SpecError(f"spec.exclude: {exc}") from None


def _next_not_excluded(schedule: Schedule, upcoming: datetime, exclusions: Exclusions) -> datetime | None:
    if exclusions.problem is not None:
        return None
    slot: datetime | None = upcoming
    for _ in range(LOOKAHEAD):
        if slot is None or exclusions.verdict(slot, schedule.zone) is None:
            return slot
        slot = schedule.next_after(slot)
    return None


def _condition_reason(status: ScheduledJobStatus, type_: str) -> str | None:
    return next((c.reason for c in status.conditions if c.type == type_), None)
