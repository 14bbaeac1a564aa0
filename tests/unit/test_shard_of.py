"""Which shard handles a ScheduledJob: stable across processes, spread evenly, trivial unsharded."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from punctual.core import shard_of

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
