"""Properties of the real core, driven through ``punctual.simulate.Simulation`` with random schedules,
policies, durations, failures, outages and manual requests:

(a) no slot is ever started twice; (b) every slot is accounted for exactly once (a record, an
aggregated Missed record, or still waiting in ``status.queued``); (c) ``wake_at`` is None or in the
future; (d) ``status.active`` never lists a finished Job.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from punctual.api import Result, Trigger
from punctual.core import Decision
from punctual.durations import format_duration
from punctual.schedule import Schedule
from punctual.simulate import Simulation

# (expression, the rough spacing of its slots: scales durations, outages and the replay window)
EXPRESSIONS = [
    ("*/15 * * * *", timedelta(minutes=15)),
    ("0 * * * *", timedelta(hours=1)),
    ("*/5 * * * *", timedelta(minutes=5)),
    ("H/10 * * * *", timedelta(minutes=10)),
    ("H * * * *", timedelta(hours=1)),
    ("*/20 * * * * *", timedelta(seconds=20)),
    ("H/30 * * * * *", timedelta(seconds=30)),
    ("@every 7m", timedelta(minutes=7)),
    ("*/30 1-3 * * *", timedelta(minutes=30)),  # fixed hours: crosses the DST gap and fold in Berlin
    ("15 2 * * *", timedelta(hours=24)),
]
STARTS = [
    datetime(2026, 1, 5, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 28, 23, 10, tzinfo=UTC),  # the night Berlin springs forward
    datetime(2026, 10, 24, 22, 50, tzinfo=UTC),  # the night Berlin falls back
]
FACTORS = [0.2, 0.5, 0.9, 1.0, 1.3, 2.5]


class CheckedSimulation(Simulation):
    """The real Simulation, checking (d) against the simulated world at every decision."""

    def _apply(self, t: datetime, decision: Decision) -> None:
        for run in decision.status.active:
            job = self.jobs.get(run.name)
            assert job is None or not job.observe(t).finished, f"{run.name} finished but listed active at {t}"
        super()._apply(t, decision)


@dataclass(frozen=True)
class Scenario:
    expr: str
    unit: timedelta
    zone: str
    spec: dict[str, Any]
    start: datetime
    until: datetime
    durations: tuple[timedelta, ...]
    failures: frozenset[int]
    down: tuple[tuple[datetime, datetime], ...]
    run_now: tuple[datetime, ...]

    @property
    def settled(self) -> datetime:
        """Slots up to here have certainly been decided (and a run started for them has had time to end)."""
        jitter = self.unit * 0.3 if self.spec.get("jitter") else timedelta(0)
        return self.until - max(max(self.durations), jitter)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    expr, unit = draw(st.sampled_from(EXPRESSIONS))
    zone = draw(st.sampled_from(["UTC", "Europe/Berlin"]))
    start = draw(st.sampled_from(STARTS))
    periods = st.integers(2, 6) if unit >= timedelta(hours=24) else st.integers(3, 30)
    span = unit * draw(periods)
    until = start + span
    durations = tuple(unit * f for f in draw(st.lists(st.sampled_from(FACTORS), min_size=1, max_size=4)))
    spec: dict[str, Any] = {
        "schedule": expr,
        "timeZone": zone,
        "concurrencyPolicy": draw(st.sampled_from(["Allow", "Forbid", "Replace", "Queue"])),
        "catchUp": draw(st.sampled_from(["None", "Latest", "All"])),
        "maxCatchUp": draw(st.sampled_from([0, 1, 3, 100])),
        "maxQueued": draw(st.integers(1, 3)),
        "suspend": draw(st.sampled_from([False] * 5 + [True])),
        "successfulJobsHistoryLimit": draw(st.integers(0, 3)),
        "failedJobsHistoryLimit": draw(st.integers(0, 2)),
        "historyLimit": draw(st.integers(0, 20)),
        "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "busybox"}]}}}},
    }
    deadline = draw(st.sampled_from([None, None, 0.5, 2.0]))
    if deadline is not None:
        spec["startingDeadlineSeconds"] = int((unit * deadline).total_seconds())
    if draw(st.booleans()) and unit < timedelta(hours=24):
        spec["jitter"] = format_duration(unit * 0.3)
    settled = until - max(durations)
    down: list[tuple[datetime, datetime]] = []
    for _ in range(draw(st.integers(0, 2))):
        a = start + span * draw(st.floats(0, 0.8))
        b = a + unit * draw(st.sampled_from([0.5, 1, 3, 14]))
        if b < settled:
            down.append((a, b))
    run_now = tuple(sorted(start + span * f for f in draw(st.lists(st.floats(0, 1), max_size=2))))
    failures = frozenset(draw(st.lists(st.integers(1, 12), max_size=4)))
    return Scenario(expr, unit, zone, spec, start, until, durations, failures, tuple(down), run_now)


def simulate(s: Scenario) -> CheckedSimulation:
    document = {"kind": "ScheduledJob", "metadata": {"name": "report", "namespace": "ns"}, "spec": s.spec}
    sim = CheckedSimulation(
        document,
        start=s.start,
        until=s.until,
        durations=s.durations,
        failures=s.failures,
        down=s.down,
        run_now=s.run_now,
    )
    sim.run()
    return sim


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_simulation_properties(s: Scenario) -> None:
    sim = simulate(s)
    schedule = Schedule([s.expr], time_zone=s.zone, anchor=s.start, key="ns/report")

    # (c) every wake-up is in the future.
    for now, decision in sim.decisions:
        assert decision.wake_at is None or decision.wake_at > now, (now, decision.wake_at)

    # (a) no slot is started twice: every created Job has its own name, every scheduled slot one run.
    creates = [c for _, d in sim.decisions for c in d.creates]
    assert len({c.name for c in creates}) == len(creates)
    started_slots = [c.slot for c in creates if c.trigger is not Trigger.MANUAL]
    assert len(set(started_slots)) == len(started_slots)
    runs = [r for r in sim.records.values() if r.startTime is not None and r.trigger is not Trigger.MANUAL]
    assert len({r.scheduledTime for r in runs}) == len(runs)

    # (b) every slot in [start, settled] is accounted for exactly once.
    accounted: Counter[datetime] = Counter()
    for record in sim.records.values():
        if record.trigger is Trigger.MANUAL:
            continue
        if record.slotCount:
            assert record.result is Result.MISSED
            covered, _ = schedule.slots(
                record.scheduledTime - timedelta(microseconds=1), s.until + s.unit * 100, limit=record.slotCount
            )
            assert len(covered) == record.slotCount
            accounted.update(covered)
        else:
            accounted[record.scheduledTime] += 1
    for q in sim.status.queued:
        if q.trigger is not Trigger.MANUAL:
            accounted[q.scheduledTime] += 1
    assert all(n == 1 for n in accounted.values()), [t for t, n in accounted.items() if n > 1]
    expected, _ = schedule.slots(s.start - timedelta(microseconds=1), s.settled, limit=100_000)
    if s.spec["suspend"]:
        assert not accounted
        assert all(c.trigger is Trigger.MANUAL for c in creates)
    else:
        missing = [t for t in expected if accounted[t] != 1]
        assert not missing, missing


def test_properties_hold_for_the_issue_example() -> None:
    start = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)
    s = Scenario(
        "*/30 * * * *",
        timedelta(minutes=30),
        "UTC",
        {
            "schedule": "*/30 * * * *",
            "concurrencyPolicy": "Queue",
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "b"}]}}}},
            "suspend": False,
        },
        start,
        start + timedelta(hours=3),
        tuple(timedelta(minutes=m) for m in (20, 27, 34, 20)),
        frozenset(),
        (),
        (),
    )
    sim = simulate(s)
    assert [c.slot for _, d in sim.decisions for c in d.creates] == [
        start + timedelta(minutes=30) * k for k in range(7)
    ]
