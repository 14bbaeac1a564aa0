"""Helpers for the chaos tests against the emulated API: ScheduledJobs, a log of every Job the API
created, and the checks made from the Jobs and the status after the chaos. The in-process operator
is ``punctual_testing``'s, exported here too for the chaos tests."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from punctual_testing import in_process_operator, load_crd

from kube_emulator import DURATION_ANNOTATION, Emulator
from punctual.api import ScheduledJobSpec, ScheduledJobStatus, Trigger, parse_time
from punctual.core import Subject, build_schedule
from punctual.jobs import ANNOTATION_SCHEDULED_TIME, LABEL_TRIGGER

__all__ = [
    "CRD",
    "NAMESPACE",
    "Created",
    "CreationLog",
    "check_world",
    "in_process_operator",
    "scheduled_job",
    "settled_world",
]

CRD = load_crd()
NAMESPACE = "default"


def scheduled_job(name: str, schedule: str, *, duration: str = "1s", **spec: Any) -> dict[str, Any]:
    """A ScheduledJob whose Jobs run ``duration`` in the emulator's Job controller."""
    return {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "schedule": schedule,
            **spec,
            "jobTemplate": {
                "metadata": {"annotations": {DURATION_ANNOTATION: duration}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}
                    },
                },
            },
        },
    }


@dataclass(frozen=True)
class Created:
    """One Job the API server created (answered 201)."""

    name: str
    owner: str
    slot: str | None
    trigger: str | None


@dataclass
class CreationLog:
    """Every Job the emulator's store created, in order; ``after_create`` runs on each (e.g. a kill)."""

    entries: list[Created] = field(default_factory=list)
    after_create: Callable[[Created], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, emu: Emulator) -> None:
        store = emu.store
        original = store.create

        def create(rd: Any, namespace: str | None, body: Any) -> Any:
            made = original(rd, namespace, body)
            if rd.plural == "jobs" and rd.group == "batch":
                meta = made.get("metadata") or {}
                refs = meta.get("ownerReferences") or [{}]
                entry = Created(
                    name=str(meta.get("name")),
                    owner=str(refs[0].get("name")),
                    slot=(meta.get("annotations") or {}).get(ANNOTATION_SCHEDULED_TIME),
                    trigger=(meta.get("labels") or {}).get(LABEL_TRIGGER),
                )
                with self.lock:
                    self.entries.append(entry)
                if self.after_create is not None:
                    self.after_create(entry)
            return made

        store.create = create  # type: ignore[method-assign]

    def of(self, owner: str) -> list[Created]:
        with self.lock:
            return [e for e in self.entries if e.owner == owner]


def settled_world(
    emu: Emulator, log: CreationLog, names: list[str], *, tries: int = 40
) -> dict[str, ScheduledJobStatus]:
    """``check_world`` on a snapshot taken while no reconcile is half-way (Job created, status not
    yet written): retried a few times, since the operator keeps running meanwhile."""
    for attempt in range(tries):
        try:
            return check_world(emu, log, names)
        except AssertionError:
            if attempt == tries - 1:
                raise
            time.sleep(0.25)
    raise AssertionError("unreachable")


def check_world(emu: Emulator, log: CreationLog, names: list[str]) -> dict[str, ScheduledJobStatus]:
    """The invariants after chaos, on one snapshot of the store; returns each final status."""

    def snapshot(_: Any) -> tuple[list[Created], dict[str, dict[str, Any]]]:
        with log.lock:
            entries = list(log.entries)
        return entries, {n: emu.get("punctual.dev/v1", "scheduledjobs", n, namespace=NAMESPACE) for n in names}

    created, bodies = emu._call(snapshot)
    twice = [n for n, c in Counter(e.name for e in created).items() if c > 1]
    assert twice == [], f"Job names created twice: {twice}"
    statuses = {}
    for name in names:
        body = bodies[name]
        status = ScheduledJobStatus.model_validate(body.get("status") or {})
        statuses[name] = status
        mine = [e for e in created if e.owner == name and e.trigger != Trigger.MANUAL.value]
        slots = Counter(e.slot for e in mine)
        assert [s for s, c in slots.items() if c > 1] == [], f"{name}: slots with two Jobs"
        # Every history record is a distinct slot, and every run record is a Job the API created.
        history_slots = Counter(r.scheduledTime for r in status.history)
        assert [s for s, c in history_slots.items() if c > 1] == [], f"{name}: history has a slot twice"
        job_names = {e.name for e in mine}
        for record in status.history:
            if record.result.value in ("Running", "Succeeded", "Failed", "Replaced"):
                assert record.job in job_names, f"{name}: {record.job} is recorded as a run but was never created"
        # Every Job the API created is counted as a run exactly once.
        assert status.counts.get("Running", 0) == len(mine), (
            f"{name}: counts.Running {status.counts.get('Running')} != {len(mine)} Jobs created"
        )
        # Every slot from creation to scheduledThrough is accounted for exactly once in the counts.
        spec = ScheduledJobSpec.model_validate(body["spec"])
        creation = parse_time(body["metadata"]["creationTimestamp"])
        subject = Subject(namespace=NAMESPACE, name=name, uid="-", creation=creation, spec=spec)
        assert status.scheduledThrough is not None, f"{name}: never scheduled"
        expected, _ = build_schedule(subject).slots(creation, status.scheduledThrough, limit=100_000)
        accounted = sum(status.counts.get(k, 0) for k in ("Running", "Skipped", "Missed", "Dropped"))
        accounted += len(status.queued)
        assert accounted == len(expected), (
            f"{name}: {len(expected)} slots up to {status.scheduledThrough}, {accounted} accounted for: "
            f"{status.counts}, {len(status.queued)} queued"
        )
    return statuses
