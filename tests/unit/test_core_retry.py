"""Retrying a failed slot after a delay (``spec.retry``), decided by the pure core.

A ScheduledJob ``*/30 * * * *`` with ``retry: {limit: 2, delay: 5m, backoff: 2}``. A small cluster
stand-in keeps the Jobs each decision creates (read back from their manifests with ``observe_job``,
so the attempt annotations travel as they do on a server); each test finishes Jobs and decides again.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from unit_support import at, make_spec, make_status, make_subject, slot_name

from punctual.api import ConcurrencyPolicy, Result, RetryPolicy, ScheduledJobStatus, Trigger
from punctual.core import Decision, Subject, decide, schedule_fingerprint
from punctual.core.retry import retry_delay
from punctual.jobs import ANNOTATION_ATTEMPT, ANNOTATION_RETRY_OF, JobPhase, ObservedJob, observe_job, retry_job_name

R, S, M = Trigger.RETRY, Trigger.SCHEDULE, Trigger.MANUAL
FIRST = slot_name(at("10:00"))


def subject(**spec: Any) -> Subject:
    fields: dict[str, Any] = {"retry": {"limit": 2, "delay": "5m", "backoff": 2}}
    fields.update(spec)
    return make_subject(make_spec(**fields))


@dataclass
class Cluster:
    """The Jobs that exist; each decision's creates and deletes applied, its status kept."""

    sub: Subject
    status: ScheduledJobStatus
    jobs: dict[str, ObservedJob] = field(default_factory=dict)
    manifests: dict[str, Any] = field(default_factory=dict)

    def decide(self, now: datetime) -> Decision:
        d = decide(self.sub, status=self.status, jobs=list(self.jobs.values()), now=now)
        for delete in d.deletes:
            self.jobs.pop(delete.name, None)
        for create in d.creates:
            observed = observe_job(create.manifest)
            assert observed is not None
            self.jobs[create.name] = replace(observed, created=now, start_time=now)
            self.manifests[create.name] = create.manifest
        self.status = d.status
        return d

    def finish(self, name: str, when: datetime, *, ok: bool) -> None:
        job = self.jobs[name]
        phase = JobPhase.SUCCEEDED if ok else JobPhase.FAILED
        reason = "Completed" if ok else "BackoffLimitExceeded"
        self.jobs[name] = replace(job, phase=phase, completion_time=when, reason=reason, exit_code=0 if ok else 1)


def cluster(sub: Subject) -> Cluster:
    return Cluster(sub, make_status(through=at("09:59"), observedSchedule=schedule_fingerprint(sub.spec)))


def failed_first_run(sub: Subject) -> tuple[Cluster, Decision]:
    """10:00 starts and fails at 10:02; the decision at 10:02 plans its retry."""
    c = cluster(sub)
    c.decide(at("10:00"))
    c.finish(FIRST, at("10:02"), ok=False)
    return c, c.decide(at("10:02"))


def start_manual_run(c: Cluster) -> str:
    """A manual run started at 10:03, still active when the retry is due."""
    c.sub = replace(c.sub, run_request="tok")
    (manual,) = [x.name for x in c.decide(at("10:03")).creates]
    return manual


def created(d: Decision) -> list[tuple[str, datetime, Trigger]]:
    return [(x.name, x.slot, x.trigger) for x in d.creates]


def reasons(d: Decision) -> list[str]:
    return [e.reason for e in d.events]


@pytest.mark.parametrize(
    ("case", "policy", "retry", "wait"),
    [
        ("first retry waits delay", RetryPolicy(delay="5m", backoff=2), 1, timedelta(minutes=5)),
        ("second retry waits delay times backoff", RetryPolicy(delay="5m", backoff=2), 2, timedelta(minutes=10)),
        ("third retry waits delay times backoff squared", RetryPolicy(delay="5m", backoff=2), 3, timedelta(minutes=20)),
        ("backoff 1 waits the same each time", RetryPolicy(delay="90s", backoff=1), 4, timedelta(seconds=90)),
        ("a fractional backoff", RetryPolicy(delay="1m", backoff=1.5), 3, timedelta(seconds=135)),
        ("capped at maxDelay", RetryPolicy(delay="5m", backoff=2, maxDelay="15m"), 3, timedelta(minutes=15)),
        (
            "a huge backoff is capped, never overflows",
            RetryPolicy(delay="1h", backoff=100, limit=100),
            100,
            timedelta(hours=1),
        ),
        ("maxDelay itself is capped at 7 days", RetryPolicy(delay="30d", maxDelay="60d"), 1, timedelta(days=7)),
        ("delay 0 retries at once", RetryPolicy(delay="0s"), 1, timedelta(0)),
    ],
)
def test_retry_delay(case: str, policy: RetryPolicy, retry: int, wait: timedelta) -> None:
    assert retry_delay(policy, retry) == wait, case


def test_a_failed_scheduled_run_is_retried_after_the_delay_with_its_own_job_and_the_same_slot() -> None:
    c, d = failed_first_run(subject())
    retry = retry_job_name(FIRST, 2)
    assert [(p.job, p.retryOf, p.scheduledTime, p.attempt, p.dueTime) for p in d.status.retries] == [
        (retry, FIRST, at("10:00"), 2, at("10:07"))
    ]
    assert d.creates == () and "RetryScheduled" in reasons(d)
    assert d.wake_at == at("10:07")
    assert c.decide(at("10:06")).creates == ()
    started = c.decide(at("10:07"))
    assert created(started) == [(retry, at("10:00"), R)]
    annotations = c.manifests[retry]["metadata"]["annotations"]
    assert (annotations[ANNOTATION_ATTEMPT], annotations[ANNOTATION_RETRY_OF]) == ("2", FIRST)
    env = c.manifests[retry]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PUNCTUAL_ATTEMPT", "value": "2"} in env
    assert started.status.retries == []
    record = next(r for r in started.status.history if r.job == retry)
    assert (record.trigger, record.attempt, record.retryOf, record.result) == (R, 2, FIRST, Result.RUNNING)


def test_the_second_retry_waits_delay_times_backoff_and_then_the_slot_has_had_its_retries() -> None:
    c, _ = failed_first_run(subject())
    second, third = retry_job_name(FIRST, 2), retry_job_name(FIRST, 3)
    c.decide(at("10:07"))
    c.finish(second, at("10:08"), ok=False)
    d = c.decide(at("10:08"))
    assert [(p.job, p.attempt, p.retryOf, p.dueTime) for p in d.status.retries] == [(third, 3, FIRST, at("10:18"))]
    assert created(c.decide(at("10:18"))) == [(third, at("10:00"), R)]
    c.finish(third, at("10:19"), ok=False)
    last = c.decide(at("10:19"))
    assert last.status.retries == [] and "RetriesExhausted" in reasons(last)
    attempts = sorted((r.attempt or 1, r.result) for r in last.status.history if (r.retryOf or r.job) == FIRST)
    assert attempts == [(1, Result.FAILED), (2, Result.FAILED), (3, Result.FAILED)]


def test_a_succeeded_retry_ends_the_slots_retries() -> None:
    c, _ = failed_first_run(subject())
    c.decide(at("10:07"))
    c.finish(retry_job_name(FIRST, 2), at("10:08"), ok=True)
    d = c.decide(at("10:08"))
    assert d.status.retries == [] and d.status.lastResult == "Succeeded"
    assert created(c.decide(at("10:30"))) == [(slot_name(at("10:30")), at("10:30"), S)]


def test_limit_zero_never_retries() -> None:
    _, d = failed_first_run(subject(retry={"limit": 0}))
    assert d.status.retries == [] and "RetriesExhausted" not in reasons(d)


def test_without_spec_retry_nothing_is_retried() -> None:
    _, d = failed_first_run(make_subject(make_spec()))
    assert d.status.retries == [] and "RetryScheduled" not in reasons(d)


def test_a_manual_run_is_not_retried() -> None:
    sub = replace(subject(), run_request="tok")
    c = cluster(sub)
    d = c.decide(at("10:05"))
    (manual,) = [x.name for x in d.creates if x.trigger is M]
    c.finish(manual, at("10:06"), ok=False)
    assert c.decide(at("10:06")).status.retries == []


@pytest.mark.parametrize(
    ("case", "policy", "started_at"),
    [
        ("Allow: a due retry starts beside the active run", ConcurrencyPolicy.ALLOW, at("10:07")),
        ("Forbid: a due retry waits for the active run to end", ConcurrencyPolicy.FORBID, at("10:20")),
        ("Queue: a due retry waits for the active run to end", ConcurrencyPolicy.QUEUE, at("10:20")),
    ],
)
def test_a_due_retry_goes_through_the_concurrency_policy(
    case: str, policy: ConcurrencyPolicy, started_at: datetime
) -> None:
    c, _ = failed_first_run(subject(concurrencyPolicy=policy.value))
    manual = start_manual_run(c)
    retry = retry_job_name(FIRST, 2)
    d = c.decide(at("10:07"))
    if started_at == at("10:07"):
        assert created(d) == [(retry, at("10:00"), R)], case
        return
    assert d.creates == () and [p.reason for p in d.status.retries] == ["WaitingForActiveRun"], case
    c.finish(manual, at("10:20"), ok=True)
    assert created(c.decide(at("10:20"))) == [(retry, at("10:00"), R)], case


def test_allow_with_max_active_a_due_retry_waits_at_the_cap() -> None:
    c, _ = failed_first_run(subject(concurrencyPolicy="Allow", maxActive=1))
    manual = start_manual_run(c)
    retry = retry_job_name(FIRST, 2)
    d = c.decide(at("10:07"))
    assert d.creates == () and [p.reason for p in d.status.retries] == ["MaxActive"]
    c.finish(manual, at("10:20"), ok=True)
    assert created(c.decide(at("10:20"))) == [(retry, at("10:00"), R)]


def test_replace_a_retry_is_superseded_once_a_newer_slot_started() -> None:
    sub = subject(concurrencyPolicy="Replace", retry={"limit": 2, "delay": "40m"})
    c, _ = failed_first_run(sub)
    newer = c.decide(at("10:30"))
    assert created(newer) == [(slot_name(at("10:30")), at("10:30"), S)]
    d = c.decide(at("10:42"))
    retry = retry_job_name(FIRST, 2)
    assert d.creates == () and d.deletes == () and d.status.retries == []
    record = next(r for r in d.status.history if r.job == retry)
    assert (record.result, record.reason, record.attempt, record.retryOf) == (Result.SKIPPED, "Superseded", 2, FIRST)


def test_a_retry_waiting_past_the_starting_deadline_is_missed() -> None:
    c, _ = failed_first_run(subject(concurrencyPolicy="Forbid", startingDeadlineSeconds=60))
    start_manual_run(c)
    assert c.decide(at("10:07")).status.retries[0].reason == "WaitingForActiveRun"
    d = c.decide(at("10:08:01"))
    record = next(r for r in d.status.history if r.job == retry_job_name(FIRST, 2))
    assert (record.result, record.reason) == (Result.MISSED, "DeadlineExceeded")


def test_pause_after_failures_counts_a_slot_once_its_last_attempt_failed() -> None:
    sub = subject(pauseAfterFailures=2, retry={"limit": 1, "delay": "5m"})
    c, d = failed_first_run(sub)
    assert d.status.consecutiveFailures == 0  # the slot has a retry left: not failed yet
    c.decide(at("10:07"))
    c.finish(retry_job_name(FIRST, 2), at("10:08"), ok=False)
    d = c.decide(at("10:08"))
    assert (d.status.consecutiveFailures, d.status.pause) == (1, None)
    c.decide(at("10:30"))
    c.finish(slot_name(at("10:30")), at("10:31"), ok=False)
    assert c.decide(at("10:31")).status.consecutiveFailures == 1  # 10:30 has its retry pending


def test_a_pending_retry_waits_while_suspended() -> None:
    c, _ = failed_first_run(subject())
    c.sub = replace(c.sub, spec=c.sub.spec.model_copy(update={"suspend": True}))
    d = c.decide(at("10:07"))
    assert d.creates == () and [p.reason for p in d.status.retries] == ["Suspended"]
    c.sub = replace(c.sub, spec=c.sub.spec.model_copy(update={"suspend": False}))
    assert created(c.decide(at("10:09"))) == [(retry_job_name(FIRST, 2), at("10:00"), R)]


def test_removing_spec_retry_cancels_the_pending_retries() -> None:
    c, _ = failed_first_run(subject())
    c.sub = replace(c.sub, spec=c.sub.spec.model_copy(update={"retry": None}))
    d = c.decide(at("10:07"))
    assert d.creates == () and d.status.retries == [] and "RetryCancelled" in reasons(d)


def test_a_lost_status_is_rebuilt_from_the_jobs_without_running_an_attempt_twice() -> None:
    c, _ = failed_first_run(subject())
    c.decide(at("10:07"))  # the retry runs
    c.status = ScheduledJobStatus()  # lost
    d = c.decide(at("10:08"))
    assert d.creates == () and d.status.retries == []
    record = next(r for r in d.status.history if r.job == retry_job_name(FIRST, 2))
    assert (record.attempt, record.retryOf, record.trigger) == (2, FIRST, R)


def test_a_lost_status_plans_the_retry_of_a_failed_job_again() -> None:
    c, _ = failed_first_run(subject())
    c.status = ScheduledJobStatus()  # lost before the retry started
    d = c.decide(at("10:03"))
    assert [(p.job, p.dueTime) for p in d.status.retries] == [(retry_job_name(FIRST, 2), at("10:07"))]


def test_a_lost_status_does_not_retry_a_failure_again_once_later_jobs_were_created() -> None:
    c, _ = failed_first_run(subject())
    c.decide(at("10:07"))
    c.finish(retry_job_name(FIRST, 2), at("10:08"), ok=True)
    c.decide(at("10:08"))
    c.decide(at("10:30"))
    c.finish(slot_name(at("10:30")), at("10:31"), ok=True)
    del c.jobs[retry_job_name(FIRST, 2)]  # deleted by the history limits meanwhile
    c.status = ScheduledJobStatus()  # lost
    d = c.decide(at("10:32"))
    assert d.creates == () and d.status.retries == []
