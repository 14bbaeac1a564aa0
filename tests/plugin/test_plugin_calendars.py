"""``kubectl sj next`` with exclusions (``spec.exclude``) and Calendars (``spec.calendars``), through
the real kubectl binary: excluded slots are looked past as the operator does, ``-o wide`` lists them
with why, and a missing Calendar is said on stderr (no slot runs)."""

from __future__ import annotations

import json
from datetime import datetime

from plugin_helpers import Sj, scheduled_job
from punctual_testing import load_calendar_crd

from kube_emulator import Emulator

FROM = "2026-12-23T12:00:00Z"


def holidays(emulator: Emulator, *rules: str) -> None:
    emulator.install_crd(load_calendar_crd())
    emulator.create(
        {
            "apiVersion": "punctual.dev/v1",
            "kind": "Calendar",
            "metadata": {"name": "holidays", "namespace": "default"},
            "spec": {"exclude": list(rules)},
        }
    )


def test_next_looks_past_excluded_slots(emulator: Emulator, sj: Sj) -> None:
    holidays(emulator, "2026-12-24..2026-12-26")
    emulator.create(scheduled_job("nightly", schedule="0 3 * * *", calendars=["holidays"], exclude=["* * 28 12 *"]))
    done = sj("next", "nightly", "--count", "3", "--from", FROM, "-o", "json")
    assert done.returncode == 0, done.stderr
    slots = [datetime.fromisoformat(r["slot"]).day for r in json.loads(done.stdout)]
    assert slots == [27, 29, 30]


def test_next_wide_lists_the_excluded_slots_and_why(emulator: Emulator, sj: Sj) -> None:
    holidays(emulator, "2026-12-24..2026-12-26")
    emulator.create(scheduled_job("nightly", schedule="0 3 * * *", calendars=["holidays"], exclude=["* * 28 12 *"]))
    done = sj("next", "nightly", "--count", "2", "--from", FROM, "-o", "wide")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["SLOT", "START", "IN", "NOTE"]
    rows = [line.split(None, 3) for line in lines[1:]]
    assert [(r[0][:10], r[1]) for r in rows] == [
        ("2026-12-24", "-"),
        ("2026-12-25", "-"),
        ("2026-12-26", "-"),
        ("2026-12-27", "2026-12-27T03:00:00+00:00"),
        ("2026-12-28", "-"),
        ("2026-12-29", "2026-12-29T03:00:00+00:00"),
    ]
    notes = [line[lines[0].index("NOTE") :].strip() for line in lines[1:]]
    assert notes[0] == 'excluded by calendar holidays "2026-12-24..2026-12-26"'
    assert notes[3] == "-"
    assert notes[4] == 'excluded by spec.exclude "* * 28 12 *"'


def test_next_says_a_missing_calendar_runs_no_slot(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("nightly", schedule="0 3 * * *", calendars=["holidays"]))
    done = sj("next", "nightly", "--from", FROM)
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr == (
        "scheduledjob.punctual.dev/nightly runs no slot: Calendar holidays not found "
        "(no scheduled slot runs until it exists).\n"
    )
    wide = sj("next", "nightly", "--count", "1", "--from", FROM, "-o", "wide")
    assert wide.returncode == 0, wide.stderr
    assert "CalendarNotFound: Calendar holidays not found" in wide.stdout
