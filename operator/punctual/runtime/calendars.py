"""The Calendars (``spec.calendars``) as the core reads them, and who to wake when one changes.

Fed by our own list-and-watch of Calendars (:meth:`punctual.runtime.kube.Kube.list_and_watch`),
whose first list finishes before the first reconcile: a ScheduledJob is never decided before its
Calendars had a chance to arrive (a Calendar seen as missing records its slot Skipped). Each
Calendar is kept as its ``spec.exclude`` only. A Calendar that appears, changes its rules or goes
wakes the ScheduledJobs of this shard in its namespace that name it, so that it applies from
their next decision. The reconcile hands :meth:`CalendarIndex.namespace` to the core as its
``calendars``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from punctual.bodies import ScheduledJobBody

__all__ = ["CalendarIndex"]

_Key = tuple[str, str]
_Rules = tuple[str, ...] | None


def _rules(body: Mapping[str, Any]) -> _Rules:
    """A Calendar's spec.exclude as strings; None when it is not a list of strings (unreadable)."""
    spec = body.get("spec")
    rules = spec.get("exclude", []) if isinstance(spec, Mapping) else None
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        return None
    return tuple(rules)


def _key(body: Mapping[str, Any]) -> _Key:
    meta = body.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


class CalendarIndex:
    """Every Calendar's rules by (namespace, name)."""

    def __init__(
        self, *, sjs: Mapping[_Key, ScheduledJobBody], mine: Callable[[_Key], bool], wake: Callable[[_Key], None]
    ) -> None:
        self.sjs, self.mine, self.wake = sjs, mine, wake
        self.by_namespace: dict[str, dict[str, _Rules]] = {}

    def namespace(self, namespace: str) -> Mapping[str, Sequence[str] | None]:
        """The Calendars of ``namespace`` by name, as the core's ``calendars``."""
        return self.by_namespace.get(namespace, {})

    def on_listed(self, namespace: str | None, items: list[Any]) -> None:
        """A fresh list (of one namespace, or of all): it replaces what was known of them."""
        fresh = {_key(item): _rules(item) for item in items}
        known = [(ns, name) for ns, names in self.by_namespace.items() for name in names]
        for key in known:
            if (namespace is None or key[0] == namespace) and key not in fresh:
                self._drop(key)
        for key, rules in fresh.items():
            self._put(key, rules)

    def on_event(self, kind: str, body: Any) -> None:
        key = _key(body)
        if kind == "DELETED":
            self._drop(key)
        else:
            self._put(key, _rules(body))

    def _drop(self, key: _Key) -> None:
        names = self.by_namespace.get(key[0], {})
        if key[1] in names:
            del names[key[1]]
            if not names:
                del self.by_namespace[key[0]]
            self._wake_users(key)

    def _put(self, key: _Key, rules: _Rules) -> None:
        names = self.by_namespace.setdefault(key[0], {})
        if key[1] in names and names[key[1]] == rules:
            return
        names[key[1]] = rules
        self._wake_users(key)

    def _wake_users(self, key: _Key) -> None:
        namespace, name = key
        for sj_key, body in sorted(self.sjs.items()):
            if sj_key[0] != namespace or not self.mine(sj_key):
                continue
            names = (body.get("spec") or {}).get("calendars")
            if isinstance(names, list) and name in names:
                self.wake(sj_key)
