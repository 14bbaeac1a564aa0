"""Backfill: run every slot of the schedule in a time range, each once, as its own lane. Pure.

A request (the ``punctual.dev/backfill-request`` annotation, a JSON object ``{"token", "from",
"to", "parallel"}``, written by ``kubectl sj backfill``) names a range ``[from, to]``, both ends
inclusive. The rules:

* **Acted on once.** A request whose token equals ``status.lastHandledBackfillRequest`` is done;
  any other is accepted or rejected, once, and the token recorded.
* **Bounded.** At most ``MAX_BACKFILL_SLOTS`` slots per request and ``MAX_OPEN_BACKFILLS`` waiting
  or running; beyond, the request is ``Rejected`` (an Event and the ``BackfillAccepted``
  condition say why). Slots after ``now`` are left to the schedule: ``to`` is cut to ``now``.
* **Small status.** ``status.backfills[]`` keeps the range, a cursor (every slot at or before it
  was handled), counters and the Jobs still running (at most ``parallel``), never the slots: they
  are computed from the schedule each time.
* **Never a second run of a slot.** A slot whose Job exists, that is queued or active, or whose
  run is recorded in history (Running, Succeeded, Failed, Replaced) is *skipped-existing*. A slot
  recorded as not run (Skipped, Missed, Dropped) is run: filling those gaps is what a backfill is
  for. The Job is named after the slot as a scheduled run's is, so even a race ends in adoption.
* **Its own lane.** At most ``parallel`` runs of the backfill at once, one after another by
  default, whatever ``concurrencyPolicy`` says; scheduled, catch-up and manual runs keep their
  policy and never see the backfill's runs (Forbid does not skip a slot for them, Queue does not
  wait for them, Replace does not delete them). Backfill runs are never put in ``status.queued``:
  the cursor is the queue, so it never grows.
* **One backfill at a time**, in the order requested; the next starts when the previous completed
  or was cancelled.
* **Cancel** (``punctual.dev/backfill-cancel``: tokens): the pending slots are dropped, the running
  ones finish (and are still counted). A change of the schedule cancels the open backfills too:
  their remaining slots would be another schedule's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from punctual.api import (
    BackfillState,
    BackfillStatus,
    HistoryRecord,
    Result,
    ScheduledJobStatus,
    Trigger,
    format_time,
)
from punctual.core.actions import Event
from punctual.core.backfill_request import (
    BackfillError,
    parse_cancel,
    parse_request,
    request_identity,
)
from punctual.core.conditions import set_condition
from punctual.core.policy import Work
from punctual.core.slots import ENUMERATION_LIMIT, SOON
from punctual.core.spec import Subject, build_schedule
from punctual.jobs import ObservedJob, slot_job_name
from punctual.schedule import Schedule

__all__ = [
    "CONDITION",
    "FINISHED_KEPT",
    "MAX_BACKFILL_SLOTS",
    "MAX_OPEN_BACKFILLS",
    "BackfillPlan",
    "PlannedSlot",
    "advance_backfills",
    "plan_backfill",
    "range_slots",
]

MAX_BACKFILL_SLOTS = 10_000
"""Most slots one backfill request may name."""

MAX_OPEN_BACKFILLS = 5
"""Most backfills waiting or running for one ScheduledJob; a further request is rejected."""

FINISHED_KEPT = 5
"""Finished (completed, cancelled, rejected) backfills kept in status, newest."""

CONDITION = "BackfillAccepted"
"""The condition saying whether the newest backfill request was accepted (absent before the first)."""

_RAN = (Result.RUNNING, Result.SUCCEEDED, Result.FAILED, Result.REPLACED)
_OPEN = (BackfillState.WAITING, BackfillState.RUNNING)
_EPSILON = timedelta(microseconds=1)


def range_slots(schedule: Schedule, start: datetime, end: datetime, *, limit: int) -> tuple[list[datetime], bool]:
    """The slots in ``[start, end]`` (at most ``limit``) and whether there are more."""
    return schedule.slots(start - _EPSILON, end, limit=limit)


def _existing(
    job: str,
    *,
    history: Mapping[str, HistoryRecord],
    jobs: Iterable[str],
    queued: Iterable[str],
    active: Iterable[str],
) -> str | None:
    """Why a slot's run exists already (None: it does not)."""
    if job in active:
        return "running"
    if job in jobs:
        return "Job exists"
    if job in queued:
        return "queued"
    record = history.get(job)
    if record is not None and record.result in _RAN:
        return f"recorded {record.result.value}"
    return None


@dataclass(frozen=True)
class PlannedSlot:
    """One slot of a dry run: run it, or skip it (and why)."""

    slot: datetime
    job: str
    action: Literal["run", "skip"]
    why: str | None = None


@dataclass(frozen=True)
class BackfillPlan:
    """What a backfill of a range would do now (``kubectl sj backfill --dry-run``)."""

    start: datetime
    end: datetime
    slots: tuple[PlannedSlot, ...]

    @property
    def to_run(self) -> int:
        return sum(1 for s in self.slots if s.action == "run")

    @property
    def skipped(self) -> int:
        return sum(1 for s in self.slots if s.action == "skip")


def plan_backfill(
    subject: Subject,
    *,
    start: datetime,
    end: datetime,
    status: ScheduledJobStatus,
    jobs: Sequence[ObservedJob],
    now: datetime,
    default_time_zone: str = "UTC",
) -> BackfillPlan:
    """The slots of ``[start, end]`` and which would run, as the operator would decide it now.

    Raises BackfillError (a reversed range, more than ``MAX_BACKFILL_SLOTS`` slots) or SpecError.
    """
    if start > end:
        raise BackfillError(f"--from {format_time(start)} is after --to {format_time(end)}")
    schedule = build_schedule(subject, default_time_zone=default_time_zone)
    end = min(end, now)
    slots, more = range_slots(schedule, start, end, limit=MAX_BACKFILL_SLOTS)
    if more:
        raise _too_many(start, end)
    history = {r.job: r for r in status.history}
    names = {j.name for j in jobs}
    queued = {q.job for q in status.queued}
    active = {a.name for a in status.active if any(j.name == a.name and not j.finished for j in jobs)}
    planned = []
    for slot in slots:
        job = slot_job_name(subject.name, slot, seconds=schedule.has_seconds)
        why = _existing(job, history=history, jobs=names, queued=queued, active=active)
        planned.append(PlannedSlot(slot=slot, job=job, action="skip" if why else "run", why=why))
    return BackfillPlan(start=start, end=end, slots=tuple(planned))


def _too_many(start: datetime, end: datetime) -> BackfillError:
    return BackfillError(
        f"the range {format_time(start)} to {format_time(end)} has more than {MAX_BACKFILL_SLOTS} slots "
        f"(at most {MAX_BACKFILL_SLOTS} per backfill); split it into smaller ranges",
        reason="TooManySlots",
    )


def _summary(entry: BackfillStatus) -> str:
    return (
        f"{entry.done} run ({entry.failed} failed), {entry.skippedExisting} skipped (existing)"
        f"{f', {entry.running} running' if entry.running else ''}"
    )


def _count(entry: BackfillStatus) -> None:
    entry.running = len(entry.runs)
    if entry.state in _OPEN:
        entry.pending = max(0, entry.total - entry.skippedExisting - entry.done - entry.running)
    else:
        entry.pending = 0


def _finish_runs(work: Work, entry: BackfillStatus) -> None:
    """Runs of the entry whose Job finished (or is gone for good) are done."""
    kept = []
    for job in entry.runs:
        if job in work.active:
            kept.append(job)
            continue
        entry.done += 1
        record = work.history.get(job)
        if record is not None and record.result is Result.FAILED:
            entry.failed += 1
    entry.runs = kept


def _cancel(entry: BackfillStatus, *, now: datetime, why: str) -> Event:
    _count(entry)
    dropped = entry.pending
    entry.state = BackfillState.CANCELLED
    entry.pending = 0
    entry.finishedAt = now
    left = f", {entry.running} running left to finish" if entry.running else ""
    entry.message = f"{why}: {dropped} pending slot{'' if dropped == 1 else 's'} dropped{left}"
    return Event("Normal", "BackfillCancelled", f"Backfill {entry.token} {entry.message}")


def _accept(
    work: Work, text: str, *, entries: list[BackfillStatus], cancel: frozenset[str]
) -> tuple[BackfillStatus, str | None]:
    """The entry of a new request and, when rejected, the reason for the condition."""
    now = work.now
    identity = request_identity(text)
    try:
        request = parse_request(text)
        if identity in cancel:
            entry = BackfillStatus(token=identity, state=BackfillState.WAITING, requestedAt=now)
            work.events.append(_cancel(entry, now=now, why="cancelled before it started"))
            return entry, None
        if sum(1 for e in entries if e.state in _OPEN) >= MAX_OPEN_BACKFILLS:
            raise BackfillError(
                f"{MAX_OPEN_BACKFILLS} backfills are waiting or running (at most {MAX_OPEN_BACKFILLS}); "
                "cancel one or wait for it to finish",
                reason="TooManyBackfills",
            )
        if work.schedule is None:
            raise BackfillError(
                "this ScheduledJob has no schedule (it runs after its upstreams): there are no slots to backfill",
                reason="NoSchedule",
            )
        end = min(request.end, now)
        slots, more = range_slots(work.schedule, request.start, end, limit=MAX_BACKFILL_SLOTS)
        if more:
            raise _too_many(request.start, end)
    except BackfillError as exc:
        entry = BackfillStatus(
            token=identity, state=BackfillState.REJECTED, requestedAt=now, finishedAt=now, message=str(exc)
        )
        work.events.append(Event("Warning", "BackfillRejected", f"Backfill {identity} rejected: {exc}"))
        return entry, exc.reason
    entry = BackfillStatus(
        token=identity,
        state=BackfillState.WAITING,
        fromTime=request.start,
        toTime=end,
        parallel=request.parallel,
        total=len(slots),
        requestedAt=now,
    )
    cut = f" (slots after {format_time(now)} are left to the schedule)" if request.end > now else ""
    work.events.append(
        Event(
            "Normal",
            "BackfillAccepted",
            f"Backfill {identity}: {len(slots)} slots from {format_time(request.start)} to {format_time(end)}, "
            f"parallel {request.parallel}{cut}",
        )
    )
    return entry, None


def _progress(work: Work, entry: BackfillStatus, *, others: set[str], recorded: set[str], budget: int) -> int:
    """Start the entry's next slots (up to ``parallel`` running) and skip those that exist; the budget left."""
    assert entry.fromTime is not None and entry.toTime is not None  # accepted entries have a range
    entry.state = BackfillState.RUNNING
    cursor = entry.cursor or entry.fromTime - _EPSILON
    queued = {q.job for q in work.queue}
    assert work.schedule is not None  # accepted only with a schedule
    while budget > 0:
        slot = work.schedule.next_after(cursor)
        if slot is None or slot > entry.toTime:
            break
        job = work.job_name(slot)
        record = work.history.get(job)
        # A backfill Job the recorded status has never seen was created by a decision whose status
        # write was lost (a crash): this backfill's own run, adopted rather than skipped.
        lost = job not in recorded and job not in others and record is not None and record.trigger is Trigger.BACKFILL
        if lost and job in work.existing and job not in entry.runs:
            if job in work.active:
                entry.runs.append(job)
            else:
                entry.done += 1
                entry.failed += 1 if record is not None and record.result is Result.FAILED else 0
        elif _existing(job, history=work.history, jobs=work.existing, queued=queued, active=work.active):
            entry.skippedExisting += 1
        elif len(entry.runs) >= entry.parallel:
            break  # this slot waits for a run of the backfill to finish
        else:
            work.start(job=job, slot=slot, trigger=Trigger.BACKFILL)
            entry.runs.append(job)
        cursor = slot
        entry.cursor = slot
        budget -= 1
    nxt = work.schedule.next_after(cursor)
    if (nxt is None or nxt > entry.toTime) and not entry.runs:
        entry.state = BackfillState.COMPLETED
        entry.finishedAt = work.now
        _count(entry)
        work.events.append(Event("Normal", "BackfillCompleted", f"Backfill {entry.token} completed: {_summary(entry)}"))
    return budget


def advance_backfills(
    work: Work,
    status: ScheduledJobStatus,
    *,
    request: str | None,
    cancel: str | None,
    schedule_changed: bool,
    generation: int | None,
) -> datetime | None:
    """The backfill step of ``decide``: updates ``status`` (backfills, the handled token, the condition)
    and starts runs through ``work``; returns when to continue if a decision's work was cut short."""
    now = work.now
    if not status.backfills and not request:
        return None  # the common case, every decision of every ScheduledJob: nothing to do
    entries = [e.model_copy(deep=True) for e in status.backfills]
    cancelled = parse_cancel(cancel)
    # a. Runs that finished since the last decision.
    for entry in entries:
        _finish_runs(work, entry)
    # b. Cancelled by the user, or by a change of the schedule.
    for entry in entries:
        if entry.state in _OPEN and entry.token in cancelled:
            work.events.append(_cancel(entry, now=now, why="cancelled"))
        elif entry.state in _OPEN and schedule_changed:
            work.events.append(_cancel(entry, now=now, why="cancelled: the schedule changed"))
    # c. A new request, acted on once.
    if request and request_identity(request) != status.lastHandledBackfillRequest:
        entry, rejected = _accept(work, request, entries=entries, cancel=cancelled)
        entries.append(entry)
        status.lastHandledBackfillRequest = entry.token
        status.conditions = set_condition(
            status.conditions,
            type_=CONDITION,
            status="False" if rejected else "True",
            reason=rejected or "Accepted",
            message=entry.message if rejected and entry.message else f"backfill {entry.token} accepted",
            now=now,
            generation=generation,
        )
    # d. The oldest open backfill progresses; the next one starts once it completed.
    budget = ENUMERATION_LIMIT
    recorded = {r.job for r in status.history}  # the history as written: step 8 replaces it
    for entry in entries:
        if entry.state not in _OPEN:
            continue
        others = {job for e in entries if e is not entry for job in e.runs}
        budget = _progress(work, entry, others=others, recorded=recorded, budget=budget)
        if entry.state in _OPEN:
            break
    for entry in entries:
        _count(entry)
    # e. Keep the open ones, those with runs still going, and the newest finished.
    live = [e for e in entries if e.state in _OPEN or e.runs]
    finished = [e for e in entries if not (e.state in _OPEN or e.runs)][-FINISHED_KEPT:]
    keep = {id(e) for e in live + finished}
    status.backfills = [e for e in entries if id(e) in keep]
    return now + SOON if budget <= 0 else None
