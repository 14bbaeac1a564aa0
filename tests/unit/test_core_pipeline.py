"""Table tests of pipelines (``spec.dependsOn``) in the pure core: ``decide`` given the upstreams' runs.

A downstream ``report`` (created at 00:00 on the fixed day, so nothing the upstreams did before
counts) runs after ``extract`` and, for fan-in, ``load``. Each row gives the upstreams' recorded runs
as ``punctual.core.pipeline.UpstreamView`` and names what the decision does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from unit_support import TEMPLATE, active_job, at, done_job, make_subject

from punctual.api import HistoryRecord, QueuedSlot, Result, ScheduledJobStatus, Trigger
from punctual.core import Decision, SpecError, Subject, decide, parse_spec
from punctual.core.pipeline import UpstreamRun, UpstreamView, upstream_job_name, view_of
from punctual.jobs import ObservedJob

U = Trigger.UPSTREAM
OK, FAIL, RUN = Result.SUCCEEDED, Result.FAILED, Result.RUNNING
CREATED = at("00:00")
NOON = at("12:00")


def runs(*pairs: tuple[str, Result]) -> UpstreamView:
    return UpstreamView(runs=tuple(UpstreamRun(at(t), r) for t, r in pairs))


def downstream(*deps: Any, creation: datetime = CREATED, **fields: Any) -> Subject:
    raw: dict[str, Any] = {
        "jobTemplate": TEMPLATE,
        "dependsOn": [d if isinstance(d, dict) else {"name": d} for d in deps],
    }
    raw.update(fields)
    return make_subject(parse_spec(raw), creation=creation)


def name_at(t: str) -> str:
    return upstream_job_name("report", at(t))


def decide_down(
    subject: Subject,
    upstreams: Mapping[str, UpstreamView],
    *,
    now: datetime,
    status: ScheduledJobStatus | None = None,
    jobs: tuple[ObservedJob, ...] = (),
) -> Decision:
    return decide(subject, status=status or ScheduledJobStatus(), jobs=list(jobs), now=now, upstreams=upstreams)


def condition(decision: Decision, type_: str) -> tuple[str, str]:
    found = next(c for c in decision.status.conditions if c.type == type_)
    return found.status, found.reason


# -- downstream without a schedule ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    upstreams: Mapping[str, UpstreamView]
    deps: tuple[Any, ...] = ("extract",)
    now: datetime = NOON
    status: ScheduledJobStatus = field(default_factory=ScheduledJobStatus)
    jobs: tuple[ObservedJob, ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict)
    creates: tuple[datetime, ...] = ()
    skipped: tuple[tuple[datetime, str], ...] = ()
    through: datetime | None = CREATED


CASES = [
    Case(
        "upstream succeeded after the downstream was created: one run at its logical time",
        {"extract": runs(("10:00", OK))},
        creates=(at("10:00"),),
        through=at("10:00"),
    ),
    Case(
        "upstream history from before the downstream was created is not run",
        {"extract": runs(("10:00", OK), ("00:00", OK))},
        creates=(at("10:00"),),
        through=at("10:00"),
    ),
    Case(
        "upstream failed: the logical time is recorded Skipped UpstreamNotSucceeded",
        {"extract": runs(("10:00", FAIL))},
        skipped=((at("10:00"), "UpstreamNotSucceeded"),),
        through=at("10:00"),
    ),
    Case(
        "result Finished: a failed upstream run counts",
        {"extract": runs(("10:00", FAIL))},
        deps=({"name": "extract", "result": "Finished"},),
        creates=(at("10:00"),),
        through=at("10:00"),
    ),
    Case(
        "result Finished: a replaced upstream run counts, a skipped slot does not",
        {"extract": runs(("10:00", Result.REPLACED), ("11:00", Result.SKIPPED))},
        deps=({"name": "extract", "result": "Finished"},),
        creates=(at("10:00"),),
        skipped=((at("11:00"), "UpstreamNotSucceeded"),),
        through=at("11:00"),
    ),
    Case(
        "upstream still running: nothing yet",
        {"extract": runs(("10:00", RUN))},
    ),
    Case(
        "an older upstream run still running holds back a newer finished one",
        {"extract": runs(("10:00", RUN), ("11:00", OK))},
    ),
    Case(
        "a queued upstream slot holds back the times after it",
        {"extract": UpstreamView(runs=(UpstreamRun(at("11:00"), OK),), pending=(at("10:00"),))},
    ),
    Case(
        "several upstream successes: one run each, oldest first",
        {"extract": runs(("11:00", OK), ("10:00", OK))},
        creates=(at("10:00"), at("11:00")),
        through=at("11:00"),
    ),
    Case(
        "fan-in: one upstream succeeded, the other has not run it yet: nothing",
        {"extract": runs(("10:00", OK)), "load": runs(("09:00", OK))},
        deps=("extract", "load"),
        through=at("09:00"),  # both have decided 09:00; extract never ran it
    ),
    Case(
        "fan-in: an upstream whose cursor passed a time it never ran settles that time",
        {
            "extract": runs(("10:00", OK)),
            "load": UpstreamView(runs=(UpstreamRun(at("09:00"), OK),), through=at("10:30")),
        },
        deps=("extract", "load"),
        through=at("10:00"),
    ),
    Case(
        "fan-in: one succeeded, the other still running it: nothing",
        {"extract": runs(("10:00", OK)), "load": runs(("10:00", RUN))},
        deps=("extract", "load"),
    ),
    Case(
        "fan-in: both succeeded: exactly one run",
        {"extract": runs(("10:00", OK)), "load": runs(("10:00", OK))},
        deps=("extract", "load"),
        creates=(at("10:00"),),
        through=at("10:00"),
    ),
    Case(
        "fan-in: the other upstream failed: Skipped",
        {"extract": runs(("10:00", OK)), "load": runs(("10:00", FAIL))},
        deps=("extract", "load"),
        skipped=((at("10:00"), "UpstreamNotSucceeded"),),
        through=at("10:00"),
    ),
    Case(
        "fan-in: upstreams on different times: nothing runs, the settled time is passed",
        {"extract": runs(("10:00", OK), ("11:00", OK)), "load": runs(("10:30", OK), ("11:30", OK))},
        deps=("extract", "load"),
        through=at("11:00"),
    ),
    Case(
        "a logical time at or before upstreamThrough is not decided again",
        {"extract": runs(("10:00", OK), ("11:00", OK))},
        status=ScheduledJobStatus(upstreamThrough=at("10:00")),
        creates=(at("11:00"),),
        through=at("11:00"),
    ),
    Case(
        "status lost, the run's Job exists: adopted, not created again",
        {"extract": runs(("10:00", OK))},
        jobs=(done_job(at("10:00"), finished=at("10:05"), trigger=U, name=name_at("10:00")),),
        through=at("10:00"),
    ),
    Case(
        "status lost: the upstream-triggered Jobs move the cursor, older times stay decided",
        {"extract": runs(("09:00", OK), ("10:00", OK), ("11:00", OK))},
        jobs=(done_job(at("10:00"), finished=at("10:05"), trigger=U, name=name_at("10:00")),),
        creates=(at("11:00"),),
        through=at("11:00"),
    ),
    Case(
        "the run's record is in history: never a second run",
        {"extract": runs(("10:00", OK))},
        status=ScheduledJobStatus(
            history=[HistoryRecord(job=name_at("10:00"), scheduledTime=at("10:00"), trigger=U, result=OK)]
        ),
        through=at("10:00"),
    ),
    Case(
        "Forbid: a second logical time while the first run is active is Skipped",
        {"extract": runs(("10:00", OK), ("11:00", OK))},
        spec={"concurrencyPolicy": "Forbid"},
        status=ScheduledJobStatus(upstreamThrough=at("10:00")),
        jobs=(active_job(at("10:00"), trigger=U, name=name_at("10:00")),),
        skipped=((at("11:00"), "ConcurrencyForbid"),),
        through=at("11:00"),
    ),
    Case(
        "suspended: the upstreams' times pass without a run",
        {"extract": runs(("10:00", OK))},
        spec={"suspend": True},
        through=at("12:00"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_downstream_without_schedule(case: Case) -> None:
    subject = downstream(*case.deps, **case.spec)
    decision = decide_down(subject, case.upstreams, now=case.now, status=case.status, jobs=case.jobs)
    assert [c.slot for c in decision.creates] == list(case.creates)
    assert all(c.trigger is U and c.name == upstream_job_name("report", c.slot) for c in decision.creates)
    skipped = [(r.scheduledTime, r.reason) for r in decision.records if r.result is Result.SKIPPED]
    assert skipped == list(case.skipped)
    assert decision.status.upstreamThrough == case.through
    assert decision.status.nextScheduleTime is None
    assert condition(decision, "DependenciesValid") == ("True", "Valid")


def test_upstream_run_gets_the_upstreams_scheduled_time_in_its_environment() -> None:
    decision = decide_down(downstream("extract"), {"extract": runs(("10:00", OK))}, now=at("12:00"))
    (create,) = decision.creates
    env = create.manifest["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PUNCTUAL_SCHEDULED_TIME", "value": "2026-01-05T10:00:00Z"} in env
    assert {"name": "PUNCTUAL_TRIGGER", "value": "upstream"} in env
    assert create.manifest["metadata"]["labels"]["punctual.dev/trigger"] == "upstream"


def test_a_manual_upstream_run_propagates_with_its_request_time() -> None:
    requested = at("10:17:23")
    view = UpstreamView(runs=(UpstreamRun(requested, OK),))
    decision = decide_down(downstream("extract"), {"extract": view}, now=at("12:00"))
    assert [c.slot for c in decision.creates] == [requested]


def test_queue_policy_queues_a_second_logical_time_and_starts_it_after_the_first() -> None:
    subject = downstream("extract", concurrencyPolicy="Queue")
    ups = {"extract": runs(("10:00", OK), ("11:00", OK))}
    first = decide_down(subject, ups, now=at("12:00"))
    assert [c.slot for c in first.creates] == [at("10:00")]
    assert [(q.scheduledTime, q.trigger) for q in first.status.queued] == [(at("11:00"), U)]
    done = (done_job(at("10:00"), finished=at("12:01"), trigger=U, name=name_at("10:00")),)
    second = decide_down(subject, ups, now=at("12:02"), status=first.status, jobs=done)
    assert [c.slot for c in second.creates] == [at("11:00")]
    assert second.status.queued == []


def test_starting_deadline_counts_from_when_the_upstreams_let_the_run_start() -> None:
    subject = downstream("extract", concurrencyPolicy="Queue", startingDeadlineSeconds=300)
    ups = {"extract": runs(("10:00", OK), ("11:00", OK))}
    first = decide_down(subject, ups, now=at("12:00"))  # 10:00's run starts two hours after its time
    assert [c.slot for c in first.creates] == [at("10:00")]
    assert [q.dueTime for q in first.status.queued] == [at("12:00")]
    done = (done_job(at("10:00"), finished=at("12:03"), trigger=U, name=name_at("10:00")),)
    second = decide_down(subject, ups, now=at("12:04"), status=first.status, jobs=done)
    assert [c.slot for c in second.creates] == [at("11:00")]  # within 300 s of 12:00


def test_re_reading_the_same_upstream_status_never_runs_twice() -> None:
    subject = downstream("extract", "load")
    ups = {"extract": runs(("10:00", OK)), "load": runs(("10:00", OK))}
    first = decide_down(subject, ups, now=at("12:00"))
    again = decide_down(subject, ups, now=at("12:00:01"), status=first.status)
    assert len(first.creates) == 1
    assert again.creates == ()


# -- dependencies that are not valid --------------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    name: str
    deps: tuple[Any, ...]
    upstreams: Mapping[str, UpstreamView]
    reason: str
    message: str


INVALID = [
    Invalid("a missing upstream", ("extract",), {}, "UpstreamMissing", "no ScheduledJob extract in namespace default"),
    Invalid(
        "an upstream in another namespace, by a name with a slash",
        ("other/extract",),
        {"extract": runs()},
        "CrossNamespace",
        "dependsOn 'other/extract': upstreams must be in this ScheduledJob's namespace (default)",
    ),
    Invalid(
        "an upstream in another namespace, by the namespace field",
        ({"name": "extract", "namespace": "other"},),
        {"extract": runs()},
        "CrossNamespace",
        "dependsOn 'other/extract': upstreams must be in this ScheduledJob's namespace (default)",
    ),
    Invalid("itself", ("report",), {"report": runs()}, "Cycle", "dependsOn names this ScheduledJob itself (report)"),
    Invalid(
        "a cycle through two others",
        ("transform",),
        {
            "transform": UpstreamView(depends_on=("extract",)),
            "extract": UpstreamView(depends_on=("report",)),
        },
        "Cycle",
        "dependsOn forms a cycle: report -> extract -> transform -> report",
    ),
]


@pytest.mark.parametrize("case", INVALID, ids=[c.name for c in INVALID])
def test_invalid_dependencies_set_the_condition_and_an_event_and_run_nothing(case: Invalid) -> None:
    ups = {**case.upstreams}
    decision = decide_down(downstream(*case.deps), ups, now=at("12:00"))
    assert condition(decision, "DependenciesValid") == ("False", case.reason)
    assert condition(decision, "Ready") == ("False", "DependenciesInvalid")
    assert [(e.type, e.reason, e.message) for e in decision.events] == [
        ("Warning", f"Dependencies{case.reason}", case.message)
    ]
    assert decision.creates == ()
    # The next decision in the same state posts no second Event.
    again = decide_down(downstream(*case.deps), ups, now=at("12:01"), status=decision.status)
    assert again.events == ()


def test_an_upstream_in_the_same_namespace_named_by_the_namespace_field_is_valid() -> None:
    decision = decide_down(
        downstream({"name": "extract", "namespace": "default"}), {"extract": runs(("10:00", OK))}, now=at("12:00")
    )
    assert condition(decision, "DependenciesValid") == ("True", "Valid")
    assert len(decision.creates) == 1


def test_a_deleted_upstream_stops_the_downstream_with_the_condition_and_resumes_where_it_was() -> None:
    subject = downstream("extract")
    first = decide_down(subject, {"extract": runs(("10:00", OK))}, now=at("12:00"))
    gone = decide_down(subject, {}, now=at("12:01"), status=first.status)
    assert condition(gone, "DependenciesValid") == ("False", "UpstreamMissing")
    assert gone.status.upstreamThrough == at("10:00")
    back = decide_down(subject, {"extract": runs(("10:00", OK), ("13:00", OK))}, now=at("13:30"), status=gone.status)
    assert [c.slot for c in back.creates] == [at("13:00")]
    assert condition(back, "DependenciesValid") == ("True", "Valid")


def test_no_upstreams_given_means_every_upstream_is_missing() -> None:
    decision = decide(downstream("extract"), status=ScheduledJobStatus(), jobs=[], now=at("12:00"))
    assert condition(decision, "DependenciesValid") == ("False", "UpstreamMissing")


def test_a_spec_with_neither_schedule_nor_depends_on_is_invalid_with_a_clear_message() -> None:
    with pytest.raises(SpecError, match=r"set spec.schedule .* or spec.dependsOn to run after upstream"):
        parse_spec({"jobTemplate": TEMPLATE})


def test_a_bad_depends_on_window_is_a_spec_error() -> None:
    subject = downstream("extract", schedule="0 * * * *", dependsOnWindow="soon")
    with pytest.raises(SpecError, match="dependsOnWindow"):
        decide_down(subject, {"extract": runs()}, now=at("12:00"))


def test_a_schedule_without_depends_on_has_no_dependencies_condition() -> None:
    decision = decide(make_subject(), status=ScheduledJobStatus(), jobs=[], now=at("12:00"))
    assert all(c.type != "DependenciesValid" for c in decision.status.conditions)


# -- downstream with a schedule: slots wait for their upstreams ------------------------------------


def hourly(*deps: Any, **fields: Any) -> Subject:
    return downstream(*deps, schedule="0 * * * *", **fields)


THROUGH_11 = ScheduledJobStatus(scheduledThrough=at("11:00"))


def test_a_slot_starts_when_every_upstream_succeeded_within_the_window() -> None:
    ups = {"extract": runs(("11:30", OK)), "load": runs(("11:10", OK))}
    decision = decide_down(hourly("extract", "load"), ups, now=at("12:00"), status=THROUGH_11)
    assert [(c.slot, c.trigger) for c in decision.creates] == [(at("12:00"), Trigger.SCHEDULE)]


def test_a_slot_waits_in_the_queue_while_an_upstream_has_not_run_and_starts_once_it_succeeds() -> None:
    subject = hourly("extract")
    waiting = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("12:00"), status=THROUGH_11)
    assert waiting.creates == ()
    assert [(q.scheduledTime, q.reason) for q in waiting.status.queued] == [(at("12:00"), "WaitingForUpstream")]
    assert waiting.wake_at == at("13:00")  # no deadline: the next slot; the runtime wakes it on upstream change
    still = decide_down(subject, {"extract": runs(("12:00", RUN))}, now=at("12:05"), status=waiting.status)
    assert still.creates == () and len(still.status.queued) == 1
    assert still.events == ()  # no second SlotQueued Event for the same waiting slot
    started = decide_down(subject, {"extract": runs(("12:00", OK))}, now=at("12:10"), status=still.status)
    assert [(c.slot, c.trigger) for c in started.creates] == [(at("12:00"), Trigger.SCHEDULE)]
    assert started.status.queued == []


def test_a_waiting_slot_past_starting_deadline_is_missed() -> None:
    subject = hourly("extract", startingDeadlineSeconds=300)
    waiting = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("12:00"), status=THROUGH_11)
    assert waiting.wake_at == at("12:05") + timedelta(milliseconds=1)
    late = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("12:06"), status=waiting.status)
    assert [(r.result, r.reason) for r in late.records] == [(Result.MISSED, "DeadlineExceeded")]
    assert late.status.queued == []


def test_a_slot_whose_upstream_failed_in_the_window_waits_until_the_upstream_decided_past_the_slot() -> None:
    failed = UpstreamView(runs=(UpstreamRun(at("11:30"), FAIL),))
    waiting = decide_down(hourly("extract"), {"extract": failed}, now=at("12:00"), status=THROUGH_11)
    assert len(waiting.status.queued) == 1  # a run at 12:00 may still come (the upstream decides it next)


def test_a_slot_whose_upstream_failed_in_the_window_and_settled_is_skipped() -> None:
    failed = UpstreamView(runs=(UpstreamRun(at("11:30"), FAIL),), through=at("12:00"))
    decision = decide_down(hourly("extract"), {"extract": failed}, now=at("12:00"), status=THROUGH_11)
    assert decision.status.queued == []
    assert [(r.result, r.reason) for r in decision.records] == [(Result.SKIPPED, "UpstreamNotSucceeded")]


def test_an_upstream_success_older_than_the_window_does_not_count() -> None:
    decision = decide_down(hourly("extract"), {"extract": runs(("10:30", OK))}, now=at("12:00"), status=THROUGH_11)
    assert decision.creates == ()
    assert len(decision.status.queued) == 1


def test_depends_on_window_widens_the_window() -> None:
    subject = hourly("extract", dependsOnWindow="2h")
    decision = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("12:00"), status=THROUGH_11)
    assert [c.slot for c in decision.creates] == [at("12:00")]


def test_waiting_slots_beyond_max_queued_are_dropped() -> None:
    subject = hourly("extract")
    first = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("12:00"), status=THROUGH_11)
    second = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("13:00"), status=first.status)
    assert [(r.scheduledTime, r.result, r.reason) for r in second.records] == [
        (at("13:00"), Result.DROPPED, "QueueFull")
    ]
    assert [q.scheduledTime for q in second.status.queued] == [at("12:00")]


def test_a_waiting_slot_does_not_make_forbid_skip_a_manual_run() -> None:
    subject = make_subject(
        parse_spec(
            {
                "jobTemplate": TEMPLATE,
                "schedule": "0 * * * *",
                "dependsOn": [{"name": "extract"}],
                "concurrencyPolicy": "Forbid",
            }
        ),
        creation=CREATED,
        run_request="tok",
    )
    waiting = QueuedSlot(
        scheduledTime=at("12:00"),
        trigger=Trigger.SCHEDULE,
        job="report-x",
        queuedAt=at("12:00"),
        dueTime=at("12:00"),
        reason="WaitingForUpstream",
    )
    status = ScheduledJobStatus(scheduledThrough=at("12:00"), queued=[waiting])
    decision = decide_down(subject, {"extract": runs(("10:30", OK))}, now=at("12:10"), status=status)
    assert [c.trigger for c in decision.creates] == [Trigger.MANUAL]


# -- reading an upstream's body --------------------------------------------------------------------


def test_view_of_reads_history_queue_and_depends_on_and_skips_unreadable_records() -> None:
    body = {
        "spec": {"dependsOn": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "history": [
                {"job": "x-1", "scheduledTime": "2026-01-05T10:00:00Z", "result": "Succeeded"},
                {"job": "x-2", "scheduledTime": "2026-01-05T11:00:00Z", "result": "Nonsense"},
                {"job": "x-3"},
            ],
            "queued": [{"scheduledTime": "2026-01-05T12:00:00Z"}],
            "scheduledThrough": "2026-01-05T11:00:00Z",
        },
    }
    assert view_of(body) == UpstreamView(
        runs=(UpstreamRun(at("10:00"), OK),), pending=(at("12:00"),), depends_on=("a", "b"), through=at("11:00")
    )
