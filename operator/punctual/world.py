"""A simulated world of one ScheduledJob's Jobs, and the one way a Decision is applied to it. Pure.

``punctual simulate`` and the core's chaos test both drive :func:`punctual.core.decide` against this
world: the Jobs that exist, when each finishes and how, what the core has recorded. A Decision is
applied as the operator's reconcile applies it to the cluster: its deletes and creates (a Job the
API would refuse is not simulated here: the world takes every create), then the new status and the
history records. Nothing here reads a clock: every call is given ``now``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from punctual.api import HistoryRecord, ScheduledJobStatus, Trigger
from punctual.core import CreateJob, Decision
from punctual.jobs import ANNOTATION_ATTEMPT, ANNOTATION_RETRY_OF, JobPhase, ObservedJob

__all__ = ["Outcome", "SimJob", "World"]

Outcome = Callable[[CreateJob, int], tuple[timedelta, bool]]
"""How long a created Job runs and whether it fails, from its create and its run number (1, 2, ...)."""


@dataclass
class SimJob:
    """A simulated Job: starts when created, ends after its duration."""

    name: str
    slot: datetime
    trigger: Trigger
    run: int
    created: datetime
    finish_at: datetime
    fail: bool
    image: str | None
    attempt: int | None = None
    retry_of: str | None = None

    def observe(self, now: datetime) -> ObservedJob:
        done = now >= self.finish_at
        phase = JobPhase.ACTIVE if not done else (JobPhase.FAILED if self.fail else JobPhase.SUCCEEDED)
        return ObservedJob(
            name=self.name,
            scheduled_time=self.slot,
            trigger=self.trigger,
            phase=phase,
            created=self.created,
            start_time=self.created,
            completion_time=self.finish_at if done else None,
            reason=("BackoffLimitExceeded" if self.fail else "Completed") if done else None,
            exit_code=(1 if self.fail else 0) if done else None,
            image=self.image,
            attempt=self.attempt,
            retry_of=self.retry_of,
        )


@dataclass
class World:
    """The Jobs that exist, every Job ever created, and what the core has recorded (status, history)."""

    outcome: Outcome
    jobs: dict[str, SimJob] = field(default_factory=dict)
    created: list[SimJob] = field(default_factory=list)
    """Every Job created, in order (a Job created twice under one name is there twice)."""
    status: ScheduledJobStatus = field(default_factory=ScheduledJobStatus)
    records: dict[str, HistoryRecord] = field(default_factory=dict)
    """Every history record any decision wrote, by Job name (the newest version of each)."""

    def observe(self, now: datetime) -> list[ObservedJob]:
        """The Jobs as the core sees them at ``now``."""
        return [job.observe(now) for job in self.jobs.values()]

    def create(self, create: CreateJob, now: datetime) -> SimJob:
        """Start a Job now (a second create of a live name replaces it: callers that care count ``created``)."""
        run = len(self.created) + 1
        duration, fail = self.outcome(create, run)
        containers = create.manifest["spec"]["template"]["spec"]["containers"]
        annotations = create.manifest["metadata"].get("annotations") or {}
        attempt = annotations.get(ANNOTATION_ATTEMPT)
        job = SimJob(
            name=create.name,
            slot=create.slot,
            trigger=create.trigger,
            run=run,
            created=now,
            finish_at=now + duration,
            fail=fail,
            image=containers[0].get("image"),
            attempt=int(attempt) if attempt else None,
            retry_of=annotations.get(ANNOTATION_RETRY_OF),
        )
        self.created.append(job)
        self.jobs[create.name] = job
        return job

    def delete(self, name: str) -> None:
        """Delete a Job (one already gone is fine, as the operator's delete of a 404)."""
        self.jobs.pop(name, None)

    def apply(self, decision: Decision, now: datetime) -> None:
        """Carry out a whole decision: its deletes, its creates, then its status and records."""
        for delete in decision.deletes:
            self.delete(delete.name)
        for create in decision.creates:
            self.create(create, now)
        self.status = decision.status
        self.records.update({record.job: record for record in decision.records})

    def finishing_after(self, now: datetime) -> list[datetime]:
        """When the Jobs still running at ``now`` finish (the moments a driver must look again)."""
        return [job.finish_at for job in self.jobs.values() if job.finish_at > now]
