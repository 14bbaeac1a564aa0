"""Server-side ``Table`` responses (``kubectl get``'s columns). Pure.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``. For a custom resource a real API
server renders the CRD's ``additionalPrinterColumns`` (simple JSONPath) and turns ``date`` columns
into ages ("5m", "3h2m") the way Kubernetes' ``HumanDuration`` does. For the built-in kinds it has
a printer per kind (``pkg/printers/internalversion/printers.go``): :data:`BUILTIN_PRINTERS` has the
same columns, priorities and cells for the kinds the emulator serves. Like the real server, every
cell is sent, the wide ones (priority 1) too; kubectl shows those with ``-o wide``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["BUILTIN_PRINTERS", "NONE", "Obj", "Printer", "human_duration", "json_path", "render_table", "wants_table"]

_STEP = re.compile(r"\.?([A-Za-z0-9_-]+)|\[(\d+)\]")


def wants_table(accept: str) -> bool:
    """Whether the Accept header asks for a meta.k8s.io Table."""
    return "as=Table" in accept


def json_path(obj: Any, path: str) -> Any:
    """Evaluate the simple JSONPath subset printer columns use: ``.a.b[0].c``."""
    value = obj
    for match in _STEP.finditer(path.strip().lstrip("{").rstrip("}")):
        key, index = match.groups()
        if key is not None:
            value = value.get(key) if isinstance(value, Mapping) else None
        else:
            i = int(index)
            value = value[i] if isinstance(value, list) and i < len(value) else None
        if value is None:
            return None
    return value


def human_duration(seconds: float) -> str:
    """Kubernetes' ``duration.HumanDuration``: 45s, 3m10s, 25m, 5h3m, 30h, 3d4h, 120d, 2y."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = s // 3600
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d{h % 24}h" if h % 24 else f"{d}d"
    if d < 365 * 2:
        return f"{d}d"
    return f"{d // 365}y"


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _cell(value: Any, type_: str, now: datetime) -> Any:
    if value is None:
        return None
    if type_ == "date" and isinstance(value, str):
        try:
            when = _parse(value)
        except ValueError:
            return value
        return human_duration((now - when).total_seconds())
    if isinstance(value, (dict, list)):
        return str(value)
    return value


# -- the built-in kinds, as printers.go prints them --------------------------------------------------

Obj = Mapping[str, Any]
NONE = "<none>"


@dataclass(frozen=True)
class Printer:
    """A kind's columns after Name, ``(name, type, priority)``, and the cells of one object."""

    columns: tuple[tuple[str, str, int], ...]
    cells: Callable[[Obj, datetime], list[Any]]
    name_column: bool = True  # events put Name last, as a wide column


def _get(obj: Any, *path: str) -> Any:
    for key in path:
        obj = obj.get(key) if isinstance(obj, Mapping) else None
    return obj


def _since(value: Any, now: datetime) -> str:
    """``translateTimestampSince``: an age, ``<unknown>`` for a missing time."""
    if not isinstance(value, str) or not value:
        return "<unknown>"
    try:
        when = _parse(value)
    except ValueError:
        return "<unknown>"
    return human_duration((now - when).total_seconds())


def _age(obj: Obj, now: datetime) -> str:
    return _since(_get(obj, "metadata", "creationTimestamp"), now)


def _containers(containers: Any) -> tuple[str, str]:
    """``layoutContainerCells``: the names and the images, comma-separated."""
    items = [c for c in containers or [] if isinstance(c, Mapping)]
    return ",".join(str(c.get("name", "")) for c in items), ",".join(str(c.get("image", "")) for c in items)


def _selector(selector: Any) -> str:
    """``metav1.FormatLabelSelector``: ``a=b,c in (d,e)``, sorted by key; ``<none>`` when empty."""
    if not isinstance(selector, Mapping):
        return NONE
    parts = [(k, f"{k}={v}") for k, v in (selector.get("matchLabels") or {}).items()]
    words = {"In": "in", "NotIn": "notin"}
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key", ""), expr.get("operator", ""), expr.get("values") or []
        if op in words:
            parts.append((key, f"{key} {words[op]} ({','.join(sorted(values))})"))
        elif op == "Exists":
            parts.append((key, key))
        elif op == "DoesNotExist":
            parts.append((key, f"!{key}"))
    text = ",".join(p for _, p in sorted(parts))
    return text or NONE


def _has_condition(obj: Obj, kind: str) -> bool:
    for cond in _get(obj, "status", "conditions") or []:
        if cond.get("type") == kind:
            return bool(cond.get("status") == "True")
    return False


def _job(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = int(status.get("succeeded") or 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif int(spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    start, end = status.get("startTime"), status.get("completionTime")
    duration = ""
    if start and end:
        duration = human_duration((_parse(end) - _parse(start)).total_seconds())
    elif start:
        duration = human_duration((now - _parse(start)).total_seconds())
    if _has_condition(obj, "Complete"):
        state = "Complete"
    elif _has_condition(obj, "Failed"):
        state = "Failed"
    elif _get(obj, "metadata", "deletionTimestamp"):
        state = "Terminating"
    elif _has_condition(obj, "Suspended"):
        state = "Suspended"
    elif _has_condition(obj, "FailureTarget"):
        state = "FailureTarget"
    else:
        state = "Running"
    names, images = _containers(_get(spec, "template", "spec", "containers"))
    return [state, completions, duration, _age(obj, now), names, images, _selector(spec.get("selector"))]


def _pod(obj: Obj, now: datetime) -> list[Any]:
    """printPod for Pods without init containers (the emulator's): READY, STATUS, RESTARTS."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    phase = str(status.get("phase") or "")
    reason = str(status.get("reason") or phase)
    total, ready, restarts = len(spec.get("containers") or []), 0, 0
    last_restart: str | None = None
    running = False
    for container in reversed(status.get("containerStatuses") or []):
        restarts += int(container.get("restartCount") or 0)
        finished = _get(container, "lastState", "terminated", "finishedAt")
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished
        state = container.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = str(waiting["reason"])
        elif terminated and terminated.get("reason"):
            reason = str(terminated["reason"])
        elif terminated:
            signal = terminated.get("signal")
            reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode', 0)}"
        elif container.get("ready") and state.get("running") is not None:
            running = True
            ready += 1
    if reason == "Completed" and running:
        ready_condition = any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
        )
        reason = "Running" if ready_condition else "NotReady"
    if _get(obj, "metadata", "deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    restarts_text = str(restarts)
    if restarts and last_restart:
        restarts_text = f"{restarts} ({_since(last_restart, now)} ago)"
    ips = [ip.get("ip") for ip in status.get("podIPs") or [] if ip.get("ip")] or [status.get("podIP")]
    gates = spec.get("readinessGates") or []
    gates_text = NONE
    if gates:
        true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gates_text = f"{sum(1 for g in gates if g.get('conditionType') in true)}/{len(gates)}"
    return [
        f"{ready}/{total}",
        reason,
        restarts_text,
        _age(obj, now),
        ips[0] or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gates_text,
    ]


def _bool_ptr(value: Any) -> str:
    """``printBoolPtr``."""
    return "<unset>" if value is None else ("True" if value else "False")


def _cronjob(obj: Obj, now: datetime) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = status.get("lastScheduleTime")
    template = _get(spec, "jobTemplate", "spec") or {}
    names, images = _containers(_get(template, "template", "spec", "containers"))
    return [
        spec.get("schedule", ""),
        spec.get("timeZone") or NONE,
        _bool_ptr(spec.get("suspend")),
        len(status.get("active") or []),
        _since(last, now) if last else NONE,
        _age(obj, now),
        names,
        images,
        _selector(template.get("selector")),
    ]


def _event(obj: Obj, now: datetime) -> list[Any]:
    """printEvent; an events.k8s.io/v1 Event is read through its deprecated core fields."""
    core = "involvedObject" in obj or "regarding" not in obj
    involved = (obj.get("involvedObject") if core else obj.get("regarding")) or {}
    first_ts = obj.get("firstTimestamp") if core else obj.get("deprecatedFirstTimestamp")
    last_ts = obj.get("lastTimestamp") if core else obj.get("deprecatedLastTimestamp")
    first = _since(first_ts, now) if first_ts else _since(obj.get("eventTime"), now)
    last = _since(last_ts, now) if last_ts else first
    count = int((obj.get("count") if core else obj.get("deprecatedCount")) or 0)
    series = obj.get("series")
    if series:
        last = _since(series.get("lastObservedTime"), now)
        count = int(series.get("count") or 0)
    elif count == 0:
        count = 1
    source = (obj.get("source") if core else obj.get("deprecatedSource")) or {}
    if source.get("component"):
        origin = ", ".join(p for p in (source.get("component"), source.get("host")) if p)
    else:
        origin = ", ".join(p for p in (obj.get("reportingController"), obj.get("reportingInstance")) if p)
    message = obj.get("message") if core else obj.get("note")
    return [
        last,
        obj.get("type", ""),
        obj.get("reason", ""),
        f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}",
        involved.get("fieldPath", ""),
        origin,
        str(message or "").strip(),
        first,
        count,
        _get(obj, "metadata", "name"),
    ]


_WIDE_CONTAINERS = (("Containers", "string", 1), ("Images", "string", 1), ("Selector", "string", 1))
_EVENT = Printer(
    columns=(
        ("Last Seen", "string", 0),
        ("Type", "string", 0),
        ("Reason", "string", 0),
        ("Object", "string", 0),
        ("Subobject", "string", 1),
        ("Source", "string", 1),
        ("Message", "string", 0),
        ("First Seen", "string", 1),
        ("Count", "string", 1),
        ("Name", "string", 1),
    ),
    cells=_event,
    name_column=False,
)

BUILTIN_PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "pods"): Printer(
        columns=(
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ),
        cells=_pod,
    ),
    ("batch", "jobs"): Printer(
        columns=(
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            *_WIDE_CONTAINERS,
        ),
        cells=_job,
    ),
    ("batch", "cronjobs"): Printer(
        columns=(
            ("Schedule", "string", 0),
            ("Timezone", "string", 0),
            ("Suspend", "boolean", 0),
            ("Active", "integer", 0),
            ("Last Schedule", "string", 0),
            ("Age", "string", 0),
            *_WIDE_CONTAINERS,
        ),
        cells=_cronjob,
    ),
    ("", "namespaces"): Printer(
        columns=(("Status", "string", 0), ("Age", "string", 0)),
        cells=lambda o, now: [_get(o, "status", "phase") or "", _age(o, now)],
    ),
    ("", "configmaps"): Printer(
        columns=(("Data", "string", 0), ("Age", "string", 0)),
        cells=lambda o, now: [len(o.get("data") or {}) + len(o.get("binaryData") or {}), _age(o, now)],
    ),
    ("", "secrets"): Printer(
        columns=(("Type", "string", 0), ("Data", "string", 0), ("Age", "string", 0)),
        cells=lambda o, now: [o.get("type", ""), len(o.get("data") or {}), _age(o, now)],
    ),
    ("", "serviceaccounts"): Printer(
        columns=(("Secrets", "string", 0), ("Age", "string", 0)),
        cells=lambda o, now: [len(o.get("secrets") or []), _age(o, now)],
    ),
    ("coordination.k8s.io", "leases"): Printer(
        columns=(("Holder", "string", 0), ("Age", "string", 0)),
        cells=lambda o, now: [_get(o, "spec", "holderIdentity") or "", _age(o, now)],
    ),
    # The apiextensions server's default table: the creation time as a timestamp, not an age.
    ("apiextensions.k8s.io", "customresourcedefinitions"): Printer(
        columns=(("Created At", "date", 0),),
        cells=lambda o, now: [_get(o, "metadata", "creationTimestamp")],
    ),
    ("", "events"): _EVENT,
    ("events.k8s.io", "events"): _EVENT,
}


def _builtin_table(objects: Sequence[Obj], printer: Printer, now: datetime) -> tuple[list[Any], list[Any]]:
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    if not printer.name_column:
        definitions = []
    definitions += [
        {"name": name, "type": type_, "format": "name" if name == "Name" else "", "description": "", "priority": p}
        for name, type_, p in printer.columns
    ]
    rows = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        cells = [meta.get("name")] if printer.name_column else []
        cells += printer.cells(obj, now)
        rows.append(
            {
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            }
        )
    return definitions, rows


def render_table(
    objects: Sequence[Mapping[str, Any]],
    columns: Sequence[Mapping[str, Any]],
    *,
    resource_version: str,
    now: datetime | None = None,
    resource: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``objects``.

    ``resource`` (group, plural) names a built-in kind with a printer in :data:`BUILTIN_PRINTERS`;
    otherwise the columns are Name, then the CRD's printer ``columns`` (or Age when it has none).
    """
    now = now or datetime.now(UTC)
    printer = BUILTIN_PRINTERS.get(resource) if resource is not None and not columns else None
    if printer is not None:
        definitions, rows = _builtin_table(objects, printer, now)
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": definitions,
            "rows": rows,
        }
    cols = list(columns) or [{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0}]
    definitions += [
        {
            "name": c["name"],
            "type": c.get("type", "string"),
            "format": c.get("format", ""),
            "description": c.get("description", ""),
            "priority": int(c.get("priority", 0)),
        }
        for c in cols
    ]
    rows = []
    for obj in objects:
        meta = obj.get("metadata") or {}
        cells = [meta.get("name")]
        cells += [_cell(json_path(obj, c["jsonPath"]), c.get("type", "string"), now) for c in cols]
        rows.append(
            {
                "cells": cells,
                "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
            }
        )
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
