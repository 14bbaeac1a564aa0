"""The scheduling state machine: one pure function decides everything. Pure.

``decide`` takes a ScheduledJob (its identity and parsed spec), its recorded status, the Jobs that
exist and ``now``, and returns what to do: Jobs to create and delete, Events to emit, the new status
and when to wake up next. It performs no I/O and never reads a clock. The operator drives it with
the Kubernetes API and the wall clock; ``punctual simulate`` drives the very same function with a
virtual clock and simulated Jobs.

Slot classification (documented in the README):

* A slot is *due* at its scheduled time plus its jitter.
* The newest due slot is *on time* if it is due no more than ``ON_TIME_TOLERANCE`` ago. Every
  other due slot was *missed during an outage* (the operator was down or the API unreachable):
  ``catchUp`` decides what happens to those (None: recorded Missed; Latest: only the newest runs;
  All: the newest ``maxCatchUp`` run, each with its own scheduled time, oldest first).
* A slot that cannot start within ``startingDeadlineSeconds`` of being due is recorded Missed.
* Catch-up runs go through the concurrency policy: under Forbid, Replace and Queue they wait in
  ``status.queued`` and start one after another; under Allow they start together.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from punctual.api import (
    ActiveRun,
    CatchUpPolicy,
    ConcurrencyPolicy,
    Condition,
    HistoryRecord,
    QueuedSlot,
    Result,
    ScheduledJobSpec,
    ScheduledJobStatus,
    Trigger,
    format_time,
)
from punctual.durations import DurationError, parse_duration
from punctual.history import bump_counts, record_from_job, trim
from punctual.jobs import (
    JobPhase,
    ObservedJob,
    Owner,
    build_job,
    manual_job_name,
    slot_job_name,
)
from punctual.schedule import Schedule, ScheduleError, jitter_offset

__all__ = [
    "ENUMERATION_LIMIT",
    "INVALID_SCHEDULE",
    "JOB_VANISHED_GRACE",
    "ON_TIME_TOLERANCE",
    "CreateJob",
    "Decision",
    "DeleteJob",
    "Event",
    "SpecError",
    "Subject",
    "build_schedule",
    "decide",
    "decide_invalid",
    "parse_spec",
    "schedule_fingerprint",
    "shard_of",
]

ON_TIME_TOLERANCE = timedelta(seconds=60)
"""How late the newest due slot may be seen and still count as on time rather than caught up."""

ENUMERATION_LIMIT = 10_000
"""Most slots one decision enumerates; a longer backlog is worked through over several decisions."""

AGGREGATE_MISSED = 10
"""More missed slots than this in one decision become one history record with ``slotCount``."""

JOB_VANISHED_GRACE = timedelta(seconds=60)
"""A running record whose Job is gone this long after it started is closed as Failed/JobDeleted."""

INVALID_SCHEDULE = "(invalid)"
"""``status.observedSchedule`` while the spec cannot be scheduled."""

SOON = timedelta(milliseconds=1)
_SCHEDULE_CHANGE_EPSILON = timedelta(microseconds=1)
"""A slot at exactly the instant a changed schedule is first seen is not before the change: it runs."""
MAX_JITTER = timedelta(days=365)
MAX_DEADLINE = timedelta(days=36500)
"""A longer startingDeadlineSeconds (the schema sets no maximum) means the same: no deadline."""


def _deadline(spec: ScheduledJobSpec) -> timedelta | None:
    seconds = spec.startingDeadlineSeconds
    return None if seconds is None else timedelta(seconds=min(seconds, int(MAX_DEADLINE.total_seconds())))


class SpecError(ValueError):
    """A ScheduledJob spec the operator cannot schedule; the message tells the user what to fix."""


@dataclass(frozen=True)
class Subject:
    """The ScheduledJob being decided: identity, creation time and parsed spec."""

    namespace: str
    name: str
    uid: str
    creation: datetime
    spec: ScheduledJobSpec
    generation: int | None = None
    run_request: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def owner(self) -> Owner:
        return Owner(namespace=self.namespace, name=self.name, uid=self.uid)


@dataclass(frozen=True)
class CreateJob:
    """Create this Job (an AlreadyExists answer means it is ours already: adopt it)."""

    name: str
    slot: datetime
    trigger: Trigger
    manifest: dict[str, Any]


@dataclass(frozen=True)
class DeleteJob:
    """Delete this Job (its pods go with it)."""

    name: str
    reason: Literal["Replaced", "HistoryLimit"]


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to emit on the ScheduledJob."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    """Everything ``decide`` wants done, plus the new status and the next wake-up."""

    status: ScheduledJobStatus
    creates: tuple[CreateJob, ...] = ()
    deletes: tuple[DeleteJob, ...] = ()
    events: tuple[Event, ...] = ()
    records: tuple[HistoryRecord, ...] = ()
    """History records added or changed by this decision (before trimming)."""
    wake_at: datetime | None = None


def shard_of(namespace: str, name: str, shards: int) -> int:
    """Which of ``shards`` operator shards handles this ScheduledJob: stable across processes and restarts.

    A hash of namespace and name (not the uid): a ScheduledJob deleted and created again stays on its
    shard, as do its Jobs, whose owner reference names it. Python's ``hash`` is salted per process.
    """
    if shards <= 1:
        return 0
    return zlib.crc32(f"{namespace}/{name}".encode()) % shards


def parse_spec(raw: Mapping[str, Any]) -> ScheduledJobSpec:
    """Validate a raw ``spec`` into the model, or raise SpecError with a readable message."""
    from pydantic import ValidationError

    try:
        return ScheduledJobSpec.model_validate(dict(raw))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            text = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"spec.{where}: {text}" if where else text)
        raise SpecError("; ".join(problems)) from exc


@functools.lru_cache(maxsize=200_000)
def _cached_schedule(expressions: tuple[str, ...], time_zone: str, anchor: datetime, key: str) -> Schedule:
    # A Schedule is immutable once built, and parsing costs more than a whole decision otherwise:
    # one per ScheduledJob spec is kept (the bound is far above any fleet this runs).
    return Schedule(expressions, time_zone=time_zone, anchor=anchor, key=key)


def _check_jitter(text: str) -> None:
    try:
        jitter = parse_duration(text)
    except DurationError as exc:
        raise SpecError(str(exc)) from exc
    except (OverflowError, ValueError) as exc:  # "1e400", "nan": no timedelta holds them
        raise SpecError(f"spec.jitter {text!r} is not a usable duration; use e.g. 30s or 5m") from exc
    if jitter > MAX_JITTER:
        raise SpecError(f"spec.jitter {text!r} is longer than 365d; use e.g. 30s or 5m")


def build_schedule(subject: Subject, *, default_time_zone: str = "UTC") -> Schedule:
    """The Schedule of a subject, or SpecError (bad cron, zone or jitter)."""
    if subject.spec.jitter is not None:
        _check_jitter(subject.spec.jitter)
    try:
        return _cached_schedule(
            tuple(subject.spec.expressions()),
            subject.spec.timeZone or default_time_zone,
            subject.creation,
            subject.key,
        )
    except (ScheduleError, DurationError) as exc:
        raise SpecError(str(exc)) from exc


def schedule_fingerprint(spec: ScheduledJobSpec, *, default_time_zone: str = "UTC") -> str:
    """What decides which slots exist: the cron expressions and the effective time zone.

    Recorded as ``status.observedSchedule``; a decision whose spec gives another value is the first
    one under a new (or newly valid) schedule. jitter is left out: it moves when a slot is due, not
    which slots exist.
    """
    return f"{spec.timeZone or default_time_zone}: {' | '.join(spec.expressions())}"


def _set_condition(
    conditions: list[Condition],
    *,
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    out = [c for c in conditions if c.type != type_]
    old = next((c for c in conditions if c.type == type_), None)
    since = old.lastTransitionTime if old is not None and old.status == status else now
    out.append(
        Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            lastTransitionTime=since,
            observedGeneration=generation,
        )
    )
    return sorted(out, key=lambda c: c.type)


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
        new.conditions = _set_condition(
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


@dataclass
class _Work:
    """Mutable scratch state of one decision."""

    subject: Subject
    schedule: Schedule
    now: datetime
    history: dict[str, HistoryRecord]
    counts: dict[str, int]
    queue: list[QueuedSlot]
    active: dict[str, ActiveRun]
    existing: set[str]
    creates: list[CreateJob] = field(default_factory=list)
    deletes: list[DeleteJob] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    touched: dict[str, HistoryRecord] = field(default_factory=dict)
    last_started_slot: datetime | None = None

    @property
    def spec(self) -> ScheduledJobSpec:
        return self.subject.spec

    def jitter(self, slot: datetime) -> timedelta:
        limit = parse_duration(self.spec.jitter) if self.spec.jitter else timedelta(0)
        return jitter_offset(self.subject.key, slot, limit)

    def job_name(self, slot: datetime) -> str:
        return slot_job_name(self.subject.name, slot, seconds=self.schedule.has_seconds)

    def put(self, record: HistoryRecord) -> None:
        self.history[record.job] = record
        self.touched[record.job] = record

    def record(self, *, job: str, slot: datetime, trigger: Trigger, result: Result, reason: str, message: str) -> None:
        """Record a slot that will not run (Skipped, Missed, Dropped)."""
        self.put(
            HistoryRecord(job=job, scheduledTime=slot, trigger=trigger, result=result, reason=reason, message=message)
        )
        bump_counts(self.counts, result)
        kind: Literal["Normal", "Warning"] = "Normal" if result is Result.SKIPPED else "Warning"
        self.events.append(Event(kind, f"Slot{result.value}", message))

    def deadline_passed(self, due: datetime) -> bool:
        deadline = _deadline(self.spec)
        return deadline is not None and self.now > due + deadline

    def start(self, *, job: str, slot: datetime, trigger: Trigger) -> None:
        """Start a run, or adopt its Job when one with the derived name exists already."""
        if trigger is not Trigger.MANUAL:
            self.last_started_slot = max(slot, self.last_started_slot or slot)
        if job in self.existing:
            return  # created before a crash or by an earlier decision: it is ours, never duplicate it
        self.existing.add(job)
        manifest = build_job(self.subject.owner, self.spec, job_name=job, slot=slot, trigger=trigger)
        self.creates.append(CreateJob(name=job, slot=slot, trigger=trigger, manifest=manifest))
        self.active[job] = ActiveRun(name=job, scheduledTime=slot, trigger=trigger, startTime=self.now)
        self.put(HistoryRecord(job=job, scheduledTime=slot, trigger=trigger, result=Result.RUNNING, startTime=self.now))
        bump_counts(self.counts, Result.RUNNING)  # "Running" counts runs started
        self.events.append(
            Event("Normal", "RunStarted", f"Started Job {job} for {format_time(slot)} ({trigger.value})")
        )

    def replace_active(self, *, by: str) -> None:
        for name, run in sorted(self.active.items()):
            self.deletes.append(DeleteJob(name=name, reason="Replaced"))
            previous = self.history.get(name)
            replaced = HistoryRecord(
                job=name,
                scheduledTime=run.scheduledTime,
                trigger=run.trigger,
                result=Result.REPLACED,
                startTime=previous.startTime if previous else run.startTime,
                completionTime=self.now,
                reason="Replaced",
                message=f"replaced by {by} (concurrencyPolicy Replace)",
                image=previous.image if previous else None,
                imageID=previous.imageID if previous else None,
            )
            self.put(replaced)
            bump_counts(self.counts, Result.REPLACED)
            self.events.append(Event("Normal", "RunReplaced", f"Deleted Job {name}: replaced by {by}"))
        self.active.clear()

    def offer(self, *, job: str, slot: datetime, due: datetime, trigger: Trigger) -> None:
        """Apply the concurrency policy to a slot (or manual run) that wants to start now."""
        if job in self.existing or job in self.history:
            if job in self.existing:
                self.start(job=job, slot=slot, trigger=trigger)
            return  # decided before (its record exists): never run a slot twice
        policy = self.spec.concurrencyPolicy
        busy = bool(self.active) or bool(self.queue)
        serialise = trigger is Trigger.CATCHUP and policy is not ConcurrencyPolicy.ALLOW
        if serialise or (policy is ConcurrencyPolicy.QUEUE and busy):
            waiting = sum(1 for q in self.queue if q.trigger is not Trigger.CATCHUP)
            if not serialise and waiting >= self.spec.maxQueued:
                self.record(
                    job=job,
                    slot=slot,
                    trigger=trigger,
                    result=Result.DROPPED,
                    reason="QueueFull",
                    message=f"slot {format_time(slot)} dropped: {waiting} already queued (maxQueued)",
                )
                return
            if any(q.job == job for q in self.queue):
                return
            self.queue.append(QueuedSlot(scheduledTime=slot, trigger=trigger, job=job, queuedAt=self.now, dueTime=due))
            self.events.append(Event("Normal", "SlotQueued", f"Queued {job} for {format_time(slot)} ({trigger.value})"))
            return
        if policy is ConcurrencyPolicy.FORBID and busy:
            running = ", ".join(sorted(self.active)) or "a queued catch-up"
            self.record(
                job=job,
                slot=slot,
                trigger=trigger,
                result=Result.SKIPPED,
                reason="ConcurrencyForbid",
                message=f"slot {format_time(slot)} skipped: {running} still running (concurrencyPolicy Forbid)",
            )
            return
        if policy is ConcurrencyPolicy.REPLACE and self.active:
            self.replace_active(by=job)
        self.start(job=job, slot=slot, trigger=trigger)

    def drain_queue(self, *, start: bool = True) -> None:
        """Expire queued slots past their deadline; start the head when nothing runs (if ``start``)."""
        kept = []
        for q in self.queue:
            if q.job in self.existing:
                # Started by a decision whose status write was lost (a crash): adopt, never expire it.
                self.start(job=q.job, slot=q.scheduledTime, trigger=q.trigger)
            elif self.deadline_passed(q.dueTime or q.scheduledTime):
                self.record(
                    job=q.job,
                    slot=q.scheduledTime,
                    trigger=q.trigger,
                    result=Result.MISSED,
                    reason="DeadlineExceeded",
                    message=f"queued slot {format_time(q.scheduledTime)} passed startingDeadlineSeconds",
                )
            else:
                kept.append(q)
        self.queue = kept
        allow_parallel = self.spec.concurrencyPolicy is ConcurrencyPolicy.ALLOW
        while start and self.queue and (not self.active or allow_parallel):
            head = self.queue.pop(0)
            self.start(job=head.job, slot=head.scheduledTime, trigger=head.trigger)


def _fold_jobs(work: _Work, jobs: Sequence[ObservedJob], status: ScheduledJobStatus) -> ScheduledJobStatus:
    """Step 1: bring history up to date with the Jobs (finishes, exit codes, adoption after restart)."""
    new = status
    for job in sorted(jobs, key=lambda j: j.scheduled_time):
        previous = work.history.get(job.name)
        record = record_from_job(job, previous)
        if job.trigger is not Trigger.MANUAL:
            # A Job's scheduled-time annotation proves its slot started: recovers lastScheduleTime
            # when the status was lost.
            work.last_started_slot = max(job.scheduled_time, work.last_started_slot or job.scheduled_time)
        if previous is None or record != previous:
            work.put(record)
            if previous is None:
                bump_counts(work.counts, Result.RUNNING)
        was_running = previous is None or previous.result is Result.RUNNING
        if was_running and record.result in (Result.SUCCEEDED, Result.FAILED):
            bump_counts(work.counts, record.result)
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
                bump_counts(work.counts, Result.FAILED)
                work.events.append(Event("Warning", "RunFailed", f"Job {name} disappeared before it finished"))
            else:
                work.active.setdefault(
                    name,
                    ActiveRun(name=name, scheduledTime=rec.scheduledTime, trigger=rec.trigger, startTime=started),
                )
    return new


def _cursor(subject: Subject, status: ScheduledJobStatus, jobs: Sequence[ObservedJob]) -> datetime:
    """Every slot at or before the cursor has been decided. Rebuilt from the Jobs if status is gone."""
    if status.scheduledThrough is not None:
        return status.scheduledThrough
    candidates = [subject.creation]
    candidates += [j.scheduled_time for j in jobs if j.trigger is not Trigger.MANUAL]
    if status.lastScheduleTime is not None:
        candidates.append(status.lastScheduleTime)
    return max(candidates)


def _missed(work: _Work, slots: list[datetime], *, reason: str, message: str) -> None:
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


def _missed_stretch(work: _Work, slots: list[datetime], *, reason: str, message: str) -> None:
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


def _due_slots(work: _Work, cursor: datetime) -> tuple[datetime, datetime | None]:
    """Steps 4-5: classify the slots in (cursor, now] and offer the ones that should run.

    Returns the new cursor and, when a backlog was too long for one decision, when to continue.
    """
    spec, now = work.spec, work.now
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
    return newest_slot, None


def _superseded_by(work: _Work, later: datetime) -> str:
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


_RUN_OUTCOMES = (Result.SUCCEEDED, Result.FAILED)


def _last_result(history: Sequence[HistoryRecord], *, previous: str | None) -> str | None:
    """The newest finished run's outcome: Succeeded or Failed, by completion time.

    Slots that did not run (Skipped, Missed, Dropped) and runs cut short (Replaced) are newer records
    but no run's outcome; with no finished run left in history the previous outcome stays.
    """
    finished = [r for r in history if r.result in _RUN_OUTCOMES]
    if finished:
        newest = max(finished, key=lambda r: (r.completionTime or r.scheduledTime, r.scheduledTime))
        return newest.result.value
    return previous if previous in (Result.SUCCEEDED.value, Result.FAILED.value) else None


def _garbage(work: _Work, jobs: Sequence[ObservedJob]) -> None:
    """Step 7: delete finished Jobs beyond successfulJobsHistoryLimit / failedJobsHistoryLimit."""
    for phase, limit in (
        (JobPhase.SUCCEEDED, work.spec.successfulJobsHistoryLimit),
        (JobPhase.FAILED, work.spec.failedJobsHistoryLimit),
    ):
        done = [j for j in jobs if j.phase is phase and not j.deleting]
        done.sort(key=lambda j: (j.completion_time or j.scheduled_time, j.name), reverse=True)
        for job in done[limit:]:
            work.deletes.append(DeleteJob(name=job.name, reason="HistoryLimit"))


def decide(
    subject: Subject,
    *,
    status: ScheduledJobStatus,
    jobs: Sequence[ObservedJob],
    now: datetime,
    default_time_zone: str = "UTC",
) -> Decision:
    """Decide one ScheduledJob at ``now``. Raises SpecError for an unschedulable spec."""
    schedule = build_schedule(subject, default_time_zone=default_time_zone)
    # A shallow copy is enough: every nested list and record is replaced, never changed in place.
    new = status.model_copy()
    work = _Work(
        subject=subject,
        schedule=schedule,
        now=now,
        history={r.job: r for r in new.history},
        counts=dict(new.counts),
        queue=list(new.queued),
        active={},
        existing={j.name for j in jobs},
    )
    # 1. Fold the observed Jobs into history and find the active runs.
    new = _fold_jobs(work, jobs, new)
    # 2. Recover the cursor (from status, or from the Jobs after a lost status). A schedule that
    # became valid or changed (expressions, time zone) since the last decision starts now: its slots
    # before this first sight of it were never the schedule, so they are not caught up. Without a
    # recorded schedule (a status lost, or written before the field existed) nothing is assumed.
    cursor = _cursor(subject, new, jobs)
    fingerprint = schedule_fingerprint(subject.spec, default_time_zone=default_time_zone)
    if new.observedSchedule is not None and new.observedSchedule != fingerprint:
        cursor = max(cursor, now - _SCHEDULE_CHANGE_EPSILON)
    new.observedSchedule = fingerprint
    # 3. Queued slots whose run ended start now (or expire). Not under Replace: a slot due now would
    # replace the head in this very decision (a Job created and deleted at once, its slot lost as
    # Replaced); the head starts in step 6 instead when nothing runs then.
    work.drain_queue(start=subject.spec.concurrencyPolicy is not ConcurrencyPolicy.REPLACE)
    # 4-5. Due slots, unless suspended. A suspended ScheduledJob still wakes at each of its slots and
    # consumes it (neither run nor caught up later), so that after a resume only the slots since the
    # resume are due; if the operator was down across the resume, those are handled as missed during
    # an outage (catchUp decides), never skipped silently.
    resume_at: datetime | None = None
    if subject.spec.suspend:
        cursor = max(cursor, now)
    else:
        cursor, resume_at = _due_slots(work, cursor)
    # 6. An on-demand run request (the run-requested-at annotation), through the same policy.
    token = subject.run_request
    if token and token != new.lastHandledRunRequest:
        work.offer(job=manual_job_name(subject.name, token), slot=now, due=now, trigger=Trigger.MANUAL)
        new.lastHandledRunRequest = token
    work.drain_queue()
    # 7. Old finished Jobs beyond the history limits.
    _garbage(work, jobs)
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
    new.lastResult = _last_result(new.history, previous=new.lastResult)
    new.scheduledThrough = cursor
    if work.last_started_slot is not None and (
        new.lastScheduleTime is None or work.last_started_slot > new.lastScheduleTime
    ):
        new.lastScheduleTime = work.last_started_slot
    upcoming = schedule.next_after(cursor)
    new.nextScheduleTime = None if subject.spec.suspend else upcoming
    new.observedGeneration = subject.generation
    suspended = subject.spec.suspend
    for type_, value, reason, message in (
        ("ScheduleValid", "True", "Valid", "the schedule and spec are valid"),
        (
            "Suspended",
            "True" if suspended else "False",
            "Suspended" if suspended else "Active",
            "spec.suspend is true: slots are not run" if suspended else "slots run as scheduled",
        ),
        (
            "Ready",
            "True",
            "Suspended" if suspended else "Scheduling",
            "suspended" if suspended else f"next run at {format_time(upcoming) if upcoming else 'never'}",
        ),
    ):
        new.conditions = _set_condition(
            new.conditions,
            type_=type_,
            status=value,  # type: ignore[arg-type]
            reason=reason,
            message=message,
            now=now,
            generation=subject.generation,
        )
    # 9. The next wake-up: the next slot's due time, a queued slot's deadline, a vanished Job's grace.
    wakes: list[datetime] = []
    if resume_at is not None:
        wakes.append(resume_at)
    elif upcoming is not None:
        wakes.append(upcoming + work.jitter(upcoming))
    deadline = _deadline(subject.spec)
    if deadline is not None:
        wakes += [(q.dueTime or q.scheduledTime) + deadline + timedelta(milliseconds=1) for q in work.queue]
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
