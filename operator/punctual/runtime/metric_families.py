"""Punctual's Prometheus metric families: their names, help texts, labels and buckets, on a registry of their own.

Role: the definitions only. :class:`punctual.runtime.metrics.Metrics` (a subclass) turns what the runtime
reports into samples of these families. Not pure (it holds mutable metric state), but no Kubernetes
I/O and no clock. Every instance owns its own ``CollectorRegistry`` (never the process-global one).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from punctual import __version__

__all__ = [
    "DURATION_BUCKETS",
    "LAG_BUCKETS",
    "OUTCOMES",
    "PER_OBJECT",
    "RECONCILE_BUCKETS",
    "RESULTS",
    "TRIGGERS",
    "MetricFamilies",
    "PerObjectFamily",
    "Result",
    "SlotOutcome",
    "Timestamp",
    "Trigger",
]

Trigger = Literal["schedule", "catchup", "manual", "backfill", "upstream", "retry"]
Result = Literal["Succeeded", "Failed", "Replaced"]
SlotOutcome = Literal["Skipped", "Missed", "Dropped", "Replaced"]

#: A point in time: an aware datetime, or seconds since the Unix epoch.
Timestamp = datetime | float

TRIGGERS: Final[tuple[str, ...]] = get_args(Trigger)
RESULTS: Final[tuple[str, ...]] = get_args(Result)
OUTCOMES: Final[tuple[str, ...]] = get_args(SlotOutcome)

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


@dataclass(frozen=True)
class PerObjectFamily:
    """A per-ScheduledJob family: labels ``namespace``, ``scheduledjob`` and, if ``label``, that one
    with the closed set ``values``. Its series live in :mod:`punctual.runtime.object_series`."""

    name: str
    doc: str
    kind: Literal["counter", "gauge", "histogram"]
    label: str = ""
    values: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


def _gauge(name: str, doc: str) -> PerObjectFamily:
    return PerObjectFamily(name, doc, "gauge")


#: The per-ScheduledJob families, in the order exposed. The counters always exist once an object is
#: tracked (so that increase() sees the first event: a series born at 1 shows no increase); a
#: histogram's series from its first observation; a gauge's while it has a value.
PER_OBJECT: Final[tuple[PerObjectFamily, ...]] = (
    PerObjectFamily(
        "punctual_runs_started", "Runs (Jobs) started, by what triggered them.", "counter", "trigger", TRIGGERS
    ),
    PerObjectFamily(
        "punctual_runs_finished", "Runs that reached a final state, by result.", "counter", "result", RESULTS
    ),
    PerObjectFamily(
        "punctual_slots_skipped",
        "Schedule slots deliberately skipped by policy (e.g. concurrencyPolicy Forbid).",
        "counter",
    ),
    PerObjectFamily(
        "punctual_slots_missed",
        "Schedule slots that could not be started in time (past the starting deadline).",
        "counter",
    ),
    PerObjectFamily("punctual_slots_dropped", "Queued schedule slots dropped because the queue was full.", "counter"),
    PerObjectFamily(
        "punctual_runs_replaced",
        "Active runs deleted to make room for a newer slot (concurrencyPolicy Replace).",
        "counter",
    ),
    PerObjectFamily(
        "punctual_run_duration_seconds",
        "Wall-clock duration of finished runs, by result.",
        "histogram",
        "result",
        RESULTS,
        DURATION_BUCKETS,
    ),
    PerObjectFamily(
        "punctual_start_lag_seconds",
        "Delay between a slot's scheduled time and the creation of its Job.",
        "histogram",
        buckets=LAG_BUCKETS,
    ),
    _gauge("punctual_active_runs", "Runs currently active."),
    _gauge("punctual_queued_slots", "Slots queued waiting to start."),
    _gauge("punctual_last_success_timestamp_seconds", "When the last successful run finished."),
    _gauge("punctual_last_failure_timestamp_seconds", "When the last failed run finished."),
    _gauge("punctual_next_run_timestamp_seconds", "When the next slot is scheduled to start."),
    _gauge("punctual_last_run_exit_code", "Exit code of the main container of the last finished run."),
    _gauge("punctual_schedule_interval_seconds", "Nominal spacing between consecutive schedule slots."),
    _gauge(
        "punctual_run_duration_budget_seconds",
        "Run duration budget from the punctual.dev/duration-budget annotation (absent if unset).",
    ),
    _gauge(
        "punctual_oldest_active_run_start_timestamp_seconds",
        "When the oldest still-active run started (absent when none is active).",
    ),
    _gauge("punctual_suspended", "1 when the ScheduledJob is suspended, else 0."),
    _gauge("punctual_paused", "1 while runs are paused after spec.pauseAfterFailures consecutive failures, else 0."),
)


class _WithoutCreated(Collector):
    """Some of the registry's families minus the ``*_created`` samples.

    prometheus-client adds a ``<name>_created`` gauge per counter and histogram series (an
    OpenMetrics feature). In the classic text format they only double the series count, and nothing
    of Punctual's queries them, so they are left out of the exposition.
    """

    def __init__(self, families: Callable[[], Iterable[Collector]]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        for family in self._families():
            for metric in family.collect():
                created = metric.name + "_created"
                metric.samples = [s for s in metric.samples if s.name != created]
                yield metric


class MetricFamilies:
    """Every metric family of Punctual, on a registry of their own.

    The process-wide families only: :class:`punctual.runtime.metrics.Metrics` (a subclass) fills
    in their series and adds the per-ScheduledJob ones (``PER_OBJECT``, kept by
    :class:`punctual.runtime.object_series.ObjectSeries`) to the registry.
    """

    def __init__(self, *, version: str = __version__) -> None:
        self.registry: Final = CollectorRegistry(auto_describe=True)
        # The process-wide families, for generate_latest; the per-object ones are written by
        # ObjectSeries.render (Metrics.exposition).
        self._process_wide: Final = _WithoutCreated(self._process_wide_families)
        r = self.registry

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
        # Per resource, not per object: what a shard's watches carry (server-side bucket selection).
        self.watch_events: Final = Counter(
            "punctual_watch_events",
            "Watch events received (ADDED, MODIFIED, DELETED; not bookmarks), by resource.",
            ["resource"],
            registry=r,
        )
        self.events_dropped: Final = Counter(
            "punctual_events_dropped",
            "Events logged but not posted: over the object's budget or the decision's cap (reason budget), "
            "or with MAX_QUEUED_EVENTS waiting (reason queue).",
            ["reason"],
            registry=r,
        )
        for reason in ("budget", "queue"):
            self.events_dropped.labels(reason)  # both series from the start, at 0
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
        # 1 while this process holds its shard's Lease and starts runs, 0 on a standby (set_leader).
        self.leader: Final = Gauge(
            "punctual_leader",
            "1 while this process is its shard's leader (holds the Lease and starts runs), 0 on a standby.",
            ["shard"],
            registry=r,
        )
        self.objects_overflow: Final = Counter(
            "punctual_metrics_objects_overflow",
            "Per-ScheduledJob updates ignored because max_objects ScheduledJobs were already tracked.",
            registry=r,
        )

    def _process_wide_families(self) -> list[Collector]:
        """Every prometheus_client family of this registry (the per-ScheduledJob ones are not), in the order made."""
        return [m for m in vars(self).values() if isinstance(m, MetricWrapperBase)]
