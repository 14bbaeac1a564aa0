"""``decide`` is pure: it never changes the status, Jobs or subject it is given (it copies shallowly)."""

import pytest
from unit_support import active_job, at, decide_at, done_job, make_status, make_subject, queued

from punctual.api import Trigger
from punctual.core import decide_invalid

CASES = [
    ("Forbid, a run active, slot due", {"concurrencyPolicy": "Forbid"}, [active_job(at("10:00"))], [], at("10:30")),
    (
        "Queue, run ended, queue drains",
        {"concurrencyPolicy": "Queue"},
        [done_job(at("10:00"), finished=at("10:35"))],
        [queued(at("10:30"))],
        at("10:40"),
    ),
    ("Replace, a run active", {"concurrencyPolicy": "Replace"}, [active_job(at("10:00"))], [], at("10:30")),
    ("catchUp All after an outage", {"catchUp": "All", "concurrencyPolicy": "Forbid"}, [], [], at("12:10")),
    ("a long outage, aggregated Missed", {"catchUp": "None"}, [], [], at("23:10")),
]


@pytest.mark.parametrize(("spec", "jobs", "queue", "now"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide_leaves_its_inputs_alone(spec: dict[str, str], jobs: list, queue: list, now) -> None:  # type: ignore[no-untyped-def]
    subject = make_subject(**spec)
    status = make_status(through=at("10:00"), jobs=jobs, queue=queue)
    before = status.model_dump(mode="json")
    jobs_before = list(jobs)
    first = decide_at(subject, now, status=status, jobs=jobs)
    assert status.model_dump(mode="json") == before
    assert jobs == jobs_before
    again = decide_at(subject, now, status=status, jobs=jobs)  # same inputs, same answer
    assert again.status.model_dump(mode="json") == first.status.model_dump(mode="json")
    assert [c.name for c in again.creates] == [c.name for c in first.creates]


def test_decide_invalid_leaves_status_alone() -> None:
    status = make_status(through=at("10:00"), jobs=[active_job(at("10:00"), trigger=Trigger.SCHEDULE)])
    before = status.model_dump(mode="json")
    decide_invalid(1, status=status, error="bad cron", now=at("10:30"))
    assert status.model_dump(mode="json") == before
