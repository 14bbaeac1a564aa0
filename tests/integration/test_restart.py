"""An operator outage and crashes: catch-up policies after a restart, adoption of a Job whose status was lost.

The world runs on a :class:`TestClock` that starts just before a known hour, so the schedule's slots
fall where the test wants them; jumping the clock while the operator is stopped makes an outage longer
than ``ON_TIME_TOLERANCE`` without waiting for it (the emulator shares the clock, so creation and
Job timestamps agree with the operator's).
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta

import pytest
from integration_support import (
    NS,
    Body,
    JobScript,
    OperatorFactory,
    TestClock,
    get_sj,
    history,
    jobs_of,
    parse,
    records,
    scheduled_job,
    slot_of,
    status,
)
from punctual_testing import wait_for

from kube_emulator import Emulator, Faults
from punctual.api import Trigger, format_time
from punctual.core import ON_TIME_TOLERANCE, parse_spec
from punctual.jobs import Owner, build_job, slot_job_name

HOUR = datetime(2030, 1, 1, 10, 0, 0, tzinfo=UTC)
SLOTS = [HOUR + timedelta(seconds=s) for s in (0, 10, 20, 30)]
SCHEDULE = "0,10,20,30 0 * * * *"  # four slots in the first half minute of every hour


@pytest.fixture
def clock() -> TestClock:
    return TestClock(start=HOUR - timedelta(seconds=1.5))


def job_for(emu: Emulator, name: str, slot: datetime) -> Body | None:
    return emu.get_or_none("batch/v1", "jobs", slot_job_name(name, slot, seconds=True), namespace=NS)


@pytest.mark.parametrize("catch_up", ["None", "Latest", "All"])
def test_catch_up_after_an_outage(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock, script: JobScript, catch_up: str
) -> None:
    first = operator()
    emulator.create(
        scheduled_job("outage", SCHEDULE, catchUp=catch_up, concurrencyPolicy="Forbid", successfulJobsHistoryLimit=10)
    )
    wait_for(lambda: records(emulator, "outage", "Succeeded"), 15, what="the 10:00:00 run")
    first.stop()

    # Down through 10:00:10, :20 and :30, and back well past the tolerance for the newest of them.
    assert clock.now() < SLOTS[1]
    clock.jump((SLOTS[3] - clock.now() + ON_TIME_TOLERANCE).total_seconds() + 10)
    operator()
    outage = SLOTS[1:]

    def decided() -> bool:
        done = {r["scheduledTime"] for r in history(emulator, "outage") if r["result"] in ("Succeeded", "Missed")}
        return all(format_time(s) in done for s in outage)

    wait_for(decided, 20, what="every outage slot decided")
    time.sleep(1.0)  # nothing more may happen: the next slot is an hour away
    by_slot = {parse(r["scheduledTime"]): r for r in history(emulator, "outage")}
    jobs = jobs_of(emulator, "outage")
    assert len({slot_of(j) for j in jobs}) == len(jobs) == script.seen["outage"], "a slot started twice"
    assert by_slot[SLOTS[0]]["result"] == "Succeeded"

    if catch_up == "None":
        for slot in outage:
            assert by_slot[slot]["result"] == "Missed" and by_slot[slot]["reason"] == "CatchUpNone"
            assert job_for(emulator, "outage", slot) is None
        assert [slot_of(j) for j in jobs] == [SLOTS[0]]
    elif catch_up == "Latest":
        for slot in outage[:-1]:
            assert by_slot[slot]["result"] == "Missed" and by_slot[slot]["reason"] == "Superseded"
            assert job_for(emulator, "outage", slot) is None
        newest = by_slot[outage[-1]]
        assert newest["result"] == "Succeeded" and newest["trigger"] == "catchup"
        job = job_for(emulator, "outage", outage[-1])
        assert job is not None and job["metadata"]["labels"]["punctual.dev/trigger"] == "catchup"
        env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["PUNCTUAL_SCHEDULED_TIME"] == format_time(outage[-1])
        assert sorted(slot_of(j) for j in jobs) == [SLOTS[0], outage[-1]]
    else:
        assert not records(emulator, "outage", "Missed")
        for slot in outage:
            assert by_slot[slot]["result"] == "Succeeded" and by_slot[slot]["trigger"] == "catchup"
            job = job_for(emulator, "outage", slot)
            assert job is not None
            assert job["metadata"]["annotations"]["punctual.dev/scheduled-time"] == format_time(slot)
            env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert env["PUNCTUAL_SCHEDULED_TIME"] == format_time(slot)
            assert env["PUNCTUAL_TRIGGER"] == "catchup"
        # Forbid serialises catch-up runs: oldest first, one after another.
        runs = [by_slot[s] for s in outage]
        for before, after in itertools.pairwise(runs):
            assert parse(after["startTime"]) >= parse(before["completionTime"])
    st = status(emulator, "outage")
    assert parse(st["scheduledThrough"]) >= SLOTS[3]
    assert not st.get("queued") and not st.get("active")


def test_a_job_created_before_a_crash_is_adopted_not_duplicated(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock, script: JobScript
) -> None:
    """The operator created the Job for 10:00:00 and died before writing status."""
    created = emulator.create(scheduled_job("crashed", "0,30 0 * * * *"))
    clock.sleep_until(SLOTS[0] + timedelta(milliseconds=200))
    sj = created["metadata"]
    owner = Owner(namespace=NS, name="crashed", uid=sj["uid"])
    spec = parse_spec(created["spec"])
    name = slot_job_name("crashed", SLOTS[0], seconds=True)
    emulator.create(build_job(owner, spec, job_name=name, slot=SLOTS[0], trigger=Trigger.SCHEDULE))

    operator()
    rec = wait_for(
        lambda: next((r for r in records(emulator, "crashed", "Succeeded") if r["job"] == name), None),
        15,
        what="the crashed run adopted and recorded",
    )
    assert parse(rec["scheduledTime"]) == SLOTS[0]
    assert [j["metadata"]["name"] for j in jobs_of(emulator, "crashed")] == [name]
    assert script.seen["crashed"] == 1
    st = status(emulator, "crashed")
    assert st["counts"].get("Running") == 1, "the adopted run was counted twice"
    assert not records(emulator, "crashed", "Missed") and not records(emulator, "crashed", "Failed")
    assert parse(st["lastScheduleTime"]) == SLOTS[0]


def test_create_answers_already_exists_and_the_operator_adopts_its_job(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock, script: JobScript
) -> None:
    """As above, but the operator's Job cache misses the Job (its Job watch hangs): its create gets a 409."""
    clock.jump(-2.0)  # a little more time before 10:00:00
    created = emulator.create(scheduled_job("conflict", "0,30 0 * * * *"))
    operator()
    # From now on the Job list/watch answers only after 4 s: new Jobs do not reach the operator's cache.
    emulator.faults = Faults(
        hang_rate=1.0, hang_seconds=4.0, methods=frozenset({"GET"}), path_pattern="^/apis/batch/v1/jobs$"
    )
    emulator.drop_watches()
    emulator.reset_request_log()
    clock.sleep_until(SLOTS[0] - timedelta(milliseconds=500))
    owner = Owner(namespace=NS, name="conflict", uid=created["metadata"]["uid"])
    name = slot_job_name("conflict", SLOTS[0], seconds=True)
    emulator.create(
        build_job(owner, parse_spec(created["spec"]), job_name=name, slot=SLOTS[0], trigger=Trigger.SCHEDULE)
    )

    wait_for(lambda: any(r["job"] == name for r in history(emulator, "conflict")), 10, what="the Job adopted")
    emulator.faults = Faults()
    creates = [r.status for r in emulator.request_log if r.verb == "create" and r.resource == "jobs.batch"]
    assert creates == [409], "the operator should have tried once and been told the Job exists"
    assert emulator.fault_counts.get("hang", 0) >= 1
    wait_for(
        lambda: any(r["job"] == name for r in records(emulator, "conflict", "Succeeded")),
        15,
        what="the adopted run recorded Succeeded",
    )
    assert [j["metadata"]["name"] for j in jobs_of(emulator, "conflict")] == [name]
    assert script.seen["conflict"] == 1
    assert status(emulator, "conflict")["counts"].get("Running") == 1
    assert not records(emulator, "conflict", "Failed")


def test_a_failed_status_write_after_a_create_neither_loses_nor_repeats_the_run(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock, script: JobScript
) -> None:
    """The status PATCH right after a Job create fails once (an API error, as if the operator died there)."""
    clock.jump((HOUR + timedelta(minutes=5) - timedelta(seconds=1.5) - clock.now()).total_seconds())
    operator()
    emulator.create(scheduled_job("flaky", "*/2 * * * * *", successfulJobsHistoryLimit=20))
    wait_for(lambda: records(emulator, "flaky", "Succeeded"), 15, what="a first run")
    # Between a run's end (slot + 0.5 s) and the next slot: the next status write follows a create.
    now = clock.now()
    even = now.replace(microsecond=0) - timedelta(seconds=now.second % 2)
    clock.sleep_until(even + timedelta(seconds=1) if now < even + timedelta(seconds=1) else even + timedelta(seconds=3))
    target = slot_job_name(
        "flaky", even + timedelta(seconds=2 if now < even + timedelta(seconds=1) else 4), seconds=True
    )
    emulator.faults = Faults(error_rate=1.0, methods=frozenset({"PATCH"}), path_pattern="/scheduledjobs/flaky/status$")
    wait_for(lambda: emulator.fault_counts.get("error", 0) >= 1, 10, interval=0.01, what="a failed status write")
    emulator.faults = Faults()

    wait_for(
        lambda: any(r["job"] == target for r in records(emulator, "flaky", "Succeeded")),
        20,
        what=f"{target} (created before the failed write) recorded",
    )
    wait_for(lambda: len(records(emulator, "flaky", "Succeeded")) >= 4, 20, what="runs continue")
    assert emulator.get_or_none("batch/v1", "jobs", target, namespace=NS) is not None
    st = status(emulator, "flaky")
    names = [r["job"] for r in st["history"]]
    assert len(names) == len(set(names))
    assert st["counts"]["Running"] == script.seen["flaky"], "a run was counted twice or lost"
    assert not records(emulator, "flaky", "Failed")
    assert get_sj(emulator, "flaky")["status"]["lastResult"] == "Succeeded"
