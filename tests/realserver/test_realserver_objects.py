"""What the real server does to the operator's objects: the garbage collector removes a deleted
ScheduledJob's Jobs and Pods (through the ownerReferences the operator sets), the history limits
keep exactly that many Jobs, and the status survives the server's pruning and an operator restart.

The emulator does not prune: a status field the CRD schema lacks would be kept there and silently
dropped here, and a restarted operator would then lose it (re-run a handled run request, forget its
cursor). ``test_every_status_field_survives_pruning_and_a_restart`` catches that class.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from punctual_realserver import RealServer
from punctual_testing import wait_for
from pydantic import BaseModel
from realserver_support import (
    OperatorFactory,
    apply_in,
    history,
    jobs_of,
    kubectl_sj,
    parse_time,
    pods_of,
    scheduled_job,
    sj,
    slots_of,
)

from punctual.api import (
    ActiveRun,
    BackfillStatus,
    Condition,
    HistoryRecord,
    Overrides,
    Pause,
    QueuedSlot,
    RetryPending,
    ScheduledJobStatus,
    format_time,
)

EVERY_2S = "*/2 * * * * *"
EVERY_4S = "*/4 * * * * *"
NEW_YEAR = "0 0 1 1 *"
OVERRIDES = ("--env", "DAY=2026-11-23", "--env", "EMPTY=", "--arg", "--full", "--image", "busybox:1.37", "-c", "main")
"""kubectl sj run's overrides, every field of them (an empty env value too)."""
Body = dict[str, Any]


def _finished(job: Body) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond["type"] in ("Complete", "Failed") and cond["status"] == "True":
            return str(cond["type"])
    return None


def _job_names(pods: list[Body]) -> set[str]:
    return {p["metadata"]["labels"].get("job-name", "") for p in pods}


def test_deleting_a_scheduledjob_removes_its_jobs_and_pods(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    apply_in(real_server, namespace, scheduled_job("doomed", EVERY_2S, duration="20s"))
    apply_in(real_server, namespace, scheduled_job("kept", NEW_YEAR))
    wait_for(lambda: len(pods_of(real_server, namespace)) >= 2, 20, interval=0.3, what="two running pods")
    owned = {j["metadata"]["name"] for j in jobs_of(real_server, namespace, "doomed")}
    assert owned

    real_server.kubectl("delete", "sj", "doomed", "-n", namespace, "--wait=true", "--timeout=30s")
    # The garbage collector learns a new CRD's kind by rediscovery, every 30 s: right after the CRD
    # is installed it may take that long to see a ScheduledJob's delete, then collects its Jobs.
    wait_for(lambda: not jobs_of(real_server, namespace, "doomed"), 70, interval=0.3, what="the Jobs collected")
    wait_for(lambda: not (_job_names(pods_of(real_server, namespace)) & owned), 30, interval=0.3, what="the Pods gone")
    # The other ScheduledJob is untouched and the operator made nothing new for the deleted one.
    assert sj(real_server, namespace, "kept")["metadata"]["name"] == "kept"
    assert not jobs_of(real_server, namespace, "doomed")


def test_history_limits_keep_exactly_that_many_jobs_and_their_pods(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    operator()
    common: dict[str, object] = {"concurrencyPolicy": "Forbid", "historyLimit": 50}
    limits = {"successfulJobsHistoryLimit": 2, "failedJobsHistoryLimit": 1, **common}
    apply_in(real_server, namespace, scheduled_job("good", EVERY_2S, duration="0.5s", **limits))
    apply_in(real_server, namespace, scheduled_job("bad", EVERY_2S, duration="0.5s", exit_code=1, **limits))

    def counted(name: str, result: str) -> int:
        status = sj(real_server, namespace, name).get("status") or {}
        return int((status.get("counts") or {}).get(result, 0))

    # Enough runs that each limit has had to delete Jobs (limit + 3).
    wait_for(lambda: counted("good", "Succeeded") >= 5 and counted("bad", "Failed") >= 4, 40, interval=0.5,
             what="five successes and four failures")  # fmt: skip

    def at_the_limits() -> dict[str, list[str]] | None:
        jobs = {name: jobs_of(real_server, namespace, name) for name in ("good", "bad")}
        finished = {name: [_finished(j) for j in js if _finished(j)] for name, js in jobs.items()}
        live = {j["metadata"]["name"] for js in jobs.values() for j in js if not j["metadata"].get("deletionTimestamp")}
        pods_left = _job_names(pods_of(real_server, namespace))
        if finished["good"] == ["Complete"] * 2 and finished["bad"] == ["Failed"] and pods_left <= live:
            return finished  # type: ignore[return-value]
        return None

    wait_for(at_the_limits, 20, interval=0.3, what="exactly 2 succeeded and 1 failed Job, no orphan Pods")
    # And it stays so as runs go on (not a moment between a run and its prune).
    more = counted("good", "Succeeded") + 2
    wait_for(lambda: counted("good", "Succeeded") >= more, 20, interval=0.5, what="two more runs")
    wait_for(at_the_limits, 20, interval=0.3, what="the limits after more runs")
    records = history(real_server, namespace, "good")
    assert len([r for r in records if r["result"] == "Succeeded"]) >= 5  # the records outlive the Jobs


# -- the status against the server's pruning -----------------------------------------------------------


def _model_fields(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


NESTED: dict[str, type[BaseModel]] = {
    "conditions": Condition,
    "active": ActiveRun,
    "queued": QueuedSlot,
    "history": HistoryRecord,
    "backfills": BackfillStatus,
    "pause": Pause,
    "retries": RetryPending,
    "history.overrides": Overrides,
    "queued.overrides": Overrides,
}


def _fields_seen(statuses: list[Body]) -> dict[str, set[str]]:
    """Every field present, top level ("") and per nested list, across the statuses."""
    seen: dict[str, set[str]] = {"": set(), **{k: set() for k in NESTED}}
    for status in statuses:
        seen[""] |= set(status)
        for key in NESTED:
            outer, _, inner = key.partition(".")  # "history.overrides": an object in each record
            value = status.get(outer) or []
            for item in value if isinstance(value, list) else [value]:  # a list, or one object (pause)
                if inner:
                    item = item.get(inner) or {}
                seen[key] |= set(item)
    return seen


def _statuses(server: RealServer, namespace: str, names: list[str]) -> dict[str, Body]:
    return {name: dict(sj(server, namespace, name).get("status") or {}) for name in names}


def test_every_status_field_survives_pruning_and_a_restart(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    # One ScheduledJob per kind of record, so that together they write every field of the status:
    # queue: active, queued, succeeded runs; forbid: failed runs (exit code 3) and skipped slots;
    # manual: a run request (lastHandledRunRequest, trigger manual); missed: 60 slots missed
    # during an "outage" (an aggregated Missed record with slotCount); after: runs after manual
    # (upstreamThrough, trigger upstream); waits: slots waiting for manual (a queued slot's reason);
    # paused: one failed run pauses it (pause, consecutiveFailures) and a resume token
    # (lastHandledResumeRequest) is used up; retried: every run fails, each slot is retried (attempt,
    # retryOf) and a due retry waits while the next slot's run is active (status.retries with a reason).
    # Runs on demand with overrides, every field of them: manual's (a history record's overrides) and
    # held's, queued behind its long run on demand (a queued slot's overrides).
    bodies = [
        scheduled_job("queue", EVERY_4S, duration="6s", concurrencyPolicy="Queue", historyLimit=100, jitter="1s"),
        scheduled_job("forbid", EVERY_4S, duration="5s", exit_code=3, concurrencyPolicy="Forbid", historyLimit=100),
        scheduled_job("manual", NEW_YEAR, duration="1s", historyLimit=100),
        scheduled_job("missed", "* * * * * *", duration="0.5s", catchUp="None", suspend=True, historyLimit=100),
        scheduled_job("after", None, duration="1s", dependsOn=[{"name": "manual"}], historyLimit=100),
        scheduled_job("waits", EVERY_4S, dependsOn=[{"name": "manual"}], maxQueued=5, historyLimit=100),
        scheduled_job("paused", EVERY_4S, duration="0.5s", exit_code=1, pauseAfterFailures=1, historyLimit=100),
        scheduled_job(
            "retried",
            EVERY_4S,
            duration="3s",
            exit_code=1,
            concurrencyPolicy="Forbid",
            retry={"limit": 1, "delay": "2s"},
            historyLimit=100,
        ),
        scheduled_job("held", NEW_YEAR, duration="120s", concurrencyPolicy="Queue", historyLimit=100),
    ]
    bodies[-3]["metadata"]["annotations"] = {"punctual.dev/resume-requested-at": "2026-01-01T00:00:00.000000001Z"}
    names = [b["metadata"]["name"] for b in bodies]
    for body in bodies:
        apply_in(real_server, namespace, body)
    # The operator last decided "missed" a minute ago (its cursor), then was down; resumed meanwhile.
    behind = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=60)
    real_server.kubectl("patch", "sj", "missed", "-n", namespace, "--subresource=status", "--type=merge",
                        "-p", json.dumps({"status": {"scheduledThrough": format_time(behind)}}))  # fmt: skip
    real_server.kubectl("patch", "sj", "missed", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":false}}')
    process = operator()
    done = kubectl_sj(real_server, "run", "manual", "--wait", "--timeout", "60s", "-n", namespace, *OVERRIDES)
    assert done.returncode == 0, done.stderr
    # A backfill (status.backfills, lastHandledBackfillRequest), then one the operator rejects (a message).
    new_year = "2026-01-01T00:00:00Z"
    args = ("--from", new_year, "--to", new_year, "--wait", "-n", namespace)
    done = kubectl_sj(real_server, "backfill", "manual", *args)
    assert done.returncode == 0, done.stderr
    reversed_range = json.dumps({"token": "reversed", "from": "2026-01-02T00:00:00Z", "to": new_year})
    real_server.kubectl("annotate", "--overwrite", "sj", "manual", "-n", namespace,
                        f"punctual.dev/backfill-request={reversed_range}")  # fmt: skip
    # held: a long run on demand, and one with overrides queued behind it (through the restart too).
    done = kubectl_sj(real_server, "run", "held", "-n", namespace)
    assert done.returncode == 0 and done.stdout.endswith(" created\n"), (done.stdout, done.stderr)
    done = kubectl_sj(real_server, "run", "held", "-n", namespace, *OVERRIDES)
    assert done.returncode == 0 and " queued (concurrencyPolicy Queue)" in done.stdout, (done.stdout, done.stderr)

    every_field = {"": _model_fields(ScheduledJobStatus), **{k: _model_fields(m) for k, m in NESTED.items()}}
    # Fields no run of this test can write: an explicit list, each with why.
    not_exercised: dict[str, set[str]] = {}

    def all_written() -> dict[str, Body] | None:
        statuses = _statuses(real_server, namespace, names)
        seen = _fields_seen(list(statuses.values()))
        missing = {k: every_field[k] - seen[k] - not_exercised.get(k, set()) for k in every_field}
        all_written.missing = missing  # type: ignore[attr-defined]
        return statuses if not any(missing.values()) else None

    try:
        before = wait_for(all_written, 45, interval=0.5, what="every status field written")
    except AssertionError as exc:
        raise AssertionError(f"never present on the server (pruned?): {all_written.missing}") from exc  # type: ignore[attr-defined]
    # What the server kept parses back into the operator's model unchanged (nothing pruned inside).
    for name, status in before.items():
        parsed = ScheduledJobStatus.model_validate(status).model_dump(mode="json", exclude_none=True)
        assert _canonical(parsed) == _canonical(status), name
    manual_jobs = [j["metadata"]["name"] for j in jobs_of(real_server, namespace, "manual")]

    # Restart: a clean stop, a start, then wait for a decision made by the new process.
    assert process.stop() == 0
    restarted_at = datetime.now(UTC)
    process.start()

    def decided_after_restart() -> dict[str, Body] | None:
        statuses = _statuses(real_server, namespace, names)
        through = {n: s.get("scheduledThrough") for n, s in statuses.items() if n in ("queue", "forbid", "missed")}
        fresh = all(t and parse_time(t) > restarted_at + timedelta(seconds=1) for t in through.values())
        return statuses if fresh else None

    after = wait_for(decided_after_restart, 30, interval=0.5, what="a decision after the restart")

    for name in names:
        old, new = before[name], after[name]
        # Every field the operator had written is still there (top level and in each record kind).
        assert set(old) - set(new) == set(), (name, set(old) - set(new))
        old_seen, new_seen = _fields_seen([old]), _fields_seen([new])
        for key in ("conditions", "history"):
            assert old_seen[key] <= new_seen[key], (name, key, old_seen[key] - new_seen[key])
        # The same, apart from what time legitimately moved.
        assert new.get("lastHandledRunRequest") == old.get("lastHandledRunRequest"), name
        assert parse_time(new["scheduledThrough"]) >= parse_time(old["scheduledThrough"]), name
        for key, count in old["counts"].items():
            assert new["counts"][key] >= count, (name, key)
        for cond in old["conditions"]:
            again = next(c for c in new["conditions"] if c["type"] == cond["type"])
            if again["status"] == cond["status"]:  # unchanged: the same condition (its message may
                # name the next run, which moved on)
                assert {**again, "message": ""} == {**cond, "message": ""}, (name, cond, again)
        new_records = {(r["job"], r["scheduledTime"]): r for r in new["history"]}
        for record in old["history"]:
            if record["result"] == "Running":
                continue  # it finished meanwhile
            assert new_records.get((record["job"], record["scheduledTime"])) == record, (name, record)
        for key in ("lastSuccessfulTime", "lastFailureTime", "lastScheduleTime"):
            if key in old:
                assert parse_time(new[key]) >= parse_time(old[key]), (name, key)

    # The handled run request was not acted on again, and no slot ran twice.
    assert [j["metadata"]["name"] for j in jobs_of(real_server, namespace, "manual")] == manual_jobs
    for name in names:
        # A slot's retries share its scheduled time: a slot and attempt never ran twice.
        found = jobs_of(real_server, namespace, name)
        slots = [
            (s, (j["metadata"].get("annotations") or {}).get("punctual.dev/attempt"))
            for s, j in zip(slots_of(found), found, strict=True)
        ]
        assert len(slots) == len(set(slots)), (name, slots)


def _canonical(status: Body) -> Body:
    """Times compared as instants (the server keeps the operator's text; the model may reformat)."""
    text = json.dumps(status, sort_keys=True)
    return dict(json.loads(text))
