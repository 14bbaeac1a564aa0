"""The web UI's HTTP server: aiohttp routes that read the API and render the templates (I/O shell).

Every request is made with the one :class:`kubectl_sj.client.Cluster` the command started with: the
caller's kubeconfig and context (or, ``--in-cluster``, the pod's ServiceAccount), so what a page
shows and what an action may do is that identity's RBAC. The client is synchronous (urllib3), so
its calls run in threads. A failure is a page (forbidden with the verb and resource, not found, API
unreachable), never a traceback. Pages that change (the fleet, a job with a run in flight, a running
run's log) carry ``data-refresh`` and a few lines of inline script re-fetch them and swap the
``#live`` element; nothing is loaded from the internet.

Actions (Run now, suspend, resume, a backfill and its cancel) are POSTs from the UI's own forms.
Since the server holds the user's credentials, a POST whose ``Origin`` is another site is refused,
and on a loopback address only loopback host names are served (a DNS-rebinding page cannot reach
it by another name). A backfill is checked and sent by :mod:`kubectl_sj.backfill`, the code of
``kubectl sj backfill``; an input it refuses is a 400 page and nothing is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from kubectl_sj import backfill
from kubectl_sj.client import Cluster
from kubectl_sj.errors import InputError, PluginError
from kubectl_sj.format import format_local, human_duration
from kubectl_sj.kubeconfig import Connection
from kubectl_sj.objects import ScheduledJob
from kubectl_sj.runs import job_pods, new_token
from kubectl_sj.ui import views
from punctual.jobs import (
    ANNOTATION_RUN_OVERRIDES,
    ANNOTATION_RUN_REQUEST,
    LABEL_SCHEDULED_JOB,
    label_value,
    manual_job_name,
)

if TYPE_CHECKING:
    from punctual.core import BackfillPlan

__all__ = ["SERVICE_ACCOUNT_DIR", "UiSettings", "build_app", "in_cluster_connection", "serve"]

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

_log = logging.getLogger("kubectl_sj.ui")
_TEMPLATES = Path(__file__).parent / "templates"
_LOG_LIMIT = 256 * 1024  # bytes of a log shown on the run page (the raw log link has it all)
T = TypeVar("T")


@dataclass(frozen=True)
class UiSettings:
    """What ``kubectl sj ui`` was started with."""

    default_namespace: str | None
    """The fleet's namespace when the URL names none (None: all namespaces)."""
    context: str
    """What the header says the UI is connected to (the context, or in-cluster)."""
    refresh_seconds: float = 5.0
    loopback_only: bool = True


def in_cluster_connection(folder: Path = SERVICE_ACCOUNT_DIR) -> Connection:
    """The pod's ServiceAccount, as ``kubernetes.config.load_incluster_config`` reads it; the token is
    re-read per request (the kubelet rotates it)."""
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise PluginError("error: --in-cluster: KUBERNETES_SERVICE_HOST/PORT are not set (not in a pod?)")
    token_file = folder / "token"
    if not token_file.is_file():
        raise PluginError(f"error: --in-cluster: no ServiceAccount token at {token_file}")
    namespace_file = folder / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.is_file() else "default"
    if ":" in host:
        host = f"[{host}]"

    def authorization() -> str | None:
        return f"Bearer {token_file.read_text().strip()}"

    return Connection(
        host=f"https://{host}:{port}",
        namespace=namespace,
        ca_file=str(folder / "ca.crt"),
        authorization=authorization,
    )


# -- rendering ---------------------------------------------------------------------------------------


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_local
    return env


class _BadQuery(Exception):
    """A query parameter the page cannot use (a 400 page that says which)."""


class _Pages:
    """The route handlers; ``cluster`` is the user's."""

    def __init__(self, cluster: Cluster, settings: UiSettings, *, clock: Callable[[], datetime]) -> None:
        self.cluster = cluster
        self.settings = settings
        self.clock = clock
        self.env = _environment()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def render(self, name: str, request: web.Request, *, status: int = 200, **context: Any) -> web.Response:
        html = self.env.get_template(name).render(
            ui=self.settings,
            now=self.clock(),
            **context,
        )
        return web.Response(text=html, status=status, content_type="text/html")

    # -- the fleet and the timeline read the same selection ----------------------------------------

    def selection(self, request: web.Request) -> tuple[str | None, str, str]:
        q = request.query
        # ?ns= (empty) is all namespaces; no ns at all is the namespace the UI was started with.
        namespace = (q["ns"].strip() or None) if "ns" in q else self.settings.default_namespace
        return namespace, q.get("q", "").strip(), q.get("l", "").strip()

    async def selected(self, request: web.Request) -> tuple[list[ScheduledJob], dict[str, Any]]:
        namespace, search, labels = self.selection(request)
        items = await self.call(self.cluster.list_scheduled_jobs, namespace, label_selector=labels or None)
        shown = [sj for sj in items if views.matches_search(sj, search)]
        query = {"ns": namespace or "", "q": search, "l": labels}
        return shown, {
            "namespace": namespace,
            "search": search,
            "labels": labels,
            "total": len(items),
            "query": urlencode(query),
        }

    async def fleet(self, request: web.Request) -> web.Response:
        items, selection = await self.selected(request)
        rows = views.fleet_rows(items, now=self.clock())
        return self.render("fleet.html", request, rows=rows, **selection)

    async def timeline(self, request: web.Request) -> web.Response:
        items, selection = await self.selected(request)
        try:
            hours = float(request.query.get("hours", "6"))
        except ValueError:
            hours = -1
        if not 0 < hours <= 48:
            raise _BadQuery("hours must be a number from 0 to 48 (e.g. ?hours=6)")
        now = self.clock()
        ahead = timedelta(hours=hours)
        # The namespaces' Calendars for the ScheduledJobs that use them, as ``kubectl sj next`` reads them.
        calendars = {}
        for ns in sorted({sj.namespace for sj in items if sj.spec is not None and sj.spec.calendars}):
            calendars[ns] = await self.call(self.cluster.list_calendars, ns)
        line = views.timeline(items, now=now, ahead=ahead, behind=ahead / 4, calendars=calendars)
        return self.render("timeline.html", request, line=line, hours=hours, **selection)

    # -- one ScheduledJob --------------------------------------------------------------------------

    async def scheduled_job(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        sj = await self.call(self.cluster.get_scheduled_job, namespace, name)
        now = self.clock()
        rows = views.history_rows(sj, now=now)
        bars, longest = views.duration_bars(rows[: 60])
        events, events_error = await self.optional(self.cluster.list_events, namespace, involved_uid=sj.uid)
        outcome = None
        token = request.query.get("run")
        if token:
            job, _ = await self.optional(self.cluster.get_job, namespace, manual_job_name(name, token))
            outcome = views.run_outcome(sj, token, job_exists=job is not None)
        backfill_token = request.query.get("backfill")
        backfill_outcome = views.backfill_outcome(sj, backfill_token) if backfill_token else None
        backfills = views.backfill_rows(sj)
        live = bool(
            sj.status.active
            or sj.status.queued
            or (outcome is not None and not outcome.final)
            or (backfill_outcome is not None and not backfill_outcome.final)
            or any(b.open for b in backfills)
        )
        return self.render(
            "scheduledjob.html",
            request,
            sj=sj,
            state=views.state_of(sj),
            spec=views.describe_spec(sj),
            rows=rows,
            bars=bars,
            longest=human_duration(timedelta(seconds=longest)) if longest else "",
            events=events or [],
            events_error=events_error,
            outcome=outcome,
            backfills=backfills,
            backfill_outcome=backfill_outcome,
            live=live,
        )

    async def optional(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[T | None, str | None]:
        """A section of a page that may be forbidden on its own (Events, a Job, a log): its error
        is shown in the section rather than as the page."""
        try:
            return await self.call(fn, *args, **kwargs), None
        except PluginError as exc:
            return None, exc.message

    async def run_now(self, request: web.Request) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        await self.call(self.cluster.get_scheduled_job, namespace, name)  # NotFound before any write
        token = new_token()
        # A run without overrides: a stale run-overrides annotation is removed in the same patch.
        patch = {"metadata": {"annotations": {ANNOTATION_RUN_REQUEST: token, ANNOTATION_RUN_OVERRIDES: None}}}
        await self.call(self.cluster.patch_scheduled_job, namespace, name, patch)
        raise web.HTTPSeeOther(f"/ns/{namespace}/sj/{name}?{urlencode({'run': token})}")

    async def suspend(self, request: web.Request) -> web.Response:
        return await self._set_suspend(request, True)

    async def resume(self, request: web.Request) -> web.Response:
        return await self._set_suspend(request, False)

    async def _set_suspend(self, request: web.Request, value: bool) -> web.Response:
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        await self.call(self.cluster.get_scheduled_job, namespace, name)
        await self.call(self.cluster.patch_scheduled_job, namespace, name, {"spec": {"suspend": value}})
        raise web.HTTPSeeOther(f"/ns/{namespace}/sj/{name}")

    async def backfill(self, request: web.Request) -> web.Response:
        """The backfill form: checked and sent as ``kubectl sj backfill --from --to --parallel`` does."""
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        fields = {key: str(value) for key, value in (await request.post()).items()}
        sj = await self.call(self.cluster.get_scheduled_job, namespace, name)
        try:
            form, _ = await self.checked_backfill(sj, fields)
        except InputError as exc:
            return self.refused(request, sj, exc)
        token = new_token()
        await self.call(
            backfill.send_request, self.cluster, sj, start=form.start, end=form.end, parallel=form.parallel, token=token
        )
        raise web.HTTPSeeOther(f"/ns/{namespace}/sj/{name}?{urlencode({'backfill': token})}#backfills")

    async def backfill_plan(self, request: web.Request) -> web.Response:
        """The form's Preview: the slots it would run and skip, as ``kubectl sj backfill --dry-run``
        prints them; nothing is sent (the page's Start button posts the same fields)."""
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        fields = {key: str(value) for key, value in request.query.items()}
        sj = await self.call(self.cluster.get_scheduled_job, namespace, name)
        try:
            form, plan = await self.checked_backfill(sj, fields)
        except InputError as exc:
            return self.refused(request, sj, exc)
        summary = f"{backfill.plan_summary(plan, zone=sj.time_zone)}; parallel {form.parallel}"
        return self.render("backfill_plan.html", request, sj=sj, plan=plan, summary=summary, fields=fields)

    async def checked_backfill(
        self, sj: ScheduledJob, fields: Mapping[str, str]
    ) -> tuple[views.BackfillForm, BackfillPlan]:
        """The form's fields read and checked as ``kubectl sj backfill`` checks its flags: (form, plan),
        or InputError."""
        form = views.backfill_form(fields, zone=sj.time_zone)
        plan = await self.call(
            backfill.check_request,
            self.cluster,
            sj,
            start=form.start,
            end=form.end,
            parallel=form.parallel,
            now=self.clock(),
        )
        return form, plan

    async def cancel_backfill(self, request: web.Request) -> web.Response:
        """A backfill's Cancel button: ``kubectl sj backfill NAME --cancel TOKEN``."""
        namespace, name = request.match_info["namespace"], request.match_info["name"]
        token = str((await request.post()).get("token") or "").strip()
        sj = await self.call(self.cluster.get_scheduled_job, namespace, name)
        try:
            targets = backfill.cancel_targets(sj, token=token or None)
        except InputError as exc:
            return self.refused(request, sj, exc)
        await self.call(backfill.send_cancel, self.cluster, sj, targets)
        shown = token or targets[0]
        raise web.HTTPSeeOther(f"/ns/{namespace}/sj/{name}?{urlencode({'backfill': shown})}#backfills")

    def refused(self, request: web.Request, sj: ScheduledJob, exc: InputError) -> web.Response:
        """A request refused before anything was sent: the error page, with the way back to the job."""
        page = views.error_page(exc)
        back = (f"/ns/{sj.namespace}/sj/{sj.name}", f"{sj.namespace}/{sj.name}")
        return self.render("error.html", request, status=page.status, error=page, back=back)

    # -- one run -----------------------------------------------------------------------------------

    async def run(self, request: web.Request) -> web.Response:
        namespace, name, job_name = (request.match_info[k] for k in ("namespace", "name", "job"))
        sj = await self.call(self.cluster.get_scheduled_job, namespace, name)
        record = next((r for r in views.history_rows(sj, now=self.clock()) if r.job == job_name), None)
        job, job_error = await self.optional(self.cluster.get_job, namespace, job_name)
        if job is not None:
            labels = (job.get("metadata") or {}).get("labels") or {}
            if labels.get(LABEL_SCHEDULED_JOB) != label_value(name):
                raise PluginError(f'Error from server (NotFound): job "{job_name}" is not a run of {name}')
        elif record is None and job_error is None:
            raise PluginError(f'Error from server (NotFound): no run "{job_name}" of {namespace}/{name}')
        log: str | None = ""
        log_error: str | None = None
        pod_name: str | None = None
        if job is not None:
            pods, log_error = await self.optional(job_pods, self.cluster, namespace, job_name)
            if pods:
                pod_name = str(pods[-1]["metadata"]["name"])
                log, log_error = await self.optional(self._log_text, namespace, pod_name)
            elif log_error is None:
                log_error = "the Job has no pods (yet, or any more)"
        running = (record is not None and record.result == "Running") or (
            job is not None and not _job_finished(job)
        )
        manifest = _yaml(job) if job is not None else None
        return self.render(
            "run.html",
            request,
            sj=sj,
            job_name=job_name,
            record=record,
            manifest=manifest,
            job_error=job_error,
            log=log,
            log_error=log_error,
            pod_name=pod_name,
            running=running,
        )

    def _log_text(self, namespace: str, pod: str) -> str:
        chunks: list[bytes] = []
        size = 0
        for chunk in self.cluster.pod_log(namespace, pod, container=None, follow=False):
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
        if size > _LOG_LIMIT:
            data = b"[... the start is cut; see the raw log ...]\n" + data[-_LOG_LIMIT:]
        return data.decode("utf-8", errors="replace")

    async def raw_log(self, request: web.Request) -> web.StreamResponse:
        """The newest pod's whole log as text; ``?follow=1`` streams it until the container ends."""
        namespace, job_name = request.match_info["namespace"], request.match_info["job"]
        pods = await self.call(job_pods, self.cluster, namespace, job_name)
        if not pods:
            raise PluginError(f"Error from server (NotFound): job {job_name} has no pods")
        pod = str(pods[-1]["metadata"]["name"])
        follow = request.query.get("follow") in ("1", "true")
        chunks: Iterator[bytes] = await self.call(self.cluster.pod_log, namespace, pod, container=None, follow=follow)
        first = await self.call(next, chunks, b"")  # errors (forbidden) before the headers are sent
        response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        await response.prepare(request)
        chunk = first
        while chunk:
            await response.write(chunk)
            chunk = await self.call(next, chunks, b"")
        await response.write_eof()
        return response


def _job_finished(job: Mapping[str, Any]) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def _yaml(body: Mapping[str, Any]) -> str:
    import yaml

    meta = dict(body.get("metadata") or {})
    meta.pop("managedFields", None)
    return str(yaml.safe_dump({**body, "metadata": meta}, sort_keys=False))


# -- middlewares: errors as pages, and the origin checks ----------------------------------------------

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(name: str) -> bool:
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def build_app(
    cluster: Cluster, settings: UiSettings, *, clock: Callable[[], datetime] | None = None
) -> web.Application:
    """The aiohttp application serving the UI for ``cluster``."""
    pages = _Pages(cluster, settings, clock=clock or (lambda: datetime.now(UTC)))

    def error(request: web.Request, page: views.ErrorPage) -> web.Response:
        return pages.render("error.html", request, status=page.status, error=page, back=("/", "the fleet"))

    @web.middleware
    async def guard(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if settings.loopback_only and not _is_loopback(_hostname(request.host)):
            wrong = f"This UI answers to 127.0.0.1, not {request.host}."
            return error(request, views.ErrorPage(421, "Wrong host", wrong, ""))
        if request.method == "POST":
            origin = request.headers.get("Origin")
            fetch_site = request.headers.get("Sec-Fetch-Site")
            if (origin is not None and origin != f"{request.scheme}://{request.host}") or fetch_site == "cross-site":
                return error(request, views.ErrorPage(403, "Forbidden", "A request from another site was refused.", ""))
        try:
            return await handler(request)
        except PluginError as exc:
            return error(request, views.error_page(exc))
        except _BadQuery as exc:
            return error(request, views.ErrorPage(400, "Bad request", str(exc), ""))
        except web.HTTPNotFound:
            return error(request, views.ErrorPage(404, "Not found", f"There is no page at {request.path}.", ""))
        except web.HTTPMethodNotAllowed:
            return error(request, views.ErrorPage(405, "Not allowed", f"{request.method} is not allowed here.", ""))
        except web.HTTPException:
            raise
        except Exception as exc:  # a page, not a traceback; the log has the details
            _log.exception("error serving %s", request.path)
            return error(request, views.ErrorPage(500, "Error", f"{type(exc).__name__}: {exc}", ""))

    app = web.Application(middlewares=[guard])
    app.add_routes(
        [
            web.get("/", pages.fleet),
            web.get("/timeline", pages.timeline),
            web.get("/ns/{namespace}/sj/{name}", pages.scheduled_job),
            web.post("/ns/{namespace}/sj/{name}/run", pages.run_now),
            web.post("/ns/{namespace}/sj/{name}/suspend", pages.suspend),
            web.post("/ns/{namespace}/sj/{name}/resume", pages.resume),
            web.post("/ns/{namespace}/sj/{name}/backfill", pages.backfill),
            web.get("/ns/{namespace}/sj/{name}/backfill/plan", pages.backfill_plan),
            web.post("/ns/{namespace}/sj/{name}/backfill/cancel", pages.cancel_backfill),
            web.get("/ns/{namespace}/sj/{name}/runs/{job}", pages.run),
            web.get("/ns/{namespace}/sj/{name}/runs/{job}/log", pages.raw_log),
            web.get("/healthz", _healthz),
        ]
    )
    return app


async def _healthz(_request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


def serve(
    cluster: Cluster,
    settings: UiSettings,
    *,
    address: str,
    port: int,
    announce: Callable[[str], None],
) -> None:
    """Serve until Ctrl-C / SIGTERM; ``announce`` gets the URL once the socket listens."""

    async def main() -> None:
        runner = web.AppRunner(build_app(cluster, settings), access_log=None, handle_signals=True)
        await runner.setup()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            sock.close()
            await runner.cleanup()
            raise PluginError(f"error: cannot listen on {address}:{port}: {exc.strerror}") from None
        await web.SockSite(runner, sock).start()
        bound = sock.getsockname()[1]
        shown = "127.0.0.1" if address in ("0.0.0.0", "") else "::1" if address == "::" else address
        host = f"[{shown}]" if ":" in shown else shown
        announce(f"http://{host}:{bound}/")
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt, web.GracefulExit):
        asyncio.run(main())
