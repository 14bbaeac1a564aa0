"""Retrying a failed slot (``spec.retry``) on the real API server, through the real Job controller and
the chart's RBAC: each attempt is its own Job (trigger retry, the same scheduled time, the attempt
annotations), after the delay; the slot counts once for pauseAfterFailures."""

from __future__ import annotations

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import OperatorFactory, apply_in, events_of, history, jobs_of, kubectl_sj, scheduled_job, sj

from punctual.api import parse_time


def test_a_failing_slot_gets_its_retries_each_a_job_and_counts_once(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    body = scheduled_job(
        "flaky",
        "*/20 * * * * *",
        duration="0.3s",
        exit_code=1,
        concurrencyPolicy="Forbid",
        retry={"limit": 2, "delay": "1s", "backoff": 2},
        pauseAfterFailures=2,
        failedJobsHistoryLimit=10,
        historyLimit=50,
    )
    apply_in(real_server, namespace, body)

    def exhausted() -> bool:
        # The Event and the status patch of one decision are separate writes: wait for both.
        if "RetriesExhausted" not in {e.get("reason") for e in events_of(real_server, namespace, "flaky")}:
            return False
        return any(r.get("attempt") == 3 and r["result"] == "Failed" for r in history(real_server, namespace, "flaky"))

    wait_for(exhausted, 60, interval=0.5, what="a slot's retries used up")
    records = history(real_server, namespace, "flaky")
    third = next(r for r in records if r.get("attempt") == 3)
    attempts = sorted(
        (r.get("attempt") or 1, r["trigger"], r["result"], r["job"])
        for r in records
        if r["scheduledTime"] == third["scheduledTime"]
    )
    first = third["retryOf"]
    assert attempts == [
        (1, "schedule", "Failed", first),
        (2, "retry", "Failed", f"{first}-r2"),
        (3, "retry", "Failed", f"{first}-r3"),
    ]
    second = next(r for r in records if r["job"] == f"{first}-r2")
    # Retry 2 waits delay * backoff (2 s) after attempt 2 failed.
    assert (parse_time(third["startTime"]) - parse_time(second["completionTime"])).total_seconds() >= 1.9
    jobs = {j["metadata"]["name"]: j for j in jobs_of(real_server, namespace, "flaky")}
    for name, attempt in ((f"{first}-r2", "2"), (f"{first}-r3", "3")):
        meta = jobs[name]["metadata"]
        assert meta["labels"]["punctual.dev/trigger"] == "retry"
        assert meta["annotations"]["punctual.dev/attempt"] == attempt
        assert meta["annotations"]["punctual.dev/retry-of"] == first
        assert meta["annotations"]["punctual.dev/scheduled-time"] == third["scheduledTime"]
    status = sj(real_server, namespace, "flaky")["status"]
    # Three failed attempts, one failed slot: not paused (pauseAfterFailures 2 counts slots).
    assert status.get("consecutiveFailures") == 1 and status.get("pause") is None
    done = kubectl_sj(real_server, "history", "flaky", "-n", namespace)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert ["retry", "3/3"] in [row[1:3] for row in rows]
