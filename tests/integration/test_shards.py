"""Two operator shards (``PUNCTUAL_SHARDS=2``) against one API: each handles its own ScheduledJobs only.

Every ScheduledJob gets its runs, exactly one Job per slot, from the shard its name hashes to; the
other shard neither caches it nor its Jobs and Pods, and never tries to create its Jobs (no 409s).
"""

from __future__ import annotations

from integration_support import OperatorFactory, jobs_of, records, scheduled_job, slot_of
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.core import shard_of

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
