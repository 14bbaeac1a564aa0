"""Properties of a backfill, driven through ``punctual.simulate.Simulation`` (the real core) with random
schedules, policies, ranges, parallelism, durations, failures, outages and a backfill requested
while scheduled runs go on:

(a) no Job is ever created twice; (b) a completed backfill ran every slot of its range that had no
run before (exactly once) and none that had; (c) never more than ``parallel`` of its runs at once;
(d) its counters add up: done + skipped-existing = total once completed.

Everything is scaled by the schedule's spacing, so that ``historyLimit: 100`` holds every record of
a scenario: beyond the records and Jobs it keeps the operator no longer knows that a slot ran, and
a backfill would run it again (documented; hypothesis found it with unscaled durations).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from punctual.api import BackfillState, Trigger
from punctual.core import Decision, build_schedule
from punctual.simulate import Simulation

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
# (expression, the spacing of its slots: scales the range)
EXPRESSIONS = [
    ("*/15 * * * *", timedelta(minutes=15)),
    ("0 * * * *", timedelta(hours=1)),
    ("*/20 * * * * *", timedelta(seconds=20)),
    ("H/10 * * * *", timedelta(minutes=10)),
    ("*/30 1-3 * * *", timedelta(minutes=30)),
]


class Counting(Simulation):
    """The real Simulation, counting how many of the backfill's runs are active after each decision."""

    most_at_once: int = 0

    def _apply(self, t: datetime, decision: Decision) -> None:
        super()._apply(t, decision)
        running = sum(1 for a in decision.status.active if a.trigger is Trigger.BACKFILL)
        self.most_at_once = max(self.most_at_once, running)


def document(expression: str, policy: str) -> dict[str, Any]:
    template = {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    return {
        "metadata": {"name": "report", "namespace": "default"},
        "spec": {"schedule": expression, "concurrencyPolicy": policy, "historyLimit": 100, "jobTemplate": template},
    }


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    expression=st.sampled_from(EXPRESSIONS),
    policy=st.sampled_from(["Allow", "Forbid", "Queue", "Replace"]),
    back=st.floats(min_value=-3, max_value=20),  # spacings before the start: where the range begins
    length=st.floats(min_value=0, max_value=12),  # spacings: how long it is
    parallel=st.integers(min_value=1, max_value=4),
    factors=st.lists(st.sampled_from([0.2, 0.5, 0.9, 1.0, 1.3, 2.5]), min_size=1, max_size=4),  # run durations
    failures=st.frozensets(st.integers(min_value=1, max_value=12), max_size=3),
    at=st.floats(min_value=0, max_value=20),  # spacings after the start: when the backfill is requested
)
def test_a_backfill_runs_each_missing_slot_once(
    expression: tuple[str, timedelta],
    policy: str,
    back: float,
    length: float,
    parallel: int,
    factors: list[float],
    failures: frozenset[int],
    at: float,
) -> None:
    cron, spacing = expression
    begin = START - back * spacing
    end = begin + length * spacing
    requested = START + at * spacing
    durations = [f * spacing for f in factors]
    # Long enough for every run of the backfill one after another, whatever the schedule runs meanwhile.
    until = requested + (length + 2) * max(durations) + 2 * spacing
    sim = Counting(
        document(cron, policy),
        start=START,
        until=until,
        durations=durations,
        failures=failures,
        backfill=(begin, end),
        backfill_at=requested,
        backfill_parallel=parallel,
    )
    sim.run()
    created = Counter(c.name for _, d in sim.decisions for c in d.creates)
    assert not [name for name, n in created.items() if n > 1]  # (a)
    [entry] = sim.status.backfills
    assert entry.state is BackfillState.COMPLETED, entry
    schedule = build_schedule(sim.subject)
    schedule_slots, _ = schedule.slots(begin - timedelta(microseconds=1), min(end, requested), limit=10_001)
    assert entry.total == len(schedule_slots)
    # (b) The slots with a run when the backfill got to them: those the schedule had started, or had
    # queued, by the time of the request (the range ends there).
    backfilled = {r.scheduledTime for r in sim.records.values() if r.trigger is Trigger.BACKFILL}
    before = [(t, d) for t, d in sim.decisions if t <= requested]
    earlier = {c.slot for _, d in before for c in d.creates if c.trigger is not Trigger.BACKFILL}
    if before:
        earlier |= {q.scheduledTime for q in before[-1][1].status.queued}
    assert backfilled == set(schedule_slots) - earlier
    assert entry.skippedExisting == len(set(schedule_slots) & earlier)
    assert sim.most_at_once <= parallel  # (c)
    assert entry.done + entry.skippedExisting == entry.total  # (d)
    assert entry.failed == sum(
        1 for r in sim.records.values() if r.trigger is Trigger.BACKFILL and r.result.value == "Failed"
    )
