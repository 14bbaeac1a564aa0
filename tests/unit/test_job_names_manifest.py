"""Job names (deterministic, at most 63 characters, unique) and the batch/v1 Job manifest."""

from __future__ import annotations

import re
import zlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from unit_support import TEMPLATE, make_spec

from punctual.api import Trigger, parse_time
from punctual.jobs import (
    ANNOTATION_SCHEDULED_TIME,
    LABEL_BUCKET,
    LABEL_SCHEDULED_JOB,
    LABEL_TRIGGER,
    JobPhase,
    Owner,
    build_job,
    job_phase,
    label_value,
    manual_job_name,
    observe_job,
    slim_job,
    slim_pod,
    slot_job_name,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SLOT = datetime(2026, 1, 5, 10, 30, 15, tzinfo=UTC)
OWNER = Owner(namespace="team-a", name="nightly-report", uid="0f6a-uid")
BUCKET = str(zlib.crc32(b"team-a/nightly-report") % 256)  # the owner's bucket, as the shards select it


def test_slot_job_name_uses_epoch_minutes_or_seconds() -> None:
    epoch = int(SLOT.timestamp())
    assert slot_job_name("report", SLOT, seconds=False) == f"report-{epoch // 60}"
    assert slot_job_name("report", SLOT, seconds=True) == f"report-{epoch}"
    # Deterministic: the same slot always gives the same name.
    assert slot_job_name("report", SLOT, seconds=False) == slot_job_name("report", SLOT, seconds=False)


LONG_NAMES = ["a" * 63, "b" * 100, "x" * 253, "very-long-" * 25, "a" * 52 + "-" + "b" * 200]


@pytest.mark.parametrize("name", LONG_NAMES, ids=[f"{len(n)} chars" for n in LONG_NAMES])
@pytest.mark.parametrize("seconds", [False, True], ids=["minutes", "seconds"])
def test_long_names_fit_63_characters_and_stay_valid(name: str, seconds: bool) -> None:
    job = slot_job_name(name, SLOT, seconds=seconds)
    assert len(job) <= 63
    assert DNS_LABEL.match(job), job
    manual = manual_job_name(name, "token")
    assert len(manual) <= 63 and DNS_LABEL.match(manual), manual
    label = label_value(name)
    assert len(label) <= 63 and DNS_LABEL.match(label), label


def test_long_names_differing_only_at_the_end_stay_unique() -> None:
    names = ["x" * 240 + f"-{i:03d}" for i in range(50)] + ["y" * 253, "y" * 252 + "z"]
    jobs = {slot_job_name(n, SLOT, seconds=False) for n in names}
    labels = {label_value(n) for n in names}
    manuals = {manual_job_name(n, "tok") for n in names}
    assert len(jobs) == len(labels) == len(manuals) == len(names)


def test_short_names_are_kept_readable() -> None:
    assert label_value("report") == "report"
    assert slot_job_name("report", SLOT, seconds=False).startswith("report-")
    assert label_value("a" * 64) != label_value("a" * 65)
    assert len(label_value("a" * 64)) <= 63


def test_manual_job_name_is_deterministic_per_token() -> None:
    assert manual_job_name("report", "t1") == manual_job_name("report", "t1")
    assert manual_job_name("report", "t1") != manual_job_name("report", "t2")
    assert manual_job_name("report", "t1") != manual_job_name("other", "t1")
    assert DNS_LABEL.match(manual_job_name("report", "2026-01-05T10:10:00Z"))


def manifest(trigger: Trigger = Trigger.SCHEDULE, template: dict | None = None) -> dict:  # type: ignore[type-arg]
    spec = make_spec(
        schedule="*/30 * * * *",
        jobTemplate=template
        or {
            "metadata": {"labels": {"team": "a"}, "annotations": {"note": "n"}},
            "spec": {
                "backoffLimit": 2,
                "template": {
                    "metadata": {"labels": {"app": "report"}},
                    "spec": {
                        "restartPolicy": "Never",
                        "initContainers": [{"name": "init", "image": "busybox"}],
                        "containers": [
                            {
                                "name": "main",
                                "image": "busybox:1.36",
                                "env": [{"name": "KEEP", "value": "1"}, {"name": "PUNCTUAL_RUN", "value": "stale"}],
                            },
                            {"name": "side", "image": "busybox:1.36"},
                        ],
                    },
                },
            },
        },
    )
    name = slot_job_name(OWNER.name, SLOT, seconds=True)
    return build_job(OWNER, spec, job_name=name, slot=SLOT, trigger=trigger)


def test_job_manifest_labels_annotation_and_owner() -> None:
    job = manifest()
    meta = job["metadata"]
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert meta["name"] == slot_job_name(OWNER.name, SLOT, seconds=True)
    assert meta["namespace"] == "team-a"
    ours = {LABEL_SCHEDULED_JOB: "nightly-report", LABEL_TRIGGER: "schedule", LABEL_BUCKET: BUCKET}
    assert meta["labels"] == {"team": "a", **ours}
    assert meta["annotations"] == {"note": "n", ANNOTATION_SCHEDULED_TIME: "2026-01-05T10:30:15Z"}
    assert parse_time(meta["annotations"][ANNOTATION_SCHEDULED_TIME]) == SLOT
    (owner,) = meta["ownerReferences"]
    assert owner == {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "name": "nightly-report",
        "uid": "0f6a-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels == {"app": "report", **ours}
    assert job["spec"]["backoffLimit"] == 2


@pytest.mark.parametrize("trigger", list(Trigger))
def test_job_manifest_env_in_every_container(trigger: Trigger) -> None:
    job = manifest(trigger)
    pod = job["spec"]["template"]["spec"]
    containers = pod["initContainers"] + pod["containers"]
    assert len(containers) == 3
    for container in containers:
        env = {e["name"]: e["value"] for e in container["env"]}
        assert env["PUNCTUAL_SCHEDULED_TIME"] == "2026-01-05T10:30:15Z"
        assert env["PUNCTUAL_TRIGGER"] == trigger.value
        assert env["PUNCTUAL_RUN"] == job["metadata"]["name"]
        assert [e["name"] for e in container["env"]].count("PUNCTUAL_RUN") == 1
    assert {e["name"]: e["value"] for e in pod["containers"][0]["env"]}["KEEP"] == "1"
    assert job["metadata"]["labels"][LABEL_TRIGGER] == trigger.value


def test_build_job_does_not_mutate_the_template() -> None:
    spec = make_spec(jobTemplate=TEMPLATE)
    before = spec.model_dump()
    build_job(OWNER, spec, job_name="x-1", slot=SLOT, trigger=Trigger.SCHEDULE)
    assert spec.model_dump() == before
    assert "env" not in TEMPLATE["spec"]["template"]["spec"]["containers"][0]


def test_long_owner_name_label_fits() -> None:
    owner = Owner(namespace="ns", name="n" * 253, uid="u")
    spec = make_spec()
    job = build_job(
        owner, spec, job_name=slot_job_name(owner.name, SLOT, seconds=False), slot=SLOT, trigger=Trigger.SCHEDULE
    )
    assert len(job["metadata"]["labels"][LABEL_SCHEDULED_JOB]) <= 63
    assert len(job["metadata"]["name"]) <= 63


def test_observe_job_reads_the_manifest_back() -> None:
    job = manifest(Trigger.CATCHUP)
    job["status"] = {
        "startTime": "2026-01-05T10:30:16Z",
        "completionTime": "2026-01-05T10:40:00Z",
        "conditions": [{"type": "Complete", "status": "True"}],
    }
    pods = [
        {
            "metadata": {"creationTimestamp": "2026-01-05T10:30:16Z"},
            "status": {"containerStatuses": [{"imageID": "sha", "state": {"terminated": {"exitCode": 0}}}]},
        }
    ]
    seen = observe_job(job, pods)
    assert seen is not None
    assert (seen.scheduled_time, seen.trigger, seen.phase) == (SLOT, Trigger.CATCHUP, JobPhase.SUCCEEDED)
    assert (seen.exit_code, seen.image_id, seen.image) == (0, "sha", "busybox:1.36")
    assert observe_job({"metadata": {"name": "not-ours"}}) is None


_TIMES = st.sampled_from([None, "2026-01-05T10:30:16Z", "2026-01-05T10:40:00Z"])
_CONDITIONS = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["Complete", "SuccessCriteriaMet", "Failed", "FailureTarget", "Suspended"]),
            "status": st.sampled_from(["True", "False"]),
            "reason": st.sampled_from(["BackoffLimitExceeded", "DeadlineExceeded", "Completed"]),
            "message": st.text(max_size=5),
            "lastTransitionTime": _TIMES.filter(lambda t: t is not None),
        }
    ),
    max_size=3,
)
_CONTAINER_STATUS = st.fixed_dictionaries(
    {"imageID": st.sampled_from(["", "sha256:a"]), "image": st.just("busybox")},
    optional={
        "state": st.sampled_from([{}, {"running": {}}, {"terminated": {"exitCode": 3, "reason": "Error"}}]),
        "lastState": st.sampled_from([{}, {"terminated": {"exitCode": 1}}]),
    },
)


@given(
    trigger=st.sampled_from(list(Trigger)),
    start=_TIMES,
    completion=_TIMES,
    conditions=_CONDITIONS,
    deleting=st.booleans(),
    pods=st.lists(
        st.tuples(_TIMES, st.lists(_CONTAINER_STATUS, max_size=2), st.sampled_from(["Running", "Succeeded"])),
        max_size=3,
    ),
)
def test_the_slim_copies_the_cache_keeps_read_the_same(
    trigger: Trigger, start: str | None, completion: str | None, conditions: list, deleting: bool, pods: list  # type: ignore[type-arg]
) -> None:
    """The operator caches slim_job/slim_pod copies: observe_job must not see a difference."""
    job = manifest(trigger)
    job["metadata"].update(uid="u1", resourceVersion="7", creationTimestamp="2026-01-05T10:30:15Z", generation=1)
    job["metadata"]["managedFields"] = [{"manager": "kube-controller-manager"}]
    if deleting:
        job["metadata"]["deletionTimestamp"] = "2026-01-05T10:41:00Z"
    job["status"] = {k: v for k, v in (("startTime", start), ("completionTime", completion)) if v}
    job["status"]["conditions"] = conditions
    bodies = [
        {
            "metadata": {"name": f"p{i}", "creationTimestamp": created, "labels": {"job-name": "j"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": phase, "containerStatuses": statuses, "podIP": "10.0.0.1"},
        }
        for i, (created, statuses, phase) in enumerate(pods)
    ]
    full = observe_job(job, bodies)
    slim = observe_job(slim_job(job), [slim_pod(p) for p in bodies])
    assert slim == full
    # The cache's cheap phase (whether a Job event wakes its ScheduledJob) is observe_job's.
    assert job_phase(job) == job_phase(slim_job(job)) == (full.phase if full else None)
    assert "managedFields" not in slim_job(job)["metadata"]
    assert "podIP" not in slim_pod(bodies[0])["status"] if bodies else True
