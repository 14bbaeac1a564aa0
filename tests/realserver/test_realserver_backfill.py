"""Backfill on the real API server: ``kubectl sj backfill`` as a user runs it, the operator as its own
process with the chart's RBAC, the runs through the real Job controller and the stand-in kubelet.

Every value read back was written by the operator through kube-apiserver 1.20's schema validation
(``status.backfills`` included), so a field the CRD refuses would fail here first.
"""

from __future__ import annotations

import json
import re
import subprocess

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    apply_in,
    condition,
    events_of,
    history,
    jobs_of,
    kubectl_sj,
    scheduled_job,
    sj,
    slots_of,
)

HALF_HOURLY = "*/30 * * * *"
FROM, TO = "2026-01-05T08:00:00Z", "2026-01-05T09:00:00Z"  # 08:00, 08:30, 09:00
SLOTS = ["2026-01-05T08:00:00Z", "2026-01-05T08:30:00Z", "2026-01-05T09:00:00Z"]


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def backfilled(server: RealServer, namespace: str, name: str) -> list[dict[str, object]]:
    return [
        j for j in jobs_of(server, namespace, name) if j["metadata"]["labels"]["punctual.dev/trigger"] == "backfill"
    ]


def test_backfill_wait_runs_each_slot_once_through_the_job_controller(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("report", HALF_HOURLY, duration="2s"))
    wait_for(lambda: condition(real_server, namespace, "report", "Ready"), 30, interval=0.3, what="the first decision")
    out = ok(kubectl_sj(real_server, "backfill", "report", "--from", FROM, "--to", TO, "--parallel", "2", "--wait",
                        "-n", namespace))  # fmt: skip
    lines = out.splitlines()
    token = lines[0].split()[1]
    assert lines[-1] == f"backfill {token} Completed: 3 run (0 failed), 0 skipped (existing) of 3"
    jobs = backfilled(real_server, namespace, "report")
    assert sorted(slots_of(jobs)) == SLOTS
    for job in jobs:
        assert job["status"]["succeeded"] == 1  # the real Job controller finished it
        assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    [entry] = sj(real_server, namespace, "report")["status"]["backfills"]
    assert entry == {
        "token": token,
        "state": "Completed",
        "fromTime": FROM,
        "toTime": TO,
        "parallel": 2,
        "total": 3,
        "done": 3,
        "failed": 0,
        "running": 0,
        "pending": 0,
        "skippedExisting": 0,
        "cursor": SLOTS[-1],
        "runs": [],
        "requestedAt": entry["requestedAt"],
        "finishedAt": entry["finishedAt"],
    }
    def succeeded() -> list[dict[str, object]] | None:
        found = [r for r in history(real_server, namespace, "report") if r["trigger"] == "backfill"]
        return found if len(found) == 3 and all(r["result"] == "Succeeded" for r in found) else None

    records = wait_for(succeeded, 20, interval=0.3, what="the backfill runs recorded")
    assert sorted(r["scheduledTime"] for r in records) == SLOTS
    # The same range again: every slot has a run, nothing is created.
    dry = ok(kubectl_sj(real_server, "backfill", "report", "--from", FROM, "--to", TO, "--dry-run", "-n", namespace))
    assert dry.splitlines()[-1].endswith(": 0 to run, 3 skipped (existing); parallel 1; nothing requested (--dry-run)")
    again = ok(kubectl_sj(real_server, "backfill", "report", "--from", FROM, "--to", TO, "--wait", "-n", namespace))
    assert again.splitlines()[-1].endswith("Completed: 0 run (0 failed), 3 skipped (existing) of 3")
    assert len(backfilled(real_server, namespace, "report")) == 3


def test_backfill_cancel_leaves_the_running_job_and_drops_the_rest(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("slow", HALF_HOURLY, duration="30s"))
    wait_for(lambda: condition(real_server, namespace, "slow", "Ready"), 30, interval=0.3, what="the first decision")
    token = ok(kubectl_sj(real_server, "backfill", "slow", "--from", FROM, "--to", TO, "-n", namespace)).split()[1]
    wait_for(lambda: backfilled(real_server, namespace, "slow"), 30, interval=0.3, what="the first backfill Job")
    out = ok(kubectl_sj(real_server, "backfill", "slow", "--cancel", "-n", namespace))
    assert out == (
        f"backfill {token} Cancelled: 0 run (0 failed), 1 still running, 0 skipped (existing) of 3; "
        "cancelled: 2 pending slots dropped, 1 running left to finish\n"
    )
    [job] = backfilled(real_server, namespace, "slow")
    assert slots_of([job]) == SLOTS[:1]
    reasons = [e["reason"] for e in events_of(real_server, namespace, "slow")]
    assert "BackfillCancelled" in reasons


def test_a_request_beyond_10000_slots_is_a_condition_and_a_warning(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("minutely", "* * * * *"))
    wait_for(
        lambda: condition(real_server, namespace, "minutely", "Ready"), 30, interval=0.3, what="the first decision"
    )
    # Written by hand (the plugin refuses it before sending): 30 days of minutes.
    request = json.dumps({"token": "too-big", "from": "2026-01-01T00:00:00Z", "to": "2026-01-31T00:00:00Z"})
    real_server.kubectl(
        "annotate", "scheduledjob", "minutely", "-n", namespace, f"punctual.dev/backfill-request={request}"
    )
    cond = wait_for(
        lambda: (
            (c := condition(real_server, namespace, "minutely", "BackfillAccepted")) and c["status"] == "False" and c
        ),
        30,
        interval=0.3,
        what="the BackfillAccepted condition",
    )
    assert cond["reason"] == "TooManySlots"
    assert re.search(r"has more than 10000 slots \(at most 10000 per backfill\); split it", cond["message"])
    warnings = wait_for(
        lambda: [e for e in events_of(real_server, namespace, "minutely") if e["reason"] == "BackfillRejected"], 20
    )
    assert warnings[0]["type"] == "Warning"
    [entry] = sj(real_server, namespace, "minutely")["status"]["backfills"]
    assert (entry["token"], entry["state"]) == ("too-big", "Rejected")
    assert not backfilled(real_server, namespace, "minutely")
