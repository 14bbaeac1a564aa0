"""Retrying a failed slot (``spec.retry``) through the real operator and the emulator: a failed run's
slot gets a new Job per attempt (trigger retry, the same scheduled time, attempt annotations) after
the delay; a pending retry survives an operator restart; ``kubectl sj history`` shows the attempts."""

from __future__ import annotations

import io
from pathlib import Path

from integration_support import JobScript, OperatorFactory, events, history, jobs_of, scheduled_job, status
from punctual_testing import wait_for

from kube_emulator import Emulator
from kubectl_sj.cli import main as kubectl_sj


def attempt(job: dict[str, object]) -> str:
    meta = job["metadata"]
    assert isinstance(meta, dict)
    return str((meta.get("annotations") or {}).get("punctual.dev/attempt", "1"))


def test_a_failed_slot_is_retried_until_an_attempt_succeeds(
    emulator: Emulator, operator: OperatorFactory, script: JobScript, tmp_path: Path
) -> None:
    script.rule = lambda job, n: (0.2, 0 if attempt(job) == "3" else 1)  # attempts 1 and 2 fail
    operator()
    retry = {"limit": 3, "delay": "1s", "backoff": 2}
    emulator.create(scheduled_job("flaky", "*/20 * * * * *", retry=retry, concurrencyPolicy="Forbid"))

    def third_attempt_succeeded() -> bool:
        return any(r.get("attempt") == 3 and r["result"] == "Succeeded" for r in history(emulator, "flaky"))

    wait_for(third_attempt_succeeded, 40, what="the slot's third attempt")
    records = history(emulator, "flaky")
    third = next(r for r in records if r.get("attempt") == 3)
    first = next(r for r in records if r["job"] == third["retryOf"])
    attempts = sorted(
        (r.get("attempt") or 1, r["trigger"], r["result"])
        for r in records
        if r["scheduledTime"] == first["scheduledTime"]
    )
    assert attempts == [(1, "schedule", "Failed"), (2, "retry", "Failed"), (3, "retry", "Succeeded")]
    second = next(r for r in records if r.get("attempt") == 2)
    assert (second["job"], third["job"]) == (f"{first['job']}-r2", f"{first['job']}-r3")
    # Retry 2 waits delay * backoff after attempt 2 failed: at least 2 s between them.
    gap = _seconds(third["startTime"]) - _seconds(second["completionTime"])
    assert gap >= 1.9, gap
    st = status(emulator, "flaky")
    assert st.get("consecutiveFailures") == 0 and st.get("lastResult") == "Succeeded"
    job = next(j for j in jobs_of(emulator, "flaky") if j["metadata"]["name"] == third["job"])
    assert job["metadata"]["labels"]["punctual.dev/trigger"] == "retry"
    assert job["metadata"]["annotations"]["punctual.dev/retry-of"] == first["job"]
    assert "RetryScheduled" in {e["reason"] for e in events(emulator, "flaky")}

    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    out, err = io.StringIO(), io.StringIO()
    assert kubectl_sj(["history", "flaky", "--kubeconfig", str(kubeconfig)], out=out, err=err) == 0, err.getvalue()
    rows = [line.split() for line in out.getvalue().splitlines()[1:]]
    assert ["retry", "3/4"] in [row[1:3] for row in rows] and ["retry", "2/4"] in [row[1:3] for row in rows]


def test_a_pending_retry_survives_an_operator_restart_and_runs_once(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    script.rule = lambda job, n: (0.2, 0 if attempt(job) == "2" else 1)
    first_operator = operator()
    retry = {"limit": 1, "delay": "4s"}
    emulator.create(scheduled_job("later", "*/30 * * * * *", retry=retry))
    wait_for(lambda: status(emulator, "later").get("retries"), 40, what="a pending retry")
    (pending,) = status(emulator, "later")["retries"]
    first_operator.stop()
    operator()
    wait_for(
        lambda: any(r["job"] == pending["job"] and r["result"] == "Succeeded" for r in history(emulator, "later")),
        30,
        what="the retry after the restart",
    )
    names = [j["metadata"]["name"] for j in jobs_of(emulator, "later")]
    assert names.count(pending["job"]) == 1 and script.names.count(pending["job"]) == 1
    started = next(r for r in history(emulator, "later") if r["job"] == pending["job"])["startTime"]
    assert _seconds(started) >= _seconds(pending["dueTime"]) - 0.01


def _seconds(text: str) -> float:
    from punctual.api import parse_time

    return parse_time(text).timestamp()
