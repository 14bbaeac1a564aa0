"""A run on demand with overrides (kubectl sj run --env/--arg/--image): the real operator against the emulator.

The request is written as ``kubectl sj run`` writes it (one merge patch: run-requested-at and
run-overrides, whose JSON carries the same token); the operator creates that run's Job with the
overrides applied, records them in its history record, keeps them through a queue, and refuses a
request whose overrides are not its own or do not parse.
"""

from __future__ import annotations

import json
from typing import Any

from integration_support import (
    NS,
    SJ_API,
    JobScript,
    OperatorFactory,
    condition,
    events,
    history,
    jobs_of,
    records,
    scheduled_job,
    status,
)
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.core.run_request import RunOverrides, encode
from punctual.jobs import ANNOTATION_RUN_OVERRIDES, ANNOTATION_RUN_REQUEST, manual_job_name

YEARLY = "0 0 1 1 *"  # never fires during a test: only requested runs


def request(emu: Emulator, name: str, token: str, overrides: str | None) -> None:
    annotations = {ANNOTATION_RUN_REQUEST: token, ANNOTATION_RUN_OVERRIDES: overrides}
    emu.patch(SJ_API, "scheduledjobs", name, {"metadata": {"annotations": annotations}}, namespace=NS)


def record_of(emu: Emulator, name: str, job: str) -> dict[str, Any] | None:
    return next((r for r in history(emu, name) if r["job"] == job), None)


def container(job: dict[str, Any]) -> dict[str, Any]:
    return dict(job["spec"]["template"]["spec"]["containers"][0])


def test_a_run_with_overrides_gets_them_and_records_them(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    operator()
    emulator.create(scheduled_job("report", YEARLY))
    wait_for(lambda: condition(emulator, "report", "Ready"), 10, what="the first decision")
    overrides = RunOverrides(
        token="req-1", env=(("USER_VAR", "replaced"), ("DAY", "2026-11-23")), args=("--full",), image="busybox:1.37"
    )
    request(emulator, "report", "req-1", encode(overrides))
    job_name = manual_job_name("report", "req-1")
    rec = wait_for(
        lambda: next((r for r in records(emulator, "report", "Succeeded") if r["job"] == job_name), None),
        15,
        what=f"{job_name} succeeded",
    )
    expected = {"env": ["USER_VAR=replaced", "DAY=2026-11-23"], "args": ["--full"], "image": "busybox:1.37"}
    assert rec["overrides"] == expected and rec["image"] == "busybox:1.37"
    (job,) = jobs_of(emulator, "report")
    main = container(job)
    assert main["image"] == "busybox:1.37" and main["args"] == ["--full"]
    assert main["command"] == ["sh", "-c", "sleep 1"]
    env = [(e["name"], e["value"]) for e in main["env"]]
    assert env[0] == ("USER_VAR", "replaced") and env[-1] == ("DAY", "2026-11-23")
    assert json.loads(job["metadata"]["annotations"][ANNOTATION_RUN_OVERRIDES]) == expected

    # The next run without overrides (the annotation removed in the same patch) runs the template.
    request(emulator, "report", "req-2", None)
    plain = manual_job_name("report", "req-2")
    wait_for(lambda: any(r["job"] == plain for r in records(emulator, "report", "Succeeded")), 15, what=plain)
    assert "overrides" not in (record_of(emulator, "report", plain) or {})
    second = next(j for j in jobs_of(emulator, "report") if j["metadata"]["name"] == plain)
    assert container(second)["image"] == "busybox:1.36" and "args" not in container(second)
    assert script.names == [job_name, plain]


def test_a_queued_run_starts_with_its_overrides(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    first = manual_job_name("queued", "first")
    # The first run lasts long enough for the second request to surely come while it is active.
    script.rule = lambda job, n: (6.0 if job["metadata"]["name"] == first else 0.5, 0)
    operator()
    emulator.create(scheduled_job("queued", YEARLY, concurrencyPolicy="Queue"))
    wait_for(lambda: condition(emulator, "queued", "Ready"), 10, what="the first decision")
    request(emulator, "queued", "first", None)
    wait_for(lambda: status(emulator, "queued").get("active"), 10, what="the first run active")
    request(emulator, "queued", "second", encode(RunOverrides(token="second", image="busybox:1.37")))
    second = manual_job_name("queued", "second")
    waiting = wait_for(lambda: status(emulator, "queued").get("queued"), 10, what="the second run queued")
    assert [(q["job"], q.get("overrides")) for q in waiting] == [(second, {"image": "busybox:1.37"})]
    wait_for(lambda: any(r["job"] == second for r in records(emulator, "queued", "Succeeded")), 30, what=second)
    started = next(j for j in jobs_of(emulator, "queued") if j["metadata"]["name"] == second)
    assert container(started)["image"] == "busybox:1.37"
    assert (record_of(emulator, "queued", second) or {})["overrides"] == {"image": "busybox:1.37"}
    assert script.names == [first, second]


def test_overrides_of_another_request_refuse_it(
    emulator: Emulator, operator: OperatorFactory, script: JobScript
) -> None:
    operator()
    emulator.create(scheduled_job("strict", YEARLY))
    wait_for(lambda: condition(emulator, "strict", "Ready"), 10, what="the first decision")
    stale = encode(RunOverrides(token="older", image="busybox:1.37"))
    request(emulator, "strict", "newer", stale)
    job_name = manual_job_name("strict", "newer")
    rec = wait_for(lambda: record_of(emulator, "strict", job_name), 10, what="the refused request's record")
    message = (
        "run request newer refused: the run overrides are for run request older, not for this one (newer); "
        "nothing was run"
    )
    assert (rec["trigger"], rec["result"], rec["reason"], rec["message"]) == (
        "manual",
        "Skipped",
        "InvalidRunOverrides",
        message,
    )
    assert status(emulator, "strict")["lastHandledRunRequest"] == "newer"
    warning = wait_for(
        lambda: [e for e in events(emulator, "strict") if e.get("reason") == "InvalidRunOverrides"],
        10,
        what="the Warning Event",
    )
    assert [(e["type"], e["message"]) for e in warning] == [("Warning", message)]

    # An undecodable value is refused the same way; nothing ever ran.
    request(emulator, "strict", "broken", "{not json")
    broken = manual_job_name("strict", "broken")
    rec = wait_for(lambda: record_of(emulator, "strict", broken), 10, what="the broken request's record")
    assert rec["reason"] == "InvalidRunOverrides" and "not a JSON object" in rec["message"]
    assert script.names == [] and jobs_of(emulator, "strict") == []
