"""Writing ``status``: one merge patch per change, close changes sharing one write, never overlapping.

A decided status is kept pending for ``status_delay`` (the reconcile reads the pending one, newer
than the API's copy), as its compact JSON: at a slot thousands are pending at once, and the model
of a status with 20 history records holds some 39 KiB against its text's 8. It is then written by
at most ``workers`` writer tasks, which take the due ScheduledJobs in turn, one write per
ScheduledJob at a time: a slow older PATCH overtaken by a newer one would otherwise land last and
put an old status back. (A task per due ScheduledJob, most of them waiting for a place, was 4,500 to
6,200 tasks at each slot at 10,000 ScheduledJobs.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta

from punctual.api import ScheduledJobStatus
from punctual.bodies import ScheduledJobBody
from punctual.runtime.background import Background
from punctual.runtime.cache import Key
from punctual.runtime.kube import ApiError, ClusterUnreachable

__all__ = ["RETRY", "Patch", "StatusWriter"]

log = logging.getLogger("punctual")
RETRY = timedelta(seconds=5)
"""How soon a failed write (or a transient failure of a reconcile) is tried again."""

Patch = Callable[[str, str, Mapping[str, object]], Awaitable[ScheduledJobBody]]
"""A merge patch of the status subresource (namespace, name, the new status' fields): the updated object."""


class StatusWriter:
    """Pending statuses and their writes."""

    def __init__(
        self,
        *,
        delay: float,
        background: Background,
        current: Callable[[Key], Mapping[str, object]],
        patch: Patch,
        on_written: Callable[[ScheduledJobBody, int], None],
        ticket: Callable[[], int] = lambda: 0,
    ) -> None:
        self.delay = delay
        self.background = background
        self.current = current  # the status the API has (from the cache), to skip unchanged writes
        self.patch = patch
        # The answer and the ticket taken before the write (punctual.runtime.versions).
        self.on_written = on_written
        self.ticket = ticket
        self.pending: dict[Key, str] = {}  # each status decided and not yet written, as compact JSON
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self._due: dict[Key, None] = {}  # delay over, waiting for a writer, in order (an ordered set)
        self._writing: set[Key] = set()  # being written now (by one writer each)
        self._writers = 0  # writer tasks running, at most background.workers

    def pending_status(self, key: Key) -> ScheduledJobStatus | None:
        """The status decided for ``key`` and not yet written, as the model (None when none is)."""
        text = self.pending.get(key)
        return None if text is None else ScheduledJobStatus.model_validate_json(text)

    def forget(self, key: Key) -> None:
        """The ScheduledJob is gone: nothing of it is written any more."""
        self.pending.pop(key, None)
        self._due.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    async def save(self, key: Key, status: ScheduledJobStatus) -> None:
        """Write now, or keep it pending for ``delay`` so that close changes share one write.

        A crash inside the delay loses nothing that matters: the Jobs carry their slots, so the next
        operator adopts them and decides the rest again; each slot is still decided once.
        """
        text = status.model_dump_json(exclude_none=True)
        if self.delay <= 0:
            await self.write(key, text)
            return
        self.pending[key] = text
        if key not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[key] = loop.call_later(self.delay, self._start_flush, key)

    def _start_flush(self, key: Key) -> None:
        self._timers.pop(key, None)
        if key in self._writing:
            return  # one write per ScheduledJob at a time: its writer looks again when done
        self._due[key] = None
        if self._writers < self.background.workers:
            self._writers += 1
            self.background.spawn(self._drain())

    async def _drain(self) -> None:
        """Write the due ScheduledJobs in turn until none is due."""
        try:
            while self._due:
                key = next(iter(self._due))
                del self._due[key]
                self._writing.add(key)
                try:
                    await self._flush(key)
                except Exception:  # a bug, not the API: the other ScheduledJobs are still written
                    log.exception("%s/%s: writing status", key[0], key[1])
                finally:
                    self._writing.discard(key)
        finally:
            self._writers -= 1

    async def _flush(self, key: Key) -> None:
        while (status := self.pending.get(key)) is not None:
            try:
                async with self.background.slot():
                    latest = self.pending.get(key)  # the newest, after the wait
                    if latest is None:
                        return  # deleted meanwhile
                    status = latest
                    await self.write(key, status)
            except (ApiError, ClusterUnreachable) as exc:
                log.warning("%s/%s: writing status: %s; retrying", key[0], key[1], exc)
                if key not in self._timers:
                    loop = asyncio.get_running_loop()
                    self._timers[key] = loop.call_later(RETRY.total_seconds(), self._start_flush, key)
                return
            if self.pending.get(key) is status:
                del self.pending[key]
            elif key in self._timers:
                return  # a newer status is pending and its own timer will write it

    async def flush_all(self) -> None:
        """Write every pending status now (at shutdown)."""
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        self._due.clear()
        for key in list(self.pending):
            with contextlib.suppress(ApiError, ClusterUnreachable):
                await self.write(key, self.pending.pop(key))

    async def write(self, key: Key, status: str) -> None:
        """One merge patch of ``status`` (its compact JSON; fields gone from it are nulled), unless nothing changed."""
        raw = self.current(key)
        new: dict[str, object] = json.loads(status)
        if new == raw:
            return
        patch: dict[str, object] = dict(new)
        for field in raw:
            if field not in new:
                patch[field] = None  # merge patch: null removes the field
        ticket = self.ticket()
        try:
            updated = await self.patch(key[0], key[1], patch)
        except ApiError as exc:
            if exc.status == 404:
                return  # deleted meanwhile
            raise
        if updated:
            self.on_written(updated, ticket)
