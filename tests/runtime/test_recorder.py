"""The Event recorder: every Event logged, posts bounded by the object's budget and by a queue of
MAX_QUEUED_EVENTS (as client-go's broadcaster), what it drops counted."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from punctual.core import Event
from punctual.runtime.background import Background
from punctual.runtime.kube import Kube
from punctual.runtime.metrics import Metrics
from punctual.runtime.recorder import MAX_EVENTS_PER_RECONCILE, MAX_QUEUED_EVENTS, EventRecorder

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


class _SlowApi:
    """Posts wait until released: the API server is slow."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.posted: list[tuple[str, str]] = []

    async def post_event(self, *, name: str, reason: str, **_: Any) -> None:
        await self.release.wait()
        self.posted.append((name, reason))


def _recorder(api: _SlowApi, metrics: Metrics, *, max_queued: int, burst: int = 25) -> EventRecorder:
    return EventRecorder(
        kube=lambda: cast(Kube, api),
        background=Background(workers=2),
        instance="test",
        burst=burst,
        refill=timedelta(minutes=5),
        on_dropped=metrics.event_dropped,
        max_queued=max_queued,
    )


def _dropped(metrics: Metrics, reason: str) -> float:
    return float(metrics.events_dropped.labels(reason)._value.get())


@pytest.mark.asyncio
async def test_a_full_queue_drops_new_events_logs_once_and_takes_them_again_once_drained(
    caplog: pytest.LogCaptureFixture,
) -> None:
    api, metrics = _SlowApi(), Metrics()
    recorder = _recorder(api, metrics, max_queued=3)
    caplog.set_level(logging.INFO, logger="punctual")
    for i in range(5):
        recorder.post(("ns", f"sj-{i}"), f"u{i}", [Event("Warning", "RunFailed", f"run {i} failed")], NOW)
    await asyncio.sleep(0)
    assert recorder.queued == 3
    assert _dropped(metrics, "queue") == 2
    full = [r for r in caplog.records if "waiting to be posted" in r.getMessage()]
    assert len(full) == 1 and full[0].levelno == logging.WARNING  # one line per spell, not one per Event
    # Every Event is logged, posted or not.
    assert sum("RunFailed: run" in r.getMessage() for r in caplog.records) == 5
    api.release.set()
    await recorder.background.wait()
    assert sorted(api.posted) == [("sj-0", "RunFailed"), ("sj-1", "RunFailed"), ("sj-2", "RunFailed")]
    assert recorder.queued == 0
    recorder.post(("ns", "sj-9"), "u9", [Event("Warning", "RunFailed", "again")], NOW)
    await recorder.background.wait()
    assert ("sj-9", "RunFailed") in api.posted
    assert _dropped(metrics, "queue") == 2


@pytest.mark.asyncio
async def test_normal_events_over_the_budget_are_counted_as_dropped() -> None:
    api, metrics = _SlowApi(), Metrics()
    api.release.set()
    recorder = _recorder(api, metrics, max_queued=MAX_QUEUED_EVENTS, burst=2)
    for i in range(5):
        recorder.post(("ns", "sj"), "u", [Event("Normal", "RunStarted", f"run {i}")], NOW)
    await recorder.background.wait()
    assert len(api.posted) == 2
    assert _dropped(metrics, "budget") == 3
    assert _dropped(metrics, "queue") == 0


@pytest.mark.asyncio
async def test_a_cancelled_post_gives_its_place_back() -> None:
    api, metrics = _SlowApi(), Metrics()
    recorder = _recorder(api, metrics, max_queued=10)
    recorder.post(("ns", "sj"), "u", [Event("Warning", "A", "a"), Event("Warning", "B", "b")], NOW)
    await asyncio.sleep(0)
    assert recorder.queued == 2
    for task in list(recorder.background.tasks):
        task.cancel()
    await recorder.background.wait()
    assert recorder.queued == 0


def test_both_reasons_are_exposed_from_the_start() -> None:
    text = Metrics().exposition().decode()
    assert 'punctual_events_dropped_total{reason="budget"} 0.0' in text
    assert 'punctual_events_dropped_total{reason="queue"} 0.0' in text


@pytest.mark.asyncio
async def test_events_beyond_the_decisions_cap_are_logged_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    api, metrics = _SlowApi(), Metrics()
    api.release.set()
    recorder = _recorder(api, metrics, max_queued=MAX_QUEUED_EVENTS)
    caplog.set_level(logging.INFO, logger="punctual")
    missed = [Event("Warning", "SlotMissed", f"slot {i} missed") for i in range(MAX_EVENTS_PER_RECONCILE + 5)]
    recorder.post(("ns", "sj"), "u", missed, NOW)
    await recorder.background.wait()
    assert len(api.posted) == MAX_EVENTS_PER_RECONCILE
    assert _dropped(metrics, "budget") == 5
    assert sum("SlotMissed: slot" in r.getMessage() for r in caplog.records) == MAX_EVENTS_PER_RECONCILE + 5
