"""The only module of the plugin that talks to the Kubernetes API (I/O shell).

It wraps the official ``kubernetes`` client: kubeconfig loading (``--kubeconfig``, ``KUBECONFIG``,
``~/.kube/config``; ``--context``; the context's namespace as the default, since kubectl passes
nothing to plugins), the calls the verbs need, and the mapping of every failure to a one-line
:class:`kubectl_sj.errors.PluginError`. Bodies come back as JSON objects (camelCase, as on the
wire); ScheduledJobs come back as :class:`kubectl_sj.objects.ScheduledJob`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3

from kubectl_sj.errors import PluginError, Request, api_error_message, unreachable_message
from kubectl_sj.kube_import import ApiException, ConfigException, k8s, k8s_config
from kubectl_sj.objects import RESOURCE, Body, ScheduledJob
from punctual.api import GROUP, PLURAL, VERSION

__all__ = ["REQUEST_TIMEOUT", "Cluster", "kubeconfig_path"]

T = TypeVar("T")

REQUEST_TIMEOUT = 30.0
"""Seconds one API request may take (log streams excepted)."""

_MERGE_PATCH = "application/merge-patch+json"


def kubeconfig_path(flag: str | None) -> str:
    """``--kubeconfig``, else ``$KUBECONFIG`` (may list several files), else ``~/.kube/config``."""
    raw = flag or os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [os.path.expanduser(p) for p in raw.split(os.pathsep) if p]
    if not any(Path(p).is_file() for p in paths):
        raise PluginError(f"error: no kubeconfig found at {raw}; pass --kubeconfig or set KUBECONFIG")
    return os.pathsep.join(paths)


def _context_namespace(path: str, context: str | None) -> str:
    contexts, current = k8s_config.list_kube_config_contexts(config_file=path)  # type: ignore[no-untyped-call]
    chosen = current if context is None else next((c for c in contexts if c.get("name") == context), None)
    if chosen is None:
        raise PluginError(f'error: context "{context}" does not exist in the kubeconfig')
    return str((chosen.get("context") or {}).get("namespace") or "default")


@dataclass
class Cluster:
    """One API server, as the kubeconfig describes it, and the calls ``kubectl sj`` makes."""

    api: Any  # kubernetes.client.ApiClient (untyped)
    namespace: str
    """The namespace of the chosen context (``default`` if it names none)."""

    @classmethod
    def connect(cls, *, kubeconfig: str | None = None, context: str | None = None) -> Cluster:
        path = kubeconfig_path(kubeconfig)
        try:
            api = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=path, context=context, persist_config=False
            )
            namespace = _context_namespace(path, context)
        except (ConfigException, OSError, ValueError, KeyError, TypeError) as exc:
            raise PluginError(f"error: invalid kubeconfig {path}: {exc}") from exc
        if not api.configuration.verify_ssl:
            # insecure-skip-tls-verify: true is the user's explicit choice, and kubectl says nothing
            # about it; urllib3 would warn twice per request. Only that warning, only then.
            warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
        return cls(api=api, namespace=namespace)

    @property
    def host(self) -> str:
        return str(self.api.configuration.host)

    def close(self) -> None:
        self.api.close()

    # -- error mapping ---------------------------------------------------------------------------

    def _object(self, req: Request, fn: Callable[[], object]) -> Body:
        """A custom-objects call: the client returns the JSON object as a dict."""
        result = self._call(req, fn)
        if not isinstance(result, dict):
            raise PluginError(f"error: unexpected answer to {req.verb} {req.resource}: {type(result).__name__}")
        return result

    def _call(self, req: Request, fn: Callable[[], T]) -> T:
        """Run one API call; turn any failure into a PluginError that names ``req``."""
        try:
            return fn()
        except ApiException as exc:
            code = int(exc.status or 0)
            if code == 0:  # the client's own failures (TLS) come back with status 0
                raise PluginError(unreachable_message(self.host, str(exc.reason).replace("\n", ": "))) from None
            crd_missing = code == 404 and req.resource == RESOURCE and not self._crd_installed()
            raise PluginError(api_error_message(req, code=code, body=exc.body, crd_missing=crd_missing)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise PluginError(unreachable_message(self.host, _reason(exc))) from None

    def _crd_installed(self) -> bool:
        """Whether the API serves scheduledjobs.punctual.dev (asked after a 404 to tell the two apart)."""
        try:
            resources = k8s.CustomObjectsApi(self.api).get_api_resources(
                GROUP, VERSION, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            return bool(exc.status != 404)  # any other answer (e.g. forbidden): report the original 404
        except urllib3.exceptions.HTTPError:
            return True
        return any(r.name == PLURAL for r in resources.resources or [])

    def _raw(self, req: Request, fn: Callable[[], Any]) -> Body:
        """A call made with ``_preload_content=False``: the JSON body, not the client's model."""
        response = self._call(req, fn)
        body: Body = json.loads(response.data)
        return body

    # -- ScheduledJobs -----------------------------------------------------------------------------

    def get_scheduled_job(self, namespace: str, name: str) -> ScheduledJob:
        api = k8s.CustomObjectsApi(self.api)
        body = self._object(
            Request("get", RESOURCE, namespace, name),
            lambda: api.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return ScheduledJob.from_body(body)

    def list_scheduled_jobs(self, namespace: str | None) -> list[ScheduledJob]:
        """In ``namespace``, or in all namespaces if None; sorted by namespace and name."""
        api = k8s.CustomObjectsApi(self.api)
        req = Request("list", RESOURCE, namespace)
        if namespace is None:
            body = self._object(
                req, lambda: api.list_cluster_custom_object(GROUP, VERSION, PLURAL, _request_timeout=REQUEST_TIMEOUT)
            )
        else:
            body = self._object(
                req,
                lambda: api.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, PLURAL, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        items = [ScheduledJob.from_body(item) for item in body.get("items") or []]
        return sorted(items, key=lambda sj: (sj.namespace, sj.name))

    def patch_scheduled_job(self, namespace: str, name: str, patch: Mapping[str, Any]) -> ScheduledJob:
        """A JSON merge patch (RFC 7386) on the object (not its status)."""
        api = k8s.CustomObjectsApi(self.api)
        body = self._object(
            Request("patch", RESOURCE, namespace, name),
            lambda: api.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                name,
                dict(patch),
                _content_type=_MERGE_PATCH,
                _request_timeout=REQUEST_TIMEOUT,
            ),
        )
        return ScheduledJob.from_body(body)

    # -- Jobs, Pods, CronJobs ------------------------------------------------------------------------

    def get_job(self, namespace: str, name: str) -> Body | None:
        """The Job, or None if it does not exist."""
        api = k8s.BatchV1Api(self.api)
        try:
            return self._raw(
                Request("get", "jobs.batch", namespace, name),
                lambda: api.read_namespaced_job(
                    name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
                ),
            )
        except PluginError as exc:
            if "(NotFound)" in exc.message:
                return None
            raise

    def list_jobs(self, namespace: str, *, label_selector: str) -> list[Body]:
        api = k8s.BatchV1Api(self.api)
        body = self._raw(
            Request("list", "jobs.batch", namespace),
            lambda: api.list_namespaced_job(
                namespace, label_selector=label_selector, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return list(body.get("items") or [])

    def get_cronjob(self, namespace: str, name: str) -> Body:
        api = k8s.BatchV1Api(self.api)
        return self._raw(
            Request("get", "cronjobs.batch", namespace, name),
            lambda: api.read_namespaced_cron_job(
                name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )

    def list_pods(self, namespace: str, *, label_selector: str) -> list[Body]:
        api = k8s.CoreV1Api(self.api)
        body = self._raw(
            Request("list", "pods", namespace),
            lambda: api.list_namespaced_pod(
                namespace, label_selector=label_selector, _preload_content=False, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        return list(body.get("items") or [])

    def pod_log(self, namespace: str, pod: str, *, container: str | None, follow: bool) -> Iterator[bytes]:
        """The pod's log as chunks; with ``follow`` the stream lasts until the container ends."""
        api = k8s.CoreV1Api(self.api)
        response = self._call(
            Request("get", "pods/log", namespace, pod),
            lambda: api.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                follow=follow,
                _preload_content=False,
                # A followed stream ends when the container does: no read timeout then.
                _request_timeout=None if follow else REQUEST_TIMEOUT,
            ),
        )
        return _chunks(self, response)


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
