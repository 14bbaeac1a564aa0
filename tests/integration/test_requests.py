"""What users change on a ScheduledJob: run requests, suspend and resume, an invalid spec.

The real operator over HTTP against the emulator; simulated Jobs run for what the test scripts.
"""

from __future__ import annotations

import time

import pytest
from integration_support import (
    NS,
    SJ_API,
    JobScript,
    OperatorFactory,
    TestClock,
    condition,
    events,
    history,
    jobs_of,
    parse,
    records,
    scheduled_job,
    slot_of,
    status,
)
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.jobs import ANNOTATION_RUN_REQUEST, manual_job_name

YEARLY = "0 0 1 1 *"  # never fires during a test: only requested runs


def request_run(emu: Emulator, name: str, token: str) -> None:
    patch = {"metadata": {"annotations": {ANNOTATION_RUN_REQUEST: token}}}
    emu.patch(SJ_API, "scheduledjobs", name, patch, namespace=NS)


def patch_spec(emu: Emulator, name: str, **spec: object) -> None:
    emu.patch(SJ_API, "scheduledjobs", name, {"spec": spec}, namespace=NS)


def test_a_run_request_runs_once_per_token(emulator: Emulator, operator: OperatorFactory, script: JobScript) -> None:
    operator()
    emulator.create(scheduled_job("manual", YEARLY, concurrencyPolicy="Forbid"))
    wait_for(lambda: condition(emulator, "manual", "Ready"), 10, what="the first decision")

    request_run(emulator, "manual", "req-1")
    job_name = manual_job_name("manual", "req-1")
    rec = wait_for(
        lambda: next((r for r in records(emulator, "manual", "Succeeded") if r["job"] == job_name), None),
        15,
        what=f"{job_name} succeeded",
    )
    assert rec["trigger"] == "manual"
    assert status(emulator, "manual")["lastHandledRunRequest"] == "req-1"
    (job,) = jobs_of(emulator, "manual")
    assert job["metadata"]["name"] == job_name
    assert job["metadata"]["labels"]["punctual.dev/trigger"] == "manual"
    env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["PUNCTUAL_TRIGGER"] == "manual" and env["PUNCTUAL_RUN"] == job_name

    # The same token again, with a spec change that forces a decision, then a restarted operator: nothing.
    request_run(emulator, "manual", "req-1")
    patch_spec(emulator, "manual", historyLimit=19)
    wait_for(lambda: status(emulator, "manual").get("observedGeneration") == 2, 10, what="the spec change decided")
    operator()  # a second, fresh instance sees the same object
    time.sleep(1.5)
    assert script.names == [job_name], "the same request ran twice"
    assert len(history(emulator, "manual")) == 1

    request_run(emulator, "manual", "req-2")
    second = manual_job_name("manual", "req-2")
    wait_for(lambda: any(r["job"] == second for r in records(emulator, "manual", "Succeeded")), 15, what=second)
    assert status(emulator, "manual")["lastHandledRunRequest"] == "req-2"
    assert sorted(script.names) == sorted([job_name, second])


def test_suspend_stops_runs_and_resume_does_not_catch_up(
    emulator: Emulator, operator: OperatorFactory, script: JobScript, clock: TestClock
) -> None:
    operator()
    emulator.create(scheduled_job("pause", "*/2 * * * * *", catchUp="All", successfulJobsHistoryLimit=20))
    wait_for(lambda: records(emulator, "pause", "Succeeded"), 15, what="a first run")

    patch_spec(emulator, "pause", suspend=True)
    wait_for(
        lambda: (condition(emulator, "pause", "Suspended") or {}).get("status") == "True", 10, what="Suspended=True"
    )
    suspended_at = clock.now()
    started = list(script.names)
    assert (condition(emulator, "pause", "Ready") or {}).get("reason") == "Suspended"
    assert "nextScheduleTime" not in status(emulator, "pause")
    time.sleep(5)
    assert script.names == started, "a Job started while suspended"

    resumed_at = clock.now()
    patch_spec(emulator, "pause", suspend=False)
    wait_for(
        lambda: any(parse(r["scheduledTime"]) > resumed_at for r in records(emulator, "pause", "Succeeded")),
        15,
        what="a run after resuming",
    )
    assert (condition(emulator, "pause", "Suspended") or {}).get("status") == "False"
    for job in jobs_of(emulator, "pause"):
        assert not suspended_at < slot_of(job) < resumed_at, f"{job['metadata']['name']} ran a suspended slot"
        assert job["metadata"]["labels"]["punctual.dev/trigger"] == "schedule", "a suspended slot was caught up"
    for rec in history(emulator, "pause"):
        assert not suspended_at < parse(rec["scheduledTime"]) < resumed_at, rec
    assert not records(emulator, "pause", "Missed")


@pytest.mark.parametrize(
    ("bad_spec", "words"),
    [
        ({"schedule": "not a cron"}, "cron"),
        ({"schedule": "*/2 * * * * *", "timeZone": "Mars/Olympus_Mons"}, "Mars/Olympus_Mons"),
    ],
    ids=["bad cron", "unknown time zone"],
)
def test_an_invalid_spec_is_reported_and_others_keep_running(
    emulator: Emulator, operator: OperatorFactory, bad_spec: dict[str, str], words: str
) -> None:
    operator()
    emulator.create(scheduled_job("good", "*/2 * * * * *"))
    spec = dict(bad_spec)
    emulator.create(scheduled_job("bad", spec.pop("schedule"), **spec))

    def reported() -> bool:
        valid, ready = condition(emulator, "bad", "ScheduleValid"), condition(emulator, "bad", "Ready")
        return bool(valid and ready and valid["status"] == ready["status"] == "False")

    wait_for(reported, 10, what="ScheduleValid=False and Ready=False")
    valid = condition(emulator, "bad", "ScheduleValid")
    assert valid is not None and valid["reason"] == "InvalidSpec" and words in valid["message"]
    warnings = [e for e in events(emulator, "bad") if e["reason"] == "InvalidSpec"]
    assert warnings and warnings[0]["type"] == "Warning" and words in warnings[0]["message"]
    assert jobs_of(emulator, "bad") == []

    wait_for(lambda: len(records(emulator, "good", "Succeeded")) >= 2, 20, what="the valid neighbour's runs")
    assert len([e for e in events(emulator, "bad") if e["reason"] == "InvalidSpec"]) == 1, "the Warning repeats"

    # Fixed: it schedules from now on.
    patch_spec(emulator, "bad", schedule="*/2 * * * * *", timeZone="UTC")
    wait_for(lambda: records(emulator, "bad", "Succeeded"), 15, what="the fixed ScheduledJob runs")
    assert (condition(emulator, "bad", "Ready") or {}).get("status") == "True"
    assert (condition(emulator, "bad", "ScheduleValid") or {}).get("status") == "True"
