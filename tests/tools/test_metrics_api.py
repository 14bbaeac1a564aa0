"""Unit tests of punctual.runtime.metrics: each API call and the series it leaves behind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from punctual.runtime.metrics import METRIC_NAMES, Metrics

NS, NAME = "team-a", "nightly"
OBJ = {"namespace": NS, "scheduledjob": NAME}


def samples(m: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Parse the exposition back: (sample name, labels) -> value."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(m.exposition().decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return samples(m).get((name, frozenset(labels.items())))


def series_of(m: Metrics, namespace: str, name: str) -> list[str]:
    return sorted(
        n for (n, labels) in samples(m) if ("namespace", namespace) in labels and ("scheduledjob", name) in labels
    )


def full_state(m: Metrics, namespace: str = NS, name: str = NAME) -> None:
    m.set_state(
        namespace,
        name,
        active=2,
        queued=1,
        next_run=datetime(2030, 1, 1, tzinfo=UTC),
        interval_seconds=3600,
        budget_seconds=900,
        oldest_active_start=1_700_000_000.0,
        suspended=False,
        paused=True,
        last_success=1_699_999_000.0,
        last_failure=1_699_998_000.0,
    )


def test_registry_is_private_per_instance() -> None:
    a, b = Metrics(), Metrics()
    a.run_started(NS, NAME, trigger="manual", lag_seconds=None)
    assert value(a, "punctual_runs_started_total", **OBJ, trigger="manual") == 1
    assert value(b, "punctual_runs_started_total", **OBJ, trigger="manual") is None


def test_build_info_is_one_with_version() -> None:
    m = Metrics(version="9.9.9")
    assert value(m, "punctual_build_info", version="9.9.9") == 1


def test_run_started_counts_by_trigger_and_observes_lag() -> None:
    m = Metrics()
    m.run_started(NS, NAME, trigger="schedule", lag_seconds=0.2)
    m.run_started(NS, NAME, trigger="catchup", lag_seconds=400)
    m.run_started(NS, NAME, trigger="manual", lag_seconds=None)
    assert value(m, "punctual_runs_started_total", **OBJ, trigger="schedule") == 1
    assert value(m, "punctual_runs_started_total", **OBJ, trigger="catchup") == 1
    assert value(m, "punctual_runs_started_total", **OBJ, trigger="manual") == 1
    assert value(m, "punctual_start_lag_seconds_count", **OBJ) == 2
    assert value(m, "punctual_start_lag_seconds_sum", **OBJ) == pytest.approx(400.2)
    assert value(m, "punctual_start_lag_seconds_bucket", **OBJ, le="0.25") == 1
    assert value(m, "punctual_start_lag_seconds_bucket", **OBJ, le="600.0") == 2


def test_negative_lag_from_clock_skew_counts_as_zero() -> None:
    m = Metrics()
    m.run_started(NS, NAME, trigger="schedule", lag_seconds=-0.5)
    assert value(m, "punctual_start_lag_seconds_sum", **OBJ) == 0
    assert value(m, "punctual_start_lag_seconds_bucket", **OBJ, le="0.05") == 1


def test_first_event_creates_zeroed_counters_so_increase_sees_it() -> None:
    m = Metrics()
    m.run_started(NS, NAME, trigger="schedule", lag_seconds=1)
    for result in ("Succeeded", "Failed", "Replaced"):
        assert value(m, "punctual_runs_finished_total", **OBJ, result=result) == 0
    for name in ("skipped", "missed", "dropped"):
        assert value(m, f"punctual_slots_{name}_total", **OBJ) == 0
    assert value(m, "punctual_runs_replaced_total", **OBJ) == 0


def test_run_finished_succeeded_sets_last_success_and_exit_code() -> None:
    m = Metrics()
    at = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    m.run_finished(NS, NAME, result="Succeeded", duration_seconds=42, exit_code=0, finished_at=at)
    assert value(m, "punctual_runs_finished_total", **OBJ, result="Succeeded") == 1
    assert value(m, "punctual_last_success_timestamp_seconds", **OBJ) == at.timestamp()
    assert value(m, "punctual_last_failure_timestamp_seconds", **OBJ) is None
    assert value(m, "punctual_last_run_exit_code", **OBJ) == 0
    assert value(m, "punctual_run_duration_seconds_count", **OBJ, result="Succeeded") == 1
    assert value(m, "punctual_run_duration_seconds_bucket", **OBJ, result="Succeeded", le="60.0") == 1
    assert value(m, "punctual_run_duration_seconds_bucket", **OBJ, result="Succeeded", le="30.0") == 0


def test_run_finished_failed_sets_last_failure() -> None:
    m = Metrics()
    m.run_finished(NS, NAME, result="Failed", duration_seconds=5, exit_code=3, finished_at=1_700_000_000)
    assert value(m, "punctual_runs_finished_total", **OBJ, result="Failed") == 1
    assert value(m, "punctual_last_failure_timestamp_seconds", **OBJ) == 1_700_000_000
    assert value(m, "punctual_last_success_timestamp_seconds", **OBJ) is None
    assert value(m, "punctual_last_run_exit_code", **OBJ) == 3


def test_failed_without_exit_code_removes_stale_exit_code() -> None:
    m = Metrics()
    m.run_finished(NS, NAME, result="Failed", duration_seconds=5, exit_code=3, finished_at=1)
    m.run_finished(NS, NAME, result="Failed", duration_seconds=None, exit_code=None, finished_at=2)
    assert value(m, "punctual_last_run_exit_code", **OBJ) is None
    assert value(m, "punctual_run_duration_seconds_count", **OBJ, result="Failed") == 1


def test_replaced_run_does_not_touch_exit_code_or_last_times() -> None:
    m = Metrics()
    m.run_finished(NS, NAME, result="Succeeded", duration_seconds=1, exit_code=0, finished_at=10)
    m.run_finished(NS, NAME, result="Replaced", duration_seconds=7, exit_code=137, finished_at=20)
    assert value(m, "punctual_runs_finished_total", **OBJ, result="Replaced") == 1
    assert value(m, "punctual_last_run_exit_code", **OBJ) == 0
    assert value(m, "punctual_last_success_timestamp_seconds", **OBJ) == 10
    assert value(m, "punctual_last_failure_timestamp_seconds", **OBJ) is None


@pytest.mark.parametrize(
    ("outcome", "metric"),
    [
        ("Skipped", "punctual_slots_skipped_total"),
        ("Missed", "punctual_slots_missed_total"),
        ("Dropped", "punctual_slots_dropped_total"),
        ("Replaced", "punctual_runs_replaced_total"),
    ],
)
def test_slot_outcome_counts(outcome: str, metric: str) -> None:
    m = Metrics()
    m.slot_outcome(NS, NAME, outcome=outcome)  # type: ignore[arg-type]
    m.slot_outcome(NS, NAME, outcome=outcome, n=4)  # type: ignore[arg-type]
    assert value(m, metric, **OBJ) == 5


def test_set_state_sets_every_gauge() -> None:
    m = Metrics()
    full_state(m)
    assert value(m, "punctual_active_runs", **OBJ) == 2
    assert value(m, "punctual_queued_slots", **OBJ) == 1
    assert value(m, "punctual_next_run_timestamp_seconds", **OBJ) == datetime(2030, 1, 1, tzinfo=UTC).timestamp()
    assert value(m, "punctual_schedule_interval_seconds", **OBJ) == 3600
    assert value(m, "punctual_run_duration_budget_seconds", **OBJ) == 900
    assert value(m, "punctual_oldest_active_run_start_timestamp_seconds", **OBJ) == 1_700_000_000
    assert value(m, "punctual_suspended", **OBJ) == 0
    assert value(m, "punctual_paused", **OBJ) == 1
    assert value(m, "punctual_last_success_timestamp_seconds", **OBJ) == 1_699_999_000
    assert value(m, "punctual_last_failure_timestamp_seconds", **OBJ) == 1_699_998_000


def test_set_state_none_removes_series() -> None:
    m = Metrics()
    full_state(m)
    m.set_state(
        NS,
        NAME,
        active=0,
        queued=0,
        next_run=None,
        interval_seconds=None,
        budget_seconds=None,
        oldest_active_start=None,
        suspended=True,
        paused=None,
        last_success=None,
        last_failure=None,
    )
    assert value(m, "punctual_active_runs", **OBJ) == 0
    assert value(m, "punctual_suspended", **OBJ) == 1
    for gone in (
        "punctual_paused",
        "punctual_next_run_timestamp_seconds",
        "punctual_schedule_interval_seconds",
        "punctual_run_duration_budget_seconds",
        "punctual_oldest_active_run_start_timestamp_seconds",
        "punctual_last_success_timestamp_seconds",
        "punctual_last_failure_timestamp_seconds",
    ):
        assert value(m, gone, **OBJ) is None, gone


def test_forget_removes_every_series_of_that_object_only() -> None:
    m = Metrics()
    for name in (NAME, "other"):
        m.run_started(NS, name, trigger="schedule", lag_seconds=0.1)
        m.run_finished(NS, name, result="Failed", duration_seconds=3, exit_code=1, finished_at=5)
        m.slot_outcome(NS, name, outcome="Missed")
        full_state(m, NS, name)
    before_other = series_of(m, NS, "other")
    assert series_of(m, NS, NAME)
    m.forget(NS, NAME)
    assert series_of(m, NS, NAME) == []
    assert series_of(m, NS, "other") == before_other
    assert m.tracked == frozenset({(NS, "other")})
    m.forget(NS, "never-seen")  # harmless


def test_same_name_in_other_namespace_is_separate() -> None:
    m = Metrics()
    m.slot_outcome("a", NAME, outcome="Dropped")
    m.slot_outcome("b", NAME, outcome="Dropped", n=2)
    m.forget("a", NAME)
    assert value(m, "punctual_slots_dropped_total", namespace="b", scheduledjob=NAME) == 2


def test_max_objects_guard_ignores_new_objects_and_counts_overflow() -> None:
    m = Metrics(max_objects=1)
    m.slot_outcome(NS, "first", outcome="Missed")
    m.slot_outcome(NS, "second", outcome="Missed")
    full_state(m, NS, "second")
    assert series_of(m, NS, "second") == []
    assert value(m, "punctual_metrics_objects_overflow_total") == 2
    m.slot_outcome(NS, "first", outcome="Missed")  # known objects keep updating
    assert value(m, "punctual_slots_missed_total", namespace=NS, scheduledjob="first") == 2
    m.forget(NS, "first")
    m.slot_outcome(NS, "second", outcome="Missed")  # room again
    assert value(m, "punctual_slots_missed_total", namespace=NS, scheduledjob="second") == 1


def test_operator_level_metrics() -> None:
    m = Metrics()
    m.observe_reconcile(0.02)
    m.api_request("list")
    m.api_request("patch", error_code=409)
    m.api_request("create", error_code=0)
    m.set_heap_size(7)
    m.set_scheduledjobs(3)
    m.watch_event("jobs")
    m.watch_event("jobs")
    m.watch_event("pods")
    assert value(m, "punctual_reconcile_duration_seconds_count") == 1
    assert value(m, "punctual_reconcile_duration_seconds_bucket", le="0.025") == 1
    assert value(m, "punctual_api_requests_total", verb="list") == 1
    assert value(m, "punctual_api_requests_total", verb="patch") == 1
    assert value(m, "punctual_api_request_errors_total", verb="patch", code="409") == 1
    assert value(m, "punctual_api_request_errors_total", verb="create", code="0") == 1
    assert value(m, "punctual_api_request_errors_total", verb="list", code="409") is None
    assert value(m, "punctual_scheduler_heap_size") == 7
    assert value(m, "punctual_scheduledjobs") == 3
    assert value(m, "punctual_watch_events_total", resource="jobs") == 2
    assert value(m, "punctual_watch_events_total", resource="pods") == 1
    assert value(m, "punctual_watch_events_total", resource="scheduledjobs") is None


def test_set_shard_reports_this_shard_and_the_configured_count() -> None:
    m = Metrics()
    assert b"punctual_shards{" not in m.exposition()  # absent until the runtime sets it
    m.set_shard(2, 4)
    assert b'punctual_shards{shard="2"} 4.0' in m.exposition()
    assert value(m, "punctual_shards", shard="2") == 4


def test_set_shard_unsharded_and_a_second_call_replaces_the_first() -> None:
    m = Metrics()
    m.set_shard(1, 3)
    m.set_shard(0, 1)
    assert value(m, "punctual_shards", shard="0") == 1
    assert [labels for (n, labels) in samples(m) if n == "punctual_shards"] == [frozenset({("shard", "0")})]


def test_set_leader_reports_one_series_for_this_shard() -> None:
    m = Metrics()
    m.set_shard(1, 3)
    m.set_leader(False)
    assert value(m, "punctual_leader", shard="1") == 0, "a standby reports 0"
    m.set_leader(True)
    assert value(m, "punctual_leader", shard="1") == 1
    assert [labels for (n, labels) in samples(m) if n == "punctual_leader"] == [frozenset({("shard", "1")})]


def test_exposition_has_no_created_samples() -> None:
    m = Metrics()
    m.run_started(NS, NAME, trigger="schedule", lag_seconds=1)
    assert b"_created" not in m.exposition()


def test_every_declared_family_is_exposed() -> None:
    m = Metrics()
    m.run_started(NS, NAME, trigger="schedule", lag_seconds=1)
    m.run_finished(NS, NAME, result="Succeeded", duration_seconds=1, exit_code=0, finished_at=1)
    full_state(m)
    m.api_request("get", error_code=500)
    m.observe_reconcile(0.1)
    m.objects_overflow.inc(0)
    m.set_shard(0, 1)
    exposed = {f.name for f in text_string_to_metric_families(m.exposition().decode())}
    # The parser strips _total from counter family names; compare on that basis.
    declared = {n.removesuffix("_total") for n in METRIC_NAMES}
    assert declared == exposed


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.run_started(NS, NAME, trigger="cron", lag_seconds=0),
        lambda m: m.run_finished(NS, NAME, result="Ok", duration_seconds=1, exit_code=0, finished_at=1),
        lambda m: m.slot_outcome(NS, NAME, outcome="Lost"),
        lambda m: m.slot_outcome(NS, NAME, outcome="Missed", n=-1),
        lambda m: m.run_finished(
            NS, NAME, result="Failed", duration_seconds=1, exit_code=1, finished_at=datetime(2024, 1, 1)
        ),
        lambda m: m.run_started("", NAME, trigger="manual", lag_seconds=None),
        lambda m: m.api_request(""),
        lambda m: m.set_shard(3, 3),
        lambda m: m.set_shard(-1, 3),
        lambda m: m.set_shard(0, 0),
    ],
    ids=[
        "bad trigger",
        "bad result",
        "bad outcome",
        "negative n",
        "naive datetime",
        "empty ns",
        "empty verb",
        "shard not below shards",
        "negative shard",
        "no shards",
    ],
)
def test_invalid_input_is_refused(call: object) -> None:
    m = Metrics()
    with pytest.raises(ValueError):
        call(m)  # type: ignore[operator]
    assert series_of(m, NS, NAME) == []


def test_set_state_twice_keeps_the_series_and_a_finished_run_still_moves_the_last_success() -> None:
    m = Metrics()
    state: dict[str, Any] = dict(
        active=1, queued=0, next_run=100.0, interval_seconds=60.0, budget_seconds=None,
        oldest_active_start=50.0, suspended=False, paused=False, last_success=10.0, last_failure=None,
    )  # fmt: skip
    m.set_state("ns", "a", **state)
    m.set_state("ns", "a", **{**state, "oldest_active_start": None, "active": 0})
    m.set_state("ns", "a", **{**state, "oldest_active_start": None, "active": 0})
    value = m.registry.get_sample_value
    labels = {"namespace": "ns", "scheduledjob": "a"}
    assert value("punctual_active_runs", labels) == 0
    assert value("punctual_oldest_active_run_start_timestamp_seconds", labels) is None
    m.run_finished("ns", "a", result="Succeeded", duration_seconds=1.0, exit_code=0, finished_at=20.0)
    assert value("punctual_last_success_timestamp_seconds", labels) == 20.0
    # The status says 10 again (as set_state was last told): published again, not skipped as unchanged.
    m.set_state("ns", "a", **state)
    assert value("punctual_last_success_timestamp_seconds", labels) == 10.0
    assert value("punctual_oldest_active_run_start_timestamp_seconds", labels) == 50.0
    m.forget("ns", "a")
    assert value("punctual_active_runs", labels) is None
    m.set_state("ns", "a", **state)  # after forget, everything is published afresh
    assert value("punctual_active_runs", labels) == 1
