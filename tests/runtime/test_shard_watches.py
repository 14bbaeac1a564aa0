"""A shard's Job and Pod watches: which selectors they carry, and what each one's fresh list replaces.

Sharded, a process watches its own buckets (``punctual.dev/bucket in (...)``, selected by the API
server) and the objects with no bucket label (made before Punctual set one); unsharded, every
Punctual Job and Pod. Each list speaks for its own selector only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from punctual.core import shard_of
from punctual.jobs import LABEL_BUCKET, LABEL_SCHEDULED_JOB, bucket_of
from punctual.runtime.app import Operator
from punctual.runtime.kube import Kube
from punctual.runtime.settings import Settings


class WatchRecorder:
    """Stands in for :class:`Kube`: records each list-and-watch loop started, then waits to be cancelled."""

    def __init__(self) -> None:
        self.loops: list[tuple[str, str]] = []
        self.on_list: dict[tuple[str, str], Callable[[list[Any]], None]] = {}

    async def list_and_watch(
        self, path: str, *, label_selector: str, on_list: Callable[[list[Any]], None], **_: Any
    ) -> None:
        self.loops.append((path, label_selector))
        self.on_list[(path, label_selector)] = on_list
        await asyncio.Event().wait()


async def started_watches(settings: Settings) -> list[tuple[str, str]]:
    op = Operator(settings)
    fake = WatchRecorder()
    tasks, _ = op._start_watches(cast_kube(fake))
    await asyncio.sleep(0)  # let every task start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return fake.loops


def cast_kube(fake: WatchRecorder) -> Kube:
    return fake  # type: ignore[return-value]


@pytest.mark.asyncio
async def test_unsharded_one_watch_per_kind_of_every_punctual_object() -> None:
    loops = await started_watches(Settings(namespaces=("a",)))
    assert sorted(loops) == sorted(
        [
            ("/apis/batch/v1/namespaces/a/jobs", LABEL_SCHEDULED_JOB),
            ("/api/v1/namespaces/a/pods", LABEL_SCHEDULED_JOB),
            ("/apis/punctual.dev/v1/namespaces/a/calendars", ""),
        ]
    )


@pytest.mark.asyncio
async def test_a_shards_job_and_pod_watches_select_its_buckets_and_the_unlabelled() -> None:
    loops = await started_watches(Settings(shards=4, shard=3, namespaces=("a", "b")))
    buckets = ",".join(str(b) for b in range(3, 256, 4))
    expected = [
        ("/apis/punctual.dev/v1/namespaces/a/calendars", ""),
        ("/apis/punctual.dev/v1/namespaces/b/calendars", ""),
    ]
    for ns in ("a", "b"):
        for path in (f"/apis/batch/v1/namespaces/{ns}/jobs", f"/api/v1/namespaces/{ns}/pods"):
            expected.append((path, f"{LABEL_SCHEDULED_JOB},{LABEL_BUCKET} in ({buckets})"))
            expected.append((path, f"{LABEL_SCHEDULED_JOB},!{LABEL_BUCKET}"))
    assert sorted(loops) == sorted(expected)


def owned_job(owner: str, name: str, *, labelled: bool) -> dict[str, Any]:
    labels = {LABEL_SCHEDULED_JOB: owner}
    if labelled:
        labels[LABEL_BUCKET] = str(bucket_of("default", owner))
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"u-{name}",
            "resourceVersion": "1",
            "labels": labels,
            "annotations": {"punctual.dev/scheduled-time": "2026-01-01T00:00:00Z"},
            "ownerReferences": [
                {
                    "apiVersion": "punctual.dev/v1",
                    "kind": "ScheduledJob",
                    "name": owner,
                    "uid": f"u-{owner}",
                    "controller": True,
                }
            ],
        },
        "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}},
        "status": {"active": 1},
    }


def owned_pod(owner: str, job_name: str, *, labelled: bool) -> dict[str, Any]:
    labels = {LABEL_SCHEDULED_JOB: owner, "batch.kubernetes.io/job-name": job_name}
    if labelled:
        labels[LABEL_BUCKET] = str(bucket_of("default", owner))
    return {
        "metadata": {"name": f"{job_name}-p", "namespace": "default", "labels": labels},
        "status": {"phase": "Running"},
    }


@pytest.mark.asyncio
async def test_each_selectors_fresh_list_replaces_only_what_it_selects() -> None:
    # A relist of the buckets' watch must not drop an old unlabelled Job (it went nowhere: the other
    # watch has it), nor the other way round; what a list lacks within its selector did go.
    owner = next(f"sj-{i}" for i in range(100) if shard_of("default", f"sj-{i}", 2) == 1)
    op = Operator(Settings(shards=2, shard=1, namespaces=("default",)))
    fake = WatchRecorder()
    tasks, _ = op._start_watches(cast_kube(fake))
    await asyncio.sleep(0)
    try:
        jobs = "/apis/batch/v1/namespaces/default/jobs"
        pods = "/api/v1/namespaces/default/pods"
        labelled_sel = next(s for p, s in fake.loops if p == jobs and "!" not in s)
        unlabelled_sel = f"{LABEL_SCHEDULED_JOB},!{LABEL_BUCKET}"
        new, old = owned_job(owner, "new-run", labelled=True), owned_job(owner, "old-run", labelled=False)
        fake.on_list[(jobs, labelled_sel)]([new])
        fake.on_list[(jobs, unlabelled_sel)]([old])
        fake.on_list[(pods, labelled_sel)]([owned_pod(owner, "new-run", labelled=True)])
        fake.on_list[(pods, unlabelled_sel)]([owned_pod(owner, "old-run", labelled=False)])
        assert set(op.jobs[("default", owner)]) == {"new-run", "old-run"}
        assert set(op.pods) == {("default", "new-run"), ("default", "old-run")}

        fake.on_list[(jobs, labelled_sel)]([new])  # relisted: the unlabelled Job stays
        fake.on_list[(pods, labelled_sel)]([owned_pod(owner, "new-run", labelled=True)])
        assert set(op.jobs[("default", owner)]) == {"new-run", "old-run"}
        assert set(op.pods) == {("default", "new-run"), ("default", "old-run")}

        fake.on_list[(jobs, unlabelled_sel)]([])  # the old Job went while nobody watched
        fake.on_list[(pods, unlabelled_sel)]([])
        assert set(op.jobs[("default", owner)]) == {"new-run"}
        assert set(op.pods) == {("default", "new-run")}

        fake.on_list[(jobs, labelled_sel)]([])
        assert op.jobs[("default", owner)] == {}
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
