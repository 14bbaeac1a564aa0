"""The operator's caches of its Jobs and Pods: events, fresh lists and what they keep (no API needed)."""

from __future__ import annotations

import gc
import json
from typing import Any

from punctual.api import ScheduledJobStatus
from punctual.jobs import slim_job, slim_pod
from punctual.runtime.app import Operator
from punctual.runtime.settings import Settings

OWNER = {"apiVersion": "punctual.dev/v1", "kind": "ScheduledJob", "name": "sj", "uid": "u-sj", "controller": True}


def job(name: str, namespace: str = "default", rv: str = "1", uid: str | None = None) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid or f"u-{namespace}-{name}",
            "resourceVersion": rv,
            "labels": {"punctual.dev/scheduledjob": "sj"},
            "annotations": {"punctual.dev/scheduled-time": "2026-01-01T00:00:00Z"},
            "ownerReferences": [OWNER],
            "managedFields": [{"manager": "x"}],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox", "env": []}]}}},
        "status": {"active": 1},
    }


def pod(name: str, job_name: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "labels": {"batch.kubernetes.io/job-name": job_name}},
        "status": {"phase": "Running", "podIP": "10.0.0.1"},
    }


def names(op: Operator) -> set[tuple[str, str]]:
    return {(owner[0], name) for owner, jobs in op.jobs.items() for name in jobs}


def test_a_fresh_list_replaces_the_cache_of_its_namespace_only() -> None:
    op = Operator(Settings())
    for body in (job("a"), job("b"), job("c", namespace="other")):
        op.on_job("ADDED", body)
    op.on_jobs_listed("default", [job("b", rv="2"), job("d")])
    assert names(op) == {("default", "b"), ("default", "d"), ("other", "c")}
    assert op.cache.job(("default", "sj"), "b")["metadata"]["resourceVersion"] == "2"
    # "a" went while nobody watched: it is remembered as gone, so a replayed event cannot bring it back.
    op.on_job("MODIFIED", job("a", rv="3"))
    assert ("default", "a") not in names(op)


def test_a_cluster_wide_list_replaces_everything() -> None:
    op = Operator(Settings())
    op.on_job("ADDED", job("a"))
    op.on_job("ADDED", job("c", namespace="other"))
    op.on_jobs_listed(None, [job("c", namespace="other")])
    assert names(op) == {("other", "c")}


def test_pods_are_relisted_the_same_way() -> None:
    op = Operator(Settings())
    op.on_pod("ADDED", pod("a-1", "a"))
    op.on_pod("ADDED", pod("b-1", "b"))
    op.on_pod("ADDED", pod("x-1", "x", namespace="other"))
    op.on_pods_listed("default", [pod("b-1", "b")])
    kept = {(ns, name) for (ns, _), pods in op.pods.items() for name in pods}
    assert kept == {("default", "b-1"), ("other", "x-1")}


def test_the_cache_keeps_slim_copies() -> None:
    op = Operator(Settings())
    op.on_job("ADDED", job("a"))
    op.on_pod("ADDED", pod("a-1", "a"))
    cached = op.cache.job(("default", "sj"), "a")
    assert "managedFields" not in cached["metadata"]
    assert cached["spec"] == {"template": {"spec": {"containers": [{"image": "busybox"}]}}}
    assert "podIP" not in op.cache.pods_of("default", "a")["a-1"]["status"]


def test_the_slim_copies_keep_what_is_read_and_no_more() -> None:
    # The counters and the conditions that do not hold, the Pods' other labels, their containers'
    # states beyond the exit code: at 10,000 ScheduledJobs with their kept Jobs, tens of MB.
    op = Operator(Settings())
    body = job("a")
    done = {"type": "Complete", "status": "True", "reason": "Done", "lastProbeTime": "2026-01-01T00:00:09Z"}
    body["status"] = {
        "active": 0,
        "succeeded": 1,
        "ready": 0,
        "startTime": "2026-01-01T00:00:01Z",
        "completionTime": "2026-01-01T00:00:09Z",
        "uncountedTerminatedPods": {},
        "conditions": [{"type": "SuccessCriteriaMet", "status": "False"}, done],
    }
    op.on_job("ADDED", body)
    body_pod = pod("a-1", "a")
    body_pod["metadata"]["labels"].update({"controller-uid": "x", "punctual.dev/bucket": "7", "team": "t"})
    body_pod["status"] = {
        "phase": "Succeeded",
        "containerStatuses": [
            {"name": "c", "imageID": "sha256:a", "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}},
            {"name": "side", "state": {"running": {"startedAt": "2026-01-01T00:00:02Z"}}},
        ],
    }
    op.on_pod("ADDED", body_pod)
    assert op.cache.job(("default", "sj"), "a")["status"] == {
        "startTime": "2026-01-01T00:00:01Z",
        "completionTime": "2026-01-01T00:00:09Z",
        "conditions": [{"type": "Complete", "status": "True", "reason": "Done"}],
    }
    cached_pod = op.cache.pods_of("default", "a")["a-1"]
    assert cached_pod["metadata"]["labels"] == {"batch.kubernetes.io/job-name": "a", "punctual.dev/bucket": "7"}
    assert cached_pod["status"] == {
        "phase": "Succeeded",
        "containerStatuses": [{"state": {"terminated": {"exitCode": 0}}, "imageID": "sha256:a"}],
    }


def test_a_shard_keeps_only_its_own_scheduledjobs_jobs_and_pods() -> None:
    from punctual.core import shard_of

    ours = next(f"sj-{i}" for i in range(100) if shard_of("default", f"sj-{i}", 2) == 1)
    theirs = next(f"sj-{i}" for i in range(100) if shard_of("default", f"sj-{i}", 2) == 0)
    op = Operator(Settings(shards=2, shard=1))
    assert op.mine(("default", ours)) and not op.mine(("default", theirs))
    for name in (ours, theirs):
        op.on_scheduledjob("ADDED", {"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}"}})
    assert set(op.sjs) == {("default", ours)}

    def owned(name: str, job_name: str) -> dict[str, Any]:
        body = job(job_name)
        body["metadata"]["labels"] = {"punctual.dev/scheduledjob": name}
        body["metadata"]["ownerReferences"] = [{**OWNER, "name": name, "uid": f"u-{name}"}]
        return body

    def pod_of(name: str, job_name: str) -> dict[str, Any]:
        body = pod(f"{job_name}-p", job_name)
        body["metadata"]["labels"]["punctual.dev/scheduledjob"] = name
        return body

    # Another shard's Pod before its Job, then the Job: neither stays.
    op.on_pod("ADDED", pod_of(theirs, "j-theirs"))
    op.on_job("ADDED", owned(theirs, "j-theirs"))
    op.on_job("ADDED", owned(ours, "j-ours"))
    op.on_pod("ADDED", pod_of(ours, "j-ours"))
    assert names(op) == {("default", "j-ours")}
    assert set(op.pods) == {("default", "j-ours")}
    # A Pod deleted takes its Job's entry with it when it was the last.
    op.on_pod("DELETED", pod_of(ours, "j-ours"))
    assert op.pods == {}
    # Unsharded, everything is ours.
    assert Operator(Settings()).mine(("default", theirs))


def test_the_metrics_cap_setting_reaches_the_metrics() -> None:
    op = Operator(Settings(metrics_max_objects=1))
    state: dict[str, Any] = dict(
        active=1,
        queued=0,
        next_run=None,
        interval_seconds=60.0,
        budget_seconds=None,
        oldest_active_start=None,
        suspended=False,
        paused=False,
        last_success=None,
        last_failure=None,
    )
    op.metrics.set_state("default", "a", **state)
    op.metrics.set_state("default", "b", **state)  # past the cap: counted, not exposed
    text = op.metrics.exposition().decode()
    assert 'scheduledjob="a"' in text and 'scheduledjob="b"' not in text
    assert "punctual_metrics_objects_overflow_total 1.0" in text
    assert Operator(Settings()).metrics.max_objects is None


TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def sj(name: str, namespace: str = "default", rv: str = "1", status: dict[str, Any] | None = None) -> dict[str, Any]:
    meta = {"name": name, "namespace": namespace, "uid": f"u-{namespace}-{name}", "resourceVersion": rv}
    return {"metadata": meta, "spec": {"schedule": "* * * * *", "jobTemplate": TEMPLATE}, "status": status or {}}


ACTIVE = [
    {"name": "a-1", "scheduledTime": "2026-01-01T00:00:00Z", "trigger": "schedule", "startTime": "2026-01-01T00:00:01Z"}
]


def _status_models_alive() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, ScheduledJobStatus))


def test_no_status_model_is_kept_between_reconciles_with_runs_active_or_not() -> None:
    """A model of a status with 20 history records holds about 37 KiB against its text's 3 to 8; at
    a slot every ScheduledJob has a run active, so the cache keeps the text only and each reconcile
    validates its own model."""
    op = Operator(Settings())
    key = ("default", "a")
    before = _status_models_alive()
    for rv, status in enumerate(
        [{"lastScheduleTime": "2026-01-01T00:00:00Z"}, {"lastScheduleTime": "2026-01-01T00:05:00Z", "active": ACTIVE}],
        start=1,
    ):
        op.on_scheduledjob("MODIFIED", sj("a", rv=str(rv), status=status))
        first = op.cache.status_of(key)
        second = op.cache.status_of(key)
        assert first == second == ScheduledJobStatus.model_validate(status) and first is not second
        del first, second
        assert _status_models_alive() == before, "the cache holds no model"
    op.on_scheduledjob("MODIFIED", sj("a", rv="3", status={"active": ACTIVE}), written=0)  # our own write's answer
    assert op.cache.status_of(key).active[0].name == "a-1"
    assert _status_models_alive() == before


def test_a_scheduledjob_is_cached_without_its_managed_fields() -> None:
    op = Operator(Settings())
    body = sj("a", rv="1", status={"lastScheduleTime": "2026-01-01T00:00:00Z"})
    body["metadata"]["managedFields"] = [{"manager": "kubectl-client-side-apply", "fieldsV1": {"f:spec": {}}}]
    op.on_scheduledjob("ADDED", body)
    cached = op.sjs[("default", "a")]
    assert "managedFields" not in cached["metadata"]
    assert cached["metadata"]["resourceVersion"] == "1" and "status" not in cached  # the status is kept apart
    assert op.cache.raw_status(("default", "a")) == body["status"]
    assert "managedFields" in body["metadata"] and "status" in body  # the event's own body is left as it came


def test_a_status_is_kept_as_compact_text_and_read_back_equal() -> None:
    # The decoded dicts of a status with its history are some 2.5 times its JSON: the cache keeps the
    # JSON, once per version (the watch event of our own write's answer is the same content).
    op = Operator(Settings())
    image_id = "docker.io/library/busybox@sha256:" + "9d75" * 16
    record = {"job": "sj-1", "scheduledTime": "2026-01-01T00:00:00Z", "trigger": "schedule", "result": "Succeeded",
              "reason": "Completed", "image": "busybox", "imageID": image_id, "durationSeconds": 2.0}  # fmt: skip
    status = {"history": [record, {**record, "job": "sj-2"}], "lastScheduleTime": "2026-01-01T00:00:00Z"}
    body = sj("a", rv="1", status=status)
    key = ("default", "a")
    op.on_scheduledjob("ADDED", json.loads(json.dumps(body)))
    text = op.cache._status_texts[key]
    assert text == json.dumps(status, separators=(",", ":"), sort_keys=True)
    assert op.cache.raw_status(key) == status
    assert op.cache.status_of(key) == ScheduledJobStatus.model_validate(status)
    op.on_scheduledjob("MODIFIED", json.loads(json.dumps(body)))  # the same version again
    assert op.cache._status_texts[key] is text
    changed = sj("a", rv="2", status={**status, "history": [record]})
    op.on_scheduledjob("MODIFIED", json.loads(json.dumps(changed)))
    assert op.cache.raw_status(key) == changed["status"]
    assert op.cache.status_of(key).history == ScheduledJobStatus.model_validate(changed["status"]).history
    op.on_scheduledjob("DELETED", changed)
    assert key not in op.cache._status_texts and op.cache.raw_status(key) == {}


def test_jobs_and_pods_are_kept_as_the_compact_text_of_their_slim_copies() -> None:
    # One string of a few hundred bytes each, not dozens of small dicts and lists.
    op = Operator(Settings())
    body, body_pod = job("a"), pod("a-1", "a")
    op.on_job("ADDED", json.loads(json.dumps(body)))
    op.on_pod("ADDED", json.loads(json.dumps(body_pod)))
    (text,) = op.jobs[("default", "sj")].values()
    assert text == json.dumps(slim_job(body), separators=(",", ":"))
    assert op.cache.job(("default", "sj"), "a") == slim_job(body)
    assert op.cache.job(("default", "sj"), "b") is None
    (pod_text,) = op.pods[("default", "a")].values()
    assert pod_text == json.dumps(slim_pod(body_pod), separators=(",", ":"))
    assert op.cache.pods_of("default", "a") == {"a-1": slim_pod(body_pod)} and op.cache.pods_of("default", "b") == {}
    assert op.cache.job(("default", "sj"), "a")["metadata"]["ownerReferences"] == [OWNER]


def test_a_pod_that_ends_wakes_its_scheduledjob_only_once_the_job_has_finished() -> None:
    woken: list[tuple[str, str]] = []
    op = Operator(Settings())
    op.cache.wake = woken.append
    op.on_job("ADDED", job("j"))
    woken.clear()
    ended = pod("j-1", "j")
    ended["status"] = {"phase": "Succeeded", "containerStatuses": [{"state": {"terminated": {"exitCode": 0}}}]}
    op.on_pod("ADDED", pod("j-1", "j"))
    op.on_pod("MODIFIED", ended)
    assert woken == []  # the Job is active: its own Complete event brings the reconcile, Pod read then
    done = job("j", rv="2")
    done["status"] = {"conditions": [{"type": "Complete", "status": "True"}], "completionTime": "2026-01-01T00:00:05Z"}
    op.on_job("MODIFIED", done)
    assert woken == [("default", "sj")]
    # A Pod that ends after its Job was marked finished (its exit code not read yet) wakes it.
    woken.clear()
    op.on_pod("ADDED", pod("j-2", "j"))
    late = pod("j-2", "j")
    late["status"] = {"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 1}}}]}
    op.on_pod("MODIFIED", late)
    assert woken == [("default", "sj")]
