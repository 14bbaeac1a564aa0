"""The operator's caches: ScheduledJobs (fed by kopf), their Jobs and Pods (fed by our list-and-watch).

Like client-go's listers: the reconcile reads these, never the API. Jobs and Pods are slimmed on
the way in; a fresh list replaces its namespace's cache (what it lacks went while nobody watched).
A change that matters (a new Job, a phase change, a Pod finishing) wakes the owning ScheduledJob.
Which of two copies of an object is the newer is :mod:`punctual.runtime.versions`' rule:
resourceVersions are compared for equality only.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast

from punctual.api import GROUP, ScheduledJobStatus
from punctual.bodies import Job, ObjectMeta, Pod, ScheduledJobBody
from punctual.jobs import (
    ANNOTATION_BACKFILL_CANCEL,
    ANNOTATION_BACKFILL_REQUEST,
    ANNOTATION_DURATION_BUDGET,
    ANNOTATION_RUN_OVERRIDES,
    ANNOTATION_RUN_REQUEST,
    LABEL_BUCKET,
    LABEL_SCHEDULED_JOB,
    MAX_NAME,
    JobPhase,
    ObservedJob,
    job_phase,
    observe_job,
    slim_job,
    slim_pod,
)
from punctual.runtime.calendars import CalendarIndex
from punctual.runtime.upstreams import Upstreams
from punctual.runtime.versions import Source, Versions

__all__ = [
    "GONE_MEMORY",
    "Cache",
    "Key",
    "Kubernetes",
    "Scope",
    "bucket_labelled",
    "controller_of",
    "key_of",
    "status_text",
    "unlabelled",
]

Key = tuple[str, str]
Kubernetes = Job | Pod | ScheduledJobBody
"""Any of the bodies the caches hold."""
_Cached = TypeVar("_Cached", Job, Pod)
GONE_MEMORY = 100_000
"""Deleted Job uids remembered, against replayed watch events."""

_READ_ANNOTATIONS = (
    ANNOTATION_RUN_REQUEST,
    ANNOTATION_RUN_OVERRIDES,
    ANNOTATION_DURATION_BUDGET,
    ANNOTATION_BACKFILL_REQUEST,
    ANNOTATION_BACKFILL_CANCEL,
)
"""The annotations the core (or the metrics) read: a change of one wants a reconcile."""


def key_of(body: Kubernetes) -> Key:
    """(namespace, name) of an object body."""
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def controller_of(body: Kubernetes) -> tuple[str, str] | None:
    """(name, uid) of the ScheduledJob that controls this object."""
    meta: ObjectMeta = body.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "ScheduledJob" and ref.get("apiVersion", "").startswith(GROUP):
            return str(ref.get("name")), str(ref.get("uid"))
    return None


Scope = Callable[[Job | Pod], bool]
"""Which cached objects a watch's selector covers: its fresh list replaces those only."""


def bucket_labelled(body: Job | Pod) -> bool:
    """Whether the object carries the bucket label (a sharded watch of the shard's buckets covers it)."""
    return LABEL_BUCKET in ((body.get("metadata") or {}).get("labels") or {})


def unlabelled(body: Job | Pod) -> bool:
    """Whether the object has no bucket label (made before Punctual set one: the second sharded watch's)."""
    return not bucket_labelled(body)


def _version_of(meta: ObjectMeta) -> tuple[str, str]:
    return str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")


def _pack(body: Mapping[str, object]) -> str:
    return json.dumps(body, separators=(",", ":"))


def _unpack(text: str) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(text))


def status_text(status: Mapping[str, object]) -> str:
    """A status as the cache keeps it: compact JSON, keys sorted (equal statuses, equal texts)."""
    return json.dumps(status, separators=(",", ":"), sort_keys=True)


def _cached_body(body: ScheduledJobBody) -> ScheduledJobBody:
    """The body as cached: its status apart (as :func:`status_text`), a real API server's
    ``managedFields`` (server-side apply's bookkeeping, KBs per object that nothing here reads) left
    out, the rest shared with the event's."""
    meta = body.get("metadata")
    kept = {k: v for k, v in body.items() if k != "status"}
    if meta and "managedFields" in meta:
        kept["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return cast(ScheduledJobBody, kept)


class Cache:
    """ScheduledJobs, their Jobs and their Pods, as the watches last showed them."""

    def __init__(self, *, mine: Callable[[Key], bool], wake: Callable[[Key], None]) -> None:
        self.mine = mine
        self.wake = wake
        self.sjs: dict[Key, ScheduledJobBody] = {}
        # The slim Jobs and Pods (punctual.jobs.slim_job, slim_pod) as compact JSON (_pack): a few
        # hundred bytes each, against some 3 KiB as decoded dicts, and one allocation each rather than
        # dozens of small ones that pin pymalloc's arenas after the peak of each slot.
        self.jobs: dict[Key, dict[str, str]] = {}
        self.pods: dict[Key, dict[str, str]] = {}  # (namespace, job name) -> pods
        self.job_owner: dict[Key, Key] = {}
        # Every ScheduledJob (of every shard) as its downstreams see it, and who to wake (dependsOn).
        self.upstreams = Upstreams(mine=mine, wake=wake)
        # The Calendars (spec.calendars) of every namespace watched, and who to wake when one changes.
        self.calendars = CalendarIndex(sjs=self.sjs, mine=mine, wake=wake)
        self._gone: OrderedDict[str, None] = OrderedDict()  # uids of deleted Jobs, newest last
        # Job creates a just-started API server refused, and since when (reconcile.RBAC_GRACE):
        # it refuses them until its RBAC and discovery caches are filled.
        self.refused: dict[tuple[Key, str], datetime] = {}
        self._sj_versions = Versions()
        self._job_versions = Versions()
        # Each cached ScheduledJob's status as compact JSON (status_text), apart from its body: the
        # text of a status with 20 history records is about 8 KB, the decoded dicts 20 KiB. The
        # reconcile reads it as the model (status_of), the writer as dicts (raw_status).
        self._status_texts: dict[Key, str] = {}
        # The status as the model is not kept: each reconcile validates the text (model_validate_json,
        # about 60 us with 20 history records). The model is larger than the text (37 against 3 to
        # 8 KiB with 20 records), and at a slot every ScheduledJob has a run active: keeping the
        # models of those (as this cache did) held up to 10,000 of them at once.

    def scheduledjob_ticket(self) -> int:
        """Taken before our own write of a ScheduledJob, given back with its answer."""
        return self._sj_versions.ticket()

    def job_ticket(self) -> int:
        """Taken before our own create (or read) of Jobs, given back with the answers."""
        return self._job_versions.ticket()

    # -- ScheduledJobs ------------------------------------------------------------------------------

    def put_scheduledjob(
        self,
        body: ScheduledJobBody,
        *,
        source: Source = Source.WATCH,
        ticket: int | None = None,
    ) -> bool:
        """Cache a ScheduledJob; whether it wants a reconcile (new, or a change the core reads).

        ``source`` and ``ticket`` say where it comes from (:mod:`punctual.runtime.versions`): an
        event older than our own status write's answer is dropped. kopf (1.45) hands the handler
        every event in order, but the rule does not count on seeing our own version: an event that
        carries the status we wrote is as new (only the leader writes status).
        """
        key = key_of(body)
        old = self.sjs.get(key)
        meta: ObjectMeta = body.get("metadata") or {}
        version = _version_of(meta)
        cached = self._status_texts.get(key)
        if cached is None or not version[1] or old is None or _version_of(old.get("metadata") or {}) != version:
            text = status_text(body.get("status") or {})
        else:
            text = cached  # the version cached: the same content (a resourceVersion names one)
        if not self._sj_versions.admit(key, meta, source, ticket=ticket, content=text):
            return False
        self.sjs[key] = _cached_body(body)
        self._status_texts[key] = text
        return old is None or self._wants_reconcile(old, body)

    def raw_status(self, key: Key) -> dict[str, object]:
        """The cached status of ``key`` as the API sent it (empty when none is cached)."""
        text = self._status_texts.get(key)
        return cast(dict[str, object], json.loads(text)) if text else {}

    def status_of(self, key: Key) -> ScheduledJobStatus:
        """The cached status of ``key`` as a new model (pydantic's ValidationError if unreadable).

        Validated at each call, for the length of one reconcile (see ``_status_texts``); the core
        never changes a status in place (``decide`` copies it).
        """
        return ScheduledJobStatus.model_validate_json(self._status_texts.get(key) or "{}")

    def release_waits(self) -> None:
        """This replica stops writing (it is no longer the leader): the watch alone is the truth from now on.

        Another replica may write status meanwhile, so no event can be told older than our last
        write by what it says; the watch always ends on an object's newest version.
        """
        self._sj_versions.release()

    def forget_scheduledjob(self, key: Key) -> None:
        """The ScheduledJob was deleted."""
        self.sjs.pop(key, None)
        self._status_texts.pop(key, None)
        self._sj_versions.forget(key)
        for refused in [r for r in self.refused if r[0] == key]:
            del self.refused[refused]

    @staticmethod
    def _wants_reconcile(old: ScheduledJobBody, new: ScheduledJobBody) -> bool:
        om: ObjectMeta = old.get("metadata") or {}
        nm: ObjectMeta = new.get("metadata") or {}
        if om.get("generation") != nm.get("generation") or om.get("uid") != nm.get("uid"):
            return True
        oa, na = om.get("annotations") or {}, nm.get("annotations") or {}
        return any(oa.get(a) != na.get(a) for a in _READ_ANNOTATIONS)

    # -- Jobs ---------------------------------------------------------------------------------------

    def remember_job(self, owner: Key, body: Job, *, source: Source = Source.WATCH, ticket: int | None = None) -> None:
        """Cache one of ``owner``'s Jobs (from the watch, a listing, or our own create or read: ``source``)."""
        meta: ObjectMeta = body.get("metadata") or {}
        name = str(meta.get("name"))
        if meta.get("uid") in self._gone:
            # A replayed event of a Job already deleted (a watch restarted from an older version):
            # letting it back in would make the core adopt, and count, a run that ended long ago.
            return
        jobs = self.jobs.setdefault(owner, {})
        if self._job_versions.admit((owner[0], name), meta, source, ticket=ticket):
            jobs[name] = _pack(slim_job(body))
        self.job_owner[(owner[0], name)] = owner

    def forget_job(self, owner: Key, job_name: str) -> None:
        """Drop a Job we deleted, remembering its uid as gone."""
        gone = self.job(owner, job_name)
        if gone is not None:
            self._forget_deleted(owner, job_name, (gone.get("metadata") or {}).get("uid"))

    def job(self, owner: Key, job_name: str) -> Job | None:
        """The slim copy of one of ``owner``'s cached Jobs."""
        text = self.jobs.get(owner, {}).get(job_name)
        return None if text is None else cast(Job, _unpack(text))

    def pods_of(self, namespace: str, job_name: str) -> dict[str, Pod]:
        """The slim copies of a Job's cached Pods, by name."""
        return {name: cast(Pod, _unpack(text)) for name, text in self.pods.get((namespace, job_name), {}).items()}

    def on_job(self, kind: str | None, body: Job) -> None:
        """A watch event of one of our Jobs (``kind`` None: an item of a fresh list)."""
        ref = controller_of(body)
        if ref is None:
            return
        ns, job_name = key_of(body)
        owner = (ns, ref[0])
        if not self.mine(owner):
            self.pods.pop((ns, job_name), None)  # its Pods may have arrived before it
            return
        before = self.job(owner, job_name)
        if kind == "DELETED":
            self._forget_deleted(owner, job_name, (body.get("metadata") or {}).get("uid"))
            self.pods.pop((ns, job_name), None)
        else:
            self.remember_job(owner, body, source=Source.LISTING if kind is None else Source.WATCH)
        if before is None or kind == "DELETED" or job_phase(before) != job_phase(body):
            self.wake(owner)

    def _forget_deleted(self, owner: Key, job_name: str, uid: str | None) -> None:
        self.jobs.get(owner, {}).pop(job_name, None)
        self._job_versions.forget((owner[0], job_name))
        self.job_owner.pop((owner[0], job_name), None)
        if uid:
            self._gone[str(uid)] = None
            while len(self._gone) > GONE_MEMORY:
                self._gone.popitem(last=False)

    def jobs_of(self, key: Key, uid: str) -> list[ObservedJob]:
        """The Jobs of the ScheduledJob ``key`` with this uid, each observed with its Pods."""
        observed = []
        for text in self.jobs.get(key, {}).values():
            job = cast(Job, _unpack(text))
            ref = controller_of(job)
            if ref is None or ref[1] != uid:
                continue  # a Job of an earlier object with the same name
            found = observe_job(job, list(self.pods_of(key[0], str(job["metadata"]["name"])).values()))
            if found is not None:
                observed.append(found)
        return observed

    # -- Pods ---------------------------------------------------------------------------------------

    def on_pod(self, kind: str | None, body: Pod) -> None:
        meta: ObjectMeta = body.get("metadata") or {}
        labels = meta.get("labels") or {}
        job_name = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name")
        if not job_name:
            return
        ns = str(meta.get("namespace") or "")
        name = str(meta.get("name"))
        if kind == "DELETED":
            pods = self.pods.get((ns, job_name))
            if pods is not None:
                pods.pop(name, None)
                if not pods:
                    del self.pods[(ns, job_name)]
            return
        owner_label = str(labels.get(LABEL_SCHEDULED_JOB) or "")
        if 0 < len(owner_label) < MAX_NAME and not self.mine((ns, owner_label)):
            return  # another shard's (a label value under 63 characters is the whole ScheduledJob name)
        pods = self.pods.setdefault((ns, job_name), {})
        before = pods.get(name)
        pods[name] = _pack(slim_pod(body))
        phase = (body.get("status") or {}).get("phase")
        was = ((_unpack(before) if before is not None else {}).get("status") or {}).get("phase")
        owner = self.job_owner.get((ns, job_name))
        if owner is not None and phase != was and phase in ("Succeeded", "Failed"):
            # Its exit code and image ID are read once the Job has finished (punctual.history): a
            # Pod that ends while the cached Job is still active is read at the Job's own event.
            job = self.job(owner, job_name)
            if job is None or job_phase(job) is not JobPhase.ACTIVE:
                self.wake(owner)

    # -- fresh lists --------------------------------------------------------------------------------

    def on_jobs_listed(self, namespace: str | None, items: list[Job], *, scope: Scope | None = None) -> None:
        """A fresh list of our Jobs (in one namespace, or all): what ``scope`` covers becomes exactly that."""
        self._relisted(self.jobs, namespace, items, self.on_job, scope)

    def on_pods_listed(self, namespace: str | None, items: list[Pod], *, scope: Scope | None = None) -> None:
        """A fresh list of our Pods: what ``scope`` covers (all, by default) becomes exactly that."""
        self._relisted(self.pods, namespace, items, self.on_pod, scope)

    @staticmethod
    def _relisted(
        cache: Mapping[Key, Mapping[str, str]],
        namespace: str | None,
        items: list[_Cached],
        handle: Callable[[str | None, _Cached], None],
        scope: Scope | None,
    ) -> None:
        # Both caches are keyed by namespace first and object name inside: what the list does not
        # have went while nobody watched (DELETED), the rest is (re)added (as kopf's listings, kind None).
        # A sharded shard lists with two selectors (its buckets; no bucket label): each list speaks
        # for its own selector only, or one would drop what the other's watch brought.
        listed = {key_of(item) for item in items}
        for (ns, _), bodies in list(cache.items()):
            if namespace is None or ns == namespace:
                for name, text in list(bodies.items()):
                    body = cast(_Cached, _unpack(text))
                    if (ns, name) not in listed and (scope is None or scope(body)):
                        handle("DELETED", body)
        for item in items:
            handle(None, item)
