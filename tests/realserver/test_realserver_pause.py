"""Pause after failures on the real API server, through the real Job controller and the chart's RBAC:
failing runs pause the ScheduledJob, ``kubectl sj resume`` (the resume annotation) lifts it, and a
fixed spec (a spec change) lifts it too; the operator never writes the spec."""

from __future__ import annotations

import json
import time

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import OperatorFactory, apply_in, condition, events_of, jobs_of, kubectl_sj, scheduled_job, sj

EVERY_3S = "*/3 * * * * *"


def started(server: RealServer, namespace: str) -> int:
    """Runs started so far (status.counts.Running): failed Jobs beyond failedJobsHistoryLimit are deleted."""
    return int(((sj(server, namespace, "flaky").get("status") or {}).get("counts") or {}).get("Running", 0))


def paused(server: RealServer, namespace: str) -> bool:
    return bool((sj(server, namespace, "flaky").get("status") or {}).get("pause"))


def test_failures_pause_resume_lifts_and_a_fixed_spec_runs(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    proc = operator()
    body = scheduled_job("flaky", EVERY_3S, duration="0.2s", exit_code=1, pauseAfterFailures=2, historyLimit=50)
    apply_in(real_server, namespace, body)
    wait_for(lambda: paused(real_server, namespace), 60, interval=0.5, what="the pause after two failures")
    suspended = condition(real_server, namespace, "flaky", "Suspended") or {}
    assert (suspended.get("status"), suspended.get("reason")) == ("True", "TooManyFailures")
    assert "PausedAfterFailures" in {e.get("reason") for e in events_of(real_server, namespace, "flaky")}
    gauge = f'punctual_paused{{namespace="{namespace}",scheduledjob="flaky"}}'
    assert f"{gauge} 1.0" in proc.metrics(), "the pause is not in the operator's /metrics"
    count = started(real_server, namespace)
    assert count == 2
    time.sleep(6.5)  # two slots while paused
    assert started(real_server, namespace) == count, "a slot ran while paused"
    assert len(jobs_of(real_server, namespace, "flaky")) <= count

    generation = sj(real_server, namespace, "flaky")["metadata"]["generation"]
    done = kubectl_sj(real_server, "resume", "flaky", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "scheduledjob.punctual.dev/flaky resumed (was paused after 2 failed runs)\n"
    # Still failing: the count starts again, two more failed runs, paused again.
    wait_for(lambda: started(real_server, namespace) >= count + 2, 40, interval=0.5, what="two more runs")
    wait_for(lambda: paused(real_server, namespace), 40, interval=0.5, what="the second pause")
    assert sj(real_server, namespace, "flaky")["metadata"]["generation"] == generation, "the spec was written"

    # The fix is a spec change: it lifts the pause and the runs succeed.
    fix = {"spec": {"jobTemplate": body["spec"]["jobTemplate"]}}
    fix["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]["punctual.dev/sandbox-exit-code"] = "0"
    real_server.kubectl("patch", "scheduledjob", "flaky", "-n", namespace, "--type=merge", "-p", json.dumps(fix))
    wait_for(
        lambda: (sj(real_server, namespace, "flaky").get("status") or {}).get("lastResult") == "Succeeded",
        40,
        interval=0.5,
        what="a succeeded run after the fix",
    )
    status = sj(real_server, namespace, "flaky")["status"]
    assert status.get("pause") is None and status.get("consecutiveFailures") == 0
    assert f"{gauge} 0.0" in proc.metrics(), "punctual_paused still 1 after the fix"
