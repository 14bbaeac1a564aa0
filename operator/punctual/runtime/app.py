"""The operator's wiring: settings, kopf, the caches, the scheduler, the API client, HTTP.

kopf watches ScheduledJobs and keeps the cache of them current (event handlers only: kopf stores
no progress and posts no Events of its own). Their Jobs and Pods are cached by lean list-and-watch
loops (:meth:`punctual.runtime.kube.Kube.list_and_watch`) with a server-side label selector: kopf's
per-event machinery (per-object memory, causes, diff bases) cost about 0.7 ms per event, and each
run causes about ten Job and Pod events; kopf's label filter is also client-side, so it would read
every Pod of the cluster. The scheduler wakes each ScheduledJob at its next slot; every wake-up runs
the numbered steps of :mod:`punctual.runtime.reconcile`. API calls all go through :mod:`punctual.runtime.kube`;
``punctual run`` itself is :mod:`punctual.runtime.command`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Final, cast

import kopf
from aiohttp import web

from punctual.api import CALENDAR_PLURAL, GROUP, PLURAL, VERSION, ScheduledJobStatus
from punctual.bodies import Job, ScheduledJobBody
from punctual.core import Event, shard_of
from punctual.jobs import watch_selectors
from punctual.runtime.background import Background
from punctual.runtime.cache import Cache, Key, Scope, bucket_labelled, key_of, unlabelled
from punctual.runtime.http import make_app
from punctual.runtime.kube import Credentials, Kube, load_credentials
from punctual.runtime.leadership import Election, Elector
from punctual.runtime.metrics import Metrics
from punctual.runtime.observe import observe
from punctual.runtime.reconcile import reconcile
from punctual.runtime.recorder import EventRecorder
from punctual.runtime.scheduler import Clock, Scheduler, WallClock
from punctual.runtime.settings import Settings
from punctual.runtime.status_writer import StatusWriter
from punctual.runtime.versions import Source

__all__ = ["KOPF_ERROR_BACKOFFS", "KOPF_IDLE_TIMEOUT", "ApiJobControl", "MetricsPortUnavailable", "Operator"]

log = logging.getLogger("punctual")


class MetricsPortUnavailable(OSError):
    """The metrics/health port cannot be bound (another operator has it, say): one line, exit 1."""


KOPF_ERROR_BACKOFFS: Final = (1, 1, 2, 3, 5, 8, 13, 21, 30, 30, 30, 30)
"""kopf's pauses between tries of a failed request (its default, 54 s in all, then four more of 30 s).

A kube-apiserver that has just restarted refuses requests with 403 until its RBAC caches are filled
(kubernetes/kubernetes#121635); on a loaded machine that outlasted kopf's default tries, and its
ScheduledJob watch gave up. 174 s covers it, and Job creates are retried for RBAC_GRACE likewise."""


KOPF_IDLE_TIMEOUT: Final = 0.5
"""Seconds kopf keeps a ScheduledJob's worker after its last event (kopf's default: 5 s).

kopf hands each object's events to a worker task of its own, which holds its queue and the last
event's decoded body until it has idled this long. Every status write echoes back as an event, so
at a slot every ScheduledJob had a worker holding its whole body, history included, for 5 s:
at 5,000 ScheduledJobs after two writes each, 211 MB of RSS against 138 MB with 0.5 s (our own
loop, with no per-object workers: 119 MB), ``python bench/watch_cost.py --count 5000 --rounds 2``.
A ScheduledJob's events come seconds apart, so a new worker per event costs nothing more."""


class _NoDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf builds a "diff base" (a deep copy of the body) at every event, for change handlers.

    We register event handlers only, which never see a diff: skip the copy of every ScheduledJob
    (whose status holds the run history) at every watch event.
    """

    def build(self, *, body: Any, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: Any) -> Any:
        return None  # nor read the last one back from the annotations (none is ever stored)


class ApiJobControl:
    """The reconcile's ``JobControl`` in the operator: the API, the status writer, the Event recorder."""

    def __init__(self, kube: Kube, writer: StatusWriter, recorder: EventRecorder) -> None:
        self.kube, self.writer, self.recorder = kube, writer, recorder

    async def create_job(self, namespace: str, manifest: Job) -> Job:
        return await self.kube.create_job(namespace, manifest)

    async def get_job(self, namespace: str, name: str) -> Job:
        return await self.kube.get_job(namespace, name)

    async def delete_job(self, namespace: str, name: str) -> None:
        await self.kube.delete_job(namespace, name)

    async def patch_status(self, key: Key, status: ScheduledJobStatus) -> None:
        await self.writer.save(key, status)

    def post_events(self, key: Key, uid: str, events: Sequence[Event], now: datetime) -> None:
        self.recorder.post(key, uid, events, now)


class Operator:
    """One operator instance: its kopf registry and its collaborators (caches, scheduler, writer, recorder)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock | None = None,
        credentials: Credentials | None = None,
        metrics: Metrics | None = None,
        kube: Kube | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or WallClock()
        self.credentials = credentials
        self.metrics = metrics or Metrics(max_objects=settings.metrics_max_objects)
        self.metrics.set_shard(settings.shard, settings.shards)  # standbys too: PunctualShardDown counts them
        self.registry = kopf.OperatorRegistry()
        self.instance = settings.pod_name or f"{socket.gethostname()}-{os.getpid()}-{id(self) % 10000}"
        self.scheduler: Scheduler[Key] = Scheduler(
            clock=self.clock,
            evaluate=self.reconcile,
            workers=settings.workers,
            on_heap_size=self.metrics.set_heap_size,
        )
        self.cache = Cache(mine=self.mine, wake=self.scheduler.wake)
        self.sjs, self.jobs, self.pods = self.cache.sjs, self.cache.jobs, self.cache.pods
        self.on_job, self.on_pod = self.cache.on_job, self.cache.on_pod
        self.on_jobs_listed, self.on_pods_listed = self.cache.on_jobs_listed, self.cache.on_pods_listed
        self._given_kube = kube  # injected (tests, embedding); otherwise built from the credentials in run()
        self.kube: Kube | None = None
        self.background = Background(workers=settings.workers)
        self.writer = StatusWriter(
            delay=settings.status_delay,
            background=self.background,
            current=self.cache.raw_status,
            patch=lambda ns, name, patch: self._api().patch_status(ns, name, patch),
            on_written=lambda body, ticket: self.on_scheduledjob("MODIFIED", body, written=ticket),
            ticket=self.cache.scheduledjob_ticket,
        )
        self.recorder = EventRecorder(
            kube=self._api,
            background=self.background,
            instance=self.instance,
            burst=settings.event_burst,
            refill=timedelta(seconds=settings.event_refill_seconds),
            on_dropped=self.metrics.event_dropped,
        )
        self.ready = threading.Event()
        # Without a Lease (a lone `punctual run`, the sandbox) this process leads; with one, only
        # while it holds the Lease. kopf runs standalone either way: every replica watches.
        self.elector: Elector | None = None
        self.leader = not settings.lease_name
        self.metrics.set_leader(self.leader)
        self.metrics_port: int | None = None
        self._register()

    def _api(self) -> Kube:
        assert self.kube is not None, "the API client exists only while the operator runs"
        return self.kube

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
        s.networking.error_backoffs = KOPF_ERROR_BACKOFFS
        s.queueing.idle_timeout = KOPF_IDLE_TIMEOUT
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
            if event.get("type") is not None:  # None: kopf's initial listing, not a watch event
                self.metrics.watch_event(PLURAL)
            self.on_scheduledjob(event.get("type"), cast(ScheduledJobBody, dict(event["object"])))

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            self.credentials = load_credentials(self.settings.kubeconfig, self.settings.context)
        return self.credentials

    # -- events from kopf (ScheduledJobs); our Jobs and Pods go to the cache ------------------------

    def mine(self, key: Key) -> bool:
        """Whether this process's shard handles the ScheduledJob ``key`` (always, unsharded)."""
        shards = self.settings.shards
        return shards <= 1 or shard_of(key[0], key[1], shards) == self.settings.shard

    def on_scheduledjob(
        self,
        kind: str | None,
        body: ScheduledJobBody,
        *,
        written: int | None = None,
    ) -> None:
        """A ScheduledJob from kopf (``kind`` None: listed), or the answer to our own status write
        (``written``: the ticket taken before it)."""
        key = key_of(body)
        self.cache.upstreams.on_scheduledjob(kind, body)  # every shard's: a downstream here may need it
        if not self.mine(key):
            return  # another shard's: not cached, not scheduled, no metrics here
        if kind == "DELETED":
            self.cache.forget_scheduledjob(key)
            self.writer.forget(key)
            self.scheduler.forget(key)
            self.recorder.forget(key)
            self.metrics.forget(*key)
            self.metrics.set_scheduledjobs(len(self.sjs))
            return
        source = Source.OWN if written is not None else Source.LISTING if kind is None else Source.WATCH
        wanted = self.cache.put_scheduledjob(body, source=source, ticket=written)
        self.metrics.set_scheduledjobs(len(self.sjs))
        if wanted:
            self.scheduler.wake(key)

    # -- the reconcile (its steps are in punctual.runtime.reconcile) --------------------------------

    async def reconcile(self, key: Key) -> datetime | None:
        """Reconcile one ScheduledJob; returns the next wake-up."""
        started = time.monotonic()
        try:
            kube = self.kube
            now = self.clock.now()
            if kube is None or not self.leader:
                return None  # a standby: woken again when it leads
            if self.elector is not None and not self.elector.leading(now):
                # Past the renew deadline: start nothing, and look again after the next try (the
                # elector pauses the scheduler if the Lease is lost, or a renewal may still succeed).
                return now + timedelta(seconds=self.settings.retry_period)
            done = await reconcile(
                key,
                cache=self.cache,
                control=ApiJobControl(kube, self.writer, self.recorder),
                now=now,
                pending=self.writer.pending_status(key),
                default_time_zone=self.settings.default_time_zone,
                wake=self.scheduler.wake,
            )
            observe(
                self.metrics,
                key,
                done,
                body=self.sjs.get(key),
                now=now,
                default_time_zone=self.settings.default_time_zone,
            )
            return done.wake_at
        finally:
            self.metrics.observe_reconcile(time.monotonic() - started)

    async def flush_all(self) -> None:
        """Write every pending status now (at shutdown)."""
        await self.writer.flush_all()

    def _on_leadership(self, leader: bool) -> None:
        self.leader = leader
        self.metrics.set_leader(leader)
        self.scheduler.set_paused(not leader)
        if not leader:
            self.cache.release_waits()  # the new leader writes status now: the watch's copies are the truth
        if leader:
            for key in list(self.sjs):
                self.scheduler.wake(key)  # catch up whatever the previous leader left

    def _elector(self, kube: Kube) -> Elector | None:
        if not self.settings.lease_name:
            return None
        s = self.settings
        return Elector(
            name=s.lease_name,
            namespace=s.lease_namespace or kube.credentials.default_namespace,
            me=self.instance,
            clock=self.clock,
            election=Election(
                lease_duration=s.lease_duration, renew_deadline=s.renew_deadline, retry_period=s.retry_period
            ),
            on_change=self._on_leadership,
        )

    # -- running ------------------------------------------------------------------------------------

    def _start_watches(self, kube: Kube) -> tuple[list[asyncio.Task[None]], list[asyncio.Event]]:
        """Our Jobs and Pods: list-and-watch loops per namespace (or for the cluster), kind and selector.

        Their first lists finish before the first reconcile: kopf delivers ScheduledJobs on its own
        watch, and a reconcile that ran before the Jobs arrived would not see a Job created just
        before a restart and would decide its slot again (Skipped under Forbid while it runs).
        A shard selects its buckets on the server (``punctual.dev/bucket in (...)``), plus the Jobs
        and Pods with no bucket label, made before Punctual set one (:func:`punctual.jobs.watch_selectors`);
        each loop's fresh list replaces only what that selector covers.
        """
        tasks: list[asyncio.Task[None]] = []
        listed: list[asyncio.Event] = []
        selectors = watch_selectors(self.settings.shard, self.settings.shards)
        # Sharded, the two selectors are the shard's buckets and the objects with no bucket label.
        scopes: tuple[Scope | None, ...] = (None,) if len(selectors) == 1 else (bucket_labelled, unlabelled)
        for namespace in self.settings.namespaces or (None,):
            prefix = f"/namespaces/{namespace}" if namespace else ""
            for path, on_list, on_event in (
                (f"/apis/batch/v1{prefix}/jobs", self.cache.on_jobs_listed, self.cache.on_job),
                (f"/api/v1{prefix}/pods", self.cache.on_pods_listed, self.cache.on_pod),
            ):
                for selector, scope in zip(selectors, scopes, strict=True):
                    done = asyncio.Event()
                    listed.append(done)
                    tasks.append(
                        asyncio.create_task(
                            kube.list_and_watch(
                                path,
                                label_selector=selector,
                                on_list=functools.partial(on_list, namespace, scope=scope),
                                on_event=on_event,
                                timeout_seconds=self.settings.watch_timeout,
                                listed=done,
                            ),
                            name=f"punctual-watch-{path}?{selector}",
                        )
                    )
            # Calendars (spec.calendars): listed before the first reconcile too, or a ScheduledJob
            # decided meanwhile would take its Calendar for missing. Without the Calendar CRD the
            # list fails, the start-up goes on and the watch retries.
            done = asyncio.Event()
            listed.append(done)
            path = f"/apis/{GROUP}/{VERSION}{prefix}/{CALENDAR_PLURAL}"
            tasks.append(
                asyncio.create_task(
                    kube.list_and_watch(
                        path,
                        label_selector="",
                        on_list=functools.partial(self.cache.calendars.on_listed, namespace),
                        on_event=self.cache.calendars.on_event,
                        timeout_seconds=self.settings.watch_timeout,
                        listed=done,
                    ),
                    name=f"punctual-watch-{path}",
                )
            )
        return tasks, listed

    async def _serve_http(self, tasks: list[asyncio.Task[None]]) -> web.AppRunner:
        runner = web.AppRunner(make_app(self.metrics, ready=self.ready.is_set, alive=lambda: True))
        await runner.setup()
        site = web.TCPSite(runner, self.settings.metrics_host, self.settings.metrics_port)
        try:
            await site.start()
        except OSError as exc:
            await _cancel(tasks)
            await runner.cleanup()
            where = f"{self.settings.metrics_host}:{self.settings.metrics_port}"
            raise MetricsPortUnavailable(
                f"cannot serve metrics and health on {where} (PUNCTUAL_METRICS_PORT): "
                f"{os.strerror(exc.errno).lower() if exc.errno else exc}; is another operator running on this port?"
            ) from exc
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.metrics_port = sockets[0].getsockname()[1] if sockets else self.settings.metrics_port
        return runner

    async def run(
        self,
        *,
        stop_flag: asyncio.Event | threading.Event | None = None,
        ready_flag: threading.Event | None = None,
    ) -> None:
        """Check the cluster, serve metrics, and run kopf and the scheduler until stopped."""
        given = self._given_kube
        client = contextlib.nullcontext(given) if given else Kube(self._credentials(), counter=self.metrics)
        async with client as kube:
            self.kube = kube
            self.background.reset()
            self.recorder.reset()
            await kube.check_crd()
            tasks, listed = self._start_watches(kube)
            try:
                for done in listed:
                    await done.wait()
            except BaseException:
                await _cancel(tasks)
                raise
            runner = await self._serve_http(tasks)
            self.scheduler.set_paused(not self.leader)
            tasks.append(asyncio.create_task(self.scheduler.run(), name="punctual-scheduler"))
            self.elector = self._elector(kube)
            if self.elector is not None:
                tasks.append(asyncio.create_task(self.elector.run(kube), name="punctual-lease"))
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
                    standalone=True,  # no kopf peering: the Lease decides who starts runs
                    stop_flag=stop_flag,
                    ready_flag=kopf_ready,
                )
            finally:
                await _cancel(tasks)
                await self.background.wait()
                await self.flush_all()
                if self.elector is not None:  # last: nothing starts after the hand-over
                    await self.elector.release(kube)
                    self._on_leadership(False)
                await runner.cleanup()
                self.kube = None


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
