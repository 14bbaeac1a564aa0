"""Peering: only the leader schedules. ``is_leader`` is kopf's rule as a pure function; the loop follows it.

kopf's peering pauses same-priority peers and exposes no public "paused" signal (and daemons would
add finalizers), so the scheduler reads the peering object itself and applies kopf's rule.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from punctual.api import parse_time
from punctual.bodies import Peering
from punctual.runtime.kube import ApiError, ClusterUnreachable
from punctual.runtime.scheduler import Clock

__all__ = ["follow_leadership", "is_leader"]

log = logging.getLogger("punctual")


def is_leader(peering: Peering | None, *, me: str, priority: int, now: datetime) -> bool:
    """kopf's rule: pause while another live peer has the same or a higher priority. Pure.

    No peering object: nobody may schedule. Unreadable entries are ignored; a peer is live until its
    ``lastseen`` plus ``lifetime``.
    """
    if peering is None:
        return False
    for peer_id, info in (peering.get("status") or {}).items():
        if peer_id == me or not isinstance(info, Mapping):
            continue
        try:
            seen = parse_time(str(info.get("lastseen")))
            lifetime = float(info.get("lifetime", 60))
            their_priority = int(info.get("priority", 0))
        except (ValueError, TypeError):
            continue
        if seen + timedelta(seconds=lifetime) >= now and their_priority >= priority:
            return False
    return True


async def follow_leadership(
    read_peering: Callable[[], Awaitable[Peering | None]],
    *,
    me: str,
    priority: int,
    clock: Clock,
    interval: float,
    leading: Callable[[], bool],
    on_change: Callable[[bool], None],
) -> None:
    """Read the peering object every ``interval`` seconds; call ``on_change`` when leadership flips."""
    while True:
        try:
            leader = is_leader(await read_peering(), me=me, priority=priority, now=clock.now())
        except (ApiError, ClusterUnreachable) as exc:
            log.warning("peering check failed: %s", exc)
            leader = False
        if leader != leading():
            log.info("%s scheduling (priority %s)", "resuming" if leader else "pausing", priority)
            on_change(leader)
        await asyncio.sleep(interval)
