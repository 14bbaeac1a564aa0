"""kubectl_sj.slots: ``kubectl sj next`` computes exactly what the operator will (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from plugin_helpers import scheduled_job

from kubectl_sj.objects import ScheduledJob
from kubectl_sj.slots import SlotError, next_slots, parse_from
from punctual.api import ScheduledJobStatus
from punctual.core import decide
from punctual.schedule import Schedule, jitter_offset

NOW = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # the night before Europe/Berlin springs forward
CREATED = "2026-03-01T08:00:07Z"


def item(name: str = "report", namespace: str = "team-a", **spec: Any) -> ScheduledJob:
    body = scheduled_job(name, namespace=namespace, **spec)
    body["metadata"].update({"uid": "uid-1", "creationTimestamp": CREATED})
    return ScheduledJob.from_body(body)


@pytest.mark.parametrize(
    ("label", "spec"),
    [
        ("plain cron in UTC", {"schedule": "*/15 * * * *"}),
        ("H hashed from namespace/name", {"schedule": "H H(1-4) * * *"}),
        ("seconds field", {"schedule": "*/20 * * * * *"}),
        ("zone across a DST gap", {"schedule": "30 2 * * *", "timeZone": "Europe/Berlin"}),
        ("@every anchored at creation", {"schedule": "@every 7m"}),
        ("union of schedules", {"schedule": None, "schedules": ["0 9 * * 1-5", "H 12 * * 6,0"]}),
        ("jitter", {"schedule": "0 * * * *", "jitter": "90s"}),
    ],
)
def test_next_slots_match_punctual_schedule(label: str, spec: dict[str, Any]) -> None:
    sj = item(**spec)
    got = next_slots(sj, after=NOW, count=10)
    assert sj.spec is not None
    schedule = Schedule(
        sj.spec.expressions(),
        time_zone=sj.spec.timeZone or "UTC",
        anchor=datetime.fromisoformat(CREATED),
        key="team-a/report",
    )
    limit = timedelta(seconds=90) if sj.spec.jitter else timedelta(0)
    expected, cursor = [], NOW
    for _ in range(10):
        nxt = schedule.next_after(cursor)
        assert nxt is not None
        expected.append((nxt, nxt + jitter_offset("team-a/report", nxt, limit)))
        cursor = nxt
    assert [(s.slot, s.start) for s in got] == expected, label


def test_first_slot_is_the_operators_next_schedule_time() -> None:
    sj = item(schedule="H/10 * * * *", timeZone="America/New_York")
    subject = sj.subject()
    assert subject is not None
    decision = decide(subject, status=ScheduledJobStatus(), jobs=[], now=NOW)
    assert next_slots(sj, after=NOW, count=1)[0].slot == decision.status.nextScheduleTime


def test_h_depends_on_the_namespace_and_name() -> None:
    spreads = {next_slots(item(name=f"job-{i}", schedule="H * * * *"), after=NOW, count=1)[0].slot for i in range(20)}
    assert len(spreads) > 5


def test_jitter_is_within_its_limit_and_deterministic() -> None:
    sj = item(schedule="* * * * *", jitter="30s")
    first = next_slots(sj, after=NOW, count=50)
    assert first == next_slots(sj, after=NOW, count=50)
    assert all(timedelta(0) <= s.jitter < timedelta(seconds=30) for s in first)
    assert len({s.jitter for s in first}) > 1


def test_invalid_spec_and_bad_zone_say_why() -> None:
    with pytest.raises(SlotError, match="cron"):
        next_slots(item(schedule="61 * * * *"), after=NOW, count=1)
    with pytest.raises(SlotError, match="unknown time zone"):
        next_slots(item(timeZone="Mars/Olympus"), after=NOW, count=1)


def test_parse_from_rfc3339_or_local_time() -> None:
    assert parse_from("2026-11-23T10:00:00Z", zone="Europe/Berlin") == datetime(2026, 11, 23, 10, tzinfo=UTC)
    local = parse_from("2026-11-23T10:00", zone="Europe/Berlin")
    assert local.astimezone(UTC) == datetime(2026, 11, 23, 9, tzinfo=UTC)
    with pytest.raises(SlotError, match="RFC 3339"):
        parse_from("tomorrow", zone="UTC")
