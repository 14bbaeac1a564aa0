"""Server-side Table rendering (kubectl get columns) from a CRD's printer columns."""

import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from emulator_helpers import wait_for
from punctual_testing import PRINTER_COLUMNS

from kube_emulator import Emulator, JobController
from kube_emulator.tables import human_duration, json_path, render_table, wants_table
from punctual.crd import crd_manifest

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")


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


# -- built-in kinds through the real kubectl: the columns of printers.go ---------------------------------

# kubectl get <resource> [-o wide]: the header a real API server (printers.go) gives, for each
# built-in kind the emulator serves.
REAL_HEADERS = {
    ("jobs", False): ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
    ("jobs", True): ["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"],
    ("pods", False): ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
    ("pods", True): ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE", "READINESS GATES"],
    ("cronjobs", False): ["NAME", "SCHEDULE", "TIMEZONE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"],
    ("cronjobs", True): [
        "NAME",
        "SCHEDULE",
        "TIMEZONE",
        "SUSPEND",
        "ACTIVE",
        "LAST SCHEDULE",
        "AGE",
        "CONTAINERS",
        "IMAGES",
        "SELECTOR",
    ],
    ("namespaces", False): ["NAME", "STATUS", "AGE"],
    ("configmaps", False): ["NAME", "DATA", "AGE"],
    ("secrets", False): ["NAME", "TYPE", "DATA", "AGE"],
    ("serviceaccounts", False): ["NAME", "SECRETS", "AGE"],
    ("leases.coordination.k8s.io", False): ["NAME", "HOLDER", "AGE"],
    ("events", False): ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
    ("events", True): [
        "LAST SEEN",
        "TYPE",
        "REASON",
        "OBJECT",
        "SUBOBJECT",
        "SOURCE",
        "MESSAGE",
        "FIRST SEEN",
        "COUNT",
        "NAME",
    ],
    ("customresourcedefinitions", False): ["NAME", "CREATED AT"],
}

OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}, "status": {"phase": "Active"}},
    {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default"},
        "data": {"a": "1", "b": "2"},
    },
    {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "default"},
        "type": "Opaque",
        "data": {"k": "dg=="},
    },
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "default"}},
    {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader", "namespace": "default"},
        "spec": {"holderIdentity": "replica-1"},
    },
    {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "cj", "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "timeZone": "Europe/Berlin",
            "suspend": True,
            "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}},
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "j1.1", "namespace": "default"},
        "involvedObject": {"kind": "Job", "name": "j1", "namespace": "default"},
        "type": "Normal",
        "reason": "Completed",
        "message": "Job completed ",
        "source": {"component": "job-controller"},
        "count": 2,
    },
    {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j1", "namespace": "default"},
        "spec": {
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1.36"}]}}
        },
    },
]


def _kubectl(kubeconfig: Path, *args: str) -> list[list[str]]:
    cache = kubeconfig.parent / "kubectl-cache"
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # kubectl pads columns with at least three spaces; a cell never holds three.
    return [re.split(r"\s{3,}", line.strip()) for line in done.stdout.splitlines()]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_builtin_kinds_show_the_real_servers_columns_in_kubectl(emulator: Emulator, kubeconfig: Path) -> None:
    emulator.add_controller(JobController(default_duration=0.2))
    emulator.install_crd(crd_manifest())
    for obj in OBJECTS:
        emulator.create(obj)
    wait_for(lambda: emulator.get("batch/v1", "jobs", "j1", namespace="default").get("status", {}).get("succeeded"))
    wait_for(lambda: emulator.list("v1", "pods", namespace="default")[0].get("status", {}).get("phase") == "Succeeded")
    for (resource, wide), header in REAL_HEADERS.items():
        table = _kubectl(kubeconfig, "get", resource, *(["-o", "wide"] if wide else []))
        assert table and table[0] == header, f"kubectl get {resource}{' -o wide' if wide else ''}: {table}"

    (job,) = _kubectl(kubeconfig, "get", "jobs", "-o", "wide")[1:]
    assert job[:3] == ["j1", "Complete", "1/1"] and re.fullmatch(r"\d+s", job[3]), job
    assert job[5:7] == ["c", "busybox:1.36"] and job[7].startswith("batch.kubernetes.io/controller-uid="), job
    (pod,) = _kubectl(kubeconfig, "get", "pods", "-o", "wide")[1:]
    assert pod[0].startswith("j1-") and pod[1:4] == ["0/1", "Completed", "0"], pod
    assert pod[5:7] == ["10.0.0.1", "sandbox-node"], pod
    (cronjob,) = _kubectl(kubeconfig, "get", "cronjobs")[1:]
    assert cronjob[:6] == ["cj", "*/5 * * * *", "Europe/Berlin", "True", "0", "<none>"], cronjob
    assert _kubectl(kubeconfig, "get", "configmaps")[1][:2] == ["cm", "2"]
    assert _kubectl(kubeconfig, "get", "secrets")[1][:3] == ["s", "Opaque", "1"]
    assert _kubectl(kubeconfig, "get", "leases.coordination.k8s.io")[1][:2] == ["leader", "replica-1"]
    (event,) = _kubectl(kubeconfig, "get", "events", "-o", "wide")[1:]
    assert event[1:4] == ["Normal", "Completed", "job/j1"] and event[-3:] == ["<unknown>", "2", "j1.1"], event
    assert "team" in [row[0] for row in _kubectl(kubeconfig, "get", "namespaces")]
