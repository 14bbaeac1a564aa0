"""The ScheduledJob CRD: committed file up to date, structural schema, printer columns, CronJob compatibility."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import yaml
from punctual_testing import CRD_PATH, PRINTER_COLUMNS, cronjob_example

from punctual.api import ScheduledJobSpec
from punctual.core import parse_spec
from punctual.crd import crd_manifest, crd_yaml

REGENERATE = "run `punctual crd > crds/scheduledjobs.punctual.dev.yaml`"

# Every other field a CronJob spec may have (batch/v1 CronJobSpec).
CRONJOB_FULL_SPEC = {
    "schedule": "0 3 * * *",
    "timeZone": "Etc/UTC",
    "startingDeadlineSeconds": 200,
    "concurrencyPolicy": "Forbid",
    "suspend": False,
    "successfulJobsHistoryLimit": 5,
    "failedJobsHistoryLimit": 2,
    "jobTemplate": {
        "metadata": {"labels": {"app": "nightly"}, "annotations": {"a": "b"}},
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 100,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
        },
    },
}


def assert_fresh(committed: str, generated: str) -> None:
    assert committed == generated, f"crds/scheduledjobs.punctual.dev.yaml is stale: {REGENERATE}"


def test_committed_crd_equals_punctual_crd_output() -> None:
    assert_fresh(CRD_PATH.read_text(), crd_yaml())


def test_a_stale_crd_fails_with_the_command_to_run() -> None:
    with pytest.raises(AssertionError, match=r"punctual crd > crds/scheduledjobs\.punctual\.dev\.yaml"):
        assert_fresh(crd_yaml().replace("Forbid", "Forbidden"), crd_yaml())


def test_punctual_crd_command_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    from punctual.cli import main

    assert main(["crd"]) == 0
    assert capsys.readouterr().out == crd_yaml()
    assert yaml.safe_load(crd_yaml()) == crd_manifest()


def walk(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node (the node itself, its properties, items and additionalProperties)."""
    if not isinstance(node, dict):
        return
    yield path, node
    for name, sub in (node.get("properties") or {}).items():
        yield from walk(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def version() -> dict[str, Any]:
    (v,) = crd_manifest()["spec"]["versions"]
    return dict(v)


def test_schema_is_structural() -> None:
    schema = version()["schema"]["openAPIV3Schema"]
    nodes = list(walk(schema))
    assert len(nodes) > 50
    for path, node in nodes:
        for banned in ("anyOf", "oneOf", "allOf", "not", "$ref", "nullable", "title", "$defs"):
            assert banned not in node, f"{path}: {banned}"
        assert "type" in node, f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        if "enum" in node:
            assert node["type"] == "string", path
    text = yaml.safe_dump(schema)
    assert "$ref" not in text and "anyOf" not in text and "nullable" not in text


def test_status_subresource_and_names() -> None:
    manifest = crd_manifest()
    assert manifest["metadata"]["name"] == "scheduledjobs.punctual.dev"
    assert manifest["spec"]["names"]["kind"] == "ScheduledJob"
    assert "sj" in manifest["spec"]["names"]["shortNames"]
    assert manifest["spec"]["scope"] == "Namespaced"
    v = version()
    assert v["name"] == "v1" and v["served"] and v["storage"]
    assert v["subresources"] == {"status": {}}


def test_printer_columns() -> None:
    columns = [(c["name"], c["jsonPath"]) for c in version()["additionalPrinterColumns"]]
    assert [name for name, _ in columns] == list(PRINTER_COLUMNS)
    status = version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    for name, path in columns:
        if path.startswith(".status."):
            assert path.removeprefix(".status.") in status, name


def test_enums_and_defaults() -> None:
    spec = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]
    props = spec["properties"]
    assert props["concurrencyPolicy"]["enum"] == ["Allow", "Forbid", "Replace", "Queue"]
    assert props["concurrencyPolicy"]["default"] == "Allow"
    assert props["catchUp"]["enum"] == ["None", "Latest", "All"]
    assert props["catchUp"]["default"] == "Latest"
    assert props["suspend"]["default"] is False
    assert props["successfulJobsHistoryLimit"]["default"] == 3
    assert props["failedJobsHistoryLimit"]["default"] == 1
    assert props["historyLimit"]["default"] == 20
    assert props["successfulJobsHistoryLimit"]["minimum"] == 0
    assert props["jobTemplate"]["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True
    assert spec["required"] == ["jobTemplate"]
    status = version()["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert status["history"]["items"]["properties"]["result"]["enum"] == [
        "Running",
        "Succeeded",
        "Failed",
        "Skipped",
        "Replaced",
        "Missed",
        "Dropped",
    ]
    assert status["counts"]["additionalProperties"] == {"type": "integer"}


@pytest.mark.parametrize("raw", [cronjob_example()["spec"], CRONJOB_FULL_SPEC], ids=["docs", "full"])
def test_a_cronjob_spec_validates_unchanged(raw: dict[str, Any]) -> None:
    spec = parse_spec(raw)
    assert isinstance(spec, ScheduledJobSpec)
    dumped = spec.model_dump(mode="json", exclude_unset=True)
    assert dumped == raw
    # The CRD's schema accepts it too (an OpenAPI v3 schema is JSON Schema for these keywords).
    jsonschema = pytest.importorskip("jsonschema")
    schema = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]
    jsonschema.validate(raw, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**raw, "concurrencyPolicy": "Sometimes"}, schema)


# --- What kube-apiserver 1.20 enforces on a v1 CRD's schema besides "structural" (above) ---------
#
# From the Kubernetes docs on CustomResourceDefinitions (apiextensions.k8s.io/v1): "Default values
# must be pruned (with the exception of defaults for metadata fields) and must validate against a
# provided schema"; defaults are forbidden at the root, in metadata and inside the logical junctors
# (anyOf, allOf, oneOf, not); a default of null needs `nullable: true`; the x-kubernetes-*
# extensions have fixed value sets and shapes. And one server bug: 1.20 built with Go >= 1.16 reads
# a zero-valued string as null (kubernetes/kubernetes#99804), which is how `default: ''` on
# conditions[].message made it refuse the whole CRD.

_JSON_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
_X_KEYS = {
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
}


def _default_errors(path: str, node: dict[str, Any], *, where: str) -> list[str]:
    """Why a node's `default` would be refused; empty when it has none or a good one."""
    if "default" not in node:
        return []
    jsonschema = pytest.importorskip("jsonschema")
    value = node["default"]
    errors: list[str] = []
    if where:
        errors.append(f"{path}: default is not allowed {where}")
    if value is None and not node.get("nullable"):
        errors.append(f"{path}: default null without nullable: true")
    if value == "" and isinstance(value, str) and not node.get("nullable"):
        errors.append(f"{path}: default '' is read as null by kube-apiserver 1.20 (kubernetes#99804)")
    if value is not None:
        # The node without its own default, as a JSON Schema (OpenAPI v3's keywords used here mean
        # the same); format checked too (date-time, int32...).
        own = {k: v for k, v in node.items() if k not in ("default", "description") and not k.startswith("x-")}
        validator = jsonschema.Draft4Validator(own, format_checker=_formats(jsonschema))
        errors += [f"{path}: default {value!r}: {e.message}" for e in validator.iter_errors(value)]
        errors += [f"{path}: default {value!r} would be pruned: {p}" for p in _unpruned(value, node)]
    return errors


def _formats(jsonschema: Any) -> Any:
    """The formats the API server checks (date-time without jsonschema's optional dependency)."""
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time", raises=ValueError)
    def _date_time(value: object) -> bool:
        if isinstance(value, str):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True

    @checker.checks("int32")
    def _int32(value: object) -> bool:
        return not isinstance(value, int) or -(2**31) <= value < 2**31

    return checker


def _unpruned(value: Any, node: dict[str, Any], path: str = "") -> Iterator[str]:
    """Fields of a default value that pruning would drop (the schema does not know them)."""
    if node.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        for key, sub in value.items():
            if key in props:
                yield from _unpruned(sub, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from _unpruned(sub, extra, f"{path}.{key}")
            else:
                yield f"{path}.{key}"
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, sub in enumerate(value):
            yield from _unpruned(sub, node["items"], f"{path}[{i}]")


def _extension_errors(path: str, node: dict[str, Any]) -> list[str]:
    errors = [f"{path}: unknown extension {k}" for k in node if k.startswith("x-") and k not in _X_KEYS]
    for key in ("x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource", "x-kubernetes-int-or-string"):
        if key in node and node[key] is not True:
            errors.append(f"{path}: {key} must be true or absent")
    if node.get("x-kubernetes-embedded-resource") and (
        node.get("type") != "object" or not (node.get("properties") or node.get("x-kubernetes-preserve-unknown-fields"))
    ):
        errors.append(f"{path}: x-kubernetes-embedded-resource needs type object and properties or preserve-unknown")
    if node.get("x-kubernetes-int-or-string") and "type" in node:
        errors.append(f"{path}: x-kubernetes-int-or-string forbids type")
    list_type = node.get("x-kubernetes-list-type")
    if list_type is not None:
        items = node.get("items") if isinstance(node.get("items"), dict) else {}
        if node.get("type") != "array" or list_type not in ("atomic", "set", "map"):
            errors.append(f"{path}: x-kubernetes-list-type {list_type!r} on type {node.get('type')!r}")
        if list_type == "set" and items.get("type") in ("object", "array"):
            errors.append(f"{path}: a set's items must be scalars")
        if list_type == "map":
            keys = node.get("x-kubernetes-list-map-keys") or []
            props = items.get("properties") or {}
            if items.get("type") != "object" or not keys:
                errors.append(f"{path}: a map list needs object items and x-kubernetes-list-map-keys")
            for key in keys:
                if key not in props or (key not in (items.get("required") or []) and "default" not in props[key]):
                    errors.append(f"{path}: list-map key {key} must be a property, required or defaulted")
    elif "x-kubernetes-list-map-keys" in node:
        errors.append(f"{path}: x-kubernetes-list-map-keys needs x-kubernetes-list-type: map")
    map_type = node.get("x-kubernetes-map-type")
    if map_type is not None and (node.get("type") != "object" or map_type not in ("atomic", "granular")):
        errors.append(f"{path}: x-kubernetes-map-type {map_type!r} on type {node.get('type')!r}")
    if "type" in node and node["type"] not in _JSON_TYPES:
        errors.append(f"{path}: type {node['type']!r}")
    return errors


def server_schema_errors(schema: dict[str, Any]) -> list[str]:
    """Everything in a CRD version's openAPIV3Schema that kube-apiserver 1.20 would refuse."""
    errors: list[str] = []

    def visit(node: Any, path: str, where: str) -> None:
        if not isinstance(node, dict):
            return
        errors.extend(_default_errors(path, node, where=where))
        errors.extend(_extension_errors(path, node))
        for junctor in ("anyOf", "allOf", "oneOf"):
            for i, sub in enumerate(node.get(junctor) or []):
                visit(sub, f"{path}.{junctor}[{i}]", f"inside {junctor}")
        if isinstance(node.get("not"), dict):
            visit(node["not"], f"{path}.not", "inside not")
        for name, sub in (node.get("properties") or {}).items():
            inner = where
            if path == "" and name in ("metadata", "apiVersion", "kind"):
                inner = f"in {name}"
            visit(sub, f"{path}.{name}", inner)
        if isinstance(node.get("items"), dict):
            visit(node["items"], f"{path}[]", where)
        if isinstance(node.get("additionalProperties"), dict):
            visit(node["additionalProperties"], f"{path}{{}}", where or "inside additionalProperties")

    visit(schema, "", "")
    if "default" in schema:
        errors.append("root: default is not allowed at the root")
    return errors


def test_every_default_and_extension_is_one_the_1_20_server_accepts() -> None:
    schema = version()["schema"]["openAPIV3Schema"]
    assert server_schema_errors(schema) == []
    defaults = [path for path, node in walk(schema) if "default" in node]
    assert ".spec.concurrencyPolicy" in defaults and ".spec.suspend" in defaults  # the walk sees them


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ({"type": "string", "default": ""}, "read as null"),
        ({"type": "string", "default": None}, "default null"),
        ({"type": "string", "default": 3}, "is not of type 'string'"),
        ({"type": "integer", "default": 1.5}, "is not of type 'integer'"),
        ({"type": "boolean", "default": "false"}, "is not of type 'boolean'"),
        ({"type": "string", "enum": ["A", "B"], "default": "C"}, "is not one of"),
        ({"type": "integer", "minimum": 1, "default": 0}, "less than the minimum"),
        ({"type": "string", "format": "date-time", "default": "yesterday"}, "date-time"),
        ({"type": "object", "properties": {"a": {"type": "string"}}, "default": {"b": "x"}}, "would be pruned"),
        ({"type": "object", "additionalProperties": {"type": "integer", "default": 0}}, "inside additionalProperties"),
        ({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "map"}, "map list"),
        ({"type": "array", "items": {"type": "object"}, "x-kubernetes-list-type": "set"}, "set's items"),
        ({"type": "string", "x-kubernetes-map-type": "atomic"}, "x-kubernetes-map-type"),
        ({"type": "object", "x-kubernetes-preserve-unknown-fields": False}, "must be true"),
        ({"type": "object", "x-kubernetes-embedded-resource": True}, "embedded-resource"),
        ({"x-kubernetes-int-or-string": True, "type": "string"}, "forbids type"),
        ({"type": "string", "x-kubernetes-validations": []}, "unknown extension"),
    ],
)
def test_the_server_schema_check_refuses(node: dict[str, Any], expected: str) -> None:
    schema = {"type": "object", "properties": {"spec": {"type": "object", "properties": {"field": node}}}}
    errors = server_schema_errors(schema)
    assert any(expected in e for e in errors), errors


def test_the_server_schema_check_refuses_defaults_in_metadata_and_at_the_root() -> None:
    schema = {"type": "object", "default": {}, "properties": {"metadata": {"type": "object", "default": {}}}}
    errors = server_schema_errors(schema)
    assert "root: default is not allowed at the root" in errors
    assert ".metadata: default is not allowed in metadata" in errors


def test_the_old_message_default_is_what_the_server_refused() -> None:
    condition = {"type": "object", "properties": {"message": {"type": "string", "default": ""}}}
    schema = {
        "type": "object",
        "properties": {
            "status": {"type": "object", "properties": {"conditions": {"type": "array", "items": condition}}}
        },
    }
    (error,) = server_schema_errors(schema)
    assert error.startswith(".status.conditions[].message: default ''")
    status = version()["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert "default" not in status["properties"]["conditions"]["items"]["properties"]["message"]


# -- the Calendar CRD -----------------------------------------------------------------------------


def test_committed_calendar_crd_equals_punctual_crd_calendar_output(capsys: pytest.CaptureFixture[str]) -> None:
    from punctual_testing import CALENDAR_CRD_PATH

    from punctual.cli import main
    from punctual.crd import calendar_crd_yaml

    assert CALENDAR_CRD_PATH.read_text() == calendar_crd_yaml(), (
        "crds/calendars.punctual.dev.yaml is stale: run `punctual crd --calendar > crds/calendars.punctual.dev.yaml`"
    )
    assert main(["crd", "--calendar"]) == 0
    assert capsys.readouterr().out == calendar_crd_yaml()


def test_calendar_crd_names_and_structural_schema() -> None:
    from punctual.crd import calendar_crd_manifest

    manifest = calendar_crd_manifest()
    assert manifest["metadata"]["name"] == "calendars.punctual.dev"
    assert manifest["spec"]["names"]["kind"] == "Calendar"
    assert manifest["spec"]["names"]["shortNames"] == ["cal"]
    assert manifest["spec"]["scope"] == "Namespaced"
    (v,) = manifest["spec"]["versions"]
    for path, node in walk(v["schema"]["openAPIV3Schema"]):
        for banned in ("anyOf", "oneOf", "allOf", "not", "$ref", "nullable", "title", "$defs"):
            assert banned not in node, f"{path}: {banned}"
        assert "type" in node, f"{path} has no type"


@pytest.mark.parametrize(
    ("rule", "admitted"),
    [
        ("2026-12-25", True),
        ("2026-12-24..2026-12-26", True),
        ("0 0 25 12 *", True),
        ("0 0 0 25 12 *", True),
        ("@yearly", True),
        ("christmas day", False),
        ("2026-12-24..", False),
        ("0 0 25", False),
    ],
)
def test_the_schema_pattern_of_an_exclusion_rule(rule: str, admitted: bool) -> None:
    import re

    from punctual.api import EXCLUSION_PATTERN

    props = version()["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    assert props["exclude"]["items"]["pattern"] == EXCLUSION_PATTERN
    assert bool(re.match(EXCLUSION_PATTERN, rule)) is admitted
