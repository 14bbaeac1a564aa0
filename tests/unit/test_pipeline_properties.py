"""Property tests of pipelines: a downstream decided again and again while its upstreams progress.

Upstreams record hourly logical times in order, each first Running and then Succeeded or Failed,
at their own pace; the downstream (no schedule, concurrencyPolicy Allow) is decided after every
step, its own Jobs finishing at the next one and garbage-collected by its history limits. Whatever
the interleaving and however short the downstream's own history:

* no logical time runs twice downstream;
* every logical time that all upstreams succeeded for yields exactly one downstream run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_support import TEMPLATE, at, make_subject

from punctual.api import Result, ScheduledJobStatus
from punctual.core import decide, parse_spec
from punctual.core.pipeline import UpstreamRun, UpstreamView
from punctual.jobs import JobPhase, ObservedJob

CREATED = at("00:00")
NAMES = ("a", "b", "c")


@dataclass(frozen=True)
class Scenario:
    outcomes: dict[str, list[bool]]  # per upstream: success of its run at hour 1, 2, ...
    steps: list[str]  # which upstream moves on at each step (one record appears or finishes)
    history_limit: int
    kept_jobs: int


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    count = draw(st.integers(1, 3))
    hours = draw(st.integers(1, 8))
    outcomes = {n: draw(st.lists(st.booleans(), min_size=hours, max_size=hours)) for n in NAMES[:count]}
    # Each upstream needs two steps per hour (start, finish); the order of those steps is drawn.
    moves = [n for n in outcomes for _ in range(2 * hours)]
    steps = draw(st.permutations(moves))
    return Scenario(outcomes, list(steps), draw(st.integers(0, 4)), draw(st.integers(0, 3)))


def view(progress: int, outcomes: list[bool]) -> UpstreamView:
    runs = []
    for i in range((progress + 1) // 2):
        finished = 2 * (i + 1) <= progress
        result = (Result.SUCCEEDED if outcomes[i] else Result.FAILED) if finished else Result.RUNNING
        runs.append(UpstreamRun(CREATED + timedelta(hours=i + 1), result))
    return UpstreamView(runs=tuple(reversed(runs)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_no_logical_time_runs_twice_and_every_all_succeeded_time_runs_once(scenario: Scenario) -> None:
    subject = make_subject(
        parse_spec(
            {
                "jobTemplate": TEMPLATE,
                "dependsOn": [{"name": n} for n in scenario.outcomes],
                "historyLimit": scenario.history_limit,
                "successfulJobsHistoryLimit": scenario.kept_jobs,
            }
        ),
        creation=CREATED,
    )
    progress = dict.fromkeys(scenario.outcomes, 0)
    status = ScheduledJobStatus()
    jobs: dict[str, ObservedJob] = {}
    started: list[datetime] = []
    now = at("01:00")
    for step in [*scenario.steps, None]:
        if step is not None:
            progress[step] += 1
        now += timedelta(minutes=1)
        # The downstream's Jobs from the previous decision have finished.
        jobs = {
            name: ObservedJob(
                name=name,
                scheduled_time=j.scheduled_time,
                trigger=j.trigger,
                phase=JobPhase.SUCCEEDED,
                created=j.created,
                start_time=j.start_time,
                completion_time=now,
            )
            for name, j in jobs.items()
        }
        upstreams = {n: view(progress[n], scenario.outcomes[n]) for n in scenario.outcomes}
        decision = decide(subject, status=status, jobs=list(jobs.values()), now=now, upstreams=upstreams)
        for create in decision.creates:
            started.append(create.slot)
            jobs[create.name] = ObservedJob(
                name=create.name,
                scheduled_time=create.slot,
                trigger=create.trigger,
                phase=JobPhase.ACTIVE,
                created=now,
                start_time=now,
            )
        for delete in decision.deletes:
            jobs.pop(delete.name, None)
        status = decision.status
    assert len(started) == len(set(started)), "a logical time ran twice downstream"
    hours = len(next(iter(scenario.outcomes.values())))
    all_succeeded = [
        CREATED + timedelta(hours=i + 1) for i in range(hours) if all(o[i] for o in scenario.outcomes.values())
    ]
    assert sorted(started) == all_succeeded
