"""Two operator shards (``PUNCTUAL_SHARDS=2``) against the real kube-apiserver: the server selects.

Each ``punctual run`` process watches Jobs and Pods with ``punctual.dev/bucket in (<its buckets>)``
plus the objects with no bucket label; kube-apiserver does the selecting. So:

* while only shard 1's ScheduledJobs run, shard 0's Job and Pod watches receive nothing at all
  (its ``punctual_watch_events_total`` stands still), then they move once shard 0 has runs;
* each shard starts the runs of its own ScheduledJobs only (its metrics, no 409 on a create);
* a Job made before the bucket label existed (no label, still running at the "upgrade") is adopted
  into its ScheduledJob's history by that ScheduledJob's shard.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    OperatorProcess,
    apply_in,
    history,
    jobs_of,
    scheduled_job,
    sj,
    slots_of,
)

from punctual.api import Trigger
from punctual.core import parse_spec, shard_of
from punctual.jobs import LABEL_BUCKET, Owner, bucket_of, build_job


def name_on(namespace: str, shard: int, stem: str) -> str:
    return next(f"{stem}-{i}" for i in range(1000) if shard_of(namespace, f"{stem}-{i}", 2) == shard)


def watch_events(process: OperatorProcess, resource: str) -> float:
    found = re.search(rf'^punctual_watch_events_total\{{resource="{resource}"\}} (\S+)$', process.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


def runs_started(process: OperatorProcess, namespace: str) -> dict[str, float]:
    """ScheduledJob name -> runs this process started (schedule trigger), from its metrics."""
    pattern = (
        rf'^punctual_runs_started_total\{{namespace="{namespace}",scheduledjob="([^"]+)",trigger="schedule"\}} (\S+)$'
    )
    return {m.group(1): float(m.group(2)) for m in re.finditer(pattern, process.metrics(), re.M) if float(m.group(2))}


def create_conflicts(process: OperatorProcess) -> float:
    found = re.search(r'^punctual_api_request_errors_total\{verb="create",code="409"\} (\S+)$', process.metrics(), re.M)
    return float(found.group(1)) if found else 0.0


def succeeded(server: RealServer, namespace: str, name: str) -> list[str]:
    return [r["job"] for r in history(server, namespace, name) if r["result"] == "Succeeded"]


def test_two_shards_on_the_real_server_each_receive_and_run_only_their_own(
    operator: OperatorFactory, namespace: str, real_server: RealServer
) -> None:
    server = real_server
    legacy, runner1, runner0 = name_on(namespace, 1, "legacy"), name_on(namespace, 1, "r"), name_on(namespace, 0, "r")

    # Before the "upgrade": a ScheduledJob of shard 1 and a Job of it without the bucket label, as
    # an older Punctual made it (it runs for 6 s, so it is still running when the shards start).
    apply_in(server, namespace, scheduled_job(legacy, "0 0 1 1 *"))  # yearly: the old Job is its only run
    body = sj(server, namespace, legacy)
    old = build_job(
        Owner(namespace=namespace, name=legacy, uid=body["metadata"]["uid"]),
        parse_spec(body["spec"]),
        job_name=f"{legacy}-before-upgrade",
        slot=datetime(2026, 1, 1, tzinfo=UTC),
        trigger=Trigger.MANUAL,
    )
    del old["metadata"]["labels"][LABEL_BUCKET]
    pod_meta = old["spec"]["template"]["metadata"]
    del pod_meta["labels"][LABEL_BUCKET]
    pod_meta["annotations"] = {**(pod_meta.get("annotations") or {}), "punctual.dev/sandbox-duration": "6s"}
    server.kubectl("create", "-n", namespace, "-f", "-", stdin=json.dumps(old))

    shards = {k: operator(shards="2", shard=str(k), pod_name=f"shard-{k}") for k in (0, 1)}
    wait_for(
        lambda: succeeded(server, namespace, legacy) == [old["metadata"]["name"]],
        60,
        what="the unlabelled Job adopted and recorded by shard 1",
    )
    assert watch_events(shards[0], "jobs") > 0, "shard 0's second watch carries the unlabelled Job too"

    # Only shard 1's ScheduledJob runs: nothing reaches shard 0's Job and Pod watches.
    apply_in(server, namespace, scheduled_job(runner1, "*/2 * * * * *", successfulJobsHistoryLimit=20))
    wait_for(lambda: len(succeeded(server, namespace, runner1)) >= 1, 60, what="a first run of shard 1's")
    time.sleep(1)  # the unlabelled Job's last events are in
    quiet = {kind: watch_events(shards[0], kind) for kind in ("jobs", "pods")}
    busy = watch_events(shards[1], "jobs")
    wait_for(lambda: len(succeeded(server, namespace, runner1)) >= 4, 60, what="3 more runs of shard 1's")
    assert watch_events(shards[1], "jobs") > busy
    assert {kind: watch_events(shards[0], kind) for kind in ("jobs", "pods")} == quiet, (
        "shard 0 was sent shard 1's Jobs or Pods: the server did not select by bucket"
    )

    # Now shard 0 has runs of its own: its watches move, and each shard started its own runs only.
    apply_in(server, namespace, scheduled_job(runner0, "*/2 * * * * *", successfulJobsHistoryLimit=20))
    wait_for(lambda: len(succeeded(server, namespace, runner0)) >= 2, 60, what="2 runs of shard 0's")
    assert watch_events(shards[0], "jobs") > quiet["jobs"]
    assert watch_events(shards[0], "pods") > quiet["pods"]
    assert set(runs_started(shards[0], namespace)) == {runner0}
    assert set(runs_started(shards[1], namespace)) == {runner1}
    for k in (0, 1):
        assert create_conflicts(shards[k]) == 0, f"shard {k} tried to create another shard's Job"
    for name in (runner0, runner1):
        jobs = jobs_of(server, namespace, name)
        assert jobs and len(set(slots_of(jobs))) == len(jobs), f"{name}: a slot ran twice"
        for job in jobs:
            assert job["metadata"]["labels"][LABEL_BUCKET] == str(bucket_of(namespace, name))
            assert job["spec"]["template"]["metadata"]["labels"][LABEL_BUCKET] == str(bucket_of(namespace, name))
