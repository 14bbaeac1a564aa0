"""``helm install`` and ``helm upgrade`` of the chart against the real API server, each on a server of
its own (so the chart's CRDs are installed by helm, not by the tier's fixture)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest
from punctual_realserver import RealServer, missing_binaries
from realserver_support import CHART, helm_binary

RELEASE = "punctual"
NAMESPACE = "punctual-system"


@pytest.fixture
def fresh_server(real_server: RealServer) -> Iterator[RealServer]:
    """A second real server with nothing installed (the session's has the CRD already)."""
    assert not missing_binaries()
    server = RealServer().start(kubelet=False)
    try:
        yield server
    finally:
        server.stop()


def helm(server: RealServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm_binary(), "--kubeconfig", str(server.admin_kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={
            "HOME": str(server.workdir),
            "PATH": "/usr/bin:/bin",
            "HELM_CACHE_HOME": str(server.workdir / "helm-cache"),
            "HELM_CONFIG_HOME": str(server.workdir / "helm-config"),
            "HELM_DATA_HOME": str(server.workdir / "helm-data"),
        },
    )


def kinds(server: RealServer, namespace: str) -> dict[str, list[str]]:
    listed = server.get_json(
        "deployments,serviceaccounts,services,poddisruptionbudgets,roles,rolebindings", "-n", namespace
    )
    found: dict[str, list[str]] = {}
    for item in listed["items"]:
        found.setdefault(item["kind"], []).append(item["metadata"]["name"])
    return found


def test_helm_install_then_upgrade_to_two_replicas(fresh_server: RealServer) -> None:
    installed = helm(fresh_server, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace")
    assert installed.returncode == 0, installed.stderr
    for crd in ("crd/scheduledjobs.punctual.dev", "crd/calendars.punctual.dev"):
        fresh_server.kubectl("wait", "--for=condition=Established", crd, "--timeout=60s")
    crds = sorted(c["metadata"]["name"] for c in fresh_server.get_json("crd")["items"])
    assert crds == ["calendars.punctual.dev", "scheduledjobs.punctual.dev"], (
        "no kopf peering CRDs: leader election is on a Lease"
    )
    objects = kinds(fresh_server, NAMESPACE)
    assert objects.get("Deployment") == [RELEASE]
    assert "PodDisruptionBudget" not in objects  # one replica: none
    # Leader election (with one replica too): a Role for leases in the release namespace only.
    assert objects.get("Role") == [f"{RELEASE}-leader-election"]
    assert objects.get("RoleBinding") == [f"{RELEASE}-leader-election"]
    lease_role = fresh_server.get_json("role", f"{RELEASE}-leader-election", "-n", NAMESPACE)
    assert lease_role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]
    role = fresh_server.get_json("clusterrole", f"{RELEASE}-operator")
    assert any("scheduledjobs/finalizers" in rule.get("resources", []) for rule in role["rules"])

    upgraded = helm(fresh_server, "upgrade", RELEASE, str(CHART), "--namespace", NAMESPACE, "--set", "replicas=2")
    assert upgraded.returncode == 0, upgraded.stderr
    deployment = fresh_server.get_json("deployment", RELEASE, "-n", NAMESPACE)
    assert deployment["spec"]["replicas"] == 2
    pdb = fresh_server.get_json("poddisruptionbudget", RELEASE, "-n", NAMESPACE)
    # 1.20 serves policy/v1beta1 only: the chart asked the server (Capabilities), not a fixed version.
    assert pdb["apiVersion"] == "policy/v1beta1"
    assert pdb["spec"]["minAvailable"] == 1
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["PUNCTUAL_LEASE_NAME"], env["PUNCTUAL_LEASE_NAMESPACE"]) == (f"{RELEASE}-leader", NAMESPACE)

    status = helm(fresh_server, "status", RELEASE, "--namespace", NAMESPACE, "-o", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["info"]["status"] == "deployed"
    assert json.loads(status.stdout)["version"] == 2

    uninstalled = helm(fresh_server, "uninstall", RELEASE, "--namespace", NAMESPACE)
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert "Deployment" not in kinds(fresh_server, NAMESPACE)


def test_helm_accepts_the_oldest_supported_server(fresh_server: RealServer) -> None:
    """The chart's kubeVersion admits the tested server (helm checks it against /version)."""
    rendered = helm(
        fresh_server, "install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--create-namespace", "--dry-run=server"
    )
    assert rendered.returncode == 0, rendered.stderr
    assert "incompatible" not in rendered.stderr.lower()
