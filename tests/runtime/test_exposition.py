"""/metrics: the per-ScheduledJob families written by ObjectSeries.render, byte for byte what
prometheus_client's generate_latest writes for them, nothing of the registry lost, and the same
series as prometheus_client's own Counter, Gauge and Histogram would hold for the same reports."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from punctual.runtime.metric_families import PER_OBJECT, _WithoutCreated
from punctual.runtime.metrics import Metrics

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def _varied() -> Metrics:
    m = Metrics(max_objects=6)
    m.observe_reconcile(0.02)
    m.api_request("create")
    m.api_request("patch", error_code=409)
    m.watch_event("jobs")
    m.set_shard(0, 2)
    m.set_leader(True)
    m.set_scheduledjobs(7)
    for i, (ns, name) in enumerate(
        [("default", "a"), ("team-b", "report"), ("default", 'odd"quote'), ("x", "back\\slash"), ("y", "new\nline")]
    ):
        m.run_started(ns, name, trigger="schedule", lag_seconds=0.3 * i)
        m.run_started(ns, name, trigger="manual", lag_seconds=None)
        m.run_finished(ns, name, result="Succeeded", duration_seconds=12.5 + i, exit_code=0, finished_at=NOW)
        if i % 2:
            m.run_finished(ns, name, result="Failed", duration_seconds=7200.0, exit_code=3, finished_at=NOW)
            m.slot_outcome(ns, name, outcome="Skipped", n=2)
        m.set_state(
            ns,
            name,
            active=i,
            queued=None if i == 2 else 1,
            next_run=NOW,
            interval_seconds=60.0 * (i + 1),
            budget_seconds=1e7 if i == 3 else None,
            oldest_active_start=NOW if i else None,
            suspended=bool(i % 2),
            paused=False,
            last_success=NOW,
            last_failure=None,
        )
    m.run_started("gone", "soon", trigger="schedule", lag_seconds=1.0)
    m.forget("gone", "soon")
    m.run_started("z", "one", trigger="schedule", lag_seconds=700.0)  # past the last lag bucket
    m.run_started("z", "two", trigger="schedule", lag_seconds=1.0)  # over max_objects: not tracked
    return m


def _reference(m: Metrics) -> bytes:
    """generate_latest of the same families in the same order (without *_created, as exposed)."""
    families = _WithoutCreated(lambda: [*m._process_wide_families(), m._series])
    return generate_latest(families)


def test_the_exposition_is_byte_for_byte_generate_latests() -> None:
    m = _varied()
    text = m.exposition()
    assert text == _reference(m)
    # and the state is as varied as meant: escaped values, the overflow, a forgotten object
    assert b'scheduledjob="odd\\"quote"' in text and b'scheduledjob="new\\nline"' in text
    assert b'namespace="gone"' not in text and b'scheduledjob="two"' not in text
    assert b"punctual_metrics_objects_overflow_total 1.0" in text
    assert b'punctual_start_lag_seconds_bucket{le="+Inf",namespace="z",scheduledjob="one"} 1.0' in text


def test_nothing_of_the_registry_is_lost() -> None:
    m = _varied()

    def samples(text: str) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        return {
            (s.name, tuple(sorted(s.labels.items())), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if not s.name.endswith("_created")
        }

    everything = samples(generate_latest(m.registry).decode())
    assert samples(m.exposition().decode()) == everything
    assert len(everything) > 200


def test_an_empty_metrics_exposes_every_family() -> None:
    m = Metrics()
    assert m.exposition() == _reference(m)
    assert m.exposition().count(b"# TYPE ") == len(m._process_wide_families()) + len(PER_OBJECT)


def test_it_can_be_written_from_a_thread_while_the_loop_updates() -> None:
    m = Metrics()
    stop = threading.Event()
    failures: list[BaseException] = []

    def scrape() -> None:
        try:
            while not stop.is_set():
                list(text_string_to_metric_families(m.exposition().decode()))
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=scrape)
    thread.start()
    try:
        for i in range(600):  # new series, and others dropped, while the thread writes them out
            m.run_started("ns", f"sj-{i}", trigger="schedule", lag_seconds=0.1)
            m.run_finished("ns", f"sj-{i}", result="Succeeded", duration_seconds=1.0, exit_code=0, finished_at=NOW)
            if i % 3 == 0:
                m.forget("ns", f"sj-{i // 2}")
    finally:
        stop.set()
        thread.join(30)
    assert not failures, failures
