"""The active window (``spec.notBefore``/``spec.notAfter``) on the real API server: the CRD's
``date-time`` fields accepted and checked by kube-apiserver, no Job outside the window, the ended
condition and Event, and ``kubectl sj next`` agreeing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    apply_in,
    condition,
    events_of,
    jobs_of,
    kubectl_sj,
    parse_time,
    scheduled_job,
    slots_of,
)

from punctual.api import format_time

EVERY_2S = "*/2 * * * * *"


def test_no_job_before_not_before_and_none_after_not_after(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(seconds=8), now + timedelta(seconds=16)
    body = scheduled_job(
        "window", EVERY_2S, duration="0.2s", notBefore=format_time(start), notAfter=format_time(end), historyLimit=30
    )
    apply_in(real_server, namespace, body)
    wait_for(
        lambda: (condition(real_server, namespace, "window", "Ready") or {}).get("reason") == "Ended",
        60,
        interval=0.5,
        what="the Ready condition to say the schedule has ended",
    )
    slots = sorted(parse_time(s) for s in slots_of(jobs_of(real_server, namespace, "window")))
    assert slots, "no slot inside the window ran"
    assert start <= slots[0] and slots[-1] <= end, (start, end, slots)
    assert len(set(slots)) == len(slots)
    message = (condition(real_server, namespace, "window", "Ready") or {}).get("message")
    assert message == f"the schedule has ended: spec.notAfter {format_time(end)} has passed"
    assert "ScheduleEnded" in {e.get("reason") for e in events_of(real_server, namespace, "window")}
    done = kubectl_sj(real_server, "next", "window", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"scheduledjob.punctual.dev/window has ended: spec.notAfter {format_time(end)} has passed.\n"


@pytest.mark.parametrize("value", ["next tuesday", "2027-01-04 00:00", "2027-01-04T00:00:00"])
def test_the_api_server_refuses_a_window_time_that_is_not_rfc3339_with_an_offset(
    real_server: RealServer, namespace: str, value: str
) -> None:
    """The CRD's ``format: date-time``: kube-apiserver checks it, so a time without an offset never
    reaches the operator (whose own check, for the emulator and ``simulate``, is in tests/unit)."""
    bad = scheduled_job("bad-window", EVERY_2S, notBefore=value)
    done = real_server.kubectl("apply", "-f", "-", stdin=json.dumps(in_namespace(bad, namespace)), check=False)
    assert done.returncode != 0
    assert f'spec.notBefore in body must be of type date-time: "{value}"' in done.stderr, done.stderr


def in_namespace(body: dict[str, object], namespace: str) -> dict[str, object]:
    meta = body["metadata"]
    assert isinstance(meta, dict)
    return body | {"metadata": {**meta, "namespace": namespace}}
