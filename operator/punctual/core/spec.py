"""What a ScheduledJob is to the core: its parsed spec, its identity, its Schedule. Pure.

``parse_spec`` turns a raw ``spec`` into the model (or a SpecError a user can act on),
``subject_from_body`` a whole ScheduledJob body into the :class:`Subject` the core decides, and
``build_schedule`` the Subject into its (cached, immutable) Schedule.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from punctual.api import ScheduledJobSpec, format_time, parse_time
from punctual.bodies import ScheduledJobBody
from punctual.core.run_request import OverridesError, RunOverrides, parse
from punctual.durations import DurationError, parse_duration
from punctual.jobs import (
    ANNOTATION_BACKFILL_CANCEL,
    ANNOTATION_BACKFILL_REQUEST,
    ANNOTATION_RESUME_REQUEST,
    ANNOTATION_RUN_OVERRIDES,
    ANNOTATION_RUN_REQUEST,
    Owner,
    bucket_of,
)
from punctual.schedule import Schedule, ScheduleError

__all__ = [
    "MAX_DEADLINE",
    "MAX_JITTER",
    "SpecError",
    "Subject",
    "build_schedule",
    "parse_spec",
    "schedule_fingerprint",
    "shard_of",
    "starting_deadline",
    "subject_from_body",
]

MAX_JITTER = timedelta(days=365)
MAX_DEADLINE = timedelta(days=36500)
"""A longer startingDeadlineSeconds (the schema sets no maximum) means the same: no deadline."""


def starting_deadline(spec: ScheduledJobSpec) -> timedelta | None:
    """``startingDeadlineSeconds`` as a timedelta (None: no deadline), capped at ``MAX_DEADLINE``."""
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
    run_overrides: RunOverrides | None = None
    """The run-overrides annotation, parsed (:mod:`punctual.core.run_request`); step 6 checks its token."""
    run_overrides_error: str | None = None
    """Why the run-overrides annotation could not be parsed (step 6 then refuses the run request)."""
    backfill_request: str | None = None
    """The backfill-request annotation, as written (:mod:`punctual.core.backfill` parses it)."""
    backfill_cancel: str | None = None
    resume_request: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def owner(self) -> Owner:
        return Owner(namespace=self.namespace, name=self.name, uid=self.uid)


def shard_of(namespace: str, name: str, shards: int) -> int:
    """Which of ``shards`` operator shards handles this ScheduledJob: stable across processes and restarts.

    Its bucket (a hash of namespace and name, not the uid) modulo ``shards``: a ScheduledJob deleted
    and created again stays on its shard, as do its Jobs, whose owner reference and bucket label
    name it; the shard's watches select those buckets (:func:`punctual.jobs.watch_selectors`).
    """
    if shards <= 1:
        return 0
    return bucket_of(namespace, name) % shards


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
def _cached_schedule(
    expressions: tuple[str, ...],
    time_zone: str,
    anchor: datetime,
    key: str,
    window: tuple[datetime | None, datetime | None] = (None, None),
) -> Schedule:
    # A Schedule is immutable once built, and parsing costs more than a whole decision otherwise:
    # one per ScheduledJob spec is kept (the bound is far above any fleet this runs).
    return Schedule(expressions, time_zone=time_zone, anchor=anchor, key=key, not_before=window[0], not_after=window[1])


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
            (subject.spec.notBefore, subject.spec.notAfter),
        )
    except (ScheduleError, DurationError) as exc:
        raise SpecError(str(exc)) from exc


def schedule_fingerprint(spec: ScheduledJobSpec, *, default_time_zone: str = "UTC") -> str:
    """What decides which slots exist: the cron expressions and the effective time zone.

    Recorded as ``status.observedSchedule``; a decision whose spec gives another value is the first
    one under a new (or newly valid) schedule. jitter is left out: it moves when a slot is due, not
    which slots exist.
    """
    text = f"{spec.timeZone or default_time_zone}: {' | '.join(spec.expressions())}"
    if spec.notBefore is not None or spec.notAfter is not None:
        # A changed window is a changed schedule: the slots it newly admits in the past are not caught up.
        bounds = (format_time(t) if t is not None else "" for t in (spec.notBefore, spec.notAfter))
        text += " [{}..{}]".format(*bounds)
    return text


def subject_from_body(body: ScheduledJobBody, *, now: datetime) -> Subject:
    """The Subject of a whole ScheduledJob body, or SpecError; ``now`` stands in for a missing creation time.

    The operator, ``kubectl sj`` and ``punctual simulate`` all read a body through this one function.
    A body without ``metadata.creationTimestamp`` (a manifest not yet applied) is anchored at ``now``:
    the caller says which instant that is (the wall clock, the simulation's start, or the epoch).
    """
    meta = body.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    created = meta.get("creationTimestamp")
    overrides: RunOverrides | None = None
    overrides_error: str | None = None
    overrides_text = annotations.get(ANNOTATION_RUN_OVERRIDES)
    if overrides_text:
        try:
            overrides = parse(overrides_text)
        except OverridesError as exc:
            overrides_error = str(exc)
    return Subject(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        uid=str(meta.get("uid") or ""),
        creation=parse_time(str(created)) if created else now,
        spec=parse_spec(body.get("spec") or {}),
        generation=meta.get("generation"),
        run_request=annotations.get(ANNOTATION_RUN_REQUEST),
        run_overrides=overrides,
        run_overrides_error=overrides_error,
        backfill_request=annotations.get(ANNOTATION_BACKFILL_REQUEST),
        backfill_cancel=annotations.get(ANNOTATION_BACKFILL_CANCEL),
        resume_request=annotations.get(ANNOTATION_RESUME_REQUEST),
    )
