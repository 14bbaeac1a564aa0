"""Two operator shards (``PUNCTUAL_SHARDS=2``) against one API: each handles its own ScheduledJobs only.

Every ScheduledJob gets its runs, exactly one Job per slot, from the shard its name hashes to; the
other shard neither caches it nor its Jobs and Pods, and never tries to create its Jobs (no 409s).
The API server selects each shard's Jobs and Pods by their bucket label, and a Job made before that
label existed is still adopted by its owner's shard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from integration_support import OperatorFactory, jobs_of, records, scheduled_job, slot_of
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.api import Trigger
from punctual.bodies import Job, Pod
from punctual.core import parse_spec, shard_of
from punctual.jobs import LABEL_BUCKET, Owner, bucket_of, build_job
from punctual.runtime.app import Operator

NS = "default"


def _names(per_shard: int) -> dict[int, list[str]]:
    """The first ``per_shard`` names of ``shard-test-<i>`` that land on each of the two shards."""
    found: dict[int, list[str]] = {0: [], 1: []}
    i = 0
    while min(len(v) for v in found.values()) < per_shard:
        name = f"shard-test-{i}"
        bucket = found[shard_of(NS, name, 2)]
        if len(bucket) < per_shard:
            bucket.append(name)
        i += 1
    return found


def test_two_shards_split_the_scheduledjobs_and_each_slot_runs_once(
    emulator: Emulator, operator: OperatorFactory
) -> None:
    names = _names(3)
    shards = {k: operator(shards=2, shard=k, pod_name=f"shard-{k}") for k in (0, 1)}
    emulator.reset_request_log()
    for k in (0, 1):
        for name in names[k]:
            emulator.create(scheduled_job(name, "*/2 * * * * *", successfulJobsHistoryLimit=20))
    every = names[0] + names[1]
    wait_for(lambda: all(len(records(emulator, n, "Succeeded")) >= 2 for n in every), 30, what="2 runs of each")

    for k, running in shards.items():
        op = running.op
        assert {name for _, name in op.sjs} == set(names[k]), f"shard {k} cached another shard's ScheduledJob"
        assert {name for _, name in op.jobs if op.jobs[(NS, name)]} <= set(names[k])
        own_jobs = {j["metadata"]["name"] for n in names[k] for j in jobs_of(emulator, n)}
        assert {job for _, job in op.pods} <= own_jobs, f"shard {k} cached another shard's Pods"
    creates = [r.status for r in emulator.request_log if r.verb == "create" and r.resource == "jobs.batch"]
    assert creates and set(creates) == {201}, f"a shard tried to create another shard's Job: {creates}"
    for name in every:
        jobs = jobs_of(emulator, name)
        assert len({slot_of(j) for j in jobs}) == len(jobs), f"{name}: a slot ran twice"
        assert not records(emulator, name, "Failed")


class RecordingOperator(Operator):
    """An operator that records the name of every Job and Pod its watches deliver (lists included)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.job_names: list[str] = []
        self.pod_jobs: list[str] = []
        on_job, on_pod = self.cache.on_job, self.cache.on_pod

        def job_seen(kind: str | None, body: Job) -> None:
            self.job_names.append(str((body.get("metadata") or {}).get("name")))
            on_job(kind, body)

        def pod_seen(kind: str | None, body: Pod) -> None:
            labels = (body.get("metadata") or {}).get("labels") or {}
            self.pod_jobs.append(str(labels.get("batch.kubernetes.io/job-name")))
            on_pod(kind, body)

        self.cache.on_job = job_seen  # type: ignore[method-assign]
        self.cache.on_pod = pod_seen  # type: ignore[method-assign]


def test_each_shard_receives_only_its_own_jobs_and_pods_and_adopts_an_unlabelled_job(
    emulator: Emulator, operator: OperatorFactory
) -> None:
    # The API selects by the bucket label: a shard's watches never carry the other shard's Jobs or
    # Pods. A Job made before the label existed (no bucket label), still running at the upgrade,
    # reaches every shard's second watch; its owner's shard adopts it into the history.
    names = _names(2)
    legacy = names[1][0]
    sj = emulator.create(scheduled_job(legacy, "0 0 1 1 *"))  # yearly: the old Job is its only run
    owner = Owner(namespace=NS, name=legacy, uid=sj["metadata"]["uid"])
    old = build_job(
        owner,
        parse_spec(sj["spec"]),
        job_name=f"{legacy}-before-upgrade",
        slot=datetime(2026, 1, 1, tzinfo=UTC),
        trigger=Trigger.MANUAL,
    )
    del old["metadata"]["labels"][LABEL_BUCKET]
    del old["spec"]["template"]["metadata"]["labels"][LABEL_BUCKET]
    emulator.create(old)

    shards = {k: operator(cls=RecordingOperator, shards=2, shard=k, pod_name=f"shard-{k}") for k in (0, 1)}
    for k in (0, 1):
        for name in names[k]:
            if name != legacy:
                emulator.create(scheduled_job(name, "*/2 * * * * *", successfulJobsHistoryLimit=20))
    runners = [n for n in names[0] + names[1] if n != legacy]
    wait_for(lambda: all(len(records(emulator, n, "Succeeded")) >= 2 for n in runners), 30, what="2 runs of each")
    wait_for(
        lambda: [r["job"] for r in records(emulator, legacy, "Succeeded")] == [old["metadata"]["name"]],
        30,
        what="the unlabelled Job adopted and recorded by its shard",
    )

    for k, running in shards.items():
        op = running.op
        assert isinstance(op, RecordingOperator)
        own = {j["metadata"]["name"] for n in names[k] for j in jobs_of(emulator, n)}
        received = set(op.job_names)
        assert received, f"shard {k} received no Job at all"
        # Its own Jobs, and the one unlabelled Job every shard's second watch carries: nothing else.
        assert received <= own | {old["metadata"]["name"]}, f"shard {k} was sent another shard's Jobs"
        assert set(op.pod_jobs) <= own | {old["metadata"]["name"]}, f"shard {k} was sent another shard's Pods"
        assert old["metadata"]["name"] in received
        if k == 0:
            assert (NS, legacy) not in op.jobs, "the other shard kept the unlabelled Job"
        text = op.metrics.exposition().decode()
        assert 'punctual_watch_events_total{resource="jobs"}' in text
    for name in runners:  # the Jobs the operator made carry their owner's bucket
        for job in jobs_of(emulator, name):
            assert job["metadata"]["labels"][LABEL_BUCKET] == str(bucket_of(NS, name))
            assert job["spec"]["template"]["metadata"]["labels"][LABEL_BUCKET] == str(bucket_of(NS, name))
