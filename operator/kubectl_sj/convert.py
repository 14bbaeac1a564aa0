"""CronJob → ScheduledJob conversion for ``kubectl sj convert``. Pure.

A ScheduledJob's spec is a superset of a CronJob's, so conversion copies the CronJob's fields one
by one and keeps the object's name, namespace, labels and annotations. Server-owned fields (uid,
resourceVersion, managedFields, creationTimestamp, status, ...) are dropped so that the output
can go straight into ``kubectl apply -f -``. The result is validated with the operator's own
:func:`punctual.core.parse_spec`, so what converts is what the operator accepts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from punctual.api import API_VERSION, KIND
from punctual.bodies import RawBody
from punctual.core import SpecError, parse_spec

__all__ = ["COPIED_FIELDS", "ConvertError", "convert_cronjob", "drop_nulls"]

COPIED_FIELDS = (
    "schedule",
    "timeZone",
    "startingDeadlineSeconds",
    "concurrencyPolicy",
    "suspend",
    "jobTemplate",
    "successfulJobsHistoryLimit",
    "failedJobsHistoryLimit",
)
"""The CronJob spec fields a ScheduledJob takes as they are (everything a CronJob has)."""

# Annotations that describe the CronJob object itself, not what the user wants on the new object.
_DROPPED_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})
# Before timeZone existed, CronJobs set the zone inside the schedule (unsupported since 1.27).
_TZ_PREFIX = re.compile(r"^\s*(?:CRON_TZ|TZ)=(\S+)\s+(.*)$")


class ConvertError(ValueError):
    """The input is not a CronJob, or the result would not be a valid ScheduledJob."""


def drop_nulls(value: Any) -> Any:
    """A copy without ``null`` values (``creationTimestamp: null`` in server-rendered templates)."""
    if isinstance(value, Mapping):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def convert_cronjob(cronjob: Mapping[str, Any]) -> RawBody:
    """The ScheduledJob equivalent to a batch/v1 CronJob; ConvertError if it is not one."""
    kind = cronjob.get("kind")
    if kind != "CronJob" or not str(cronjob.get("apiVersion", "")).startswith("batch/"):
        raise ConvertError(f"expected a batch/v1 CronJob, got {cronjob.get('apiVersion')}/{kind}")
    meta = cronjob.get("metadata") or {}
    name = meta.get("name")
    if not name:
        raise ConvertError("the CronJob has no metadata.name")
    source = cronjob.get("spec") or {}
    spec: RawBody = {key: drop_nulls(source[key]) for key in COPIED_FIELDS if source.get(key) is not None}
    match = _TZ_PREFIX.match(str(spec.get("schedule", "")))
    if match and "timeZone" not in spec:
        spec["timeZone"], spec["schedule"] = match.group(1), match.group(2)
    template = spec.get("jobTemplate")
    if isinstance(template, dict) and isinstance(template.get("metadata"), dict):
        # A JobTemplateSpec's metadata may carry anything; Jobs only get labels and annotations.
        kept = {k: v for k, v in template["metadata"].items() if k in ("labels", "annotations") and v}
        template["metadata"] = kept
        if not kept:
            del template["metadata"]
    try:
        parse_spec(spec)
    except SpecError as exc:
        raise ConvertError(f"cronjob/{name} does not convert to a valid ScheduledJob: {exc}") from exc
    new_meta: RawBody = {"name": name}
    if meta.get("namespace"):
        new_meta["namespace"] = meta["namespace"]
    if meta.get("labels"):
        new_meta["labels"] = dict(meta["labels"])
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _DROPPED_ANNOTATIONS}
    if annotations:
        new_meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": new_meta, "spec": spec}
