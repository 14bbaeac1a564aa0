"""What the reconcile tests share: the object ``default/report`` created 2026-01-05 00:00 UTC, its Job
template, and a fake JobControl that records what the reconcile asks for (as the CronJob controller's
tests use ``fakeJobControl``)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from punctual.api import ScheduledJobStatus
from punctual.bodies import RawBody as Body
from punctual.core import Event
from punctual.jobs import slot_job_name
from punctual.runtime.cache import Key
from punctual.runtime.kube import ApiError

KEY: Key = ("default", "report")
UID = "u-report"
CREATED = datetime(2026, 1, 5, tzinfo=UTC)
TEMPLATE = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}
}


def at(hhmm: str) -> datetime:
    """A time of the creation day, ``"10:30"``."""
    h, m = (int(p) for p in hhmm.split(":"))
    return CREATED + timedelta(hours=h, minutes=m)


def job_name(hhmm: str) -> str:
    """The Job name of ``report``'s slot at that time of the creation day."""
    return slot_job_name("report", at(hhmm), seconds=False)


@dataclass
class FakeJobControl:
    """Records what the reconcile asks for.

    ``answers``: a Job name whose create raises that error; ``taken``: a Job name whose create answers
    AlreadyExists, and whose get answers that body; ``deletes``: whether a delete is expected at all
    (a test that expects none fails loudly on one).
    """

    answers: dict[str, Exception] = field(default_factory=dict)
    taken: dict[str, Body] = field(default_factory=dict)
    deletes: bool = True
    created: list[Body] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    statuses: list[ScheduledJobStatus] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def created_names(self) -> list[str]:
        return [body["metadata"]["name"] for body in self.created]

    async def create_job(self, namespace: str, manifest: Mapping[str, Any]) -> Body:
        name = manifest["metadata"]["name"]
        if name in self.answers:
            raise self.answers[name]
        if name in self.taken:
            raise ApiError(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        body = copy.deepcopy(dict(manifest))
        body["metadata"].update(uid=f"u-{name}", resourceVersion="1")
        self.created.append(body)
        return body

    async def get_job(self, namespace: str, name: str) -> Body:
        if name not in self.taken:
            raise AssertionError(f"no such Job is asked for here: {name}")
        return self.taken[name]

    async def delete_job(self, namespace: str, name: str) -> None:
        if not self.deletes:
            raise AssertionError(f"no Job is deleted here, asked for {name}")
        self.deleted.append(name)

    async def patch_status(self, key: Key, status: ScheduledJobStatus) -> None:
        self.statuses.append(status)

    def post_events(self, key: Key, uid: str, events: Sequence[Event], now: datetime) -> None:
        self.events += events
