"""Kubernetes-style conditions on the status: set one, keeping its transition time when unchanged. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from punctual.api import Condition

__all__ = ["set_condition"]


def set_condition(
    conditions: list[Condition],
    *,
    type_: str,
    status: Literal["True", "False", "Unknown"],
    reason: str,
    message: str,
    now: datetime,
    generation: int | None,
) -> list[Condition]:
    """``conditions`` with ``type_`` set; ``lastTransitionTime`` moves only when the status changes."""
    out = [c for c in conditions if c.type != type_]
    old = next((c for c in conditions if c.type == type_), None)
    since = old.lastTransitionTime if old is not None and old.status == status else now
    out.append(
        Condition(
            type=type_,
            status=status,
            reason=reason,
            message=message,
            lastTransitionTime=since,
            observedGeneration=generation,
        )
    )
    return sorted(out, key=lambda c: c.type)
