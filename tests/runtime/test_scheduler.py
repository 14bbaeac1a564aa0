"""The central scheduler under looptime: a day of wake-ups runs in well under a second of wall time."""

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from punctual.runtime.scheduler import RETRY_AFTER_ERROR, LoopClock, Scheduler

START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


async def _run_for(scheduler: Scheduler[str], seconds: float) -> None:
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_day_of_quarter_hours_for_a_hundred_keys_is_punctual() -> None:
    clock = LoopClock(START)
    seen: dict[str, list[datetime]] = defaultdict(list)
    lags: list[float] = []

    async def evaluate(key: str) -> datetime:
        now = clock.now()
        seen[key].append(now)
        due = START + timedelta(minutes=15) * len(seen[key])
        lags.append((now - (due - timedelta(minutes=15))).total_seconds())
        return due

    scheduler: Scheduler[str] = Scheduler(clock=clock, evaluate=evaluate, workers=8)
    for i in range(100):
        scheduler.wake(f"sj-{i}", START)
    wall = time.monotonic()
    await _run_for(scheduler, 86400 + 1)
    assert time.monotonic() - wall < 30  # virtual day; the bound is loose for slow CI machines
    assert all(len(times) == 97 for times in seen.values())  # 00:00 .. 24:00 inclusive
    assert min(lags) >= 0  # never early
    assert max(lags) < 0.1  # and at most the padding late, in virtual time


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_an_earlier_wake_preempts_the_sleep() -> None:
    clock = LoopClock(START)
    calls: list[tuple[str, datetime]] = []

    async def evaluate(key: str) -> None:
        calls.append((key, clock.now()))

    scheduler: Scheduler[str] = Scheduler(clock=clock, evaluate=evaluate, workers=2)
    scheduler.wake("late", START + timedelta(hours=1))
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(10)
    scheduler.wake("early", clock.now() + timedelta(seconds=5))
    await asyncio.sleep(3600)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert [k for k, _ in calls] == ["early", "late"]
    assert abs((calls[0][1] - (START + timedelta(seconds=15))).total_seconds()) < 0.1


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_key_is_never_reconciled_twice_at_once() -> None:
    clock = LoopClock(START)
    running: set[str] = set()
    overlaps = 0
    runs = 0

    async def evaluate(key: str) -> None:
        nonlocal overlaps, runs
        if key in running:
            overlaps += 1
        running.add(key)
        await asyncio.sleep(5)  # a slow reconcile
        running.discard(key)
        runs += 1

    scheduler: Scheduler[str] = Scheduler(clock=clock, evaluate=evaluate, workers=4)
    task = asyncio.create_task(scheduler.run())
    scheduler.wake("sj")
    await asyncio.sleep(1)
    scheduler.wake("sj")  # arrives while the first reconcile runs: must run after it, not beside it
    await asyncio.sleep(30)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert overlaps == 0
    assert runs == 2


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_failing_reconcile_is_retried_later() -> None:
    clock = LoopClock(START)
    attempts: list[datetime] = []

    async def evaluate(key: str) -> None:
        attempts.append(clock.now())
        if len(attempts) == 1:
            raise RuntimeError("API down")

    scheduler: Scheduler[str] = Scheduler(clock=clock, evaluate=evaluate, workers=1)
    scheduler.wake("sj")
    await _run_for(scheduler, 60)
    assert len(attempts) == 2
    assert attempts[1] - attempts[0] >= RETRY_AFTER_ERROR


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_forgotten_and_paused_keys_do_not_run() -> None:
    clock = LoopClock(START)
    calls: list[str] = []

    async def evaluate(key: str) -> None:
        calls.append(key)

    scheduler: Scheduler[str] = Scheduler(clock=clock, evaluate=evaluate, workers=1)
    scheduler.wake("gone", START + timedelta(seconds=10))
    scheduler.forget("gone")
    scheduler.wake("held", START + timedelta(seconds=20))
    scheduler.set_paused(True)
    task = asyncio.create_task(scheduler.run())
    await asyncio.sleep(60)
    assert calls == []
    scheduler.set_paused(False)
    await asyncio.sleep(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert calls == ["held"]
    assert len(scheduler) == 0
