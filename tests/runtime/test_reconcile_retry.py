"""The operator's reconcile of a ScheduledJob with ``spec.retry``: a failed Job in the cache plans its
slot's retry in status.retries; when due, the reconcile creates the retry's Job (attempt annotations)
and the metrics count it as started by trigger retry, with no start lag (it is late by design)."""

from __future__ import annotations

import asyncio
import copy
from datetime import datetime, timedelta
from typing import Any

from reconcile_support import CREATED, KEY, TEMPLATE, UID, FakeJobControl

from punctual.api import Trigger, format_time
from punctual.bodies import RawBody as Body
from punctual.core import parse_spec
from punctual.jobs import ANNOTATION_ATTEMPT, ANNOTATION_RETRY_OF, Owner, build_job, retry_job_name, slot_job_name
from punctual.runtime.cache import Cache
from punctual.runtime.reconcile import Reconciled, reconcile

TEN = CREATED + timedelta(hours=10)
SPEC: dict[str, Any] = {"schedule": "0 * * * *", "jobTemplate": TEMPLATE, "retry": {"limit": 2, "delay": "5m"}}
FIRST = slot_job_name("report", TEN, seconds=False)


def scheduledjob() -> Body:
    return {
        "metadata": {
            "namespace": "default",
            "name": "report",
            "uid": UID,
            "generation": 1,
            "resourceVersion": "1",
            "creationTimestamp": format_time(CREATED),
        },
        "spec": copy.deepcopy(SPEC),
        "status": {"scheduledThrough": format_time(TEN - timedelta(seconds=1)), "observedSchedule": "UTC: 0 * * * *"},
    }


def reconcile_at(cache: Cache, control: FakeJobControl, now: datetime) -> Reconciled:
    pending = control.statuses[-1] if control.statuses else None
    return asyncio.run(reconcile(KEY, cache=cache, control=control, now=now, pending=pending))


def failed(job: Body, *, when: datetime) -> Body:
    body = copy.deepcopy(job)
    body["metadata"]["resourceVersion"] = "2"
    body["status"] = {
        "startTime": format_time(TEN),
        "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
    }
    body["status"]["conditions"][0]["lastTransitionTime"] = format_time(when)
    return body


def test_a_failed_job_plans_its_retry_and_the_due_retry_is_created_and_counted() -> None:
    from punctual.runtime.metrics import Metrics
    from punctual.runtime.observe import observe

    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    cache.put_scheduledjob(scheduledjob())
    control = FakeJobControl(deletes=False)
    reconcile_at(cache, control, TEN)
    (first,) = control.created
    assert first["metadata"]["name"] == FIRST
    cache.remember_job(KEY, first)
    cache.remember_job(KEY, failed(first, when=TEN + timedelta(minutes=1)))

    planned = reconcile_at(cache, control, TEN + timedelta(minutes=1))
    assert len(control.created) == 1
    retry = retry_job_name(FIRST, 2)
    [pending] = control.statuses[-1].retries
    assert (pending.job, pending.attempt, pending.dueTime) == (retry, 2, TEN + timedelta(minutes=6))
    assert "RetryScheduled" in {e.reason for e in control.events}
    assert planned.decision is not None and planned.decision.wake_at == TEN + timedelta(minutes=6)

    due = TEN + timedelta(minutes=6)
    done = reconcile_at(cache, control, due)
    created = control.created[-1]
    assert created["metadata"]["name"] == retry
    assert created["metadata"]["labels"]["punctual.dev/trigger"] == Trigger.RETRY.value
    annotations = created["metadata"]["annotations"]
    assert (annotations[ANNOTATION_ATTEMPT], annotations[ANNOTATION_RETRY_OF]) == ("2", FIRST)
    assert control.statuses[-1].retries == []
    metrics = Metrics()
    observe(metrics, KEY, done, body=cache.sjs[KEY], now=due, default_time_zone="UTC")
    labels = {"namespace": "default", "scheduledjob": "report"}
    value = metrics.registry.get_sample_value
    assert value("punctual_runs_started_total", {**labels, "trigger": "retry"}) == 1
    assert value("punctual_start_lag_seconds_count", labels) is None  # six minutes late by design


def test_the_manifest_of_a_retry_matches_build_job() -> None:
    spec = parse_spec(SPEC)
    manifest = build_job(
        Owner("default", "report", UID), spec, job_name="x-r2", slot=TEN, trigger=Trigger.RETRY, attempt=2, retry_of="x"
    )
    env = manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PUNCTUAL_ATTEMPT", "value": "2"} in env
    plain = build_job(Owner("default", "report", UID), spec, job_name="x", slot=TEN, trigger=Trigger.SCHEDULE)
    assert ANNOTATION_ATTEMPT not in plain["metadata"]["annotations"]
    assert all(e["name"] != "PUNCTUAL_ATTEMPT" for e in plain["spec"]["template"]["spec"]["containers"][0]["env"])
