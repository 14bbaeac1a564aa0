"""A backfill through the reconcile's steps, against a fake JobControl: request, runs, progress, adoption.

The ScheduledJob is ``*/30 * * * *``, created at midnight; the backfill annotation asks for
01:00..02:00 (three slots) at 10:00, one run at a time.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from reconcile_support import CREATED, KEY, TEMPLATE, UID, FakeJobControl, at, job_name

from punctual.api import BackfillState, format_time
from punctual.bodies import RawBody as Body
from punctual.core import BackfillRequest, encode_request
from punctual.jobs import ANNOTATION_BACKFILL_CANCEL, ANNOTATION_BACKFILL_REQUEST
from punctual.runtime.cache import Cache, Key
from punctual.runtime.reconcile import Reconciled, reconcile

TEN = CREATED + timedelta(hours=10)
TOKEN = "2026-01-05T10:00:00.000000001Z"


def scheduledjob(annotations: Mapping[str, str], *, version: str = "1", **spec: Any) -> Body:
    return {
        "metadata": {
            "namespace": "default",
            "name": "report",
            "uid": UID,
            "generation": 1,
            "resourceVersion": version,
            "creationTimestamp": format_time(CREATED),
            "annotations": dict(annotations),
        },
        "spec": {"schedule": "*/30 * * * *", "jobTemplate": TEMPLATE, **spec},
        # Every slot up to 10:00 was decided: the only runs are the backfill's.
        "status": {"scheduledThrough": format_time(TEN), "observedSchedule": "UTC: */30 * * * *"},
    }


REQUEST = {
    ANNOTATION_BACKFILL_REQUEST: encode_request(BackfillRequest(token=TOKEN, start=at("01:00"), end=at("02:00")))
}


def reconcile_at(cache: Cache, control: FakeJobControl, now: datetime) -> Reconciled:
    pending = control.statuses[-1] if control.statuses else None
    return asyncio.run(reconcile(KEY, cache=cache, control=control, now=now, pending=pending))


def watch_finishes(cache: Cache, job: Body, *, when: datetime) -> None:
    """What the watch shows of a created Job: its ADDED event (the version our create answered),
    then the MODIFIED one of its completion (the cache waits for the first before it takes more)."""
    cache.remember_job(KEY, job)
    cache.remember_job(KEY, finished(job, when=when))


def finished(job: Body, *, when: datetime) -> Body:
    body = copy.deepcopy(job)
    body["metadata"]["resourceVersion"] = "2"
    body["status"] = {
        "startTime": format_time(when - timedelta(minutes=1)),
        "completionTime": format_time(when),
        "conditions": [{"type": "Complete", "status": "True", "reason": "Completed"}],
    }
    return body


def test_a_backfill_runs_its_slots_one_after_another_to_completion() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    cache.put_scheduledjob(scheduledjob(REQUEST))
    control = FakeJobControl(deletes=False)
    now = TEN
    reconcile_at(cache, control, now)
    for expected in ("01:30", "02:00", None):
        job = control.created[-1]
        now += timedelta(minutes=2)
        watch_finishes(cache, job, when=now)
        reconcile_at(cache, control, now)
        if expected is not None:
            assert control.created[-1]["metadata"]["name"] == job_name(expected)
    assert [j["metadata"]["name"] for j in control.created] == [job_name("01:00"), job_name("01:30"), job_name("02:00")]
    assert all(j["metadata"]["labels"]["punctual.dev/trigger"] == "backfill" for j in control.created)
    [entry] = control.statuses[-1].backfills
    assert (entry.state, entry.total, entry.done, entry.running, entry.pending) == (BackfillState.COMPLETED, 3, 3, 0, 0)
    reasons = [e.reason for e in control.events if e.reason.startswith("Backfill")]
    assert reasons == ["BackfillAccepted", "BackfillCompleted"]


def test_a_backfill_job_that_exists_already_is_adopted_not_created_twice() -> None:
    first = FakeJobControl(deletes=False)
    reconcile_at(fresh_cache(), first, TEN)
    [job] = first.created
    # A crash after the create and before the status write: the next operator's cache has neither
    # the Job nor the status; the API answers AlreadyExists with our own Job.
    control = FakeJobControl(taken={job["metadata"]["name"]: job})
    woken: list[Key] = []
    asyncio.run(reconcile(KEY, cache=fresh_cache(), control=control, now=TEN, wake=woken.append))
    assert control.created == []
    assert woken == [KEY]
    [entry] = control.statuses[-1].backfills
    assert (entry.state, entry.runs) == (BackfillState.RUNNING, [job_name("01:00")])


def fresh_cache() -> Cache:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    cache.put_scheduledjob(scheduledjob(REQUEST))
    return cache


def test_a_rejected_request_posts_a_warning_and_creates_nothing() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    cache.put_scheduledjob(scheduledjob({ANNOTATION_BACKFILL_REQUEST: "{not json"}))
    control = FakeJobControl(deletes=False)
    reconcile_at(cache, control, TEN)
    assert control.created == []
    [event] = control.events
    assert (event.type, event.reason) == ("Warning", "BackfillRejected")
    [cond] = [c for c in control.statuses[-1].conditions if c.type == "BackfillAccepted"]
    assert (cond.status, cond.reason) == ("False", "InvalidRequest")


def test_the_backfill_annotations_want_a_reconcile() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    assert cache.put_scheduledjob(scheduledjob({}, version="1"))
    assert cache.put_scheduledjob(scheduledjob(REQUEST, version="2"))
    assert not cache.put_scheduledjob(scheduledjob(REQUEST, version="3"))
    assert cache.put_scheduledjob(scheduledjob({**REQUEST, ANNOTATION_BACKFILL_CANCEL: TOKEN}, version="4"))


def test_cancel_through_the_annotation_stops_the_next_slots() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    cache.put_scheduledjob(scheduledjob(REQUEST, version="1"))
    control = FakeJobControl(deletes=False)
    reconcile_at(cache, control, TEN)
    cache.put_scheduledjob(scheduledjob({**REQUEST, ANNOTATION_BACKFILL_CANCEL: TOKEN}, version="2"))
    now = TEN + timedelta(minutes=2)
    watch_finishes(cache, control.created[0], when=now)
    reconcile_at(cache, control, now)
    assert len(control.created) == 1
    [entry] = control.statuses[-1].backfills
    assert (entry.state, entry.done, entry.pending) == (BackfillState.CANCELLED, 1, 0)


def test_backfill_runs_are_counted_by_trigger_and_not_as_start_lag() -> None:
    from punctual.runtime.metrics import Metrics
    from punctual.runtime.observe import observe

    cache = fresh_cache()
    control = FakeJobControl(deletes=False)
    done = reconcile_at(cache, control, TEN)
    metrics = Metrics()
    observe(metrics, KEY, done, body=cache.sjs[KEY], now=TEN, default_time_zone="UTC")
    labels = {"namespace": "default", "scheduledjob": "report"}
    value = metrics.registry.get_sample_value
    assert value("punctual_runs_started_total", {**labels, "trigger": "backfill"}) == 1
    # The slot is nine hours old by design: no start lag is observed for it.
    assert value("punctual_start_lag_seconds_count", labels) is None  # the series exists once observed
