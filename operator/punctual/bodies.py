"""The Kubernetes bodies that cross Punctual's modules, typed. Pure: no kopf, no API client.

As kopf's ``_cogs/structs/bodies.py`` (``RawBody``, ``RawMeta``, ``OwnerReference``): TypedDicts of
the JSON the API server sends (camelCase keys), ``total=False`` because Kubernetes leaves out what is
unset. They type the parts Punctual reads and writes: object metadata and owner references, the Job
manifest :func:`punctual.jobs.build_job` makes, Jobs and their status, the slimmed Pods the caches
keep, ScheduledJob bodies, and kopf's peering object. A body read from the wire is a
:data:`RawBody` until the one place that knows its kind says which it is (:mod:`punctual.runtime.kube`,
kopf's event handler).
"""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "Container",
    "ContainerState",
    "ContainerStatus",
    "EnvVar",
    "Job",
    "JobCondition",
    "JobSpec",
    "JobStatus",
    "ObjectMeta",
    "OwnerReference",
    "PeerInfo",
    "Peering",
    "Pod",
    "PodSpec",
    "PodStatus",
    "PodTemplate",
    "RawBody",
    "ScheduledJobBody",
    "TerminatedState",
    "copy_json",
]

RawBody = dict[str, Any]
"""A JSON object as the API server sends it, before anything says what kind of object it is."""


def copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists and immutable scalars), about 5 times faster than
    ``copy.deepcopy``, which keeps a memo of every object and looks up each type's copier."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


class OwnerReference(TypedDict, total=False):
    apiVersion: str
    kind: str
    name: str
    uid: str
    controller: bool
    blockOwnerDeletion: bool


class ObjectMeta(TypedDict, total=False):
    name: str
    generateName: str
    namespace: str
    uid: str
    resourceVersion: str
    """Opaque: compared for equality only (never ordered, never parsed as a number)."""
    generation: int
    creationTimestamp: str
    deletionTimestamp: str
    labels: dict[str, str]
    annotations: dict[str, str]
    ownerReferences: list[OwnerReference]


class EnvVar(TypedDict, total=False):
    name: str
    value: str


class Container(TypedDict, total=False):
    name: str
    image: str
    env: list[EnvVar]
    args: list[str]


class PodSpec(TypedDict, total=False):
    """A pod spec: the containers Punctual reads and edits; the user's other fields pass through."""

    containers: list[Container]
    initContainers: list[Container]
    restartPolicy: str


class PodTemplate(TypedDict, total=False):
    metadata: ObjectMeta
    spec: PodSpec


class JobSpec(TypedDict, total=False):
    """A Job's spec: its pod template (the user's other fields, such as backoffLimit, pass through)."""

    template: PodTemplate


class JobCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str


class JobStatus(TypedDict, total=False):
    active: int
    ready: int
    succeeded: int
    failed: int
    terminating: int
    startTime: str
    completionTime: str
    conditions: list[JobCondition]


class Job(TypedDict, total=False):
    """A batch/v1 Job: the manifest Punctual creates, or (slimmed) one the caches keep."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: JobSpec
    status: JobStatus


class TerminatedState(TypedDict, total=False):
    exitCode: int
    reason: str
    message: str
    startedAt: str
    finishedAt: str


class ContainerState(TypedDict, total=False):
    """A container state; only ``terminated`` is read (its ``exitCode``)."""

    terminated: TerminatedState


class ContainerStatus(TypedDict, total=False):
    name: str
    state: ContainerState
    lastState: ContainerState
    imageID: str


class PodStatus(TypedDict, total=False):
    phase: str
    containerStatuses: list[ContainerStatus]


class Pod(TypedDict, total=False):
    """A Pod of one of our Jobs, as far as Punctual reads it (the operator's caches keep no spec)."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: PodSpec
    status: PodStatus


class ScheduledJobBody(TypedDict, total=False):
    """A ScheduledJob as the API sends it; spec and status are read by the pydantic models in :mod:`punctual.api`."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    spec: dict[str, Any]
    status: dict[str, Any]


class PeerInfo(TypedDict, total=False):
    """One peer in kopf's peering object."""

    priority: int
    lastseen: str
    lifetime: float


class Peering(TypedDict, total=False):
    """kopf's KopfPeering (or ClusterKopfPeering): peers by id under ``status``."""

    apiVersion: str
    kind: str
    metadata: ObjectMeta
    status: dict[str, PeerInfo]
