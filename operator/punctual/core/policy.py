"""The concurrency policy: offer a slot, queue it, replace or skip for it, start it. Pure.

:class:`Work` is the mutable scratch state of one decision; its methods apply ``concurrencyPolicy``
(Allow, Forbid, Replace, Queue), ``maxQueued`` and Allow's cap ``maxActive`` (with ``overflow``: a slot
beyond the cap is queued, reason MaxActive, or Skipped) to each slot (or manual run) that wants to start.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from punctual.api import (
    ActiveRun,
    ConcurrencyPolicy,
    HistoryRecord,
    Overflow,
    Overrides,
    QueuedSlot,
    Result,
    ScheduledJobSpec,
    Trigger,
    format_time,
)
from punctual.core.actions import CreateJob, DeleteJob, Event
from punctual.core.pipeline import Gate
from punctual.core.run_request import INVALID_RUN_OVERRIDES, OverridesError, apply_overrides
from punctual.core.spec import Subject, starting_deadline
from punctual.durations import parse_duration
from punctual.history import bump_counts
from punctual.jobs import build_job, job_image, slot_job_name
from punctual.schedule import Schedule, jitter_offset

__all__ = ["MAX_ACTIVE", "WAITING_FOR_UPSTREAM", "Work"]

MAX_ACTIVE = "MaxActive"
"""concurrencyPolicy Allow with spec.maxActive: the reason of a slot queued or skipped beyond the cap."""

WAITING_FOR_UPSTREAM = "WaitingForUpstream"
"""A queued slot's reason while its upstreams (spec.dependsOn) have not succeeded for it."""


@dataclass
class Work:
    """Mutable scratch state of one decision."""

    subject: Subject
    schedule: Schedule | None
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
    finished: list[HistoryRecord] = field(default_factory=list)
    """Runs that ended (Succeeded or Failed) in this decision, for pauseAfterFailures."""
    retrying: set[str] = field(default_factory=set)
    """Failed runs of this decision whose slot gets a retry (spec.retry): their slot is not decided yet."""
    last_started_slot: datetime | None = None
    upstream_gate: Callable[[datetime], Gate] | None = None
    """With a schedule and dependsOn: whether a scheduled slot may start (see punctual.core.pipeline)."""
    exclusion: Callable[[datetime], tuple[str, str] | None] | None = None
    """With exclusions or calendars: why a scheduled slot must not run (punctual.core.exclusions)."""

    @property
    def spec(self) -> ScheduledJobSpec:
        return self.subject.spec

    @property
    def policy_active(self) -> dict[str, ActiveRun]:
        """The active runs the concurrency policy sees: a backfill's runs are its own lane, never here."""
        return {k: a for k, a in self.active.items() if a.trigger is not Trigger.BACKFILL}

    @property
    def capped(self) -> bool:
        """Allow with maxActive: as many runs active as it allows (a slot now waits or is skipped)."""
        cap = self.spec.maxActive
        return (
            cap is not None
            and self.spec.concurrencyPolicy is ConcurrencyPolicy.ALLOW
            and len(self.policy_active) >= cap
        )

    def room(self) -> bool:
        """Whether the head of the queue may start now: nothing runs, or Allow below its maxActive."""
        if self.spec.concurrencyPolicy is not ConcurrencyPolicy.ALLOW:
            return not self.policy_active
        return not self.capped

    def jitter(self, slot: datetime) -> timedelta:
        limit = parse_duration(self.spec.jitter) if self.spec.jitter else timedelta(0)
        return jitter_offset(self.subject.key, slot, limit)

    def job_name(self, slot: datetime) -> str:
        return slot_job_name(self.subject.name, slot, seconds=self.schedule is None or self.schedule.has_seconds)

    def put(self, record: HistoryRecord) -> None:
        self.history[record.job] = record
        self.touched[record.job] = record

    def record(
        self,
        *,
        job: str,
        slot: datetime,
        trigger: Trigger,
        result: Result,
        reason: str,
        message: str,
        attempt: int | None = None,
        retry_of: str | None = None,
    ) -> None:
        """Record a slot (or a slot's retry) that will not run (Skipped, Missed, Dropped)."""
        self.put(
            HistoryRecord(
                job=job,
                scheduledTime=slot,
                trigger=trigger,
                result=result,
                reason=reason,
                message=message,
                attempt=attempt,
                retryOf=retry_of,
            )
        )
        bump_counts(self.counts, result)
        kind: Literal["Normal", "Warning"] = "Normal" if result is Result.SKIPPED else "Warning"
        self.events.append(Event(kind, f"Slot{result.value}", message))

    def deadline_passed(self, due: datetime) -> bool:
        deadline = starting_deadline(self.spec)
        return deadline is not None and self.now > due + deadline

    def refuse_run(self, *, job: str, slot: datetime, message: str) -> None:
        """A run request refused for its overrides: recorded Skipped with the reason, a Warning Event; nothing runs."""
        self.put(
            HistoryRecord(
                job=job,
                scheduledTime=slot,
                trigger=Trigger.MANUAL,
                result=Result.SKIPPED,
                reason=INVALID_RUN_OVERRIDES,
                message=message,
            )
        )
        bump_counts(self.counts, Result.SKIPPED)
        self.events.append(Event("Warning", INVALID_RUN_OVERRIDES, message))

    def start(
        self,
        *,
        job: str,
        slot: datetime,
        trigger: Trigger,
        attempt: int | None = None,
        retry_of: str | None = None,
        overrides: Overrides | None = None,
    ) -> None:
        """Start a run, or adopt its Job when one with the derived name exists already."""
        if trigger not in (Trigger.MANUAL, Trigger.BACKFILL):
            self.last_started_slot = max(slot, self.last_started_slot or slot)
        if job in self.existing:
            return  # created before a crash or by an earlier decision: it is ours, never duplicate it
        manifest = build_job(
            self.subject.owner, self.spec, job_name=job, slot=slot, trigger=trigger, attempt=attempt, retry_of=retry_of
        )
        if overrides is not None:
            try:
                manifest = apply_overrides(manifest, overrides)
            except OverridesError as exc:
                # A queued run whose jobTemplate changed since its request (its container is gone).
                self.refuse_run(job=job, slot=slot, message=f"queued run {job} not started: {exc}")
                return
        self.existing.add(job)
        self.creates.append(CreateJob(name=job, slot=slot, trigger=trigger, manifest=manifest, overrides=overrides))
        self.active[job] = ActiveRun(name=job, scheduledTime=slot, trigger=trigger, startTime=self.now)
        self.put(
            HistoryRecord(
                job=job,
                scheduledTime=slot,
                trigger=trigger,
                result=Result.RUNNING,
                startTime=self.now,
                # The Job's, as observe_job will read it: the Job seen later changes nothing.
                image=job_image(manifest),
                attempt=attempt,
                retryOf=retry_of,
                overrides=overrides,
            )
        )
        bump_counts(self.counts, Result.RUNNING)  # "Running" counts runs started
        self.events.append(
            Event("Normal", "RunStarted", f"Started Job {job} for {format_time(slot)} ({trigger.value})", job=job)
        )

    def replace_active(self, *, by: str) -> None:
        for name, run in sorted(self.policy_active.items()):
            self.active.pop(name)
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
                attempt=previous.attempt if previous else None,
                retryOf=previous.retryOf if previous else None,
                overrides=previous.overrides if previous else None,
            )
            self.put(replaced)
            bump_counts(self.counts, Result.REPLACED)
            self.events.append(Event("Normal", "RunReplaced", f"Deleted Job {name}: replaced by {by}"))

    def offer(
        self, *, job: str, slot: datetime, due: datetime, trigger: Trigger, overrides: Overrides | None = None
    ) -> None:
        """Apply the concurrency policy to a slot (or manual run, with its ``overrides``) that wants to start now."""
        if job in self.existing or job in self.history:
            if job in self.existing:
                self.start(job=job, slot=slot, trigger=trigger)
            return  # decided before (its record exists): never run a slot twice
        gated = self.upstream_gate is not None and trigger in (Trigger.SCHEDULE, Trigger.CATCHUP)
        if gated and not self._through_gate(job=job, slot=slot, due=due, trigger=trigger):
            return
        policy = self.spec.concurrencyPolicy
        active = self.policy_active
        waiting_ahead = any(q.reason != WAITING_FOR_UPSTREAM for q in self.queue)
        busy = bool(active) or waiting_ahead
        # Allow with maxActive: full at the cap, or while slots wait ahead (first come, first started).
        full = self.spec.maxActive is not None and policy is ConcurrencyPolicy.ALLOW and (self.capped or waiting_ahead)
        overflow = self.spec.overflow or Overflow.QUEUE
        serialise = trigger is Trigger.CATCHUP and (policy is not ConcurrencyPolicy.ALLOW or full)
        if full and not serialise and overflow is Overflow.SKIP:
            self.record(
                job=job,
                slot=slot,
                trigger=trigger,
                result=Result.SKIPPED,
                reason=MAX_ACTIVE,
                message=f"slot {format_time(slot)} skipped: {len(active)} runs active, maxActive "
                f"{self.spec.maxActive} (overflow Skip)",
            )
            return
        if serialise or (policy is ConcurrencyPolicy.QUEUE and busy) or full:
            waiting = sum(
                1 for q in self.queue if q.trigger is not Trigger.CATCHUP and q.reason != WAITING_FOR_UPSTREAM
            )
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
            reason = MAX_ACTIVE if full else None
            self.queue.append(
                QueuedSlot(
                    scheduledTime=slot,
                    trigger=trigger,
                    job=job,
                    queuedAt=self.now,
                    dueTime=due,
                    reason=reason,
                    overrides=overrides,
                )
            )
            why = f": {len(active)} runs active, maxActive {self.spec.maxActive}" if full else ""
            self.events.append(
                Event("Normal", "SlotQueued", f"Queued {job} for {format_time(slot)} ({trigger.value}){why}")
            )
            return
        if policy is ConcurrencyPolicy.FORBID and busy:
            running = ", ".join(sorted(active)) or "a queued catch-up"
            self.record(
                job=job,
                slot=slot,
                trigger=trigger,
                result=Result.SKIPPED,
                reason="ConcurrencyForbid",
                message=f"slot {format_time(slot)} skipped: {running} still running (concurrencyPolicy Forbid)",
            )
            return
        if policy is ConcurrencyPolicy.REPLACE and active:
            self.replace_active(by=job)
        self.start(job=job, slot=slot, trigger=trigger, overrides=overrides)

    def _through_gate(self, *, job: str, slot: datetime, due: datetime, trigger: Trigger) -> bool:
        """Whether a slot's upstreams let it on to the policy; else it waits (queued) or is Skipped."""
        assert self.upstream_gate is not None
        verdict = self.upstream_gate(slot)
        if verdict is Gate.OPEN:
            return True
        if verdict is Gate.NEVER:
            self.record(
                job=job,
                slot=slot,
                trigger=trigger,
                result=Result.SKIPPED,
                reason="UpstreamNotSucceeded",
                message=f"slot {format_time(slot)} skipped: an upstream did not succeed within dependsOnWindow",
            )
            return False
        if any(q.job == job for q in self.queue):
            return False
        waiting = sum(1 for q in self.queue if q.reason == WAITING_FOR_UPSTREAM)
        if waiting >= self.spec.maxQueued:
            self.record(
                job=job,
                slot=slot,
                trigger=trigger,
                result=Result.DROPPED,
                reason="QueueFull",
                message=f"slot {format_time(slot)} dropped: {waiting} already waiting for upstream (maxQueued)",
            )
            return False
        self.queue.append(
            QueuedSlot(
                scheduledTime=slot,
                trigger=trigger,
                job=job,
                queuedAt=self.now,
                dueTime=due,
                reason=WAITING_FOR_UPSTREAM,
            )
        )
        self.events.append(Event("Normal", "SlotQueued", f"Queued {job} for {format_time(slot)}: waiting for upstream"))
        return False

    def drain_queue(self, *, start: bool = True) -> None:
        """Expire queued slots past their deadline; start the head when nothing runs (if ``start``)."""
        kept = []
        released: list[QueuedSlot] = []
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
                    message=f"queued slot {format_time(q.scheduledTime)} passed startingDeadlineSeconds"
                    + (" waiting for upstream" if q.reason == WAITING_FOR_UPSTREAM else ""),
                )
            elif q.reason == WAITING_FOR_UPSTREAM:
                verdict = self.upstream_gate(q.scheduledTime) if self.upstream_gate is not None else Gate.OPEN
                if verdict is Gate.WAIT:
                    kept.append(q)
                else:
                    released.append(q)  # decided below, once the queue is settled
            else:
                kept.append(q)
        self.queue = kept
        for q in released:
            # Open: on to the policy (the gate says open again); never: offer records it Skipped.
            self.offer(job=q.job, slot=q.scheduledTime, due=q.dueTime or q.scheduledTime, trigger=q.trigger)
        while start and self.room():
            ready = next((i for i, q in enumerate(self.queue) if q.reason != WAITING_FOR_UPSTREAM), None)
            if ready is None:
                break
            head = self.queue.pop(ready)
            self.start(job=head.job, slot=head.scheduledTime, trigger=head.trigger, overrides=head.overrides)
