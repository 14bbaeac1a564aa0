"""kubectl_sj.convert: CronJob → ScheduledJob, validated by the operator's parse_spec (pure)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from punctual_testing import cronjob_example

from kubectl_sj.convert import ConvertError, convert_cronjob
from punctual.core import parse_spec

DOCS_EXAMPLE = cronjob_example()


def served(cronjob: dict[str, Any]) -> dict[str, Any]:
    """The CronJob as the API server returns it: defaults, server fields, nulls, status."""
    body = copy.deepcopy(cronjob)
    body["metadata"].update(
        {
            "namespace": "default",
            "uid": "3f1e",
            "resourceVersion": "4711",
            "generation": 1,
            "creationTimestamp": "2026-11-01T00:00:00Z",
            "labels": {"app": "hello"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"},
            "managedFields": [{"manager": "kubectl"}],
        }
    )
    body["spec"].update(
        {"concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    )
    body["spec"]["jobTemplate"]["metadata"] = {"creationTimestamp": None}
    body["spec"]["jobTemplate"]["spec"]["template"]["metadata"] = {"creationTimestamp": None}
    body["status"] = {"lastScheduleTime": "2026-11-23T10:00:00Z"}
    return body


def test_the_docs_example_converts_and_parses() -> None:
    out = convert_cronjob(DOCS_EXAMPLE)
    assert out["apiVersion"] == "punctual.dev/v1" and out["kind"] == "ScheduledJob"
    assert out["metadata"] == {"name": "hello"}
    assert out["spec"] == DOCS_EXAMPLE["spec"]
    spec = parse_spec(out["spec"])
    assert spec.schedule == "* * * * *"
    assert spec.jobTemplate.spec == DOCS_EXAMPLE["spec"]["jobTemplate"]["spec"]


def test_a_served_cronjob_drops_server_fields_and_keeps_its_settings() -> None:
    out = convert_cronjob(served(DOCS_EXAMPLE))
    assert out["metadata"] == {
        "name": "hello",
        "namespace": "default",
        "labels": {"app": "hello"},
        "annotations": {"team": "a"},
    }
    assert "status" not in out
    assert out["spec"]["concurrencyPolicy"] == "Allow"
    assert out["spec"]["successfulJobsHistoryLimit"] == 3 and out["spec"]["failedJobsHistoryLimit"] == 1
    assert "metadata" not in out["spec"]["jobTemplate"]  # only {creationTimestamp: null} was there
    assert out["spec"]["jobTemplate"]["spec"]["template"]["metadata"] == {}
    parse_spec(out["spec"])


def test_every_cronjob_field_is_copied() -> None:
    cronjob = copy.deepcopy(DOCS_EXAMPLE)
    cronjob["spec"].update(
        {
            "timeZone": "Europe/Berlin",
            "startingDeadlineSeconds": 200,
            "concurrencyPolicy": "Forbid",
            "suspend": True,
            "successfulJobsHistoryLimit": 5,
            "failedJobsHistoryLimit": 2,
        }
    )
    cronjob["spec"]["jobTemplate"]["metadata"] = {"labels": {"tier": "batch"}, "annotations": {"a": "b"}}
    out = convert_cronjob(cronjob)
    assert out["spec"] == cronjob["spec"]
    spec = parse_spec(out["spec"])
    assert (spec.timeZone, spec.startingDeadlineSeconds, spec.suspend) == ("Europe/Berlin", 200, True)
    assert spec.jobTemplate.metadata.labels == {"tier": "batch"}


def test_cron_tz_prefix_becomes_time_zone() -> None:
    cronjob = copy.deepcopy(DOCS_EXAMPLE)
    cronjob["spec"]["schedule"] = "CRON_TZ=Asia/Tokyo 0 9 * * *"
    out = convert_cronjob(cronjob)
    assert (out["spec"]["schedule"], out["spec"]["timeZone"]) == ("0 9 * * *", "Asia/Tokyo")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda c: c.update(kind="Job"), "expected a batch/v1 CronJob"),
        (lambda c: c["metadata"].pop("name"), "no metadata.name"),
        (lambda c: c["spec"]["jobTemplate"]["spec"]["template"]["spec"].update(containers=[]), "containers"),
        (lambda c: c["spec"].pop("schedule"), "spec.schedule"),
    ],
)
def test_what_does_not_convert_says_why(mutate: Any, message: str) -> None:
    cronjob = copy.deepcopy(DOCS_EXAMPLE)
    mutate(cronjob)
    with pytest.raises(ConvertError, match=message):
        convert_cronjob(cronjob)
