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
   write before ours put an old status back, and the next reconcile would decide from it). A wait
   must never outlive a skipped version (a watch that never shows ours would freeze the copy), so
   the caller may also say what our write was (``content``: the status we wrote; only the leader
   writes status): an event that carries it is at least as new as our write, and ends the wait as
   our version itself would. :meth:`Versions.release` ends every wait (a replica that stops leading:
   another one writes from then on, and the watch always ends on an object's newest version);
3. a listing is always taken and ends such a wait (a watch started from a list shows what came after);
4. our own answer is not taken when a listing came in while the request was in flight (a ``ticket``
   taken before the request says so): the listing may be the newer one, and if it is the older, the
   watch shows our version next. Waiting on a version the watch will never show would freeze the copy.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
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
    superseded: tuple[str, ...] = ()
    """The last :data:`MEMORY` versions it replaced, oldest first (a tuple: a deque costs some 600
    bytes, and there is one of these per cached ScheduledJob and Job)."""
    awaiting: str | None = None
    """The version of our own answer that the watch has not shown yet."""
    awaiting_content: object = None
    """What that answer says (rule 2), when the caller gave it."""

    def end_wait(self) -> None:
        # The content goes with the wait: kept, it would hold a whole old status (history
        # included) per ScheduledJob, some 25 KiB each with 20 records.
        self.awaiting = self.awaiting_content = None

    def advance(self, version: str) -> None:
        if version != self.current:
            self.superseded = (*self.superseded, self.current)[-MEMORY:]
            self.current = version


class Versions:
    """The versions seen of each cached object, and the rule of the module docstring."""

    def __init__(self) -> None:
        self._seen: dict[Hashable, _Seen] = {}
        self._listings = 0

    def ticket(self) -> int:
        """Taken before our own request, given back with its answer (rule 4)."""
        return self._listings

    def admit(
        self, key: Hashable, meta: ObjectMeta, source: Source, *, ticket: int | None = None, content: object = None
    ) -> bool:
        """Whether the body with this metadata replaces the cached copy of ``key`` (and remember it if so).

        ``content`` (optional, compared for equality): what our own answer says, or what a watch
        event says, for rule 2 where the watch may skip versions.
        """
        uid, version = str(meta.get("uid") or ""), str(meta.get("resourceVersion") or "")
        if source is Source.LISTING:
            self._listings += 1
        seen = self._seen.get(key)
        if not version or seen is None or seen.uid != uid:
            # A new object (or a body with no version to compare): nothing it could be older than.
            if version:
                self._seen[key] = seen = _Seen(uid=uid, current=version)
                if source is Source.OWN:
                    seen.awaiting, seen.awaiting_content = version, content
            else:
                self._seen.pop(key, None)
            return True
        if source is Source.LISTING:
            seen.advance(version)
            seen.end_wait()
            return True
        if version == seen.current:
            if source is Source.WATCH and seen.awaiting == version:
                seen.end_wait()  # the watch has caught up with our own answer
            return True
        if version in seen.superseded:
            return False  # rule 1
        if source is Source.OWN:
            if ticket is not None and ticket != self._listings:
                return False  # rule 4
            seen.advance(version)
            seen.awaiting, seen.awaiting_content = version, content
            return True
        if seen.awaiting is not None:
            if content is None or content != seen.awaiting_content:
                return False  # rule 2: the watch is still showing what came before our own answer
            seen.end_wait()  # rule 2: it carries our write (the watch skipped our own version)
        seen.advance(version)
        return True

    def waiting(self, key: Hashable) -> bool:
        """Whether ``key``'s copy is our own answer, not yet shown by the watch."""
        seen = self._seen.get(key)
        return seen is not None and seen.awaiting is not None

    def release(self) -> None:
        """End every wait for our own versions: the watch's next copy of each object is taken."""
        for seen in self._seen.values():
            seen.end_wait()

    def forget(self, key: Hashable) -> None:
        """The object is gone from the cache."""
        self._seen.pop(key, None)
