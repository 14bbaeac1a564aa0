"""The ``punctual.dev/v1`` ScheduledJob API as pydantic models. Pure.

These models are the single source of truth: the CRD in ``crds/`` is generated from them
(``punctual crd``), the operator parses resources with them, and the kubectl plugin reads status
with them. Field names are the wire names (camelCase), as in the Kubernetes API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from punctual.durations import DurationError, parse_duration

__all__ = [
    "API_VERSION",
    "CALENDAR_KIND",
    "CALENDAR_PLURAL",
    "CALENDAR_SHORT_NAMES",
    "CALENDAR_SINGULAR",
    "EXCLUSION_PATTERN",
    "GROUP",
    "KIND",
    "PLURAL",
    "SHORT_NAMES",
    "SINGULAR",
    "VERSION",
    "ActiveRun",
    "BackfillState",
    "BackfillStatus",
    "CalendarSpec",
    "CatchUpPolicy",
    "ConcurrencyPolicy",
    "Condition",
    "Dependency",
    "DependencyResult",
    "HistoryRecord",
    "JobTemplate",
    "ObjectMetaTemplate",
    "Overflow",
    "Overrides",
    "Pause",
    "QueuedSlot",
    "Result",
    "RetryPending",
    "RetryPolicy",
    "ScheduledJobSpec",
    "ScheduledJobStatus",
    "Time",
    "Trigger",
    "format_time",
    "parse_time",
]

GROUP = "punctual.dev"
VERSION = "v1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ScheduledJob"
PLURAL = "scheduledjobs"
SINGULAR = "scheduledjob"
SHORT_NAMES = ("sj",)
CALENDAR_KIND = "Calendar"
CALENDAR_PLURAL = "calendars"
CALENDAR_SINGULAR = "calendar"
CALENDAR_SHORT_NAMES = ("cal",)

EXCLUSION_PATTERN = r"^(\d{4}-\d{2}-\d{2}(\.\.\d{4}-\d{2}-\d{2})?|@[a-z]+|\S+(\s+\S+){4,5})$"
"""What the CRD schema admits as an exclusion rule (a date, a date range, a macro or a 5- or 6-field
cron expression); :mod:`punctual.core.exclusions` checks the rest (real dates, ranges in order, the
cron fields) with a clear message."""

_EXCLUSION_TEXT = (
    "Rules in the schedule's time zone: a date (2026-12-25: the whole day), an inclusive date range "
    "(2026-12-24..2026-12-26) or a cron expression (* * 25 12 *: every minute it matches). A slot that "
    "matches a rule is recorded Skipped (reason Excluded) and not run."
)
_ExclusionRule = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra={"pattern": EXCLUSION_PATTERN})]


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` suffix; whole seconds unless there is a fraction."""
    # isoformat, not strftime (several times faster, and this runs for every timestamp of every
    # status write): it prints the 6-digit fraction only when there is one, as the format says.
    # A datetime already in UTC (nearly all: the clock's, and the API's parsed) needs no conversion:
    # its isoformat ends in "+00:00".
    if value.utcoffset() == _NO_OFFSET:
        return value.isoformat()[:-6] + "Z"
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


_NO_OFFSET = timedelta(0)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp into an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _to_utc(value: Any) -> Any:
    if isinstance(value, str):
        return parse_time(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
    return value


Time = Annotated[datetime, PlainSerializer(format_time, return_type=str)]
"""An aware UTC datetime that serialises as RFC 3339 (``2026-11-23T10:00:00Z``)."""


class ConcurrencyPolicy(StrEnum):
    """What to do with a slot that comes due while a run is still active."""

    ALLOW = "Allow"
    FORBID = "Forbid"
    REPLACE = "Replace"
    QUEUE = "Queue"


class Overflow(StrEnum):
    """What becomes of a slot beyond ``maxActive`` (concurrencyPolicy Allow)."""

    QUEUE = "Queue"
    SKIP = "Skip"


class CatchUpPolicy(StrEnum):
    """Which slots missed during an operator or API outage are started on recovery."""

    NONE = "None"
    LATEST = "Latest"
    ALL = "All"


class Trigger(StrEnum):
    """Why a run exists."""

    SCHEDULE = "schedule"
    CATCHUP = "catchup"
    MANUAL = "manual"
    UPSTREAM = "upstream"
    BACKFILL = "backfill"
    RETRY = "retry"


class Result(StrEnum):
    """The outcome recorded for a slot or run."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    REPLACED = "Replaced"
    MISSED = "Missed"
    DROPPED = "Dropped"


class DependencyResult(StrEnum):
    """Which outcome of an upstream run a downstream waits for."""

    SUCCEEDED = "Succeeded"
    FINISHED = "Finished"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, use_enum_values=False)


class Dependency(_Model):
    """One upstream of a pipeline step: a ScheduledJob of the same namespace."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, description="The upstream ScheduledJob, in the same namespace.")
    result: DependencyResult = Field(
        default=DependencyResult.SUCCEEDED,
        description="Succeeded (default), or Finished: any run that ended (Succeeded, Failed or Replaced).",
    )
    namespace: str | None = Field(
        default=None,
        description="Only the downstream's own namespace is accepted; another one sets DependenciesValid False.",
    )


class RetryPolicy(_Model):
    """``spec.retry``: a failed run's slot gets a new Job (trigger retry) after a delay."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    limit: int = Field(default=3, ge=0, le=100, description="Retries per slot after its first run (0: none).")
    delay: str = Field(
        default="1m", description="Wait after the failed run before the first retry (a duration: 30s, 5m, 1h)."
    )
    backoff: float = Field(
        default=2, ge=1, le=100, description="Retry n waits delay * backoff**(n-1) after the failure before it."
    )
    maxDelay: str = Field(default="1h", description="The longest wait before a retry (a duration).")

    @field_validator("delay", "maxDelay")
    @classmethod
    def _a_duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        except (OverflowError, ValueError):  # "1e400", "nan": no timedelta holds them
            raise ValueError(f"{value!r} is not a usable duration; use e.g. 30s, 5m or 1h") from None
        return value


class ObjectMetaTemplate(_Model):
    """Labels and annotations copied onto every Job (like a CronJob's jobTemplate.metadata)."""

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)


class JobTemplate(_Model):
    """A batch/v1 JobTemplateSpec. ``spec`` is a JobSpec, passed to the API server as written.

    The CRD keeps ``spec`` with ``x-kubernetes-preserve-unknown-fields`` instead of embedding the
    JobSpec schema: the full PodSpec schema is hundreds of kilobytes, pins the CRD to one Kubernetes
    minor, and the API server validates the Job anyway when the operator creates it (a rejection
    becomes a condition and an Event on the ScheduledJob).
    """

    metadata: ObjectMetaTemplate = Field(default_factory=ObjectMetaTemplate)
    spec: dict[str, Any] = Field(
        description="A batch/v1 JobSpec (template.spec.containers is required).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )

    @field_validator("spec")
    @classmethod
    def _needs_containers(cls, value: dict[str, Any]) -> dict[str, Any]:
        template = value.get("template")
        pod_spec = template.get("spec") if isinstance(template, dict) else None
        containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
        if not isinstance(containers, list) or not containers:
            raise ValueError("jobTemplate.spec.template.spec.containers must list at least one container")
        return value


class ScheduledJobSpec(_Model):
    """What to run and when. A CronJob's spec pasted in works unchanged."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schedule: str | None = Field(
        default=None,
        description=(
            "Cron expression: 5 fields, or 6 with a leading seconds field; macros @yearly @annually "
            "@monthly @weekly @daily @midnight @hourly; @every <duration>; Jenkins H tokens."
        ),
    )
    schedules: list[str] | None = Field(
        default=None,
        description="Several cron expressions; the run times are their union. Exclusive with schedule.",
    )
    timeZone: str | None = Field(
        default=None, description="IANA time zone name for the schedule (default: the operator's, UTC)."
    )
    jitter: str | None = Field(
        default=None,
        description="Maximum deterministic per-slot start delay, e.g. 30s; each slot waits in [0, jitter).",
    )
    suspend: bool = Field(default=False, description="Slots while suspended are neither run nor caught up.")
    notBefore: Time | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description=(
            "RFC 3339 time with an offset (2027-01-04T00:00:00Z): no slot before it exists, so none "
            "runs or is caught up; the first run is the first slot at or after it."
        ),
    )
    notAfter: Time | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description=(
            "RFC 3339 time with an offset: no slot after it exists; once it has passed the schedule has "
            "ended (condition Ready, reason Ended). Manual runs still work."
        ),
    )
    concurrencyPolicy: ConcurrencyPolicy = Field(
        default=ConcurrencyPolicy.ALLOW,
        description="Allow, Forbid (skip the slot), Replace (delete the active run), Queue (start it later).",
    )
    maxQueued: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Queue policy (and maxActive with overflow Queue): most slots kept waiting.",
    )
    maxActive: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=(
            "concurrencyPolicy Allow only: most runs active at once (backfill runs aside); a slot beyond it "
            "is queued or skipped, as overflow says."
        ),
    )
    overflow: Overflow | None = Field(
        default=None,
        description=(
            "With maxActive: a slot beyond it waits in status.queued, reason MaxActive (Queue, the default; "
            "at most maxQueued), or is recorded Skipped, reason MaxActive (Skip)."
        ),
    )
    startingDeadlineSeconds: int | None = Field(
        default=None,
        ge=0,
        description="A slot that cannot start within this many seconds of its time is recorded Missed.",
    )
    catchUp: CatchUpPolicy = Field(
        default=CatchUpPolicy.LATEST,
        description="Slots missed during an outage: None, Latest (CronJob's behaviour) or All.",
    )
    maxCatchUp: int = Field(
        default=100, ge=0, le=1000, description="catchUp All: most missed slots started; older ones Missed."
    )
    pauseAfterFailures: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=(
            "After this many consecutive Failed runs no run starts (condition Suspended, reason "
            "TooManyFailures) until `kubectl sj resume` or a spec change. Manual runs still work."
        ),
    )
    retry: RetryPolicy | None = Field(
        default=None,
        description=(
            "Retry a failed scheduled, catch-up or upstream run's slot: a new Job (trigger retry, the same "
            "scheduled time) after delay * backoff**(n-1) (at most maxDelay), through the concurrency policy."
        ),
    )
    jobTemplate: JobTemplate = Field(description="The Job to create for each run (batch/v1 JobTemplateSpec).")
    successfulJobsHistoryLimit: int = Field(default=3, ge=0, le=1000, description="Succeeded Jobs kept.")
    failedJobsHistoryLimit: int = Field(default=1, ge=0, le=1000, description="Failed Jobs kept.")
    historyLimit: int = Field(
        default=20, ge=0, le=100, description="Run records kept in status.history (plus those of Jobs not yet deleted)."
    )
    dependsOn: list[Dependency] | None = Field(
        default=None,
        description=(
            "Upstream ScheduledJobs (same namespace). Without a schedule: one run (trigger upstream) per "
            "logical time (an upstream run's scheduled time) for which every upstream has a run with the "
            "required result, counting only upstream runs after this ScheduledJob was created and still in "
            "the upstreams' status.history (historyLimit). With a schedule: a slot starts only once every "
            "upstream succeeded within dependsOnWindow before it, and waits in status.queued meanwhile."
        ),
    )
    dependsOnWindow: str | None = Field(
        default=None,
        description=(
            "With a schedule and dependsOn: how far before a slot an upstream run counts "
            "(default: the slot's interval)."
        ),
    )

    exclude: list[_ExclusionRule] | None = Field(default=None, max_length=500, description=_EXCLUSION_TEXT)
    calendars: list[Annotated[str, Field(min_length=1, max_length=253)]] | None = Field(
        default=None,
        max_length=20,
        description=(
            "Calendars (kind Calendar, same namespace) whose rules exclude slots as spec.exclude does. "
            "While one is missing or invalid no scheduled slot runs (recorded Skipped, reason "
            "CalendarNotFound or CalendarInvalid; condition CalendarsValid False)."
        ),
    )

    @field_validator("notBefore", "notAfter", mode="before")
    @classmethod
    def _aware_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not an RFC 3339 time; use e.g. 2027-01-04T00:00:00Z") from None
            if parsed.tzinfo is None:
                example = "2027-01-04T00:00:00Z or 2027-01-04T00:00:00+01:00"
                raise ValueError(f"{value!r} has no UTC offset; use e.g. {example}")
            return parsed.astimezone(UTC)
        return value

    @model_validator(mode="after")
    def _window_in_order(self) -> ScheduledJobSpec:
        if self.notBefore is not None and self.notAfter is not None and self.notAfter < self.notBefore:
            raise ValueError(
                f"spec.notAfter ({format_time(self.notAfter)}) is before spec.notBefore ({format_time(self.notBefore)})"
            )
        return self

    @model_validator(mode="after")
    def _max_active_with_allow(self) -> ScheduledJobSpec:
        if self.maxActive is not None and self.concurrencyPolicy is not ConcurrencyPolicy.ALLOW:
            raise ValueError(
                f"spec.maxActive applies to concurrencyPolicy Allow only ({self.concurrencyPolicy.value} runs "
                "one at a time already): remove maxActive, or use concurrencyPolicy Allow with maxActive "
                "and overflow Queue or Skip"
            )
        if self.overflow is not None and self.maxActive is None:
            raise ValueError(
                "spec.overflow says what becomes of a slot beyond spec.maxActive, which is not set: "
                "set maxActive (e.g. 2) or remove overflow"
            )
        return self

    @model_validator(mode="after")
    def _one_schedule_field(self) -> ScheduledJobSpec:
        if self.schedule is None and not self.schedules and not self.dependsOn:
            raise ValueError(
                "set spec.schedule (or spec.schedules), e.g. schedule: '*/15 * * * *', "
                "or spec.dependsOn to run after upstream ScheduledJobs"
            )
        if self.schedule is not None and self.schedules:
            raise ValueError("set spec.schedule or spec.schedules, not both")
        return self

    def expressions(self) -> list[str]:
        """The cron expressions, whichever field holds them."""
        return [self.schedule] if self.schedule is not None else list(self.schedules or [])


class CalendarSpec(_Model):
    """A Calendar's rules (``punctual.dev/v1``, kind Calendar): a list of exclusions many
    ScheduledJobs share by name (``spec.calendars``), read in each ScheduledJob's time zone."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str | None = Field(default=None, max_length=1000, description="What the calendar is for.")
    exclude: list[_ExclusionRule] = Field(default_factory=list, max_length=1000, description=_EXCLUSION_TEXT)


class Condition(_Model):
    """A metav1.Condition."""

    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""
    lastTransitionTime: Time
    observedGeneration: int | None = None


class Pause(_Model):
    """Runs stopped after ``pauseAfterFailures`` consecutive failures (status.pause)."""

    since: Time
    failures: int = Field(description="Consecutive Failed runs when the pause began.")
    generation: int | None = Field(
        default=None, description="metadata.generation when it began; a spec change (a new one) lifts it."
    )

    @field_validator("since", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return _to_utc(value)


class ActiveRun(_Model):
    """A run whose Job has not finished."""

    name: str
    scheduledTime: Time
    trigger: Trigger
    startTime: Time | None = None


class Overrides(_Model):
    """What a run on demand ran with instead of its jobTemplate (``kubectl sj run --env/--arg/--image``).

    Recorded in the run's history record and in a queued run's slot; the whole request (with its
    token) is the Job's ``punctual.dev/run-overrides`` annotation (:mod:`punctual.core.run_request`).
    """

    env: list[str] | None = Field(
        default=None, description="Environment variables added or replaced, as NAME=value, in order."
    )
    args: list[str] | None = Field(default=None, description="The container's args, replaced by these.")
    image: str | None = Field(default=None, description="The container's image, replaced by this.")
    container: str | None = Field(
        default=None, description="The one container they applied to (none: every container but init containers)."
    )


class QueuedSlot(_Model):
    """A slot waiting for the active run to end (Queue policy, or a serialised catch-up)."""

    scheduledTime: Time
    trigger: Trigger
    job: str
    queuedAt: Time
    dueTime: Time | None = None
    reason: str | None = Field(
        default=None, description="WaitingForUpstream: the slot waits for its upstreams (spec.dependsOn)."
    )
    overrides: Overrides | None = Field(
        default=None, description="A queued run on demand's overrides (kubectl sj run): they apply when it starts."
    )


class HistoryRecord(_Model):
    """One slot's or run's outcome. Newest first in ``status.history``."""

    job: str
    scheduledTime: Time
    trigger: Trigger
    result: Result
    startTime: Time | None = None
    completionTime: Time | None = None
    durationSeconds: float | None = None
    reason: str | None = None
    message: str | None = None
    exitCode: int | None = None
    image: str | None = None
    imageID: str | None = None
    slotCount: int | None = Field(
        default=None, description="For an aggregated Missed record: how many slots it stands for."
    )
    attempt: int | None = Field(default=None, description="A retry's attempt of its slot (2, 3, ...; spec.retry).")
    retryOf: str | None = Field(default=None, description="A retry's first attempt: the slot's attempts share it.")
    overrides: Overrides | None = Field(
        default=None, description="A run on demand's overrides (kubectl sj run --env/--arg/--image): what it ran with."
    )


class RetryPending(_Model):
    """A failed run's slot waiting for its retry (``status.retries``; spec.retry)."""

    job: str = Field(description="The retry's Job (created when it starts).")
    retryOf: str = Field(description="The slot's first attempt.")
    scheduledTime: Time
    attempt: int = Field(description="The attempt this retry is (2 for the first retry).")
    dueTime: Time = Field(description="The retry starts at or after this (the failure plus the delay).")
    reason: str | None = Field(default=None, description="Waiting: why it has not started although due.")

    @field_validator("scheduledTime", "dueTime", mode="before")
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return _to_utc(value)


class BackfillState(StrEnum):
    """Where a backfill request stands (``status.backfills[].state``)."""

    WAITING = "Waiting"
    RUNNING = "Running"
    COMPLETED = "Completed"
    CANCELLED = "Cancelled"
    REJECTED = "Rejected"


class BackfillStatus(_Model):
    """One backfill request and its progress. The slots are never stored: only the range and a cursor.

    The slots of ``[fromTime, toTime]`` are computed from the schedule with the core
    (:mod:`punctual.core.backfill`); every slot at or before ``cursor`` has been handled (started, or
    skipped because it had a run already).
    """

    token: str = Field(description="The request's token (the backfill-request annotation's token).")
    state: BackfillState = Field(description="Waiting, Running, Completed, Cancelled or Rejected.")
    fromTime: Time | None = Field(default=None, description="First instant of the range (inclusive).")
    toTime: Time | None = Field(default=None, description="Last instant of the range (inclusive).")
    parallel: int = Field(default=1, description="Most runs of this backfill at once.")
    total: int = Field(default=0, description="Slots of the schedule in the range.")
    done: int = Field(default=0, description="Runs of this backfill that finished (failed ones included).")
    failed: int = Field(default=0, description="Of done, the runs that failed.")
    running: int = Field(default=0, description="Runs of this backfill not finished yet.")
    pending: int = Field(default=0, description="Slots not handled yet (0 once completed or cancelled).")
    skippedExisting: int = Field(
        default=0, description="Slots not run because they had a run already (a Job, a run record, a queued slot)."
    )
    cursor: Time | None = Field(default=None, description="Every slot of the range at or before this was handled.")
    runs: list[str] = Field(default_factory=list, description="The Jobs of this backfill still running.")
    requestedAt: Time | None = Field(default=None, description="When the operator accepted (or rejected) it.")
    finishedAt: Time | None = Field(default=None, description="When it completed, was cancelled or rejected.")
    message: str | None = Field(default=None, description="Why it was rejected or cancelled.")


class ScheduledJobStatus(_Model):
    """What the operator observed and decided. Rebuildable from the Jobs it owns."""

    observedGeneration: int | None = None
    conditions: list[Condition] = Field(default_factory=list)
    nextScheduleTime: Time | None = None
    lastScheduleTime: Time | None = None
    scheduledThrough: Time | None = Field(
        default=None, description="Every slot at or before this time has been decided."
    )
    observedSchedule: str | None = Field(
        default=None,
        description=(
            "The schedule (expressions and time zone) scheduledThrough was decided under, or (invalid). "
            "When the spec's schedule differs, slots before the operator saw the change are not caught up."
        ),
    )
    upstreamThrough: Time | None = Field(
        default=None, description="Every upstream logical time at or before this has been decided (spec.dependsOn)."
    )
    lastSuccessfulTime: Time | None = None
    lastFailureTime: Time | None = None
    lastHandledRunRequest: str | None = None
    lastHandledBackfillRequest: str | None = Field(
        default=None, description="The last backfill-request token acted on (accepted or rejected)."
    )
    backfills: list[BackfillStatus] = Field(
        default_factory=list, description="Backfill requests: those in progress and the newest finished ones."
    )
    consecutiveFailures: int = Field(
        default=0, description="Failed runs since the last Succeeded one (for spec.pauseAfterFailures)."
    )
    pause: Pause | None = Field(
        default=None, description="Set while runs are paused after spec.pauseAfterFailures failures."
    )
    lastHandledResumeRequest: str | None = None
    retries: list[RetryPending] = Field(
        default_factory=list, description="Failed runs' slots waiting for their retry (spec.retry), by due time."
    )
    active: list[ActiveRun] = Field(default_factory=list)
    queued: list[QueuedSlot] = Field(default_factory=list)
    history: list[HistoryRecord] = Field(default_factory=list)
    counts: dict[str, int] = Field(
        default_factory=dict, description="Slots and runs per result since creation (Running: runs started)."
    )
    activeCount: int = Field(default=0, description="len(active), for the printer column.")
    queuedCount: int = Field(default=0, description="len(queued), for the printer column.")
    lastResult: str | None = Field(
        default=None,
        description="The newest finished run's result (Succeeded or Failed); slots that did not run leave it.",
    )

    @field_validator(
        "nextScheduleTime",
        "lastScheduleTime",
        "scheduledThrough",
        "upstreamThrough",
        "lastSuccessfulTime",
        "lastFailureTime",
        mode="before",
    )
    @classmethod
    def _utc(cls, value: Any) -> Any:
        return _to_utc(value)
