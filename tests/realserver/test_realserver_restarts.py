"""Crashes and outages on the real API server: the operator SIGKILLed and restarted (catch-up, a
crash between a Job's create and the status write), kube-apiserver restarted under it (etcd kept),
and its watches expired (410 Gone) while it was stopped. Every slot is accounted for exactly once,
in the Jobs (their scheduled-time annotations) and in the status history.

The time is real: seconds-level schedules, and waits aligned to the slots where the test needs a
known phase (a crash just after a slot's runs, a restart just after a slot).
"""

from __future__ import annotations

import collections
import re
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from punctual_realserver import RealServer, missing_binaries
from punctual_testing import wait_for
from realserver_support import (
    OperatorFactory,
    OperatorProcess,
    apply_in,
    history,
    install,
    jobs_of,
    parse_time,
    pods_of,
    scheduled_job,
    sj,
    warmup_refusals,
)

from punctual.core.slots import AGGREGATE_MISSED

Body = dict[str, Any]
TOLERANCE = timedelta(seconds=60)  # punctual.core.ON_TIME_TOLERANCE, as the README states it
TERMINAL = {"Succeeded", "Failed", "Skipped", "Replaced", "Missed", "Dropped"}


# -- helpers -------------------------------------------------------------------------------------------


def _floor(when: float, period: int) -> datetime:
    return datetime.fromtimestamp(int(when) // period * period, UTC)


def _align(period: int, offset: float) -> float:
    """Sleep to ``offset`` seconds after the next slot boundary of ``period``: the test needs a known
    phase of the schedule (this is the wall clock being the clock under test, not a condition)."""
    now = time.time()
    target = (int(now) // period) * period + offset
    while target <= now + 0.2:
        target += period
    time.sleep(target - now)
    return time.time()


def _slots(first: datetime, last: datetime, period: int) -> list[datetime]:
    out, slot = [], first
    while slot <= last:
        out.append(slot)
        slot += timedelta(seconds=period)
    return out


def _by_slot(records: list[Body], period: int) -> dict[datetime, list[Body]]:
    """Records by slot. An aggregated record (``slotCount``: more than AGGREGATE_MISSED slots missed
    in one decision) stands for that many consecutive slots of the ``period``-second schedule."""
    found: dict[datetime, list[Body]] = collections.defaultdict(list)
    for rec in records:
        first = parse_time(rec["scheduledTime"])
        for k in range(int(rec.get("slotCount") or 1)):
            found[first + timedelta(seconds=period * k)].append(rec)
    return found


def _job_slots(jobs: list[Body]) -> collections.Counter[datetime]:
    return collections.Counter(parse_time(j["metadata"]["annotations"]["punctual.dev/scheduled-time"]) for j in jobs)


def _settled(
    server: RealServer, namespace: str, name: str, through: datetime, period: int
) -> dict[datetime, list[Body]] | None:
    """The history by slot once every slot from the first recorded one to ``through`` has a final record."""
    records = history(server, namespace, name)
    by_slot = _by_slot(records, period)
    if not by_slot:
        return None
    for slot in _slots(min(by_slot), through, period):
        if not by_slot.get(slot) or any(r.get("result") not in TERMINAL for r in by_slot[slot]):
            return None
    return by_slot


def _unsettled_report(server: RealServer, namespace: str, name: str, through: datetime, period: int) -> str:
    """What keeps ``name`` from being settled through ``through``: the slots without a final record,
    their records, Jobs and Pods (for a failure message)."""
    by_slot = _by_slot(history(server, namespace, name), period)
    if not by_slot:
        return f"{name}: no history"
    open_slots = [
        s for s in _slots(min(by_slot), through, period) if not by_slot.get(s) or any(
            r.get("result") not in TERMINAL for r in by_slot[s]
        )
    ]
    jobs = {
        parse_time(j["metadata"]["annotations"]["punctual.dev/scheduled-time"]): j
        for j in jobs_of(server, namespace, name)
    }
    pods = pods_of(server, namespace)
    lines = [f"{name}: unsettled slots {[s.isoformat() for s in open_slots]}"]
    for slot in open_slots:
        lines.append(f"  {slot.isoformat()}: records {by_slot.get(slot)}")
        job = jobs.get(slot)
        if job is None:
            lines.append("    no Job")
            continue
        job_name = job["metadata"]["name"]
        lines.append(f"    Job {job_name}: status {job.get('status')}")
        for pod in pods:
            refs = pod["metadata"].get("ownerReferences") or []
            if any(ref.get("name") == job_name for ref in refs):
                lines.append(
                    f"    Pod {pod['metadata']['name']}: node {pod['spec'].get('nodeName')}, "
                    f"phase {(pod.get('status') or {}).get('phase')}, "
                    f"deleting {pod['metadata'].get('deletionTimestamp')}"
                )
    return "\n".join(lines)


def _check_accounting(
    server: RealServer,
    namespace: str,
    name: str,
    by_slot: dict[datetime, list[Body]],
    through: datetime,
    period: int,
    *,
    aggregated: bool = False,
) -> tuple[dict[datetime, Body], dict[datetime, Body]]:
    """Every slot up to ``through`` once in history, and the Jobs exactly the slots that ran.
    ``aggregated``: a record may stand for more than AGGREGATE_MISSED missed slots (an outage whose
    length the test does not control); otherwise there must be none.

    Returns (record by slot through ``through``, oldest first; Job by slot)."""
    slots = _slots(min(by_slot), through, period)
    twice = {s: recs for s, recs in by_slot.items() if len(recs) != 1}
    assert not twice, f"{name}: slots with more than one record: {twice}"
    grouped = {id(r): r for recs in by_slot.values() for r in recs if r.get("slotCount")}.values()
    if not aggregated:
        assert not grouped, f"{name}: aggregated records"
    for rec in grouped:
        assert rec["result"] == "Missed" and rec["slotCount"] > AGGREGATE_MISSED, f"{name}: {rec}"
    records = {s: recs[0] for s, recs in sorted(by_slot.items()) if s <= through}  # later ones may still run
    jobs = jobs_of(server, namespace, name)
    counted = _job_slots(jobs)
    assert all(n == 1 for n in counted.values()), f"{name}: a slot has two Jobs: {counted}"
    by_job = {parse_time(j["metadata"]["annotations"]["punctual.dev/scheduled-time"]): j for j in jobs}
    ran = {s for s in slots if records[s]["result"] in ("Succeeded", "Failed", "Replaced")}
    with_job = {s for s in by_job if s <= through}
    assert with_job == ran, f"{name}: Jobs {sorted(with_job)} but runs recorded for {sorted(ran)}"
    for slot in ran:
        job, rec = by_job[slot], records[slot]
        assert job["metadata"]["name"] == rec["job"], f"{name}: {slot}: record names {rec['job']}"
        assert job["metadata"]["labels"]["punctual.dev/trigger"] == rec["trigger"], f"{name}: {slot}: trigger"
        env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0].get("env") or []}
        assert parse_time(env["PUNCTUAL_SCHEDULED_TIME"]) == slot, f"{name}: {slot}: the run's env says another slot"
    return records, by_job


# -- 1. catch-up after a SIGKILL ------------------------------------------------------------------------

EVERY_10S = "*/10 * * * * *"


def test_catch_up_none_latest_all_after_the_operator_is_killed_and_restarted(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    policies = {"cu-none": ("None", "Forbid"), "cu-latest": ("Latest", "Forbid"), "cu-all": ("All", "Allow")}
    process = operator()
    for name, (catch_up, concurrency) in policies.items():
        apply_in(
            real_server,
            namespace,
            scheduled_job(
                name,
                EVERY_10S,
                duration="1s",
                catchUp=catch_up,
                concurrencyPolicy=concurrency,
                successfulJobsHistoryLimit=100,
                historyLimit=100,
            ),
        )
    wait_for(
        lambda: all(any(r.get("result") == "Succeeded" for r in history(real_server, namespace, n)) for n in policies),
        30,
        interval=0.5,
        what="a run of each ScheduledJob before the crash",
    )
    # Crash 3 s after a slot: its 1 s runs have ended and been written, the cursor is at that slot.
    killed_at = _align(10, 3.0)
    last_before = _floor(killed_at, 10)

    def written() -> bool:
        for name in policies:
            status = sj(real_server, namespace, name).get("status") or {}
            through = status.get("scheduledThrough")
            if not through or parse_time(through) != last_before or status.get("active"):
                return False
        return True

    wait_for(written, 5, interval=0.2, what=f"every ScheduledJob decided through {last_before}, nothing active")
    process.kill()
    # Down long enough that the oldest outage slots are more than ON_TIME_TOLERANCE behind at the
    # restart (3 s after a slot, so the newest slot is the same one at the restart and its first decision).
    restart_at = last_before.timestamp() + 83
    time.sleep(max(0.0, restart_at - time.time()))
    restarted = time.time()
    for name in policies:
        assert max(_job_slots(jobs_of(real_server, namespace, name))) <= last_before, f"{name}: a run while down"
    process.start()
    horizon = _floor(restarted, 10) + timedelta(seconds=20)
    settled = {
        name: wait_for(
            lambda name=name: _settled(real_server, namespace, name, horizon, 10),
            60,
            interval=0.5,
            what=f"{name}: every slot through {horizon} decided",
        )
        for name in policies
    }
    for name, by_slot in settled.items():
        records, jobs = _check_accounting(real_server, namespace, name, by_slot, horizon, 10)
        after = sorted(s for s in records if s > last_before)
        # The newest slot at the restart ran on schedule (within the tolerance); the ones before it
        # were missed during the outage and catchUp decided them.
        newest = min(s for s in after if records[s]["trigger"] == "schedule")
        assert newest in (_floor(restarted, 10), _floor(restarted, 10) + timedelta(seconds=10)), (name, newest)
        outage = [s for s in after if s < newest]
        assert outage == _slots(last_before + timedelta(seconds=10), newest - timedelta(seconds=10), 10)
        assert len([s for s in outage if restarted - s.timestamp() > TOLERANCE.total_seconds()]) >= 2, outage
        for slot in [s for s in records if s <= last_before or s >= newest]:
            assert records[slot]["result"] == "Succeeded", (name, slot, records[slot])
            assert records[slot]["trigger"] == "schedule", (name, slot, records[slot])
        for slot in outage:
            rec = records[slot]
            if name == "cu-all":
                assert rec["result"] == "Succeeded" and rec["trigger"] == "catchup", (name, slot, rec)
                assert slot in jobs, f"{name}: no Job for catch-up slot {slot}"
            else:
                reason = "CatchUpNone" if name == "cu-none" else "Superseded"
                assert (rec["result"], rec.get("reason")) == ("Missed", reason), (name, slot, rec)
                assert slot not in jobs, f"{name}: a Job for missed slot {slot}"


# -- 2. SIGKILL between a Job's create and the status write --------------------------------------------


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_kill_right_after_a_job_create_adopts_the_job_on_restart(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    # Status writes gathered for 4 s: a kill as soon as the Job shows lands before its status write.
    process = operator(status_delay="4")
    apply_in(
        real_server,
        namespace,
        scheduled_job(
            "crash",
            "*/5 * * * * *",
            duration="3s",
            concurrencyPolicy="Forbid",
            successfulJobsHistoryLimit=100,
            historyLimit=100,
        ),
    )
    wait_for(
        lambda: (sj(real_server, namespace, "crash").get("status") or {}).get("nextScheduleTime"),
        15,
        interval=0.2,
        what="the first status write",
    )
    before = {j["metadata"]["name"] for j in jobs_of(real_server, namespace, "crash")}

    def new_job() -> Body | None:
        return next((j for j in jobs_of(real_server, namespace, "crash") if j["metadata"]["name"] not in before), None)

    job = wait_for(new_job, 15, interval=0.05, what="a Job for the next slot")
    process.kill()
    name, uid = job["metadata"]["name"], job["metadata"]["uid"]
    slot = parse_time(job["metadata"]["annotations"]["punctual.dev/scheduled-time"])
    at_kill = sj(real_server, namespace, "crash").get("status") or {}
    assert name not in [r["job"] for r in at_kill.get("history") or []], "the status was written before the kill"
    process.start()
    horizon = slot + timedelta(seconds=10)
    by_slot = wait_for(
        lambda: _settled(real_server, namespace, "crash", horizon, 5), 40, interval=0.5, what="two slots after it"
    )
    records, jobs = _check_accounting(real_server, namespace, "crash", by_slot, horizon, 5)
    job_names = {j["metadata"]["name"] for j in jobs_of(real_server, namespace, "crash")}
    assert jobs[slot]["metadata"]["uid"] == uid, "the slot's Job was created again"
    assert records[slot]["job"] == name and records[slot]["result"] == "Succeeded", records[slot]
    assert records[slot]["trigger"] == "schedule"
    for later in (slot + timedelta(seconds=5), slot + timedelta(seconds=10)):
        assert records[later]["result"] == "Succeeded", records[later]
    # Counted once: "Running" counts runs started, one per Job.
    status = sj(real_server, namespace, "crash")["status"]
    started = [r for r in status["history"] if r["result"] in ("Running", "Succeeded", "Failed")]
    assert status["counts"]["Running"] == len(started), status["counts"]
    assert job_names <= {r["job"] for r in started}, "a Job without its run record"
    # The restarted operator listed the Jobs before deciding: it adopted the Job without even trying
    # to create it again (no AlreadyExists).
    assert _metric(process.metrics(), "punctual_api_request_errors_total", verb="create", code="409") == 0


# -- 3. kube-apiserver restarted mid-run -----------------------------------------------------------------


def test_the_operator_rides_out_an_api_server_restart(
    real_server: RealServer, namespace: str, operator: OperatorFactory
) -> None:
    # The API server is away for a minute (a control-plane upgrade, say): more than AGGREGATE_MISSED
    # slots pass, so under Latest the missed ones are one aggregated record.
    # A restarted kube-apiserver refuses requests until its RBAC informers are synced
    # (kubernetes/kubernetes#121635): the operator retries those creates (RBAC_GRACE) and logs each.
    operator.rbac_warmup = True
    process = operator()
    specs = {"api-all": ("All", "2s"), "api-latest": ("Latest", "7s")}
    for name, (catch_up, duration) in specs.items():
        apply_in(
            real_server,
            namespace,
            scheduled_job(
                name,
                "*/5 * * * * *",
                duration=duration,
                catchUp=catch_up,
                concurrencyPolicy="Allow",
                successfulJobsHistoryLimit=100,
                historyLimit=100,
            ),
        )
    wait_for(
        lambda: all(any(r.get("result") == "Succeeded" for r in history(real_server, namespace, n)) for n in specs),
        30,
        interval=0.5,
        what="a run of each before the restart",
    )
    _align(5, 1.5)
    active = wait_for(
        lambda: (sj(real_server, namespace, "api-latest").get("status") or {}).get("active"),
        5,
        interval=0.2,
        what="an active run of api-latest",
    )
    running = {a["name"] for a in active}
    pids = {n: p.proc.pid for n, p in real_server.processes.items() if p.proc is not None}
    down_at = time.time()
    failure: list[BaseException] = []
    restarted: list[float] = []

    def restart() -> None:
        try:
            restarted.append(real_server.restart_apiserver(down_for=60))
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=restart)
    thread.start()
    wait_for(
        lambda: real_server.kubectl("get", "--raw", "/readyz", check=False, timeout=5).returncode != 0,
        10,
        interval=0.2,
        what="the API server to be down",
    )
    down_seen = time.time()
    thread.join(150)
    assert not thread.is_alive() and not failure, failure
    up_at = time.time()
    # A watch resumed before the new process's RBAC informers synced is refused and retried.
    operator.rbac_warmup_until = up_at + 30
    # etcd and the controller manager kept running through it; the API server is a new process.
    for name in ("etcd", "kube-controller-manager"):
        assert real_server.processes[name].running() and real_server.processes[name].proc.pid == pids[name], name
    assert real_server.processes["kube-apiserver"].running()
    assert real_server.processes["kube-apiserver"].proc.pid != pids["kube-apiserver"]
    horizon = _floor(up_at, 5) + timedelta(seconds=15)
    settled = {}
    for name in specs:
        try:
            settled[name] = wait_for(
                lambda name=name: _settled(real_server, namespace, name, horizon, 5),
                60,
                interval=0.5,
                what=f"{name}: every slot through {horizon} decided",
            )
        except AssertionError as exc:
            report = _unsettled_report(real_server, namespace, name, horizon, 5)
            tail = "\n".join(process.log().splitlines()[-80:])
            phases = real_server.last_restart
            raise AssertionError(f"{exc}\n{report}\nrestart phases {phases}\noperator log (end):\n{tail}") from None
    # The run active when the API went away finished, and the operator saw it.
    finished = {r["job"]: r for r in history(real_server, namespace, "api-latest")}
    assert all(finished[n]["result"] == "Succeeded" and finished[n].get("completionTime") for n in running), finished
    assert "API unreachable" in process.log() or "watching /apis/batch/v1" in process.log(), "no outage noticed"
    # The first decision after the outage is at most RETRY (5 s) after the API is back: only slots
    # due before then can have been missed (late), never a later one. A just-started API server may
    # refuse Job creates for a while (RBAC, and the owner-reference admission plugin's discovery,
    # refreshed every 30 s): then it is RETRY after the last create it refused.
    refused = [at for at in warmup_refusals(process.log()) if at >= down_at]
    late_bound = datetime.fromtimestamp(max([up_at, *refused]) + 6, UTC)
    down = datetime.fromtimestamp(down_at, UTC)
    for name, by_slot in settled.items():
        records, _jobs = _check_accounting(real_server, namespace, name, by_slot, horizon, 5, aggregated=True)
        # Slots strictly between the API being seen down and the new process starting: nobody could
        # have decided them on time. (Slots at the edges of [down_at, up_at] may have been.)
        surely_down = (datetime.fromtimestamp(down_seen, UTC), datetime.fromtimestamp(restarted[0], UTC))
        assert (surely_down[1] - surely_down[0]).total_seconds() >= 10, surely_down
        outage = [s for s in records if surely_down[0] < s < surely_down[1]]
        assert len(outage) >= 2, f"{name}: only {outage} while the API was down"
        for slot, rec in records.items():
            if down < slot < late_bound:
                late = ("Missed", "catchup") if name == "api-latest" else ("Succeeded", "catchup")
                allowed = {("Succeeded", "schedule"), late}
                assert (rec["result"], rec["trigger"]) in allowed, (name, slot, rec)
                if rec["result"] == "Missed":
                    assert rec.get("reason") == "Superseded", rec
            else:
                assert (rec["result"], rec["trigger"]) == ("Succeeded", "schedule"), (name, slot, rec)
        # Several slots passed while it could not decide: at its first decision after the outage all
        # but the newest were late (superseded under Latest, each run under All).
        late_ones = [s for s in outage if records[s]["trigger"] == "catchup"]
        assert len(late_ones) >= len(outage) - 1, (name, outage, late_ones)
    # A minute is 12 slots: under Latest all but the newest were missed, as one record.
    grouped = [r for r in history(real_server, namespace, "api-latest") if r.get("slotCount")]
    assert len(grouped) == 1 and grouped[0]["reason"] == "Superseded", grouped
    assert not [r for r in history(real_server, namespace, "api-all") if r.get("slotCount")]


# -- 4. watches expired (410 Gone) ---------------------------------------------------------------------


@pytest.fixture
def compacting_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RealServer, str, OperatorFactory]]:
    """A server of its own whose watches go to etcd (no watch cache) and which compacts etcd every
    5 s: a watch resumed from a resourceVersion older than that gets 410 Gone."""
    missing = missing_binaries()
    if missing:
        pytest.skip(f"real-server tier needs {', '.join(missing)}")
    server = RealServer(apiserver_args=["--watch-cache=false", "--etcd-compaction-interval=5s"]).start()
    factory: OperatorFactory | None = None
    try:
        installation = install(server)
        namespace = f"rs-{uuid.uuid4().hex[:8]}"
        server.kubectl("create", "namespace", namespace)
        factory = OperatorFactory(installation, namespace=namespace, workdir=tmp_path_factory.mktemp("operator"))
        yield server, namespace, factory
    finally:
        if factory is not None:
            factory.stop_all()
        server.stop()
    assert factory is not None
    factory.check_logs()


def _churn(server: RealServer, namespace: str, *, until: float) -> int:
    """Jobs of the admin's, not Punctual's, created and deleted until ``until``: etcd moves on."""
    rounds = 0
    while time.time() < until:
        batch = [
            {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": f"churn-{rounds}-{i}", "namespace": namespace, "labels": {"churn": "yes"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"annotations": {"punctual.dev/sandbox-duration": "1s"}},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                        },
                    },
                },
            }
            for i in range(5)
        ]
        server.apply(batch)
        server.kubectl("delete", "jobs", "-n", namespace, "-l", "churn=yes", "--wait=false")
        rounds += 1
    return rounds


def test_watches_that_expire_while_the_operator_is_stopped_lose_nothing(
    compacting_server: tuple[RealServer, str, OperatorFactory],
) -> None:
    server, namespace, operator = compacting_server
    process: OperatorProcess = operator(watch_timeout="3")
    apply_in(
        server,
        namespace,
        scheduled_job(
            "expiry",
            "*/5 * * * * *",
            duration="2s",
            catchUp="All",
            concurrencyPolicy="Allow",
            successfulJobsHistoryLimit=100,
            historyLimit=100,
        ),
    )
    wait_for(
        lambda: any(r.get("result") == "Succeeded" for r in history(server, namespace, "expiry")),
        30,
        interval=0.5,
        what="a run before the pause",
    )
    _align(5, 0.8)
    active = wait_for(
        lambda: (sj(server, namespace, "expiry").get("status") or {}).get("active"), 4, interval=0.1, what="a run"
    )
    during = {a["name"] for a in active}  # ends while the operator is stopped
    paused_at = time.time()
    process.pause()
    try:
        rounds = _churn(server, namespace, until=paused_at + 20)
    finally:
        process.resume()
    resumed_at = time.time()
    assert rounds >= 3
    expired = re.compile(rf"watch of /api[^ ]*/namespaces/{namespace}/(jobs|pods) expired; listing again")
    wait_for(lambda: expired.search(process.log()), 20, interval=0.5, what="a 410 Gone on the Job or Pod watch")
    horizon = _floor(resumed_at, 5) + timedelta(seconds=10)
    by_slot = wait_for(
        lambda: _settled(server, namespace, "expiry", horizon, 5), 40, interval=0.5, what="every slot decided"
    )
    records, _jobs = _check_accounting(server, namespace, "expiry", by_slot, horizon, 5)
    for name in during:
        rec = next(r for r in records.values() if r["job"] == name)
        assert rec["result"] == "Succeeded" and rec.get("completionTime"), rec
    paused = [s for s in records if paused_at < s.timestamp() < resumed_at]
    assert len(paused) >= 3, paused
    # The first decision after the resume ran the newest due slot on schedule and each older one of
    # the pause as a catch-up run (catchUp All), with its own scheduled time.
    newest = min(s for s in records if s.timestamp() > paused_at and records[s]["trigger"] == "schedule")
    assert newest in (max(paused), max(paused) + timedelta(seconds=5)), (newest, paused)
    for slot, rec in records.items():
        assert rec["result"] == "Succeeded", (slot, rec)
        want = "catchup" if paused_at < slot.timestamp() and slot < newest else "schedule"
        assert rec["trigger"] == want, (slot, rec)
