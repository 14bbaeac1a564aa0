"""Hand-picked bad ScheduledJob specs, each with where it must be stopped and what the message says.

``SCHEMA`` cases break the CRD's openAPIV3Schema (the API server rejects them before they reach the
operator); the operator's own parsing must reject them too, for a cluster with an older CRD.
``OPERATOR`` cases pass the schema (it cannot express cron, zones or durations) and must come back
from ``parse_spec``/``build_schedule`` as a SpecError whose message names the problem.
"""

from __future__ import annotations

from typing import Any

from punctual_testing import load_crd

__all__ = ["CRD", "OPERATOR", "SCHEMA", "TEMPLATE", "openapi_schema", "spec_of"]

CRD = load_crd()
TEMPLATE: dict[str, Any] = {
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}}
}


def spec_of(**fields: Any) -> dict[str, Any]:
    """A spec with a valid schedule and jobTemplate unless the fields say otherwise (None drops one)."""
    spec = {"schedule": "*/5 * * * *", "jobTemplate": TEMPLATE, **fields}
    return {k: v for k, v in spec.items() if v is not None}


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


def openapi_schema() -> dict[str, Any]:
    """The CRD's schema as JSON Schema: OpenAPI v3's subset, with the x-kubernetes-* keys dropped."""
    version = CRD["spec"]["versions"][0]
    schema: dict[str, Any] = _strip(version["schema"]["openAPIV3Schema"])
    return schema


# (id, spec, words the operator's message must contain)
SCHEMA: list[tuple[str, dict[str, Any], list[str]]] = [
    ("missing jobTemplate", spec_of(jobTemplate=None), ["jobTemplate"]),
    ("jobTemplate without spec", spec_of(jobTemplate={"metadata": {}}), ["jobTemplate.spec"]),
    ("jobTemplate a string", spec_of(jobTemplate="busybox"), ["jobTemplate"]),
    ("negative successfulJobsHistoryLimit", spec_of(successfulJobsHistoryLimit=-1), ["successfulJobsHistoryLimit"]),
    ("negative failedJobsHistoryLimit", spec_of(failedJobsHistoryLimit=-3), ["failedJobsHistoryLimit"]),
    ("negative historyLimit", spec_of(historyLimit=-1), ["historyLimit"]),
    ("huge historyLimit", spec_of(historyLimit=10**9), ["historyLimit", "100"]),
    ("negative startingDeadlineSeconds", spec_of(startingDeadlineSeconds=-10), ["startingDeadlineSeconds"]),
    ("negative maxCatchUp", spec_of(maxCatchUp=-1), ["maxCatchUp"]),
    ("huge maxCatchUp", spec_of(maxCatchUp=10**12), ["maxCatchUp", "1000"]),
    ("pauseAfterFailures zero", spec_of(pauseAfterFailures=0), ["pauseAfterFailures"]),
    ("huge pauseAfterFailures", spec_of(pauseAfterFailures=1001), ["pauseAfterFailures", "1000"]),
    ("negative retry limit", spec_of(retry={"limit": -1}), ["retry.limit"]),
    ("huge retry limit", spec_of(retry={"limit": 101}), ["retry.limit", "100"]),
    ("retry backoff below 1", spec_of(retry={"backoff": 0.5}), ["retry.backoff", "1"]),
    ("maxQueued zero", spec_of(maxQueued=0), ["maxQueued"]),
    ("maxActive zero", spec_of(maxActive=0), ["maxActive"]),
    ("huge maxActive", spec_of(maxActive=1001), ["maxActive", "1000"]),
    ("unknown overflow", spec_of(maxActive=2, overflow="Wait"), ["overflow", "Skip"]),
    ("huge maxQueued", spec_of(maxQueued=101), ["maxQueued", "100"]),
    ("unknown concurrencyPolicy", spec_of(concurrencyPolicy="Sometimes"), ["concurrencyPolicy", "Forbid"]),
    ("lower-case concurrencyPolicy", spec_of(concurrencyPolicy="forbid"), ["concurrencyPolicy"]),
    ("unknown catchUp", spec_of(catchUp="Everything"), ["catchUp", "Latest"]),
    ("schedule a number", spec_of(schedule=5), ["schedule"]),
    ("schedules a string", spec_of(schedule=None, schedules="*/5 * * * *"), ["schedules"]),
    ("suspend a list", spec_of(suspend=[True]), ["suspend"]),
    ("maxQueued a string", spec_of(maxQueued="three"), ["maxQueued"]),
    ("startingDeadlineSeconds a float", spec_of(startingDeadlineSeconds=1.5), ["startingDeadlineSeconds"]),
    ("timeZone a number", spec_of(timeZone=1), ["timeZone"]),
    ("exclude a string", spec_of(exclude="2026-12-25"), ["exclude"]),
    ("exclude an empty rule", spec_of(exclude=[""]), ["exclude"]),
    ("exclude words", spec_of(exclude=["christmas day"]), ["exclude", "christmas day"]),
    ("exclude too many rules", spec_of(exclude=["2026-12-25"] * 501), ["exclude", "500"]),
    ("calendars a string", spec_of(calendars="holidays-de"), ["calendars"]),
    ("calendars an empty name", spec_of(calendars=[""]), ["calendars"]),
]

OPERATOR: list[tuple[str, dict[str, Any], list[str]]] = [
    ("no schedule at all", spec_of(schedule=None), ["spec.schedule", "e.g."]),
    ("both schedule and schedules", spec_of(schedules=["@daily"]), ["not both"]),
    ("empty schedule", spec_of(schedule=""), ["empty"]),
    ("words", spec_of(schedule="every day at noon"), ["5", "fields"]),
    ("four fields", spec_of(schedule="* * * *"), ["4 fields"]),
    ("seven fields", spec_of(schedule="0 0 0 1 1 * 2030"), ["7 fields"]),
    ("minute 61", spec_of(schedule="61 * * * *"), ["61 * * * *", "out of range"]),
    ("hour 24", spec_of(schedule="0 24 * * *"), ["out of range"]),
    ("step zero", spec_of(schedule="*/0 * * * *"), ["step"]),
    ("February 30", spec_of(schedule="0 0 30 2 *"), ["never fires"]),
    ("April 31", spec_of(schedule="0 0 31 4 *"), ["never fires"]),
    ("weekday #", spec_of(schedule="0 0 * * 1#2"), ["#", "not supported"]),
    ("weekday L", spec_of(schedule="0 0 * * 5L"), ["not supported"]),
    ("day W", spec_of(schedule="0 0 15W * *"), ["W", "not supported"]),
    ("H range reversed", spec_of(schedule="H(50-10) * * * *"), ["H(50-10)", "0-59"]),
    ("H range beyond the hour", spec_of(schedule="H(0-99) * * * *"), ["H(0-99)", "0-59"]),
    ("H step zero", spec_of(schedule="H/0 * * * *"), ["H/0"]),
    ("H hours beyond the day", spec_of(schedule="0 H(0-30) * * *"), ["H(0-30)", "0-23"]),
    ("unknown macro", spec_of(schedule="@reboot"), ["@reboot", "@daily"]),
    ("@every zero", spec_of(schedule="@every 0s"), ["at least 1s"]),
    ("@every negative", spec_of(schedule="@every -5m"), ["-5m"]),
    ("@every in years", spec_of(schedule="@every 1y"), ["1y", "units"]),
    ("@every beyond the calendar", spec_of(schedule="@every 99999999d"), ["at most"]),
    ("@every too big for a timedelta", spec_of(schedule="@every 1e400"), ["at most"]),
    ("one bad expression among schedules", spec_of(schedule=None, schedules=["@daily", "nope"]), ["'nope'"]),
    ("empty schedules", spec_of(schedule=None, schedules=[]), ["spec.schedule"]),
    ("unknown zone", spec_of(timeZone="Mars/Olympus_Mons"), ["Mars/Olympus_Mons", "IANA"]),
    ("zone with a trailing space", spec_of(timeZone="Europe/Berlin "), ["IANA"]),
    ("zone path traversal", spec_of(timeZone="../../../etc/passwd"), ["IANA"]),
    ("zone name longer than a file name", spec_of(timeZone="A" * 400), ["IANA"]),
    ("jitter words", spec_of(jitter="a little"), ["duration"]),
    ("jitter negative", spec_of(jitter="-30s"), ["-30s"]),
    ("jitter of millennia", spec_of(jitter="99999999h"), ["365d"]),
    ("jitter infinite", spec_of(jitter="inf"), ["jitter"]),
    ("jitter not a number", spec_of(jitter="nan"), ["jitter"]),
    ("retry delay words", spec_of(retry={"delay": "soon"}), ["spec.retry.delay", "duration"]),
    ("retry delay negative", spec_of(retry={"delay": "-5m"}), ["spec.retry.delay", "-5m"]),
    ("retry maxDelay infinite", spec_of(retry={"maxDelay": "inf"}), ["spec.retry.maxDelay"]),
    ("no containers", spec_of(jobTemplate={"spec": {"template": {"spec": {"containers": []}}}}), ["containers"]),
    ("no pod template", spec_of(jobTemplate={"spec": {}}), ["containers"]),
    ("unknown field", spec_of(scheduel="*/5 * * * *"), ["scheduel"]),
    ("maxActive with Forbid", spec_of(maxActive=2, concurrencyPolicy="Forbid"), ["spec.maxActive", "Allow only"]),
    ("overflow without maxActive", spec_of(overflow="Skip"), ["spec.overflow", "spec.maxActive"]),
    ("unknown retry field", spec_of(retry={"limt": 3}), ["retry.limt"]),
    ("exclude range reversed", spec_of(exclude=["2026-12-26..2026-12-24"]), ["spec.exclude", "ends before it starts"]),
    ("exclude February 30", spec_of(exclude=["2026-02-30"]), ["spec.exclude", "2026-02-30 is not a date"]),
    ("exclude day 32", spec_of(exclude=["0 0 32 12 *"]), ["spec.exclude", "0 0 32 12 *"]),
    ("exclude with an H token", spec_of(exclude=["H 0 25 12 *"]), ["H tokens are not allowed"]),
]
