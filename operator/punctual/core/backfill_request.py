"""A backfill request: the ``punctual.dev/backfill-request`` annotation's JSON and the cancel list. Pure.

``kubectl sj backfill`` writes a request with :func:`encode_request`; the operator's core
(:mod:`punctual.core.backfill`) reads it with :func:`parse_request` and acts on each token once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from punctual.api import format_time, parse_time

__all__ = [
    "MAX_PARALLEL",
    "BackfillError",
    "BackfillRequest",
    "encode_request",
    "parse_cancel",
    "parse_request",
    "request_identity",
]

MAX_PARALLEL = 100
"""Most runs one backfill may have at once (``--parallel``); also bounds ``runs`` in status."""


class BackfillError(ValueError):
    """A backfill request that cannot be acted on; the message says what to change."""

    def __init__(self, message: str, *, reason: str = "InvalidRequest") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class BackfillRequest:
    """What ``kubectl sj backfill`` asks for."""

    token: str
    start: datetime
    end: datetime
    parallel: int = 1


def encode_request(request: BackfillRequest) -> str:
    """The annotation value of a request (what the plugin writes and :func:`parse_request` reads)."""
    return json.dumps(
        {
            "token": request.token,
            "from": format_time(request.start),
            "to": format_time(request.end),
            "parallel": request.parallel,
        },
        separators=(",", ":"),
    )


def request_identity(text: str) -> str:
    """The token of a request; for one too broken to have a token, a hash of the text (acted on once too)."""
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    token = raw.get("token") if isinstance(raw, dict) else None
    if isinstance(token, str) and token.strip():
        return token.strip()
    return "invalid-" + hashlib.sha256(text.encode()).hexdigest()[:12]


def parse_request(text: str) -> BackfillRequest:
    """A request from its annotation value, or BackfillError."""
    try:
        raw = json.loads(text)
    except ValueError:
        raw = None
    if not isinstance(raw, dict):
        raise BackfillError('the backfill request is not a JSON object {"token", "from", "to", "parallel"}')
    token = raw.get("token")
    if not isinstance(token, str) or not token.strip():
        raise BackfillError("the backfill request has no token")
    times: dict[str, datetime] = {}
    for key in ("from", "to"):
        value = raw.get(key)
        try:
            if not isinstance(value, str):
                raise ValueError(value)
            times[key] = parse_time(value)
        except ValueError:
            raise BackfillError(f"backfill {key!r} must be an RFC 3339 time, got {value!r}") from None
    parallel = raw.get("parallel", 1)
    if not isinstance(parallel, int) or isinstance(parallel, bool) or not 1 <= parallel <= MAX_PARALLEL:
        raise BackfillError(f"backfill parallel must be an integer from 1 to {MAX_PARALLEL}, got {parallel!r}")
    if times["from"] > times["to"]:
        raise BackfillError(f"backfill from {format_time(times['from'])} is after to {format_time(times['to'])}")
    return BackfillRequest(token=token.strip(), start=times["from"], end=times["to"], parallel=parallel)


def parse_cancel(text: str | None) -> frozenset[str]:
    """The tokens of the cancel annotation."""
    return frozenset(t.strip() for t in (text or "").split(",") if t.strip())
