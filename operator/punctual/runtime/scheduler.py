"""The central scheduler: one heap of wake-up times for all ScheduledJobs, and a pool of workers.

One task sleeps until the earliest wake-up (not a kopf timer or a task per object), hands due keys
to a bounded pool of workers, and never reconciles one key twice at the same time (a wake-up for a
key that is being reconciled runs again right after). Time comes from an injected clock; sleeping
uses the event loop's timers, so tests under looptime travel through a day in a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

__all__ = ["PAD", "RETRY_AFTER_ERROR", "Clock", "LoopClock", "Scheduler", "WallClock"]

K = TypeVar("K", bound=Hashable)
log = logging.getLogger("punctual.scheduler")  # the logger keeps its name from before the move

# Wake a little after the slot rather than a hair before it: timers may fire early by a clock tick,
# and a reconcile that runs before its slot only finds nothing due and sleeps again.
PAD = timedelta(milliseconds=2)
RETRY_AFTER_ERROR = timedelta(seconds=10)


class Clock(Protocol):
    """The only source of ``now`` in the runtime."""

    def now(self) -> datetime: ...


class WallClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class LoopClock:
    """A clock that follows the event loop's time (for tests under looptime)."""

    def __init__(self, start: datetime, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._start = start
        self._loop = loop
        self._base: float | None = None
        try:
            running = loop or asyncio.get_running_loop()
        except RuntimeError:
            return  # made outside a loop: time starts at the first reading
        self._base = running.time()

    def now(self) -> datetime:
        loop = self._loop or asyncio.get_running_loop()
        if self._base is None:
            self._base = loop.time()
        return self._start + timedelta(seconds=loop.time() - self._base)


class Scheduler(Generic[K]):
    """Wake each key at its time; ``evaluate(key)`` returns the key's next wake-up (or None)."""

    def __init__(
        self,
        *,
        clock: Clock,
        evaluate: Callable[[K], Awaitable[datetime | None]],
        workers: int = 32,
        on_heap_size: Callable[[int], None] | None = None,
    ) -> None:
        self.clock = clock
        self._evaluate = evaluate
        self._workers = workers
        self._on_heap_size = on_heap_size
        self._heap: list[tuple[datetime, int, K]] = []
        self._due: dict[K, datetime] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()
        self._running: set[K] = set()
        self._again: set[K] = set()
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self.paused = False

    def __len__(self) -> int:
        return len(self._due)

    def wake(self, key: K, when: datetime | None = None) -> None:
        """Reconcile ``key`` at ``when`` (default: now), unless it is due earlier already."""
        when = when or self.clock.now()
        current = self._due.get(key)
        if current is not None and current <= when:
            return
        self._due[key] = when
        heapq.heappush(self._heap, (when, next(self._seq), key))
        self._changed.set()

    def set_paused(self, paused: bool) -> None:
        """Stop (or resume) handing out wake-ups; entries stay in the heap."""
        self.paused = paused
        self._changed.set()

    def forget(self, key: K) -> None:
        self._due.pop(key, None)

    def clear(self) -> None:
        self._due.clear()
        self._heap.clear()

    async def run(self) -> None:
        """Run until cancelled."""
        workers = [asyncio.create_task(self._worker(), name=f"punctual-worker-{i}") for i in range(self._workers)]
        try:
            await self._dispatch()
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _dispatch(self) -> None:
        while True:
            while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
                heapq.heappop(self._heap)  # superseded entry (rescheduled or forgotten)
            if self._on_heap_size:
                self._on_heap_size(len(self._due))
            if not self._heap or self.paused:
                self._changed.clear()
                await self._changed.wait()
                continue
            when, _, key = self._heap[0]
            delay = (when + PAD - self.clock.now()).total_seconds()
            if delay > 0:
                self._changed.clear()
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps the wait in a new task,
                # which kopf counts as its own on exit (it waits up to 5 s for it, scheduling on meanwhile).
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._changed.wait()
                continue
            heapq.heappop(self._heap)
            del self._due[key]
            if key in self._running:
                self._again.add(key)
            else:
                self._running.add(key)
                self._queue.put_nowait(key)

    async def _worker(self) -> None:
        while True:
            key = await self._queue.get()
            nxt: datetime | None
            try:
                nxt = await self._evaluate(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconcile of %s failed; retrying in %s", key, RETRY_AFTER_ERROR)
                nxt = self.clock.now() + RETRY_AFTER_ERROR
            finally:
                self._running.discard(key)
            if key in self._again:
                self._again.discard(key)
                self.wake(key)
            if nxt is not None:
                self.wake(key, nxt)
