"""A virtual day of chaos at the core level: the pure ``decide`` driven like the operator drives it,
with kills between Job creation and status write, lost statuses and outages. Seeded, repeatable.

The driver plays an operator over 24 virtual hours for a mix of ScheduledJobs (Forbid, Queue,
Allow, Replace; catchUp None, Latest, All; minute and seconds schedules). Simulated Jobs take
seeded random durations and sometimes fail. Three kinds of chaos, all drawn from the seed:

* **kill**: a decision's Jobs are created (all of them, or only the first few: the operator died
  half-way through its creates), then the operator dies before deleting Jobs and writing status;
  it comes back after a random restart delay and decides again from the old status;
* **status loss**: after a status write the stored status is wiped (a restore without status, a
  hand edit); the next decision rebuilds it from the Jobs;
* **outages**: global windows in which the operator is down (slots come due and are caught up
  according to each catchUp policy when it is back).

What is checked, from the world (every Job ever created) and the ledger (every history record a
persisted decision wrote, keyed by Job name as status.history is):

* no Job name is created twice and no slot has two Jobs (a retry is the slot's next attempt: one
  Job per attempt, each retry after a Failed attempt of its slot, at most ``limit`` of them);
* every slot of the day is accounted for exactly once: a ledger record (an aggregated Missed
  record stands for ``slotCount`` slots), a queued slot, or not yet decided (after
  ``scheduledThrough``); no record is for a slot that is not in the schedule;
* every Job has a run record and every run record has a Job (a started slot is never recorded
  as Missed or Skipped);
* catchUp All with a maxCatchUp no outage exceeds runs every slot;
* without status loss, ``status.counts`` agrees with the ledger.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from punctual.api import HistoryRecord, Result, ScheduledJobStatus, Trigger
from punctual.core import CreateJob, Decision, Subject, build_schedule, decide, parse_spec
from punctual.jobs import JobPhase, ObservedJob
from punctual.schedule import Schedule
from punctual.world import SimJob, World

DAY = datetime(2026, 3, 2, tzinfo=UTC)
END = DAY + timedelta(hours=24)
TEMPLATE = {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]}}}}
# CI plays 4 days with kills and 2 with lost statuses; a larger run: PUNCTUAL_CHAOS_DAYS=200.
DAYS = int(os.environ.get("PUNCTUAL_CHAOS_DAYS", "4"))
RUNS = frozenset({Result.RUNNING, Result.SUCCEEDED, Result.FAILED, Result.REPLACED})

# Name → spec. Sized so that a day is ~2,000 decisions in all: minute-level schedules, and one
# seconds-level schedule (Job names in epoch seconds) at a 3-minute pace.
MIX: dict[str, dict[str, Any]] = {
    "forbid-none": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Forbid", "catchUp": "None"},
    "queue-latest": {"schedule": "*/10 * * * *", "concurrencyPolicy": "Queue", "catchUp": "Latest", "maxQueued": 2},
    "allow-all": {"schedule": "*/5 * * * *", "concurrencyPolicy": "Allow", "catchUp": "All", "maxCatchUp": 1000},
    "replace-all": {"schedule": "*/15 * * * *", "concurrencyPolicy": "Replace", "catchUp": "All", "maxCatchUp": 3},
    "forbid-all-seconds": {
        "schedule": "30 */3 * * * *",
        "concurrencyPolicy": "Forbid",
        "catchUp": "All",
        "maxCatchUp": 5,
    },
    "forbid-retry": {
        "schedule": "*/10 * * * *",
        "concurrencyPolicy": "Forbid",
        "catchUp": "Latest",
        "retry": {"limit": 2, "delay": "2m", "backoff": 2},
    },
    "queue-deadline": {
        "schedule": "*/20 * * * *",
        "concurrencyPolicy": "Queue",
        "catchUp": "All",
        "maxCatchUp": 2,
        "startingDeadlineSeconds": 600,
        "maxQueued": 3,
    },
}


@dataclass(frozen=True)
class Chaos:
    """How much chaos a run gets (probabilities are per decision)."""

    kill: float = 0.08
    lose_status: float = 0.0
    outages: int = 6
    max_outage: timedelta = timedelta(minutes=50)
    max_restart: timedelta = timedelta(minutes=3)


@dataclass
class Play:
    """One ScheduledJob's day: the world (``punctual.world``, as ``punctual simulate``'s), the ledger
    (the world's records) and what happened."""

    subject: Subject
    schedule: Schedule
    seed: int
    world: World = field(init=False)
    decisions: int = 0
    kills: int = 0
    losses: int = 0
    queued_at_loss: set[datetime] = field(default_factory=set)
    """Slots that were waiting in status.queued when the status was lost: the queue lives only there."""

    def __post_init__(self) -> None:
        self.world = World(outcome=lambda create, run: self.duration(create.name))

    @property
    def jobs(self) -> dict[str, SimJob]:
        return self.world.jobs

    @property
    def created(self) -> list[SimJob]:
        return self.world.created

    @property
    def ledger(self) -> dict[str, HistoryRecord]:
        return self.world.records

    @property
    def status(self) -> ScheduledJobStatus:
        return self.world.status

    @status.setter
    def status(self, status: ScheduledJobStatus) -> None:
        self.world.status = status

    def duration(self, name: str) -> tuple[timedelta, bool]:
        """A Job's duration and outcome, drawn from its name: the same whatever order things happen in."""
        draw = random.Random(hashlib.sha256(f"{self.seed}|{name}".encode()).digest())
        long = draw.random() < 0.15
        seconds = draw.uniform(600, 2400) if long else draw.uniform(5, 240)
        return timedelta(seconds=seconds), draw.random() < 0.1

    def create(self, create: CreateJob, now: datetime) -> None:
        self.world.create(create, now)  # a second create of a live name would be AlreadyExists: caught below

    def observe(self, now: datetime) -> list[ObservedJob]:
        return self.world.observe(now)

    def apply(self, decision: Decision, now: datetime) -> None:
        """Carry out a whole decision (no kill): its deletes, its creates, then its status and records."""
        self.world.apply(decision, now)


def outages_for(seed: int, chaos: Chaos) -> list[tuple[datetime, datetime]]:
    rng = random.Random(f"outages|{seed}")
    windows = []
    for _ in range(chaos.outages):
        start = DAY + timedelta(seconds=rng.uniform(0, 23 * 3600))
        windows.append((start, start + timedelta(seconds=rng.uniform(20, chaos.max_outage.total_seconds()))))
    return sorted(windows)


def play_one(name: str, raw: dict[str, Any], *, seed: int, chaos: Chaos) -> Play:
    spec = parse_spec({**raw, "jobTemplate": TEMPLATE})
    subject = Subject(
        namespace="chaos", name=name, uid=f"uid-{name}", creation=DAY - timedelta(seconds=1), spec=spec, generation=1
    )
    play = Play(subject=subject, schedule=build_schedule(subject), seed=seed)
    rng = random.Random(f"{seed}|{name}")
    down = outages_for(seed, chaos)

    def up_at(t: datetime) -> datetime:
        for a, b in down:
            if a <= t < b:
                t = b
        return t

    t = DAY
    while t <= END:
        if up_at(t) != t:
            t = up_at(t)
            continue
        decision: Decision = decide(subject, status=play.status, jobs=play.observe(t), now=t)
        play.decisions += 1
        assert play.decisions < 50_000, "the driver does not converge"
        if rng.random() < chaos.kill:
            # Killed after some (or all) of its creates, before its deletes and its status write.
            for create in decision.creates[: rng.randint(0, len(decision.creates))]:
                play.create(create, t)
            play.kills += 1
            t = t + timedelta(seconds=rng.uniform(1, chaos.max_restart.total_seconds()))
            continue
        play.apply(decision, t)
        if t < END and rng.random() < chaos.lose_status:  # never the last look: it is what is checked
            play.queued_at_loss |= {q.scheduledTime for q in play.status.queued}
            play.status = ScheduledJobStatus()
            play.losses += 1
        wakes = play.world.finishing_after(t)
        if decision.wake_at is not None:
            wakes.append(max(decision.wake_at, t + timedelta(milliseconds=1)))
        wakes += [b for _, b in down if b > t]
        if not wakes:
            break
        nxt = min(wakes)
        if nxt > END and t < END:
            nxt = END  # a last look at the end of the day, so the status is current
        t = nxt
    # A last look without chaos (the operator stays up in the end), so the status shows the whole day.
    play.apply(decide(subject, status=play.status, jobs=play.observe(t), now=t), t)
    return play


def slots_of(play: Play, record: HistoryRecord) -> list[datetime]:
    """The slots a record stands for (an aggregated Missed record: ``slotCount`` of them)."""
    count = record.slotCount or 1
    out = [record.scheduledTime]
    while len(out) < count:
        nxt = play.schedule.next_after(out[-1])
        assert nxt is not None
        out.append(nxt)
    return out


def check(name: str, raw: dict[str, Any], play: Play, *, chaos: Chaos) -> None:
    where = f"{name} (seed {play.seed})"
    # 1. No Job name created twice, no slot with two Jobs.
    names = Counter(j.name for j in play.created)
    assert [n for n, c in names.items() if c > 1] == [], f"{where}: Job names created twice"
    slots_with_jobs = Counter((j.slot, j.attempt) for j in play.created if j.trigger is not Trigger.MANUAL)
    assert [s for s, c in slots_with_jobs.items() if c > 1] == [], f"{where}: slots with two Jobs"
    retries = [r for r in play.ledger.values() if r.trigger is Trigger.RETRY]
    limit = (raw.get("retry") or {}).get("limit", 0)
    for r in retries:
        assert r.attempt is not None and 2 <= r.attempt <= limit + 1, f"{where}: retry {r.job} attempt {r.attempt}"
        before = (
            play.ledger.get(r.retryOf or "")
            if r.attempt == 2
            else next((p for p in retries if p.retryOf == r.retryOf and p.attempt == r.attempt - 1), None)
        )
        assert before is not None and before.result is Result.FAILED, f"{where}: retry {r.job} after no failure"
        assert before.scheduledTime == r.scheduledTime, f"{where}: retry {r.job} of another slot"

    # 2. Every slot of the day is accounted for exactly once.
    through = play.status.scheduledThrough
    assert through is not None and through >= END - timedelta(minutes=30), f"{where}: the day was not decided"
    expected, more = play.schedule.slots(play.subject.creation, max(END, through), limit=100_000)
    assert not more
    covered: Counter[datetime] = Counter()
    outcome: dict[datetime, HistoryRecord] = {}
    for record in play.ledger.values():
        if record.trigger in (Trigger.MANUAL, Trigger.RETRY):
            continue  # a retry is another attempt of a slot its first run accounts for
        for slot in slots_of(play, record):
            covered[slot] += 1
            outcome[slot] = record
    queued = {q.scheduledTime for q in play.status.queued}
    for slot in queued:
        covered[slot] += 1
    phantom = sorted(set(covered) - set(expected))
    assert phantom == [], f"{where}: records for slots not in the schedule: {phantom[:5]}"
    if play.losses == 0:
        # After a status loss the slots between the newest surviving Job and the loss are decided
        # again (the Jobs cannot tell a skipped slot from an undecided one): at least once, then.
        twice = sorted(s for s, c in covered.items() if c > 1)
        assert twice == [], f"{where}: slots accounted for twice: {twice[:5]}"
    lost = [s for s in expected if s <= through and covered[s] == 0 and s not in play.queued_at_loss]
    assert lost == [], f"{where}: slots lost: {lost[:5]}"

    # 3. Jobs and run records agree: a started slot is never recorded Missed/Skipped/Dropped.
    for job in play.created:
        record = play.ledger.get(job.name)
        assert record is not None, f"{where}: Job {job.name} has no history record"
        assert record.result in RUNS, f"{where}: Job {job.name} ran but its slot is recorded {record.result.value}"
    for record in play.ledger.values():
        if record.result in RUNS:
            assert record.job in names, f"{where}: run record {record.job} ({record.result.value}) without a Job"

    # 4. catchUp All within maxCatchUp: every decided slot ran (none Missed, Skipped or Dropped).
    if raw.get("catchUp") == "All" and raw.get("concurrencyPolicy") == "Allow":
        not_run = [s for s in expected if s <= through and s not in queued and outcome[s].result not in RUNS]
        assert not_run == [], f"{where}: catch-up slots not run: {[(s, outcome[s].reason) for s in not_run[:5]]}"
    if raw.get("catchUp") == "All":
        reasons = {r.reason for r in play.ledger.values() if r.result is Result.MISSED}
        allowed = {"CatchUpLimit", "DeadlineExceeded"}
        assert reasons <= allowed, f"{where}: catchUp All missed slots for {reasons - allowed}"

    # 5. Without status loss, the counters agree with the ledger.
    if play.losses == 0:
        counts = play.status.counts
        runs = sum(1 for j in play.created if j.trigger is not Trigger.MANUAL)
        assert counts.get("Running", 0) == runs, f"{where}: counts.Running {counts.get('Running')} != {runs} Jobs"
        for result in (Result.SKIPPED, Result.MISSED, Result.DROPPED):
            want = sum(len(slots_of(play, r)) for r in play.ledger.values() if r.result is result)
            got = counts.get(result.value, 0)
            assert got == want, f"{where}: counts.{result.value} {got} != {want} in the ledger"


def run_day(seed: int, chaos: Chaos) -> dict[str, Play]:
    plays = {}
    for name, raw in MIX.items():
        play = play_one(name, raw, seed=seed, chaos=chaos)
        check(name, raw, play, chaos=chaos)
        plays[name] = play
    return plays


@pytest.mark.parametrize("seed", range(1, DAYS + 1))
def test_a_day_of_kills_and_outages(seed: int) -> None:
    chaos = Chaos()
    plays = run_day(seed, chaos)
    assert sum(p.kills for p in plays.values()) > 20  # the chaos did happen
    assert all(p.created for p in plays.values())


@pytest.mark.parametrize("seed", range(1001, 1001 + max(2, DAYS // 2)))
def test_a_day_of_kills_outages_and_lost_status(seed: int) -> None:
    chaos = Chaos(lose_status=0.03)
    plays = run_day(seed, chaos)
    assert sum(p.losses for p in plays.values()) > 5


def test_the_driver_is_repeatable() -> None:
    chaos = Chaos()
    first = play_one("forbid-none", MIX["forbid-none"], seed=7, chaos=chaos)
    again = play_one("forbid-none", MIX["forbid-none"], seed=7, chaos=chaos)
    assert [j.name for j in first.created] == [j.name for j in again.created]
    assert first.status == again.status


# -- the bugs this driver found, pinned as small cases ----------------------------------------------


def _subject(**raw: Any) -> Subject:
    spec = parse_spec({**raw, "jobTemplate": TEMPLATE})
    return Subject(namespace="chaos", name="pin", uid="uid-pin", creation=DAY - timedelta(seconds=1), spec=spec)


def _job(decision: Decision, index: int, *, now: datetime, done: bool) -> ObservedJob:
    create = decision.creates[index]
    return ObservedJob(
        name=create.name,
        scheduled_time=create.slot,
        trigger=create.trigger,
        phase=JobPhase.SUCCEEDED if done else JobPhase.ACTIVE,
        created=now,
        start_time=now,
        completion_time=now + timedelta(seconds=5) if done else None,
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"schedule": "*/5 * * * *", "catchUp": "None"},
        {"schedule": "*/5 * * * *", "catchUp": "All", "maxCatchUp": 0},
        {"schedule": "*/5 * * * *", "catchUp": "Latest", "startingDeadlineSeconds": 30},
    ],
    ids=["catchUp None", "maxCatchUp 0", "deadline passed"],
)
def test_a_slot_started_before_a_kill_is_a_run_not_missed(raw: dict[str, Any]) -> None:
    subject = _subject(**raw)
    before = decide(subject, status=ScheduledJobStatus(), jobs=[], now=DAY - timedelta(milliseconds=500)).status
    first = decide(subject, status=before, jobs=[], now=DAY + timedelta(seconds=1))
    assert len(first.creates) == 1  # the 00:00 slot starts; then the operator dies before the status write
    back = DAY + timedelta(minutes=12)  # back after two more slots came due: the 00:00 slot is late now
    job = _job(first, 0, now=DAY + timedelta(seconds=1), done=True)
    again = decide(subject, status=before, jobs=[job], now=back)
    record = next(r for r in again.status.history if r.job == job.name)
    assert record.result is Result.SUCCEEDED
    assert again.status.counts.get("Running") == 1
    assert not any(job.name in e.message for e in again.events if e.reason == "SlotMissed")


def test_a_kept_job_beyond_history_limit_is_not_counted_again() -> None:
    subject = _subject(schedule="* * * * *", concurrencyPolicy="Forbid", historyLimit=2)
    status, jobs = ScheduledJobStatus(), []
    t = DAY + timedelta(seconds=1)
    first = decide(subject, status=status, jobs=jobs, now=t)
    jobs = [_job(first, 0, now=t, done=False)]
    status = first.status
    succeeded_events = 0
    for minute in range(1, 8):  # the Job runs for minutes (later slots Skipped), then succeeds and is kept
        now = DAY + timedelta(minutes=minute, seconds=1)
        if minute == 4:
            jobs = [_job(first, 0, now=t, done=True)]
        decision = decide(subject, status=status, jobs=jobs, now=now)
        succeeded_events += sum(1 for e in decision.events if e.reason == "RunSucceeded")
        status = decision.status
        jobs = jobs + [_job(decision, i, now=now, done=True) for i in range(len(decision.creates))]
    final = decide(subject, status=status, jobs=jobs, now=DAY + timedelta(minutes=7, seconds=30))
    succeeded_events += sum(1 for e in final.events if e.reason == "RunSucceeded")
    status = final.status
    assert succeeded_events == len(jobs)  # one RunSucceeded per Job, however many decisions see it
    assert status.counts.get("Running") == len(jobs)
    assert status.counts.get("Succeeded") == len(jobs)
