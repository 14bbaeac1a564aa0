"""How many routine Events one ScheduledJob may post: client-go's spam filter, as a pure budget.

Every controller built on client-go posts Events through its ``EventCorrelator``, whose
``EventSourceObjectSpamFilter`` gives each involved object a token bucket: a burst of 25, then one
Event per 5 minutes. A CronJob that runs every minute therefore does not post two Events a minute
forever, and neither does a ScheduledJob: Events live in etcd (an hour by default), and 10,000
every-minute schedules would otherwise keep over a million of them. The run history in the status
keeps every run; Events are for people looking at ``kubectl describe``.

Punctual applies the budget to Normal Events only: a Warning (a failed run, a missed or skipped
slot, an invalid spec) is always posted. Pure: time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime, timedelta

__all__ = ["EventBudget"]


class EventBudget:
    """A token bucket per object: ``burst`` Events at once, then one per ``refill``."""

    def __init__(
        self, *, burst: int = 25, refill: timedelta = timedelta(minutes=5), max_objects: int = 100_000
    ) -> None:
        if burst < 0 or refill <= timedelta(0):
            raise ValueError("burst must be >= 0 and refill > 0")
        self.burst = burst
        self.refill = refill
        self.max_objects = max_objects
        self._buckets: OrderedDict[Hashable, tuple[float, datetime]] = OrderedDict()

    def allow(self, key: Hashable, now: datetime) -> bool:
        """Take a token for ``key`` if there is one."""
        tokens, since = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + max(0.0, (now - since) / self.refill))
        allowed = tokens >= 1.0
        self._buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > self.max_objects:
            self._buckets.popitem(last=False)  # the least recently used (at worst it gets a new burst)
        return allowed

    def forget(self, key: Hashable) -> None:
        self._buckets.pop(key, None)
