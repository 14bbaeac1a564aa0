"""Which copy of an object the caches keep: resourceVersions compared for equality only.

A resourceVersion is opaque: Kubernetes promises only that it changes when the object does ("clients
must not assume that resource versions are numeric or collatable", the API conventions). The one order
the operator knows is that of a watch stream, which shows one object's versions in the order they were
written. Bodies reach the caches three ways:

- a **watch** event;
- a **listing** (a fresh list, or kopf's ``type: None`` events): the state as of the list;
- the answer to **our own** request (a status patch, a Job created or read back), which is newer than
  anything the watch has shown, unless the watch has shown that very version already, or a listing
  came in while the request was in flight.

Per object (per uid) the rule is:

1. a version the cache has already seen replaced is stale (a replayed event; our own answer arriving
   after the watch moved on): dropped;
2. once our own answer is kept, the watch's events are older than it until the watch shows that very
   version: they are dropped until then (a naive "different means newer" would let the event of the
   write before ours put an old status back, and the next reconcile would decide from it);
3. a listing is always taken and ends such a wait (a watch started from a list shows what came after);
4. our own answer is not taken when a listing came in while the request was in flight (a ``ticket``
   taken before the request says so): the listing may be the newer one, and if it is the older, the
   watch shows our version next. Waiting on a version the watch will never show would freeze the copy.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum

from punctual.bodies import ObjectMeta

__all__ = ["MEMORY", "Source", "Versions"]

MEMORY = 4
"""Superseded versions remembered per object: enough for the few a watch moves on by during one request."""


class Source(Enum):
    """Where a body comes from (the module docstring's three ways)."""

    WATCH = "watch"
    LISTING = "listing"
    OWN = "own"


@dataclass(slots=True)
class _Seen:
    uid: str
    current: str
    superseded: deque[str] = field(default_factory=lambda: deque(maxlen=MEMORY))
    awaiting: str | None = None
    """The version of our own answer that the watch has not shown yet."""

    def advance(self, version: str) -> None:
        if version != self.current:
            self.superseded.append(self.current)
            self.current = version


class Versions:
    """The versions seen of each cached object, and the rule of the module docstring."""

    def __init__(self) -> None:
        self._seen: dict[Hashable, _Seen] = {}
        self._listings = 0

    def ticket(self) -> int:
        """Taken before our own request, given back with its answer (rule 4)."""
        return self._listings

    def admit(self, key: Hashable, meta: ObjectMeta, source: Source, *, ticket: int | None = None) -> bool:
        """Whether the body with this metadata replaces the cached copy of ``key`` (and remember it if so)."""
        uid, version = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
        if source is Source.LISTING:
            self._listings += 1
        seen = self._seen.get(key)
        if not version or seen is None or seen.uid != uid:
            # A new object (or a body with no version to compare): nothing it could be older than.
            if version:
                self._seen[key] = _Seen(uid=uid, current=version, awaiting=version if source is Source.OWN else None)
            else:
                self._seen.pop(key, None)
            return True
        if source is Source.LISTING:
            seen.advance(version)
            seen.awaiting = None
            return True
        if version == seen.current:
            if source is Source.WATCH and seen.awaiting == version:
                seen.awaiting = None  # the watch has caught up with our own answer
            return True
        if version in seen.superseded:
            return False  # rule 1
        if source is Source.OWN:
            if ticket is not None and ticket != self._listings:
                return False  # rule 4
            seen.advance(version)
            seen.awaiting = version
            return True
        if seen.awaiting is not None:
            return False  # rule 2: the watch is still showing what came before our own answer
        seen.advance(version)
        return True

    def forget(self, key: Hashable) -> None:
        """The object is gone from the cache."""
        self._seen.pop(key, None)
