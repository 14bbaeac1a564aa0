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

__all__ = ["MAX_EVENTS_PER_RECONCILE", "EventRecorder"]

log = logging.getLogger("punctual")
MAX_EVENTS_PER_RECONCILE = 10
"""A 10,000-slot catch-up must not post 10,000 Events (every one is still logged)."""


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
    ) -> None:
        self.kube = kube
        self.background = background
        self.instance = instance
        self.budget = EventBudget(burst=burst, refill=refill)

    def forget(self, key: Key) -> None:
        self.budget.forget(key)

    def post(self, key: Key, uid: str, events: Sequence[Event], now: datetime) -> None:
        """Post in the background: the next ScheduledJob's Job create must not wait for these."""
        if events:
            self.background.spawn(self._post(key, uid, list(events), now))

    async def _post(self, key: Key, uid: str, events: list[Event], now: datetime) -> None:
        ns, name = key
        for event in events[:MAX_EVENTS_PER_RECONCILE]:
            if event.type == "Normal" and not self.budget.allow(key, now):
                continue  # over this object's budget (as client-go's spam filter); the log line stays
            try:
                async with self.background.slot():
                    await self._send(ns, name, uid, event, now)
            except (ApiError, ClusterUnreachable) as exc:
                log.info("%s/%s: could not post Event %s: %s", ns, name, event.reason, exc)
        for event in events:
            level = logging.WARNING if event.type == "Warning" else logging.INFO
            log.log(level, "%s/%s: %s: %s", ns, name, event.reason, event.message)

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
