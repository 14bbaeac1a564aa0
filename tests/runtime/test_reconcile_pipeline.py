"""A downstream's reconcile (``spec.dependsOn``) against a fake JobControl, and the upstream index.

The upstreams' status (their ``status.history``) comes from the ScheduledJob cache, as in the
operator; the index upstream -> downstreams wakes the downstreams when it changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reconcile_support import CREATED, TEMPLATE, FakeJobControl, at

from punctual.api import ScheduledJobStatus, format_time
from punctual.bodies import RawBody as Body
from punctual.core.pipeline import upstream_job_name
from punctual.runtime.cache import Cache, Key
from punctual.runtime.reconcile import Reconciled, reconcile

REPORT: Key = ("default", "report")


def sj(name: str, *, rv: int = 1, history: Sequence[tuple[str, str]] = (), **spec: Any) -> Body:
    return {
        "metadata": {
            "namespace": "default",
            "name": name,
            "uid": f"u-{name}",
            "generation": 1,
            "resourceVersion": str(rv),
            "creationTimestamp": format_time(CREATED),
        },
        "spec": {"jobTemplate": TEMPLATE, **spec},
        "status": {
            "history": [
                {"job": f"{name}-{t}", "scheduledTime": format_time(at(t)), "trigger": "schedule", "result": r}
                for t, r in history
            ]
        },
    }


def report(**spec: Any) -> Body:
    return sj("report", dependsOn=[{"name": "extract"}, {"name": "load"}], **spec)


def feed(cache: Cache, *bodies: Body) -> None:
    """As the operator's ScheduledJob event handler does: the index first, then the shard's cache."""
    for body in bodies:
        cache.upstreams.on_scheduledjob("MODIFIED", body)
        cache.put_scheduledjob(body)


def run(
    cache: Cache, control: FakeJobControl, now: datetime, *, pending: ScheduledJobStatus | None = None
) -> Reconciled:
    return asyncio.run(reconcile(REPORT, cache=cache, control=control, now=now, pending=pending))


def test_fan_in_downstream_creates_one_job_for_the_logical_time_both_upstreams_succeeded_for() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    feed(
        cache,
        report(),
        sj("extract", history=[("10:00", "Succeeded")], schedule="0 * * * *"),
        sj("load", history=[("10:00", "Running")], schedule="0 * * * *"),
    )
    control = FakeJobControl(deletes=False)
    first = run(cache, control, at("10:05"))
    assert control.created == []  # load still running
    feed(cache, sj("load", rv=2, history=[("10:00", "Succeeded")], schedule="0 * * * *"))
    second = run(cache, control, at("10:06"), pending=first.decision.status if first.decision else None)
    assert [m["metadata"]["name"] for m in control.created] == [upstream_job_name("report", at("10:00"))]
    manifest = control.created[0]
    assert manifest["metadata"]["annotations"]["punctual.dev/scheduled-time"] == "2026-01-05T10:00:00Z"
    assert manifest["metadata"]["labels"]["punctual.dev/trigger"] == "upstream"
    assert second.decision is not None and second.decision.status.upstreamThrough == at("10:00")
    # Re-reading the same upstream status (another event, a restart's relist) never runs it twice.
    run(cache, control, at("10:07"), pending=second.decision.status)
    run(cache, control, at("10:08"))  # and with the status written before the create lost
    assert len(control.created) == 1


def test_a_missing_upstream_sets_the_condition_and_posts_one_event() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    feed(cache, report(), sj("extract", schedule="0 * * * *"))
    control = FakeJobControl(deletes=False)
    done = run(cache, control, at("10:00"))
    assert done.decision is not None
    cond = next(c for c in done.decision.status.conditions if c.type == "DependenciesValid")
    assert (cond.status, cond.reason, cond.message) == (
        "False",
        "UpstreamMissing",
        "no ScheduledJob load in namespace default",
    )
    assert [(e.type, e.reason) for e in control.events] == [("Warning", "DependenciesUpstreamMissing")]
    run(cache, control, at("10:01"), pending=done.decision.status)
    assert len(control.events) == 1
    assert control.created == []


def test_the_index_wakes_the_downstreams_of_this_shard_when_an_upstreams_runs_change() -> None:
    woken: list[Key] = []
    mine = {("default", "report"), ("default", "audit")}
    cache = Cache(mine=lambda key: key in mine, wake=woken.append)
    feed(
        cache,
        sj("extract", schedule="0 * * * *"),
        report(),
        sj("audit", dependsOn=[{"name": "extract"}]),
        sj("other-shard", dependsOn=[{"name": "extract"}]),
    )
    woken.clear()
    feed(cache, sj("extract", rv=2, history=[("10:00", "Running")], schedule="0 * * * *"))
    assert sorted(woken) == [("default", "audit"), ("default", "report")]
    woken.clear()
    feed(cache, sj("extract", rv=3, history=[("10:00", "Running")], schedule="0 * * * *"))
    assert woken == []  # nothing a downstream reads changed
    feed(cache, sj("extract", rv=2, history=[], schedule="0 * * * *"))
    assert woken == []  # an older event than the one seen
    cache.upstreams.on_scheduledjob("DELETED", sj("extract", rv=4))
    assert sorted(woken) == [("default", "audit"), ("default", "report")]
    woken.clear()
    # A downstream that drops the dependency is no longer woken.
    feed(cache, sj("extract", rv=5, schedule="0 * * * *"), sj("audit", rv=2, schedule="0 * * * *"))
    woken.clear()
    feed(cache, sj("extract", rv=6, history=[("11:00", "Succeeded")], schedule="0 * * * *"))
    assert woken == [("default", "report")]


def test_an_upstream_triggered_run_counts_as_started_but_not_as_start_lag() -> None:
    from punctual.runtime.metrics import Metrics
    from punctual.runtime.observe import observe

    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    feed(
        cache,
        report(),
        sj("extract", history=[("10:00", "Succeeded")], schedule="0 * * * *"),
        sj("load", history=[("10:00", "Succeeded")], schedule="0 * * * *"),
    )
    metrics = Metrics()
    done = run(cache, FakeJobControl(deletes=False), at("10:30"))
    observe(metrics, REPORT, done, body=cache.sjs[REPORT], now=at("10:30"), default_time_zone="UTC")
    labels = {"namespace": "default", "scheduledjob": "report"}
    assert metrics.registry.get_sample_value("punctual_runs_started_total", {**labels, "trigger": "upstream"}) == 1
    assert metrics.registry.get_sample_value("punctual_start_lag_seconds_count", labels) is None  # 1 with a lag
