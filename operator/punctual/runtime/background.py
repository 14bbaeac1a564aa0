"""Work beside the reconciles (status writes, Event posts): spawned, bounded, awaited at shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

__all__ = ["Background"]


class Background:
    """Tasks in flight, and the ``workers`` places they share for talking to the API."""

    def __init__(self, *, workers: int) -> None:
        self.workers = workers
        self.tasks: set[asyncio.Task[None]] = set()
        # At most `workers` of those talk to the API at once; the rest wait here, not in the HTTP
        # client's pool where their request timeout would run (a start-up burst of 10,000 status
        # writes otherwise timed out in the queue and was retried, adding load to a busy API).
        self._slots: asyncio.Semaphore | None = None

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the reconciles; the shutdown waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def slot(self) -> asyncio.Semaphore:
        """One of the ``workers`` places for a background write (made on the running loop)."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.workers)
        return self._slots

    def reset(self) -> None:
        """A fresh semaphore on the loop that is starting (an operator may run more than once)."""
        self._slots = asyncio.Semaphore(self.workers)

    async def wait(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
