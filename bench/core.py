"""Benchmark of the scheduler core alone: ``decide`` + ``Schedule.next_after`` per wake-up, memory, heap.

No API, no kopf: this measures the pure core and the central heap as the number of ScheduledJobs
grows. For each size N it reports

* **memory**: the growth of the process's RSS (or, with ``--tracemalloc``, of the traced heap) from
  holding N parsed ScheduledJobs (Subject with its pydantic spec, Schedule, status, the observed
  previous Job), per object and in total;
* **wake-up**: the time of one wake-up of a ScheduledJob whose slot is due (``decide`` with the
  status and the Job of the previous slot, plus ``Schedule.next_after`` for the requeue), over a
  sample of the N objects (``--sample``; all of them if N is smaller), p50 and mean;
* **heap**: N wake-ups pushed into :class:`punctual.runtime.scheduler.Scheduler` (``wake``), then the real
  dispatcher and workers run with a clock past every wake-up until all N were handed to
  ``evaluate``; µs per wake-up for the push and for the pop+dispatch.

Schedules are mixed: 5-field, 6-field with seconds, ``H``, ``@hourly``, in UTC, Europe/Berlin,
America/New_York and Asia/Kolkata. Usage::

    python bench/core.py --sizes 1000,10000,100000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from punctual.api import ScheduledJobStatus, Trigger
from punctual.core import Subject, build_schedule, decide, parse_spec
from punctual.jobs import JobPhase, ObservedJob, slot_job_name
from punctual.runtime.scheduler import Scheduler
from punctual.schedule import Schedule

__all__ = ["SCHEDULES", "Row", "bench_heap", "bench_size", "main"]

SCHEDULES: tuple[tuple[str, str | None], ...] = (
    ("*/5 * * * *", None),
    ("*/10 * * * * *", None),
    ("H * * * *", None),
    ("@hourly", None),
    ("30 9 * * 1-5", "Europe/Berlin"),
    ("0 */2 * * *", "America/New_York"),
    ("15,45 * * * *", "Asia/Kolkata"),
    ("H H(0-6) * * *", "Europe/Berlin"),
    ("0 0 * * * *", "America/New_York"),
    ("*/15 9-17 * * 1-5", "Asia/Kolkata"),
)
TEMPLATE: dict[str, Any] = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
}
EPOCH = datetime(2026, 1, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    n: int
    mem_total_mb: float
    mem_per_object_kb: float
    sample: int
    wake_p50_us: float
    wake_mean_us: float
    push_us: float
    pop_us: float


@dataclass
class _Object:
    subject: Subject
    schedule: Schedule
    status: ScheduledJobStatus
    previous: ObservedJob
    slot: datetime


def _make(i: int, rng: random.Random) -> _Object:
    expr, zone = SCHEDULES[i % len(SCHEDULES)]
    raw: dict[str, Any] = {"schedule": expr, "jobTemplate": TEMPLATE, "concurrencyPolicy": "Forbid"}
    if zone:
        raw["timeZone"] = zone
    name = f"sj-{i:06d}"
    subject = Subject(
        namespace=f"ns-{i % 50}", name=name, uid=f"uid-{i}", creation=EPOCH - timedelta(days=30),
        spec=parse_spec(raw), generation=1,
    )
    schedule = build_schedule(subject)
    # A moment in the coming week, then this object's two slots around it: the previous one ran and
    # finished, the next one is the due slot of the wake-up.
    start = EPOCH + timedelta(seconds=rng.randrange(7 * 86400))
    prev = schedule.next_after(start)
    assert prev is not None
    slot = schedule.next_after(prev)
    assert slot is not None
    seconds = schedule.has_seconds
    previous = ObservedJob(
        name=slot_job_name(name, prev, seconds=seconds), scheduled_time=prev, trigger=Trigger.SCHEDULE,
        phase=JobPhase.SUCCEEDED, created=prev, start_time=prev, completion_time=prev + timedelta(milliseconds=500),
    )
    # The status after the previous slot started (its Job has finished since: this wake-up folds it in).
    status = ScheduledJobStatus(scheduledThrough=prev, lastScheduleTime=prev, nextScheduleTime=slot)
    return _Object(subject=subject, schedule=schedule, status=status, previous=previous, slot=slot)


def _wakeup(obj: _Object) -> float:
    """One wake-up at the due slot; returns its duration in seconds."""
    now = obj.slot + timedelta(milliseconds=3)
    t0 = time.perf_counter()
    decision = decide(obj.subject, status=obj.status, jobs=[obj.previous], now=now)
    nxt = obj.schedule.next_after(now)
    elapsed = time.perf_counter() - t0
    assert len(decision.creates) == 1, (obj.subject.spec.schedule, obj.slot, decision)
    assert nxt is not None and nxt > now
    return elapsed


def bench_heap(n: int) -> tuple[float, float]:
    """µs per wake-up for pushing n wake-ups and for dispatching all of them (they are all due)."""
    handled = 0
    done = asyncio.Event()

    class _Past:
        def now(self) -> datetime:
            return EPOCH + timedelta(days=30)

    async def evaluate(key: int) -> datetime | None:
        nonlocal handled
        handled += 1
        if handled == n:
            done.set()
        return None

    async def go() -> tuple[float, float]:
        rng = random.Random(n)
        times = [EPOCH + timedelta(seconds=rng.randrange(86400), microseconds=rng.randrange(10**6)) for _ in range(n)]
        sched: Scheduler[int] = Scheduler(clock=_Past(), evaluate=evaluate)
        t0 = time.perf_counter()
        for key, when in enumerate(times):
            sched.wake(key, when)
        t1 = time.perf_counter()
        task = asyncio.create_task(sched.run())
        await done.wait()
        t2 = time.perf_counter()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6

    return asyncio.run(go())


def _rss() -> int:
    """The resident set size of this process in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_size(n: int, *, sample: int, trace: bool = False, seed: int = 1) -> Row:
    rng = random.Random(seed)
    gc.collect()
    if trace:
        tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0] if trace else _rss()
    objects = [_make(i, rng) for i in range(n)]
    gc.collect()
    held = (tracemalloc.get_traced_memory()[0] if trace else _rss()) - base
    tracemalloc.stop()
    picks = objects if n <= sample else rng.sample(objects, sample)
    for obj in picks[:50]:
        _wakeup(obj)  # warm caches (zoneinfo, croniter) before timing
    times = [_wakeup(obj) for obj in picks]
    push, pop = bench_heap(n)
    return Row(
        n=n,
        mem_total_mb=held / 2**20,
        mem_per_object_kb=held / n / 1024,
        sample=len(picks),
        wake_p50_us=statistics.median(times) * 1e6,
        wake_mean_us=statistics.fmean(times) * 1e6,
        push_us=push,
        pop_us=pop,
    )


def table(rows: Sequence[Row], *, how: str = "RSS growth") -> str:
    out = [
        f"| ScheduledJobs | memory held (MB, {how}) | per object (KB) | wake-ups timed | wake-up p50 (µs) "
        "| wake-up mean (µs) | heap push (µs/wake-up) | heap pop+dispatch (µs/wake-up) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.n:,} | {r.mem_total_mb:.1f} | {r.mem_per_object_kb:.1f} | {r.sample:,} | {r.wake_p50_us:.0f} "
            f"| {r.wake_mean_us:.0f} | {r.push_us:.2f} | {r.pop_us:.2f} |"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="comma-separated numbers of ScheduledJobs")
    parser.add_argument("--sample", type=int, default=5000, help="wake-ups timed per size (at most N)")
    parser.add_argument(
        "--tracemalloc", action="store_true", help="measure memory with tracemalloc (slow) instead of RSS growth"
    )
    args = parser.parse_args(argv)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        rows.append(bench_size(n, sample=args.sample, trace=args.tracemalloc))
        print(f"done N={n}", file=sys.stderr, flush=True)
    print(table(rows, how="tracemalloc" if args.tracemalloc else "RSS growth"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
