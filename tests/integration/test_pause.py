"""Pause after failures through the real operator and the emulator: two failed runs in a row stop the
slots (condition Suspended, reason TooManyFailures; a Warning Event), ``kubectl sj resume`` lifts it
(through the resume annotation: the operator never writes the spec) and slots run again."""

from __future__ import annotations

import io
import time
from pathlib import Path

from integration_support import JobScript, OperatorFactory, condition, events, jobs_of, scheduled_job, status
from punctual_testing import wait_for

from kube_emulator import Emulator
from kubectl_sj.cli import main as kubectl_sj


def test_two_failures_pause_and_resume_lifts_it(
    emulator: Emulator, operator: OperatorFactory, script: JobScript, tmp_path: Path
) -> None:
    script.rule = lambda job, n: (0.2, 1 if n <= 2 else 0)  # the first two runs fail
    running = operator()
    emulator.create(scheduled_job("flaky", "*/2 * * * * *", pauseAfterFailures=2, historyLimit=50))
    wait_for(lambda: status(emulator, "flaky").get("pause"), 30, what="the pause")
    suspended = condition(emulator, "flaky", "Suspended") or {}
    assert (suspended.get("status"), suspended.get("reason")) == ("True", "TooManyFailures")
    assert "kubectl sj resume flaky" in suspended["message"]
    assert "PausedAfterFailures" in {e["reason"] for e in events(emulator, "flaky")}
    assert status(emulator, "flaky").get("nextScheduleTime") is None
    gauge = b'punctual_paused{namespace="default",scheduledjob="flaky"}'
    assert gauge + b" 1.0" in running.op.metrics.exposition(), "the pause is not in punctual_paused"
    paused_jobs = len(jobs_of(emulator, "flaky"))
    time.sleep(4.5)  # two slots pass while paused
    assert len(jobs_of(emulator, "flaky")) == paused_jobs, "a slot ran while paused"

    generation = emulator.get("punctual.dev/v1", "scheduledjobs", "flaky", namespace="default")["metadata"][
        "generation"
    ]
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    out, err = io.StringIO(), io.StringIO()
    assert kubectl_sj(["resume", "flaky", "--kubeconfig", str(kubeconfig)], out=out, err=err) == 0, err.getvalue()
    assert out.getvalue() == "scheduledjob.punctual.dev/flaky resumed (was paused after 2 failed runs)\n"
    body = emulator.get("punctual.dev/v1", "scheduledjobs", "flaky", namespace="default")
    assert body["metadata"]["generation"] == generation, "resume changed the spec"
    wait_for(lambda: status(emulator, "flaky").get("lastResult") == "Succeeded", 30, what="a run after the resume")
    st = status(emulator, "flaky")
    assert st.get("pause") is None and st.get("consecutiveFailures") == 0
    assert (condition(emulator, "flaky", "Suspended") or {}).get("reason") == "Active"
    assert gauge + b" 0.0" in running.op.metrics.exposition(), "punctual_paused still 1 after the resume"
