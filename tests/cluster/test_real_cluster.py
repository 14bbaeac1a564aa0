"""The real-cluster tier: the operator (in this process) against a real Kubernetes, real containers.

Skipped unless ``PUNCTUAL_TEST_KUBECONFIG`` names a kubeconfig. The CRD is applied with kubectl, each
test works in its own namespace (deleted afterwards), and the Jobs run busybox ``sh -c 'sleep N'``.
The first run pulls busybox, hence the generous waits.

With kind::

    kind create cluster --name punctual
    kind get kubeconfig --name punctual > /tmp/punctual-kind.yaml
    PUNCTUAL_TEST_KUBECONFIG=/tmp/punctual-kind.yaml .venv/bin/pytest tests/cluster -v
    kind delete cluster --name punctual

With k3s (or k3d: ``k3d cluster create punctual && k3d kubeconfig write punctual``)::

    curl -sfL https://get.k3s.io | sh -
    sudo cp /etc/rancher/k3s/k3s.yaml /tmp/punctual-k3s.yaml && sudo chown "$USER" /tmp/punctual-k3s.yaml
    PUNCTUAL_TEST_KUBECONFIG=/tmp/punctual-k3s.yaml .venv/bin/pytest tests/cluster -v

The Job template also carries the sandbox's duration annotation (ignored by a real cluster), so the
tier can be smoke-checked without a cluster against ``python -m kube_emulator.emulator --jobs
--kubeconfig-out K``.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import punctual_testing
import pytest
from punctual_testing import CRD_PATH, REPO_ROOT, operator_settings, serve_in_thread

from punctual.jobs import ANNOTATION_RUN_REQUEST, manual_job_name
from punctual.runtime.app import Operator
from punctual.runtime.kube import load_credentials

KUBECONFIG = os.environ.get("PUNCTUAL_TEST_KUBECONFIG", "")
KUBECTL = str(REPO_ROOT / ".venv" / "bin" / "kubectl")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(not KUBECONFIG, reason="set PUNCTUAL_TEST_KUBECONFIG to run against a real cluster"),
]

Body = dict[str, Any]


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        [KUBECTL, "--kubeconfig", KUBECONFIG, *args], input=stdin, capture_output=True, text=True, timeout=120
    )
    if check:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


# Each poll runs kubectl: once a second is often enough.
wait_for = functools.partial(punctual_testing.wait_for, interval=1.0)


@pytest.fixture(scope="module", autouse=True)
def crd() -> None:
    kubectl("apply", "-f", str(CRD_PATH))
    kubectl("wait", "--for=condition=Established", "crd/scheduledjobs.punctual.dev", "--timeout=60s")


@pytest.fixture
def namespace() -> Iterator[str]:
    name = f"punctual-test-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def operator(namespace: str) -> Iterator[Operator]:
    """The real operator in a thread with its own event loop, watching only the test's namespace."""
    settings = operator_settings(namespaces=(namespace,), watch_timeout=30)
    running = serve_in_thread(Operator(settings, credentials=load_credentials(KUBECONFIG)), ready_timeout=60)
    yield running.op
    running.stop(timeout=60)


def apply_sj(namespace: str, name: str, schedule: str, *, sleep: int, **spec: Any) -> None:
    manifest = {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "metadata": {"annotations": {"punctual.dev/sandbox-duration": f"{sleep}s"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "terminationGracePeriodSeconds": 1,
                            "containers": [
                                {"name": "main", "image": "busybox:1.36", "command": ["sh", "-c", f"sleep {sleep}"]}
                            ],
                        }
                    },
                },
            },
            **spec,
        },
    }
    kubectl("apply", "-f", "-", stdin=json.dumps(manifest))


def get_sj(namespace: str, name: str) -> Body:
    found: Body = json.loads(kubectl("-n", namespace, "get", "scheduledjobs.punctual.dev", name, "-o", "json"))
    return found


def history(namespace: str, name: str, result: str | None = None) -> list[Body]:
    records: list[Body] = (get_sj(namespace, name).get("status") or {}).get("history") or []
    return [r for r in records if result is None or r["result"] == result]


def jobs(namespace: str, name: str) -> list[Body]:
    listed = kubectl("-n", namespace, "get", "jobs", "-l", f"punctual.dev/scheduledjob={name}", "-o", "json")
    items: list[Body] = json.loads(listed)["items"]
    return items


def test_a_seconds_schedule_runs_real_containers(namespace: str, operator: Operator) -> None:
    apply_sj(namespace, "tick", "*/10 * * * * *", sleep=2, concurrencyPolicy="Forbid", successfulJobsHistoryLimit=10)
    wait_for(lambda: len(history(namespace, "tick", "Succeeded")) >= 3, 180, what="3 Succeeded runs")
    uid = get_sj(namespace, "tick")["metadata"]["uid"]
    for rec in history(namespace, "tick", "Succeeded"):
        assert rec["exitCode"] == 0 and rec["trigger"] == "schedule"
    found = jobs(namespace, "tick")
    slots = [j["metadata"]["annotations"]["punctual.dev/scheduled-time"] for j in found]
    assert len(slots) == len(set(slots)), "two Jobs for one slot"
    for job in found:
        (owner,) = job["metadata"]["ownerReferences"]
        assert owner["uid"] == uid and owner["controller"] is True
        env = {e["name"]: e["value"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["PUNCTUAL_SCHEDULED_TIME"] == job["metadata"]["annotations"]["punctual.dev/scheduled-time"]


def test_forbid_skips_slots_while_a_real_container_runs(namespace: str, operator: Operator) -> None:
    apply_sj(namespace, "forbid", "*/5 * * * * *", sleep=12, concurrencyPolicy="Forbid", historyLimit=50)
    wait_for(
        lambda: history(namespace, "forbid", "Succeeded") and len(history(namespace, "forbid", "Skipped")) >= 2,
        180,
        what="a run and 2 skipped slots",
    )
    assert all(r["reason"] == "ConcurrencyForbid" for r in history(namespace, "forbid", "Skipped"))
    runs = sorted(
        history(namespace, "forbid", "Succeeded") + history(namespace, "forbid", "Running"),
        key=lambda r: r["startTime"],
    )
    for before, after in itertools.pairwise(runs):
        assert before.get("completionTime") and after["startTime"] >= before["completionTime"], "runs overlap"


def test_a_run_request_runs_once(namespace: str, operator: Operator) -> None:
    apply_sj(namespace, "manual", "0 0 1 1 *", sleep=2)
    wait_for(lambda: (get_sj(namespace, "manual").get("status") or {}).get("conditions"), 60, what="a first decision")
    kubectl(
        "-n", namespace, "annotate", "--overwrite", "scheduledjobs.punctual.dev/manual", f"{ANNOTATION_RUN_REQUEST}=r1"
    )
    job_name = manual_job_name("manual", "r1")
    wait_for(lambda: any(r["job"] == job_name for r in history(namespace, "manual", "Succeeded")), 180, what=job_name)
    status = get_sj(namespace, "manual")["status"]
    assert status["lastHandledRunRequest"] == "r1"
    assert [r["trigger"] for r in status["history"]] == ["manual"]
    kubectl(
        "-n", namespace, "annotate", "--overwrite", "scheduledjobs.punctual.dev/manual", f"{ANNOTATION_RUN_REQUEST}=r1"
    )
    time.sleep(5)
    assert [j["metadata"]["name"] for j in jobs(namespace, "manual")] == [job_name]
