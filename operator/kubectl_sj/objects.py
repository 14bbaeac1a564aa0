"""The ScheduledJob as the plugin sees it: a typed view over an API body. Pure.

The API client hands back JSON bodies; everything past :mod:`kubectl_sj.client` works on
:class:`ScheduledJob`, which reads the status (:mod:`kubectl_sj.status`, with the operator's own
models for anything out of the ordinary) and keeps the raw body for ``-o json|yaml``. The spec is
parsed with the operator's spec parser on first use only (``next``, or ``list`` before the operator
has written ``nextScheduleTime``): pydantic and the models stay unloaded otherwise. An invalid spec
does not stop ``list`` from showing the object: ``spec`` is then None and ``spec_error`` says why.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from kubectl_sj.status import Status, parse_time, read_status
from punctual.bodies import ScheduledJobBody

if TYPE_CHECKING:
    from punctual.api import ScheduledJobSpec, ScheduledJobStatus
    from punctual.core import Subject

__all__ = [
    "DEFAULT_TIME_ZONE_ENV",
    "GROUP",
    "PLURAL",
    "RESOURCE",
    "SINGULAR",
    "TYPE_NAME",
    "VERSION",
    "ScheduledJob",
    "default_time_zone",
    "status_model",
]

# punctual.api's names, repeated so that reading them does not load pydantic (a test pins them).
GROUP = "punctual.dev"
VERSION = "v1"
PLURAL = "scheduledjobs"
SINGULAR = "scheduledjob"

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


def status_model(raw: object) -> ScheduledJobStatus:
    """The status as the operator's model reads it (empty if it does not validate)."""
    from pydantic import ValidationError

    from punctual.api import ScheduledJobStatus

    try:
        return ScheduledJobStatus.model_validate(raw or {})
    except ValidationError:
        return ScheduledJobStatus()  # a status we cannot read is shown as empty, not a crash


def _read_status(raw: object) -> Status:
    status = read_status(raw or {})
    if status is None:  # not in the shape the operator writes: as the models read it
        status = read_status(status_model(raw).model_dump(mode="json"))
    return status or Status()


@dataclass(frozen=True)
class ScheduledJob:
    """One ScheduledJob: identity, status, the raw body, and the parsed spec on first use."""

    namespace: str
    name: str
    uid: str
    creation: datetime
    status: Status
    raw_spec: Mapping[str, Any]
    body: ScheduledJobBody

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ScheduledJob:
        meta = body.get("metadata") or {}
        raw_spec = body.get("spec") or {}
        created = meta.get("creationTimestamp")
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            uid=str(meta.get("uid") or ""),
            creation=parse_time(created) if isinstance(created, str) and created else datetime.fromtimestamp(0, UTC),
            status=_read_status(body.get("status")),
            raw_spec=raw_spec,
            body=cast(ScheduledJobBody, dict(body)),
        )

    @functools.cached_property
    def _parsed_spec(self) -> tuple[ScheduledJobSpec | None, str | None]:
        from punctual.core import SpecError, parse_spec

        try:
            return parse_spec(self.raw_spec), None
        except SpecError as exc:
            return None, str(exc)

    @property
    def spec(self) -> ScheduledJobSpec | None:
        """The spec as the operator parses it, or None if it is invalid (see ``spec_error``)."""
        return self._parsed_spec[0]

    @property
    def spec_error(self) -> str | None:
        return self._parsed_spec[1]

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
        from punctual.core import subject_from_body

        if self.spec is None:
            return None
        # Anchored at the creation time read above (the epoch when the body has none).
        return subject_from_body(self.body, now=self.creation)
