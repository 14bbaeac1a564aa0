"""The in-memory object store of the emulated Kubernetes API (stateful, no I/O).

Holds the objects indexed by resource, namespace and name; stamps the server-side metadata
(uid, resourceVersion from one global counter, creationTimestamp, generation); applies the
semantics of create/update/patch/delete (status subresource isolation, finalizers,
optimistic concurrency, ownerReference garbage collection); and fans out watch events.

It is deliberately single-threaded: every method must be called from the emulator's event
loop thread (the HTTP handler and the in-process controllers live there), so each method
is atomic without locks. Other threads go through :class:`kube_emulator.Emulator`.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import datetime
import json
import random
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from kube_emulator import errors
from kube_emulator.patching import PatchError, apply_patch
from kube_emulator.resources import (
    BUILTIN_RESOURCES,
    ResourceDef,
    apply_schema_defaults,
    resources_from_crd,
)
from kube_emulator.selectors import Selector

__all__ = [
    "Body",
    "Clock",
    "ObjectRef",
    "StorageKey",
    "Store",
    "WallClock",
    "WatchEvent",
    "Watcher",
    "format_time",
]

Body = dict[str, Any]
ObjectRef = tuple[str, str, str, str]  # (group, plural, namespace or "", name)
StorageKey = tuple[str, str]  # (group, plural)

_NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # as in k8s.io/apimachinery's rand.String
_CRDS = ("apiextensions.k8s.io", "customresourcedefinitions")
_NAMESPACES = ("", "namespaces")
_PODS = ("", "pods")
_SYSTEM_META = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
)
_INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class Clock(Protocol):
    """Where the emulator's timestamps come from: ``now()``, an aware datetime.

    The same shape as the operator's clock (``punctual.runtime.scheduler.Clock``), written again here because
    the emulator never imports Punctual: one test clock object can drive both.
    """

    def now(self) -> datetime.datetime: ...


class WallClock:
    """The real time, in UTC."""

    def now(self) -> datetime.datetime:
        return datetime.datetime.now(tz=datetime.UTC)


def format_time(moment: datetime.datetime) -> str:
    """``metav1.Time`` as the API server writes it: RFC 3339 in UTC, whole seconds (no fraction)."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class WatchEvent:
    """A change of one object; ``old`` is the previous state for MODIFIED events."""

    type: str  # ADDED, MODIFIED, DELETED
    obj: Body
    rv: int
    old: Body | None = None


@dataclass(eq=False)
class Watcher:
    """A subscription to the changes of one resource, optionally narrowed down.

    The store puts matching events (already re-typed for the selector: an object that stops
    matching arrives as DELETED, one that starts matching as ADDED) into ``queue``; ``None``
    in the queue means "the stream is closed by the server".
    """

    key: StorageKey
    namespace: str | None
    selector: Selector
    internal: bool = False  # in-process consumers survive drop_watches()
    queue: asyncio.Queue[tuple[str, Body] | None] = field(default_factory=asyncio.Queue)

    def translate(self, event: WatchEvent) -> tuple[str, Body] | None:
        meta = event.obj.get("metadata", {})
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return None
        now_matches = self.selector.matches(event.obj)
        if event.type != "MODIFIED":
            return (event.type, event.obj) if now_matches else None
        was_matching = event.old is not None and self.selector.matches(event.old)
        if now_matches:
            return ("MODIFIED" if was_matching else "ADDED", event.obj)
        return ("DELETED", event.obj) if was_matching else None

    def close(self) -> None:
        self.queue.put_nowait(None)


def _condition(kind: str, reason: str, message: str, now: str) -> Body:
    return {"type": kind, "status": "True", "reason": reason, "message": message, "lastTransitionTime": now}


def _spec_part(obj: Mapping[str, Any], *, with_status: bool) -> dict[str, Any]:
    """What a generation covers: everything but metadata (and status, if it is a subresource)."""
    skipped = {"metadata", "status"} if with_status else {"metadata"}
    return {key: value for key, value in obj.items() if key not in skipped}


class Store:
    """Objects, resource registry, watch fan-out. See the module docstring for threading."""

    def __init__(self, *, clock: Clock | None = None, history_limit: int = 10_000, seed: int | None = None) -> None:
        self.clock: Clock = clock if clock is not None else WallClock()
        self.history_limit = history_limit
        self._random = random.Random(seed)
        self._rv = 0
        self._registry: dict[tuple[str, str, str], ResourceDef] = {}
        self._tables: dict[StorageKey, dict[str, dict[str, Body]]] = {}
        self._uids: dict[str, ObjectRef] = {}
        self._dependents: dict[str, set[ObjectRef]] = {}
        self._history: dict[StorageKey, collections.deque[WatchEvent]] = {}
        self._compacted: dict[StorageKey, int] = {}
        self._watchers: dict[StorageKey, set[Watcher]] = {}
        self.pod_logs: dict[tuple[str, str], str] = {}
        for rd in BUILTIN_RESOURCES:
            self.register(rd)
        namespaces = self.resolve("", "v1", "namespaces")
        for name in _INITIAL_NAMESPACES:
            self.create(namespaces, None, {"metadata": {"name": name}})

    # --- The resource registry -------------------------------------------------------------

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    @property
    def resources(self) -> list[ResourceDef]:
        return list(self._registry.values())

    def register(self, rd: ResourceDef) -> None:
        self._registry[(rd.group, rd.version, rd.plural)] = rd

    def unregister_crd(self, crd_name: str) -> None:
        for key, rd in list(self._registry.items()):
            if rd.crd_name == crd_name:
                del self._registry[key]

    def resolve(self, group: str, version: str, plural: str) -> ResourceDef:
        rd = self._registry.get((group, version, plural))
        if rd is None:
            raise errors.resource_not_found()
        return rd

    def find(self, api_version: str, name: str) -> ResourceDef:
        """Find by apiVersion and a kind, plural, singular or short name (for the Python helpers)."""
        group, _, version = api_version.rpartition("/")
        lowered = name.lower()
        for rd in self._registry.values():
            if rd.group == group and rd.version == version:
                names = {rd.kind.lower(), rd.plural, rd.singular, *rd.short_names}
                if lowered in names:
                    return rd
        raise errors.resource_not_found()

    # --- Reading ---------------------------------------------------------------------------

    def _table(self, rd: ResourceDef) -> dict[str, dict[str, Body]]:
        return self._tables.setdefault(rd.storage_key, {})

    def _scope(self, rd: ResourceDef, namespace: str | None) -> str:
        if not rd.namespaced:
            return ""
        if not namespace:
            raise errors.bad_request(f"the namespace is required for {rd.qualified}")
        return namespace

    def _raw(self, rd: ResourceDef, namespace: str | None, name: str) -> Body:
        obj = self._table(rd).get(self._scope(rd, namespace), {}).get(name)
        if obj is None:
            raise errors.not_found(rd.group, rd.plural, name)
        return obj

    @staticmethod
    def present(rd: ResourceDef, obj: Body) -> Body:
        """The object as seen through a specific version of its resource."""
        if obj.get("apiVersion") == rd.api_version:
            return obj
        return {**obj, "apiVersion": rd.api_version}

    def get(self, rd: ResourceDef, namespace: str | None, name: str) -> Body:
        return self.present(rd, self._raw(rd, namespace, name))

    def iter_objects(self, rd: ResourceDef, namespace: str | None, selector: Selector) -> Iterator[Body]:
        """Matching objects of one namespace or of all (cluster-wide), unsorted."""
        table = self._table(rd)
        scope = None if not rd.namespaced else namespace
        buckets: Iterable[dict[str, Body]] = table.values() if scope is None else [table.get(scope, {})]
        pinned = selector.name
        for bucket in buckets:
            if pinned is not None:
                candidates: Iterable[Body] = [bucket[pinned]] if pinned in bucket else []
            else:
                candidates = bucket.values()
            for obj in candidates:
                if selector.matches(obj):
                    yield self.present(rd, obj)

    def list_objects(
        self,
        rd: ResourceDef,
        namespace: str | None,
        selector: Selector,
        *,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> Body:
        """A full ``<Kind>List`` body with pagination (``limit`` + ``continue``)."""

        def sort_key(obj: Body) -> tuple[str, str]:
            meta = obj["metadata"]
            return (meta.get("namespace", ""), meta["name"])

        items = sorted(self.iter_objects(rd, namespace, selector), key=sort_key)
        list_rv = self.resource_version
        if continue_token:
            try:
                state = json.loads(base64.urlsafe_b64decode(continue_token.encode()))
                after, list_rv = (state["ns"], state["name"]), state["rv"]
            except (ValueError, KeyError, TypeError) as e:
                raise errors.bad_request("invalid continue token") from e
            items = [obj for obj in items if sort_key(obj) > after]
        metadata: Body = {"resourceVersion": list_rv}
        if limit and len(items) > limit:
            items = items[:limit]
            ns, name = sort_key(items[-1])
            token = json.dumps({"ns": ns, "name": name, "rv": list_rv}).encode()
            metadata["continue"] = base64.urlsafe_b64encode(token).decode()
        return {"kind": f"{rd.kind}List", "apiVersion": rd.api_version, "metadata": metadata, "items": items}

    # --- Watching --------------------------------------------------------------------------

    def watch(
        self,
        rd: ResourceDef,
        namespace: str | None,
        selector: Selector,
        *,
        since: str | None,
        internal: bool = False,
    ) -> tuple[Watcher, list[tuple[str, Body]]]:
        """Subscribe; return the watcher and the events to send first.

        With no ``since`` (or "0"), the first events are ADDED for all current objects.
        Otherwise, they are the retained changes after that version (no replay of older ones);
        a version older than the retained history raises 410 Gone.
        """
        key = rd.storage_key
        scope = namespace if rd.namespaced else None
        watcher = Watcher(key=key, namespace=scope, selector=selector, internal=internal)
        initial: list[tuple[str, Body]]
        if not since or since == "0":
            initial = [("ADDED", obj) for obj in self.iter_objects(rd, namespace, selector)]
        else:
            try:
                since_rv = int(since)
            except ValueError as e:
                raise errors.bad_request(f"invalid resourceVersion: {since!r}") from e
            if since_rv < self._compacted.get(key, 0):
                raise errors.gone(f"too old resource version: {since_rv} ({self._compacted[key]})")
            replay: list[WatchEvent] = []
            for event in reversed(self._history.get(key, ())):
                if event.rv <= since_rv:
                    break
                replay.append(event)
            initial = [t for event in reversed(replay) if (t := watcher.translate(event)) is not None]
        initial = [(kind, self.present(rd, obj)) for kind, obj in initial]
        self._watchers.setdefault(key, set()).add(watcher)
        return watcher, initial

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.get(watcher.key, set()).discard(watcher)

    def drop_watches(self) -> int:
        """Close all external watch streams (as an API server restart would); return how many."""
        dropped = 0
        for watchers in self._watchers.values():
            for watcher in list(watchers):
                if not watcher.internal:
                    watcher.close()
                    watchers.discard(watcher)
                    dropped += 1
        return dropped

    def close_all_watches(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.close()
            watchers.clear()

    def _emit(self, key: StorageKey, event: WatchEvent) -> None:
        history = self._history.setdefault(key, collections.deque())
        if len(history) >= self.history_limit:
            self._compacted[key] = history.popleft().rv
        history.append(event)
        for watcher in self._watchers.get(key, ()):
            translated = watcher.translate(event)
            if translated is not None:
                watcher.queue.put_nowait(translated)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    # --- Writing ---------------------------------------------------------------------------

    def create(self, rd: ResourceDef, namespace: str | None, body: Mapping[str, Any]) -> Body:
        obj: Body = copy.deepcopy(dict(body))
        meta: Body = obj.get("metadata") or {}
        obj["metadata"] = meta
        if rd.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or body_ns or "default"
        scope = self._scope(rd, namespace)
        name = meta.get("name")
        if not name and meta.get("generateName"):
            suffix = "".join(self._random.choice(_NAME_CHARS) for _ in range(5))
            name = f"{meta['generateName']}{suffix}"
        if not name:
            raise errors.invalid(
                rd.group, rd.plural, "", "metadata.name: Required value: name or generateName is required"
            )
        bucket = self._table(rd).setdefault(scope, {})
        if name in bucket:
            raise errors.already_exists(rd.group, rd.plural, name)

        for key in _SYSTEM_META:
            meta.pop(key, None)
        meta.update(
            name=name,
            uid=str(uuid.UUID(int=self._random.getrandbits(128), version=4)),
            creationTimestamp=format_time(self.clock.now()),
            generation=1,
        )
        if rd.namespaced:
            meta["namespace"] = scope
        obj["apiVersion"] = rd.api_version
        obj["kind"] = rd.kind
        if rd.has_status:
            obj.pop("status", None)  # the status is only writable via /status
        apply_schema_defaults(obj, rd.schema)
        new_defs = self._apply_builtin_defaults(rd, obj)
        meta["resourceVersion"] = self._next_rv()
        # Canonical key order, as the real API renders it: apiVersion, kind, metadata, the rest.
        obj = {
            "apiVersion": obj.pop("apiVersion"),
            "kind": obj.pop("kind"),
            "metadata": obj.pop("metadata"),
            **obj,
        }

        bucket[name] = obj
        ref: ObjectRef = (rd.group, rd.plural, scope, name)
        self._index(ref, None, obj)
        for new_rd in new_defs:
            self.register(new_rd)
        self._emit(rd.storage_key, WatchEvent("ADDED", obj, self._rv))
        return self.present(rd, obj)

    def _apply_builtin_defaults(self, rd: ResourceDef, obj: Body) -> list[ResourceDef]:
        """What the real API server's defaulting/admission would add; returns new CRD resources."""
        meta = obj["metadata"]
        if rd.storage_key == _CRDS:
            try:
                new_defs = resources_from_crd(obj)
            except (KeyError, TypeError) as e:
                raise errors.invalid(rd.group, rd.plural, meta["name"], f"missing field {e}") from e
            names = dict(obj["spec"]["names"])
            names.setdefault("singular", names["kind"].lower())
            names.setdefault("listKind", f"{names['kind']}List")
            now = format_time(self.clock.now())
            obj["status"] = {
                "acceptedNames": names,
                "storedVersions": [v["name"] for v in obj["spec"].get("versions", []) if v.get("storage")],
                "conditions": [
                    _condition("NamesAccepted", "NoConflicts", "no conflicts found", now),
                    _condition("Established", "InitialNamesAccepted", "the initial names have been accepted", now),
                ],
            }
            return new_defs
        if rd.storage_key == _NAMESPACES:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["spec"] = obj.get("spec") or {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif rd.storage_key == _PODS:
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif rd.storage_key == ("batch", "jobs"):
            spec = obj.setdefault("spec", {})
            for key, value in (
                ("parallelism", 1),
                ("completions", 1),
                ("backoffLimit", 6),
                ("suspend", False),
            ):
                spec.setdefault(key, value)
            spec.setdefault("completionMode", "NonIndexed")
            labels = {
                "batch.kubernetes.io/controller-uid": meta["uid"],
                "batch.kubernetes.io/job-name": meta["name"],
                "controller-uid": meta["uid"],
                "job-name": meta["name"],
            }
            spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": meta["uid"]}})
            template = spec.setdefault("template", {})
            template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
            obj["status"] = {}
        return []

    def replace(
        self,
        rd: ResourceDef,
        namespace: str | None,
        name: str,
        body: Mapping[str, Any],
        *,
        subresource: str | None = None,
    ) -> Body:
        """PUT: the whole object (or only its status via the status subresource)."""
        if not isinstance(body, Mapping):
            raise errors.bad_request("the body must be a JSON object")
        body_name = (body.get("metadata") or {}).get("name")
        if body_name and body_name != name:
            raise errors.bad_request(
                f"the name of the object ({body_name}) does not match the name on the URL ({name})"
            )
        return self._write(rd, namespace, name, copy.deepcopy(dict(body)), subresource=subresource)

    def patch(
        self,
        rd: ResourceDef,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        content_type: str,
        subresource: str | None = None,
    ) -> Body:
        current = self.get(rd, namespace, name)
        try:
            patched = apply_patch(current, patch, content_type=content_type)
        except PatchError as e:
            raise errors.ApiError(422, "Invalid", str(e)) from e
        return self._write(rd, namespace, name, patched, subresource=subresource)

    def _write(self, rd: ResourceDef, namespace: str | None, name: str, new: Body, *, subresource: str | None) -> Body:
        old = self._raw(rd, namespace, name)
        old_meta: Body = old["metadata"]
        new_meta: Body = new.get("metadata") or {}
        wanted_rv = new_meta.get("resourceVersion")
        if wanted_rv and str(wanted_rv) != old_meta["resourceVersion"]:
            raise errors.conflict(rd.group, rd.plural, name)

        if subresource == "status":
            if not rd.has_status:
                raise errors.resource_not_found()
            result = {key: value for key, value in old.items() if key != "status"}
            if "status" in new:
                result["status"] = new["status"]
        elif subresource is None:
            meta = {key: value for key, value in new_meta.items() if key not in _SYSTEM_META}
            meta.update({key: old_meta[key] for key in _SYSTEM_META if key in old_meta})
            rest = {key: value for key, value in new.items() if key not in ("apiVersion", "kind", "metadata")}
            if rd.has_status:
                rest.pop("status", None)
                if "status" in old:
                    rest["status"] = old["status"]
            result = {"apiVersion": old["apiVersion"], "kind": old["kind"], "metadata": meta, **rest}
        else:
            raise errors.method_not_allowed()

        if result == old:
            return self.present(rd, old)  # a no-op write changes nothing, not even the version
        if _spec_part(result, with_status=rd.has_status) != _spec_part(old, with_status=rd.has_status):
            result["metadata"] = {**result["metadata"], "generation": old_meta.get("generation", 1) + 1}
        result["metadata"] = {**result["metadata"], "resourceVersion": self._next_rv()}

        ref: ObjectRef = (rd.group, rd.plural, self._scope(rd, namespace), name)
        if result["metadata"].get("deletionTimestamp") and not result["metadata"].get("finalizers"):
            self._table(rd)[ref[2]][name] = result
            self._index(ref, old, result)
            return self.present(rd, self._remove(ref, result, cascade=True))
        self._table(rd)[ref[2]][name] = result
        self._index(ref, old, result)
        self._emit(rd.storage_key, WatchEvent("MODIFIED", result, self._rv, old=old))
        return self.present(rd, result)

    def delete(
        self,
        rd: ResourceDef,
        namespace: str | None,
        name: str,
        *,
        preconditions: Mapping[str, Any] | None = None,
        propagation: str | None = None,
    ) -> Body:
        """Mark for deletion if there are finalizers, else remove (and cascade to dependents)."""
        old = self._raw(rd, namespace, name)
        meta = old["metadata"]
        preconditions = preconditions or {}
        if preconditions.get("uid") and preconditions["uid"] != meta["uid"]:
            raise errors.conflict(rd.group, rd.plural, name, "Precondition failed: UID in precondition mismatch")
        if preconditions.get("resourceVersion") and preconditions["resourceVersion"] != meta["resourceVersion"]:
            raise errors.conflict(rd.group, rd.plural, name, "Precondition failed: ResourceVersion mismatch")
        ref: ObjectRef = (rd.group, rd.plural, self._scope(rd, namespace), name)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return self.present(rd, old)
            new_meta = {
                **meta,
                "deletionTimestamp": format_time(self.clock.now()),
                "deletionGracePeriodSeconds": 0,
                "resourceVersion": self._next_rv(),
            }
            result = {**old, "metadata": new_meta}
            self._table(rd)[ref[2]][name] = result
            self._emit(rd.storage_key, WatchEvent("MODIFIED", result, self._rv, old=old))
            return self.present(rd, result)
        return self.present(rd, self._remove(ref, old, cascade=propagation != "Orphan"))

    def _remove(self, ref: ObjectRef, obj: Body, *, cascade: bool) -> Body:
        group, plural, scope, name = ref
        bucket = self._tables[(group, plural)][scope]
        del bucket[name]
        final = {**obj, "metadata": {**obj["metadata"], "resourceVersion": self._next_rv()}}
        uid: str = obj["metadata"]["uid"]
        self._index(ref, obj, None)
        self._emit((group, plural), WatchEvent("DELETED", final, self._rv))

        if (group, plural) == _PODS:
            self.pod_logs.pop((scope, name), None)
        if (group, plural) == _CRDS:
            self._drop_crd(final)
        if (group, plural) == _NAMESPACES:
            self._drop_namespace(name)
        dependents = self._dependents.pop(uid, set())
        if cascade:
            for dep_ref in sorted(dependents):
                self._collect_garbage(dep_ref)
        return final

    def _collect_garbage(self, ref: ObjectRef) -> None:
        """Delete a dependent whose owners are all gone (the real GC does it asynchronously)."""
        group, plural, scope, name = ref
        obj = self._tables.get((group, plural), {}).get(scope, {}).get(name)
        if obj is None:
            return
        owners = obj["metadata"].get("ownerReferences") or []
        if any(owner.get("uid") in self._uids for owner in owners):
            return
        rd = self._any_def(group, plural)
        if rd is not None:
            self.delete(rd, scope or None, name, propagation="Background")

    def _any_def(self, group: str, plural: str) -> ResourceDef | None:
        for rd in self._registry.values():
            if rd.group == group and rd.plural == plural:
                return rd
        return None

    def _drop_crd(self, crd: Body) -> None:
        spec = crd.get("spec", {})
        key = (spec.get("group", ""), spec.get("names", {}).get("plural", ""))
        for bucket in list(self._tables.get(key, {}).values()):
            for name, obj in list(bucket.items()):
                scope = obj["metadata"].get("namespace", "")
                self._remove((key[0], key[1], scope, name), obj, cascade=True)
        self.unregister_crd(crd["metadata"]["name"])

    def _drop_namespace(self, namespace: str) -> None:
        for (group, plural), table in list(self._tables.items()):
            for name, obj in list(table.get(namespace, {}).items()):
                if name in table.get(namespace, {}):
                    self._remove((group, plural, namespace, name), obj, cascade=True)

    def _index(self, ref: ObjectRef, old: Body | None, new: Body | None) -> None:
        """Maintain the uid → object and owner uid → dependents indexes."""
        if old is not None:
            self._uids.pop(old["metadata"]["uid"], None)
            for owner in old["metadata"].get("ownerReferences") or []:
                self._dependents.get(owner.get("uid", ""), set()).discard(ref)
        if new is not None:
            self._uids[new["metadata"]["uid"]] = ref
            for owner in new["metadata"].get("ownerReferences") or []:
                self._dependents.setdefault(owner.get("uid", ""), set()).add(ref)

    def count(self) -> int:
        return sum(len(bucket) for table in self._tables.values() for bucket in table.values())
