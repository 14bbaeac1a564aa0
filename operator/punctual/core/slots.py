"""Steps 4-5: which slots are due, on time or missed during an outage, and what catchUp makes of them. Pure.

* A slot is *due* at its scheduled time plus its jitter.
* The newest due slot is *on time* if it is due no more than ``ON_TIME_TOLERANCE`` ago. Every
  other due slot was *missed during an outage* (the operator was down or the API unreachable):
  ``catchUp`` decides what happens to those (None: recorded Missed; Latest: only the newest runs;
  All: the newest ``maxCatchUp`` run, each with its own scheduled time, oldest first).
* A slot that cannot start within ``startingDeadlineSeconds`` of being due is recorded Missed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from punctual.api import CatchUpPolicy, HistoryRecord, Result, Trigger, format_time
from punctual.core.actions import Event
from punctual.core.policy import Work
from punctual.history import bump_counts

__all__ = ["AGGREGATE_MISSED", "ENUMERATION_LIMIT", "ON_TIME_TOLERANCE", "SOON", "due_slots"]

ON_TIME_TOLERANCE = timedelta(seconds=60)
"""How late the newest due slot may be seen and still count as on time rather than caught up."""

ENUMERATION_LIMIT = 10_000
"""Most slots one decision enumerates; a longer backlog is worked through over several decisions."""

AGGREGATE_MISSED = 10
"""More missed slots than this in one decision become one history record with ``slotCount``."""

SOON = timedelta(milliseconds=1)
"""The wake-up of a decision that wants to continue at once (a backlog, a vanished Job's grace)."""


def _missed(work: Work, slots: list[datetime], *, reason: str, message: str) -> None:
    """Record slots that will never run; many at once become one aggregated record.

    A slot whose Job exists started before a crash lost its status write: the fold has adopted it
    as a run, so it is left out (an aggregated record only ever covers consecutive slots).
    """
    stretch: list[datetime] = []
    for slot in slots:
        if work.job_name(slot) in work.existing:
            _missed_stretch(work, stretch, reason=reason, message=message)
            stretch = []
        else:
            stretch.append(slot)
    _missed_stretch(work, stretch, reason=reason, message=message)


def _missed_stretch(work: Work, slots: list[datetime], *, reason: str, message: str) -> None:
    if not slots:
        return
    if len(slots) <= AGGREGATE_MISSED:
        for slot in slots:
            work.record(
                job=work.job_name(slot),
                slot=slot,
                trigger=Trigger.CATCHUP,
                result=Result.MISSED,
                reason=reason,
                message=f"slot {format_time(slot)} not run: {message}",
            )
        return
    first, last = slots[0], slots[-1]
    text = f"{len(slots)} slots from {format_time(first)} to {format_time(last)} not run: {message}"
    work.put(
        HistoryRecord(
            job=work.job_name(first),
            scheduledTime=first,
            trigger=Trigger.CATCHUP,
            result=Result.MISSED,
            reason=reason,
            message=text,
            slotCount=len(slots),
        )
    )
    bump_counts(work.counts, Result.MISSED, len(slots))
    work.events.append(Event("Warning", "SlotMissed", text))


def due_slots(work: Work, cursor: datetime) -> tuple[datetime, datetime | None]:
    """Steps 4-5: classify the slots in (cursor, now] and offer the ones that should run.

    Returns the new cursor and, when a backlog was too long for one decision, when to continue.
    """
    spec, now = work.spec, work.now
    assert work.schedule is not None, "due_slots is only called with a schedule"
    slots, more = work.schedule.slots(cursor, now, limit=ENUMERATION_LIMIT)
    if more:
        # A huge backlog (an every-second schedule after a long outage): the oldest slots can only
        # be Missed; decide them in bulk and continue at once, keeping enough for the catch-up.
        keep = max(spec.maxCatchUp, 1)
        old, slots = slots[:-keep], slots[-keep:]
        _missed(work, old, reason="CatchUpLimit", message="too far behind to catch up")
        return (old[-1] if old else cursor), now + SOON
    due: list[tuple[datetime, datetime]] = []
    for slot in slots:
        when = slot + work.jitter(slot)
        if when > now:
            break  # jitter holds this slot (and so every later one) back
        due.append((slot, when))
    if not due:
        return cursor, None
    through = due[-1][0]
    if work.exclusion is not None:
        due = _without_excluded(work, due)
        if not due:
            return through, None
    newest_slot, newest_due = due[-1]
    on_time = now - newest_due <= ON_TIME_TOLERANCE
    late = due[:-1] if on_time else due
    to_run: list[tuple[datetime, datetime, Trigger]] = []
    superseded: list[datetime] = []
    if spec.catchUp is CatchUpPolicy.NONE:
        _missed(work, [s for s, _ in late], reason="CatchUpNone", message="missed during an outage (catchUp None)")
    elif spec.catchUp is CatchUpPolicy.LATEST:
        superseded = [s for s, _ in (late if on_time else late[:-1])]
        if not on_time and late:
            to_run.append((late[-1][0], late[-1][1], Trigger.CATCHUP))
    else:
        limit = spec.maxCatchUp
        over, kept = (late[:-limit], late[-limit:]) if limit else (late, [])
        _missed(work, [s for s, _ in over], reason="CatchUpLimit", message=f"beyond maxCatchUp ({limit})")
        to_run += [(s, d, Trigger.CATCHUP) for s, d in kept]
    if on_time:
        to_run.append((newest_slot, newest_due, Trigger.SCHEDULE))
    mark = len(work.events)
    for slot, when, trigger in to_run:
        job = work.job_name(slot)
        if work.deadline_passed(when) and job not in work.existing:  # an existing Job started in time
            work.record(
                job=job,
                slot=slot,
                trigger=trigger,
                result=Result.MISSED,
                reason="DeadlineExceeded",
                message=f"slot {format_time(slot)} could not start within startingDeadlineSeconds",
            )
            continue
        work.offer(job=job, slot=slot, due=when, trigger=trigger)
    if superseded:
        # Recorded after the later slot was offered, so that the message says what became of it;
        # their Events still come first, as the slots are older.
        later = newest_slot if on_time else late[-1][0]
        after = work.events[mark:]
        del work.events[mark:]
        _missed(work, superseded, reason="Superseded", message=_superseded_by(work, later))
        work.events += after
    return through, None


def _without_excluded(work: Work, due: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """The due slots no exclusion holds back; the others are recorded Skipped with the rule (or the
    missing Calendar) that holds them. They are left out before catchUp looks at the rest: an
    excluded slot neither runs nor supersedes an older one."""
    assert work.exclusion is not None
    kept: list[tuple[datetime, datetime]] = []
    for slot, when in due:
        verdict = work.exclusion(slot)
        if verdict is None:
            kept.append((slot, when))
            continue
        job = work.job_name(slot)
        if job in work.existing or job in work.history:
            continue  # its Job started before a crash lost the status write (adopted), or it is recorded
        reason, message = verdict
        work.record(job=job, slot=slot, trigger=Trigger.SCHEDULE, result=Result.SKIPPED, reason=reason, message=message)
    return kept


def _superseded_by(work: Work, later: datetime) -> str:
    """What happened to the slot that superseded older ones under catchUp Latest, truthfully."""
    job = work.job_name(later)
    when = format_time(later)
    record = work.history.get(job)
    ran = (Result.RUNNING, Result.SUCCEEDED, Result.FAILED, Result.REPLACED)
    if job in work.active or (record is not None and record.result in ran):
        return f"the later slot {when} ran instead (catchUp Latest)"
    if any(q.job == job for q in work.queue):
        return f"the later slot {when} was queued instead (catchUp Latest)"
    fate = f" ({record.result.value}: {record.reason})" if record is not None else ""
    return f"the later slot {when} was taken instead (catchUp Latest) but did not run either{fate}"
