"""What a decision asks for: Jobs to create and delete, Events to emit, the new status. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from punctual.api import HistoryRecord, Overrides, ScheduledJobStatus, Trigger
from punctual.bodies import Job

__all__ = ["CreateJob", "Decision", "DeleteJob", "Event"]


@dataclass(frozen=True)
class CreateJob:
    """Create this Job (an AlreadyExists answer means it is ours already: adopt it)."""

    name: str
    slot: datetime
    trigger: Trigger
    manifest: Job
    overrides: Overrides | None = None
    """A run on demand's overrides (kubectl sj run --env/--arg/--image), applied to ``manifest`` already."""


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
    job: str | None = None
    """The Job a run's Event is about (RunStarted), so a later fact about that Job can find it."""


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
