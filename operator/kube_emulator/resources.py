"""Resource definitions and discovery documents of the emulated API (pure).

A :class:`ResourceDef` describes one served group/version/plural. The built-in table covers
what Punctual, kopf and kubectl touch; CRDs add more via :func:`resources_from_crd`.
The discovery bodies (``/api``, ``/api/v1``, ``/apis``, ``/apis/<g>``, ``/apis/<g>/<v>``)
are rendered from a list of definitions, so they always agree with what is served.
CRD ``openAPIV3Schema`` defaults are applied by :func:`apply_schema_defaults`.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ALL_VERBS",
    "BUILTIN_RESOURCES",
    "ResourceDef",
    "api_group_body",
    "api_group_list_body",
    "api_resource_list_body",
    "api_versions_body",
    "apply_schema_defaults",
    "openapi_v3_document",
    "openapi_v3_root",
    "resources_from_crd",
    "version_body",
]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceDef:
    """One served resource: the identity, the discovery info, the schema for defaults."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    singular: str = ""
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()
    verbs: tuple[str, ...] = ALL_VERBS
    schema: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    crd_name: str | None = None  # set for resources that come from a CRD
    printer_columns: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, hash=False)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def storage_key(self) -> tuple[str, str]:
        """Objects are shared by all versions of a resource (no conversion is emulated)."""
        return (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    @property
    def qualified(self) -> str:
        """E.g. ``jobs.batch`` or ``pods`` — as in the messages of the real API."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


def _core(plural: str, kind: str, *, short: Sequence[str] = (), **kwargs: Any) -> ResourceDef:
    return ResourceDef("", "v1", plural, kind, singular=kind.lower(), short_names=tuple(short), **kwargs)


BUILTIN_RESOURCES: tuple[ResourceDef, ...] = (
    _core("namespaces", "Namespace", short=["ns"], namespaced=False, subresources=frozenset({"status"})),
    _core("pods", "Pod", short=["po"], categories=("all",), subresources=frozenset({"status", "log"})),
    _core("events", "Event", short=["ev"]),
    _core("configmaps", "ConfigMap", short=["cm"]),
    _core("secrets", "Secret"),
    _core("serviceaccounts", "ServiceAccount", short=["sa"]),
    ResourceDef(
        "batch",
        "v1",
        "jobs",
        "Job",
        singular="job",
        categories=("all",),
        subresources=frozenset({"status"}),
    ),
    ResourceDef(
        "batch",
        "v1",
        "cronjobs",
        "CronJob",
        singular="cronjob",
        short_names=("cj",),
        categories=("all",),
        subresources=frozenset({"status"}),
    ),
    ResourceDef(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        singular="customresourcedefinition",
        short_names=("crd", "crds"),
        subresources=frozenset({"status"}),
    ),
    ResourceDef("events.k8s.io", "v1", "events", "Event", singular="event", short_names=("ev",)),
    ResourceDef("coordination.k8s.io", "v1", "leases", "Lease", singular="lease"),
)


def resources_from_crd(crd: Mapping[str, Any]) -> list[ResourceDef]:
    """One definition per served version of a CustomResourceDefinition body."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    group: str = spec["group"]
    plural: str = names["plural"]
    kind: str = names["kind"]
    result: list[ResourceDef] = []
    for version in spec.get("versions", []):
        if not version.get("served", True):
            continue
        subresources = set(version.get("subresources", {}) or {})
        result.append(
            ResourceDef(
                group,
                version["name"],
                plural,
                kind,
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular", kind.lower()),
                short_names=tuple(names.get("shortNames", [])),
                categories=tuple(names.get("categories", [])),
                subresources=frozenset(subresources),
                schema=(version.get("schema") or {}).get("openAPIV3Schema"),
                crd_name=crd.get("metadata", {}).get("name", f"{plural}.{group}"),
                printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            )
        )
    return result


def apply_schema_defaults(body: Any, schema: Mapping[str, Any] | None) -> Any:
    """Fill absent properties that have a ``default:`` in the schema, recursively for objects.

    Only objects are descended into (not array items): that is all the emulator needs, and it
    matches the common case of CRD defaults on ``spec`` fields.
    """
    if not schema or not isinstance(body, dict):
        return body
    properties: Mapping[str, Any] = schema.get("properties") or {}
    for key, subschema in properties.items():
        if key not in body and "default" in subschema:
            body[key] = copy.deepcopy(subschema["default"])
        if key in body:
            apply_schema_defaults(body[key], subschema)
    return body


def _preferred(versions: Sequence[str]) -> str:
    # The real API prefers the storage version; stable versions first is a close approximation.
    def rank(version: str) -> tuple[int, str]:
        return (0 if "alpha" not in version and "beta" not in version else 1, version)

    return sorted(versions, key=rank)[0]


def _group_versions(defs: Iterable[ResourceDef]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for rd in defs:
        if rd.group and rd.version not in groups.setdefault(rd.group, []):
            groups[rd.group].append(rd.version)
    return groups


def _group_body(group: str, versions: Sequence[str]) -> dict[str, Any]:
    preferred = _preferred(versions)
    return {
        "name": group,
        "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
        "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred},
    }


def api_versions_body(*, server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list_body(defs: Iterable[ResourceDef]) -> dict[str, Any]:
    groups = _group_versions(defs)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_body(group, versions) for group, versions in groups.items()],
    }


def api_group_body(defs: Iterable[ResourceDef], group: str) -> dict[str, Any] | None:
    versions = _group_versions(defs).get(group)
    if not versions:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_body(group, versions)}


def _resource_entries(rd: ResourceDef) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rd.plural,
        "singularName": rd.singular,
        "namespaced": rd.namespaced,
        "kind": rd.kind,
        "verbs": list(rd.verbs),
    }
    if rd.short_names:
        main["shortNames"] = list(rd.short_names)
    if rd.categories:
        main["categories"] = list(rd.categories)
    entries = [main]
    for sub in sorted(rd.subresources):
        verbs = ["get"] if sub == "log" else ["get", "patch", "update"]
        kind = rd.kind if sub != "scale" else "Scale"
        entries.append(
            {
                "name": f"{rd.plural}/{sub}",
                "singularName": "",
                "namespaced": rd.namespaced,
                "kind": kind,
                "verbs": verbs,
            }
        )
    return entries


def api_resource_list_body(defs: Iterable[ResourceDef], group: str, version: str) -> dict[str, Any] | None:
    selected = [rd for rd in defs if rd.group == group and rd.version == version]
    if not selected and group:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for rd in selected for entry in _resource_entries(rd)],
    }


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_document(defs: Iterable[ResourceDef], group: str, version: str) -> dict[str, Any] | None:
    """A minimal OpenAPI v3 document of one group/version: PATCH operations only.

    kubectl (``apply``, ``create``) reads it to decide that the server validates fields
    itself (the ``fieldValidation`` query parameter), and then skips its own client-side
    validation, which would need the complete schemas of all types.
    """
    selected = [rd for rd in defs if rd.group == group and rd.version == version]
    if not selected:
        return None
    paths: dict[str, Any] = {}
    for rd in selected:
        prefix = f"/{_gv_path(group, version)}/" + ("namespaces/{namespace}/" if rd.namespaced else "")
        paths[f"{prefix}{rd.plural}/{{name}}"] = {
            "patch": {
                "operationId": f"patch{rd.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rd.kind},
                "parameters": [
                    {"name": name, "in": "query", "schema": {"type": "string"}}
                    for name in ("dryRun", "fieldManager", "fieldValidation", "force")
                ],
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (punctual sandbox)", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


def openapi_v3_root(defs: Iterable[ResourceDef]) -> dict[str, Any]:
    """The ``/openapi/v3`` index; the hash changes when the served resources change."""
    defs = list(defs)
    gvs = sorted({(rd.group, rd.version) for rd in defs})
    paths: dict[str, Any] = {}
    for group, version in gvs:
        doc = json.dumps(openapi_v3_document(defs, group, version), sort_keys=True)
        digest = hashlib.sha256(doc.encode()).hexdigest()[:32].upper()
        paths[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": paths}


def version_body() -> dict[str, Any]:
    return {
        "major": "1",
        "minor": "37",
        "gitVersion": "v1.37.0-punctual-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }
