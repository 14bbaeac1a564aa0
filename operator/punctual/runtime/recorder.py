"""Posting the core's Events, within a per-object budget (as client-go's EventRecorder and spam filter)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from punctual.core import Event
from punctual.events import EventBudget
from punctual.runtime.background import Background
from punctual.runtime.cache import Key
from punctual.runtime.kube import ApiError, ClusterUnreachable, Kube

__all__ = ["MAX_EVENTS_PER_RECONCILE", "MAX_QUEUED_EVENTS", "EventRecorder"]

log = logging.getLogger("punctual")
MAX_EVENTS_PER_RECONCILE = 10
"""A 10,000-slot catch-up must not post 10,000 Events (every one is still logged)."""
MAX_QUEUED_EVENTS = 1000
"""Events waiting to be posted, at most (client-go's broadcaster queues 1,000, then drops): a slow or
saturated API server must not make the operator hold an ever longer line of them."""


class EventRecorder:
    """Posts Events in the background; logs every one of them."""

    def __init__(
        self,
        *,
        kube: Callable[[], Kube],
        background: Background,
        instance: str,
        burst: int,
        refill: timedelta,
        on_dropped: Callable[[str], None] = lambda reason: None,
        max_queued: int = MAX_QUEUED_EVENTS,
    ) -> None:
        self.kube = kube
        self.background = background
        self.instance = instance
        self.budget = EventBudget(burst=burst, refill=refill)
        # reason: "budget" (the spam filter, or beyond MAX_EVENTS_PER_RECONCILE) or "queue" (MAX_QUEUED_EVENTS)
        self.on_dropped = on_dropped
        self.max_queued = max_queued
        self.queued = 0  # Events taken for posting and not yet posted (or failed)
        self._dropping = False  # logged once per spell of a full queue

    def forget(self, key: Key) -> None:
        self.budget.forget(key)

    def reset(self) -> None:
        """An operator that starts (again): no Event of an earlier run is waiting."""
        self.queued = 0
        self._dropping = False

    def post(self, key: Key, uid: str, events: Sequence[Event], now: datetime) -> None:
        """Log every Event now; post those within the budget and the queue's room in the background
        (the next ScheduledJob's Job create must not wait for these)."""
        ns, name = key
        for event in events:
            level = logging.WARNING if event.type == "Warning" else logging.INFO
            log.log(level, "%s/%s: %s: %s", ns, name, event.reason, event.message)
        taken = []
        for event in events[:MAX_EVENTS_PER_RECONCILE]:
            if event.type == "Normal" and not self.budget.allow(key, now):
                self.on_dropped("budget")  # over this object's budget (as client-go's spam filter)
                continue
            if self.queued >= self.max_queued:
                self.on_dropped("queue")
                if not self._dropping:
                    self._dropping = True
                    log.warning(
                        "%d Events are waiting to be posted; dropping new ones until the API server catches up "
                        "(every Event is still logged; punctual_events_dropped_total counts them)",
                        self.queued,
                    )
                continue
            taken.append(event)
        for _ in events[MAX_EVENTS_PER_RECONCILE:]:
            self.on_dropped("budget")  # beyond the decision's own cap
        if taken:
            self.queued += len(taken)
            self.background.spawn(self._post(key, uid, taken, now))

    async def _post(self, key: Key, uid: str, events: list[Event], now: datetime) -> None:
        ns, name = key
        left = len(events)
        try:
            for event in events:
                try:
                    async with self.background.slot():
                        await self._send(ns, name, uid, event, now)
                except (ApiError, ClusterUnreachable) as exc:
                    log.info("%s/%s: could not post Event %s: %s", ns, name, event.reason, exc)
                left -= 1
                self.queued -= 1
        finally:
            self.queued -= left  # cancelled (at shutdown): the rest are not posted
            if self._dropping and self.queued < self.max_queued // 2:
                self._dropping = False

    def _send(self, ns: str, name: str, uid: str, event: Event, now: datetime) -> Awaitable[None]:
        return self.kube().post_event(
            namespace=ns,
            name=name,
            uid=uid,
            type_=event.type,
            reason=event.reason,
            message=event.message,
            now=now,
            instance=self.instance,
        )
