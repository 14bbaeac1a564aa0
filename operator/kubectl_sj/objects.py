"""The ScheduledJob as the plugin sees it: a typed view over an API body. Pure.

The API client hands back JSON bodies; everything past :mod:`kubectl_sj.client` works on
:class:`ScheduledJob`, which parses the status with the operator's own models
(:mod:`punctual.api`) and keeps the raw body for ``-o json|yaml``. An invalid spec does not stop
``list`` from showing the object: ``spec`` is then None and ``spec_error`` says why.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from punctual.api import GROUP, PLURAL, SINGULAR, ScheduledJobSpec, ScheduledJobStatus, parse_time
from punctual.core import SpecError, Subject, parse_spec, subject_from_body

__all__ = [
    "DEFAULT_TIME_ZONE_ENV",
    "RESOURCE",
    "TYPE_NAME",
    "Body",
    "ScheduledJob",
    "default_time_zone",
]

Body = dict[str, Any]
"""A JSON object as the API server sends it (camelCase keys)."""

RESOURCE = f"{PLURAL}.{GROUP}"
"""``scheduledjobs.punctual.dev``: how kubectl names the resource in messages."""

TYPE_NAME = f"{SINGULAR}.{GROUP}"
"""``scheduledjob.punctual.dev``: the prefix of ``-o name`` and of action messages."""

DEFAULT_TIME_ZONE_ENV = "PUNCTUAL_DEFAULT_TIME_ZONE"


def default_time_zone() -> str:
    """The zone of specs without ``timeZone``: the operator's default (UTC unless configured).

    The plugin cannot ask the operator, so it honours the same environment variable the operator
    reads; set it when the operator runs with another default.
    """
    return os.environ.get(DEFAULT_TIME_ZONE_ENV) or "UTC"


@dataclass(frozen=True)
class ScheduledJob:
    """One ScheduledJob: identity, parsed spec (None if invalid), status and the raw body."""

    namespace: str
    name: str
    uid: str
    creation: datetime
    spec: ScheduledJobSpec | None
    spec_error: str | None
    status: ScheduledJobStatus
    raw_spec: Mapping[str, Any]
    body: Body

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ScheduledJob:
        meta = body.get("metadata") or {}
        raw_spec = body.get("spec") or {}
        spec: ScheduledJobSpec | None
        try:
            spec, error = parse_spec(raw_spec), None
        except SpecError as exc:
            spec, error = None, str(exc)
        try:
            status = ScheduledJobStatus.model_validate(body.get("status") or {})
        except ValidationError:
            status = ScheduledJobStatus()  # a status we cannot read is shown as empty, not a crash
        created = meta.get("creationTimestamp")
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            creation=parse_time(created) if isinstance(created, str) and created else datetime.fromtimestamp(0, UTC),
            spec=spec,
            spec_error=error,
            status=status,
            raw_spec=raw_spec,
            body=dict(body),
        )

    @property
    def key(self) -> str:
        """``namespace/name``: the key the operator hashes ``H`` and jitter from."""
        return f"{self.namespace}/{self.name}"

    @property
    def suspended(self) -> bool:
        return bool(self.raw_spec.get("suspend"))

    @property
    def schedule_text(self) -> str:
        """The cron expression(s) as written; several are joined with ``; ``."""
        if self.raw_spec.get("schedule") is not None:
            return str(self.raw_spec["schedule"])
        return "; ".join(str(s) for s in self.raw_spec.get("schedules") or [])

    @property
    def time_zone(self) -> str:
        zone = self.raw_spec.get("timeZone")
        return str(zone) if zone else default_time_zone()

    def subject(self) -> Subject | None:
        """The operator's view of this object, for :func:`punctual.core.build_schedule`."""
        if self.spec is None:
            return None
        # Anchored at the creation time read above (the epoch when the body has none).
        return subject_from_body(self.body, now=self.creation)
