"""What each ScheduledJob's downstreams see of it (``spec.dependsOn``), and who to wake when it changes.

Fed by every ScheduledJob event, of every shard (a downstream's upstream may live on another
shard): each body is kept only as a small :class:`~punctual.core.pipeline.UpstreamView` (its
history's logical times and results, its queue, its cursor, its own dependsOn). An index upstream
-> downstreams wakes the downstreams (of this shard) whenever what they see of an upstream changes,
and when an upstream appears or is deleted. The reconcile hands :meth:`Upstreams.namespace` to the
core as its ``upstreams``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from punctual.core.pipeline import UpstreamView, view_of

__all__ = ["Upstreams"]

_Key = tuple[str, str]


class _Namespace(Mapping[str, UpstreamView]):
    """The views of one namespace, by name, read on demand (a decision reads a few)."""

    def __init__(self, views: Mapping[_Key, UpstreamView], namespace: str) -> None:
        self._views, self._ns = views, namespace

    def __getitem__(self, name: str) -> UpstreamView:
        return self._views[(self._ns, name)]

    def __iter__(self) -> Iterator[str]:
        return (name for ns, name in list(self._views) if ns == self._ns)

    def __len__(self) -> int:
        return sum(1 for ns, _ in self._views if ns == self._ns)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (self._ns, name) in self._views


def _rv(body: Mapping[str, Any]) -> int:
    try:
        return int((body.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


class Upstreams:
    """Every ScheduledJob as its downstreams see it, and the index upstream -> downstreams."""

    def __init__(self, *, mine: Callable[[_Key], bool], wake: Callable[[_Key], None]) -> None:
        self.mine, self.wake = mine, wake
        self.views: dict[_Key, UpstreamView] = {}
        self.versions: dict[_Key, int] = {}
        self.downstreams: dict[_Key, set[_Key]] = {}

    def namespace(self, namespace: str) -> Mapping[str, UpstreamView]:
        """The ScheduledJobs of ``namespace`` by name, as the core's ``upstreams``."""
        return _Namespace(self.views, namespace)

    def on_scheduledjob(self, kind: str | None, body: Mapping[str, Any]) -> None:
        meta = body.get("metadata") or {}
        key = (str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        old = self.views.get(key)
        if kind == "DELETED":
            if old is not None:
                self._unlink(key, old)
                del self.views[key]
                self.versions.pop(key, None)
                self._wake_downstreams(key)
            return
        if key in self.versions and _rv(body) < self.versions[key]:
            return  # an older event than our own patch's response
        view = view_of(body)
        self.versions[key] = _rv(body)
        if old is not None and old.depends_on != view.depends_on:
            self._unlink(key, old)
        for name in view.depends_on:
            self.downstreams.setdefault((key[0], name), set()).add(key)
        self.views[key] = view
        if old is None or (old.runs, old.pending, old.through) != (view.runs, view.pending, view.through):
            self._wake_downstreams(key)

    def _unlink(self, key: _Key, view: UpstreamView) -> None:
        for name in view.depends_on:
            downstreams = self.downstreams.get((key[0], name))
            if downstreams is not None:
                downstreams.discard(key)
                if not downstreams:
                    del self.downstreams[(key[0], name)]

    def _wake_downstreams(self, key: _Key) -> None:
        for downstream in sorted(self.downstreams.get(key, ())):
            if downstream != key and self.mine(downstream):
                self.wake(downstream)
