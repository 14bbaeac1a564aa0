"""The status writer: a pending status is kept as its compact JSON, read back as the same model, and
written as one merge patch that nulls the fields gone from it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from punctual.api import HistoryRecord, Result, ScheduledJobStatus, Trigger
from punctual.bodies import ScheduledJobBody
from punctual.runtime.background import Background
from punctual.runtime.status_writer import StatusWriter

T0 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
KEY = ("default", "a")


def status(records: int) -> ScheduledJobStatus:
    history = [
        HistoryRecord(
            job=f"a-{i}",
            scheduledTime=T0.replace(minute=i),
            trigger=Trigger.SCHEDULE,
            result=Result.SUCCEEDED,
            durationSeconds=2.5,
            reason="Completed",
            exitCode=0,
        )
        for i in range(records)
    ]
    return ScheduledJobStatus(history=history, lastScheduleTime=T0.replace(minute=records))


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_pending_status_is_kept_as_text_read_back_equal_and_written_once() -> None:
    patches: list[dict[str, object]] = []
    answers: list[tuple[ScheduledJobBody, int]] = []
    api_has: dict[str, object] = {"scheduledThrough": "2026-12-04T09:00:00Z"}  # a field the new status lacks

    async def patch(ns: str, name: str, fields: Mapping[str, object]) -> ScheduledJobBody:
        patches.append(dict(fields))
        return {"metadata": {"name": name, "namespace": ns, "resourceVersion": "2"}, "status": dict(fields)}

    writer = StatusWriter(
        delay=1.0,
        background=Background(workers=2),
        current=lambda key: api_has,
        patch=patch,
        on_written=lambda body, ticket: answers.append((body, ticket)),
        ticket=lambda: 7,
    )
    first, second = status(2), status(3)
    await writer.save(KEY, first)
    assert isinstance(writer.pending[KEY], str)  # text, not the model (a fifth of its size)
    assert writer.pending_status(KEY) == first
    await writer.save(KEY, second)  # within the delay: the two share one write
    assert writer.pending_status(KEY) == second
    await asyncio.sleep(1.5)
    await writer.background.wait()
    assert writer.pending_status(KEY) is None and writer.pending == {}
    assert patches == [{**second.model_dump(mode="json", exclude_none=True), "scheduledThrough": None}]
    assert [(body["metadata"]["resourceVersion"], ticket) for body, ticket in answers] == [("2", 7)]


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_status_the_api_already_has_is_not_written() -> None:
    patches: list[Mapping[str, object]] = []
    same = status(2)

    async def patch(ns: str, name: str, fields: Mapping[str, object]) -> ScheduledJobBody:
        patches.append(fields)
        return {}

    writer = StatusWriter(
        delay=0,
        background=Background(workers=1),
        current=lambda key: same.model_dump(mode="json", exclude_none=True),
        patch=patch,
        on_written=lambda body, ticket: None,
    )
    await writer.save(KEY, same)
    assert patches == [] and writer.pending == {}
    await writer.save(KEY, status(1))
    assert len(patches) == 1


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_due_statuses_are_written_by_at_most_workers_tasks_each_once_and_in_turn() -> None:
    """At a slot thousands of statuses fall due at once: a few writer tasks take them in turn,
    not a task each waiting for a place."""
    in_flight: set[str] = set()
    most_at_once = 0
    written: list[str] = []

    async def patch(ns: str, name: str, fields: Mapping[str, object]) -> ScheduledJobBody:
        nonlocal most_at_once
        assert name not in in_flight  # never two writes of one ScheduledJob at once
        in_flight.add(name)
        written.append(name)
        most_at_once = max(most_at_once, len(in_flight))
        await asyncio.sleep(0.1)
        in_flight.discard(name)
        return {"metadata": {"name": name, "namespace": ns, "resourceVersion": "2"}, "status": dict(fields)}

    background = Background(workers=3)
    writer = StatusWriter(
        delay=1.0,
        background=background,
        current=lambda key: {},
        patch=patch,
        on_written=lambda body, ticket: None,
    )
    names = [f"sj-{i}" for i in range(200)]
    for name in names:
        await writer.save(("default", name), status(1))
    await asyncio.sleep(1.01)  # every delay is over: 200 statuses due
    assert len(background.tasks) <= 3
    await background.wait()
    assert sorted(written) == sorted(names)  # each once (timers due at one instant fire in any order)
    assert asyncio.get_running_loop().time() == pytest.approx(1.0 + 67 * 0.1)  # 3 at a time, always
    assert most_at_once == 3 and writer.pending == {}
    assert len(background.tasks) == 0


@pytest.mark.asyncio
@pytest.mark.looptime
async def test_a_status_decided_during_its_write_is_written_after_it_and_a_failure_is_retried() -> None:
    from punctual.runtime.kube import ApiError
    from punctual.runtime.status_writer import RETRY

    patches: list[tuple[float, object]] = []
    fail_next = False
    loop = asyncio.get_running_loop()

    async def patch(ns: str, name: str, fields: Mapping[str, object]) -> ScheduledJobBody:
        nonlocal fail_next
        await asyncio.sleep(2.0)  # slower than the delay
        if fail_next:
            fail_next = False
            raise ApiError(500, "Internal", "etcd is busy")
        patches.append((loop.time(), fields["lastScheduleTime"]))
        return {"metadata": {"name": name, "namespace": ns, "resourceVersion": "2"}, "status": dict(fields)}

    background = Background(workers=4)
    writer = StatusWriter(
        delay=1.0, background=background, current=lambda key: {}, patch=patch, on_written=lambda body, ticket: None
    )
    start = loop.time()
    await writer.save(KEY, status(1))
    await asyncio.sleep(1.5)  # its write is under way
    await writer.save(KEY, status(2))  # due at 2.5, while the first write still runs
    await asyncio.sleep(5.0)
    assert [(round(t - start, 1), v) for t, v in patches] == [
        (3.0, "2026-12-04T10:01:00Z"),
        (5.0, "2026-12-04T10:02:00Z"),  # after the first, by the same writer, never beside it
    ]
    fail_next = True
    await writer.save(KEY, status(3))
    await asyncio.sleep(1.0 + 2.0 + RETRY.total_seconds() + 2.0 + 0.5)
    await background.wait()
    assert [v for _, v in patches][-1] == "2026-12-04T10:03:00Z" and writer.pending == {}
