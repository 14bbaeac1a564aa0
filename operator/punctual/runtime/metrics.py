"""Prometheus metrics for the operator (served by :mod:`punctual.runtime.http`: /metrics, /healthz, /readyz).

Role: the runtime shell reports what it observed (a run started or finished, a slot was missed, the
state of a ScheduledJob after a reconcile) through the :class:`Metrics` methods; this module turns
those reports into Prometheus series. It is *not* pure (it holds mutable metric state) but it does
no Kubernetes I/O and never reads a clock: every timestamp is passed in by the caller.

Layering: this module must not import kopf or the Kubernetes client (an import-linter contract
checks that), so the pure core and the simulator can use it without pulling the runtime in.

The families themselves (names, help, labels, buckets) are :mod:`punctual.runtime.metric_families`.
Every :class:`Metrics` owns its own ``CollectorRegistry`` (never the process-global one), so tests
and ``punctual simulate`` can create as many independent instances as they like.

Cardinality: per-ScheduledJob series carry only ``namespace`` and ``scheduledjob`` (plus a small
closed set such as ``result``). :meth:`Metrics.forget` drops every series of a deleted object, and
``max_objects`` caps how many objects are tracked at once; updates for objects past the cap are
counted in ``punctual_metrics_objects_overflow_total`` and otherwise ignored.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Final

from prometheus_client import Counter
from prometheus_client.exposition import generate_latest

from punctual import __version__
from punctual.runtime.metric_families import (
    OUTCOMES,
    RESULTS,
    TRIGGERS,
    MetricFamilies,
    Result,
    SlotOutcome,
    Timestamp,
    Trigger,
)
from punctual.runtime.object_series import COUNTER_AT, GAUGE_AT, HISTOGRAM_AT, ObjectSeries, Series

__all__ = ["METRIC_NAMES", "Metrics"]

#: Every metric family Punctual defines (in :mod:`punctual.runtime.metric_families`), the names as written
#: in PromQL, without the ``_bucket``/``_sum``/``_count``/``_created`` suffixes. The dashboard and alert tests check
#: their expressions against this set.
METRIC_NAMES: Final[frozenset[str]] = frozenset(
    {
        "punctual_runs_started_total",
        "punctual_runs_finished_total",
        "punctual_slots_skipped_total",
        "punctual_slots_missed_total",
        "punctual_slots_dropped_total",
        "punctual_runs_replaced_total",
        "punctual_run_duration_seconds",
        "punctual_start_lag_seconds",
        "punctual_active_runs",
        "punctual_queued_slots",
        "punctual_last_success_timestamp_seconds",
        "punctual_last_failure_timestamp_seconds",
        "punctual_next_run_timestamp_seconds",
        "punctual_last_run_exit_code",
        "punctual_schedule_interval_seconds",
        "punctual_run_duration_budget_seconds",
        "punctual_oldest_active_run_start_timestamp_seconds",
        "punctual_suspended",
        "punctual_paused",
        "punctual_reconcile_duration_seconds",
        "punctual_api_requests_total",
        "punctual_api_request_errors_total",
        "punctual_watch_events_total",
        "punctual_events_dropped_total",
        "punctual_scheduler_heap_size",
        "punctual_scheduledjobs",
        "punctual_build_info",
        "punctual_shards",
        "punctual_leader",
        "punctual_metrics_objects_overflow_total",
    }
)


# Where each per-object number lives in a Series (punctual.runtime.object_series).
_STARTED: Final = COUNTER_AT["punctual_runs_started"]
_FINISHED: Final = COUNTER_AT["punctual_runs_finished"]
_OUTCOME_AT: Final[dict[str, int]] = {
    "Skipped": COUNTER_AT["punctual_slots_skipped"],
    "Missed": COUNTER_AT["punctual_slots_missed"],
    "Dropped": COUNTER_AT["punctual_slots_dropped"],
    "Replaced": COUNTER_AT["punctual_runs_replaced"],
}
_DURATION: Final = HISTOGRAM_AT["punctual_run_duration_seconds"]
_LAG: Final = HISTOGRAM_AT["punctual_start_lag_seconds"]
_ACTIVE: Final = GAUGE_AT["punctual_active_runs"]
_QUEUED: Final = GAUGE_AT["punctual_queued_slots"]
_LAST_SUCCESS: Final = GAUGE_AT["punctual_last_success_timestamp_seconds"]
_LAST_FAILURE: Final = GAUGE_AT["punctual_last_failure_timestamp_seconds"]
_NEXT_RUN: Final = GAUGE_AT["punctual_next_run_timestamp_seconds"]
_EXIT_CODE: Final = GAUGE_AT["punctual_last_run_exit_code"]
_INTERVAL: Final = GAUGE_AT["punctual_schedule_interval_seconds"]
_BUDGET: Final = GAUGE_AT["punctual_run_duration_budget_seconds"]
_OLDEST: Final = GAUGE_AT["punctual_oldest_active_run_start_timestamp_seconds"]
_SUSPENDED: Final = GAUGE_AT["punctual_suspended"]
_PAUSED: Final = GAUGE_AT["punctual_paused"]


def _epoch(ts: Timestamp) -> float:
    """Seconds since the epoch; a naive datetime is refused, as everywhere in Punctual."""
    if isinstance(ts, datetime):
        if ts.tzinfo is None:
            raise ValueError(f"naive datetime {ts!r}: pass an aware (UTC) datetime")
        return ts.timestamp()
    value = float(ts)
    if not math.isfinite(value):
        raise ValueError(f"timestamp must be finite, got {ts!r}")
    return value


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


def _child(children: dict[str, Counter], family: Counter, label: str) -> Counter:
    """``family.labels(label)``, kept in ``children``: labels() takes a lock and builds a tuple at each call."""
    child = children.get(label)
    if child is None:
        child = children[label] = family.labels(label)
    return child


class Metrics(MetricFamilies):
    """All of Punctual's metrics, on a registry of their own.

    ``max_objects`` (None = unbounded) caps the number of ScheduledJobs that get per-object series.
    """

    def __init__(self, *, version: str = __version__, max_objects: int | None = None) -> None:
        if max_objects is not None and max_objects < 0:
            raise ValueError("max_objects must be >= 0")
        super().__init__(version=version)
        self.max_objects: Final = max_objects
        self._series: Final = ObjectSeries()
        self.registry.register(self._series)
        self._shard = "0"
        # The labelled children of the counters that count every request, watch event and Event
        # not posted, by label (_child).
        self._requests_by_verb: dict[str, Counter] = {}
        self._events_by_resource: dict[str, Counter] = {}
        self._dropped_by_reason: dict[str, Counter] = {}

    # -- bookkeeping ------------------------------------------------------------------------------

    def _track(self, namespace: str, name: str) -> Series | None:
        """The object's series, tracked from now on if there is room; None means: ignore this update."""
        if not namespace or not name:
            raise ValueError("namespace and name must be non-empty")
        key = (namespace, name)
        series = self._series.get(key)
        if series is not None:
            return series
        if self.max_objects is not None and len(self._series) >= self.max_objects:
            self.objects_overflow.inc()
            return None
        return self._series.add(key)

    @property
    def tracked(self) -> frozenset[tuple[str, str]]:
        """The (namespace, name) pairs that currently have series."""
        return self._series.keys()

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a ScheduledJob (call it when the object is deleted)."""
        self._series.forget((namespace, name))

    # -- per-ScheduledJob events ------------------------------------------------------------------

    def run_started(self, namespace: str, name: str, *, trigger: Trigger, lag_seconds: float | None) -> None:
        """A run's Job was created; ``lag_seconds`` is start minus scheduled time (None: manual, backfill)."""
        _check(trigger, TRIGGERS, "trigger")
        if (series := self._track(namespace, name)) is None:
            return
        series.counters[_STARTED + TRIGGERS.index(trigger)] += 1.0
        if lag_seconds is not None:
            # A clock skew can make the lag slightly negative; it is still "on time".
            series.observe(_LAG, max(0.0, lag_seconds))

    def run_finished(
        self,
        namespace: str,
        name: str,
        *,
        result: Result,
        duration_seconds: float | None,
        exit_code: int | None,
        finished_at: Timestamp,
    ) -> None:
        """A run reached a final state. Succeeded/Failed also move the last-success/failure time."""
        _check(result, RESULTS, "result")
        when = _epoch(finished_at)
        if (series := self._track(namespace, name)) is None:
            return
        which = RESULTS.index(result)
        series.counters[_FINISHED + which] += 1.0
        if duration_seconds is not None:
            series.observe(_DURATION, max(0.0, duration_seconds), which)
        if result == "Succeeded":
            series.gauges[_LAST_SUCCESS] = when
        elif result == "Failed":
            series.gauges[_LAST_FAILURE] = when
        if result != "Replaced":
            # A replaced run was killed by us: its exit code says nothing about the workload.
            series.gauges[_EXIT_CODE] = None if exit_code is None else float(exit_code)

    def slot_outcome(self, namespace: str, name: str, *, outcome: SlotOutcome, n: int = 1) -> None:
        """Count ``n`` slots that did not start normally."""
        _check(outcome, OUTCOMES, "outcome")
        if n < 0:
            raise ValueError("n must be >= 0")
        if (series := self._track(namespace, name)) is None:
            return
        series.counters[_OUTCOME_AT[outcome]] += n

    def set_state(
        self,
        namespace: str,
        name: str,
        *,
        active: int | None,
        queued: int | None,
        next_run: Timestamp | None,
        interval_seconds: float | None,
        budget_seconds: float | None,
        oldest_active_start: Timestamp | None,
        suspended: bool | None,
        paused: bool | None,
        last_success: Timestamp | None,
        last_failure: Timestamp | None,
    ) -> None:
        """Publish the state of a ScheduledJob after a reconcile; None removes that series."""
        if (series := self._track(namespace, name)) is None:
            return
        gauges = series.gauges
        gauges[_ACTIVE] = None if active is None else float(active)
        gauges[_QUEUED] = None if queued is None else float(queued)
        gauges[_NEXT_RUN] = None if next_run is None else _epoch(next_run)
        gauges[_INTERVAL] = None if interval_seconds is None else float(interval_seconds)
        gauges[_BUDGET] = None if budget_seconds is None else float(budget_seconds)
        gauges[_OLDEST] = None if oldest_active_start is None else _epoch(oldest_active_start)
        gauges[_SUSPENDED] = None if suspended is None else float(suspended)
        gauges[_PAUSED] = None if paused is None else float(paused)
        gauges[_LAST_SUCCESS] = None if last_success is None else _epoch(last_success)
        gauges[_LAST_FAILURE] = None if last_failure is None else _epoch(last_failure)

    # -- operator-level ---------------------------------------------------------------------------

    def observe_reconcile(self, seconds: float) -> None:
        self.reconcile_duration.observe(max(0.0, seconds))

    def api_request(self, verb: str, *, error_code: int | None = None) -> None:
        """Count one API request; ``error_code`` is the HTTP status of a failed one (0: no reply)."""
        if not verb:
            raise ValueError("verb must be non-empty")
        _child(self._requests_by_verb, self.api_requests, verb).inc()
        if error_code is not None:
            self.api_request_errors.labels(verb, str(error_code)).inc()

    def watch_event(self, resource: str) -> None:
        """Count one watch event received of ``resource`` (``jobs``, ``pods``, ``scheduledjobs``, ...)."""
        _child(self._events_by_resource, self.watch_events, resource).inc()

    def event_dropped(self, reason: str) -> None:
        """Count one Event logged but not posted (``budget`` or ``queue``)."""
        _check(reason, ("budget", "queue"), "reason")
        _child(self._dropped_by_reason, self.events_dropped, reason).inc()

    def set_heap_size(self, n: int) -> None:
        self.heap_size.set(n)

    def set_scheduledjobs(self, n: int) -> None:
        self.scheduledjobs.set(n)

    def set_shard(self, shard: int, shards: int) -> None:
        """Publish ``punctual_shards{shard="<shard>"} = shards`` (unsharded: shard 0 of 1).

        One series per process: a second call replaces the first, it does not add a shard.
        """
        if shards < 1 or not 0 <= shard < shards:
            raise ValueError(f"shard must be in 0..shards-1 and shards >= 1, got shard {shard} of {shards}")
        self.shards.clear()
        self.shards.labels(shard=str(shard)).set(shards)
        self._shard = str(shard)

    def set_leader(self, leader: bool) -> None:
        """Publish ``punctual_leader{shard="<shard>"}``: 1 leading, 0 standing by (after set_shard)."""
        self.leader.clear()
        self.leader.labels(shard=self._shard).set(1 if leader else 0)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (version 0.0.4), without ``*_created``.

        The process-wide families by generate_latest, then the per-ScheduledJob ones (550,000 lines
        at 10,000 ScheduledJobs) by :meth:`punctual.runtime.object_series.ObjectSeries.render`, which
        writes what generate_latest would, many times faster. Safe to call from another thread than the one updating.
        """
        return generate_latest(self._process_wide) + self._series.render().encode()
