"""``kubectl sj`` through the real kubectl binary against the emulated API (kube_emulator).

No operator runs here: statuses are written with the emulator's ``patch_status`` as the operator
would write them, and Jobs come from the sandbox's simulated Job controller.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from plugin_helpers import CRD, Sj, scheduled_job
from punctual_testing import wait_for

from kube_emulator import Emulator, JobController
from kubectl_sj.objects import ScheduledJob
from kubectl_sj.slots import next_slots
from punctual.api import format_time
from punctual.jobs import LABEL_SCHEDULED_JOB, LABEL_TRIGGER

SJ = "punctual.dev/v1"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a failed command (no traceback)."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip()


def ago(**kwargs: float) -> str:
    return format_time(datetime.now(UTC).replace(microsecond=0) - timedelta(**kwargs))


def test_list_get_and_output_formats(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("backup", schedule="0 3 * * *", timeZone="Europe/Berlin"))
    emulator.create(scheduled_job("report", suspend=True))
    emulator.create(scheduled_job("elsewhere", namespace="team-b"))
    emulator.patch_status(
        SJ,
        "scheduledjobs",
        "backup",
        {
            "lastScheduleTime": ago(minutes=5, seconds=10),
            "nextScheduleTime": format_time(
                datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=3, seconds=30)
            ),
            "lastResult": "Succeeded",
        },
        namespace="default",
    )
    lines = ok(sj("list")).splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "NAME", "SCHEDULE", "TIMEZONE", "SUSPENDED", "ACTIVE", "QUEUED", "LAST RESULT", "LAST RUN", "NEXT RUN",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["backup", "report"]
    assert lines[1].split("   ")[0] == "backup" and "Europe/Berlin" in lines[1]
    assert "Succeeded" in lines[1] and "5m" in lines[1] and "ago" in lines[1] and "in 3m" in lines[1]
    assert lines[2].rstrip().endswith("<suspended>")

    everywhere = ok(sj("list", "-A")).splitlines()
    assert everywhere[0].startswith("NAMESPACE   NAME")
    assert [line.split()[:2] for line in everywhere[1:]] == [
        ["default", "backup"],
        ["default", "report"],
        ["team-b", "elsewhere"],
    ]
    assert ok(sj("get", "-n", "team-b", "-o", "name")) == "scheduledjob.punctual.dev/elsewhere\n"
    assert ok(sj("get", "backup", "-o", "name")) == "scheduledjob.punctual.dev/backup\n"

    one = json.loads(ok(sj("get", "backup", "-o", "json")))
    assert one["kind"] == "ScheduledJob" and one["status"]["lastResult"] == "Succeeded"
    many = yaml.safe_load(ok(sj("list", "-o", "yaml")))
    assert many["kind"] == "List" and len(many["items"]) == 2

    wide = ok(sj("get", "backup", "-o", "wide")).splitlines()
    assert "NEXT RUN AT" in wide[0] and ("+01:00" in wide[1] or "+02:00" in wide[1])


def test_empty_namespace_says_no_resources(sj: Sj) -> None:
    result = sj("list", "-n", "empty")
    assert result.returncode == 0 and result.stdout == ""
    assert result.stderr == "No resources found in empty namespace.\n"


def test_default_namespace_comes_from_the_kubeconfig_context(emulator: Emulator, sj: Sj, tmp_path: Path) -> None:
    emulator.create(scheduled_job("nightly", namespace="team-c"))
    config = emulator.write_kubeconfig(tmp_path / "team-c.kubeconfig", namespace="team-c")
    assert "nightly" in ok(Sj(sj.kubectl, config)("list"))
    assert "nightly" not in ok(sj("list"))


def test_history_newest_first(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("backup"))
    history = [
        {"job": "backup-3", "scheduledTime": ago(minutes=15), "trigger": "schedule", "result": "Skipped",
         "reason": "ConcurrencyForbid"},
        {"job": "backup-m1", "scheduledTime": ago(minutes=20), "trigger": "manual", "result": "Failed",
         "startTime": ago(minutes=20), "completionTime": ago(minutes=19), "durationSeconds": 62.0, "exitCode": 2,
         "reason": "BackoffLimitExceeded", "image": "busybox:1.36"},
        {"job": "backup-1", "scheduledTime": ago(minutes=30), "trigger": "schedule", "result": "Succeeded",
         "startTime": ago(minutes=30), "completionTime": ago(minutes=29, seconds=48), "durationSeconds": 12.0,
         "exitCode": 0},
    ]  # fmt: skip
    emulator.patch_status(SJ, "scheduledjobs", "backup", {"history": history}, namespace="default")
    lines = ok(sj("history", "backup")).splitlines()
    assert lines[0].split() == ["SLOT", "TRIGGER", "STARTED", "DURATION", "RESULT", "EXIT", "CODE", "REASON"]
    rows = [line.split() for line in lines[1:]]
    assert [r[1] for r in rows] == ["schedule", "manual", "schedule"]
    assert rows[0][2:] == ["<none>", "<none>", "Skipped", "<none>", "ConcurrencyForbid"]
    assert rows[1][2:] == ["20m", "ago", "62s", "Failed", "2", "BackoffLimitExceeded"]
    assert rows[2][2:] == ["30m", "ago", "12s", "Succeeded", "0", "<none>"]
    assert len(ok(sj("history", "backup", "--limit", "1")).splitlines()) == 2
    assert "backup-m1" in ok(sj("history", "backup", "-o", "wide"))
    assert [r["job"] for r in json.loads(ok(sj("history", "backup", "-o", "json")))] == [
        "backup-3",
        "backup-m1",
        "backup-1",
    ]


def test_next_matches_the_schedule_code(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("spread", schedule="H/5 * * * *", timeZone="Asia/Kolkata", jitter="45s"))
    body = emulator.get(SJ, "scheduledjobs", "spread", namespace="default")
    after = "2026-11-23T10:00:00Z"
    lines = ok(sj("next", "spread", "-n", "4", "--from", after)).splitlines()
    assert lines[0].split() == ["SLOT", "START", "IN"] and len(lines) == 5
    expected = next_slots(ScheduledJob.from_body(body), after=datetime(2026, 11, 23, 10, tzinfo=UTC), count=4)
    for line, slot in zip(lines[1:], expected, strict=True):
        start = slot.start.astimezone(slot.zone)
        assert line.split()[:2] == [
            slot.slot.astimezone(slot.zone).isoformat(),
            start.isoformat(timespec="milliseconds" if start.microsecond else "seconds"),
        ]
        assert line.split()[0].endswith("+05:30")
    rows = json.loads(ok(sj("next", "spread", "--count", "2", "-o", "json", "--from", after)))
    assert [r["slot"] for r in rows] == [s.slot.astimezone(s.zone).isoformat() for s in expected[:2]]
    assert "in " in ok(sj("next", "spread", "-n", "1")).splitlines()[1]


def test_suspend_and_resume(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("backup"))
    assert ok(sj("suspend", "backup")) == "scheduledjob.punctual.dev/backup suspended\n"
    assert emulator.get(SJ, "scheduledjobs", "backup", namespace="default")["spec"]["suspend"] is True
    assert "<suspended>" in ok(sj("get", "backup"))
    assert ok(sj("resume", "backup")) == "scheduledjob.punctual.dev/backup resumed\n"
    assert emulator.get(SJ, "scheduledjobs", "backup", namespace="default")["spec"]["suspend"] is False


HELLO = {
    "apiVersion": "batch/v1",
    "kind": "CronJob",
    "metadata": {"name": "hello", "namespace": "default", "labels": {"app": "hello"}},
    "spec": {
        "schedule": "*/5 * * * *",
        "timeZone": "Europe/Berlin",
        "concurrencyPolicy": "Forbid",
        "jobTemplate": {
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "containers": [{"name": "hello", "image": "busybox:1.28", "command": ["date"]}],
                    }
                }
            }
        },
    },
}


def test_convert_a_cronjob_from_the_cluster_and_apply_it(emulator: Emulator, sj: Sj, tmp_path: Path) -> None:
    emulator.create(HELLO)
    converted = yaml.safe_load(ok(sj("convert", "cronjob/hello")))
    assert converted["apiVersion"] == SJ and converted["kind"] == "ScheduledJob"
    assert converted["metadata"] == {"name": "hello", "namespace": "default", "labels": {"app": "hello"}}
    for key in ("schedule", "timeZone", "concurrencyPolicy"):
        assert converted["spec"][key] == HELLO["spec"][key]  # type: ignore[index]
    # The round trip a user does: kubectl sj convert cronjob/hello | kubectl apply -f -
    applied = subprocess.run(
        [sj.kubectl, "apply", "-f", "-", "--kubeconfig", str(sj.kubeconfig)],
        input=yaml.safe_dump(converted),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "scheduledjob.punctual.dev/hello created"
    created = emulator.get(SJ, "scheduledjobs", "hello", namespace="default")
    assert created["spec"]["schedule"] == "*/5 * * * *"
    assert json.loads(ok(sj("convert", "cronjob/hello", "-o", "json")))["kind"] == "ScheduledJob"

    manifest = tmp_path / "cronjob.yaml"
    manifest.write_text(yaml.safe_dump(HELLO))
    from_file = yaml.safe_load(ok(sj("convert", "-f", str(manifest))))
    assert from_file["spec"] == converted["spec"]


def test_convert_errors(emulator: Emulator, sj: Sj, tmp_path: Path) -> None:
    assert fails(sj("convert", "cronjob/nope")) == 'Error from server (NotFound): cronjobs.batch "nope" not found'
    assert fails(sj("convert", "deployment/x")) == "error: expected cronjob/NAME, got 'deployment/x'"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({**HELLO, "spec": {**HELLO["spec"], "schedule": None}}))  # type: ignore[dict-item]
    assert "does not convert to a valid ScheduledJob: set spec.schedule" in fails(sj("convert", "-f", str(bad)))


def run_job(emulator: Emulator, owner: str, job: str, *, exit_code: int = 0, minutes_ago: float = 0) -> None:
    """A Job labelled as a run of ``owner`` (the sandbox's Job controller gives it a pod and a log)."""
    emulator.create(
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": job,
                "namespace": "default",
                "labels": {LABEL_SCHEDULED_JOB: owner, LABEL_TRIGGER: "schedule"},
                "annotations": {
                    "punctual.dev/scheduled-time": ago(minutes=minutes_ago),
                    "punctual.dev/sandbox-exit-code": str(exit_code),
                    "punctual.dev/sandbox-duration": "0.2s",
                },
            },
            "spec": {
                "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}
            },
        }
    )


def wait_for_log(emulator: Emulator, job: str, text: str) -> None:
    def logged() -> bool:
        pods = emulator.list("v1", "pods", namespace="default", label_selector=f"job-name={job}")
        return bool(pods) and text in emulator.store.pod_logs.get(("default", pods[0]["metadata"]["name"]), "")

    wait_for(logged, 10, interval=0.05, what=f"the log line {text!r} of {job}")


def test_logs_of_the_last_run_and_of_a_named_run(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("backup"))
    run_job(emulator, "backup", "backup-1", exit_code=0)
    wait_for_log(emulator, "backup-1", "finished with exit code 0")
    time.sleep(1.1)  # creationTimestamp has whole seconds: make the second run visibly newer
    run_job(emulator, "backup", "backup-2", exit_code=3)
    wait_for_log(emulator, "backup-2", "finished with exit code 3")
    last = ok(sj("logs", "backup"))
    assert "job backup-2 started in pod backup-2-" in last and "finished with exit code 3" in last
    assert ok(sj("logs", "backup", "--last")) == last
    assert "job backup-1 finished with exit code 0" in ok(sj("logs", "backup", "--run", "backup-1", "-f"))
    run_job(emulator, "other", "other-1")
    assert fails(sj("logs", "backup", "--run", "other-1")) == (
        "error: job.batch/other-1 is not a run of scheduledjob.punctual.dev/backup"
    )
    assert "container nope is not valid" in fails(sj("logs", "backup", "-c", "nope"))


def test_logs_without_runs(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("fresh"))
    assert fails(sj("logs", "fresh")).startswith("error: scheduledjob.punctual.dev/fresh has no runs")


@pytest.mark.parametrize(
    "args",
    [("get", "x"), ("history", "x"), ("next", "x"), ("suspend", "x"), ("resume", "x"), ("run", "x"), ("logs", "x")],
)
def test_unknown_scheduled_job_is_not_found(sj: Sj, args: tuple[str, ...]) -> None:
    assert fails(sj(*args)) == 'Error from server (NotFound): scheduledjobs.punctual.dev "x" not found'


@pytest.fixture
def bare_sj(kubectl: str, tmp_path: Path) -> Any:
    """An emulated cluster without Punctual's CRD."""
    with Emulator(seed=1, controllers=[JobController()]) as emu:
        yield Sj(kubectl, emu.write_kubeconfig(tmp_path / "bare.kubeconfig"))


@pytest.mark.parametrize("args", [("list",), ("get", "x"), ("list", "-A"), ("suspend", "x"), ("run", "x")])
def test_crd_missing_says_how_to_install(bare_sj: Sj, args: tuple[str, ...]) -> None:
    assert fails(bare_sj(*args)) == (
        "error: the ScheduledJob CRD is not installed (scheduledjobs.punctual.dev); "
        "install Punctual: helm install punctual charts/punctual"
    )


def forbid(emulator: Emulator, request: str) -> None:
    """RBAC says no: the emulator answers 403 to this request (a kmock reaction on top of the emulation)."""
    (
        emulator.handler[request]
        << 403
        << {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "reason": "Forbidden",
            "code": 403,
            "message": "forbidden",
        }
    )


def test_forbidden_names_the_missing_permission(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("backup", namespace="x"))
    forbid(emulator, "patch /apis/punctual.dev/v1/namespaces/x/scheduledjobs/backup")
    assert fails(sj("suspend", "backup", "-n", "x")) == (
        'error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "x"'
    )
    assert fails(sj("run", "backup", "-n", "x")) == (
        'error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "x"'
    )
    forbid(emulator, "get /apis/punctual.dev/v1/scheduledjobs")
    assert fails(sj("list", "-A")) == (
        'error: forbidden: you need "list" on scheduledjobs.punctual.dev at the cluster scope (all namespaces)'
    )


def test_unreachable_cluster(sj: Sj, emulator: Emulator) -> None:
    emulator.stop()
    assert fails(sj("list")).startswith(f"error: unable to connect to the server at {emulator.url}: ")


def test_crd_from_the_repository_is_what_the_emulator_serves(emulator: Emulator) -> None:
    served = emulator.get("apiextensions.k8s.io/v1", "customresourcedefinitions", "scheduledjobs.punctual.dev")
    assert served["spec"]["names"]["shortNames"] == CRD["spec"]["names"]["shortNames"] == ["sj"]
