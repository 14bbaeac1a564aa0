"""Server-side ``Table`` responses (``kubectl get``'s columns), from a CRD's printer columns. Pure.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io``; a real API server renders the
CRD's ``additionalPrinterColumns`` (simple JSONPath) and turns ``date`` columns into ages
("5m", "3h2m") the way Kubernetes' ``HumanDuration`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

__all__ = ["human_duration", "json_path", "render_table", "wants_table"]

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


def _cell(value: Any, type_: str, now: datetime) -> Any:
    if value is None:
        return None
    if type_ == "date" and isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return human_duration((now - when).total_seconds())
    if isinstance(value, (dict, list)):
        return str(value)
    return value


def render_table(
    objects: Sequence[Mapping[str, Any]],
    columns: Sequence[Mapping[str, Any]],
    *,
    resource_version: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of ``objects`` (Name first, then the printer columns, or Age)."""
    now = now or datetime.now(UTC)
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
