"""Server-side Table rendering (kubectl get columns) from a CRD's printer columns."""

from datetime import UTC, datetime

import pytest
from punctual_testing import PRINTER_COLUMNS

from punctual.crd import crd_manifest
from punctual.sandbox.tables import human_duration, json_path, render_table, wants_table


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (119, "119s"),
        (190, "3m10s"),
        (25 * 60, "25m"),
        (5 * 3600 + 180, "5h3m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 4 * 3600, "3d4h"),
        (120 * 86400, "120d"),
        (800 * 86400, "2y"),
        (-5, "<invalid>"),
    ],
)
def test_human_duration_matches_kubernetes(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_json_path_follows_fields_and_indexes() -> None:
    obj = {"status": {"history": [{"result": "Failed"}], "activeCount": 2}}
    assert json_path(obj, ".status.history[0].result") == "Failed"
    assert json_path(obj, ".status.activeCount") == 2
    assert json_path(obj, ".status.history[3].result") is None
    assert json_path(obj, ".spec.schedule") is None


def test_scheduledjob_table_has_the_crd_columns() -> None:
    columns = crd_manifest()["spec"]["versions"][0]["additionalPrinterColumns"]
    sj = {
        "metadata": {"name": "report", "creationTimestamp": "2026-11-23T10:00:00Z"},
        "spec": {"schedule": "*/5 * * * *", "suspend": False},
        "status": {
            "activeCount": 1,
            "queuedCount": 0,
            "lastResult": "Succeeded",
            "lastScheduleTime": "2026-11-23T10:55:00Z",
            "nextScheduleTime": "2026-11-23T11:05:00Z",
        },
    }
    now = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    table = render_table([sj], columns, resource_version="7", now=now)
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names == ["Name", *PRINTER_COLUMNS]
    assert table["rows"][0]["cells"] == [
        "report",
        "*/5 * * * *",
        False,
        1,
        0,
        "Succeeded",
        "5m",
        "2026-11-23T11:05:00Z",
        "60m",
    ]
    assert table["kind"] == "Table" and table["metadata"]["resourceVersion"] == "7"
    assert wants_table("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")
    assert not wants_table("application/json")
