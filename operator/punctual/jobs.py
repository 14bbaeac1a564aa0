"""Jobs of a ScheduledJob: deterministic names, the batch/v1 manifest, and reading a Job back. Pure.

A scheduled run's Job name is derived from the ScheduledJob and its slot time, so a crash between
"create Job" and "write status" cannot start the same slot twice: the second create finds the name
taken and the operator adopts its own Job (as CronJob's ``getJobName`` does).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from pydantic import ValidationError

from punctual.api import API_VERSION, KIND, Overrides, ScheduledJobSpec, Trigger, format_time, parse_time
from punctual.bodies import (
    Container,
    ContainerStatus,
    EnvVar,
    Job,
    JobSpec,
    JobStatus,
    ObjectMeta,
    Pod,
    copy_json,
)

__all__ = [
    "ANNOTATION_ATTEMPT",
    "ANNOTATION_BACKFILL_CANCEL",
    "ANNOTATION_BACKFILL_REQUEST",
    "ANNOTATION_DURATION_BUDGET",
    "ANNOTATION_RESUME_REQUEST",
    "ANNOTATION_RETRY_OF",
    "ANNOTATION_RUN_OVERRIDES",
    "ANNOTATION_RUN_REQUEST",
    "ANNOTATION_SCHEDULED_TIME",
    "BUCKETS",
    "LABEL_BUCKET",
    "LABEL_SCHEDULED_JOB",
    "LABEL_TRIGGER",
    "MAX_NAME",
    "RESERVED_ENV",
    "JobPhase",
    "ObservedJob",
    "Owner",
    "bucket_of",
    "buckets_of_shard",
    "build_job",
    "job_image",
    "job_phase",
    "label_value",
    "manual_job_name",
    "observe_job",
    "retry_job_name",
    "slim_job",
    "slim_pod",
    "slot_job_name",
    "watch_selectors",
]

LABEL_SCHEDULED_JOB = "punctual.dev/scheduledjob"
LABEL_TRIGGER = "punctual.dev/trigger"
LABEL_BUCKET = "punctual.dev/bucket"
"""On every Job Punctual creates and its Pod template: the owner's :func:`bucket_of`, in decimal."""
BUCKETS = 256
"""Buckets of the name hash; a shard owns those with ``bucket % shards == shard`` (so at most 256 shards)."""
ANNOTATION_SCHEDULED_TIME = "punctual.dev/scheduled-time"
ANNOTATION_RUN_REQUEST = "punctual.dev/run-requested-at"
ANNOTATION_RUN_OVERRIDES = "punctual.dev/run-overrides"
"""On a ScheduledJob, beside run-requested-at: the request's overrides, JSON with its token
(:mod:`punctual.core.run_request`); on a Job, the overrides it was created with (:class:`Overrides`)."""
ANNOTATION_RESUME_REQUEST = "punctual.dev/resume-requested-at"
ANNOTATION_DURATION_BUDGET = "punctual.dev/duration-budget"
ANNOTATION_BACKFILL_REQUEST = "punctual.dev/backfill-request"
"""A JSON object ``{"token", "from", "to", "parallel"}``: run every slot of the range (kubectl sj backfill)."""
ANNOTATION_BACKFILL_CANCEL = "punctual.dev/backfill-cancel"
"""Comma-separated backfill tokens to cancel (kubectl sj backfill --cancel)."""
ANNOTATION_ATTEMPT = "punctual.dev/attempt"
"""A retry's attempt of its slot (``2`` for the first retry; spec.retry)."""
ANNOTATION_RETRY_OF = "punctual.dev/retry-of"
"""A retry's first attempt (its Job name): the attempts of a slot share it."""
RESERVED_ENV = frozenset({"PUNCTUAL_SCHEDULED_TIME", "PUNCTUAL_TRIGGER", "PUNCTUAL_RUN", "PUNCTUAL_ATTEMPT"})
"""The env vars :func:`build_job` sets in every container: a run's identity, never overridden."""
MAX_NAME = 63  # the Job controller copies the Job name into a pod label value: at most 63 characters


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:5]


def _fit(base: str, suffix: str) -> str:
    """``base-suffix`` within 63 characters; a long base is cut and made unique with a hash."""
    if len(base) + 1 + len(suffix) <= MAX_NAME:
        return f"{base}-{suffix}"
    keep = MAX_NAME - len(suffix) - 1 - 6
    cut = base[:keep].rstrip("-.")
    return f"{cut}-{_short_hash(base)}-{suffix}"


def label_value(name: str) -> str:
    """A ScheduledJob name as a label value (at most 63 characters, cut and hashed if longer)."""
    if len(name) <= MAX_NAME:
        return name
    return f"{name[: MAX_NAME - 6].rstrip('-.')}-{_short_hash(name)}"


def slot_job_name(name: str, slot: datetime, *, seconds: bool) -> str:
    """``<name>-<epoch minutes>`` (or epoch seconds for second-level schedules)."""
    epoch = int(slot.timestamp())
    return _fit(name, str(epoch if seconds else epoch // 60))


def manual_job_name(name: str, token: str) -> str:
    """The Job of an on-demand run: keyed by the request token, so a retry adopts instead of duplicating."""
    return _fit(name, "m" + hashlib.sha256(token.encode()).hexdigest()[:8])


def retry_job_name(first: str, attempt: int) -> str:
    """The Job of a slot's ``attempt``-th run (``<first attempt's Job>-r<attempt>``): one name per attempt."""
    return _fit(first, f"r{attempt}")


def bucket_of(namespace: str, name: str) -> int:
    """The bucket of the ScheduledJob ``namespace/name``: crc32 of it modulo :data:`BUCKETS`.

    Fixed whatever the shard count, so the label on a Job never needs rewriting when the count
    changes; a shard is a set of buckets (:func:`buckets_of_shard`). Python's ``hash`` is salted
    per process, crc32 is not.
    """
    return zlib.crc32(f"{namespace}/{name}".encode()) % BUCKETS


def buckets_of_shard(shard: int, shards: int) -> tuple[int, ...]:
    """The buckets shard ``shard`` of ``shards`` handles (every bucket, unsharded)."""
    if not 1 <= shards <= BUCKETS or not 0 <= shard < shards:
        raise ValueError(f"shard must be in 0..shards-1 and shards in 1..{BUCKETS}, got shard {shard} of {shards}")
    return tuple(b for b in range(BUCKETS) if b % shards == shard)


def watch_selectors(shard: int, shards: int) -> tuple[str, ...]:
    """The label selectors of a shard's Job and Pod watches: together, exactly its own.

    Unsharded, one: every Punctual Job. Sharded, two: the shard's buckets, selected by the API
    server, and the Jobs (and Pods) without a bucket label, which Punctual created before it set
    one: every shard receives those and keeps its own (by the owner's name), so nothing created
    before an upgrade is lost; once they are gone that watch is quiet.
    """
    buckets = buckets_of_shard(shard, shards)
    if shards == 1:
        return (LABEL_SCHEDULED_JOB,)
    listed = ",".join(str(b) for b in buckets)
    return (f"{LABEL_SCHEDULED_JOB},{LABEL_BUCKET} in ({listed})", f"{LABEL_SCHEDULED_JOB},!{LABEL_BUCKET}")


@dataclass(frozen=True)
class Owner:
    """The ScheduledJob a Job belongs to."""

    namespace: str
    name: str
    uid: str


def build_job(
    owner: Owner,
    spec: ScheduledJobSpec,
    *,
    job_name: str,
    slot: datetime,
    trigger: Trigger,
    attempt: int | None = None,
    retry_of: str | None = None,
) -> Job:
    """The batch/v1 Job manifest for one run (a retry's carries its attempt and first attempt)."""
    template = spec.jobTemplate
    ours = {
        LABEL_SCHEDULED_JOB: label_value(owner.name),
        LABEL_TRIGGER: trigger.value,
        LABEL_BUCKET: str(bucket_of(owner.namespace, owner.name)),
    }
    # The user's Job spec (validated by the API model to have a pod template with containers),
    # typed from here on; its fields Punctual does not read pass through untouched.
    job_spec = cast(JobSpec, copy_json(template.spec))
    pod_template = job_spec.setdefault("template", {})
    pod_meta = pod_template.setdefault("metadata", {})
    pod_meta["labels"] = {**(pod_meta.get("labels") or {}), **ours}
    env: list[EnvVar] = [
        {"name": "PUNCTUAL_SCHEDULED_TIME", "value": format_time(slot)},
        {"name": "PUNCTUAL_TRIGGER", "value": trigger.value},
        {"name": "PUNCTUAL_RUN", "value": job_name},
    ]
    retry_annotations = {}
    if attempt is not None and retry_of is not None:
        env.append({"name": "PUNCTUAL_ATTEMPT", "value": str(attempt)})
        retry_annotations = {ANNOTATION_ATTEMPT: str(attempt), ANNOTATION_RETRY_OF: retry_of}
    pod_spec = pod_template.setdefault("spec", {})
    names = {e["name"] for e in env}
    containers: list[Container] = [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]
    for container in containers:
        kept = [e for e in container.get("env") or [] if e.get("name") not in names]
        container["env"] = kept + copy_json(env)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name,
            "namespace": owner.namespace,
            "labels": {**template.metadata.labels, **ours},
            "annotations": {
                **template.metadata.annotations,
                ANNOTATION_SCHEDULED_TIME: format_time(slot),
                **retry_annotations,
            },
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": KIND,
                    "name": owner.name,
                    "uid": owner.uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": job_spec,
    }


class JobPhase(StrEnum):
    """A Job as the scheduler sees it."""

    ACTIVE = "Active"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


@dataclass(frozen=True)
class ObservedJob:
    """What the core needs to know about one of its Jobs."""

    name: str
    scheduled_time: datetime
    trigger: Trigger
    phase: JobPhase
    created: datetime | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    reason: str | None = None
    message: str | None = None
    exit_code: int | None = None
    image: str | None = None
    image_id: str | None = None
    deleting: bool = False
    attempt: int | None = None
    retry_of: str | None = None
    overrides: Overrides | None = None
    """A run on demand's overrides, from the Job's run-overrides annotation."""

    @property
    def finished(self) -> bool:
        return self.phase is not JobPhase.ACTIVE


def _time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) and value else None


def _terminated(pod: Pod) -> tuple[int | None, str | None]:
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        state = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
        if state and "exitCode" in state:
            return int(state["exitCode"]), status.get("imageID") or None
    return None, None


_KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "labels",
    "annotations",
    "ownerReferences",
)


def _slim_metadata(meta: ObjectMeta) -> ObjectMeta:
    source = cast(Mapping[str, Any], meta)
    return cast(ObjectMeta, {k: source[k] for k in _KEPT_METADATA if k in source})


def _containers(job: Job) -> list[Container]:
    return (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def job_image(job: Job) -> str | None:
    """The image of the Job's first container: what its run's history record shows as ``image``."""
    containers = _containers(job)
    return containers[0].get("image") if containers else None


def slim_job(job: Job) -> Job:
    """The part of a Job that :func:`observe_job` and the operator read (what a cache keeps).

    A Job's spec (its pod template) is most of its size and the operator needs only the first
    container's image from it; at 10,000 ScheduledJobs with their kept Jobs that is most of the
    memory.
    """
    containers = _containers(job)
    spec: JobSpec = {"template": {"spec": {"containers": [_image_only(containers[0])]}}} if containers else {}
    return {"metadata": _slim_metadata(job.get("metadata") or {}), "spec": spec, "status": _slim_job_status(job)}


def _slim_job_status(job: Job) -> JobStatus:
    # What observe_job reads: the times and the conditions that hold (status "True"), each with the
    # fields it reads; the counters, uncountedTerminatedPods and false conditions are left out.
    status = cast(Mapping[str, Any], job.get("status") or {})
    kept: dict[str, Any] = {k: status[k] for k in ("startTime", "completionTime") if k in status}
    if conditions := status.get("conditions"):
        kept["conditions"] = [
            {k: cond[k] for k in _CONDITION_FIELDS if k in cond} for cond in conditions if cond.get("status") == "True"
        ]
    return cast(JobStatus, kept)


_CONDITION_FIELDS = ("type", "status", "reason", "message", "lastTransitionTime")


def _image_only(container: Container) -> Container:
    # The image as the API sent it, even a null one: observe_job reads it back as None.
    return cast(Container, {"image": container.get("image")})


def _slim_container_status(status: ContainerStatus) -> ContainerStatus | None:
    # The exit code _terminated would read from it, and the image ID; None if it has none (then
    # _terminated passes over it, as over the full one).
    terminated = (status.get("state") or {}).get("terminated") or (status.get("lastState") or {}).get("terminated")
    if not terminated or "exitCode" not in terminated:
        return None
    kept: dict[str, Any] = {"state": {"terminated": {"exitCode": terminated["exitCode"]}}}
    if "imageID" in status:
        kept["imageID"] = status["imageID"]
    return cast(ContainerStatus, kept)


_POD_LABELS = ("batch.kubernetes.io/job-name", "job-name", LABEL_SCHEDULED_JOB, LABEL_BUCKET)
"""The Pod labels the caches read: its Job, its ScheduledJob (shards) and its bucket (relists)."""


def slim_pod(pod: Pod) -> Pod:
    """The part of a Pod that :func:`observe_job` and the caches read: its phase, the labels of
    :data:`_POD_LABELS` and its containers' exit codes and image IDs."""
    status = pod.get("status") or {}
    kept = [c for c in map(_slim_container_status, status.get("containerStatuses") or []) if c is not None]
    # The phase as the API sent it (possibly missing, kept as null, as before the bodies were typed).
    slim_status = cast(Any, {"phase": status.get("phase"), "containerStatuses": kept})
    meta = cast(Mapping[str, Any], pod.get("metadata") or {})
    slim_meta: dict[str, Any] = {k: meta[k] for k in ("name", "namespace", "uid", "creationTimestamp") if k in meta}
    labels = meta.get("labels") or {}
    slim_meta["labels"] = {k: labels[k] for k in _POD_LABELS if k in labels}
    return {"metadata": cast(ObjectMeta, slim_meta), "status": slim_status}


def _phase_of(status: JobStatus) -> tuple[JobPhase, str | None, str | None, datetime | None]:
    """A Job's phase from its status' conditions, with their reason, message and the finish time."""
    phase = JobPhase.ACTIVE
    reason = message = None
    finished_at = _time(status.get("completionTime"))
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") in ("Complete", "SuccessCriteriaMet") and phase is JobPhase.ACTIVE:
            phase = JobPhase.SUCCEEDED
            reason = cond.get("reason") or "Completed"
        elif cond.get("type") in ("Failed", "FailureTarget"):
            phase = JobPhase.FAILED
            reason = cond.get("reason") or "Failed"
            message = cond.get("message")
            finished_at = finished_at or _time(cond.get("lastTransitionTime"))
    return phase, reason, message, finished_at


def job_phase(job: Job) -> JobPhase | None:
    """``observe_job(job).phase`` without the rest of the observation (None: not a Punctual run)."""
    annotations = (job.get("metadata") or {}).get("annotations") or {}
    if _time(annotations.get(ANNOTATION_SCHEDULED_TIME)) is None:
        return None
    return _phase_of(job.get("status") or {})[0]


def observe_job(job: Job, pods: Sequence[Pod] = ()) -> ObservedJob | None:
    """Read a Job (and its Pods, for the exit code and image ID); None if it is not a Punctual run."""
    meta = job.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    labels = meta.get("labels") or {}
    slot = _time(annotations.get(ANNOTATION_SCHEDULED_TIME))
    if slot is None:
        return None
    try:
        trigger = Trigger(labels.get(LABEL_TRIGGER, Trigger.SCHEDULE.value))
    except ValueError:
        trigger = Trigger.SCHEDULE
    status = job.get("status") or {}
    phase, reason, message, finished_at = _phase_of(status)
    image = job_image(job)
    attempt_text = annotations.get(ANNOTATION_ATTEMPT) or ""
    retry_of = annotations.get(ANNOTATION_RETRY_OF) or None
    attempt = int(attempt_text) if attempt_text.isdigit() and retry_of else None
    overrides = _overrides(annotations.get(ANNOTATION_RUN_OVERRIDES))
    exit_code = image_id = None
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or ""):
        code, pod_image_id = _terminated(pod)
        if code is not None:
            exit_code, image_id = code, pod_image_id
    return ObservedJob(
        name=str(meta.get("name")),
        scheduled_time=slot,
        trigger=trigger,
        phase=phase,
        created=_time(meta.get("creationTimestamp")),
        start_time=_time(status.get("startTime")),
        completion_time=finished_at if phase is not JobPhase.ACTIVE else None,
        reason=reason,
        message=message,
        exit_code=exit_code,
        image=image,
        image_id=image_id,
        deleting=bool(meta.get("deletionTimestamp")),
        attempt=attempt,
        retry_of=retry_of if attempt is not None else None,
        overrides=overrides,
    )


def _overrides(text: str | None) -> Overrides | None:
    # Written by the operator (punctual.core.run_request.apply_overrides); a value edited into
    # something else is not a fact about the run: it is left out of its record.
    if not text:
        return None
    try:
        return Overrides.model_validate_json(text)
    except ValidationError:
        return None
