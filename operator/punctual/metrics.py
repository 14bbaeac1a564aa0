"""Prometheus metrics for the operator (served by :mod:`punctual.runtime.http`: /metrics, /healthz, /readyz).

Role: the runtime shell reports what it observed (a run started or finished, a slot was missed, the
state of a ScheduledJob after a reconcile) through the :class:`Metrics` methods; this module turns
those reports into Prometheus series. It is *not* pure (it holds mutable metric state) but it does
no Kubernetes I/O and never reads a clock: every timestamp is passed in by the caller.

Layering: this module must not import kopf or the Kubernetes client (an import-linter contract
checks that), so the pure core and the simulator can use it without pulling the runtime in.

Every :class:`Metrics` owns its own ``CollectorRegistry`` (never the process-global one), so tests
and ``punctual simulate`` can create as many independent instances as they like.

Cardinality: per-ScheduledJob series carry only ``namespace`` and ``scheduledjob`` (plus a small
closed set such as ``result``). :meth:`Metrics.forget` drops every series of a deleted object, and
``max_objects`` caps how many objects are tracked at once; updates for objects past the cap are
counted in ``punctual_metrics_objects_overflow_total`` and otherwise ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from punctual import __version__

__all__ = [
    "DURATION_BUCKETS",
    "LAG_BUCKETS",
    "METRIC_NAMES",
    "RECONCILE_BUCKETS",
    "Metrics",
    "Result",
    "SlotOutcome",
    "Timestamp",
    "Trigger",
]

Trigger = Literal["schedule", "catchup", "manual", "backfill", "upstream"]
Result = Literal["Succeeded", "Failed", "Replaced"]
SlotOutcome = Literal["Skipped", "Missed", "Dropped", "Replaced"]

#: A point in time: an aware datetime, or seconds since the Unix epoch.
Timestamp = datetime | float

_TRIGGERS: Final[tuple[str, ...]] = get_args(Trigger)
_RESULTS: Final[tuple[str, ...]] = get_args(Result)
_OUTCOMES: Final[tuple[str, ...]] = get_args(SlotOutcome)

#: Run durations of batch jobs: from a second to six hours.
DURATION_BUCKETS: Final[tuple[float, ...]] = (
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 10800.0, 21600.0,
)  # fmt: skip
#: Start lag (actual start minus scheduled time): from 50 ms to ten minutes.
LAG_BUCKETS: Final[tuple[float, ...]] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
#: One reconcile of one ScheduledJob: a few API calls at most.
RECONCILE_BUCKETS: Final[tuple[float, ...]] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip

_OBJ: Final = ("namespace", "scheduledjob")

#: Every metric family this module defines (the names as written in PromQL, without the
#: ``_bucket``/``_sum``/``_count``/``_created`` suffixes). The dashboard and alert tests check
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
        "punctual_reconcile_duration_seconds",
        "punctual_api_requests_total",
        "punctual_api_request_errors_total",
        "punctual_scheduler_heap_size",
        "punctual_scheduledjobs",
        "punctual_build_info",
        "punctual_shards",
        "punctual_metrics_objects_overflow_total",
    }
)


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


class _WithoutCreated(Collector):
    """The registry minus the ``*_created`` samples.

    prometheus-client adds a ``<name>_created`` gauge per counter and histogram series (an
    OpenMetrics feature). In the classic text format they only double the series count, and nothing
    of Punctual's queries them, so they are left out of the exposition.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        for metric in self._registry.collect():
            created = metric.name + "_created"
            metric.samples = [s for s in metric.samples if s.name != created]
            yield metric


class Metrics:
    """All of Punctual's metrics, on a registry of their own.

    ``max_objects`` (None = unbounded) caps the number of ScheduledJobs that get per-object series.
    """

    def __init__(self, *, version: str = __version__, max_objects: int | None = None) -> None:
        if max_objects is not None and max_objects < 0:
            raise ValueError("max_objects must be >= 0")
        self.registry: Final = CollectorRegistry(auto_describe=True)
        self.max_objects: Final = max_objects
        self._objects: set[tuple[str, str]] = set()
        self._exposed: Final = _WithoutCreated(self.registry)
        r = self.registry

        # Per-ScheduledJob counters.
        self.runs_started: Final = Counter(
            "punctual_runs_started",
            "Runs (Jobs) started, by what triggered them.",
            [*_OBJ, "trigger"],
            registry=r,
        )
        self.runs_finished: Final = Counter(
            "punctual_runs_finished",
            "Runs that reached a final state, by result.",
            [*_OBJ, "result"],
            registry=r,
        )
        self.slots_skipped: Final = Counter(
            "punctual_slots_skipped",
            "Schedule slots deliberately skipped by policy (e.g. concurrencyPolicy Forbid).",
            _OBJ,
            registry=r,
        )
        self.slots_missed: Final = Counter(
            "punctual_slots_missed",
            "Schedule slots that could not be started in time (past the starting deadline).",
            _OBJ,
            registry=r,
        )
        self.slots_dropped: Final = Counter(
            "punctual_slots_dropped",
            "Queued schedule slots dropped because the queue was full.",
            _OBJ,
            registry=r,
        )
        self.runs_replaced: Final = Counter(
            "punctual_runs_replaced",
            "Active runs deleted to make room for a newer slot (concurrencyPolicy Replace).",
            _OBJ,
            registry=r,
        )

        # Per-ScheduledJob histograms.
        self.run_duration: Final = Histogram(
            "punctual_run_duration_seconds",
            "Wall-clock duration of finished runs, by result.",
            [*_OBJ, "result"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.start_lag: Final = Histogram(
            "punctual_start_lag_seconds",
            "Delay between a slot's scheduled time and the creation of its Job.",
            _OBJ,
            buckets=LAG_BUCKETS,
            registry=r,
        )

        # Per-ScheduledJob gauges.
        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, _OBJ, registry=r)

        self.active_runs: Final = gauge("punctual_active_runs", "Runs currently active.")
        self.queued_slots: Final = gauge("punctual_queued_slots", "Slots queued waiting to start.")
        self.last_success: Final = gauge(
            "punctual_last_success_timestamp_seconds", "When the last successful run finished."
        )
        self.last_failure: Final = gauge(
            "punctual_last_failure_timestamp_seconds", "When the last failed run finished."
        )
        self.next_run: Final = gauge("punctual_next_run_timestamp_seconds", "When the next slot is scheduled to start.")
        self.last_exit_code: Final = gauge(
            "punctual_last_run_exit_code", "Exit code of the main container of the last finished run."
        )
        self.schedule_interval: Final = gauge(
            "punctual_schedule_interval_seconds", "Nominal spacing between consecutive schedule slots."
        )
        self.duration_budget: Final = gauge(
            "punctual_run_duration_budget_seconds",
            "Run duration budget from the punctual.dev/duration-budget annotation (absent if unset).",
        )
        self.oldest_active_start: Final = gauge(
            "punctual_oldest_active_run_start_timestamp_seconds",
            "When the oldest still-active run started (absent when none is active).",
        )
        self.suspended: Final = gauge("punctual_suspended", "1 when the ScheduledJob is suspended, else 0.")

        # Operator-level metrics.
        self.reconcile_duration: Final = Histogram(
            "punctual_reconcile_duration_seconds",
            "Duration of one reconcile of one ScheduledJob.",
            buckets=RECONCILE_BUCKETS,
            registry=r,
        )
        self.api_requests: Final = Counter(
            "punctual_api_requests", "Kubernetes API requests, by verb.", ["verb"], registry=r
        )
        self.api_request_errors: Final = Counter(
            "punctual_api_request_errors",
            "Kubernetes API requests that failed, by verb and HTTP status code (0 = no response).",
            ["verb", "code"],
            registry=r,
        )
        self.heap_size: Final = Gauge(
            "punctual_scheduler_heap_size", "Wake-ups pending in the scheduler's heap.", registry=r
        )
        self.scheduledjobs: Final = Gauge(
            "punctual_scheduledjobs", "ScheduledJobs currently known to the operator.", registry=r
        )
        self.build_info: Final = Gauge(
            "punctual_build_info",
            "Always 1; the version label says which build runs.",
            ["version"],
            registry=r,
        )
        self.build_info.labels(version=version).set(1)
        # Set by the runtime (set_shard); absent until then. PunctualShardDown compares the number of
        # distinct shard labels with the configured count.
        self.shards: Final = Gauge(
            "punctual_shards",
            "Operator shards configured (PUNCTUAL_SHARDS); the label is this process's shard (0-based).",
            ["shard"],
            registry=r,
        )
        self.objects_overflow: Final = Counter(
            "punctual_metrics_objects_overflow",
            "Per-ScheduledJob updates ignored because max_objects ScheduledJobs were already tracked.",
            registry=r,
        )

        # Counters that always exist once an object is tracked, so that increase() sees the
        # first event (a series born at 1 shows no increase in Prometheus).
        self._per_object_counters: Final[tuple[Counter, ...]] = (
            self.slots_skipped,
            self.slots_missed,
            self.slots_dropped,
            self.runs_replaced,
        )
        self._per_object_metrics: Final[tuple[Counter | Gauge | Histogram, ...]] = (
            self.runs_started,
            self.runs_finished,
            *self._per_object_counters,
            self.run_duration,
            self.start_lag,
            self.active_runs,
            self.queued_slots,
            self.last_success,
            self.last_failure,
            self.next_run,
            self.last_exit_code,
            self.schedule_interval,
            self.duration_budget,
            self.oldest_active_start,
            self.suspended,
        )

    # -- bookkeeping ------------------------------------------------------------------------------

    def _track(self, namespace: str, name: str) -> bool:
        """Start tracking an object if there is room; False means: ignore this update."""
        if not namespace or not name:
            raise ValueError("namespace and name must be non-empty")
        key = (namespace, name)
        if key in self._objects:
            return True
        if self.max_objects is not None and len(self._objects) >= self.max_objects:
            self.objects_overflow.inc()
            return False
        self._objects.add(key)
        for trigger in _TRIGGERS:
            self.runs_started.labels(namespace, name, trigger)
        for result in _RESULTS:
            self.runs_finished.labels(namespace, name, result)
        for counter in self._per_object_counters:
            counter.labels(namespace, name)
        return True

    @property
    def tracked(self) -> frozenset[tuple[str, str]]:
        """The (namespace, name) pairs that currently have series."""
        return frozenset(self._objects)

    def forget(self, namespace: str, name: str) -> None:
        """Remove every series of a ScheduledJob (call it when the object is deleted)."""
        self._objects.discard((namespace, name))
        labels = {"namespace": namespace, "scheduledjob": name}
        for metric in self._per_object_metrics:
            metric.remove_by_labels(labels)

    # -- per-ScheduledJob events ------------------------------------------------------------------

    def run_started(self, namespace: str, name: str, *, trigger: Trigger, lag_seconds: float | None) -> None:
        """A run's Job was created; ``lag_seconds`` is start minus scheduled time (None: manual, backfill)."""
        _check(trigger, _TRIGGERS, "trigger")
        if not self._track(namespace, name):
            return
        self.runs_started.labels(namespace, name, trigger).inc()
        if lag_seconds is not None:
            # A clock skew can make the lag slightly negative; it is still "on time".
            self.start_lag.labels(namespace, name).observe(max(0.0, lag_seconds))

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
        _check(result, _RESULTS, "result")
        when = _epoch(finished_at)
        if not self._track(namespace, name):
            return
        self.runs_finished.labels(namespace, name, result).inc()
        if duration_seconds is not None:
            self.run_duration.labels(namespace, name, result).observe(max(0.0, duration_seconds))
        if result == "Succeeded":
            self.last_success.labels(namespace, name).set(when)
        elif result == "Failed":
            self.last_failure.labels(namespace, name).set(when)
        if result != "Replaced":
            # A replaced run was killed by us: its exit code says nothing about the workload.
            if exit_code is None:
                self.last_exit_code.remove(namespace, name)
            else:
                self.last_exit_code.labels(namespace, name).set(exit_code)

    def slot_outcome(self, namespace: str, name: str, *, outcome: SlotOutcome, n: int = 1) -> None:
        """Count ``n`` slots that did not start normally."""
        _check(outcome, _OUTCOMES, "outcome")
        if n < 0:
            raise ValueError("n must be >= 0")
        if not self._track(namespace, name):
            return
        counter = {
            "Skipped": self.slots_skipped,
            "Missed": self.slots_missed,
            "Dropped": self.slots_dropped,
            "Replaced": self.runs_replaced,
        }[outcome]
        counter.labels(namespace, name).inc(n)

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
        last_success: Timestamp | None,
        last_failure: Timestamp | None,
    ) -> None:
        """Publish the state of a ScheduledJob after a reconcile; None removes that series."""
        if not self._track(namespace, name):
            return
        values: tuple[tuple[Gauge, float | None], ...] = (
            (self.active_runs, None if active is None else float(active)),
            (self.queued_slots, None if queued is None else float(queued)),
            (self.next_run, None if next_run is None else _epoch(next_run)),
            (self.schedule_interval, interval_seconds),
            (self.duration_budget, budget_seconds),
            (self.oldest_active_start, None if oldest_active_start is None else _epoch(oldest_active_start)),
            (self.suspended, None if suspended is None else float(suspended)),
            (self.last_success, None if last_success is None else _epoch(last_success)),
            (self.last_failure, None if last_failure is None else _epoch(last_failure)),
        )
        for gauge, value in values:
            if value is None:
                # remove(), not remove_by_labels(): the latter scans every series, O(N) per call.
                gauge.remove(namespace, name)
            else:
                gauge.labels(namespace, name).set(value)

    # -- operator-level ---------------------------------------------------------------------------

    def observe_reconcile(self, seconds: float) -> None:
        self.reconcile_duration.observe(max(0.0, seconds))

    def api_request(self, verb: str, *, error_code: int | None = None) -> None:
        """Count one API request; ``error_code`` is the HTTP status of a failed one (0: no reply)."""
        if not verb:
            raise ValueError("verb must be non-empty")
        self.api_requests.labels(verb).inc()
        if error_code is not None:
            self.api_request_errors.labels(verb, str(error_code)).inc()

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

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (version 0.0.4)."""
        return generate_latest(self._exposed)
