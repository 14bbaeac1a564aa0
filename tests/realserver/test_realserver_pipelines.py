"""Pipelines (``spec.dependsOn``) on the real API server, through the real Job controller, with the
operator as a process under the chart's ServiceAccount (a 403 in its log fails the test)."""

from __future__ import annotations

from typing import Any

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    apply_in,
    condition,
    events_of,
    history,
    jobs_of,
    parse_time,
    scheduled_job,
    sj,
)

EVERY_4S = "*/4 * * * * *"
YEARLY = "0 0 1 1 *"


def needs(*names: Any) -> list[dict[str, Any]]:
    return [n if isinstance(n, dict) else {"name": n} for n in names]


def succeeded(server: RealServer, namespace: str, name: str) -> list[dict[str, Any]]:
    return [r for r in history(server, namespace, name) if r.get("result") == "Succeeded"]


def test_a_three_node_pipeline_with_fan_in_runs_each_logical_time_once(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("extract", EVERY_4S, duration="1s", successfulJobsHistoryLimit=10))
    apply_in(real_server, namespace, scheduled_job("transform", None, duration="1s", dependsOn=needs("extract")))
    apply_in(
        real_server,
        namespace,
        scheduled_job(
            "report", None, duration="1s", dependsOn=needs("extract", "transform"), concurrencyPolicy="Queue"
        ),
    )
    done = wait_for(
        lambda: (found := succeeded(real_server, namespace, "report")) and len(found) >= 2 and found,
        60,
        interval=0.5,
        what="two succeeded report runs",
    )
    extract_times = {r["scheduledTime"] for r in succeeded(real_server, namespace, "extract")}
    transform_times = {r["scheduledTime"] for r in succeeded(real_server, namespace, "transform")}
    for record in done:
        assert record["trigger"] == "upstream"
        assert record["scheduledTime"] in extract_times and record["scheduledTime"] in transform_times
    for name in ("transform", "report"):
        slots = [
            j["metadata"]["annotations"]["punctual.dev/scheduled-time"] for j in jobs_of(real_server, namespace, name)
        ]
        assert len(slots) == len(set(slots)), f"{name} ran a logical time twice"
        assert all(
            j["metadata"]["labels"]["punctual.dev/trigger"] == "upstream" for j in jobs_of(real_server, namespace, name)
        )
    status = sj(real_server, namespace, "report")["status"]
    assert parse_time(status["upstreamThrough"]) >= min(parse_time(r["scheduledTime"]) for r in done)
    valid = condition(real_server, namespace, "report", "DependenciesValid")
    assert valid is not None and (valid["status"], valid["reason"]) == ("True", "Valid")


def test_invalid_dependencies_set_the_condition_and_an_event(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("elsewhere", None, dependsOn=needs("other/extract")))
    apply_in(real_server, namespace, scheduled_job("orphan", None, dependsOn=needs("nope")))
    apply_in(real_server, namespace, scheduled_job("loop-a", None, dependsOn=needs("loop-b")))
    apply_in(real_server, namespace, scheduled_job("loop-b", None, dependsOn=needs("loop-a")))
    for name, reason in (
        ("elsewhere", "CrossNamespace"),
        ("orphan", "UpstreamMissing"),
        ("loop-a", "Cycle"),
        ("loop-b", "Cycle"),
    ):
        cond = wait_for(
            lambda name=name: condition(real_server, namespace, name, "DependenciesValid"), 30, what=f"{name} decided"
        )
        assert (cond["status"], cond["reason"]) == ("False", reason), name
        wait_for(
            lambda name=name, reason=reason: [
                e for e in events_of(real_server, namespace, name) if e["reason"] == f"Dependencies{reason}"
            ],
            30,
            what=f"the Dependencies{reason} Event of {name}",
        )
    cond = condition(real_server, namespace, "loop-a", "DependenciesValid")
    assert cond is not None and cond["message"] == "dependsOn forms a cycle: loop-a -> loop-b -> loop-a"
    assert jobs_of(real_server, namespace, "orphan") == []


def test_a_deleted_upstream_stops_the_downstream_with_the_condition(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("extract", YEARLY))
    apply_in(real_server, namespace, scheduled_job("transform", None, dependsOn=needs("extract")))
    wait_for(
        lambda: (condition(real_server, namespace, "transform", "DependenciesValid") or {}).get("status") == "True",
        30,
        what="valid dependencies",
    )
    real_server.kubectl("delete", "scheduledjob", "extract", "-n", namespace)
    cond = wait_for(
        lambda: (
            (c := condition(real_server, namespace, "transform", "DependenciesValid")) and c["status"] == "False" and c
        ),
        30,
        what="the condition after the upstream was deleted",
    )
    assert (cond["reason"], cond["message"]) == ("UpstreamMissing", f"no ScheduledJob extract in namespace {namespace}")


def test_a_scheduled_downstream_waits_for_its_upstream_then_misses_its_deadline(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("extract", YEARLY))
    apply_in(
        real_server,
        namespace,
        scheduled_job("load", EVERY_4S, dependsOn=needs("extract"), startingDeadlineSeconds=2, maxQueued=3),
    )
    queued = wait_for(
        lambda: (sj(real_server, namespace, "load").get("status") or {}).get("queued"), 30, interval=0.3, what="a wait"
    )
    assert queued[0]["reason"] == "WaitingForUpstream"
    missed = wait_for(
        lambda: [r for r in history(real_server, namespace, "load") if r.get("result") == "Missed"],
        30,
        interval=0.5,
        what="a slot that waited past its deadline",
    )
    assert missed[0]["reason"] == "DeadlineExceeded"
    assert jobs_of(real_server, namespace, "load") == []
