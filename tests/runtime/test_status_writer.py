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
