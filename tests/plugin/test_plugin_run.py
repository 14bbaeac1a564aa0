"""``kubectl sj run`` end to end: the real kubectl, the emulated API, and an operator.

Most tests use ``FakeOperator`` below, a FAKE that plays only the operator's part in a run request
(see its docstring); the last test drives the real operator process (``python -m punctual run``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from plugin_helpers import Sj, scheduled_job
from punctual_testing import wait_for

from kube_emulator import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, Emulator
from punctual.api import Trigger, format_time
from punctual.core import parse_spec
from punctual.jobs import ANNOTATION_RUN_REQUEST, LABEL_TRIGGER, Owner, build_job, manual_job_name

SJ = "punctual.dev/v1"


class FakeOperator(threading.Thread):
    """FAKE, NOT punctual.runtime: answers run requests the way the operator does, nothing else.

    It polls one ScheduledJob; for a new ``punctual.dev/run-requested-at`` token it either creates
    the Job ``manual_job_name(name, token)`` (with punctual.jobs.build_job, so labels and
    annotations are the operator's) or, with ``verdict="skip"``, records a Skipped run as the core
    does under concurrencyPolicy Forbid; then it writes ``status.lastHandledRunRequest`` and the
    history record. The sandbox's Job controller runs the Job (duration and exit code from the
    sandbox annotations).
    """

    def __init__(
        self,
        emulator: Emulator,
        name: str,
        *,
        verdict: Literal["run", "skip", "queue"] = "run",
        exit_code: int = 0,
        duration: str = "0.3s",
    ) -> None:
        super().__init__(daemon=True, name=f"fake-operator-{name}")
        self.emulator, self.name = emulator, name
        self.verdict, self.exit_code, self.duration = verdict, exit_code, duration
        self.stopping = threading.Event()
        self.handled: list[str] = []

    def run(self) -> None:
        while not self.stopping.wait(0.05):
            body = self.emulator.get(SJ, "scheduledjobs", self.name, namespace="default")
            token = (body["metadata"].get("annotations") or {}).get(ANNOTATION_RUN_REQUEST)
            status = body.get("status") or {}
            if token and token != status.get("lastHandledRunRequest"):
                self.answer(body, token, status)

    def answer(self, body: dict[str, Any], token: str, status: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        job = manual_job_name(self.name, token)
        record: dict[str, Any] = {"job": job, "scheduledTime": format_time(now), "trigger": "manual"}
        patch: dict[str, Any] = {"lastHandledRunRequest": token}
        if self.verdict == "skip":
            message = f"slot {format_time(now)} skipped: x-1 still running (concurrencyPolicy Forbid)"
            record |= {"result": "Skipped", "reason": "ConcurrencyForbid", "message": message}
        elif self.verdict == "queue":
            patch["queued"] = [{"job": job, "scheduledTime": format_time(now), "trigger": "manual",
                                "queuedAt": format_time(now)}]  # fmt: skip
            record = {}
        else:
            owner = Owner(namespace="default", name=self.name, uid=body["metadata"]["uid"])
            manifest = build_job(owner, parse_spec(body["spec"]), job_name=job, slot=now, trigger=Trigger.MANUAL)
            manifest["metadata"]["annotations"] |= {
                DURATION_ANNOTATION: self.duration,
                EXIT_CODE_ANNOTATION: str(self.exit_code),
            }
            self.emulator.create(manifest)
            record |= {"result": "Running", "startTime": format_time(now)}
            patch["active"] = [{"name": job, "scheduledTime": format_time(now), "trigger": "manual"}]
        if record:
            patch["history"] = [record, *(status.get("history") or [])]
        self.emulator.patch_status(SJ, "scheduledjobs", self.name, patch, namespace="default")
        self.handled.append(token)

    def __enter__(self) -> FakeOperator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.join(timeout=5)


@pytest.fixture
def backup(emulator: Emulator) -> str:
    emulator.create(scheduled_job("backup", schedule="0 0 1 1 *"))
    return "backup"


def created_job(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("job.batch/") and first.endswith(" created"), stdout
    return first.removeprefix("job.batch/").removesuffix(" created")


def test_run_prints_the_job_the_operator_created(emulator: Emulator, sj: Sj, backup: str) -> None:
    with FakeOperator(emulator, backup) as operator:
        result = sj("run", backup)
    assert result.returncode == 0, result.stderr
    job = created_job(result.stdout)
    token = emulator.get(SJ, "scheduledjobs", backup, namespace="default")["metadata"]["annotations"][
        ANNOTATION_RUN_REQUEST
    ]
    assert operator.handled == [token] and job == manual_job_name(backup, token)
    assert token.endswith("Z") and len(token.split(".")[1]) == 10  # RFC 3339 with nanoseconds
    labels = emulator.get("batch/v1", "jobs", job, namespace="default")["metadata"]["labels"]
    assert labels[LABEL_TRIGGER] == "manual"


def test_each_run_gets_its_own_token_and_job(emulator: Emulator, sj: Sj, backup: str) -> None:
    with FakeOperator(emulator, backup) as operator:
        jobs = {created_job(sj("run", backup).stdout) for _ in range(2)}
    assert len(jobs) == 2 and len(set(operator.handled)) == 2


def test_run_wait_succeeds(emulator: Emulator, sj: Sj, backup: str) -> None:
    with FakeOperator(emulator, backup):
        result = sj("run", backup, "--wait")
    assert result.returncode == 0, result.stderr
    job = created_job(result.stdout)
    assert result.stdout.splitlines()[1] == f"job.batch/{job} Succeeded (exit code 0)"


def test_run_wait_fails_with_the_exit_code(emulator: Emulator, sj: Sj, backup: str) -> None:
    with FakeOperator(emulator, backup, exit_code=3):
        result = sj("run", backup, "--wait")
    assert result.returncode == 1
    job = created_job(result.stdout)
    assert result.stdout.splitlines()[1] == f"job.batch/{job} Failed (exit code 3): BackoffLimitExceeded"


def test_run_follow_streams_the_log(emulator: Emulator, sj: Sj, backup: str) -> None:
    with FakeOperator(emulator, backup, duration="1s"):
        result = sj("run", backup, "--follow")
    assert result.returncode == 0, result.stderr
    job = created_job(result.stdout)
    assert f"job {job} started in pod {job}-" in result.stdout
    assert "PUNCTUAL_TRIGGER=manual" in result.stdout or "is running" in result.stdout
    assert result.stdout.rstrip().endswith(f"job.batch/{job} Succeeded (exit code 0)")


def test_run_skipped_by_the_concurrency_policy(emulator: Emulator, sj: Sj, backup: str) -> None:
    with FakeOperator(emulator, backup, verdict="skip"):
        result = sj("run", backup)
    assert result.returncode == 1
    assert result.stdout == (
        "scheduledjob.punctual.dev/backup run Skipped: "
        f"slot {result.stdout.split('slot ')[1].split()[0]} skipped: x-1 still running (concurrencyPolicy Forbid)\n"
    )


def test_run_queued(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("queued", concurrencyPolicy="Queue"))
    with FakeOperator(emulator, "queued", verdict="queue"):
        result = sj("run", "queued")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("job.batch/queued-m")
    assert result.stdout.endswith(" queued (concurrencyPolicy Queue): it starts when the active run ends\n")


def test_run_without_an_operator_times_out(sj: Sj, backup: str) -> None:
    result = sj("run", backup, "--timeout", "1s")
    assert result.returncode == 1
    assert result.stderr == (
        "error: timed out waiting for the operator to pick up the run request of "
        "scheduledjob.punctual.dev/backup (is it running?) after 1s\n"
    )


def test_bad_timeout(sj: Sj, backup: str) -> None:
    result = sj("run", backup, "--timeout", "soon")
    assert result.returncode == 1 and result.stderr.startswith("error: --timeout: invalid duration 'soon'")


# -- the real operator ----------------------------------------------------------------------------------


@pytest.fixture
def operator_process(emulator: Emulator, sj: Sj, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``punctual run`` (punctual.runtime) against the emulator, as its own process."""
    env = {
        **os.environ,
        "PUNCTUAL_KUBECONFIG": str(sj.kubeconfig),
        "PUNCTUAL_METRICS_PORT": "0",
        "PUNCTUAL_METRICS_HOST": "127.0.0.1",
    }
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "punctual", "run"], env=env, stdout=log, stderr=log)
    yield process
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


def test_run_with_the_real_operator(emulator: Emulator, sj: Sj, operator_process: subprocess.Popen[bytes]) -> None:
    body = scheduled_job("nightly", schedule="0 0 1 1 *", concurrencyPolicy="Forbid")
    # Long enough that the second request surely comes while the first run is active, even on a busy machine.
    body["spec"]["jobTemplate"]["metadata"] = {"annotations": {DURATION_ANNOTATION: "10s", EXIT_CODE_ANNOTATION: "0"}}
    emulator.create(body)
    first = sj("run", "nightly")  # the operator may still be starting: run waits up to 30s for it
    assert first.returncode == 0, (first.stdout, first.stderr)
    job = created_job(first.stdout)
    # Forbid: a second request while the first run is active is skipped, and said so.
    second = sj("run", "nightly")
    assert second.returncode == 1, (second.stdout, second.stderr)
    assert second.stdout.startswith("scheduledjob.punctual.dev/nightly run Skipped: ")
    assert f"{job} still running (concurrencyPolicy Forbid)" in second.stdout
    # Once it finished, a waited (shorter) run succeeds.
    short = {"spec": {"jobTemplate": {"metadata": {"annotations": {DURATION_ANNOTATION: "1s"}}}}}
    emulator.patch(SJ, "scheduledjobs", "nightly", short, namespace="default")
    wait_for(
        lambda: not emulator.get(SJ, "scheduledjobs", "nightly", namespace="default").get("status", {}).get("active"),
        40,
        interval=0.2,
        what="the first run to finish",
    )
    waited = sj("run", "nightly", "--wait", "--timeout", "1m")
    assert waited.returncode == 0, (waited.stdout, waited.stderr)
    assert waited.stdout.splitlines()[-1].endswith("Succeeded (exit code 0)")
    # --wait returns once the operator has recorded the run too: history typed next already shows it.
    history = sj("history", "nightly")
    assert history.returncode == 0
    rows = [re.split(r"\s{2,}", row) for row in history.stdout.splitlines()[1:]]
    assert [row[1] for row in rows] == ["manual", "manual", "manual"]
    assert [row[4] for row in rows] == ["Succeeded", "Skipped", "Succeeded"]  # newest first
