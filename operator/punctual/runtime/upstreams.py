"""What each ScheduledJob's downstreams see of it (``spec.dependsOn``), and who to wake when it changes.

Fed by every ScheduledJob event, of every shard (a downstream's upstream may live on another
shard): each body is kept only as a small :class:`~punctual.core.pipeline.UpstreamView` (its
history's logical times and results, its queue, its cursor, its own dependsOn). An index upstream
-> downstreams wakes the downstreams (of this shard) whenever what they see of an upstream changes,
and when an upstream appears or is deleted. The reconcile hands :meth:`Upstreams.namespace` to the
core as its ``upstreams``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from punctual.core.pipeline import UpstreamView, view_of

__all__ = ["Upstreams"]

_Key = tuple[str, str]


class _Namespace(Mapping[str, UpstreamView]):
    """The views of one namespace, by name, read on demand (a decision reads a few)."""

    def __init__(self, upstreams: Upstreams, namespace: str) -> None:
        self._upstreams, self._ns = upstreams, namespace

    def __getitem__(self, name: str) -> UpstreamView:
        return self._upstreams.view((self._ns, name))

    def __iter__(self) -> Iterator[str]:
        return (name for ns, name in list(self._upstreams.raw) if ns == self._ns)

    def __len__(self) -> int:
        return sum(1 for ns, _ in self._upstreams.raw if ns == self._ns)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self._ns, name) in self._upstreams.raw


def _rv(body: Mapping[str, Any]) -> int:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _slices(body: Mapping[str, Any]) -> str:
    """The parts of a body an UpstreamView is read from, as compact JSON: of each history record
    only its logical time and result (a record is some 400 bytes, these about 60)."""
    status = body.get("status") or {}
    history = status.get("history")
    if isinstance(history, list):
        history = [
            {f: r[f] for f in ("scheduledTime", "result") if f in r} if isinstance(r, Mapping) else r for r in history
        ]
    slices = {
        "spec": {"dependsOn": (body.get("spec") or {}).get("dependsOn")},
        "status": {"history": history, **{k: status.get(k) for k in ("queued", "scheduledThrough", "upstreamThrough")}},
    }
    return json.dumps(slices, separators=(",", ":"), sort_keys=True)


class Upstreams:
    """Every ScheduledJob as its downstreams see it, and the index upstream -> downstreams.

    Only the slices of each body a view is read from are kept (as compact JSON), and a view is parsed when a
    downstream first asks for it (most ScheduledJobs are nobody's upstream), then kept until the
    ScheduledJob changes.
    """

    def __init__(self, *, mine: Callable[[_Key], bool], wake: Callable[[_Key], None]) -> None:
        self.mine, self.wake = mine, wake
        self.raw: dict[_Key, str] = {}
        self.names: dict[_Key, tuple[str, ...]] = {}  # each one's dependsOn
        self.versions: dict[_Key, int] = {}
        self.parsed: dict[_Key, UpstreamView] = {}
        self.downstreams: dict[_Key, set[_Key]] = {}

    def namespace(self, namespace: str) -> Mapping[str, UpstreamView]:
        """The ScheduledJobs of ``namespace`` by name, as the core's ``upstreams``."""
        return _Namespace(self, namespace)

    def view(self, key: _Key) -> UpstreamView:
        """The view of one ScheduledJob (KeyError: there is none)."""
        found = self.parsed.get(key)
        if found is None:
            found = self.parsed[key] = view_of(json.loads(self.raw[key]))
        return found

    def on_scheduledjob(self, kind: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self.raw.get(key)
        if kind == "DELETED":
            if old is not None:
                self._unlink(key, self.names.pop(key, ()))
                del self.raw[key]
                self.versions.pop(key, None)
                self.parsed.pop(key, None)
                self._wake_downstreams(key)
            return
        if key in self.versions and _rv(body) < self.versions[key]:
            return  # an older event than our own patch's response
        if old is not None and _rv(body) and _rv(body) == self.versions[key]:
            return  # the version kept (our own patch's response, then its watch event): the same content
        new = _slices(body)
        self.versions[key] = _rv(body)
        names = _names((body.get("spec") or {}).get("dependsOn"))
        if old is not None and self.names.get(key, ()) != names:
            self._unlink(key, self.names.get(key, ()))
        for name in names:
            self.downstreams.setdefault((key[0], name), set()).add(key)
        self.raw[key] = new
        self.names[key] = names
        if old is None or old != new:
            # Its runs, queue or cursor changed (what its downstreams decide on), or its own
            # dependsOn (a cycle through it may have formed or gone).
            self.parsed.pop(key, None)
            self._wake_downstreams(key)

    def _unlink(self, key: _Key, names: tuple[str, ...]) -> None:
        for name in names:
            downstreams = self.downstreams.get((key[0], name))
            if downstreams is not None:
                downstreams.discard(key)
                if not downstreams:
                    del self.downstreams[(key[0], name)]

    def _wake_downstreams(self, key: _Key) -> None:
        for downstream in sorted(self.downstreams.get(key, ())):
            if downstream != key and self.mine(downstream):
                self.wake(downstream)


def _names(deps: Any) -> tuple[str, ...]:
    if not isinstance(deps, list):
        return ()
    return tuple(str(d.get("name")) for d in deps if isinstance(d, Mapping) and d.get("name"))
