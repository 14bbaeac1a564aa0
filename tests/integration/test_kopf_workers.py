"""kopf's per-object workers: gone soon after a ScheduledJob's last event, and the next event still handled.

kopf hands each object's events to a worker task of its own, which keeps the last event's body
until it has idled for ``settings.queueing.idle_timeout`` (kopf's default 5 s). Every status write
of ours echoes back as an event, so with the default every ScheduledJob held a worker and its
whole body for 5 s at each slot (``punctual.runtime.app.KOPF_IDLE_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import gc
import time

from integration_support import NS, SJ_API, OperatorFactory, get_sj, scheduled_job, status
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.runtime.app import KOPF_IDLE_TIMEOUT


def _kopf_workers() -> list[asyncio.Task[object]]:
    """kopf's live per-object workers (its tasks are named ``worker for (resource, uid)``), in any loop."""
    return [
        t
        for t in gc.get_objects()
        if isinstance(t, asyncio.Task) and t.get_name().startswith("worker for") and not t.done()
    ]


def test_kopf_workers_end_soon_after_the_last_event_and_later_events_still_reach_the_cache(
    emulator: Emulator, operator: OperatorFactory
) -> None:
    running = operator()
    names = [f"idle-{n}" for n in range(10)]
    for name in names:
        emulator.create(scheduled_job(name, "0 0 1 1 *"))
    # Each gets its first status written (nextScheduleTime), whose echo is its last event for a year.
    wait_for(lambda: all(status(emulator, n).get("nextScheduleTime") for n in names), 20, what="first statuses")
    versions = {n: get_sj(emulator, n)["metadata"]["resourceVersion"] for n in names}
    wait_for(
        lambda: all(running.op.sjs[(NS, n)]["metadata"]["resourceVersion"] == v for n, v in versions.items()),
        10,
        what="the cache at the written versions",
    )
    settled = time.monotonic()
    wait_for(lambda: not _kopf_workers(), 3 * KOPF_IDLE_TIMEOUT + 1, interval=0.05, what="kopf's workers ended")
    # kopf's default (5 s) would keep them well past this.
    assert time.monotonic() - settled < 4.0

    emulator.patch(SJ_API, "scheduledjobs", names[0], {"spec": {"schedule": "0 0 2 1 *"}}, namespace=NS)
    wait_for(
        lambda: status(emulator, names[0]).get("nextScheduleTime", "").endswith("-01-02T00:00:00Z"),
        20,
        what="the changed schedule decided (a new worker took the event)",
    )
