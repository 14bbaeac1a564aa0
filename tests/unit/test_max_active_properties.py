"""Properties of ``spec.maxActive`` through the real core, replayed by ``punctual.simulate.Simulation``.

With random schedules, caps, overflow, durations, outages and manual requests under ``Allow``:
(a) no instant has more than ``maxActive`` runs going (in the simulated world, not just in status);
(b) every slot is accounted for exactly once (a record or still waiting in ``status.queued``);
(c) with ``overflow: Skip`` nothing waits but catch-ups, and a slot skipped beyond the cap says MaxActive.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from punctual.api import Result, Trigger
from punctual.core.policy import MAX_ACTIVE
from punctual.schedule import Schedule
from punctual.simulate import Simulation

START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
EXPRESSIONS = [
    ("*/15 * * * *", timedelta(minutes=15)),
    ("*/5 * * * *", timedelta(minutes=5)),
    ("@every 7m", timedelta(minutes=7)),
]
TEMPLATE = {"spec": {"template": {"spec": {"containers": [{"name": "m", "image": "busybox"}]}}}}


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    expr, unit = draw(st.sampled_from(EXPRESSIONS))
    until = START + unit * draw(st.integers(4, 30))
    spec: dict[str, Any] = {
        "schedule": expr,
        "concurrencyPolicy": "Allow",
        "maxActive": draw(st.integers(1, 3)),
        "catchUp": draw(st.sampled_from(["None", "Latest", "All"])),
        "maxQueued": draw(st.integers(1, 3)),
        "jobTemplate": TEMPLATE,
    }
    overflow = draw(st.sampled_from([None, "Queue", "Skip"]))
    if overflow is not None:
        spec["overflow"] = overflow
    if draw(st.booleans()):
        spec["startingDeadlineSeconds"] = int(unit.total_seconds() * draw(st.sampled_from([0.5, 2.0])))
    durations = tuple(unit * f for f in draw(st.lists(st.sampled_from([0.3, 1.0, 1.7, 3.2]), min_size=1, max_size=4)))
    down = []
    settled = until - max(durations)
    a = START + (until - START) * draw(st.floats(0, 0.6))
    b = a + unit * draw(st.sampled_from([1, 3, 6]))
    if draw(st.booleans()) and b < settled:
        down.append((a, b))  # an outage the operator recovers from before the replay ends
    run_now = tuple(sorted(START + (until - START) * f for f in draw(st.lists(st.floats(0, 1), max_size=2))))
    return {"spec": spec, "until": until, "unit": unit, "durations": durations, "down": down, "run_now": run_now}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_max_active_is_never_exceeded_and_every_slot_is_accounted_for(s: dict[str, Any]) -> None:
    spec, cap = s["spec"], s["spec"]["maxActive"]
    document = {"kind": "ScheduledJob", "metadata": {"name": "crawl", "namespace": "ns"}, "spec": spec}
    sim = Simulation(
        document, start=START, until=s["until"], durations=s["durations"], down=s["down"], run_now=s["run_now"]
    )
    sim.run()

    # (a) in status after every decision, and in the world: the runs overlapping any start instant.
    for _, decision in sim.decisions:
        assert decision.status.activeCount <= cap
    runs = [(r.startTime, r.completionTime or sim.jobs[r.job].finish_at) for r in sim.records.values() if r.startTime]
    for started, _ in runs:
        going = sum(1 for a, b in runs if a <= started < b)
        assert going <= cap, (started, going, cap)

    # (b) every slot of the replay (settled: a run started for it has had time to end) once.
    accounted: Counter[datetime] = Counter()
    for record in sim.records.values():
        if record.trigger is not Trigger.MANUAL:
            accounted[record.scheduledTime] += 1
    for q in sim.status.queued:
        if q.trigger is not Trigger.MANUAL:
            accounted[q.scheduledTime] += 1
    assert all(n <= 1 for n in accounted.values()), [t for t, n in accounted.items() if n > 1]
    if not any(r.slotCount for r in sim.records.values()):
        schedule = Schedule([spec["schedule"]], time_zone="UTC", anchor=START, key="ns/crawl")
        settled = s["until"] - max(s["durations"])
        expected, _ = schedule.slots(START - timedelta(microseconds=1), settled, limit=100_000)
        assert [t for t in expected if accounted[t] != 1] == []

    # (c) Skip: only catch-ups wait; Queue: a slot skipped for the cap never happens.
    skipped = [r for r in sim.records.values() if r.result is Result.SKIPPED]
    if spec.get("overflow") == "Skip":
        assert all(q.trigger is Trigger.CATCHUP for q in sim.status.queued)
        assert all(r.reason == MAX_ACTIVE for r in skipped)
    else:
        assert skipped == []
