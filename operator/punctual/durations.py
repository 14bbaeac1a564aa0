"""Duration strings (``90s``, ``15m``, ``1h30m``, ``1.5h``, ``250ms``, ``2d``). Pure.

Kubernetes users know Go's ``time.ParseDuration`` format; this accepts the same units plus ``d`` for
days, and rejects anything else with a message that says what is accepted.
"""

from __future__ import annotations

import re
from datetime import timedelta

__all__ = ["DurationError", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


class DurationError(ValueError):
    """A duration string that cannot be parsed."""


def parse_duration(text: str) -> timedelta:
    """Parse ``1h30m``-style text, or a bare number of seconds, into a timedelta (>= 0)."""
    value = text.strip()
    if not value:
        raise DurationError("empty duration; use e.g. 90s, 15m, 1h30m")
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise DurationError(f"negative duration {text!r}")
        return timedelta(seconds=seconds)
    pos = 0
    total = 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value) or pos == 0:
        raise DurationError(f"invalid duration {text!r}; use units ms, s, m, h, d, e.g. 90s, 15m, 1h30m")
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Render a timedelta compactly: ``1h30m``, ``45s``, ``2d3h``, ``0s``."""
    total = round(delta.total_seconds())
    if total == 0:
        return "0s"
    sign = "-" if total < 0 else ""
    total = abs(total)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            parts.append(f"{total // size}{unit}")
            total %= size
    return sign + "".join(parts)
