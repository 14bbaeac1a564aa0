"""The /metrics exposition at a size: generate_latest against Punctual's writer, on the same state.

Every ScheduledJob has run once (a start with a lag, a success with a duration, a state), which
gives each its per-object series. Prints the memory those series hold (tracemalloc, per
ScheduledJob), the CPU time of each way of writing them, and checks they wrote the same bytes.

    python bench/exposition.py --sizes 1000,10000
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from datetime import UTC, datetime

from prometheus_client.exposition import generate_latest

from punctual.runtime.metric_families import _WithoutCreated
from punctual.runtime.metrics import Metrics


def measure(count: int) -> str:
    now = datetime.now(UTC)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    m = Metrics()
    for i in range(count):
        ns, name = "bench", f"sj-{i:05d}"
        m.run_started(ns, name, trigger="schedule", lag_seconds=0.5)
        m.run_finished(ns, name, result="Succeeded", duration_seconds=1.0, exit_code=0, finished_at=now)
        m.set_state(
            ns, name, active=1, queued=0, next_run=now, interval_seconds=60.0, budget_seconds=None,
            oldest_active_start=now, suspended=False, paused=False, last_success=now, last_failure=None,
        )  # fmt: skip
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    reference = _WithoutCreated(lambda: [*m._process_wide_families(), m._series])
    started = time.process_time()
    theirs = generate_latest(reference)
    middle = time.process_time()
    ours = m.exposition()
    ended = time.process_time()
    same = "same bytes" if ours == theirs else "DIFFERENT BYTES"
    lines = ours.count(b"\n")
    return (
        f"| {count:,} | {held / count / 1024:.2f} KiB | {len(ours) // 1024:,} KB, {lines:,} lines "
        f"| {(middle - started) * 1000:,.0f} ms "
        f"| {(ended - middle) * 1000:,.0f} ms | {same} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    args = parser.parse_args()
    print("| ScheduledJobs | series held / object | exposition | generate_latest (CPU) | Metrics.exposition (CPU) | |")
    print("|---:|---:|---|---:|---:|---|")
    for count in (int(n) for n in args.sizes.split(",")):
        print(measure(count), flush=True)


if __name__ == "__main__":
    main()
