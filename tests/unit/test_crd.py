"""The ScheduledJob CRD: committed file up to date, structural schema, printer columns, CronJob compatibility."""

from __future__ import annotations

from collections.abc import Iterator
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
