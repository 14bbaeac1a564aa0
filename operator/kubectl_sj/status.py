"""A ScheduledJob's ``status`` as the plugin reads it, without pydantic. Pure.

The operator's models (:mod:`punctual.api`) are the single source of truth for the status; loading
them costs a ``kubectl sj`` call more than the API request does (pydantic and the models' schemas:
see docs/plugin.md). The plugin only reads the status, and the operator writes it in one exact
shape, so :func:`read_status` accepts that shape and nothing else: the same field names, the
types the models declare, RFC 3339 times, the models' enum values. Whatever it is not sure of,
it leaves to the models: :func:`kubectl_sj.objects.ScheduledJob.from_body` then validates with
:class:`punctual.api.ScheduledJobStatus` and reads the model's JSON dump, so an odd (but valid)
status reads as the model reads it, and an invalid one as empty, as before.
``tests/plugin/test_plugin_status.py`` checks the agreement field by field and value by value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = [
    "BACKFILL_STATES",
    "RESULTS",
    "TRIGGERS",
    "ActiveRun",
    "Backfill",
    "Condition",
    "HistoryRecord",
    "Overrides",
    "Pause",
    "QueuedSlot",
    "RetryPending",
    "Status",
    "parse_time",
    "read_status",
]

TRIGGERS = frozenset({"schedule", "catchup", "manual", "backfill", "upstream", "retry"})
BACKFILL_STATES = frozenset({"Waiting", "Running", "Completed", "Cancelled", "Rejected"})
"""The values of :class:`punctual.api.Trigger`."""

RESULTS = frozenset({"Running", "Succeeded", "Failed", "Skipped", "Replaced", "Missed", "Dropped"})
"""The values of :class:`punctual.api.Result`."""

_CONDITION_STATUSES = frozenset({"True", "False", "Unknown"})
# The operator writes punctual.api.format_time's form; pydantic accepts more (naive times, unix
# timestamps, ...), which is left to it.
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)")


class _Unsure(Exception):
    """The body is not in the shape the operator writes: let the models read it."""


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp as an aware UTC datetime (as :func:`punctual.api.parse_time`)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: datetime
    observedGeneration: int | None


@dataclass(frozen=True)
class ActiveRun:
    name: str
    scheduledTime: datetime
    trigger: str
    startTime: datetime | None


@dataclass(frozen=True)
class Overrides:
    env: tuple[str, ...] | None = None
    args: tuple[str, ...] | None = None
    image: str | None = None
    container: str | None = None


@dataclass(frozen=True)
class QueuedSlot:
    scheduledTime: datetime
    trigger: str
    job: str
    queuedAt: datetime
    dueTime: datetime | None
    reason: str | None = None
    overrides: Overrides | None = None


@dataclass(frozen=True)
class HistoryRecord:
    job: str
    scheduledTime: datetime
    trigger: str
    result: str
    startTime: datetime | None
    completionTime: datetime | None
    durationSeconds: float | None
    reason: str | None
    message: str | None
    exitCode: int | None
    image: str | None
    imageID: str | None
    slotCount: int | None
    attempt: int | None = None
    retryOf: str | None = None
    overrides: Overrides | None = None


@dataclass(frozen=True)
class RetryPending:
    job: str
    retryOf: str
    scheduledTime: datetime
    attempt: int
    dueTime: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Backfill:
    token: str
    state: str
    fromTime: datetime | None
    toTime: datetime | None
    parallel: int
    total: int
    done: int
    failed: int
    running: int
    pending: int
    skippedExisting: int
    cursor: datetime | None
    runs: tuple[str, ...]
    requestedAt: datetime | None
    finishedAt: datetime | None
    message: str | None


@dataclass(frozen=True)
class Pause:
    since: datetime
    failures: int
    generation: int | None


@dataclass(frozen=True)
class Status:
    """The fields of :class:`punctual.api.ScheduledJobStatus`, with the models' defaults."""

    observedGeneration: int | None = None
    conditions: tuple[Condition, ...] = ()
    nextScheduleTime: datetime | None = None
    lastScheduleTime: datetime | None = None
    scheduledThrough: datetime | None = None
    observedSchedule: str | None = None
    upstreamThrough: datetime | None = None
    lastSuccessfulTime: datetime | None = None
    lastFailureTime: datetime | None = None
    lastHandledRunRequest: str | None = None
    lastHandledBackfillRequest: str | None = None
    backfills: tuple[Backfill, ...] = ()
    consecutiveFailures: int = 0
    pause: Pause | None = None
    lastHandledResumeRequest: str | None = None
    retries: tuple[RetryPending, ...] = ()
    active: tuple[ActiveRun, ...] = ()
    queued: tuple[QueuedSlot, ...] = ()
    history: tuple[HistoryRecord, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    activeCount: int = 0
    queuedCount: int = 0
    lastResult: str | None = None


T = TypeVar("T")
_MISSING = object()


class _Fields:
    """Typed reads of one JSON object; any surprise raises _Unsure."""

    def __init__(self, raw: object) -> None:
        if not isinstance(raw, dict):
            raise _Unsure
        self.raw: dict[str, Any] = raw

    def _get(self, key: str, *, required: bool) -> Any:
        value = self.raw.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise _Unsure
            return None
        return value

    def text(self, key: str, *, required: bool = False, choices: frozenset[str] | None = None) -> Any:
        value = self._get(key, required=required)
        if value is not None and (type(value) is not str or (choices is not None and value not in choices)):
            raise _Unsure
        return value

    def integer(self, key: str) -> int | None:
        value = self._get(key, required=False)
        if value is not None and type(value) is not int:
            raise _Unsure
        return value

    def number(self, key: str) -> float | None:
        value = self._get(key, required=False)
        if value is None:
            return None
        if type(value) not in (int, float):
            raise _Unsure
        return float(value)

    def time(self, key: str, *, required: bool = False) -> Any:
        value = self._get(key, required=required)
        if value is None:
            return None
        if type(value) is not str or not _RFC3339.fullmatch(value):
            raise _Unsure
        return parse_time(value)

    def items(self, key: str, read: Callable[[_Fields], T]) -> tuple[T, ...]:
        value = self._get(key, required=False)
        if value is None and key not in self.raw:
            return ()
        if type(value) is not list:
            raise _Unsure
        return tuple(read(_Fields(item)) for item in value)


def _condition(f: _Fields) -> Condition:
    message = f.text("message")
    if "message" in f.raw and message is None:  # the model's message is a str, not optional
        raise _Unsure
    return Condition(
        type=f.text("type", required=True),
        status=f.text("status", required=True, choices=_CONDITION_STATUSES),
        reason=f.text("reason", required=True),
        message=message or "",
        lastTransitionTime=f.time("lastTransitionTime", required=True),
        observedGeneration=f.integer("observedGeneration"),
    )


def _active(f: _Fields) -> ActiveRun:
    return ActiveRun(
        name=f.text("name", required=True),
        scheduledTime=f.time("scheduledTime", required=True),
        trigger=f.text("trigger", required=True, choices=TRIGGERS),
        startTime=f.time("startTime"),
    )


def _queued(f: _Fields) -> QueuedSlot:
    return QueuedSlot(
        scheduledTime=f.time("scheduledTime", required=True),
        trigger=f.text("trigger", required=True, choices=TRIGGERS),
        job=f.text("job", required=True),
        queuedAt=f.time("queuedAt", required=True),
        dueTime=f.time("dueTime"),
        reason=f.text("reason"),
        overrides=_overrides(f),
    )


def _strings(f: _Fields, key: str) -> tuple[str, ...] | None:
    value = f.raw.get(key)
    if value is None:
        return None
    if type(value) is not list or any(type(v) is not str for v in value):
        raise _Unsure
    return tuple(value)


def _overrides(f: _Fields) -> Overrides | None:
    value = f.raw.get("overrides")
    if value is None:
        return None
    o = _Fields(value)
    return Overrides(
        env=_strings(o, "env"), args=_strings(o, "args"), image=o.text("image"), container=o.text("container")
    )


def _record(f: _Fields) -> HistoryRecord:
    return HistoryRecord(
        job=f.text("job", required=True),
        scheduledTime=f.time("scheduledTime", required=True),
        trigger=f.text("trigger", required=True, choices=TRIGGERS),
        result=f.text("result", required=True, choices=RESULTS),
        startTime=f.time("startTime"),
        completionTime=f.time("completionTime"),
        durationSeconds=f.number("durationSeconds"),
        reason=f.text("reason"),
        message=f.text("message"),
        exitCode=f.integer("exitCode"),
        image=f.text("image"),
        imageID=f.text("imageID"),
        slotCount=f.integer("slotCount"),
        attempt=f.integer("attempt"),
        retryOf=f.text("retryOf"),
        overrides=_overrides(f),
    )


def _retry(f: _Fields) -> RetryPending:
    if f.raw.get("attempt") is None:  # not optional in the model
        raise _Unsure
    return RetryPending(
        job=f.text("job", required=True),
        retryOf=f.text("retryOf", required=True),
        scheduledTime=f.time("scheduledTime", required=True),
        attempt=_required_int(f, "attempt"),
        dueTime=f.time("dueTime", required=True),
        reason=f.text("reason"),
    )


def _backfill(f: _Fields) -> Backfill:
    runs = f.raw.get("runs", [])
    if type(runs) is not list or any(type(r) is not str for r in runs):
        raise _Unsure
    return Backfill(
        token=f.text("token", required=True),
        state=f.text("state", required=True, choices=BACKFILL_STATES),
        fromTime=f.time("fromTime"),
        toTime=f.time("toTime"),
        parallel=f.integer("parallel") or 1,
        total=f.integer("total") or 0,
        done=f.integer("done") or 0,
        failed=f.integer("failed") or 0,
        running=f.integer("running") or 0,
        pending=f.integer("pending") or 0,
        skippedExisting=f.integer("skippedExisting") or 0,
        cursor=f.time("cursor"),
        runs=tuple(runs),
        requestedAt=f.time("requestedAt"),
        finishedAt=f.time("finishedAt"),
        message=f.text("message"),
    )


def _pause(f: _Fields) -> Pause | None:
    value = f.raw.get("pause")
    if value is None:
        return None
    p = _Fields(value)
    if p.raw.get("failures") is None:  # not optional in the model
        raise _Unsure
    return Pause(
        since=p.time("since", required=True), failures=_required_int(p, "failures"), generation=p.integer("generation")
    )


def _counts(f: _Fields) -> dict[str, int]:
    value = f.raw.get("counts", {})
    if type(value) is not dict or any(type(k) is not str or type(v) is not int for k, v in value.items()):
        raise _Unsure
    return dict(value)


def _required_int(f: _Fields, key: str) -> int:
    if key in f.raw and f.raw[key] is None:  # not optional in the model
        raise _Unsure
    return f.integer(key) or 0


def read_status(raw: object) -> Status | None:
    """The status in the operator's own shape, or None: then ask :class:`punctual.api.ScheduledJobStatus`."""
    try:
        f = _Fields(raw)
        return Status(
            observedGeneration=f.integer("observedGeneration"),
            conditions=f.items("conditions", _condition),
            nextScheduleTime=f.time("nextScheduleTime"),
            lastScheduleTime=f.time("lastScheduleTime"),
            scheduledThrough=f.time("scheduledThrough"),
            observedSchedule=f.text("observedSchedule"),
            upstreamThrough=f.time("upstreamThrough"),
            lastSuccessfulTime=f.time("lastSuccessfulTime"),
            lastFailureTime=f.time("lastFailureTime"),
            lastHandledRunRequest=f.text("lastHandledRunRequest"),
            lastHandledBackfillRequest=f.text("lastHandledBackfillRequest"),
            backfills=f.items("backfills", _backfill),
            consecutiveFailures=_required_int(f, "consecutiveFailures"),
            pause=_pause(f),
            lastHandledResumeRequest=f.text("lastHandledResumeRequest"),
            retries=f.items("retries", _retry),
            active=f.items("active", _active),
            queued=f.items("queued", _queued),
            history=f.items("history", _record),
            counts=_counts(f),
            activeCount=_required_int(f, "activeCount"),
            queuedCount=_required_int(f, "queuedCount"),
            lastResult=f.text("lastResult"),
        )
    except (_Unsure, ValueError):  # ValueError: a time that matches the pattern but does not exist
        return None
