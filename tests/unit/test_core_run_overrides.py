"""decide() and a run on demand's overrides (kubectl sj run --env/--arg/--image): table tests. Pure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from unit_support import (
    TEMPLATE,
    active_job,
    at,
    decide_at,
    history_of,
    make_status,
    make_subject,
    manual_name,
    slot_name,
)

from punctual.api import Overrides, Result, Trigger
from punctual.core import Subject, subject_from_body
from punctual.core.run_request import INVALID_RUN_OVERRIDES, RunOverrides, encode
from punctual.jobs import ANNOTATION_RUN_OVERRIDES, ANNOTATION_RUN_REQUEST, JobPhase, ObservedJob, job_image

TOKEN = "2026-01-05T10:10:00.000000001Z"
NOW = at("10:10")
JOB = manual_name(TOKEN)
OVERRIDES = RunOverrides(token=TOKEN, env=(("DAY", "2026-01-04"),), args=("--full",), image="busybox:1.37")
RECORD = Overrides(env=["DAY=2026-01-04"], args=["--full"], image="busybox:1.37")
TWO_CONTAINERS = {
    "spec": {
        "template": {
            "spec": {
                "restartPolicy": "Never",
                "containers": [
                    {"name": "main", "image": "busybox:1.36", "command": ["date"]},
                    {"name": "side", "image": "envoy:1"},
                ],
            }
        }
    }
}


def subject(
    overrides: RunOverrides | None = OVERRIDES, *, error: str | None = None, token: str | None = TOKEN, **spec: Any
) -> Subject:
    base = make_subject(run_request=token, **spec)
    return dataclasses.replace(base, run_overrides=overrides, run_overrides_error=error)


def main_container(manifest: Any) -> Any:
    return manifest["spec"]["template"]["spec"]["containers"][0]


@dataclass(frozen=True)
class Refused:
    name: str
    subject: Subject
    message: str
    jobs: tuple[ObservedJob, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)


REFUSED = [
    Refused(
        "undecodable overrides",
        subject(None, error="the run overrides are not a JSON object {...}"),
        "the run overrides are not a JSON object {...}",
    ),
    Refused(
        "overrides of another request (a stale annotation)",
        subject(dataclasses.replace(OVERRIDES, token="2026-01-04T09:00:00Z")),
        f"the run overrides are for run request 2026-01-04T09:00:00Z, not for this one ({TOKEN})",
    ),
    Refused(
        "a container the jobTemplate does not have",
        subject(dataclasses.replace(OVERRIDES, container="sidecar")),
        "container 'sidecar' is not in the jobTemplate (its containers: main)",
    ),
    Refused(
        "invalid overrides, a run active, Queue: refused, not queued",
        subject(None, error="env name '1X' must be a C identifier", concurrencyPolicy="Queue"),
        "env name '1X' must be a C identifier",
        jobs=(active_job(at("10:00")),),
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_invalid_overrides_refuse_the_run_request(case: Refused) -> None:
    status = make_status(through=at("10:00"), jobs=case.jobs)
    decision = decide_at(case.subject, NOW, status=status, jobs=case.jobs)
    assert not decision.creates and not decision.status.queued
    assert decision.status.lastHandledRunRequest == TOKEN  # handled: never retried, never run later
    record = history_of(decision)[JOB]
    message = f"run request {TOKEN} refused: {case.message}; nothing was run"
    assert (record.trigger, record.result, record.reason, record.message) == (
        Trigger.MANUAL,
        Result.SKIPPED,
        INVALID_RUN_OVERRIDES,
        message,
    )
    warnings = [(e.type, e.reason, e.message) for e in decision.events if e.reason == INVALID_RUN_OVERRIDES]
    assert warnings == [("Warning", INVALID_RUN_OVERRIDES, message)]
    assert decision.status.counts.get("Skipped") == 1


def test_a_handled_request_is_not_refused_again() -> None:
    status = make_status(through=at("10:00"), lastHandledRunRequest=TOKEN)
    decision = decide_at(subject(None, error="bad"), NOW, status=status)
    assert not decision.creates and JOB not in history_of(decision) and not decision.events


@pytest.mark.parametrize(
    ("policy", "jobs"),
    [("Forbid", ()), ("Allow", (active_job(at("10:00")),)), ("Replace", (active_job(at("10:00")),))],
    ids=["nothing active, Forbid", "a run active, Allow", "a run active, Replace"],
)
def test_a_run_with_overrides_starts_with_them_applied_and_recorded(policy: str, jobs: tuple[ObservedJob, ...]) -> None:
    status = make_status(through=at("10:00"), jobs=jobs)
    decision = decide_at(subject(concurrencyPolicy=policy), NOW, status=status, jobs=jobs)
    [create] = decision.creates
    assert (create.name, create.trigger, create.overrides) == (JOB, Trigger.MANUAL, RECORD)
    main = main_container(create.manifest)
    assert main["image"] == "busybox:1.37" and main["args"] == ["--full"]
    assert {"name": "DAY", "value": "2026-01-04"} in main["env"]
    assert create.manifest["metadata"]["annotations"][ANNOTATION_RUN_OVERRIDES] == RECORD.model_dump_json(
        exclude_none=True
    )
    record = history_of(decision)[JOB]
    assert (record.result, record.overrides) == (Result.RUNNING, RECORD)


def test_a_scheduled_slot_of_the_same_decision_runs_without_them() -> None:
    status = make_status(through=at("09:30"))
    decision = decide_at(subject(concurrencyPolicy="Allow"), at("10:00:30"), status=status)
    by_name = {c.name: c for c in decision.creates}
    assert set(by_name) == {slot_name(at("10:00")), manual_name(TOKEN)}
    assert by_name[slot_name(at("10:00"))].overrides is None
    assert main_container(by_name[slot_name(at("10:00"))].manifest)["image"] == "busybox:1.36"
    assert history_of(decision)[slot_name(at("10:00"))].overrides is None


def test_a_queued_run_keeps_its_overrides_and_starts_with_them() -> None:
    running = (active_job(at("10:00")),)
    first = decide_at(
        subject(concurrencyPolicy="Queue"), NOW, status=make_status(through=at("10:00"), jobs=running), jobs=running
    )
    assert not first.creates
    [waiting] = first.status.queued
    assert (waiting.job, waiting.trigger, waiting.overrides) == (JOB, Trigger.MANUAL, RECORD)
    # Through a status write and read (the operator restarts in between): the overrides survive.
    status = type(first.status).model_validate(first.status.model_dump(mode="json"))
    done = ObservedJob(
        name=slot_name(at("10:00")),
        scheduled_time=at("10:00"),
        trigger=Trigger.SCHEDULE,
        phase=JobPhase.SUCCEEDED,
        created=at("10:00"),
        start_time=at("10:00"),
        completion_time=at("10:20"),
        reason="Completed",
        exit_code=0,
    )
    # The request annotations are still there (handled); the overrides of the queue apply, not theirs.
    later = decide_at(subject(None, concurrencyPolicy="Queue"), at("10:20"), status=status, jobs=(done,))
    [create] = later.creates
    assert (create.name, create.overrides) == (JOB, RECORD)
    assert main_container(create.manifest)["image"] == "busybox:1.37"
    assert history_of(later)[JOB].overrides == RECORD


def test_a_queued_run_whose_container_is_gone_when_it_starts_is_refused() -> None:
    spec = {"concurrencyPolicy": "Queue", "jobTemplate": TWO_CONTAINERS}
    running = (active_job(at("10:00")),)
    one = dataclasses.replace(OVERRIDES, container="side")
    first = decide_at(subject(one, **spec), NOW, status=make_status(through=at("10:00"), jobs=running), jobs=running)
    assert [q.overrides for q in first.status.queued] == [Overrides(**{**RECORD.model_dump(), "container": "side"})]
    done = dataclasses.replace(
        running[0], phase=JobPhase.SUCCEEDED, completion_time=at("10:20"), reason="Completed", exit_code=0
    )
    # The jobTemplate lost its sidecar while the run waited.
    later = decide_at(subject(None, concurrencyPolicy="Queue"), at("10:20"), status=first.status, jobs=(done,))
    assert not later.creates and not later.status.queued
    record = history_of(later)[JOB]
    assert (record.result, record.reason) == (Result.SKIPPED, INVALID_RUN_OVERRIDES)
    assert (
        record.message
        == f"queued run {JOB} not started: container 'side' is not in the jobTemplate (its containers: main)"
    )
    assert any(e.type == "Warning" and e.reason == INVALID_RUN_OVERRIDES for e in later.events)


RUNNING_WITH_OVERRIDES = ObservedJob(
    name=JOB,
    scheduled_time=NOW,
    trigger=Trigger.MANUAL,
    phase=JobPhase.ACTIVE,
    created=NOW,
    start_time=NOW,
    overrides=RECORD,
)
"""The manual run's Job, running, with the overrides recorded in its annotation."""


def test_a_replaced_run_keeps_its_overrides_in_its_record() -> None:
    manual = RUNNING_WITH_OVERRIDES
    status = make_status(through=at("10:00"), jobs=(manual,))
    status.history[0] = status.history[0].model_copy(update={"overrides": RECORD})
    decision = decide_at(
        subject(None, token=None, concurrencyPolicy="Replace"), at("10:30:01"), status=status, jobs=(manual,)
    )
    assert [d.name for d in decision.deletes] == [JOB]
    assert history_of(decision)[JOB].result is Result.REPLACED
    assert history_of(decision)[JOB].overrides == RECORD


def test_a_lost_status_is_rebuilt_with_the_overrides_from_the_job() -> None:
    manual = RUNNING_WITH_OVERRIDES
    decision = decide_at(subject(None, token=None), at("10:11"), status=make_status(through=None), jobs=(manual,))
    assert history_of(decision)[JOB].overrides == RECORD
    assert JOB not in {c.name for c in decision.creates}  # adopted, never created twice


def test_a_record_stays_the_same_while_its_job_runs() -> None:
    """The Job's annotation reads back as the record's overrides: no status write per decision."""
    first = decide_at(subject(), NOW, status=make_status(through=at("10:00")))
    [create] = first.creates
    observed = ObservedJob(
        name=JOB,
        scheduled_time=NOW,
        trigger=Trigger.MANUAL,
        phase=JobPhase.ACTIVE,
        created=NOW,
        start_time=NOW,
        image=job_image(create.manifest),  # the Job's, as observe_job reads it
        overrides=Overrides.model_validate_json(create.manifest["metadata"]["annotations"][ANNOTATION_RUN_OVERRIDES]),
    )
    again = decide_at(subject(), at("10:11"), status=first.status, jobs=(observed,))
    assert again.status.history == first.status.history and not again.records


def test_the_subject_carries_the_parsed_annotation() -> None:
    body: Any = {
        "metadata": {
            "name": "report",
            "namespace": "default",
            "annotations": {ANNOTATION_RUN_REQUEST: TOKEN, ANNOTATION_RUN_OVERRIDES: encode(OVERRIDES)},
        },
        "spec": {"schedule": "*/30 * * * *", "jobTemplate": TEMPLATE},
    }
    parsed = subject_from_body(body, now=NOW)
    assert (parsed.run_request, parsed.run_overrides, parsed.run_overrides_error) == (TOKEN, OVERRIDES, None)
    body["metadata"]["annotations"][ANNOTATION_RUN_OVERRIDES] = '{"token": 1}'
    broken = subject_from_body(body, now=NOW)
    assert (broken.run_overrides, broken.run_overrides_error) == (None, "the run overrides have no token")
    del body["metadata"]["annotations"][ANNOTATION_RUN_OVERRIDES]
    assert subject_from_body(body, now=NOW).run_overrides is None
