"""``kubectl sj next`` within the active window (``spec.notBefore``/``spec.notAfter``), through the
real kubectl binary: the same schedule code as the operator's, so the window bounds the slots."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from plugin_helpers import Sj, scheduled_job

from kube_emulator import Emulator
from punctual.api import format_time


def test_next_starts_at_not_before_and_stops_at_not_after(emulator: Emulator, sj: Sj) -> None:
    start = (datetime.now(UTC) + timedelta(days=3)).replace(minute=7, second=0, microsecond=0)
    end = start + timedelta(minutes=45)
    emulator.create(scheduled_job("win", notBefore=format_time(start), notAfter=format_time(end)))  # */15 * * * *
    done = sj("next", "win", "--count", "10", "-o", "json")
    assert done.returncode == 0, done.stderr
    slots = [datetime.fromisoformat(r["slot"]) for r in json.loads(done.stdout)]
    assert slots == [start.replace(minute=15), start.replace(minute=30), start.replace(minute=45)]


def test_next_after_the_window_says_the_schedule_has_ended(emulator: Emulator, sj: Sj) -> None:
    end = datetime(2026, 1, 1, tzinfo=UTC)
    emulator.create(scheduled_job("over", notAfter=format_time(end)))
    done = sj("next", "over")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == "scheduledjob.punctual.dev/over has ended: spec.notAfter 2026-01-01T00:00:00Z has passed.\n"
