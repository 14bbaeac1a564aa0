"""The reconcile's numbered steps against a fake JobControl: no server, no HTTP, milliseconds a case.

As the CronJob controller tests ``syncCronJob`` with ``fakeJobControl``: each row is a situation (the
caches, what the API answers) and what the reconcile must do (Jobs created and deleted, the status
it writes, the Events it posts, when it wakes up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pytest
from reconcile_support import CREATED, KEY, TEMPLATE, UID, FakeJobControl, at, job_name

from punctual.api import Result, format_time
from punctual.bodies import RawBody as Body
from punctual.core import JOB_VANISHED_GRACE
from punctual.runtime.cache import Cache, Key
from punctual.runtime.kube import ApiError, ClusterUnreachable
from punctual.runtime.reconcile import RBAC_GRACE, Reconciled, reconcile
from punctual.runtime.status_writer import RETRY
from punctual.runtime.versions import Source


def scheduledjob(*, status: Mapping[str, Any] | None = None, deleting: bool = False, **spec: Any) -> Body:
    meta: dict[str, Any] = {
        "namespace": "default",
        "name": "report",
        "uid": UID,
        "generation": 1,
        "resourceVersion": "1",
        "creationTimestamp": format_time(CREATED),
    }
    if deleting:
        meta["deletionTimestamp"] = format_time(CREATED)
    return {
        "metadata": meta,
        "spec": {"schedule": "*/30 * * * *", "jobTemplate": TEMPLATE, **spec},
        "status": status or {},
    }


def run(cache: Cache, control: FakeJobControl, now: datetime, woken: list[Key] | None = None) -> Reconciled:
    wake = woken.append if woken is not None else lambda key: None
    return asyncio.run(reconcile(KEY, cache=cache, control=control, now=now, wake=wake))


def cache_with(body: Body) -> Cache:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    cache.put_scheduledjob(body)
    return cache


def ours(name: str, *, uid: str = UID) -> Body:
    ref = {"apiVersion": "punctual.dev/v1", "kind": "ScheduledJob", "name": "report", "uid": uid, "controller": True}
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "resourceVersion": "7",
            "labels": {"punctual.dev/scheduledjob": "report"},
            "annotations": {"punctual.dev/scheduled-time": format_time(at("10:30"))},
            "ownerReferences": [ref],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"active": 1},
    }


THROUGH = {"scheduledThrough": format_time(at("10:00"))}
RBAC_REFUSAL = (
    'jobs.batch is forbidden: User "system:serviceaccount:punctual-system:punctual" cannot create resource '
    '"jobs" in API group "batch" in the namespace "default"'
)
# The OwnerReferencesPermissionEnforcement plugin of a kube-apiserver whose discovery has not found the
# CRD yet (seen after a restart on the real-server tier).
RESTMAPPING_REFUSAL = (
    'jobs.batch "report-1" is forbidden: cannot set blockOwnerDeletion in this case because cannot find '
    'RESTMapping for APIVersion punctual.dev/v1 Kind ScheduledJob: no matches for kind "ScheduledJob" in '
    'version "punctual.dev/v1"'
)

# (name, spec fields, status, create answers, jobs the API holds, now) -> expectations
CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Exception], dict[str, Body], dict[str, Any]]] = [
    (
        "is time: the slot's Job is created, status written, RunStarted posted, wake at its vanished-Job grace",
        {},
        THROUGH,
        {},
        {},
        {
            "created": [job_name("10:30")],
            "events": ["RunStarted"],
            "result": Result.RUNNING,
            "wake": at("10:30") + JOB_VANISHED_GRACE,
        },
    ),
    (
        "not yet time: nothing created, status still written, wake at the slot",
        {},
        {"scheduledThrough": format_time(at("10:30"))},
        {},
        {},
        {"created": [], "events": [], "wake": at("11:00")},
    ),
    (
        "suspended: nothing created",
        {"suspend": True},
        THROUGH,
        {},
        {},
        {"created": [], "events": []},
    ),
    (
        "the Job name is taken by another owner: recorded JobCreateFailed, Ready False, no RunStarted",
        {},
        THROUGH,
        {job_name("10:30"): ApiError(409, "AlreadyExists", "exists")},
        {job_name("10:30"): ours(job_name("10:30"), uid="someone-else")},
        {
            "created": [],
            "events": ["JobCreateFailed"],
            "result": Result.FAILED,
            "reason": "JobCreateFailed",
            "ready": "False",
        },
    ),
    (
        "AlreadyExists and ours (a crash before the status write): adopted, decided again",
        {},
        THROUGH,
        {job_name("10:30"): ApiError(409, "AlreadyExists", "exists")},
        {job_name("10:30"): ours(job_name("10:30"))},
        {"created": [], "events": ["RunStarted"], "result": Result.RUNNING, "woken": True, "cached": True},
    ),
    (
        "a permanent refusal (quota): JobCreateFailed with the API's message",
        {},
        THROUGH,
        {job_name("10:30"): ApiError(403, "Forbidden", "exceeded quota")},
        {},
        {"created": [], "events": ["JobCreateFailed"], "result": Result.FAILED, "message": "exceeded quota"},
    ),
    (
        "an RBAC refusal (a restarted API server's, before its RBAC caches are filled): retried, not recorded",
        {},
        THROUGH,
        {job_name("10:30"): ApiError(403, "Forbidden", RBAC_REFUSAL)},
        {},
        {"created": [], "written": False, "wake": at("10:30") + RETRY},
    ),
    (
        "an owner-reference refusal before discovery found the kind (a restarted API server): retried",
        {},
        THROUGH,
        {job_name("10:30"): ApiError(403, "Forbidden", RESTMAPPING_REFUSAL)},
        {},
        {"created": [], "written": False, "wake": at("10:30") + RETRY},
    ),
    (
        "a transient error: no status write, no Event, retried soon (the slot is decided again)",
        {},
        THROUGH,
        {job_name("10:30"): ApiError(503, "ServiceUnavailable", "busy")},
        {},
        {"created": [], "written": False, "wake": at("10:30") + RETRY},
    ),
    (
        "the API unreachable: as a transient error",
        {},
        THROUGH,
        {job_name("10:30"): ClusterUnreachable("down")},
        {},
        {"created": [], "written": False, "wake": at("10:30") + RETRY},
    ),
    (
        "an invalid spec: InvalidSpec, nothing created, no wake-up",
        {"schedule": "not a cron"},
        THROUGH,
        {},
        {},
        {"created": [], "events": ["InvalidSpec"], "wake": None},
    ),
]


@pytest.mark.parametrize(
    ("spec", "status", "answers", "existing", "expect"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_reconcile(
    spec: dict[str, Any],
    status: dict[str, Any],
    answers: dict[str, Exception],
    existing: dict[str, Body],
    expect: dict[str, Any],
) -> None:
    cache = cache_with(scheduledjob(status=status, **spec))
    control = FakeJobControl(answers=answers, taken=existing)
    woken: list[Key] = []
    now = at("10:30")
    done = run(cache, control, now, woken)
    assert control.created_names == expect["created"]
    if not expect.get("written", True):
        assert control.statuses == [] and control.events == []
        assert done.decision is None
    else:
        (written,) = control.statuses
        assert done.decision is not None and written == done.decision.status
        if "events" in expect:
            assert [e.reason for e in control.events] == expect["events"]
        record = {r.job: r for r in written.history}.get(job_name("10:30"))
        if "result" in expect:
            assert record is not None and record.result is expect["result"]
        if "reason" in expect:
            assert record is not None and record.reason == expect["reason"]
        if "message" in expect:
            assert record is not None and record.message == expect["message"]
        if "ready" in expect:
            ready = next(c for c in written.conditions if c.type == "Ready")
            assert ready.status == expect["ready"]
        if expect.get("result") is Result.FAILED:
            assert written.active == [] and written.counts.get("Running", 0) == 0
    if "wake" in expect:
        assert done.wake_at == expect["wake"]
    assert (KEY in woken) == expect.get("woken", False)
    if expect.get("cached") or control.created:
        assert job_name("10:30") in cache.jobs.get(KEY, {})


def test_a_deleting_scheduledjob_is_left_alone() -> None:
    control = FakeJobControl()
    done = run(cache_with(scheduledjob(status=THROUGH, deleting=True)), control, at("10:30"))
    assert done == Reconciled(wake_at=None)
    assert (control.created_names, control.statuses, control.events) == ([], [], [])


def test_an_unknown_scheduledjob_is_left_alone() -> None:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    assert run(cache, FakeJobControl(), at("10:30")) == Reconciled(wake_at=None)


def test_replace_deletes_the_running_job_and_forgets_it() -> None:
    cache = cache_with(scheduledjob(status=THROUGH, concurrencyPolicy="Replace"))
    control = FakeJobControl()
    run(cache, control, at("10:30"))
    assert control.created_names == [job_name("10:30")]
    # Half an hour later the 11:00 slot replaces the 10:30 run, still active in the cache.
    written = control.statuses[-1].model_dump(mode="json", exclude_none=True)
    cache.put_scheduledjob(scheduledjob(status=written, concurrencyPolicy="Replace"))
    again = FakeJobControl()
    run(cache, again, at("11:00"), [])
    assert again.deleted == [job_name("10:30")]
    assert again.created_names == [job_name("11:00")]
    assert job_name("10:30") not in cache.jobs[KEY]
    assert "RunReplaced" in [e.reason for e in again.events]


def test_a_job_of_an_earlier_object_with_the_same_name_is_not_ours() -> None:
    cache = cache_with(scheduledjob(status=THROUGH, concurrencyPolicy="Forbid"))
    cache.remember_job(KEY, ours(job_name("10:00"), uid="an-earlier-uid"))
    control = FakeJobControl()
    run(cache, control, at("10:30"))
    assert control.created_names == [job_name("10:30")], "the earlier object's Job does not hold the slot back"


@pytest.mark.parametrize("refusal", [RBAC_REFUSAL, RESTMAPPING_REFUSAL], ids=["rbac", "restmapping"])
def test_a_warmup_refusal_that_lasts_beyond_the_grace_is_recorded_failed_with_the_api_message(refusal: str) -> None:
    cache = cache_with(scheduledjob(status=THROUGH))
    control = FakeJobControl(answers={job_name("10:30"): ApiError(403, "Forbidden", refusal)})
    now = at("10:30")
    while now - at("10:30") < RBAC_GRACE:
        assert run(cache, control, now).wake_at == now + RETRY
        assert control.statuses == [] and control.events == []
        now += RETRY
    run(cache, control, now)
    (written,) = control.statuses
    record = {r.job: r for r in written.history}[job_name("10:30")]
    assert (record.result, record.message) == (Result.FAILED, refusal)
    assert [e.reason for e in control.events] == ["JobCreateFailed"]
    assert cache.refused == {}


def test_an_rbac_refusal_that_clears_within_the_grace_starts_the_run() -> None:
    cache = cache_with(scheduledjob(status=THROUGH))
    control = FakeJobControl(answers={job_name("10:30"): ApiError(403, "Forbidden", RBAC_REFUSAL)})
    run(cache, control, at("10:30"))
    del control.answers[job_name("10:30")]
    run(cache, control, at("10:30") + RETRY)
    assert control.created_names == [job_name("10:30")]
    (written,) = control.statuses
    assert {r.job: r for r in written.history}[job_name("10:30")].result is Result.RUNNING
    assert cache.refused == {}


def test_a_reconcile_that_changes_nothing_writes_nothing() -> None:
    # The 10:30 run starts and its status is written; the same moment decided again (its Job seen
    # created, from the API's copy or from the pending one) changes nothing and asks for no write.
    cache = cache_with(scheduledjob(status=THROUGH))
    control = FakeJobControl()
    run(cache, control, at("10:30"))
    (written,) = control.statuses
    answer = scheduledjob(status=written.model_dump(mode="json", exclude_none=True))
    answer["metadata"]["resourceVersion"] = "2"  # the write's answer: a new version
    cache.put_scheduledjob(answer)
    again = FakeJobControl()
    done = run(cache, again, at("10:30"))
    assert (again.created_names, again.statuses, again.events) == ([], [], [])
    assert done.decision is not None and done.decision.status == written
    pending = asyncio.run(reconcile(KEY, cache=cache, control=again, now=at("10:30"), pending=written))
    assert again.statuses == [] and pending.decision is not None
    # A change is written: the run's Job finishes.
    later = FakeJobControl()
    done_job = ours(job_name("10:30")) | {"status": {"conditions": [
        {"type": "Complete", "status": "True"}], "completionTime": format_time(at("10:31"))}}  # fmt: skip
    cache.remember_job(KEY, done_job, source=Source.LISTING)
    run(cache, later, at("10:32"))
    (finished,) = later.statuses
    assert {r.job: r for r in finished.history}[job_name("10:30")].result is Result.SUCCEEDED


def test_an_unreadable_status_is_written_again_even_when_the_rebuilt_one_is_empty() -> None:
    cache = cache_with(scheduledjob(status={"history": "not a list"}, suspend=True))
    control = FakeJobControl()
    run(cache, control, at("10:30"))
    assert len(control.statuses) == 1
