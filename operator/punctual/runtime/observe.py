"""Metrics from one reconcile: runs started and finished, slot outcomes, the object's gauges."""

from __future__ import annotations

import contextlib
from datetime import datetime

from punctual.api import HistoryRecord, Result, Trigger
from punctual.bodies import ScheduledJobBody
from punctual.core import SpecError, build_schedule
from punctual.durations import DurationError, parse_duration
from punctual.jobs import ANNOTATION_DURATION_BUDGET
from punctual.runtime.cache import Key
from punctual.runtime.metrics import Metrics
from punctual.runtime.reconcile import Reconciled

__all__ = ["observe"]


def observe(
    metrics: Metrics,
    key: Key,
    done: Reconciled,
    *,
    body: ScheduledJobBody | None,
    now: datetime,
    default_time_zone: str,
) -> None:
    """Record what ``done`` decided and did (nothing when it did not decide: a retry, a deleted object)."""
    decision, before, subject = done.decision, done.before, done.subject
    if decision is None or before is None:
        return
    ns, name = key
    m = metrics
    previous: dict[str, HistoryRecord] = {r.job: r for r in before.history}
    for create in decision.creates:
        if create.name in done.failed:
            continue
        # A manual run has no slot to be late for, a backfill's slot is in the past by design, an
        # upstream-triggered run waited for its upstreams, a retry for its delay.
        off_schedule = create.trigger in (Trigger.MANUAL, Trigger.BACKFILL, Trigger.UPSTREAM, Trigger.RETRY)
        lag = None if off_schedule else (now - create.slot).total_seconds()
        m.run_started(ns, name, trigger=create.trigger.value, lag_seconds=lag)
    for rec in decision.records:
        old = previous.get(rec.job)
        if old is not None and old.result is rec.result:
            continue
        if rec.result in (Result.SUCCEEDED, Result.FAILED, Result.REPLACED):
            m.run_finished(
                ns,
                name,
                result=rec.result.value,  # type: ignore[arg-type]
                duration_seconds=rec.durationSeconds,
                exit_code=rec.exitCode,
                finished_at=rec.completionTime or now,
            )
        if rec.result in (Result.SKIPPED, Result.MISSED, Result.DROPPED, Result.REPLACED):
            m.slot_outcome(ns, name, outcome=rec.result.value, n=rec.slotCount or 1)  # type: ignore[arg-type]
    interval = budget = None
    if subject is not None:
        with contextlib.suppress(SpecError):
            hint = build_schedule(subject, default_time_zone=default_time_zone).interval_hint(now)
            interval = hint.total_seconds() if hint else None
        raw_budget = (((body or {}).get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_DURATION_BUDGET)
        if raw_budget:
            with contextlib.suppress(DurationError):
                budget = parse_duration(raw_budget).total_seconds()
    after = decision.status
    starts = [a.startTime for a in after.active if a.startTime is not None]
    m.set_state(
        ns,
        name,
        active=len(after.active),
        queued=len(after.queued),
        next_run=after.nextScheduleTime,
        interval_seconds=interval,
        budget_seconds=budget,
        oldest_active_start=min(starts) if starts else None,
        suspended=subject.spec.suspend if subject else None,
        paused=after.pause is not None,
        last_success=after.lastSuccessfulTime,
        last_failure=after.lastFailureTime,
    )
