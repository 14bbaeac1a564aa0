"""Runs on a seconds-level schedule, the concurrency policies, and the history and Job limits.

The real operator over HTTP against the emulator; simulated Jobs run for what the test scripts.
"""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta

from integration_support import (
    NS,
    Body,
    JobScript,
    OperatorFactory,
    events,
    get_sj,
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
from punctual.jobs import slot_job_name


def finished(job: Body) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or []
    )


def succeeded(job: Body) -> bool:
    return bool((job.get("status") or {}).get("succeeded"))


def test_seconds_schedule_runs_jobs_built_from_the_manifest(emulator: Emulator, operator: OperatorFactory) -> None:
    operator()
    emulator.create(scheduled_job("tick", "*/2 * * * * *", concurrencyPolicy="Forbid", successfulJobsHistoryLimit=10))

    wait_for(lambda: len(records(emulator, "tick", "Succeeded")) >= 3, 30, what="3 Succeeded runs")

    uid = get_sj(emulator, "tick")["metadata"]["uid"]
    runs = history(emulator, "tick")
    assert len({r["job"] for r in runs}) == len(runs), "a job appears twice in history"
    for rec in records(emulator, "tick", "Succeeded"):
        slot = parse(rec["scheduledTime"])
        assert rec["job"] == slot_job_name("tick", slot, seconds=True)
        assert rec["trigger"] == "schedule"
        assert rec["exitCode"] == 0
        assert slot.second % 2 == 0
    jobs = jobs_of(emulator, "tick")
    assert len({slot_of(j) for j in jobs}) == len(jobs), "two Jobs for one slot"
    for job in jobs:
        meta = job["metadata"]
        name = meta["name"]
        assert meta["labels"]["punctual.dev/scheduledjob"] == "tick"
        assert meta["labels"]["punctual.dev/trigger"] == "schedule"
        assert meta["labels"]["team"] == "qa"  # from jobTemplate.metadata
        assert meta["annotations"]["example.com/note"] == "integration"
        assert name == slot_job_name("tick", slot_of(job), seconds=True)
        (owner,) = meta["ownerReferences"]
        assert owner["kind"] == "ScheduledJob" and owner["uid"] == uid and owner["controller"] is True
        pod = job["spec"]["template"]
        assert pod["metadata"]["labels"]["punctual.dev/scheduledjob"] == "tick"
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        assert env["PUNCTUAL_SCHEDULED_TIME"] == meta["annotations"]["punctual.dev/scheduled-time"]
        assert env["PUNCTUAL_TRIGGER"] == "schedule"
        assert env["PUNCTUAL_RUN"] == name
        assert env["USER_VAR"] == "kept"
    st = status(emulator, "tick")
    assert st["counts"]["Succeeded"] >= 3
    assert parse(st["nextScheduleTime"]) > parse(st["lastScheduleTime"])
    assert {e["reason"] for e in events(emulator, "tick")} >= {"RunStarted", "RunSucceeded"}


def test_forbid_skips_slots_while_a_run_is_active(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.duration = 5.0
    operator()
    emulator.create(scheduled_job("forbid", "*/2 * * * * *", concurrencyPolicy="Forbid", historyLimit=50))
    most_active = 0

    def enough() -> bool:
        nonlocal most_active
        running = [j for j in jobs_of(emulator, "forbid") if not finished(j)]
        most_active = max(most_active, len(running))
        skipped = records(emulator, "forbid", "Skipped")
        return len(records(emulator, "forbid", "Succeeded")) >= 2 and len(skipped) >= 2

    wait_for(enough, 40, what="2 runs and 2 skipped slots")
    assert most_active <= 1, "two Jobs ran at once under Forbid"

    runs = sorted(records(emulator, "forbid", "Succeeded"), key=lambda r: r["startTime"])
    for before, after in itertools.pairwise(runs):
        assert parse(after["startTime"]) >= parse(before["completionTime"]), "runs overlap"
    for skip in records(emulator, "forbid", "Skipped"):
        assert skip["reason"] == "ConcurrencyForbid"
        slot = parse(skip["scheduledTime"])
        # Skipped while some run was active (completion times are whole seconds: allow one).
        assert any(
            parse(r["startTime"]) <= slot <= parse(r["completionTime"]) + timedelta(seconds=1)
            for r in records(emulator, "forbid", "Succeeded") + records(emulator, "forbid", "Running")
        ), skip
    jobs = jobs_of(emulator, "forbid")
    skipped_names = {r["job"] for r in records(emulator, "forbid", "Skipped")}
    assert not skipped_names & {j["metadata"]["name"] for j in jobs}, "a skipped slot got a Job"


def test_replace_deletes_the_active_run_and_starts_the_new_one(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.rule = lambda job, n: (60.0, 0) if n == 1 else (0.5, 0)  # the first run would never end
    operator()
    emulator.create(scheduled_job("replace", "*/3 * * * * *", concurrencyPolicy="Replace"))

    (replaced,) = wait_for(lambda: records(emulator, "replace", "Replaced"), 30, what="a Replaced record")
    assert replaced["reason"] == "Replaced"
    by = replaced["message"].split("replaced by ")[1].split(" ")[0]
    wait_for(
        lambda: emulator.get_or_none("batch/v1", "jobs", replaced["job"], namespace=NS) is None,
        10,
        what="the replaced Job deleted",
    )
    successor = wait_for(
        lambda: next((r for r in records(emulator, "replace", "Succeeded") if r["job"] == by), None),
        15,
        what=f"the replacing run {by} succeeded",
    )
    assert parse(successor["scheduledTime"]) > parse(replaced["scheduledTime"])
    assert successor["trigger"] == "schedule"
    assert "RunReplaced" in {e["reason"] for e in events(emulator, "replace")}
    assert len(records(emulator, "replace", "Replaced")) == 1  # the short runs replaced nothing


def test_queue_starts_the_overshooting_slot_when_the_previous_run_ends(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.rule = lambda job, n: (4.5, 0) if n == 1 else (0.5, 0)
    operator()
    emulator.create(scheduled_job("queue", "*/3 * * * * *", concurrencyPolicy="Queue"))

    (queued,) = wait_for(
        lambda: status(emulator, "queue").get("queued"), 20, interval=0.05, what="a slot in status.queued"
    )
    first = wait_for(
        lambda: next((r for r in records(emulator, "queue", "Succeeded") if r["job"] != queued["job"]), None),
        15,
        what="the long first run finished",
    )
    run = wait_for(
        lambda: next((r for r in history(emulator, "queue") if r["job"] == queued["job"] and r.get("startTime")), None),
        15,
        what="the queued slot started",
    )
    slot = parse(queued["scheduledTime"])
    assert parse(run["scheduledTime"]) == slot
    assert parse(run["startTime"]) >= slot
    # It started right when the long run ended (the Job's completionTime is in whole seconds).
    gap = (parse(run["startTime"]) - parse(first["completionTime"])).total_seconds()
    assert 0 <= gap < 2.0, gap
    assert parse(first["scheduledTime"]) < slot
    wait_for(
        lambda: any(r["job"] == queued["job"] for r in records(emulator, "queue", "Succeeded")),
        15,
        what="the queued run succeeded",
    )
    assert "SlotQueued" in {e["reason"] for e in events(emulator, "queue")}
    assert not records(emulator, "queue", "Skipped") and not records(emulator, "queue", "Dropped")


def test_history_and_job_limits_delete_old_jobs_and_trim_history(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.rule = lambda job, n: (0.5, 1 if n % 2 == 0 else 0)  # every other run fails
    operator()
    emulator.create(
        scheduled_job(
            "limits",
            "*/2 * * * * *",
            successfulJobsHistoryLimit=1,
            failedJobsHistoryLimit=1,
            historyLimit=3,
        )
    )
    longest = 0

    def enough() -> bool:
        nonlocal longest
        st = status(emulator, "limits")
        longest = max(longest, len(st.get("history") or []))
        counts = st.get("counts") or {}
        return counts.get("Succeeded", 0) >= 3 and counts.get("Failed", 0) >= 2

    wait_for(enough, 40, what="3 succeeded and 2 failed runs")
    assert longest <= 3, "status.history grew past historyLimit"

    def collected() -> bool:
        jobs = [j for j in jobs_of(emulator, "limits") if finished(j) and not j["metadata"].get("deletionTimestamp")]
        return sum(succeeded(j) for j in jobs) <= 1 and sum(not succeeded(j) for j in jobs) <= 1

    wait_for(collected, 10, what="old finished Jobs deleted")
    assert script.seen["limits"] >= 5
    runs = history(emulator, "limits")
    assert len(runs) == 3
    times = [parse(r["scheduledTime"]) for r in runs]
    assert times == sorted(times, reverse=True), "history is newest first"
    newest_job = max(slot_of(j) for j in jobs_of(emulator, "limits"))
    assert times[0] >= newest_job - timedelta(seconds=2)
    assert all(r["exitCode"] == 1 for r in runs if r["result"] == "Failed")


def test_routine_events_keep_to_the_budget_and_warnings_always_post(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.rule = lambda job, n: (0.3, 0 if n % 2 else 1)  # every other run fails: a Warning each time
    running = operator(event_burst=3, event_refill_seconds=3600)
    emulator.create(scheduled_job("chatty", "*/2 * * * * *", historyLimit=50))
    wait_for(lambda: len(records(emulator, "chatty", "Failed")) >= 3, 40, what="3 Failed runs")
    wait_for(lambda: len(records(emulator, "chatty", "Succeeded")) >= 3, 40, what="3 Succeeded runs")
    posted = events(emulator, "chatty")
    normal = [e["reason"] for e in posted if e["type"] == "Normal"]
    warnings = [e["reason"] for e in posted if e["type"] == "Warning"]
    assert len(normal) == 3, normal  # RunStarted/RunSucceeded beyond the burst of 3 are not posted
    assert warnings.count("RunFailed") >= 3, warnings  # every failure is, whatever the budget
    # Those not posted are counted: at least the RunStarted of the 6 runs and 3 RunSucceeded, less the 3 posted.
    text = running.op.metrics.exposition().decode()
    budget = re.search(r'^punctual_events_dropped_total\{reason="budget"\} (\S+)$', text, re.M)
    assert budget is not None and float(budget.group(1)) >= 6, text
    assert 'punctual_events_dropped_total{reason="queue"} 0.0' in text


def test_a_foreign_job_holding_the_slots_name_fails_that_run_and_is_not_counted_as_started(
    emulator: Emulator, operator: OperatorFactory
) -> None:
    sj = emulator.create(scheduled_job("clash", "*/2 * * * * *", historyLimit=50, successfulJobsHistoryLimit=50))
    now = datetime.now(UTC).replace(microsecond=0)
    taken = {slot_job_name("clash", now + timedelta(seconds=s), seconds=True) for s in range(4, 12)}
    container = {"name": "c", "image": "x"}
    for name in taken:  # not ours: no owner reference to this ScheduledJob
        emulator.create(
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}},
            }
        )
    operator()

    def create_failures() -> list[Body]:
        return [r for r in history(emulator, "clash") if r.get("reason") == "JobCreateFailed"]

    wait_for(lambda: len(create_failures()) >= 1, 30, what="a JobCreateFailed record")
    wait_for(lambda: len(records(emulator, "clash", "Succeeded")) >= 2, 30, what="2 Succeeded runs after it")
    failed = create_failures()
    assert all(r["result"] == "Failed" and r["job"] in taken for r in failed)
    uid = sj["metadata"]["uid"]
    ours = [j for j in jobs_of(emulator, "clash") if j["metadata"]["ownerReferences"][0]["uid"] == uid]
    counts = status(emulator, "clash")["counts"]
    # "Running" counts runs started: each of our Jobs once, never a run whose Job could not be made.
    assert counts["Running"] == len(ours), (counts, len(ours))
    assert counts.get("Failed", 0) >= len(failed)
    assert "JobCreateFailed" in {e["reason"] for e in events(emulator, "clash") if e["type"] == "Warning"}
