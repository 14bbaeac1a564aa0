"""The one module that talks to the Kubernetes API (besides kopf's own watching).

Credentials come from :mod:`punctual.runtime.credentials` (the official ``kubernetes`` client's config
loaders; re-exported here). Requests are made with aiohttp on one pooled session, counted for metrics.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast

import aiohttp

from punctual.api import API_VERSION, GROUP, KIND, PLURAL, VERSION, format_time
from punctual.bodies import Job, RawBody, ScheduledJobBody
from punctual.runtime.credentials import ClusterUnreachable as ClusterUnreachable
from punctual.runtime.credentials import Credentials as Credentials
from punctual.runtime.credentials import load_credentials as load_credentials

# Credentials, load_credentials and ClusterUnreachable are punctual.runtime.credentials', re-exported.
__all__ = ["MAX_BACKOFF", "ApiError", "CrdMissing", "Kube", "RequestCounter", "WatchExpired"]

log = logging.getLogger("punctual.kube")  # the logger keeps its name from before the move
MAX_BACKOFF = 30.0
_Watched = TypeVar("_Watched")


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    @property
    def transient(self) -> bool:
        """Worth retrying later: server errors, throttling, timeouts."""
        return self.status >= 500 or self.status in (408, 429)


def _api_error(status: int, http_reason: str | None, text: str) -> ApiError:
    """The error an answer of ``status`` stands for: the reason and message of its Status body, else
    the HTTP reason and the start of the text (one line: a body's newlines would split a log line)."""
    try:
        payload = json.loads(text)
        if not isinstance(payload, dict):
            raise ValueError("not a Status")
        reason, message = str(payload.get("reason", "")), str(payload.get("message", text))
    except ValueError:
        reason, message = http_reason or "", text[:500]
    return ApiError(status, reason, " ".join(message.strip().splitlines()))


class WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again."""


class CrdMissing(Exception):
    """The ScheduledJob CRD is not installed."""


class RequestCounter(Protocol):
    """Where API request counts go (the metrics module implements it)."""

    def api_request(self, verb: str, *, error_code: int | None = None) -> None: ...

    def watch_event(self, resource: str) -> None: ...


class Kube:
    """A small async client for the calls the operator makes."""

    def __init__(self, credentials: Credentials, *, counter: RequestCounter | None = None, timeout: float = 30) -> None:
        self.credentials = credentials
        self._counter = counter
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Kube:
        ssl_context: ssl.SSLContext | bool = True
        creds = self.credentials
        if creds.server.startswith("https"):
            ctx = ssl.create_default_context(cafile=creds.ca_path) if creds.ca_path else ssl.create_default_context()
            if creds.insecure:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            if creds.cert_path and creds.key_path:
                ctx.load_cert_chain(creds.cert_path, creds.key_path)
            ssl_context = ctx
        headers = {"Accept": "application/json", "User-Agent": "punctual-operator"}
        if creds.token:
            headers["Authorization"] = f"Bearer {creds.token}"
        connector = aiohttp.TCPConnector(ssl=ssl_context, limit=64)
        self._session = aiohttp.ClientSession(headers=headers, connector=connector, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        verb: str | None = None,
    ) -> RawBody:
        """One API call; raises ApiError on an error status, ClusterUnreachable on no answer."""
        if self._session is None:
            raise RuntimeError("Kube used outside 'async with'")
        verb = verb or method.lower()
        url = self.credentials.server + path
        # Bytes, not a str: aiohttp then skips a StringPayload's re-encoding (a few per cent of the
        # operator's CPU at 1,000 runs a minute, each run being a few requests).
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": content_type} if data is not None else None
        try:
            async with self._session.request(method, url, data=data, params=params, headers=headers) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    if self._counter:
                        self._counter.api_request(verb, error_code=resp.status)
                    raise _api_error(resp.status, resp.reason, text)
                if self._counter:
                    self._counter.api_request(verb)
                return dict(json.loads(text)) if text else {}
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            if self._counter:
                self._counter.api_request(verb, error_code=0)
            raise ClusterUnreachable(f"{method} {url}: {str(exc) or type(exc).__name__}") from exc

    async def watch(
        self, path: str, *, params: Mapping[str, str], resource_version: str, timeout_seconds: int
    ) -> AsyncIterator[tuple[str, RawBody]]:
        """One watch request: yields (type, object) until the server ends the stream.

        Raises WatchExpired on 410 Gone (in the status line or as an ERROR event), ApiError on other
        error answers, ClusterUnreachable when the connection fails or goes silent.
        """
        if self._session is None:
            raise RuntimeError("Kube used outside 'async with'")
        query = {
            **params,
            "watch": "true",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        # No total timeout (the server ends the stream), but a silent connection is a dead one.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_seconds + 30)
        url = self.credentials.server + path
        try:
            async with self._session.get(url, params=query, timeout=timeout) as resp:
                if resp.status >= 400:
                    if self._counter:
                        self._counter.api_request("watch", error_code=resp.status)
                    if resp.status == 410:
                        raise WatchExpired(path)
                    raise _api_error(resp.status, resp.reason, await resp.text())
                if self._counter:
                    self._counter.api_request("watch")
                buffer = b""
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if not line.strip():
                            continue
                        event = json.loads(line)
                        kind, obj = str(event.get("type")), event.get("object") or {}
                        if kind == "ERROR":
                            if obj.get("code") == 410:
                                raise WatchExpired(path)
                            raise ApiError(int(obj.get("code") or 500), str(obj.get("reason")), str(obj.get("message")))
                        yield kind, obj
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ClusterUnreachable(f"watch {url}: {exc or type(exc).__name__}") from exc

    async def list_and_watch(
        self,
        path: str,
        *,
        label_selector: str,
        on_list: Callable[[list[_Watched]], None],
        on_event: Callable[[str, _Watched], None],
        timeout_seconds: int = 300,
        listed: asyncio.Event | None = None,
        first_retry: float = 1.0,
    ) -> None:
        """Keep a cache current, as client-go's reflector does; runs until cancelled.

        List (``on_list`` gets every item: the cache is replaced, so objects deleted meanwhile go),
        then watch from the list's resourceVersion, calling ``on_event`` for ADDED, MODIFIED and
        DELETED. A dropped stream resumes from the last version seen (bookmarks included); 410 Gone
        lists again. Errors back off up to 30 s and are retried forever: a watch never gives up.
        The handlers say what kind of body ``path`` serves (Jobs, Pods): they get it typed so.
        ``listed`` is set after the first list, or after the first non-transient list error
        (RBAC, say), so that a start-up can go on with what the watch brings later.
        """
        params = {"labelSelector": label_selector}
        resource = path.rsplit("/", 1)[-1]
        version = ""
        backoff = first_retry
        while True:
            try:
                if not version:
                    listing = await self.request("GET", path, params=params, verb="list")
                    version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
                    on_list([cast(_Watched, dict(item)) for item in listing.get("items") or []])
                    if listed is not None:
                        listed.set()
                    if not version:
                        raise ApiError(500, "NoResourceVersion", f"list of {path} had no resourceVersion")
                async for kind, obj in self.watch(
                    path, params=params, resource_version=version, timeout_seconds=timeout_seconds
                ):
                    version = str((obj.get("metadata") or {}).get("resourceVersion") or version)
                    if kind != "BOOKMARK":
                        if self._counter:
                            self._counter.watch_event(resource)
                        on_event(kind, cast(_Watched, obj))
                    backoff = first_retry
                continue  # the server ended the stream: watch on from the last version
            except WatchExpired:
                log.info("watch of %s expired; listing again", path)
                version = ""
                continue
            except ApiError as exc:
                if not exc.transient and listed is not None and not listed.is_set():
                    log.warning("listing %s: %s; going on without it, retrying", path, exc)
                    listed.set()
                else:
                    log.warning("watching %s: %s; retrying in %.0f s", path, exc, backoff)
                delay = backoff
            except ClusterUnreachable as exc:
                log.warning("watching %s: %s; retrying in %.0f s", path, exc, backoff)
                delay = backoff
            except ValueError as exc:  # a line that is not JSON: the stream is broken, start it again
                log.warning("watching %s: bad event: %s; retrying in %.0f s", path, exc, backoff)
                delay = backoff
            except Exception:  # a bug in a handler must not end the watch for good: list afresh
                log.exception("watching %s failed; listing again in %.0f s", path, backoff)
                version = ""
                delay = backoff
            await asyncio.sleep(delay)
            backoff = min(MAX_BACKOFF, backoff * 2)

    # -- the calls the operator makes ------------------------------------------------------

    async def check_crd(self) -> None:
        """Raise CrdMissing when the ScheduledJob resource is not served."""
        try:
            found = await self.request("GET", f"/apis/{GROUP}/{VERSION}", verb="discovery")
        except ApiError as exc:
            if exc.status == 404:
                raise CrdMissing(self._crd_hint()) from exc
            raise
        if not any(r.get("name") == PLURAL for r in found.get("resources", [])):
            raise CrdMissing(self._crd_hint())

    @staticmethod
    def _crd_hint() -> str:
        return (
            f"the ScheduledJob CRD ({PLURAL}.{GROUP}) is not installed; install it with "
            "'kubectl apply -f crds/scheduledjobs.punctual.dev.yaml' or 'helm install punctual charts/punctual'"
        )

    async def create_job(self, namespace: str, manifest: Job) -> Job:
        path = f"/apis/batch/v1/namespaces/{namespace}/jobs"
        return cast(Job, await self.request("POST", path, body=manifest, verb="create"))

    async def get_job(self, namespace: str, name: str) -> Job:
        return cast(Job, await self.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}", verb="get"))

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and its pods (background propagation); a Job already gone is fine."""
        try:
            await self.request(
                "DELETE",
                f"/apis/batch/v1/namespaces/{namespace}/jobs/{name}",
                body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
                verb="delete",
            )
        except ApiError as exc:
            if exc.status != 404:
                raise

    async def patch_status(self, namespace: str, name: str, status: Mapping[str, object]) -> ScheduledJobBody:
        """One merge patch of the status subresource; the ScheduledJob as it is now."""
        updated = await self.request(
            "PATCH",
            f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{PLURAL}/{name}/status",
            body={"status": status},
            content_type="application/merge-patch+json",
            verb="patch",
        )
        return cast(ScheduledJobBody, updated)

    async def post_event(
        self,
        *,
        namespace: str,
        name: str,
        uid: str,
        type_: str,
        reason: str,
        message: str,
        now: datetime,
        instance: str,
    ) -> None:
        stamp = format_time(now.replace(microsecond=0))
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{name}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": API_VERSION,
                "kind": KIND,
                "name": name,
                "namespace": namespace,
                "uid": uid,
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "punctual"},
            "reportingComponent": "punctual.dev/operator",
            "reportingInstance": instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        await self.request("POST", f"/api/v1/namespaces/{namespace}/events", body=event, verb="create")

    # -- the leader election's Lease (punctual.runtime.leadership decides; these only carry) ----

    def _lease_path(self, namespace: str, name: str | None = None) -> str:
        path = f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        return f"{path}/{name}" if name else path

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when there is none yet."""
        try:
            return await self.request("GET", self._lease_path(namespace, name), verb="get")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_lease(self, namespace: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create the Lease (409 AlreadyExists when another replica created it first)."""
        return await self.request("POST", self._lease_path(namespace), body=body, verb="create")

    async def replace_lease(self, namespace: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Replace the Lease; ``body`` carries the resourceVersion read, so a concurrent write gets 409."""
        return await self.request("PUT", self._lease_path(namespace, name), body=body, verb="update")
