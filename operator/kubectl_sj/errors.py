"""Error messages of ``kubectl sj``: one clear line each, worded like kubectl's. Pure.

The client maps every failure (an API status, an unreachable server, a timeout) to a
:class:`PluginError` whose text is printed as is on stderr; the CLI exits 1. Messages that
kubectl users know keep kubectl's wording (``Error from server (NotFound): ...``); the ones only
this plugin has say what to do next (which verb RBAC must grant, how to install the CRD).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubectl_sj.objects import RESOURCE

__all__ = [
    "CRD_MISSING",
    "InputError",
    "PluginError",
    "Request",
    "api_error_message",
    "forbidden_message",
    "unreachable_message",
]

CRD_MISSING = (
    f"error: the ScheduledJob CRD is not installed ({RESOURCE}); "
    "install Punctual: helm install punctual charts/punctual"
)


class PluginError(Exception):
    """A failure to report as one line on stderr (the text is final: ``error: ...``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InputError(PluginError):
    """A request refused before anything is sent: a bad flag or form value, or one the object cannot
    take (the web UI shows it as a 400 page rather than as a failure of the API)."""


@dataclass(frozen=True)
class Request:
    """What the plugin asked the API for, so that an error can say it.

    ``resource`` is kubectl's ``plural.group`` (``scheduledjobs.punctual.dev``, ``jobs.batch``,
    ``pods``, ``pods/log``); ``namespace`` None means all namespaces (or a cluster-scoped object).
    """

    verb: str
    resource: str
    namespace: str | None = None
    name: str | None = None


def forbidden_message(req: Request) -> str:
    """``error: forbidden: you need "patch" on scheduledjobs.punctual.dev in namespace "x"``."""
    where = f'in namespace "{req.namespace}"' if req.namespace else "at the cluster scope (all namespaces)"
    return f'error: forbidden: you need "{req.verb}" on {req.resource} {where}'


def unreachable_message(host: str, reason: str) -> str:
    """The API server did not answer (refused, DNS, TLS, timeout)."""
    return f"error: unable to connect to the server at {host}: {reason}"


def _status_message(body: str | bytes | None) -> tuple[str | None, str | None]:
    """The ``message`` and ``reason`` of a metav1.Status body, if the body is one."""
    if not body:
        return None, None
    try:
        status = json.loads(body)
    except (ValueError, TypeError):
        return None, None
    if not isinstance(status, dict):
        return None, None
    message, reason = status.get("message"), status.get("reason")
    return (str(message) if message else None), (str(reason) if reason else None)


def api_error_message(req: Request, *, code: int, body: str | bytes | None, crd_missing: bool = False) -> str:
    """The line to print for an API error answer to ``req``."""
    message, reason = _status_message(body)
    if code == 403:
        return forbidden_message(req)
    if code == 401:
        return "error: You must be logged in to the server (Unauthorized)"
    if code == 404 and crd_missing:
        return CRD_MISSING
    if code == 404:
        if req.name and not message:
            message = f'{req.resource} "{req.name}" not found'
        return f"Error from server (NotFound): {message or 'the server could not find the requested resource'}"
    text = message or (body.decode() if isinstance(body, bytes) else body)
    if req.resource == "pods/log" and code >= 500:
        # The API server proxies a log request to the pod's kubelet; a 5xx means it could not reach
        # it (no node address, kubelet down, TLS), which the server's own message does not say.
        return f"error: the API server could not get the log of pod/{req.name} from its node's kubelet: {text}"
    # kubectl prints "Error from server: ..." when the Status has no reason (not the HTTP code).
    return f"Error from server ({reason}): {text}" if reason else f"Error from server: {text}"
