"""The reconcile of one ScheduledJob, as numbered steps, against a :class:`JobControl`.

1. load the ScheduledJob and its Jobs from the caches,
2. parse the spec (an invalid one gets a condition and an Event, never a crash),
3. call the pure core (``punctual.core.decide``) with ``now`` from the injected clock,
4. create Jobs (AlreadyExists with our owner reference: adopt it), then delete Jobs; the Jobs the
   API refused go back to the core (``after_create_failures``), which records them; server errors
   are retried, and so is a just-started API server's refusal (RBAC, discovery) for up to
   :data:`RBAC_GRACE`,
5. write status (only when it changed),
6. emit Events (metrics are the caller's, from the returned :class:`Reconciled`),
7. requeue at the core's next wake-up.

The steps make no API call themselves: :class:`JobControl` does (the operator's is the API through
:mod:`punctual.runtime.kube`; the tests' is a fake, as the CronJob controller's ``fakeJobControl``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import ValidationError

from punctual.api import ScheduledJobStatus
from punctual.bodies import Job
from punctual.core import (
    Decision,
    Event,
    SpecError,
    Subject,
    after_create_failures,
    decide,
    decide_invalid,
    subject_from_body,
)
from punctual.runtime.cache import Cache, Key, controller_of
from punctual.runtime.kube import ApiError, ClusterUnreachable
from punctual.runtime.status_writer import RETRY
from punctual.runtime.versions import Source

__all__ = ["RBAC_GRACE", "JobControl", "Reconciled", "reconcile"]

log = logging.getLogger("punctual")

RBAC_GRACE = timedelta(seconds=60)
"""How long a Job create that RBAC refuses is retried before the run is recorded Failed: a
kube-apiserver that has just (re)started answers 403 until its RBAC informers are synced
(kubernetes/kubernetes#121635; newer servers say "informers not synced"), and until its discovery
knows the owner's kind (the owner-reference admission plugin); a slot must not be lost to that.
A refusal that lasts is a missing grant, recorded with the API's message."""


def _warmup_refusal(exc: ApiError) -> bool:
    """A 403 a just-started kube-apiserver gives until its caches are filled, not a lasting refusal:
    from the authorizer (``User "..." cannot create resource ...``) before its RBAC informers are
    synced, or from the OwnerReferencesPermissionEnforcement admission plugin (``cannot set
    blockOwnerDeletion ... cannot find RESTMapping for ... Kind ScheduledJob``) before its discovery
    has found the ScheduledJob kind again. Other 403s from admission (a quota's "exceeded quota") are
    recorded at once."""
    return exc.status == 403 and ("cannot create resource" in exc.message or "cannot find RESTMapping" in exc.message)


class JobControl(Protocol):
    """What a reconcile does to the world. Errors: :class:`punctual.runtime.kube.ApiError`, ``ClusterUnreachable``."""

    async def create_job(self, namespace: str, manifest: Job) -> Job: ...

    async def get_job(self, namespace: str, name: str) -> Job: ...

    async def delete_job(self, namespace: str, name: str) -> None: ...

    async def patch_status(self, key: Key, status: ScheduledJobStatus) -> None: ...

    def post_events(self, key: Key, uid: str, events: Sequence[Event], now: datetime) -> None: ...


@dataclass(frozen=True)
class Reconciled:
    """What one reconcile did: the next wake-up and, when it decided, what the metrics need."""

    wake_at: datetime | None
    before: ScheduledJobStatus | None = None
    decision: Decision | None = None
    """The core's decision, with the refused creates applied (``after_create_failures``)."""
    creates: tuple[str, ...] = ()
    """The Jobs the decision asked for that exist now (created or adopted)."""
    subject: Subject | None = None
    failed: Mapping[str, str] = field(default_factory=dict)


async def reconcile(
    key: Key,
    *,
    cache: Cache,
    control: JobControl,
    now: datetime,
    pending: ScheduledJobStatus | None = None,
    default_time_zone: str = "UTC",
    wake: Callable[[Key], None] = lambda key: None,
) -> Reconciled:
    """Reconcile one ScheduledJob at ``now``: the steps of the module docstring."""
    # 1. Load the ScheduledJob and its Jobs from the caches.
    body = cache.sjs.get(key)
    if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
        return Reconciled(wake_at=None)
    ns, name = key
    meta = body.get("metadata") or {}
    uid = str(meta.get("uid"))
    rebuilt = False
    if pending is not None:
        status = pending  # decided but not yet written: newer than the API's copy
    else:
        try:
            status = cache.status_of(key)  # validated from its text, for this reconcile
        except ValidationError:
            log.warning("%s/%s: unreadable status, rebuilding it from the Jobs", ns, name)
            status, rebuilt = ScheduledJobStatus(), True
    # 2-3. Parse the spec and decide.
    subject: Subject | None = None
    try:
        subject = subject_from_body(body, now=now)
        jobs = cache.jobs_of(key, uid)
        decision = decide(
            subject,
            status=status,
            jobs=jobs,
            now=now,
            default_time_zone=default_time_zone,
            upstreams=cache.upstreams.namespace(ns),
            calendars=cache.calendars.namespace(ns),
        )
    except SpecError as exc:
        decision = decide_invalid(meta.get("generation"), status=status, error=str(exc), now=now)
        if not decision.events:
            # One log line per decision: when the spec just became invalid (or its error changed)
            # the decision's InvalidSpec Event is that line (step 6 logs every Event).
            log.warning("%s/%s: invalid spec: %s", ns, name, exc)
    # 4. Create Jobs, then delete Jobs.
    failed: dict[str, str] = {}
    ticket = cache.job_ticket()  # the answers are our own: newer than the watch, unless a relist came meanwhile
    for create in decision.creates:
        try:
            cache.remember_job(key, await control.create_job(ns, create.manifest), source=Source.OWN, ticket=ticket)
            cache.refused.pop((key, create.name), None)
        except ApiError as exc:
            if exc.status == 409:
                existing = await control.get_job(ns, create.name)
                ref = controller_of(existing)
                if ref is not None and ref[1] == uid:
                    cache.remember_job(key, existing, source=Source.OWN, ticket=ticket)  # ours from before a crash
                    # This decision recorded it as just started, but it may have run (or finished)
                    # long ago, and its watch events may never show a phase change: decide again.
                    wake(key)
                    continue
                failed[create.name] = f"a Job named {create.name} exists and is not owned by this ScheduledJob"
            elif exc.transient:
                log.warning("%s/%s: creating Job %s: %s; retrying", ns, name, create.name, exc)
                return Reconciled(wake_at=now + RETRY)  # no status write: the slot is decided again
            elif _warmup_refusal(exc) and now - cache.refused.setdefault((key, create.name), now) < RBAC_GRACE:
                log.warning(
                    "%s/%s: creating Job %s: %s; retrying for up to %ds (a restarted API server refuses "
                    "until its RBAC and discovery caches are filled)",
                    ns,
                    name,
                    create.name,
                    exc,
                    RBAC_GRACE.total_seconds(),
                )
                return Reconciled(wake_at=now + RETRY)
            else:
                cache.refused.pop((key, create.name), None)
                failed[create.name] = exc.message
        except ClusterUnreachable as exc:
            log.warning("%s/%s: API unreachable: %s; retrying", ns, name, exc)
            return Reconciled(wake_at=now + RETRY)
    for delete in decision.deletes:
        try:
            await control.delete_job(ns, delete.name)
            cache.forget_job(key, delete.name)
        except (ApiError, ClusterUnreachable) as exc:
            log.warning("%s/%s: deleting Job %s: %s", ns, name, delete.name, exc)
    created = tuple(c.name for c in decision.creates if c.name not in failed)
    # The refused creates are a fact for the core: it records them (the shell corrects nothing).
    decision = after_create_failures(decision, failed, now=now)
    # 5. Write status when it changed (the writer may hold it briefly so that close changes share
    # one write). Unchanged, the status decided from is already written or pending; comparing the
    # models costs microseconds (the core replaces what it changes and shares the rest), dumping one
    # for the writer's own comparison some 200 us with 20 history records, and many reconciles (a
    # Job seen created, a Pod's phase) change nothing.
    if rebuilt or decision.status != status:
        await control.patch_status(key, decision.status)
    # 6. Events.
    if decision.events:
        control.post_events(key, uid, decision.events, now)
    # 7. Requeue.
    return Reconciled(
        wake_at=decision.wake_at, before=status, decision=decision, creates=created, subject=subject, failed=failed
    )
