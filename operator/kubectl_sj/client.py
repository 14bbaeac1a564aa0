"""The only module of the plugin that talks to the Kubernetes API (I/O shell).

The kubeconfig (``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config``; ``--context``; the context's
namespace as the default, since kubectl passes nothing to plugins) is read by
:mod:`kubectl_sj.kubeconfig`; the requests go through urllib3 the way the official ``kubernetes``
client sends them (its ``RESTClientObject``: the same pool settings, timeouts and TLS error text),
without loading that client's generated API classes or ``kubernetes.config``. Every failure becomes
a one-line :class:`kubectl_sj.errors.PluginError`. Bodies come back as JSON objects (camelCase, as on
the wire); ScheduledJobs come back as :class:`kubectl_sj.objects.ScheduledJob`.
"""

from __future__ import annotations

import json
import os
import ssl
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote, urlencode

import urllib3

from kubectl_sj import kubeconfig
from kubectl_sj.errors import PluginError, Request, api_error_message, unreachable_message
from kubectl_sj.objects import GROUP, PLURAL, RESOURCE, VERSION, ScheduledJob
from punctual import __version__
from punctual.bodies import Job, Pod, RawBody

__all__ = ["REQUEST_TIMEOUT", "Cluster", "kubeconfig_path"]

REQUEST_TIMEOUT = 30.0
"""Seconds one API request may take (log streams excepted)."""

_MERGE_PATCH = "application/merge-patch+json"
_USER_AGENT = f"kubectl-sj/{__version__}"


def kubeconfig_path(flag: str | None) -> str:
    """``--kubeconfig``, else ``$KUBECONFIG`` (may list several files), else ``~/.kube/config``."""
    raw = flag or os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [os.path.expanduser(p) for p in raw.split(os.pathsep) if p]
    if not any(Path(p).is_file() for p in paths):
        raise PluginError(f"error: no kubeconfig found at {raw}; pass --kubeconfig or set KUBECONFIG")
    return os.pathsep.join(paths)


class _ApiError(Exception):
    """An answer outside 2xx (status 0: a TLS failure, as the kubernetes client reports it)."""

    def __init__(self, status: int, reason: str | None, body: bytes | None = None) -> None:
        super().__init__(status, reason)
        self.status, self.reason, self.body = status, reason, body


def _should_bypass_proxies(url: str, no_proxy: str) -> bool:
    from kubernetes.client.rest import should_bypass_proxies  # only with a proxy (the fallback path)

    return bool(should_bypass_proxies(url, no_proxy))


def _pool(conn: kubeconfig.Connection) -> urllib3.PoolManager:
    """The pool the kubernetes client's RESTClientObject builds for the same settings."""
    args: dict[str, Any] = {
        "cert_reqs": ssl.CERT_REQUIRED if conn.verify_ssl else ssl.CERT_NONE,
        "ca_certs": conn.ca_file,
        "cert_file": conn.cert_file,
        "key_file": conn.key_file,
        "ca_cert_data": None,
    }
    if conn.tls_server_name:
        args["server_hostname"] = conn.tls_server_name
    if conn.proxy and not _should_bypass_proxies(conn.host, conn.no_proxy or ""):
        if conn.proxy.lower().startswith("socks"):
            from urllib3.contrib.socks import SOCKSProxyManager

            return SOCKSProxyManager(proxy_url=conn.proxy, headers=conn.proxy_headers, **args)
        return urllib3.ProxyManager(proxy_url=conn.proxy, proxy_headers=conn.proxy_headers, **args)
    return urllib3.PoolManager(**args)


@dataclass
class Cluster:
    """One API server, as the kubeconfig describes it, and the calls ``kubectl sj`` makes."""

    connection: kubeconfig.Connection
    pool: urllib3.PoolManager

    @classmethod
    def connect(cls, *, kubeconfig: str | None = None, context: str | None = None) -> Cluster:
        from kubectl_sj.kubeconfig import load

        path = kubeconfig_path(kubeconfig)
        try:
            connection = load(path, context)
        except PluginError:
            raise
        except Exception as exc:
            from kubectl_sj.kube_import import ConfigException

            if not isinstance(exc, ConfigException | OSError | ValueError | KeyError | TypeError):
                raise
            raise PluginError(f"error: invalid kubeconfig {path}: {exc}") from exc
        if not connection.verify_ssl:
            # insecure-skip-tls-verify: true is the user's explicit choice, and kubectl says nothing
            # about it; urllib3 would warn twice per request. Only that warning, only then.
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        return cls(connection=connection, pool=_pool(connection))

    @classmethod
    def from_connection(cls, connection: kubeconfig.Connection) -> Cluster:
        """A cluster for a connection built elsewhere (``kubectl sj ui --in-cluster``)."""
        return cls(connection=connection, pool=_pool(connection))

    @property
    def namespace(self) -> str:
        """The namespace of the chosen context (``default`` if it names none)."""
        return self.connection.namespace

    @property
    def host(self) -> str:
        return self.connection.host

    def close(self) -> None:
        self.pool.clear()
        self.connection.close()

    # -- requests and error mapping ----------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
        timeout: float | None = REQUEST_TIMEOUT,
    ) -> urllib3.BaseHTTPResponse:
        """One request, as the kubernetes client sends it; the response is not read yet."""
        url = self.host + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT}
        authorization = self.connection.authorization()
        if authorization:
            headers["Authorization"] = authorization
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body)
        try:
            response = self.pool.request(
                method,
                url,
                body=data,
                headers=headers,
                timeout=urllib3.Timeout(total=timeout) if timeout else None,
                preload_content=False,
            )
        except urllib3.exceptions.SSLError as exc:
            raise _ApiError(0, f"{type(exc).__name__}\n{exc}") from exc
        if not 200 <= response.status <= 299:
            raise _ApiError(response.status, response.reason, response.data)
        return response

    def _json(self, req: Request, method: str, path: str, **kwargs: Any) -> RawBody:
        """Send, read the JSON object answered; turn any failure into a PluginError that names ``req``."""
        response = self._call(req, method, path, **kwargs)
        try:
            result = json.loads(response.data)
        except urllib3.exceptions.HTTPError as exc:
            raise PluginError(unreachable_message(self.host, _reason(exc))) from None
        except ValueError:
            result = None
        if not isinstance(result, dict):
            raise PluginError(f"error: unexpected answer to {req.verb} {req.resource}: {type(result).__name__}")
        return result

    def _call(self, req: Request, method: str, path: str, **kwargs: Any) -> urllib3.BaseHTTPResponse:
        try:
            return self._send(method, path, **kwargs)
        except _ApiError as exc:
            code = exc.status
            if code == 0:  # TLS failures come back with status 0, as from the kubernetes client
                raise PluginError(unreachable_message(self.host, str(exc.reason).replace("\n", ": "))) from None
            crd_missing = code == 404 and req.resource == RESOURCE and not self._crd_installed()
            raise PluginError(api_error_message(req, code=code, body=exc.body, crd_missing=crd_missing)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise PluginError(unreachable_message(self.host, _reason(exc))) from None

    def _crd_installed(self) -> bool:
        """Whether the API serves scheduledjobs.punctual.dev (asked after a 404 to tell the two apart)."""
        try:
            resources = json.loads(self._send("GET", f"/apis/{GROUP}/{VERSION}").data)
        except _ApiError as exc:
            return bool(exc.status != 404)  # any other answer (e.g. forbidden): report the original 404
        except (urllib3.exceptions.HTTPError, ValueError):
            return True
        return any(r.get("name") == PLURAL for r in resources.get("resources") or [] if isinstance(r, dict))

    # -- ScheduledJobs -----------------------------------------------------------------------------

    def get_scheduled_job(self, namespace: str, name: str) -> ScheduledJob:
        body = self._json(Request("get", RESOURCE, namespace, name), "GET", _sj_path(namespace, name))
        return ScheduledJob.from_body(body)

    def list_scheduled_jobs(self, namespace: str | None, *, label_selector: str | None = None) -> list[ScheduledJob]:
        """In ``namespace``, or in all namespaces if None; sorted by namespace and name."""
        path = f"/apis/{GROUP}/{VERSION}/{PLURAL}" if namespace is None else _sj_path(namespace)
        query = {"labelSelector": label_selector} if label_selector else None
        body = self._json(Request("list", RESOURCE, namespace), "GET", path, query=query)
        items = [ScheduledJob.from_body(item) for item in body.get("items") or []]
        return sorted(items, key=lambda sj: (sj.namespace, sj.name))

    def patch_scheduled_job(self, namespace: str, name: str, patch: Mapping[str, Any]) -> ScheduledJob:
        """A JSON merge patch (RFC 7386) on the object (not its status)."""
        body = self._json(
            Request("patch", RESOURCE, namespace, name),
            "PATCH",
            _sj_path(namespace, name),
            body=dict(patch),
            content_type=_MERGE_PATCH,
        )
        return ScheduledJob.from_body(body)

    def list_calendars(self, namespace: str) -> dict[str, list[str] | None]:
        """The Calendars of ``namespace``: name -> spec.exclude (None: unreadable); {} without the Calendar CRD."""
        try:
            body = self._json(
                Request("list", "calendars.punctual.dev", namespace),
                "GET",
                _path(f"{GROUP}/{VERSION}", namespace, "calendars"),
            )
        except PluginError as exc:
            if "(NotFound)" in exc.message:
                return {}
            raise
        out: dict[str, list[str] | None] = {}
        for item in body.get("items") or []:
            rules = (item.get("spec") or {}).get("exclude", [])
            ok = isinstance(rules, list) and all(isinstance(r, str) for r in rules)
            out[str((item.get("metadata") or {}).get("name") or "")] = list(rules) if ok else None
        return out

    # -- Jobs, Pods, CronJobs ------------------------------------------------------------------------

    def get_job(self, namespace: str, name: str) -> Job | None:
        """The Job, or None if it does not exist."""
        try:
            job = self._json(
                Request("get", "jobs.batch", namespace, name), "GET", _path("batch/v1", namespace, "jobs", name)
            )
            return cast(Job, job)
        except PluginError as exc:
            if "(NotFound)" in exc.message:
                return None
            raise

    def list_jobs(self, namespace: str, *, label_selector: str) -> list[Job]:
        body = self._json(
            Request("list", "jobs.batch", namespace),
            "GET",
            _path("batch/v1", namespace, "jobs"),
            query={"labelSelector": label_selector},
        )
        return list(body.get("items") or [])

    def list_events(self, namespace: str, *, involved_uid: str) -> list[RawBody]:
        """The core/v1 Events about one object (by its uid), oldest first."""
        body = self._json(
            Request("list", "events", namespace),
            "GET",
            _path("v1", namespace, "events"),
            query={"fieldSelector": f"involvedObject.uid={involved_uid}"},
        )
        items = list(body.get("items") or [])
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def get_cronjob(self, namespace: str, name: str) -> RawBody:
        return self._json(
            Request("get", "cronjobs.batch", namespace, name), "GET", _path("batch/v1", namespace, "cronjobs", name)
        )

    def list_pods(self, namespace: str, *, label_selector: str) -> list[Pod]:
        body = self._json(
            Request("list", "pods", namespace),
            "GET",
            _path("v1", namespace, "pods"),
            query={"labelSelector": label_selector},
        )
        return list(body.get("items") or [])

    def pod_log(self, namespace: str, pod: str, *, container: str | None, follow: bool) -> Iterator[bytes]:
        """The pod's log as chunks; with ``follow`` the stream lasts until the container ends."""
        query = {"follow": "true"} if follow else {}
        if container is not None:
            query["container"] = container
        response = self._call(
            Request("get", "pods/log", namespace, pod),
            "GET",
            _path("v1", namespace, "pods", pod) + "/log",
            query=query,
            # A followed stream ends when the container does: no read timeout then.
            timeout=None if follow else REQUEST_TIMEOUT,
        )
        return _chunks(self, response)


def _path(group_version: str, namespace: str, plural: str, name: str | None = None) -> str:
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{prefix}/namespaces/{quote(namespace, safe='')}/{plural}"
    return path if name is None else f"{path}/{quote(name, safe='')}"


def _sj_path(namespace: str, name: str | None = None) -> str:
    return _path(f"{GROUP}/{VERSION}", namespace, PLURAL, name)


def _chunks(cluster: Cluster, response: Any) -> Iterator[bytes]:
    try:
        yield from response.stream(4096, decode_content=True)
    except urllib3.exceptions.HTTPError as exc:
        raise PluginError(unreachable_message(cluster.host, _reason(exc))) from None
    finally:
        response.release_conn()


def _reason(exc: urllib3.exceptions.HTTPError) -> str:
    """``connection refused`` rather than urllib3's nested retry message."""
    inner: BaseException = exc
    while isinstance(inner, urllib3.exceptions.MaxRetryError) and inner.reason is not None:
        inner = inner.reason
    text = str(inner)
    for marker in ("Connection refused", "Name or service not known", "timed out", "No route to host"):
        if marker.lower() in text.lower():
            return marker.lower()
    return text.split(": ", 1)[-1] if ": " in text else text
