"""The HTTP face of the emulated Kubernetes API: routing, discovery, watch streams, faults.

:class:`ApiHandler` is a kmock handler (``kmock.RawHandler``), so kmock's ``kmock.Server``
serves it on a TCP port and tests may still add kmock reactions on top of it, e.g.
``handler['get /version'] << 500``: such user reactions take precedence over the emulation.
Everything else is answered from a :class:`kube_emulator.store.Store`.

It runs on the emulator's event loop. kmock internals this module depends on:

- ``kmock.RawHandler.__call__`` is overridden: kmock 0.8's request parser fails on
  ``/api/v1/namespaces`` (it expects a namespace name after ``namespaces``) and stores every
  request forever; we parse URLs ourselves and build ``kmock.Request`` objects only when user
  reactions exist (passing its private ``raw_request`` init field, needed for streams);
- ``RawHandler._handle`` (to run user reactions), ``Root._payloads`` (to skip that when
  there are none) and ``Root._requests`` (kmock's filters match only the requests logged there).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp.web
import kmock

from kube_emulator import errors
from kube_emulator.faults import Fault, FaultInjector
from kube_emulator.protobuf import PROTOBUF, ProtobufError, decode_object
from kube_emulator.resources import (
    ResourceDef,
    api_group_body,
    api_group_list_body,
    api_resource_list_body,
    api_versions_body,
    openapi_v3_document,
    openapi_v3_root,
    version_body,
)
from kube_emulator.selectors import FieldRequirement, Selector, SelectorError
from kube_emulator.store import Body, Store
from kube_emulator.tables import render_table, wants_table

__all__ = ["ApiHandler", "RequestRecord", "Route", "parse_route"]

logger = logging.getLogger(__name__)

_TRUE = ("true", "True", "1")
_DEFAULT_WATCH_TIMEOUT = 1800.0


@dataclass(frozen=True)
class Route:
    """What a URL path addresses: a discovery document or a resource/object/subresource."""

    kind: str  # root, version, api, apis, group, resources, openapi, openapi-v3, resource
    group: str = ""
    version: str = ""
    plural: str = ""
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    """One served request, for assertions and "API calls per run" benchmarks."""

    method: str
    path: str
    verb: str  # get, list, watch, create, update, patch, delete, deletecollection, discovery, other
    status: int
    resource: str = ""  # e.g. "jobs.batch" or "pods"


def parse_route(path: str) -> Route | None:
    parts = [part for part in path.split("/") if part]
    if not parts:
        return Route("root")
    if parts == ["version"]:
        return Route("version")
    if parts[0] == "openapi":
        if parts[1:2] != ["v3"]:
            return Route("openapi")  # v2 is not served: kubectl copes when v3 exists
        if len(parts) == 2:
            return Route("openapi-v3")
        if parts[2] == "api" and len(parts) == 4:
            return Route("openapi-v3", group="", version=parts[3])
        if parts[2] == "apis" and len(parts) == 5:
            return Route("openapi-v3", group=parts[3], version=parts[4])
        return Route("openapi")
    if parts[0] == "api":
        if len(parts) == 1:
            return Route("api")
        group, version, rest = "", parts[1], parts[2:]
    elif parts[0] == "apis":
        if len(parts) == 1:
            return Route("apis")
        if len(parts) == 2:
            return Route("group", group=parts[1])
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    if not rest:
        return Route("resources", group=group, version=version)
    namespace: str | None = None
    # "namespaces/NS/plural/..." addresses namespaced objects; "namespaces/NAME[/status]" is the namespace.
    if rest[0] == "namespaces" and len(rest) >= 3 and not (group == "" and rest[2] in ("status", "finalize")):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        return None
    plural = rest[0]
    name = rest[1] if len(rest) >= 2 else None
    subresource = rest[2] if len(rest) == 3 else None
    return Route("resource", group, version, plural, namespace, name, subresource)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> aiohttp.web.Response:
    return aiohttp.web.Response(
        body=json.dumps(body).encode(), status=status, content_type="application/json", headers=headers
    )


def _error(error: errors.ApiError, headers: dict[str, str] | None = None) -> aiohttp.web.Response:
    return _json(error.body(), status=error.code, headers=headers)


class ApiHandler(kmock.RawHandler):
    """A kmock handler that emulates the Kubernetes API over a :class:`Store`."""

    def __init__(
        self,
        store: Store,
        *,
        injector: FaultInjector | None = None,
        bookmark_interval: float = 5.0,
        log_limit: int = 100_000,
    ) -> None:
        super().__init__()
        self.store = store
        self.injector = injector or FaultInjector()
        self.bookmark_interval = bookmark_interval
        self.request_log: collections.deque[RequestRecord] = collections.deque(maxlen=log_limit)
        self.verb_counts: collections.Counter[str] = collections.Counter()
        self.server_address = "127.0.0.1:0"
        self.closing = asyncio.Event()
        self.watch_count = 0

    # --- Entry point ---------------------------------------------------------------------

    async def __call__(self, raw: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        body = await raw.read()
        route = parse_route(raw.path)
        verb = self._verb(raw.method, route, raw.query.get("watch") in _TRUE)
        self.verb_counts[verb] += 1  # now, not at the end: watch streams end late
        response: aiohttp.web.StreamResponse
        try:
            fault = self.injector.decide(method=raw.method, path=raw.path, is_watch=verb == "watch")
            faulty = await self._inject(raw, fault) if fault is not None else None
            if faulty is not None:
                response = faulty
            elif (user := await self._user_reaction(raw, body, route)) is not None:
                response = user
            else:
                response = await self._route(raw, body, route, verb)
        except errors.ApiError as e:
            response = _error(e)
        except SelectorError as e:
            response = _error(errors.bad_request(str(e)))
        except Exception as e:
            logger.exception("The emulated API failed on %s %s", raw.method, raw.path_qs)
            response = _error(errors.ApiError(500, "InternalError", f"{type(e).__name__}: {e}"))
        resource = f"{route.plural}.{route.group}" if route and route.group else (route.plural if route else "")
        self.request_log.append(RequestRecord(raw.method, raw.path, verb, response.status, resource))
        return response

    @staticmethod
    def _verb(method: str, route: Route | None, watch: bool) -> str:
        if route is None:
            return "other"
        if route.kind != "resource":
            return "discovery"
        if method == "GET":
            return "watch" if watch else ("get" if route.name else "list")
        if route.name is None:
            return {"POST": "create", "DELETE": "deletecollection"}.get(method, "other")
        return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "other")

    async def _inject(self, raw: aiohttp.web.BaseRequest, fault: Fault) -> aiohttp.web.StreamResponse | None:
        if fault == "error":
            return _error(errors.ApiError(500, "InternalError", "an injected fault (sandbox chaos)"))
        if fault == "throttle":
            error = errors.ApiError(429, "TooManyRequests", "an injected throttle (sandbox chaos)")
            return _error(error, headers={"Retry-After": "1"})
        seconds = self.injector.faults.hang_seconds
        deadline = None if seconds is None else time.monotonic() + seconds
        while not self.closing.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                return None  # a slow request, served normally after the delay
            if raw.transport is None or raw.transport.is_closing():
                break  # the client gave up
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closing.wait(), timeout=0.1)
        return _error(errors.ApiError(504, "Timeout", "an injected hang (sandbox chaos)"))

    async def _user_reaction(
        self, raw: aiohttp.web.BaseRequest, body: bytes, route: Route | None
    ) -> aiohttp.web.StreamResponse | None:
        if not self._payloads:
            return None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        is_resource = route is not None and route.kind == "resource"
        request = kmock.Request(
            method=raw.method,
            url=raw.url,
            params=dict(raw.query),
            headers=dict(raw.headers),
            body=body,
            text=body.decode(errors="replace"),
            data=data,
            resource=kmock.resource(route.group, route.version, route.plural) if route and is_resource else None,
            namespace=route.namespace if route else None,
            name=route.name if route else None,
            subresource=route.subresource if route else None,
            raw_request=raw,
        )
        # kmock's filters only see the requests in the root's log, so log it (only in this case:
        # the log grows forever, which is fine for tests that opt into kmock reactions).
        self._requests.append(request)
        try:
            response: aiohttp.web.StreamResponse = await self._handle(request)
        except NotImplementedError:
            return None
        return response

    # --- Routing -------------------------------------------------------------------------

    async def _route(
        self, raw: aiohttp.web.BaseRequest, body: bytes, route: Route | None, verb: str
    ) -> aiohttp.web.StreamResponse:
        if route is None or route.kind == "openapi":
            raise errors.ApiError(404, "NotFound", "the server could not find the requested resource")
        if route.kind != "resource":
            if raw.method != "GET":
                raise errors.method_not_allowed()
            return _json(self._discovery(route))

        store = self.store
        rd = store.resolve(route.group, route.version, route.plural)
        query = raw.query
        if route.name is not None and route.namespace is None and rd.namespaced:
            raise errors.resource_not_found()  # e.g. /api/v1/pods/NAME

        if verb in ("list", "watch", "deletecollection"):
            selector = Selector.parse(labels=query.get("labelSelector"), fields=query.get("fieldSelector"))
            if route.name is not None:  # the legacy watch of one object: /…/plural/NAME?watch=true
                pinned = FieldRequirement(("metadata", "name"), route.name)
                selector = Selector(labels=selector.labels, fields=(*selector.fields, pinned))
            if verb == "watch":
                return await self._watch(raw, rd, route.namespace, selector)
            if verb == "deletecollection":
                names = [obj["metadata"]["name"] for obj in store.iter_objects(rd, route.namespace, selector)]
                items = [store.delete(rd, route.namespace, name) for name in names]
                return _json({"kind": f"{rd.kind}List", "apiVersion": rd.api_version, "metadata": {}, "items": items})
            limit = int(query["limit"]) if query.get("limit", "").isdigit() else None
            listed = store.list_objects(
                rd, route.namespace, selector, limit=limit, continue_token=query.get("continue")
            )
            if wants_table(raw.headers.get("Accept", "")):
                rv = str((listed.get("metadata") or {}).get("resourceVersion", ""))
                table = render_table(
                    listed.get("items", []), rd.printer_columns, resource_version=rv, resource=(rd.group, rd.plural)
                )
                table["metadata"].update({k: v for k, v in (listed.get("metadata") or {}).items() if k == "continue"})
                return _json(table)
            return _json(listed)

        content_type = raw.headers.get("Content-Type", "")
        data = self._parse_body(body, content_type) if verb in ("create", "update", "patch", "delete") else None
        if verb == "create":
            if route.namespace is None and rd.namespaced and not (data or {}).get("metadata", {}).get("namespace"):
                raise errors.method_not_allowed("a namespaced object must be created in a namespace")
            return _json(store.create(rd, route.namespace, data or {}), status=201)
        if route.name is None:
            raise errors.method_not_allowed()
        if route.subresource not in (None, "status", "log"):
            raise errors.resource_not_found()
        if route.subresource == "log":
            return self._pod_log(raw, rd, route)
        if verb == "get":
            found = store.get(rd, route.namespace, route.name)
            if wants_table(raw.headers.get("Accept", "")) and route.subresource is None:
                rv = str((found.get("metadata") or {}).get("resourceVersion", ""))
                table = render_table([found], rd.printer_columns, resource_version=rv, resource=(rd.group, rd.plural))
                return _json(table)
            return _json(found)
        if verb == "update":
            return _json(store.replace(rd, route.namespace, route.name, data or {}, subresource=route.subresource))
        if verb == "patch":
            content_type = content_type or "application/merge-patch+json"
            return _json(
                store.patch(
                    rd,
                    route.namespace,
                    route.name,
                    data,
                    content_type=content_type,
                    subresource=route.subresource,
                )
            )
        if verb == "delete":
            options = data if isinstance(data, dict) else {}
            propagation = options.get("propagationPolicy") or query.get("propagationPolicy")
            return _json(
                store.delete(
                    rd,
                    route.namespace,
                    route.name,
                    preconditions=options.get("preconditions"),
                    propagation=propagation,
                )
            )
        raise errors.method_not_allowed()

    @staticmethod
    def _parse_body(body: bytes, content_type: str) -> Any:
        if not body:
            return None
        if content_type.startswith(PROTOBUF):
            try:
                return decode_object(body)
            except ProtobufError as e:
                raise errors.ApiError(415, "UnsupportedMediaType", str(e)) from e
        try:
            return json.loads(body)
        except ValueError as e:
            raise errors.bad_request(f"the body is not valid JSON: {e}") from e

    def _discovery(self, route: Route) -> Body:
        defs = self.store.resources
        result: Body | None
        match route.kind:
            case "root":
                groups = sorted({f"/apis/{rd.group}/{rd.version}" for rd in defs if rd.group})
                result = {"paths": ["/api", "/api/v1", "/apis", *groups, "/version"]}
            case "version":
                result = version_body()
            case "api":
                result = api_versions_body(server_address=self.server_address)
            case "apis":
                result = api_group_list_body(defs)
            case "group":
                result = api_group_body(defs, route.group)
            case "openapi-v3" if not route.version:
                result = openapi_v3_root(defs)
            case "openapi-v3":
                result = openapi_v3_document(defs, route.group, route.version)
            case _:
                result = api_resource_list_body(defs, route.group, route.version)
        if result is None:
            raise errors.resource_not_found()
        return result

    def _pod_log(self, raw: aiohttp.web.BaseRequest, rd: ResourceDef, route: Route) -> aiohttp.web.Response:
        if rd.storage_key != ("", "pods") or raw.method != "GET" or route.name is None:
            raise errors.method_not_allowed()
        self.store.get(rd, route.namespace, route.name)  # 404 if absent
        text = self.store.pod_logs.get((route.namespace or "", route.name), "")
        tail = raw.query.get("tailLines", "")
        if tail.isdigit():
            text = "".join(text.splitlines(keepends=True)[-int(tail) :]) if int(tail) else ""
        return aiohttp.web.Response(text=text, content_type="text/plain")

    # --- Watching ------------------------------------------------------------------------

    async def _watch(
        self, raw: aiohttp.web.BaseRequest, rd: ResourceDef, namespace: str | None, selector: Selector
    ) -> aiohttp.web.StreamResponse:
        query = raw.query
        since = query.get("resourceVersion")
        initial_events_end = query.get("sendInitialEvents") in _TRUE
        if initial_events_end:
            since = None
        bookmarks = query.get("allowWatchBookmarks") in _TRUE
        timeout_text = query.get("timeoutSeconds", "")
        timeout = float(timeout_text) if timeout_text.replace(".", "", 1).isdigit() else _DEFAULT_WATCH_TIMEOUT
        try:
            watcher, initial = self.store.watch(rd, namespace, selector, since=since)
        except errors.ApiError as e:
            if e.code != 410:
                raise
            # The real API answers 200 and streams one ERROR event with the 410 status.
            response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await response.prepare(raw)
            await response.write(json.dumps({"type": "ERROR", "object": e.body()}).encode() + b"\n")
            await response.write_eof()
            return response

        def bookmark(*, end: bool = False) -> bytes:
            meta: Body = {"resourceVersion": self.store.resource_version}
            if end:
                meta["annotations"] = {"k8s.io/initial-events-end": "true"}
            event = {
                "type": "BOOKMARK",
                "object": {"kind": rd.kind, "apiVersion": rd.api_version, "metadata": meta},
            }
            return json.dumps(event).encode() + b"\n"

        self.watch_count += 1
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await response.prepare(raw)
            for kind, obj in initial:
                await response.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            if initial_events_end:
                await response.write(bookmark(end=True))
            present: Callable[[Body], Body] = lambda obj: self.store.present(rd, obj)  # noqa: E731
            while not self.closing.is_set():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                wait = min(remaining, self.bookmark_interval) if bookmarks else remaining
                try:
                    item = await asyncio.wait_for(watcher.queue.get(), timeout=wait)
                except TimeoutError:
                    if bookmarks and loop.time() < deadline:
                        await response.write(bookmark())
                    continue
                if item is None:
                    break  # closed by the server: dropped or stopping
                kind, obj = item
                await response.write(json.dumps({"type": kind, "object": present(obj)}).encode() + b"\n")
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away
        finally:
            self.store.unwatch(watcher)
        return response
