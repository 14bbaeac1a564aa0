"""Seconds-level schedules on the real API server, through the real Job controller: each
concurrency policy against a run that outlasts its slot, as the README describes them."""

from __future__ import annotations

import time

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import OperatorFactory, apply_in, history, jobs_of, scheduled_job, slots_of

# A slot every 4 seconds; runs of 6 s overlap the next slot, runs of 1 s do not.
EVERY_4S = "*/4 * * * * *"


def test_a_run_every_few_seconds_succeeds_as_the_chart_service_account(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("tick", EVERY_4S, duration="1s", successfulJobsHistoryLimit=10))

    def succeeded() -> list[dict[str, object]]:
        found = [r for r in history(real_server, namespace, "tick") if r.get("result") == "Succeeded"]
        return found if len(found) >= 2 else []

    done = wait_for(succeeded, 40, interval=0.5, what="two succeeded runs")
    assert all(r.get("exitCode") == 0 for r in done)
    jobs = jobs_of(real_server, namespace, "tick")
    assert len(set(slots_of(jobs))) == len(jobs), "a slot ran twice"
    for job in jobs:
        assert job["metadata"]["ownerReferences"][0]["kind"] == "ScheduledJob"
        assert job["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] is True


def test_forbid_skips_the_slot_that_comes_while_a_run_is_active(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("forbid", EVERY_4S, duration="6s", concurrencyPolicy="Forbid"))
    wait_for(
        lambda: any(r.get("result") == "Skipped" for r in history(real_server, namespace, "forbid")),
        40,
        interval=0.5,
        what="a Skipped slot",
    )
    jobs = jobs_of(real_server, namespace, "forbid")
    active = [j for j in jobs if not (j.get("status") or {}).get("conditions")]
    assert len(active) <= 1, "Forbid let two runs overlap"
    skipped = [r for r in history(real_server, namespace, "forbid") if r.get("result") == "Skipped"]
    assert all(r.get("reason") for r in skipped)
    assert set(slots_of(jobs)).isdisjoint({r["scheduledTime"] for r in skipped}), "a skipped slot has a Job"


def test_queue_starts_the_waiting_slot_when_the_run_ends(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("queue", EVERY_4S, duration="6s", concurrencyPolicy="Queue"))

    def queued_then_started() -> bool:
        status = real_server.get_json("scheduledjob", "queue", "-n", namespace).get("status") or {}
        return bool(status.get("queued")) or len(jobs_of(real_server, namespace, "queue")) >= 2

    wait_for(queued_then_started, 40, interval=0.5, what="a queued slot")
    wait_for(lambda: len(jobs_of(real_server, namespace, "queue")) >= 2, 40, interval=0.5, what="the queued run")
    jobs = sorted(jobs_of(real_server, namespace, "queue"), key=lambda j: j["metadata"]["creationTimestamp"])
    first, second = jobs[0], jobs[1]
    # The second started only once the first had finished.
    wait_for(
        lambda: (real_server.get_json("job", first["metadata"]["name"], "-n", namespace).get("status") or {}).get(
            "completionTime"
        ),
        20,
        interval=0.5,
        what="the first run's end",
    )
    first_done = real_server.get_json("job", first["metadata"]["name"], "-n", namespace)["status"]["completionTime"]
    assert second["metadata"]["creationTimestamp"] >= first_done
    records = {r["scheduledTime"]: r for r in history(real_server, namespace, "queue")}
    assert not any(r.get("result") == "Skipped" for r in records.values()), "Queue skipped a slot"


def test_replace_deletes_the_active_job(real_server: RealServer, namespace: str, operator: OperatorFactory) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("replace", EVERY_4S, duration="30s", concurrencyPolicy="Replace"))
    wait_for(
        lambda: any(r.get("result") == "Replaced" for r in history(real_server, namespace, "replace")),
        40,
        interval=0.5,
        what="a Replaced run",
    )
    # The replaced Job is gone (its Pod with it, through the garbage collector); one run is active.
    wait_for(
        lambda: (
            len([j for j in jobs_of(real_server, namespace, "replace") if not j["metadata"].get("deletionTimestamp")])
            == 1
        ),
        20,
        interval=0.5,
        what="one Job left",
    )


def test_allow_overlaps(real_server: RealServer, namespace: str, operator: OperatorFactory) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("allow", EVERY_4S, duration="10s", concurrencyPolicy="Allow"))

    def two_running() -> bool:
        running = [
            j
            for j in jobs_of(real_server, namespace, "allow")
            if (j.get("status") or {}).get("active") and not (j.get("status") or {}).get("conditions")
        ]
        return len(running) >= 2

    wait_for(two_running, 40, interval=0.5, what="two Jobs running at once")
    time.sleep(0.1)
