"""The real operator against the emulated API with a dozen bad ScheduledJobs next to good ones.

The emulator does not validate against the CRD schema, so even what the API server would reject
reaches the operator here (as it would with an older CRD installed). Each bad ScheduledJob gets
ScheduleValid=False and Ready=False with a readable message and one Warning InvalidSpec Event; the
good ones keep their cadence; a 253-character name still gives Job names of at most 63; a
10,800-slot backlog (an every-second schedule whose status says it was last decided three hours
ago) ends as aggregated Missed records plus at most maxCatchUp runs without stalling the others;
the operator never crashes and no reconcile fails.
"""

from __future__ import annotations

import itertools
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bad_cases import CRD, TEMPLATE
from punctual_testing import in_process_operator

from kube_emulator import DURATION_ANNOTATION, Emulator, JobController
from punctual.api import ScheduledJobStatus, format_time, parse_time
from punctual.jobs import ANNOTATION_SCHEDULED_TIME, LABEL_TRIGGER

NS = "default"
LONG_NAME = "a" * 253

# name → (spec fields over a valid */2-seconds spec, words the condition message must contain)
BAD: dict[str, tuple[dict[str, Any], list[str]]] = {
    "bad-cron": ({"schedule": "every day at noon"}, ["fields"]),
    "bad-zone": ({"timeZone": "Mars/Olympus_Mons"}, ["IANA"]),
    "bad-h-range": ({"schedule": "H(50-10) * * * *"}, ["H(50-10)"]),
    "february-30": ({"schedule": "0 0 30 2 *"}, ["never fires"]),
    "weekday-hash": ({"schedule": "0 0 * * 1#2"}, ["not supported"]),
    "negative-limit": ({"successfulJobsHistoryLimit": -1}, ["successfulJobsHistoryLimit"]),
    "wrong-enum": ({"concurrencyPolicy": "Sometimes"}, ["concurrencyPolicy"]),
    "no-job-template": ({"jobTemplate": None}, ["jobTemplate"]),
    "no-containers": ({"jobTemplate": {"spec": {"template": {"spec": {"containers": []}}}}}, ["containers"]),
    "huge-jitter": ({"jitter": "99999999h"}, ["365d"]),
    "huge-every": ({"schedule": "@every 99999999d"}, ["at most"]),
    "zone-too-long": ({"timeZone": "Z" * 400}, ["IANA"]),
    "max-active-forbid": ({"maxActive": 2}, ["spec.maxActive", "Allow only", "Forbid"]),
    "overflow-alone": ({"concurrencyPolicy": "Allow", "overflow": "Skip"}, ["spec.overflow", "spec.maxActive"]),
}


def scheduled_job(name: str, **fields: Any) -> dict[str, Any]:
    template = {**TEMPLATE, "metadata": {"annotations": {DURATION_ANNOTATION: "500ms"}}}
    spec = {"schedule": "*/2 * * * * *", "concurrencyPolicy": "Forbid", "jobTemplate": template, **fields}
    spec = {k: v for k, v in spec.items() if v is not None}
    return {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": NS},
        "spec": spec,
    }


def status_of(emu: Emulator, name: str) -> ScheduledJobStatus:
    body = emu.get("punctual.dev/v1", "scheduledjobs", name, namespace=NS)
    return ScheduledJobStatus.model_validate(body.get("status") or {})


def jobs_of(emu: Emulator, name: str) -> list[dict[str, Any]]:
    return [
        j
        for j in emu.list("batch/v1", "jobs", namespace=NS)
        if (j["metadata"].get("ownerReferences") or [{}])[0].get("name") == name
    ]


def test_bad_scheduledjobs_get_conditions_and_events_while_good_ones_run(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    created: list[dict[str, Any]] = []
    with Emulator(controllers=[JobController(default_duration=0.5)], seed=3) as emu:
        emu.install_crd(CRD)
        original = emu.store.create

        def record(rd: Any, namespace: str | None, body: Any) -> Any:
            made = original(rd, namespace, body)
            if rd.plural == "jobs":
                created.append(made)
            return made

        emu.store.create = record  # type: ignore[method-assign]
        for name, (fields, _) in BAD.items():
            emu.create(scheduled_job(name, **fields), namespace=NS)
        emu.create(scheduled_job("good"), namespace=NS)
        emu.create(scheduled_job(LONG_NAME), namespace=NS)
        # A backlog: every second for three hours (10,800 slots) to catch up, at most 5 of them run.
        emu.create(scheduled_job("backlog", schedule="* * * * * *", catchUp="All", maxCatchUp=5), namespace=NS)
        behind = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
        emu.patch_status(
            "punctual.dev/v1", "scheduledjobs", "backlog", {"scheduledThrough": format_time(behind)}, namespace=NS
        )
        with in_process_operator(emu):
            time.sleep(9)
            events = emu.list("v1", "events", namespace=NS)
            statuses = {name: status_of(emu, name) for name in [*BAD, "good", LONG_NAME, "backlog"]}

    # Each bad one: two False conditions saying what is wrong, one Warning InvalidSpec Event.
    for name, (_, words) in BAD.items():
        conditions = {c.type: c for c in statuses[name].conditions}
        for type_ in ("ScheduleValid", "Ready"):
            assert conditions[type_].status == "False", (name, type_)
            assert conditions[type_].reason == "InvalidSpec", (name, type_)
            for word in words:
                assert word in conditions[type_].message, (name, conditions[type_].message)
        mine = [e for e in events if e["involvedObject"]["name"] == name]
        warnings = [e for e in mine if e["type"] == "Warning" and e["reason"] == "InvalidSpec"]
        assert len(warnings) == 1, (name, [e["reason"] for e in mine])
        assert warnings[0]["message"] == conditions["Ready"].message
        assert jobs_of_created(created, name) == []

    # The good ones keep their cadence: a Job for every 2-second slot, started within a second.
    for name in ("good", LONG_NAME):
        runs = jobs_of_created(created, name)
        assert statuses[name].counts.get("Succeeded", 0) >= 2, (name[:10], statuses[name].counts)
        slots = sorted(parse_time(j["metadata"]["annotations"][ANNOTATION_SCHEDULED_TIME]) for j in runs)
        assert len(slots) >= 3
        assert all(b - a == timedelta(seconds=2) for a, b in itertools.pairwise(slots)), slots
        for job in runs:
            assert len(job["metadata"]["name"]) <= 63
            lag = parse_time(job["metadata"]["creationTimestamp"]) - parse_time(
                job["metadata"]["annotations"][ANNOTATION_SCHEDULED_TIME]
            )
            assert lag <= timedelta(seconds=1), (job["metadata"]["name"], lag)
        conditions = {c.type: c for c in statuses[name].conditions}
        assert conditions["Ready"].status == "True"

    # The backlog: aggregated Missed records for the slots beyond maxCatchUp, at most 5 catch-up runs.
    backlog = statuses["backlog"]
    catchups = [j for j in jobs_of_created(created, "backlog") if j["metadata"]["labels"][LABEL_TRIGGER] == "catchup"]
    assert 1 <= len(catchups) <= 5
    aggregated = [r for r in backlog.history if r.result.value == "Missed" and (r.slotCount or 1) > 1]
    assert aggregated and all(r.reason == "CatchUpLimit" for r in aggregated)
    assert backlog.counts.get("Missed", 0) >= 3 * 3600 - 5 - 2
    backlog_events = [e for e in events if e["involvedObject"]["name"] == "backlog"]
    assert len(backlog_events) < 200  # no Event per missed slot

    # Nothing crashed: no reconcile failed, and the operator only warned about the bad specs.
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert failures == [], [r.getMessage()[:200] for r in failures]


def jobs_of_created(created: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [j for j in created if (j["metadata"].get("ownerReferences") or [{}])[0].get("name") == name]
