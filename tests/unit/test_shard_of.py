"""Which shard handles a ScheduledJob: stable across processes, spread evenly, trivial unsharded; its buckets."""

from __future__ import annotations

import subprocess
import sys
import zlib
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unit_support import make_spec

from kube_emulator.selectors import Selector
from punctual.api import Trigger
from punctual.core import shard_of
from punctual.jobs import (
    BUCKETS,
    LABEL_BUCKET,
    LABEL_SCHEDULED_JOB,
    Owner,
    bucket_of,
    buckets_of_shard,
    build_job,
    watch_selectors,
)

PINNED = [2, 0, 2, 0, 3, 1, 3, 1]  # crc32("default/sj-<i>") % 4

names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?", fullmatch=True)


@given(names, names, st.integers(1, 64))
def test_a_shard_is_in_range_and_the_same_every_time(namespace: str, name: str, shards: int) -> None:
    k = shard_of(namespace, name, shards)
    assert 0 <= k < shards
    assert shard_of(namespace, name, shards) == k
    assert shard_of(namespace, name, 1) == 0


def test_the_same_in_another_process() -> None:
    # Python's own hash() is salted per process; a shard must not be.
    here = [shard_of("default", f"sj-{i}", 7) for i in range(50)]
    code = "from punctual.core import shard_of; print([shard_of('default', f'sj-{i}', 7) for i in range(50)])"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert there.strip() == str(here)


def test_pinned_values() -> None:
    # Changing the function reshuffles every installation's ScheduledJobs at upgrade: make it a decision.
    assert [shard_of("default", f"sj-{i}", 4) for i in range(8)] == PINNED


def test_the_split_is_even() -> None:
    counts = Counter(shard_of("default", f"sj-{i:05d}", 4) for i in range(10_000))
    assert set(counts) == {0, 1, 2, 3}
    assert all(2_300 < n < 2_700 for n in counts.values()), counts


def test_namespace_counts() -> None:
    spread = {shard_of(f"team-{i}", "backup", 8) for i in range(200)}
    assert len(spread) == 8  # the same name in different namespaces is not pinned to one shard


# -- buckets: the punctual.dev/bucket label and the shards' server-side selectors ------------------


@given(names, names)
def test_a_bucket_is_crc32_of_namespace_and_name_modulo_256(namespace: str, name: str) -> None:
    assert bucket_of(namespace, name) == zlib.crc32(f"{namespace}/{name}".encode()) % 256
    assert 0 <= bucket_of(namespace, name) < BUCKETS == 256


@given(names, names, st.integers(1, BUCKETS))
def test_the_shard_is_the_bucket_modulo_the_shard_count(namespace: str, name: str, shards: int) -> None:
    # So a Job's label never changes with the shard count: the shard is read off the bucket.
    assert shard_of(namespace, name, shards) == bucket_of(namespace, name) % shards
    assert bucket_of(namespace, name) in buckets_of_shard(shard_of(namespace, name, shards), shards)


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 16, 256])
def test_the_shards_buckets_partition_the_256(shards: int) -> None:
    owned = [set(buckets_of_shard(k, shards)) for k in range(shards)]
    assert sum(len(b) for b in owned) == BUCKETS
    assert set().union(*owned) == set(range(BUCKETS))
    assert all(owned), "a shard with no bucket would never run anything"


@pytest.mark.parametrize(("shard", "shards"), [(0, 0), (1, 1), (-1, 2), (0, 257)])
def test_buckets_of_a_shard_out_of_range_are_refused(shard: int, shards: int) -> None:
    with pytest.raises(ValueError, match="shard must be in"):
        buckets_of_shard(shard, shards)


def test_unsharded_one_selector_of_every_punctual_job() -> None:
    assert watch_selectors(0, 1) == (LABEL_SCHEDULED_JOB,)


def test_a_shards_selectors_as_the_api_server_reads_them() -> None:
    labelled, unlabelled = watch_selectors(1, 3)
    assert labelled == f"{LABEL_SCHEDULED_JOB},{LABEL_BUCKET} in ({','.join(str(b) for b in range(1, 256, 3))})"
    assert unlabelled == f"{LABEL_SCHEDULED_JOB},!{LABEL_BUCKET}"


@pytest.mark.parametrize("shards", [2, 3])
def test_each_job_is_selected_by_exactly_its_owners_shard(shards: int) -> None:
    # The selectors parsed as a server parses them (the emulator's parser), against real manifests:
    # a labelled Job matches only its owner's shard's first selector; a Job made before the label
    # existed matches every shard's second one (each keeps its own by the owner's name).
    spec = make_spec(schedule="* * * * *")
    slot = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    parsed = {k: [Selector.parse(labels=s, fields=None) for s in watch_selectors(k, shards)] for k in range(shards)}
    for i in range(200):
        owner = Owner(namespace="default", name=f"sj-{i}", uid=f"u-{i}")
        job = build_job(owner, spec, job_name=f"sj-{i}-1", slot=slot, trigger=Trigger.SCHEDULE)
        pod = {"metadata": job["spec"]["template"]["metadata"]}
        mine = shard_of("default", owner.name, shards)
        for body in (job, pod):
            assert [k for k in range(shards) if parsed[k][0].matches(body)] == [mine]
            assert not any(parsed[k][1].matches(body) for k in range(shards))
        del job["metadata"]["labels"][LABEL_BUCKET]  # as Punctual made it before the bucket label
        assert not any(parsed[k][0].matches(job) for k in range(shards))
        assert all(parsed[k][1].matches(job) for k in range(shards))
