"""``kubectl sj`` as a user runs it against the real API server: the real kubectl binary finds the
venv's ``kubectl-sj`` on PATH, the admin kubeconfig comes from ``KUBECONFIG`` (or ``--kubeconfig``),
runs go through the real Job controller and the stand-in kubelet, the operator is its own process.

The emulator tier (tests/plugin) checks the formatting against written statuses; here every value
comes from the operator and the Job controller.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta

from punctual_realserver import RealServer
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    apply_in,
    condition,
    history,
    jobs_of,
    kubectl_sj,
    parse_time,
    pods_of,
    scheduled_job,
    sj,
    slots_of,
)

EVERY_4S = "*/4 * * * * *"
NEW_YEAR = "0 0 1 1 *"  # never due during a test: only manual runs


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done.stdout


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """kubectl's contract: exit 1, one line on stderr, no traceback."""
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip()


def created_job(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert re.fullmatch(r"job\.batch/\S+ created", first), stdout
    return first.removeprefix("job.batch/").removesuffix(" created")


def test_run_wait_completes_through_the_job_controller(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("backup", NEW_YEAR, duration="2s"))
    done = kubectl_sj(real_server, "run", "backup", "--wait", "--timeout", "60s", "-n", namespace)
    out = ok(done)
    job = created_job(out)
    assert job.startswith("backup-m")
    assert out.splitlines()[1:] == [f"job.batch/{job} Succeeded (exit code 0)"]
    # The real Job controller finished the Job; the run is the operator's, a manual one.
    body = real_server.get_json("job", job, "-n", namespace)
    assert body["status"]["succeeded"] == 1
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in body["status"]["conditions"])
    assert body["metadata"]["labels"]["punctual.dev/trigger"] == "manual"
    record = wait_for(
        lambda: [r for r in history(real_server, namespace, "backup") if r["job"] == job and r["result"] != "Running"],
        20,
        interval=0.3,
        what="the manual run's record",
    )[0]
    assert (record["trigger"], record["result"], record["exitCode"]) == ("manual", "Succeeded", 0)
    annotations = sj(real_server, namespace, "backup")["metadata"]["annotations"]
    assert (
        sj(real_server, namespace, "backup")["status"]["lastHandledRunRequest"]
        == annotations["punctual.dev/run-requested-at"]
    )


def test_run_wait_reports_a_failed_run_and_exits_1(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("broken", NEW_YEAR, duration="1s", exit_code=3))
    done = kubectl_sj(real_server, "run", "broken", "--wait", "--timeout", "60s", "-n", namespace)
    assert done.returncode == 1, (done.stdout, done.stderr)
    job = created_job(done.stdout)
    assert done.stdout.splitlines()[1:] == [f"job.batch/{job} Failed (exit code 3): BackoffLimitExceeded"]
    body = real_server.get_json("job", job, "-n", namespace)
    assert body["status"]["failed"] == 1
    assert any(c["type"] == "Failed" and c["reason"] == "BackoffLimitExceeded" for c in body["status"]["conditions"])


def test_suspend_stops_runs_and_resume_starts_them_again(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("tick", EVERY_4S, duration="1s", successfulJobsHistoryLimit=20))
    wait_for(lambda: jobs_of(real_server, namespace, "tick"), 20, interval=0.3, what="a first run")

    assert ok(kubectl_sj(real_server, "suspend", "tick", "-n", namespace)) == (
        "scheduledjob.punctual.dev/tick suspended\n"
    )
    assert sj(real_server, namespace, "tick")["spec"]["suspend"] is True
    suspended = wait_for(
        lambda: (c := condition(real_server, namespace, "tick", "Suspended")) and c["status"] == "True" and c,
        15,
        interval=0.3,
        what="the Suspended condition",
    )
    assert suspended["reason"]
    suspended_at = parse_time(suspended["lastTransitionTime"])
    row = ok(kubectl_sj(real_server, "get", "tick", "-n", namespace)).splitlines()[1]
    assert row.rstrip().endswith("<suspended>") and " True " in row

    # The suspended ScheduledJob still consumes its slots (scheduledThrough moves on) but runs none.
    def consumed_two_slots() -> bool:
        through = (sj(real_server, namespace, "tick").get("status") or {}).get("scheduledThrough")
        return bool(through) and parse_time(through) >= suspended_at + timedelta(seconds=9)

    wait_for(consumed_two_slots, 25, interval=0.5, what="two slots consumed while suspended")
    started = [parse_time(s) for s in slots_of(jobs_of(real_server, namespace, "tick"))]
    assert all(slot <= suspended_at + timedelta(seconds=1) for slot in started), (suspended_at, started)

    assert ok(kubectl_sj(real_server, "resume", "tick", "-n", namespace)) == "scheduledjob.punctual.dev/tick resumed\n"
    resumed_at = datetime.now(UTC)
    assert sj(real_server, namespace, "tick")["spec"]["suspend"] is False
    wait_for(
        lambda: any(parse_time(s) >= resumed_at for s in slots_of(jobs_of(real_server, namespace, "tick"))),
        15,
        interval=0.3,
        what="a run after resume",
    )
    # Slots while suspended were neither run then nor caught up now.
    slots = [parse_time(s) for s in slots_of(jobs_of(real_server, namespace, "tick"))]
    assert not [s for s in slots if suspended_at + timedelta(seconds=1) < s < resumed_at - timedelta(seconds=1)]
    cond = wait_for(
        lambda: (c := condition(real_server, namespace, "tick", "Suspended")) and c["status"] == "False" and c,
        10,
        interval=0.3,
        what="Suspended=False",
    )
    assert cond


def test_history_next_and_list_show_the_operators_status(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("tick", EVERY_4S, duration="1s", timeZone="Europe/Berlin"))
    wait_for(
        lambda: len([r for r in history(real_server, namespace, "tick") if r["result"] == "Succeeded"]) >= 2,
        25,
        interval=0.3,
        what="two succeeded runs",
    )
    ok(kubectl_sj(real_server, "suspend", "tick", "-n", namespace))  # hold the status still to compare
    wait_for(lambda: not (sj(real_server, namespace, "tick")["status"].get("active")), 10, what="no active run")

    def settled() -> dict[str, object] | None:
        first = sj(real_server, namespace, "tick")
        shown = ok(kubectl_sj(real_server, "history", "tick", "-o", "json", "-n", namespace))
        again = sj(real_server, namespace, "tick")
        return {"records": json.loads(shown), "status": first["status"]} if first == again else None

    seen = wait_for(settled, 15, interval=0.5, what="a still status")
    assert seen["records"] == seen["status"]["history"]  # type: ignore[index]

    table = ok(kubectl_sj(real_server, "history", "tick", "-n", namespace)).splitlines()
    assert table[0].split() == ["SLOT", "TRIGGER", "STARTED", "DURATION", "RESULT", "EXIT", "CODE", "REASON"]
    records = sj(real_server, namespace, "tick")["status"]["history"]
    assert len(table) == 1 + len(records)
    for line, record in zip(table[1:], records, strict=True):
        cells = re.split(r"\s{2,}", line.strip())
        slot = parse_time(record["scheduledTime"]).astimezone(parse_time(cells[0]).tzinfo)
        assert parse_time(cells[0]) == slot and cells[0].endswith(("+01:00", "+02:00")), (cells, record)
        assert cells[1] == record["trigger"] and cells[4] == record["result"]
        if record["result"] == "Succeeded":
            assert cells[5] == "0" and cells[3].endswith("s")

    ok(kubectl_sj(real_server, "resume", "tick", "-n", namespace))
    done = kubectl_sj(real_server, "next", "tick", "--count", "3", "--namespace", namespace)
    rows = [line.split() for line in ok(done).splitlines()]
    assert rows[0] == ["SLOT", "START", "IN"] and len(rows) == 4
    slots = [parse_time(r[0]) for r in rows[1:]]
    assert all(s.second % 4 == 0 and s > datetime.now(UTC) - timedelta(seconds=1) for s in slots), slots
    assert [b - a for a, b in itertools.pairwise(slots)] == [timedelta(seconds=4)] * 2
    # The first slot may be due within the second ("now", by design); the later ones are ahead ("in 4s").
    assert rows[1][2] in ("in", "now") and all(r[2] == "in" for r in rows[2:]), rows

    listed = ok(kubectl_sj(real_server, "list", "-n", namespace)).splitlines()
    assert re.split(r"\s{2,}", listed[0]) == [
        "NAME", "SCHEDULE", "TIMEZONE", "SUSPENDED", "ACTIVE", "QUEUED", "LAST RESULT", "LAST RUN", "NEXT RUN",
    ]  # fmt: skip
    cells = re.split(r"\s{2,}", listed[1].strip())
    assert cells[:4] == ["tick", EVERY_4S, "Europe/Berlin", "False"]
    # LAST RUN is the newest start: "now" when a run started this very second.
    assert cells[6] == "Succeeded" and re.fullmatch(r"\d+s ago|now", cells[7]), cells
    assert re.fullmatch(r"in \d+s|now", cells[8]), cells
    # --kubeconfig instead of KUBECONFIG: the same answer.
    listed_again = kubectl_sj(real_server, "list", "-n", namespace, kubeconfig=real_server.admin_kubeconfig)
    assert ok(listed_again).splitlines()[1].split()[:4] == listed[1].split()[:4]


def test_logs_without_a_kubelet_is_one_line_that_says_so(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    """The stand-in kubelet serves no logs (its Node has no address): the API server cannot proxy
    the log request, and the plugin says which pod's log it could not get and why, in one line."""
    operator()
    apply_in(real_server, namespace, scheduled_job("backup", NEW_YEAR, duration="1s"))
    job = created_job(ok(kubectl_sj(real_server, "run", "backup", "--wait", "--timeout", "60s", "-n", namespace)))
    (pod,) = [p["metadata"]["name"] for p in pods_of(real_server, namespace)]
    assert pod.startswith(f"{job}-")
    # What kubectl itself says, for comparison: the server's message.
    raw = real_server.kubectl("logs", pod, "-n", namespace, check=False)
    assert raw.returncode == 1 and "no preferred addresses found" in raw.stderr
    expected = (
        f"error: the API server could not get the log of pod/{pod} from its node's kubelet: "
        "no preferred addresses found; known addresses: []"
    )
    assert one_error_line(kubectl_sj(real_server, "logs", "backup", "-n", namespace)) == expected
    assert one_error_line(kubectl_sj(real_server, "logs", "backup", "--run", job, "-n", namespace)) == expected
    assert one_error_line(kubectl_sj(real_server, "logs", "backup", "--run", job, "-f", "-n", namespace)) == expected
