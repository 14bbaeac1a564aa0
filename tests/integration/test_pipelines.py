"""Pipelines (``spec.dependsOn``): the real operator over HTTP against the emulator.

A 3-node pipeline with fan-in: extract (run on request) -> transform -> report, report also
depending on extract directly. Each downstream run carries extract's logical time; a failed extract
skips both; an operator restart re-reads every status and runs nothing twice.
"""

from __future__ import annotations

import time
from typing import Any

from integration_support import (
    NS,
    SJ_API,
    Body,
    JobScript,
    OperatorFactory,
    condition,
    events,
    history,
    jobs_of,
    parse,
    scheduled_job,
    status,
)
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.jobs import ANNOTATION_RUN_REQUEST, manual_job_name

YEARLY = "0 0 1 1 *"  # never fires during a test: extract runs on request


def downstream(name: str, *upstreams: str, **spec: Any) -> Body:
    body = scheduled_job(name, YEARLY, dependsOn=[{"name": u} for u in upstreams], **spec)
    del body["spec"]["schedule"]
    return body


def request_run(emu: Emulator, name: str, token: str) -> None:
    emu.patch(
        SJ_API, "scheduledjobs", name, {"metadata": {"annotations": {ANNOTATION_RUN_REQUEST: token}}}, namespace=NS
    )


def finished(emu: Emulator, name: str, logical_time: str) -> Body | None:
    return next(
        (r for r in history(emu, name) if r["scheduledTime"] == logical_time and r["result"] != "Running"), None
    )


def test_a_three_node_pipeline_with_fan_in_runs_each_logical_time_once(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    # extract's second run fails; every other Job succeeds after half a second.
    script.rule = lambda job, n: (0.5, 1 if job["metadata"]["name"].startswith("extract-") and n == 2 else 0)
    operator()
    emulator.create(scheduled_job("extract", YEARLY))
    emulator.create(downstream("transform", "extract"))
    emulator.create(downstream("report", "extract", "transform"))
    for name in ("transform", "report"):
        wait_for(lambda name=name: condition(emulator, name, "DependenciesValid"), 10, what=f"{name} decided")
        assert condition(emulator, name, "DependenciesValid")["status"] == "True"  # type: ignore[index]

    request_run(emulator, "extract", "first")
    extract = wait_for(
        lambda: next((r for r in history(emulator, "extract") if r["result"] == "Succeeded"), None),
        15,
        what="extract's first run succeeded",
    )
    logical = extract["scheduledTime"]
    for name in ("transform", "report"):
        record = wait_for(lambda name=name: finished(emulator, name, logical), 15, what=f"{name} for {logical}")
        assert (record["trigger"], record["result"]) == ("upstream", "Succeeded")
    (report_job,) = jobs_of(emulator, "report")
    assert report_job["metadata"]["annotations"]["punctual.dev/scheduled-time"] == logical
    env = report_job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PUNCTUAL_SCHEDULED_TIME", "value": logical} in env
    assert {"name": "PUNCTUAL_TRIGGER", "value": "upstream"} in env
    transform_record = finished(emulator, "transform", logical)
    report_record = finished(emulator, "report", logical)
    assert transform_record and report_record
    assert parse(report_record["startTime"]) >= parse(transform_record["completionTime"])

    request_run(emulator, "extract", "second")
    failed_job = manual_job_name("extract", "second")
    failed = wait_for(
        lambda: next(
            (r for r in history(emulator, "extract") if r["job"] == failed_job and r["result"] == "Failed"), None
        ),
        15,
        what="extract's second run failed",
    )
    for name in ("transform", "report"):
        record = wait_for(
            lambda name=name: finished(emulator, name, failed["scheduledTime"]), 15, what=f"{name} skipped"
        )
        assert (record["result"], record["reason"]) == ("Skipped", "UpstreamNotSucceeded")

    # Never twice: each downstream ran once, and a restarted operator re-reading every status runs
    # nothing again.
    assert [len(jobs_of(emulator, n)) for n in ("transform", "report")] == [1, 1]
    assert sorted(script.names) == sorted(
        [
            manual_job_name("extract", "first"),
            failed_job,
            jobs_of(emulator, "transform")[0]["metadata"]["name"],
            report_job["metadata"]["name"],
        ]
    )


def test_a_restarted_operator_runs_no_logical_time_twice(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    first = operator()
    emulator.create(scheduled_job("extract", YEARLY))
    emulator.create(downstream("report", "extract"))
    request_run(emulator, "extract", "one")
    wait_for(lambda: [r for r in history(emulator, "report") if r["result"] == "Succeeded"], 15, what="report ran")
    first.stop()
    operator()
    wait_for(lambda: len(script.names) == 2, 5, what="two Jobs in all")
    time.sleep(2)  # a second operator had time to decide every ScheduledJob again
    assert len(script.names) == 2
    assert [r["result"] for r in history(emulator, "report")] == ["Succeeded"]


def test_a_missing_upstream_sets_dependencies_valid_false_and_an_event(
    emulator: Emulator, operator: OperatorFactory
) -> None:
    operator()
    emulator.create(downstream("orphan", "nope"))
    cond = wait_for(lambda: condition(emulator, "orphan", "DependenciesValid"), 10, what="orphan decided")
    assert (cond["status"], cond["reason"]) == ("False", "UpstreamMissing")
    assert cond["message"] == "no ScheduledJob nope in namespace default"
    event = wait_for(
        lambda: next((e for e in events(emulator, "orphan") if e["reason"] == "DependenciesUpstreamMissing"), None),
        10,
        what="the Event",
    )
    assert event["type"] == "Warning"
    # Creating the upstream makes the dependency valid (the index wakes the downstream).
    emulator.create(scheduled_job("nope", YEARLY))
    wait_for(
        lambda: (condition(emulator, "orphan", "DependenciesValid") or {}).get("status") == "True", 10, what="valid"
    )


def test_a_scheduled_downstream_waits_for_its_upstreams_run_of_the_slot_then_starts(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    # Both every 10 s; extract's run takes 3 s, so load's slot waits for it (WaitingForUpstream).
    script.rule = lambda job, n: (3.0 if job["metadata"]["name"].startswith("extract-") else 0.5, 0)
    every_10s = "*/10 * * * * *"
    operator()
    emulator.create(scheduled_job("extract", every_10s))
    emulator.create(scheduled_job("load", every_10s, dependsOn=[{"name": "extract"}]))
    waiting = wait_for(
        lambda: next((q for q in status(emulator, "load").get("queued") or [] if q.get("reason")), None),
        25,
        interval=0.1,
        what="a slot waiting for extract",
    )
    assert waiting["reason"] == "WaitingForUpstream"
    slot = waiting["scheduledTime"]
    started = wait_for(lambda: finished(emulator, "load", slot), 20, what=f"load's slot {slot} ran")
    upstream = finished(emulator, "extract", slot)
    assert upstream is not None and upstream["result"] == "Succeeded"
    assert (started["trigger"], started["result"]) == ("schedule", "Succeeded")
    assert parse(started["startTime"]) >= parse(upstream["completionTime"])
