"""Real clients against the emulator: the kubernetes Python client, kubectl, and kopf."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import kopf
import kubernetes
import pytest
from emulator_helpers import WIDGET_CRD, Api, wait_for, widget
from punctual_testing import CRD_PATH

from kube_emulator import Emulator, JobController

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")

JOB = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {"name": "j1", "labels": {"app": "demo"}},
    "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}},
}


# --- The kubernetes Python client ------------------------------------------------------------------


def test_kubernetes_python_client(emulator: Emulator, kubeconfig: Path) -> None:
    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        crds = kubernetes.client.ApiextensionsV1Api(client)
        crds.create_custom_resource_definition(WIDGET_CRD)
        assert crds.read_custom_resource_definition("widgets.example.com").status.conditions[0].status == "True"

        custom = kubernetes.client.CustomObjectsApi(client)
        created = custom.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget("w1"))
        assert created["spec"]["size"] == 3
        listed = custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
        assert [item["metadata"]["name"] for item in listed["items"]] == ["w1"]
        patched = custom.patch_namespaced_custom_object(
            "example.com", "v1", "default", "widgets", "w1", {"spec": {"size": 4}}
        )
        assert patched["spec"]["size"] == 4 and patched["metadata"]["generation"] == 2
        status = custom.patch_namespaced_custom_object_status(
            "example.com", "v1", "default", "widgets", "w1", {"status": {"phase": "Ok"}}
        )
        assert status["status"] == {"phase": "Ok"}

        batch = kubernetes.client.BatchV1Api(client)
        job = batch.create_namespaced_job("default", JOB)
        assert job.metadata.uid and job.spec.backoff_limit == 6
        jobs = batch.list_namespaced_job("default", label_selector="app=demo")
        assert [j.metadata.name for j in jobs.items] == ["j1"]
        patched_job = batch.patch_namespaced_job("j1", "default", {"metadata": {"labels": {"x": "y"}}})
        assert patched_job.metadata.labels == {"app": "demo", "x": "y"}

        with pytest.raises(kubernetes.client.ApiException) as err:
            batch.create_namespaced_job("default", JOB)
        assert err.value.status == 409

        core = kubernetes.client.CoreV1Api(client)
        assert "default" in [ns.metadata.name for ns in core.list_namespace().items]

        # Watching with the client: the stream from a list's resourceVersion, ended by the timeout.
        rv = custom.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["metadata"][
            "resourceVersion"
        ]
        emulator.patch("example.com/v1", "widgets", "w1", {"spec": {"size": 5}}, namespace="default")
        watch = kubernetes.watch.Watch()
        seen = [
            (event["type"], event["object"]["spec"]["size"])
            for event in watch.stream(
                custom.list_namespaced_custom_object,
                "example.com",
                "v1",
                "default",
                "widgets",
                resource_version=rv,
                timeout_seconds=1,
            )
        ]
        assert seen == [("MODIFIED", 5)]
    finally:
        client.close()


# --- kubectl ---------------------------------------------------------------------------------------


def kubectl(kubeconfig: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert KUBECTL is not None
    # A per-kubeconfig cache dir: ports are reused across emulators, and stale discovery would lie.
    cache = kubeconfig.parent / "kubectl-cache"
    cmd = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl(emulator: Emulator, kubeconfig: Path, tmp_path: Path) -> None:
    emulator.add_controller(JobController(default_duration=0.1))
    crd_file = tmp_path / "crd.json"
    crd_file.write_text(json.dumps(WIDGET_CRD))
    assert "created" in kubectl(kubeconfig, "apply", "-f", str(crd_file)).stdout
    widget_file = tmp_path / "widget.json"
    widget_file.write_text(json.dumps(widget("w1", color="red")))
    assert "widget.example.com/w1 created" in kubectl(kubeconfig, "apply", "-f", str(widget_file)).stdout
    assert "unchanged" in kubectl(kubeconfig, "apply", "-f", str(widget_file)).stdout
    widget_file.write_text(json.dumps(widget("w1", color="blue")))
    assert "configured" in kubectl(kubeconfig, "apply", "-f", str(widget_file)).stdout
    assert emulator.get("example.com/v1", "widgets", "w1", namespace="default")["spec"]["color"] == "blue"

    assert "w1" in kubectl(kubeconfig, "get", "wd").stdout
    as_json = json.loads(kubectl(kubeconfig, "get", "widgets", "w1", "-o", "json").stdout)
    assert as_json["spec"] == {"color": "blue", "size": 3, "nested": {"depth": 1}}

    job_file = tmp_path / "job.json"
    job_file.write_text(json.dumps(JOB))
    assert "job.batch/j1 created" in kubectl(kubeconfig, "apply", "-f", str(job_file)).stdout
    assert "j1" in kubectl(kubeconfig, "get", "jobs").stdout
    wait_for(lambda: emulator.get("batch/v1", "jobs", "j1", namespace="default")["status"].get("succeeded"))
    assert "exit code 0" in kubectl(kubeconfig, "logs", "job/j1").stdout
    assert "j1-" in kubectl(kubeconfig, "get", "pods", "-l", "job-name=j1", "-o", "name").stdout

    kubectl(kubeconfig, "label", "wd", "w1", "tier=web")
    assert "w1" in kubectl(kubeconfig, "get", "wd", "-l", "tier=web").stdout
    kubectl(kubeconfig, "create", "namespace", "team")
    assert "team" in kubectl(kubeconfig, "get", "ns").stdout
    # Typed clients send built-in kinds as protobuf: the emulator decodes Namespace and ConfigMap.
    kubectl(kubeconfig, "create", "configmap", "cm", "--from-literal=a=b", "-n", "team")
    assert emulator.get("v1", "configmaps", "cm", namespace="team")["data"] == {"a": "b"}
    refused = kubectl(kubeconfig, "create", "job", "typed", "--image=busybox", check=False)
    assert refused.returncode != 0 and "send JSON" in refused.stderr

    assert "deleted" in kubectl(kubeconfig, "delete", "wd", "w1").stdout
    assert "No resources found" in kubectl(kubeconfig, "get", "wd").stderr
    kubectl(kubeconfig, "delete", "-f", str(job_file))
    assert emulator.list("v1", "pods", namespace="default") == []  # collected with the Job


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.skipif(not CRD_PATH.exists(), reason="the project's CRD is not written yet")
def test_kubectl_applies_the_project_crd(emulator: Emulator, kubeconfig: Path) -> None:
    assert "created" in kubectl(kubeconfig, "apply", "-f", str(CRD_PATH)).stdout
    groups = Api(emulator.url).get("/apis").json()["groups"]
    assert "punctual.dev" in {group["name"] for group in groups}
    assert "No resources found" in kubectl(kubeconfig, "get", "scheduledjobs.punctual.dev").stderr


# --- kopf ------------------------------------------------------------------------------------------


def test_kopf_operator_reacts_and_patches_status(emulator: Emulator, widgets: str) -> None:
    registry = kopf.OperatorRegistry()
    url = emulator.url

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(server=url, insecure=True)

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.watching.server_timeout = 2
        settings.watching.client_timeout = 5
        settings.posting.level = logging.WARNING

    @kopf.on.create("example.com", "v1", "widgets", registry=registry)
    def on_create(spec: Any, patch: kopf.Patch, **_: Any) -> None:
        patch.status["observedSize"] = spec["size"]

    stop_flag = threading.Event()
    ready_flag = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(
                kopf.operator(
                    registry=registry,
                    standalone=True,
                    clusterwide=True,
                    stop_flag=stop_flag,
                    ready_flag=ready_flag,
                )
            )
        except BaseException as e:
            errors.append(e)
        finally:
            loop.close()

    thread = threading.Thread(target=run, name="kopf-operator")
    thread.start()
    try:
        assert ready_flag.wait(10), "kopf did not start"
        api = Api(emulator.url)
        api.post(widgets, widget("w1", size=7))
        obj = wait_for(lambda: api.get(f"{widgets}/w1").json().get("status", {}).get("observedSize"), timeout=10)
        assert obj == 7
        api.close()
    finally:
        stop_flag.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and not errors
    verbs = emulator.verb_counts
    assert verbs.get("watch", 0) >= 1 and verbs.get("patch", 0) >= 1
