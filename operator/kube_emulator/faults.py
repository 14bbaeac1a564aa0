"""Fault injection for chaos tests of the emulated API (pure decisions, seeded).

A :class:`Faults` value says how often requests fail; :class:`FaultInjector` draws from a
seeded RNG to decide, per request, whether to answer 500, 429 (with ``Retry-After: 1``),
or to hang. All rates are 0 by default, so faults are off unless configured.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Fault", "FaultInjector", "Faults"]

Fault = Literal["error", "throttle", "hang"]


@dataclass(frozen=True)
class Faults:
    """How often requests fail. Rates are fractions in [0, 1] and are checked in this order.

    ``hang_seconds=None`` hangs until the client disconnects (or the emulator stops);
    a number hangs that long and then serves the request normally (a slow response).
    ``path_pattern`` narrows the faults down to the matching URL paths (``re.search``).
    Discovery (``/api``, ``/apis``, ``/version``) is spared unless ``include_discovery``;
    watch requests are included unless ``include_watches`` is false.
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float | None = None
    seed: int | None = 0
    methods: frozenset[str] = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
    path_pattern: str | None = None
    include_discovery: bool = False
    include_watches: bool = True

    @property
    def active(self) -> bool:
        return bool(self.error_rate or self.throttle_rate or self.hang_rate)


_DISCOVERY = re.compile(r"^/(api|apis|version|openapi)(/[^/]+)?(/[^/]+)?/?$")


@dataclass
class FaultInjector:
    """Draws the faults for the requests; replace ``faults`` at any time to reconfigure."""

    faults: Faults = field(default_factory=Faults)
    _random: random.Random = field(default_factory=random.Random)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.configure(self.faults)

    def configure(self, faults: Faults) -> None:
        self.faults = faults
        self._random = random.Random(faults.seed)

    def decide(self, *, method: str, path: str, is_watch: bool) -> Fault | None:
        faults = self.faults
        if not faults.active or method.upper() not in faults.methods:
            return None
        if is_watch and not faults.include_watches:
            return None
        if not faults.include_discovery and not is_watch and _DISCOVERY.match(path):
            return None
        if faults.path_pattern is not None and not re.search(faults.path_pattern, path):
            return None
        draw = self._random.random()
        fault: Fault | None = None
        if draw < faults.error_rate:
            fault = "error"
        elif draw < faults.error_rate + faults.throttle_rate:
            fault = "throttle"
        elif draw < faults.error_rate + faults.throttle_rate + faults.hang_rate:
            fault = "hang"
        if fault is not None:
            self.counts[fault] = self.counts.get(fault, 0) + 1
        return fault
