"""Backfill with the real operator over HTTP against the emulator: a small range, skip-existing, once
per token across a restart, the bound, and scheduled slots keeping their policy meanwhile.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from integration_support import (
    NS,
    SJ_API,
    JobScript,
    OperatorFactory,
    condition,
    events,
    history,
    jobs_of,
    parse,
    scheduled_job,
    slot_of,
    status,
)
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.api import Trigger
from punctual.core import BackfillRequest, encode_request, parse_spec
from punctual.jobs import ANNOTATION_BACKFILL_REQUEST, Owner, build_job, slot_job_name

YEARLY = "0 0 1 1 *"
DAY = datetime(2026, 1, 5, tzinfo=UTC)


def at(hhmm: str) -> datetime:
    h, m = (int(p) for p in hhmm.split(":"))
    return DAY + timedelta(hours=h, minutes=m)


def request_backfill(emu: Emulator, name: str, token: str, start: datetime, end: datetime, parallel: int = 1) -> None:
    text = encode_request(BackfillRequest(token=token, start=start, end=end, parallel=parallel))
    emu.patch(
        SJ_API, "scheduledjobs", name, {"metadata": {"annotations": {ANNOTATION_BACKFILL_REQUEST: text}}}, namespace=NS
    )


def backfill(emu: Emulator, name: str, token: str) -> dict[str, Any] | None:
    return next((b for b in status(emu, name).get("backfills") or [] if b["token"] == token), None)


def finished(emu: Emulator, name: str, token: str) -> dict[str, Any] | None:
    entry = backfill(emu, name, token)
    return entry if entry is not None and entry["state"] not in ("Waiting", "Running") else None


def test_a_small_range_is_backfilled_once_per_slot(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    operator()
    body = emulator.create(scheduled_job("report", "*/30 * * * *", successfulJobsHistoryLimit=10))
    wait_for(lambda: condition(emulator, "report", "Ready"), 10, what="the first decision")
    # 09:00 ran before (its Job exists): the backfill of 08:00..10:00 must not run it again.
    owner = Owner(namespace=NS, name="report", uid=body["metadata"]["uid"])
    spec = parse_spec(body["spec"])
    existing = slot_job_name("report", at("09:00"), seconds=False)
    emulator.create(build_job(owner, spec, job_name=existing, slot=at("09:00"), trigger=Trigger.SCHEDULE))
    wait_for(lambda: any(r["job"] == existing and r["result"] == "Succeeded" for r in history(emulator, "report")), 15)

    request_backfill(emulator, "report", "bf-1", at("08:00"), at("10:00"), parallel=2)
    entry = wait_for(lambda: finished(emulator, "report", "bf-1"), 30, what="the backfill to finish")
    assert {k: entry[k] for k in ("state", "total", "done", "failed", "running", "pending", "skippedExisting")} == {
        "state": "Completed",
        "total": 5,
        "done": 4,
        "failed": 0,
        "running": 0,
        "pending": 0,
        "skippedExisting": 1,
    }
    backfilled = [
        j for j in jobs_of(emulator, "report") if j["metadata"]["labels"]["punctual.dev/trigger"] == "backfill"
    ]
    assert sorted(slot_of(j) for j in backfilled) == [at("08:00"), at("08:30"), at("09:30"), at("10:00")]
    for job in backfilled:
        env = job["spec"]["template"]["spec"]["containers"][0]["env"]
        assert {"name": "PUNCTUAL_TRIGGER", "value": "backfill"} in env
        assert {
            "name": "PUNCTUAL_SCHEDULED_TIME",
            "value": job["metadata"]["annotations"]["punctual.dev/scheduled-time"],
        } in env
    assert len(script.names) == len(set(script.names)) == 5  # the 09:00 Job and four backfilled, none twice
    reasons = [e["reason"] for e in events(emulator, "report")]
    assert reasons.count("BackfillAccepted") == 1 and reasons.count("BackfillCompleted") == 1
    assert condition(emulator, "report", "BackfillAccepted")["status"] == "True"


def test_the_same_token_is_acted_on_once_across_a_restart(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    first = operator()
    emulator.create(scheduled_job("report", YEARLY))
    wait_for(lambda: condition(emulator, "report", "Ready"), 10, what="the first decision")
    request_backfill(emulator, "report", "bf-once", at("08:00"), at("08:10"))
    wait_for(lambda: finished(emulator, "report", "bf-once"), 30, what="the backfill to finish")
    ran = list(script.names)
    first.stop()
    operator()  # a new operator reads the same annotation and the recorded token
    # A spec change makes the new operator decide again; the request is not acted on twice.
    emulator.patch(SJ_API, "scheduledjobs", "report", {"spec": {"historyLimit": 19}}, namespace=NS)
    wait_for(lambda: status(emulator, "report").get("observedGeneration") == 2, 15, what="the new decision")
    assert script.names == ran
    assert len(status(emulator, "report")["backfills"]) == 1


def test_a_request_beyond_10000_slots_is_rejected_with_a_condition_and_an_event(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    operator()
    emulator.create(scheduled_job("minutely", "* * * * *"))
    wait_for(lambda: condition(emulator, "minutely", "Ready"), 10, what="the first decision")
    request_backfill(emulator, "minutely", "too-big", at("00:00") - timedelta(days=30), at("00:00"))
    cond = wait_for(
        lambda: (c := condition(emulator, "minutely", "BackfillAccepted")) and c["status"] == "False" and c, 15
    )
    assert cond["reason"] == "TooManySlots"
    assert "more than 10000 slots (at most 10000 per backfill)" in cond["message"]
    warning = wait_for(lambda: [e for e in events(emulator, "minutely") if e["reason"] == "BackfillRejected"], 10)
    assert warning[0]["type"] == "Warning"
    assert backfill(emulator, "minutely", "too-big")["state"] == "Rejected"
    assert not [
        j for j in jobs_of(emulator, "minutely") if j["metadata"]["labels"]["punctual.dev/trigger"] == "backfill"
    ]


def test_scheduled_slots_keep_forbid_while_a_backfill_runs(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    # Backfill runs last 8 s; scheduled runs (every 2 s, Forbid) 0.3 s. Forbid never skips a
    # scheduled slot because of a backfill run: scheduled runs go on while the backfill runs.
    script.rule = lambda job, n: (
        (8.0, 0) if job["metadata"]["labels"]["punctual.dev/trigger"] == "backfill" else (0.3, 0)
    )
    operator()
    emulator.create(scheduled_job("busy", "*/2 * * * * *", concurrencyPolicy="Forbid", historyLimit=100))
    wait_for(lambda: condition(emulator, "busy", "Ready"), 10, what="the first decision")
    request_backfill(emulator, "busy", "bf-lane", at("08:00"), at("08:00"))
    started = wait_for(lambda: backfill(emulator, "busy", "bf-lane"), 15, what="the backfill to start")
    assert started["state"] == "Running"
    accepted = parse(started["requestedAt"])
    wait_for(lambda: finished(emulator, "busy", "bf-lane"), 30, what="the backfill to finish")
    records = history(emulator, "busy")
    [run] = [r for r in records if r["trigger"] == "backfill"]
    during = [
        r
        for r in records
        if r["trigger"] == "schedule"
        and accepted + timedelta(seconds=1)
        < parse(r["scheduledTime"])
        < parse(run["completionTime"]) - timedelta(seconds=1)
    ]
    assert during, records
    assert all(r["result"] == "Succeeded" for r in during), during
