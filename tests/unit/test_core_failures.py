"""``after_create_failures``: the Jobs the API refused to create, recorded by the core (table-driven).

The operator used to correct the decision itself; these rows are what that correction did, now a
pure function of (decision, failures, now).
"""

from __future__ import annotations

import pytest
from unit_support import active_job, at, decide_at, make_status, make_subject, manual_name, slot_name

from punctual.api import Result
from punctual.core import Decision, after_create_failures

NOW = at("10:30")
TAKEN = "a Job named {} exists and is not owned by this ScheduledJob"


def decision(**spec: str) -> Decision:
    return decide_at(make_subject(**spec), NOW, status=make_status(through=at("10:00")))


def two_runs() -> Decision:
    """A manual run request and the 10:30 slot, both started (Allow), so one can fail alone."""
    subject = make_subject(concurrencyPolicy="Allow", run_request="r1")
    return decide_at(subject, NOW, status=make_status(through=at("10:00")))


CASES: list[tuple[str, object, dict[str, str]]] = [
    ("no failures: the decision as it was", decision, {}),
    ("the slot's Job name is taken", decision, {slot_name(at("10:30")): TAKEN.format(slot_name(at("10:30")))}),
    ("a quota refuses the Job", decision, {slot_name(at("10:30")): "exceeded quota: jobs"}),
    ("one of two runs refused", two_runs, {manual_name("r1"): "denied by an admission webhook"}),
]


@pytest.mark.parametrize(("make", "failures"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused_creates_are_recorded_as_never_started(make, failures: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    before: Decision = make()
    after = after_create_failures(before, failures, now=NOW)
    if not failures:
        assert after is before
        return
    records = {r.job: r for r in after.status.history}
    for job, why in failures.items():
        record = records[job]
        assert (record.result, record.reason, record.message, record.completionTime) == (
            Result.FAILED,
            "JobCreateFailed",
            why,
            NOW,
        )
        assert job not in {a.name for a in after.status.active}
        assert not [e for e in after.events if e.reason == "RunStarted" and e.job == job]
        assert ("Warning", "JobCreateFailed", f"cannot create Job {job}: {why}") in [
            (e.type, e.reason, e.message) for e in after.events
        ]
    started = [c.name for c in before.creates if c.name not in failures]
    assert [e.job for e in after.events if e.reason == "RunStarted"] == started, "the others still announced"
    assert after.status.activeCount == len(after.status.active) == len(started)
    # Counted as failed, not as started.
    running, failed = (before.status.counts.get(k.value, 0) for k in (Result.RUNNING, Result.FAILED))
    assert after.status.counts.get(Result.RUNNING.value, 0) == running - len(failures)
    assert after.status.counts.get(Result.FAILED.value, 0) == failed + len(failures)
    ready = next(c for c in after.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason, ready.message, ready.lastTransitionTime) == (
        "False",
        "JobCreateFailed",
        next(iter(failures.values())),
        NOW,
    )
    assert after.creates == before.creates and after.deletes == before.deletes and after.wake_at == before.wake_at
    assert before.status.history == make().status.history, "the decision given is left alone"


def test_an_active_run_elsewhere_is_kept() -> None:
    now = NOW
    status = make_status(through=at("10:00"), jobs=[active_job(at("10:00"))])
    before = decide_at(make_subject(concurrencyPolicy="Allow"), now, status=status, jobs=[active_job(at("10:00"))])
    after = after_create_failures(before, {slot_name(at("10:30")): "denied"}, now=now)
    assert [a.name for a in after.status.active] == [slot_name(at("10:00"))]
