"""The ScheduledJob CustomResourceDefinition, generated from the pydantic models. Pure.

``punctual crd`` prints it; ``crds/scheduledjobs.punctual.dev.yaml`` is its committed output and a
test fails when the two differ. pydantic's JSON Schema is turned into a *structural* OpenAPI v3
schema: references inlined, ``Optional`` collapsed to the plain type, titles dropped, and no
``default`` the API server would reject (``None``, ``''``); ``tests/unit/test_crd.py`` checks every
default against its own node and the structural-schema rules of apiextensions.k8s.io/v1.
"""

from __future__ import annotations

from typing import Any

import yaml

from punctual.api import (
    CALENDAR_KIND,
    CALENDAR_PLURAL,
    CALENDAR_SHORT_NAMES,
    CALENDAR_SINGULAR,
    GROUP,
    KIND,
    PLURAL,
    SHORT_NAMES,
    SINGULAR,
    VERSION,
    CalendarSpec,
    ScheduledJobSpec,
    ScheduledJobStatus,
)

__all__ = ["calendar_crd_manifest", "calendar_crd_yaml", "crd_manifest", "crd_yaml", "openapi_schema"]

_KEEP = {
    "type",
    "description",
    "default",
    "enum",
    "minimum",
    "maximum",
    "items",
    "properties",
    "required",
    "format",
    "pattern",
    "minItems",
    "maxItems",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "maxLength",
    "minLength",
}


def _convert(node: Any, defs: dict[str, Any]) -> Any:
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].split("/")[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _convert(merged, defs)
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in node.items() if k != "anyOf"}
        if len(options) == 1:
            return _convert({**options[0], **rest}, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key not in _KEEP:
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, defs) for name, sub in value.items()}
        elif key == "additionalProperties" and value is False:
            continue  # structural schemas forbid it beside properties; pruning drops unknown fields
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out[key] = _convert(value, defs)
        elif key == "default" and value in (None, ""):
            # None is pydantic's "no default" for an Optional field. An empty-string default says
            # nothing an absent field does not, and kube-apiserver 1.20 built with Go >= 1.16 reads a
            # zero-valued string as null (kubernetes/kubernetes#99804: the go-openapi zero-value
            # check), so it rejects `default: ''` on `type: string` and refuses the whole CRD.
            continue
        else:
            out[key] = value
    if out.get("format") == "date-time":
        out["type"] = "string"
    if out.get("x-kubernetes-preserve-unknown-fields"):
        out["type"] = "object"
        out.pop("additionalProperties", None)
    if "enum" in out and "type" not in out:
        out["type"] = "string"
    return out


def openapi_schema(model: type[Any]) -> dict[str, Any]:
    """A structural OpenAPI v3 schema for one pydantic model."""
    raw = model.model_json_schema(mode="serialization", by_alias=True)
    defs = raw.get("$defs", {})
    return dict(_convert(raw, defs))


def _crd(
    *,
    kind: str,
    plural: str,
    singular: str,
    short_names: tuple[str, ...],
    description: str,
    properties: dict[str, Any],
    printer: list[dict[str, str]],
    categories: list[str] | None = None,
    status_subresource: bool = False,
) -> dict[str, Any]:
    """One namespaced CRD of the group, served and stored at VERSION, with a required ``spec``."""
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": f"{kind}List",
        "plural": plural,
        "singular": singular,
        "shortNames": list(short_names),
    }
    if categories:
        names["categories"] = categories
    version: dict[str, Any] = {"name": VERSION, "served": True, "storage": True}
    if status_subresource:
        version["subresources"] = {"status": {}}
    version["additionalPrinterColumns"] = printer
    version["schema"] = {
        "openAPIV3Schema": {
            "type": "object",
            "description": description,
            "required": ["spec"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                **properties,
            },
        }
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/name": "punctual"}},
        "spec": {"group": GROUP, "names": names, "scope": "Namespaced", "versions": [version]},
    }


def crd_manifest() -> dict[str, Any]:
    """The full CRD object."""
    printer = [
        {"name": "Schedule", "type": "string", "jsonPath": ".spec.schedule"},
        {"name": "Suspend", "type": "boolean", "jsonPath": ".spec.suspend"},
        {"name": "Active", "type": "integer", "jsonPath": ".status.activeCount"},
        {"name": "Queued", "type": "integer", "jsonPath": ".status.queuedCount"},
        {"name": "Last Result", "type": "string", "jsonPath": ".status.lastResult"},
        {"name": "Last Schedule", "type": "date", "jsonPath": ".status.lastScheduleTime"},
        {"name": "Next Run", "type": "string", "jsonPath": ".status.nextScheduleTime"},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ]
    return _crd(
        kind=KIND,
        plural=PLURAL,
        singular=SINGULAR,
        short_names=SHORT_NAMES,
        categories=["all", "batch"],
        status_subresource=True,
        description="A ScheduledJob runs a Job on a cron schedule; cron that never silently skips a run.",
        properties={"spec": openapi_schema(ScheduledJobSpec), "status": openapi_schema(ScheduledJobStatus)},
        printer=printer,
    )


def calendar_crd_manifest() -> dict[str, Any]:
    """The Calendar CRD: a namespaced list of exclusion rules ScheduledJobs share (spec.calendars)."""
    return _crd(
        kind=CALENDAR_KIND,
        plural=CALENDAR_PLURAL,
        singular=CALENDAR_SINGULAR,
        short_names=CALENDAR_SHORT_NAMES,
        description="A Calendar holds exclusion rules (holidays) that ScheduledJobs reference by name in "
        "spec.calendars.",
        properties={"spec": openapi_schema(CalendarSpec)},
        printer=[
            {"name": "Rules", "type": "string", "jsonPath": ".spec.exclude"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
        ],
    )


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def crd_yaml() -> str:
    """The CRD as YAML, exactly as committed in ``crds/``."""
    header = "# Generated by `punctual crd` from operator/punctual/api.py. Do not edit by hand.\n"
    return header + yaml.dump(crd_manifest(), Dumper=_NoAliases, sort_keys=False, width=100)


def calendar_crd_yaml() -> str:
    """The Calendar CRD as YAML, exactly as committed in ``crds/``."""
    header = "# Generated by `punctual crd --calendar` from operator/punctual/api.py. Do not edit by hand.\n"
    return header + yaml.dump(calendar_crd_manifest(), Dumper=_NoAliases, sort_keys=False, width=100)
