"""The operator: kopf watches, one central scheduler, and the reconcile of one ScheduledJob.

kopf watches ScheduledJobs and keeps this module's cache of them current (event handlers only: kopf
stores no progress and posts no Events of its own). Their Jobs and Pods are cached by lean
list-and-watch loops (:meth:`punctual.kube.Kube.list_and_watch`) with a server-side label selector:
kopf's per-event machinery (per-object memory, causes, diff bases) cost about 0.7 ms per event,
and each run causes about ten Job and Pod events; kopf's label filter is also client-side, so it
would read every Pod of the cluster. The scheduler wakes each ScheduledJob at its next slot; every
wake-up runs the same numbered reconcile:

1. load the ScheduledJob and its Jobs from the caches,
2. parse the spec (an invalid one gets a condition and an Event, never a crash),
3. call the pure core (``punctual.core.decide``) with ``now`` from the injected clock,
4. create Jobs (AlreadyExists with our owner reference: adopt it), then delete Jobs,
5. write status in one merge patch (only when it changed),
6. emit Events and update metrics,
7. requeue at the core's next wake-up.

API calls all go through :mod:`punctual.kube`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import random
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime, timedelta
from typing import Any

import kopf
from aiohttp import web
from kopf._core.engines.peering import Identity  # kopf exports no public name for the peer id type
from pydantic import ValidationError

from punctual.api import (
    GROUP,
    PLURAL,
    VERSION,
    HistoryRecord,
    Result,
    ScheduledJobStatus,
    Trigger,
    parse_time,
)
from punctual.core import Decision, SpecError, Subject, build_schedule, decide, decide_invalid, parse_spec, shard_of
from punctual.events import EventBudget
from punctual.history import bump_counts
from punctual.jobs import (
    ANNOTATION_DURATION_BUDGET,
    ANNOTATION_RUN_REQUEST,
    LABEL_SCHEDULED_JOB,
    MAX_NAME,
    observe_job,
    slim_job,
    slim_pod,
)
from punctual.kube import ApiError, ClusterUnreachable, CrdMissing, Credentials, Kube, load_credentials
from punctual.metrics import Metrics, make_app
from punctual.scheduler import Clock, Scheduler, WallClock
from punctual.settings import Settings, SettingsError

__all__ = ["MetricsPortUnavailable", "Operator", "configure_logging", "run_operator"]

log = logging.getLogger("punctual")
Key = tuple[str, str]
Body = dict[str, Any]
RETRY = timedelta(seconds=5)
GONE_MEMORY = 100_000  # deleted Job uids remembered, against replayed watch events
MAX_EVENTS_PER_RECONCILE = 10  # a 10,000-slot catch-up must not post 10,000 Events


class MetricsPortUnavailable(OSError):
    """The metrics/health port cannot be bound (another operator has it, say): one line, exit 1."""


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload)


def configure_logging(settings: Settings) -> None:
    """Root logging in the chosen format; kopf's own chatter kept at WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("kopf").setLevel(max(logging.WARNING, logging.getLevelName(settings.log_level)))
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _key(body: Mapping[str, Any]) -> Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rv(body: Mapping[str, Any]) -> int:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _controller(body: Mapping[str, Any]) -> tuple[str, str] | None:
    """(name, uid) of the ScheduledJob that controls this object."""
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller") and ref.get("kind") == "ScheduledJob" and ref.get("apiVersion", "").startswith(GROUP):
            return str(ref.get("name")), str(ref.get("uid"))
    return None


class _NoDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf builds a "diff base" (a deep copy of the body) at every event, for change handlers.

    We register event handlers only, which never see a diff: skip the copy of every ScheduledJob
    (whose status holds the run history) at every watch event.
    """

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}


class Operator:
    """One operator instance: its kopf registry, caches, scheduler and API client."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        credentials: Credentials | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or WallClock()
        self.credentials = credentials
        self.metrics = metrics or Metrics(max_objects=settings.metrics_max_objects)
        self.metrics.set_shard(settings.shard, settings.shards)  # standbys too: PunctualShardDown counts them
        self.registry = kopf.OperatorRegistry()
        self.instance = settings.pod_name or f"{socket.gethostname()}-{os.getpid()}-{id(self) % 10000}"
        self.priority = settings.peering_priority if settings.peering_priority is not None else random.randint(1, 10**6)
        self.sjs: dict[Key, Body] = {}
        self.jobs: dict[Key, dict[str, Body]] = {}
        self.pods: dict[Key, dict[str, Body]] = {}  # (namespace, job name) -> pods
        self.job_owner: dict[Key, Key] = {}
        self.scheduler: Scheduler[Key] = Scheduler(
            clock=self.clock,
            evaluate=self.reconcile,
            workers=settings.workers,
            on_heap_size=self.metrics.set_heap_size,
        )
        self.kube: Kube | None = None
        self._pending: dict[Key, ScheduledJobStatus] = {}
        self._gone: OrderedDict[str, None] = OrderedDict()  # uids of deleted Jobs, newest last
        self._flush_timers: dict[Key, asyncio.TimerHandle] = {}
        self._background: set[asyncio.Task[None]] = set()  # status writes and Event posts in flight
        # At most `workers` of those talk to the API at once; the rest wait here, not in the HTTP
        # client's pool where their request timeout would run (a start-up burst of 10,000 status
        # writes otherwise timed out in the queue and was retried, adding load to a busy API).
        self._write_slots: asyncio.Semaphore | None = None
        self._flushing: set[Key] = set()
        self.event_budget = EventBudget(
            burst=settings.event_burst, refill=timedelta(seconds=settings.event_refill_seconds)
        )
        self.ready = threading.Event()
        self.leader = not settings.peering
        self.metrics_port: int | None = None
        self._register()

    # -- kopf wiring --------------------------------------------------------------------------

    def kopf_settings(self) -> kopf.OperatorSettings:
        s = kopf.OperatorSettings()
        s.posting.enabled = False  # Events are ours, one per decision; none from the framework
        s.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        s.persistence.diffbase_storage = _NoDiffBase(prefix=GROUP)
        s.watching.server_timeout = self.settings.watch_timeout
        s.watching.client_timeout = self.settings.watch_timeout + 10
        s.watching.connect_timeout = 10
        s.networking.request_timeout = 30
        return s

    def _register(self) -> None:
        reg = self.registry

        @kopf.on.login(registry=reg)
        def login(**_: Any) -> kopf.ConnectionInfo:
            creds = self._credentials()
            return kopf.ConnectionInfo(
                server=creds.server,
                ca_path=creds.ca_path,
                insecure=creds.insecure,
                token=creds.token,
                certificate_path=creds.cert_path,
                private_key_path=creds.key_path,
                default_namespace=creds.default_namespace,
            )

        # Async handlers on purpose: kopf runs sync handlers in a thread pool, and the caches and
        # the scheduler belong to the event loop's thread.
        @kopf.on.event(GROUP, VERSION, PLURAL, registry=reg)
        async def scheduledjob_event(event: Mapping[str, Any], **_: Any) -> None:
            self.on_scheduledjob(event.get("type"), dict(event["object"]))

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            self.credentials = load_credentials(self.settings.kubeconfig, self.settings.context)
        return self.credentials

    # -- cache maintenance (called from kopf's and our own watch events) --------------------------

    def mine(self, key: Key) -> bool:
        """Whether this process's shard handles the ScheduledJob ``key`` (always, unsharded)."""
        shards = self.settings.shards
        return shards <= 1 or shard_of(key[0], key[1], shards) == self.settings.shard

    def on_scheduledjob(self, kind: str | None, body: Body) -> None:
        key = _key(body)
        if not self.mine(key):
            return  # another shard's: not cached, not scheduled, no metrics here
        if kind == "DELETED":
            self.sjs.pop(key, None)
            self._pending.pop(key, None)
            timer = self._flush_timers.pop(key, None)
            if timer is not None:
                timer.cancel()
            self.scheduler.forget(key)
            self.event_budget.forget(key)
            self.metrics.forget(*key)
            self.metrics.set_scheduledjobs(len(self.sjs))
            return
        old = self.sjs.get(key)
        if old is not None and _rv(old) > _rv(body):
            return  # our own patch response is newer than this event
        self.sjs[key] = body
        self.metrics.set_scheduledjobs(len(self.sjs))
        if old is None or self._wants_reconcile(old, body):
            self.scheduler.wake(key)

    @staticmethod
    def _wants_reconcile(old: Body, new: Body) -> bool:
        om, nm = old.get("metadata") or {}, new.get("metadata") or {}
        if om.get("generation") != nm.get("generation") or om.get("uid") != nm.get("uid"):
            return True
        oa, na = om.get("annotations") or {}, nm.get("annotations") or {}
        return bool(
            oa.get(ANNOTATION_RUN_REQUEST) != na.get(ANNOTATION_RUN_REQUEST)
            or oa.get(ANNOTATION_DURATION_BUDGET) != na.get(ANNOTATION_DURATION_BUDGET)
        )

    def _remember_job(self, owner: Key, body: Body) -> None:
        meta = body.get("metadata") or {}
        name = str(meta.get("name"))
        if meta.get("uid") in self._gone:
            # A replayed event of a Job already deleted (a watch restarted from an older version):
            # letting it back in would make the core adopt, and count, a run that ended long ago.
            return
        jobs = self.jobs.setdefault(owner, {})
        old = jobs.get(name)
        if old is None or _rv(body) >= _rv(old):
            jobs[name] = slim_job(body)
        self.job_owner[(owner[0], name)] = owner

    def on_job(self, kind: str | None, body: Body) -> None:
        ref = _controller(body)
        if ref is None:
            return
        ns, job_name = _key(body)
        owner = (ns, ref[0])
        if not self.mine(owner):
            self.pods.pop((ns, job_name), None)  # its Pods may have arrived before it
            return
        before = self.jobs.get(owner, {}).get(job_name)
        if kind == "DELETED":
            self._forget_job(owner, job_name, (body.get("metadata") or {}).get("uid"))
            self.pods.pop((ns, job_name), None)
        else:
            self._remember_job(owner, body)
        if before is None or kind == "DELETED" or self._job_phase(before) != self._job_phase(body):
            self.scheduler.wake(owner)

    def _forget_job(self, owner: Key, job_name: str, uid: Any) -> None:
        self.jobs.get(owner, {}).pop(job_name, None)
        self.job_owner.pop((owner[0], job_name), None)
        if uid:
            self._gone[str(uid)] = None
            while len(self._gone) > GONE_MEMORY:
                self._gone.popitem(last=False)

    @staticmethod
    def _job_phase(body: Mapping[str, Any]) -> str:
        observed = observe_job(body)
        return observed.phase.value if observed else "?"

    def on_pod(self, kind: str | None, body: Body) -> None:
        meta = body.get("metadata") or {}
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
        pods[name] = slim_pod(body)
        phase = (body.get("status") or {}).get("phase")
        was = (before or {}).get("status", {}).get("phase")
        owner = self.job_owner.get((ns, job_name))
        if owner is not None and phase != was and phase in ("Succeeded", "Failed"):
            self.scheduler.wake(owner)

    def on_jobs_listed(self, namespace: str | None, items: list[Body]) -> None:
        """A fresh list of our Jobs (in one namespace, or all): the cache becomes exactly that."""
        self._relisted(self.jobs, namespace, items, self.on_job)

    def on_pods_listed(self, namespace: str | None, items: list[Body]) -> None:
        """A fresh list of our Pods: the cache becomes exactly that."""
        self._relisted(self.pods, namespace, items, self.on_pod)

    @staticmethod
    def _relisted(
        cache: Mapping[Key, Mapping[str, Body]],
        namespace: str | None,
        items: list[Body],
        handle: Callable[[str | None, Body], None],
    ) -> None:
        # Both caches are keyed by namespace first and object name inside: what the list does not
        # have went while nobody watched (DELETED), the rest is (re)added.
        listed = {_key(item) for item in items}
        for (ns, _), bodies in list(cache.items()):
            if namespace is None or ns == namespace:
                for name, body in list(bodies.items()):
                    if (ns, name) not in listed:
                        handle("DELETED", body)
        for item in items:
            handle("ADDED", item)

    # -- the reconcile ----------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> datetime | None:
        """Reconcile one ScheduledJob (steps in the module docstring); returns the next wake-up."""
        started = time.monotonic()
        try:
            return await self._reconcile(key)
        finally:
            self.metrics.observe_reconcile(time.monotonic() - started)

    async def _reconcile(self, key: Key) -> datetime | None:
        kube = self.kube
        if kube is None or not self.leader:
            return None
        # 1. Load the ScheduledJob and its Jobs from the caches.
        body = self.sjs.get(key)
        if body is None or (body.get("metadata") or {}).get("deletionTimestamp"):
            return None
        ns, name = key
        meta = body.get("metadata") or {}
        uid = str(meta.get("uid"))
        now = self.clock.now()
        pending = self._pending.get(key)
        if pending is not None:
            status = pending  # decided but not yet written: newer than the API's copy
        else:
            try:
                status = ScheduledJobStatus.model_validate(body.get("status") or {})
            except ValidationError:
                log.warning("%s/%s: unreadable status, rebuilding it from the Jobs", ns, name)
                status = ScheduledJobStatus()
        # 2-3. Parse the spec and decide.
        subject: Subject | None = None
        try:
            spec = parse_spec(body.get("spec") or {})
            subject = Subject(
                namespace=ns,
                name=name,
                uid=uid,
                creation=parse_time(str(meta.get("creationTimestamp"))) if meta.get("creationTimestamp") else now,
                spec=spec,
                generation=meta.get("generation"),
                run_request=(meta.get("annotations") or {}).get(ANNOTATION_RUN_REQUEST),
            )
            observed = []
            for job in self.jobs.get(key, {}).values():
                ref = _controller(job)
                if ref is None or ref[1] != uid:
                    continue  # a Job of an earlier object with the same name
                found = observe_job(job, list(self.pods.get((ns, str(job["metadata"]["name"])), {}).values()))
                if found is not None:
                    observed.append(found)
            decision = decide(
                subject,
                status=status,
                jobs=observed,
                now=now,
                default_time_zone=self.settings.default_time_zone,
            )
        except SpecError as exc:
            decision = decide_invalid(meta.get("generation"), status=status, error=str(exc), now=now)
            if not decision.events:
                # One log line per decision: when the spec just became invalid (or its error changed)
                # the decision's InvalidSpec Event is that line (step 6 logs every Event).
                log.warning("%s/%s: invalid spec: %s", ns, name, exc)
        # 4. Create Jobs, then delete Jobs.
        failed: dict[str, str] = {}
        for create in decision.creates:
            try:
                self._remember_job(key, await kube.create_job(ns, create.manifest))
            except ApiError as exc:
                if exc.status == 409:
                    existing = await kube.get_job(ns, create.name)
                    ref = _controller(existing)
                    if ref is not None and ref[1] == uid:
                        self._remember_job(key, existing)  # ours from before a crash: adopt it
                        # This decision recorded it as just started, but it may have run (or finished)
                        # long ago, and its watch events may never show a phase change: decide again.
                        self.scheduler.wake(key)
                        continue
                    failed[create.name] = f"a Job named {create.name} exists and is not owned by this ScheduledJob"
                elif exc.transient:
                    log.warning("%s/%s: creating Job %s: %s; retrying", ns, name, create.name, exc)
                    return now + RETRY  # no status write: the slot is decided again, nothing is lost
                else:
                    failed[create.name] = exc.message
            except ClusterUnreachable as exc:
                log.warning("%s/%s: API unreachable: %s; retrying", ns, name, exc)
                return now + RETRY
        for delete in decision.deletes:
            try:
                await kube.delete_job(ns, delete.name)
                gone = self.jobs.get(key, {}).get(delete.name)
                if gone is not None:
                    self._forget_job(key, delete.name, (gone.get("metadata") or {}).get("uid"))
            except (ApiError, ClusterUnreachable) as exc:
                log.warning("%s/%s: deleting Job %s: %s", ns, name, delete.name, exc)
        new_status, events = decision.status, list(decision.events)
        if failed:
            new_status, events = self._creation_failed(new_status, events, failed, now)
        # 5. Write status, in one merge patch, when it changed (changes within status_delay share it).
        await self._save_status(key, new_status)
        # 6. Events (in the background: the next ScheduledJob's Job create must not wait for them; in
        # a burst of starts that halves each worker's round trips) and metrics.
        if events:
            self._spawn(self._post_events(ns, name, uid, events, now))
        self._observe(key, status, decision, new_status, subject, now, failed)
        # 7. Requeue.
        return decision.wake_at

    @staticmethod
    def _creation_failed(
        status: ScheduledJobStatus, events: list[Any], failed: Mapping[str, str], now: datetime
    ) -> tuple[ScheduledJobStatus, list[Any]]:
        from punctual.core import Event

        new = status.model_copy(deep=True)
        for i, rec in enumerate(new.history):
            if rec.job in failed:
                if rec.result is Result.RUNNING:
                    # The core counted it as started ("Running: runs started"); it never started.
                    new.counts[Result.RUNNING.value] = max(0, new.counts.get(Result.RUNNING.value, 0) - 1)
                    bump_counts(new.counts, Result.FAILED)
                new.history[i] = rec.model_copy(
                    update={
                        "result": Result.FAILED,
                        "reason": "JobCreateFailed",
                        "message": failed[rec.job],
                        "completionTime": now,
                    }
                )
        new.active = [a for a in new.active if a.name not in failed]
        new.activeCount = len(new.active)
        events = [e for e in events if not (e.reason == "RunStarted" and any(j in e.message for j in failed))]
        for job, why in failed.items():
            events.append(Event("Warning", "JobCreateFailed", f"cannot create Job {job}: {why}"))
        for i, cond in enumerate(new.conditions):
            if cond.type == "Ready":
                new.conditions[i] = cond.model_copy(
                    update={
                        "status": "False",
                        "reason": "JobCreateFailed",
                        "message": next(iter(failed.values())),
                        "lastTransitionTime": now,
                    }
                )
        return new, events

    async def _save_status(self, key: Key, status: ScheduledJobStatus) -> None:
        """Write now, or keep it pending for ``status_delay`` so that close changes share one write.

        A crash inside the delay loses nothing that matters: the Jobs carry their slots, so the next
        operator adopts them and decides the rest again; each slot is still decided once.
        """
        if self.settings.status_delay <= 0:
            await self._write_status(key, status)
            return
        self._pending[key] = status
        if key not in self._flush_timers:
            loop = asyncio.get_running_loop()
            self._flush_timers[key] = loop.call_later(self.settings.status_delay, self._start_flush, key)

    def _start_flush(self, key: Key) -> None:
        self._flush_timers.pop(key, None)
        if key in self._flushing:
            return  # one write per ScheduledJob at a time: the running one looks again when done
        self._flushing.add(key)
        self._spawn(self._flush(key))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` beside the reconciles; the shutdown waits for it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _slot(self) -> asyncio.Semaphore:
        """One of the ``workers`` places for a background write (made on the running loop)."""
        if self._write_slots is None:
            self._write_slots = asyncio.Semaphore(self.settings.workers)
        return self._write_slots

    async def _flush(self, key: Key) -> None:
        # Writes of one ScheduledJob never overlap: a slow older PATCH overtaken by a newer one
        # would otherwise land last and put an old status back.
        try:
            while (status := self._pending.get(key)) is not None:
                try:
                    async with self._slot():
                        latest = self._pending.get(key)  # the newest, after the wait
                        if latest is None:
                            return  # deleted meanwhile
                        status = latest
                        await self._write_status(key, status)
                except (ApiError, ClusterUnreachable) as exc:
                    log.warning("%s/%s: writing status: %s; retrying", key[0], key[1], exc)
                    if key not in self._flush_timers:
                        loop = asyncio.get_running_loop()
                        self._flush_timers[key] = loop.call_later(RETRY.total_seconds(), self._start_flush, key)
                    return
                if self._pending.get(key) is status:
                    del self._pending[key]
                elif key in self._flush_timers:
                    return  # a newer status is pending and its own timer will write it
        finally:
            self._flushing.discard(key)

    async def flush_all(self) -> None:
        """Write every pending status now (at shutdown)."""
        for handle in self._flush_timers.values():
            handle.cancel()
        self._flush_timers.clear()
        for key in list(self._pending):
            with contextlib.suppress(ApiError, ClusterUnreachable):
                await self._write_status(key, self._pending.pop(key))

    async def _write_status(self, key: Key, status: ScheduledJobStatus) -> None:
        assert self.kube is not None
        raw = (self.sjs.get(key) or {}).get("status") or {}
        new = status.model_dump(mode="json", exclude_none=True)
        if new == raw:
            return
        patch: dict[str, Any] = dict(new)
        for field in raw:
            if field not in new:
                patch[field] = None  # merge patch: null removes the field
        try:
            updated = await self.kube.patch_status(key[0], key[1], patch)
        except ApiError as exc:
            if exc.status == 404:
                return  # deleted meanwhile
            raise
        if updated:
            self.on_scheduledjob("MODIFIED", updated)

    async def _post_events(self, ns: str, name: str, uid: str, events: list[Any], now: datetime) -> None:
        assert self.kube is not None
        for event in events[:MAX_EVENTS_PER_RECONCILE]:
            if event.type == "Normal" and not self.event_budget.allow((ns, name), now):
                continue  # over this object's budget (as client-go's spam filter); the log line stays
            try:
                async with self._slot():
                    await self.kube.post_event(
                        namespace=ns,
                        name=name,
                        uid=uid,
                        type_=event.type,
                        reason=event.reason,
                        message=event.message,
                        now=now,
                        instance=self.instance,
                    )
            except (ApiError, ClusterUnreachable) as exc:
                log.info("%s/%s: could not post Event %s: %s", ns, name, event.reason, exc)
        for event in events:
            log.log(
                logging.WARNING if event.type == "Warning" else logging.INFO,
                "%s/%s: %s: %s",
                ns,
                name,
                event.reason,
                event.message,
            )

    def _observe(
        self,
        key: Key,
        before: ScheduledJobStatus,
        decision: Decision,
        after: ScheduledJobStatus,
        subject: Subject | None,
        now: datetime,
        failed: Mapping[str, str],
    ) -> None:
        ns, name = key
        m = self.metrics
        previous: dict[str, HistoryRecord] = {r.job: r for r in before.history}
        for create in decision.creates:
            if create.name in failed:
                continue
            lag = None if create.trigger is Trigger.MANUAL else (now - create.slot).total_seconds()
            m.run_started(ns, name, trigger=create.trigger.value, lag_seconds=lag)
        for rec in decision.records:
            old = previous.get(rec.job)
            if old is not None and old.result is rec.result:
                continue
            if rec.result in (Result.SUCCEEDED, Result.FAILED, Result.REPLACED):
                m.run_finished(
                    ns,
                    name,
                    result=rec.result.value,  # type: ignore[arg-type]
                    duration_seconds=rec.durationSeconds,
                    exit_code=rec.exitCode,
                    finished_at=rec.completionTime or now,
                )
            if rec.result in (Result.SKIPPED, Result.MISSED, Result.DROPPED, Result.REPLACED):
                m.slot_outcome(ns, name, outcome=rec.result.value, n=rec.slotCount or 1)  # type: ignore[arg-type]
        interval = budget = None
        if subject is not None:
            with contextlib.suppress(SpecError):
                hint = build_schedule(subject, default_time_zone=self.settings.default_time_zone).interval_hint(now)
                interval = hint.total_seconds() if hint else None
            raw_budget = ((self.sjs.get(key) or {}).get("metadata", {}).get("annotations") or {}).get(
                ANNOTATION_DURATION_BUDGET
            )
            if raw_budget:
                from punctual.durations import DurationError, parse_duration

                with contextlib.suppress(DurationError):
                    budget = parse_duration(raw_budget).total_seconds()
        starts = [a.startTime for a in after.active if a.startTime is not None]
        m.set_state(
            ns,
            name,
            active=len(after.active),
            queued=len(after.queued),
            next_run=after.nextScheduleTime,
            interval_seconds=interval,
            budget_seconds=budget,
            oldest_active_start=min(starts) if starts else None,
            suspended=subject.spec.suspend if subject else None,
            last_success=after.lastSuccessfulTime,
            last_failure=after.lastFailureTime,
        )

    # -- peering: only the leader schedules -----------------------------------------------------

    def _is_leader(self, peering: Mapping[str, Any] | None, now: datetime) -> bool:
        """kopf's rule: pause while another live peer has the same or a higher priority."""
        if peering is None:
            return False
        for peer_id, info in (peering.get("status") or {}).items():
            if peer_id == self.instance or not isinstance(info, Mapping):
                continue
            try:
                seen = parse_time(str(info.get("lastseen")))
                lifetime = float(info.get("lifetime", 60))
                priority = int(info.get("priority", 0))
            except (ValueError, TypeError):
                continue
            if seen + timedelta(seconds=lifetime) >= now and priority >= self.priority:
                return False
        return True

    async def _watch_leadership(self, interval: float) -> None:
        assert self.kube is not None
        # kopf keeps a KopfPeering in each watched namespace (the same peers in each), and a
        # ClusterKopfPeering when it watches the whole cluster: read the first one of them.
        namespace = self.settings.namespaces[0] if self.settings.namespaces else None
        while True:
            try:
                peering = await self.kube.get_peering(self.settings.peering, namespace)
                leader = self._is_leader(peering, self.clock.now())
            except (ApiError, ClusterUnreachable) as exc:
                log.warning("peering check failed: %s", exc)
                leader = False
            if leader != self.leader:
                log.info("%s scheduling (priority %s)", "resuming" if leader else "pausing", self.priority)
                self.leader = leader
                self.scheduler.set_paused(not leader)
                if leader:
                    for key in list(self.sjs):
                        self.scheduler.wake(key)  # catch up whatever the previous leader left
            await asyncio.sleep(interval)

    # -- running ------------------------------------------------------------------------------------

    def _start_watches(self, kube: Kube) -> tuple[list[asyncio.Task[None]], list[asyncio.Event]]:
        """Our Jobs and Pods: a list-and-watch loop per namespace (or one for the cluster) and kind.

        Their first lists finish before the first reconcile: kopf delivers ScheduledJobs on its own
        watch, and a reconcile that ran before the Jobs arrived would not see a Job created just
        before a restart and would decide its slot again (Skipped under Forbid while it runs).
        """
        tasks: list[asyncio.Task[None]] = []
        listed: list[asyncio.Event] = []
        for namespace in self.settings.namespaces or (None,):
            prefix = f"/namespaces/{namespace}" if namespace else ""
            for path, on_list, on_event in (
                (f"/apis/batch/v1{prefix}/jobs", self.on_jobs_listed, self.on_job),
                (f"/api/v1{prefix}/pods", self.on_pods_listed, self.on_pod),
            ):
                done = asyncio.Event()
                listed.append(done)
                tasks.append(
                    asyncio.create_task(
                        kube.list_and_watch(
                            path,
                            label_selector=LABEL_SCHEDULED_JOB,
                            on_list=functools.partial(on_list, namespace),
                            on_event=on_event,
                            timeout_seconds=self.settings.watch_timeout,
                            listed=done,
                        ),
                        name=f"punctual-watch-{path}",
                    )
                )
        return tasks, listed

    async def run(
        self,
        *,
        stop_flag: asyncio.Event | threading.Event | None = None,
        ready_flag: threading.Event | None = None,
        peering_interval: float = 2.0,
    ) -> None:
        """Check the cluster, serve metrics, and run kopf and the scheduler until stopped."""
        creds = self._credentials()
        async with Kube(creds, counter=self.metrics) as kube:
            self.kube = kube
            self._write_slots = asyncio.Semaphore(self.settings.workers)
            await kube.check_crd()
            tasks, listed = self._start_watches(kube)
            try:
                for done in listed:
                    await done.wait()
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            runner = web.AppRunner(make_app(self.metrics, ready=self.ready.is_set, alive=lambda: True))
            await runner.setup()
            site = web.TCPSite(runner, self.settings.metrics_host, self.settings.metrics_port)
            try:
                await site.start()
            except OSError as exc:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await runner.cleanup()
                where = f"{self.settings.metrics_host}:{self.settings.metrics_port}"
                raise MetricsPortUnavailable(
                    f"cannot serve metrics and health on {where} (PUNCTUAL_METRICS_PORT): "
                    f"{os.strerror(exc.errno).lower() if exc.errno else exc}; is another operator running on this port?"
                ) from exc
            server = getattr(site, "_server", None)
            sockets = getattr(server, "sockets", None) or []
            self.metrics_port = sockets[0].getsockname()[1] if sockets else self.settings.metrics_port
            self.scheduler.set_paused(not self.leader)
            tasks.append(asyncio.create_task(self.scheduler.run(), name="punctual-scheduler"))
            if self.settings.peering:
                tasks.append(asyncio.create_task(self._watch_leadership(peering_interval), name="punctual-peering"))
            kopf_ready = threading.Event()

            async def mark_ready() -> None:
                while not kopf_ready.is_set():
                    await asyncio.sleep(0.05)
                self.ready.set()
                if ready_flag is not None:
                    ready_flag.set()

            tasks.append(asyncio.create_task(mark_ready()))
            # Let our tasks take their first step (the scheduler spawns its workers there): kopf treats
            # every task that did not exist when it started as its own, waits 5 s for them on exit and
            # cancels them, while the scheduler kept deciding on caches its stopped watches left stale.
            await asyncio.sleep(0)
            try:
                await kopf.operator(
                    registry=self.registry,
                    settings=self.kopf_settings(),
                    clusterwide=not self.settings.namespaces,
                    namespaces=list(self.settings.namespaces),
                    standalone=not self.settings.peering,
                    peering_name=self.settings.peering or None,
                    priority=self.priority,
                    identity=Identity(self.instance),
                    stop_flag=stop_flag,
                    ready_flag=kopf_ready,
                )
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await asyncio.gather(*self._background, return_exceptions=True)
                await self.flush_all()
                await runner.cleanup()
                self.kube = None


def run_operator(env: Mapping[str, str] | None = None) -> int:
    """``punctual run``: settings from the environment, clear errors on a bad start."""
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    operator = Operator(settings)
    try:
        creds = operator._credentials()
    except ClusterUnreachable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    log.info(
        "Punctual starting against %s (namespaces: %s%s)",
        creds.server,
        ", ".join(settings.namespaces) or "all",
        f"; shard {settings.shard} of {settings.shards}" if settings.shards > 1 else "",
    )
    try:
        asyncio.run(operator.run())
    except ClusterUnreachable as exc:
        print(f"error: cannot reach the Kubernetes API at {creds.server}: {exc}", file=sys.stderr)
        return 1
    except (CrdMissing, MetricsPortUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    return 0
