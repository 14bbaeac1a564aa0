"""The compact per-ScheduledJob series hold what prometheus_client's own Counter, Gauge and
Histogram would hold for the same reports: a reference built on them (what Metrics was before
punctual.runtime.object_series) is driven with the same random reports and the samples compared."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from punctual.runtime.metric_families import OUTCOMES, PER_OBJECT, RESULTS, TRIGGERS
from punctual.runtime.metrics import Metrics

_OBJ = ["namespace", "scheduledjob"]
_OUTCOME_FAMILY = {
    "Skipped": "punctual_slots_skipped",
    "Missed": "punctual_slots_missed",
    "Dropped": "punctual_slots_dropped",
    "Replaced": "punctual_runs_replaced",
}
_STATE_GAUGE = {
    "active": "punctual_active_runs",
    "queued": "punctual_queued_slots",
    "next_run": "punctual_next_run_timestamp_seconds",
    "interval_seconds": "punctual_schedule_interval_seconds",
    "budget_seconds": "punctual_run_duration_budget_seconds",
    "oldest_active_start": "punctual_oldest_active_run_start_timestamp_seconds",
    "suspended": "punctual_suspended",
    "paused": "punctual_paused",
    "last_success": "punctual_last_success_timestamp_seconds",
    "last_failure": "punctual_last_failure_timestamp_seconds",
}


class Reference:
    """The per-object part of Metrics as it was, on prometheus_client's families."""

    def __init__(self, max_objects: int | None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_objects = max_objects
        self.objects: set[tuple[str, str]] = set()
        self.overflow = 0
        self.f: dict[str, Any] = {}
        for fam in PER_OBJECT:
            labels = [*_OBJ, fam.label] if fam.label else _OBJ
            if fam.kind == "counter":
                self.f[fam.name] = Counter(fam.name, fam.doc, labels, registry=self.registry)
            elif fam.kind == "gauge":
                self.f[fam.name] = Gauge(fam.name, fam.doc, labels, registry=self.registry)
            else:
                self.f[fam.name] = Histogram(fam.name, fam.doc, labels, buckets=fam.buckets, registry=self.registry)

    def track(self, ns: str, name: str) -> bool:
        if (ns, name) in self.objects:
            return True
        if self.max_objects is not None and len(self.objects) >= self.max_objects:
            self.overflow += 1
            return False
        self.objects.add((ns, name))
        for trigger in TRIGGERS:
            self.f["punctual_runs_started"].labels(ns, name, trigger)
        for result in RESULTS:
            self.f["punctual_runs_finished"].labels(ns, name, result)
        for family in _OUTCOME_FAMILY.values():
            self.f[family].labels(ns, name)
        return True

    def forget(self, ns: str, name: str) -> None:
        self.objects.discard((ns, name))
        for family in self.f.values():
            family.remove_by_labels({"namespace": ns, "scheduledjob": name})

    def run_started(self, ns: str, name: str, trigger: str, lag: float | None) -> None:
        if self.track(ns, name):
            self.f["punctual_runs_started"].labels(ns, name, trigger).inc()
            if lag is not None:
                self.f["punctual_start_lag_seconds"].labels(ns, name).observe(max(0.0, lag))

    def run_finished(
        self, ns: str, name: str, result: str, duration: float | None, code: int | None, when: float
    ) -> None:
        if not self.track(ns, name):
            return
        self.f["punctual_runs_finished"].labels(ns, name, result).inc()
        if duration is not None:
            self.f["punctual_run_duration_seconds"].labels(ns, name, result).observe(max(0.0, duration))
        if result in ("Succeeded", "Failed"):
            which = (
                "punctual_last_success_timestamp_seconds"
                if result == "Succeeded"
                else "punctual_last_failure_timestamp_seconds"
            )
            self.f[which].labels(ns, name).set(when)
        if result != "Replaced":
            gauge = self.f["punctual_last_run_exit_code"]
            if code is None:
                gauge.remove_by_labels({"namespace": ns, "scheduledjob": name})
            else:
                gauge.labels(ns, name).set(code)

    def slot_outcome(self, ns: str, name: str, outcome: str, n: int) -> None:
        if self.track(ns, name):
            self.f[_OUTCOME_FAMILY[outcome]].labels(ns, name).inc(n)

    def set_state(self, ns: str, name: str, values: dict[str, float | None]) -> None:
        if not self.track(ns, name):
            return
        for key, value in values.items():
            gauge = self.f[_STATE_GAUGE[key]]
            if value is None:
                gauge.remove_by_labels({"namespace": ns, "scheduledjob": name})
            else:
                gauge.labels(ns, name).set(value)


def _samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
    return {
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if not s.name.endswith("_created") and "scheduledjob" in s.labels
    }


_keys = st.sampled_from([("default", "a"), ("default", "b"), ("team", 'q"uote'), ("x", "new\nline")])
_seconds = st.sampled_from([-1.0, 0.0, 0.05, 0.1, 0.3, 1.0, 5.0, 59.9, 600.0, 700.0, 21600.0, 1e7])
_maybe = st.none() | _seconds
_op = st.one_of(
    st.tuples(st.just("started"), _keys, st.sampled_from(TRIGGERS), _maybe),
    st.tuples(st.just("finished"), _keys, st.sampled_from(RESULTS), _maybe, st.none() | st.integers(0, 255), _seconds),
    st.tuples(st.just("outcome"), _keys, st.sampled_from(OUTCOMES), st.integers(0, 3)),
    st.tuples(st.just("state"), _keys, st.fixed_dictionaries({k: _maybe for k in _STATE_GAUGE})),
    st.tuples(st.just("forget"), _keys),
)


@settings(max_examples=300, deadline=None)
@given(max_objects=st.sampled_from([None, 0, 2]), ops=st.lists(_op, max_size=40))
def test_the_series_are_what_prometheus_clients_families_would_hold(max_objects: int | None, ops: list[Any]) -> None:
    ours, ref = Metrics(max_objects=max_objects), Reference(max_objects)
    for op in ops:
        kind, (ns, name), *rest = op
        if kind == "started":
            ours.run_started(ns, name, trigger=rest[0], lag_seconds=rest[1])
            ref.run_started(ns, name, rest[0], rest[1])
        elif kind == "finished":
            result, duration, code, when = rest
            ours.run_finished(ns, name, result=result, duration_seconds=duration, exit_code=code, finished_at=when)
            ref.run_finished(ns, name, result, duration, code, when)
        elif kind == "outcome":
            ours.slot_outcome(ns, name, outcome=rest[0], n=rest[1])
            ref.slot_outcome(ns, name, rest[0], rest[1])
        elif kind == "state":
            ours.set_state(ns, name, **rest[0])
            ref.set_state(ns, name, rest[0])
        else:
            ours.forget(ns, name)
            ref.forget(ns, name)
    expected = _samples(generate_latest(ref.registry).decode())
    assert _samples(generate_latest(ours.registry).decode()) == expected
    assert _samples(ours.exposition().decode()) == expected
    assert ours.tracked == frozenset(ref.objects)
    assert ours.registry.get_sample_value("punctual_metrics_objects_overflow_total") == ref.overflow
