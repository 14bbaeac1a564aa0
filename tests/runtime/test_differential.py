"""One world, two drivers: ``punctual simulate`` and the operator's reconcile must give the same run table.

The same scenario runs through :class:`punctual.simulate.Simulation` (the core on a virtual clock
with simulated Jobs) and through :func:`punctual.runtime.reconcile.reconcile` with a fake
JobControl whose Jobs are the same simulated world (:class:`punctual.world.World`), shown to the
operator's own caches as the Job and Pod bodies a watch would bring. If the shell ever decided
anything, the tables would differ.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from punctual.api import HistoryRecord, ScheduledJobStatus, Trigger, format_time, parse_time
from punctual.bodies import RawBody as Body
from punctual.core import BackfillRequest, CreateJob, Event, encode_request
from punctual.jobs import ANNOTATION_BACKFILL_REQUEST, ANNOTATION_SCHEDULED_TIME, LABEL_TRIGGER
from punctual.runtime.cache import Cache, Key
from punctual.runtime.reconcile import reconcile
from punctual.simulate import Simulation
from punctual.world import World as SimulatedWorld

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
UNTIL = START + timedelta(hours=6)
KEY: Key = ("default", "report")
CONTAINERS = [{"name": "c", "image": "busybox:1.36"}]
TEMPLATE = {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": CONTAINERS}}}}


@dataclass
class World:
    """The fake JobControl: simulate's world of Jobs (each finishes ``duration`` after its creation), in the caches."""

    cache: Cache
    durations: Sequence[timedelta]
    failures: frozenset[int]
    now: datetime = START
    statuses: list[ScheduledJobStatus] = field(default_factory=list)
    sim: SimulatedWorld = field(init=False)
    added: list[Body] = field(default_factory=list)
    """Created Jobs whose ADDED watch event is still to come (a watch shows every version)."""

    def __post_init__(self) -> None:
        # The same outcomes as punctual.simulate's: the n-th run takes durations[n - 1] (cycling), fails if listed.
        self.sim = SimulatedWorld(
            outcome=lambda create, run: (self.durations[(run - 1) % len(self.durations)], run in self.failures)
        )

    async def create_job(self, namespace: str, manifest: Mapping[str, Any]) -> Body:
        body = copy.deepcopy(dict(manifest))
        meta = body["metadata"]
        name = meta["name"]
        slot = parse_time(meta["annotations"][ANNOTATION_SCHEDULED_TIME])
        trigger = Trigger(meta["labels"][LABEL_TRIGGER])
        self.sim.create(CreateJob(name=name, slot=slot, trigger=trigger, manifest=body), self.now)
        meta.update(uid=f"u-{name}", resourceVersion="1", creationTimestamp=format_time(self.now))
        body["status"] = {"startTime": format_time(self.now), "active": 1}
        self.added.append(copy.deepcopy(body))
        return body

    async def get_job(self, namespace: str, name: str) -> Body:
        raise AssertionError("no name is ever taken in these scenarios")

    async def delete_job(self, namespace: str, name: str) -> None:
        self.sim.delete(name)

    async def patch_status(self, key: Key, status: ScheduledJobStatus) -> None:
        self.statuses.append(status)
        body = self.cache.sjs[key]
        rv = str(int(body["metadata"]["resourceVersion"]) + 1)
        new = {**body, "metadata": {**body["metadata"], "resourceVersion": rv}}
        new["status"] = status.model_dump(mode="json", exclude_none=True)
        self.cache.put_scheduledjob(new)

    def post_events(self, key: Key, uid: str, events: Sequence[Event], now: datetime) -> None:
        pass

    def advance(self, now: datetime) -> None:
        """Jobs whose time has come finish (a Complete or Failed condition and a terminated Pod)."""
        self.now = now
        for body in self.added:
            self.cache.on_job("ADDED", body)
        self.added.clear()
        for name, sim_job in self.sim.jobs.items():
            when, fail = sim_job.finish_at, sim_job.fail
            job = self.cache.job(KEY, name)
            if job is None or when > now or job["status"].get("completionTime"):
                continue
            kind = "Failed" if fail else "Complete"
            reason = "BackoffLimitExceeded" if fail else "Completed"
            cond = {"type": kind, "status": "True", "reason": reason, "lastTransitionTime": format_time(when)}
            done = {**job, "status": {**job["status"], "completionTime": format_time(when), "conditions": [cond]}}
            done["status"].pop("active", None)
            done["metadata"] = {**job["metadata"], "resourceVersion": str(int(job["metadata"]["resourceVersion"]) + 1)}
            self.cache.on_job("MODIFIED", done)
            terminated = {"terminated": {"exitCode": 1 if fail else 0}}
            pod = {
                "metadata": {"name": f"{name}-pod", "namespace": "default", "labels": {"job-name": name}},
                "status": {"phase": "Failed" if fail else "Succeeded", "containerStatuses": [{"state": terminated}]},
            }
            self.cache.on_pod("MODIFIED", pod)


def document(**spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": "report"},
        "spec": {"schedule": "*/30 * * * *", "jobTemplate": TEMPLATE, **spec},
    }


def run_through_reconcile(doc: dict[str, Any], durations: Sequence[timedelta], failures: frozenset[int]) -> list[Any]:
    cache = Cache(mine=lambda key: True, wake=lambda key: None)
    meta = {**doc["metadata"], "uid": "simulated", "generation": 1, "resourceVersion": "1"}
    meta["creationTimestamp"] = format_time(START)
    status = {"scheduledThrough": (START - timedelta(microseconds=1)).isoformat()}
    cache.put_scheduledjob({"metadata": meta, "spec": doc["spec"], "status": status})
    world = World(cache=cache, durations=durations, failures=failures)
    records: dict[str, HistoryRecord] = {}
    pending: ScheduledJobStatus | None = ScheduledJobStatus(scheduledThrough=START - timedelta(microseconds=1))
    t = START
    for _ in range(10_000):
        world.advance(t)
        done = asyncio.run(reconcile(KEY, cache=cache, control=world, now=t, pending=pending))
        pending = None
        assert done.decision is not None
        records.update({r.job: r for r in done.decision.records})
        candidates = world.sim.finishing_after(t)
        if done.wake_at is not None and done.wake_at > t:
            candidates.append(done.wake_at)
        if not candidates or min(candidates) > UNTIL:
            break
        t = min(candidates)
    return table(records.values())


def table(records: Any) -> list[tuple[Any, ...]]:
    return sorted(
        (r.scheduledTime, r.job, r.trigger.value, r.result.value, r.reason, r.startTime, r.completionTime, r.exitCode)
        for r in records
    )


SCENARIOS = [
    ("Allow, short runs", {}, [timedelta(minutes=10)], frozenset()),
    (
        "Forbid, runs longer than the interval: skips",
        {"concurrencyPolicy": "Forbid"},
        [timedelta(minutes=45)],
        frozenset(),
    ),
    (
        "Queue, long runs: a queue drains",
        {"concurrencyPolicy": "Queue", "maxQueued": 2},
        [timedelta(minutes=50)],
        frozenset(),
    ),
    ("failures and history limits", {"failedJobsHistoryLimit": 1}, [timedelta(minutes=5)], frozenset({2, 3, 5})),
]


@pytest.mark.parametrize(("spec", "durations", "failures"), [s[1:] for s in SCENARIOS], ids=[s[0] for s in SCENARIOS])
def test_simulate_and_the_reconcile_give_the_same_run_table(
    spec: dict[str, Any], durations: list[timedelta], failures: frozenset[int]
) -> None:
    doc = document(**spec)
    sim = Simulation(doc, START, UNTIL, durations=durations, failures=failures)
    sim.run()
    expected = table(sim.records.values())
    assert expected, "the scenario runs something"
    assert run_through_reconcile(doc, durations, failures) == expected


def test_simulate_and_the_reconcile_give_the_same_backfill() -> None:
    # A backfill of the six hours before the object existed, two at a time, beside Forbid's scheduled runs.
    start, end = START - timedelta(hours=6), START - timedelta(hours=1)
    doc = document(concurrencyPolicy="Forbid")
    durations = [timedelta(minutes=20), timedelta(minutes=45)]
    sim = Simulation(doc, START, UNTIL, durations=durations, backfill=(start, end), backfill_parallel=2)
    sim.run()
    expected = table(sim.records.values())
    assert len([row for row in expected if row[2] == "backfill"]) == 11
    request = BackfillRequest(token=f"simulated-backfill-{format_time(START)}", start=start, end=end, parallel=2)
    doc["metadata"]["annotations"] = {ANNOTATION_BACKFILL_REQUEST: encode_request(request)}
    assert run_through_reconcile(doc, durations, frozenset()) == expected
