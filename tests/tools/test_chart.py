"""The Helm chart, rendered by the real helm binary and checked object by object.

Every rendered manifest of a built-in kind is validated by kubernetes-validate (strict: unknown
fields are errors) against a recent Kubernetes. kubernetes-validate has no schemas for
CRD-defined kinds, so ServiceMonitor and PrometheusRule are skipped by it; the PrometheusRule's
rules go through ``promtool check rules`` instead and the ServiceMonitor gets explicit assertions here.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from punctual_testing import cronjob_example
from tools_support import OPERATOR_RBAC, OPERATOR_RBAC_LEASES, Grant, operator_rbac

from punctual.api import ScheduledJobSpec, Trigger
from punctual.jobs import Owner, build_job

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "punctual"
REPO_CRD = REPO / "crds" / "scheduledjobs.punctual.dev.yaml"
CHART_CRD = CHART / "crds" / "scheduledjobs.punctual.dev.yaml"
REPO_CALENDAR_CRD = REPO / "crds" / "calendars.punctual.dev.yaml"
CHART_CALENDAR_CRD = CHART / "crds" / "calendars.punctual.dev.yaml"
KUBE_VERSION = "1.37.0"
NAMESPACE = "punctual-system"
# Kinds defined by CRDs, which kubernetes-validate has no schema for.
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}

pytestmark = pytest.mark.tools

Manifest = dict[str, Any]

SCENARIOS: dict[str, list[str]] = {
    "defaults": [],
    "namespace scope": ["--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}"],
    "cluster scope, listed namespaces": ["--set", "watchNamespaces={team-a}"],
    "replicas 2": ["--set", "replicas=2"],
    "replicas 2, namespace scope": [
        "--set",
        "replicas=2",
        "--set",
        "rbac.scope=namespace",
        "--set",
        "watchNamespaces={team-a,team-b}",
    ],
    "shards 3": ["--set", "shards=3"],
    "shards 2, replicas 3": ["--set", "shards=2", "--set", "replicas=3"],
    "shards 2, replicas 2, namespace scope": [
        "--set",
        "shards=2",
        "--set",
        "replicas=2",
        "--set",
        "rbac.scope=namespace",
        "--set",
        "watchNamespaces={team-a,team-b}",
    ],
    "serviceMonitor": ["--set", "serviceMonitor.enabled=true"],
    "prometheusRule": ["--set", "prometheusRule.enabled=true"],
    "dashboard": ["--set", "dashboard.enabled=true"],
    "no aggregated roles, own service account": [
        "--set",
        "rbac.aggregatedRoles=false",
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=existing",
    ],
    "ui": ["--set", "ui.enabled=true"],
    "ui, namespace scope": [
        "--set",
        "ui.enabled=true",
        "--set",
        "rbac.scope=namespace",
        "--set",
        "watchNamespaces={team-a,team-b}",
    ],
    "everything": [
        "--set",
        "ui.enabled=true",
        "--set",
        "replicas=3",
        "--set",
        "serviceMonitor.enabled=true",
        "--set",
        "prometheusRule.enabled=true",
        "--set",
        "dashboard.enabled=true",
        "--set",
        "image.digest=sha256:" + "a" * 64,
        "--set",
        "operator.logFormat=text",
    ],
}


def helm_env(tmp: Path) -> dict[str, str]:
    """helm with no cluster and its caches in a scratch directory."""
    env = dict(os.environ)
    env.update(
        HOME=str(tmp),
        KUBECONFIG=os.devnull,
        HELM_CACHE_HOME=str(tmp / "cache"),
        HELM_CONFIG_HOME=str(tmp / "config"),
        HELM_DATA_HOME=str(tmp / "data"),
    )
    return env


@pytest.fixture(scope="session")
def helm_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("helm-home")


def helm_run(helm: str, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [helm, *args], capture_output=True, text=True, env=helm_env(home), cwd=REPO, timeout=120, check=False
    )


def render(helm: str, home: Path, *args: str, crds: bool = False) -> list[Manifest]:
    cmd = ["template", "punctual", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    if crds:
        cmd.append("--include-crds")
    result = helm_run(helm, home, *cmd, *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str) -> Manifest:
    found = of_kind(manifests, kind)
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def container(manifests: list[Manifest]) -> Manifest:
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    result: Manifest = pod["containers"][0]
    return result


def env_of(manifests: list[Manifest]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container(manifests)["env"]}


def deployment_env(deployment: Manifest) -> dict[str, Any]:
    """The env of one Deployment's only container (for renders with several Deployments)."""
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in containers[0]["env"]}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector matches these labels."""
    return all(labels.get(key) == value for key, value in selector.items())


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def operator_rules(manifests: list[Manifest]) -> list[Manifest]:
    rules: list[Manifest] = []
    for m in manifests:
        if m["kind"] in ("ClusterRole", "Role") and m["metadata"]["name"].endswith("-operator"):
            rules.extend(m["rules"])
    return rules


def grants(rules: list[Manifest], group: str, resource: str) -> set[str]:
    verbs: set[str] = set()
    for rule in rules:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs.update(rule["verbs"])
    return verbs


# -- lint and render ------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_helm_lint_strict(helm: str, helm_home: Path, scenario: str) -> None:
    result = helm_run(
        helm, helm_home, "lint", "--strict", str(CHART), "--kube-version", KUBE_VERSION, *SCENARIOS[scenario]
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_manifest_validates_strictly(helm: str, helm_home: Path, scenario: str) -> None:
    manifests = render(helm, helm_home, *SCENARIOS[scenario], crds=True)
    validated = 0
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue  # no schema in kubernetes-validate: see the module docstring
        kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)
        validated += 1
    assert validated >= 7  # at least: the CRD, Deployment, Service, ClusterRole, binding, the Lease's Role and binding
    # Every object is labelled the standard way, and namespaced objects land somewhere explicit.
    for manifest in manifests:
        if manifest["kind"] == "CustomResourceDefinition":
            continue
        labels = manifest["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by"):
            assert key in labels, (manifest["kind"], key)
        assert labels["app.kubernetes.io/version"] == "0.1.0"


def test_strict_validation_is_not_vacuous(helm: str, helm_home: Path) -> None:
    deployment = one(render(helm, helm_home), "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContxt"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def test_defaults_render_the_expected_objects(helm: str, helm_home: Path) -> None:
    kinds = sorted(m["kind"] for m in render(helm, helm_home))
    assert kinds == sorted(
        [
            "ServiceAccount",
            "ClusterRole",  # operator
            "ClusterRoleBinding",
            "ClusterRole",  # view
            "ClusterRole",  # edit
            "Role",  # leader election, in the release namespace
            "RoleBinding",
            "Deployment",
            "Service",
        ]
    )


# -- the CRDs -------------------------------------------------------------------------------------


def test_chart_crd_is_identical_to_the_repo_crd() -> None:
    assert REPO_CRD.exists(), "crds/scheduledjobs.punctual.dev.yaml is generated by `punctual crd`"
    assert CHART_CRD.read_bytes() == REPO_CRD.read_bytes(), (
        "charts/punctual/crds/ is out of date: cp crds/scheduledjobs.punctual.dev.yaml charts/punctual/crds/"
    )


def test_chart_calendar_crd_is_identical_to_the_repo_crd() -> None:
    assert CHART_CALENDAR_CRD.read_bytes() == REPO_CALENDAR_CRD.read_bytes(), (
        "charts/punctual/crds/ is out of date: cp crds/calendars.punctual.dev.yaml charts/punctual/crds/"
    )


def test_include_crds_renders_only_scheduledjobs_and_calendars(helm: str, helm_home: Path) -> None:
    crds = {m["metadata"]["name"]: m for m in of_kind(render(helm, helm_home, crds=True), "CustomResourceDefinition")}
    assert set(crds) == {"scheduledjobs.punctual.dev", "calendars.punctual.dev"}, (
        "no kopf peering CRDs: leader election is on a Lease"
    )
    assert crds["scheduledjobs.punctual.dev"]["spec"]["names"]["shortNames"] == ["sj"]
    assert crds["calendars.punctual.dev"]["spec"]["names"]["shortNames"] == ["cal"]


# -- the Deployment -------------------------------------------------------------------------------


def test_security_context_is_locked_down(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home)
    pod = one(manifests, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container(manifests)["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert isinstance(sc["runAsUser"], int) and sc["runAsUser"] != 0
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc.get("privileged") is False
    # /tmp is the only writable path.
    mounts = {m["mountPath"]: m["name"] for m in container(manifests)["volumeMounts"]}
    assert mounts == {"/tmp": "tmp"}
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]
    resources = container(manifests)["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]


def test_probes_use_health_endpoints_on_the_metrics_port(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home)
    c = container(manifests)
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["image"] == "punctual:0.1.0"
    service = one(manifests, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == one(manifests, "Deployment")["spec"]["selector"]["matchLabels"]


def test_default_env(helm: str, helm_home: Path) -> None:
    env = env_of(render(helm, helm_home))
    assert env == {
        "PUNCTUAL_NAMESPACES": "",
        "PUNCTUAL_METRICS_PORT": "8080",
        "PUNCTUAL_LOG_FORMAT": "json",
        "PUNCTUAL_LOG_LEVEL": "INFO",
        "PUNCTUAL_DEFAULT_TIME_ZONE": "UTC",
        "PUNCTUAL_LEASE_NAME": "punctual-leader",
        **LEADER_ENV,
        "PUNCTUAL_POD_NAME": {"fieldRef": {"fieldPath": "metadata.name"}},
    }


def test_env_follows_values(helm: str, helm_home: Path) -> None:
    manifests = render(
        helm,
        helm_home,
        *SCENARIOS["namespace scope"],
        "--set",
        "operator.metricsPort=9090",
        "--set",
        "operator.defaultTimeZone=Europe/Berlin",
        "--set",
        "operator.extraEnv[0].name=PUNCTUAL_WORKERS",
        "--set-string",
        "operator.extraEnv[0].value=8",
    )
    env = env_of(manifests)
    assert env["PUNCTUAL_NAMESPACES"] == "team-a,team-b"
    assert env["PUNCTUAL_METRICS_PORT"] == "9090"
    assert env["PUNCTUAL_DEFAULT_TIME_ZONE"] == "Europe/Berlin"
    assert env["PUNCTUAL_WORKERS"] == "8"
    assert container(manifests)["ports"][0]["containerPort"] == 9090


LEASE_ROLE = "punctual-leader-election"
LEADER_ENV = {
    "PUNCTUAL_LEASE_NAMESPACE": NAMESPACE,
    "PUNCTUAL_LEASE_DURATION": "15",
    "PUNCTUAL_RENEW_DEADLINE": "10",
    "PUNCTUAL_RETRY_PERIOD": "2",
}


def test_single_replica_elects_too_and_is_recreated(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home)
    assert one(manifests, "Deployment")["spec"]["strategy"] == {"type": "Recreate"}
    env = env_of(manifests)
    assert env["PUNCTUAL_LEASE_NAME"] == "punctual-leader"
    assert {k: env[k] for k in LEADER_ENV} == LEADER_ENV, "client-go's timings"
    assert not of_kind(manifests, "PodDisruptionBudget")
    assert not [m for m in manifests if m["apiVersion"].startswith("kopf.dev")], "no kopf peering objects"


def test_replicas_2_share_one_lease_and_get_a_budget(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["replicas 2"])
    assert env_of(manifests)["PUNCTUAL_LEASE_NAME"] == "punctual-leader"
    pdb = one(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == one(manifests, "Deployment")["spec"]["selector"]["matchLabels"]
    assert grants(operator_rules(manifests), "coordination.k8s.io", "leases") == set(), "not cluster-wide"


def test_leader_election_timings_follow_values(helm: str, helm_home: Path) -> None:
    manifests = render(
        helm,
        helm_home,
        "--set",
        "leaderElection.leaseDuration=30",
        "--set",
        "leaderElection.renewDeadline=20",
        "--set-json",
        "leaderElection.retryPeriod=2.5",
    )
    env = env_of(manifests)
    assert (env["PUNCTUAL_LEASE_DURATION"], env["PUNCTUAL_RENEW_DEADLINE"], env["PUNCTUAL_RETRY_PERIOD"]) == (
        "30",
        "20",
        "2.5",
    )
    bad = helm_run(helm, helm_home, "template", "punctual", str(CHART), "--set", "leaderElection.leaseDuration=1.5")
    assert bad.returncode != 0 and "leaseDuration" in bad.stderr


@pytest.mark.parametrize("scenario", ["defaults", "namespace scope", "shards 2, replicas 2, namespace scope"])
def test_lease_role_is_namespaced_to_the_release(helm: str, helm_home: Path, scenario: str) -> None:
    manifests = render(helm, helm_home, *SCENARIOS[scenario])
    role = by_name(manifests, "Role")[LEASE_ROLE]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert granted_set(role["rules"]) == OPERATOR_RBAC_LEASES
    binding = by_name(manifests, "RoleBinding")[LEASE_ROLE]
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": LEASE_ROLE}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "punctual", "namespace": NAMESPACE}]
    for cluster_role in of_kind(manifests, "ClusterRole"):
        assert grants(cluster_role["rules"], "coordination.k8s.io", "leases") == set()


# -- shards ---------------------------------------------------------------------------------------

SHARD_LABEL = "punctual.dev/shard"
# The selector of the unsharded Deployment, as every release before sharding rendered it: it is
# immutable, so shards=1 must keep it exactly.
UNSHARDED_SELECTOR = {"app.kubernetes.io/name": "punctual", "app.kubernetes.io/instance": "punctual"}


def by_name(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in of_kind(manifests, kind)}


@pytest.mark.parametrize("args", [[], ["--set", "shards=1"]], ids=["default", "shards=1"])
def test_one_shard_renders_the_unsharded_deployment(helm: str, helm_home: Path, args: list[str]) -> None:
    manifests = render(helm, helm_home, *args)
    deployment = one(manifests, "Deployment")
    assert deployment["metadata"]["name"] == "punctual"
    assert deployment["spec"]["selector"] == {"matchLabels": UNSHARDED_SELECTOR}
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert SHARD_LABEL not in deployment["metadata"]["labels"]
    assert SHARD_LABEL not in deployment["spec"]["template"]["metadata"]["labels"]
    env = deployment_env(deployment)
    assert "PUNCTUAL_SHARDS" not in env and "PUNCTUAL_SHARD" not in env
    assert env["PUNCTUAL_LEASE_NAME"] == "punctual-leader"


def test_one_shard_with_replicas_keeps_the_unsharded_lease_and_pdb(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, "--set", "shards=1", "--set", "replicas=2")
    deployment = one(manifests, "Deployment")
    assert deployment["metadata"]["name"] == "punctual"
    assert deployment["spec"]["selector"] == {"matchLabels": UNSHARDED_SELECTOR}
    assert deployment_env(deployment)["PUNCTUAL_LEASE_NAME"] == "punctual-leader"
    pdb = one(manifests, "PodDisruptionBudget")
    assert pdb["metadata"]["name"] == "punctual"
    assert pdb["spec"]["selector"] == {"matchLabels": UNSHARDED_SELECTOR}


def test_explicit_one_shard_renders_byte_for_byte_like_the_default(helm: str, helm_home: Path) -> None:
    base = ["template", "punctual", str(CHART), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    for extra in ([], ["--set", "replicas=2", "--set", "watchNamespaces={team-a}"]):
        default = helm_run(helm, helm_home, *base, *extra)
        explicit = helm_run(helm, helm_home, *base, *extra, "--set", "shards=1")
        assert default.returncode == 0 and explicit.returncode == 0, default.stderr + explicit.stderr
        assert explicit.stdout == default.stdout
        assert "PUNCTUAL_SHARD" not in default.stdout
        assert SHARD_LABEL not in default.stdout


def test_shards_3_render_one_deployment_per_shard(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["shards 3"], "--set", "serviceMonitor.enabled=true")
    deployments = by_name(manifests, "Deployment")
    assert sorted(deployments) == ["punctual-shard-0", "punctual-shard-1", "punctual-shard-2"]
    pod_labels: dict[int, dict[str, str]] = {}
    for k in range(3):
        deployment = deployments[f"punctual-shard-{k}"]
        spec = deployment["spec"]
        assert spec["replicas"] == 1
        assert spec["strategy"] == {"type": "Recreate"}
        assert spec["selector"] == {"matchLabels": {**UNSHARDED_SELECTOR, SHARD_LABEL: str(k)}}
        assert deployment["metadata"]["labels"][SHARD_LABEL] == str(k)
        labels = spec["template"]["metadata"]["labels"]
        assert labels[SHARD_LABEL] == str(k)
        assert labels["app.kubernetes.io/component"] == "operator"
        assert selects(spec["selector"]["matchLabels"], labels)
        pod_labels[k] = labels
        env = deployment_env(deployment)
        assert env["PUNCTUAL_SHARDS"] == "3"
        assert env["PUNCTUAL_SHARD"] == str(k)
        assert env["PUNCTUAL_LEASE_NAME"] == f"punctual-shard-{k}-leader"  # one Lease per shard
    # The shards' selectors are disjoint: no Deployment selects another shard's pods.
    for k, deployment in enumerate(deployments[f"punctual-shard-{i}"] for i in range(3)):
        for other, labels in pod_labels.items():
            assert selects(deployment["spec"]["selector"]["matchLabels"], labels) == (k == other)
    # The metrics Service (and through it the ServiceMonitor) covers every shard's pods.
    service = one(manifests, "Service")
    for labels in pod_labels.values():
        assert selects(service["spec"]["selector"], labels)
    monitor = one(manifests, "ServiceMonitor")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert not of_kind(manifests, "PodDisruptionBudget")


def test_shards_2_with_replicas_3_elect_and_budget_per_shard(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["shards 2, replicas 3"])
    deployments = by_name(manifests, "Deployment")
    assert sorted(deployments) == ["punctual-shard-0", "punctual-shard-1"]
    pdbs = by_name(manifests, "PodDisruptionBudget")
    assert sorted(pdbs) == ["punctual-shard-0", "punctual-shard-1"]
    for k in range(2):
        deployment = deployments[f"punctual-shard-{k}"]
        spec = deployment["spec"]
        assert spec["replicas"] == 3
        assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}
        env = deployment_env(deployment)
        assert env["PUNCTUAL_LEASE_NAME"] == f"punctual-shard-{k}-leader"
        assert (env["PUNCTUAL_SHARDS"], env["PUNCTUAL_SHARD"]) == ("2", str(k))
        pdb = pdbs[f"punctual-shard-{k}"]
        assert pdb["spec"]["minAvailable"] == 1
        assert pdb["spec"]["selector"] == spec["selector"]
        assert pdb["spec"]["selector"]["matchLabels"][SHARD_LABEL] == str(k)


def test_shards_in_namespace_scope_keep_their_leases_in_the_release_namespace(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["shards 2, replicas 2, namespace scope"])
    envs = [deployment_env(d) for d in of_kind(manifests, "Deployment")]
    assert sorted(e["PUNCTUAL_LEASE_NAME"] for e in envs) == ["punctual-shard-0-leader", "punctual-shard-1-leader"]
    assert all(e["PUNCTUAL_LEASE_NAMESPACE"] == NAMESPACE for e in envs)
    assert all(e["PUNCTUAL_NAMESPACES"] == "team-a,team-b" for e in envs)


def test_shard_names_stay_within_63_characters(helm: str, helm_home: Path) -> None:
    long_name = "x" * 63
    manifests = render(helm, helm_home, "--set", f"fullnameOverride={long_name}", "--set", "shards=12")
    names = sorted(m["metadata"]["name"] for m in of_kind(manifests, "Deployment"))
    assert len(names) == 12
    for k in range(12):
        suffix = f"-shard-{k}"
        assert "x" * (63 - len(suffix)) + suffix in names
    assert all(len(name) <= 63 for name in names)


def test_notes_mention_shards(helm: str, helm_home: Path) -> None:
    def notes(*args: str) -> str:
        result = helm_run(
            helm, helm_home, "install", "punctual", str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *args
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.split("NOTES:", 1)[1]

    sharded = notes("--set", "shards=3", "--set", "replicas=2")
    assert "3 shards" in sharded
    for k in range(3):
        assert f"rollout status deployment/punctual-shard-{k}" in sharded
    assert "rollout status deployment/punctual\n" not in sharded
    assert '"punctual-shard-<k>-leader"' in sharded
    plain = notes()
    assert "shard" not in plain
    assert "rollout status deployment/punctual\n" in plain


# -- RBAC -----------------------------------------------------------------------------------------

RBAC_KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_rbac_has_no_wildcards_and_explicit_verbs(helm: str, helm_home: Path, scenario: str) -> None:
    manifests = render(helm, helm_home, *SCENARIOS[scenario])
    for manifest in manifests:
        if manifest["kind"] not in RBAC_KINDS:
            continue
        for node in walk(manifest):
            assert node != "*" and not (isinstance(node, str) and "*" in node), (manifest["metadata"]["name"], node)
        for rule in manifest.get("rules", []):
            assert rule.get("verbs"), rule
            assert rule.get("apiGroups") is not None and rule.get("resources"), rule
            assert "nonResourceURLs" not in rule
            assert not set(rule["verbs"]) & {"escalate", "bind", "impersonate"}, rule


def granted_set(rules: list[Manifest]) -> set[Grant]:
    """Every (apiGroup, resource, verb) a list of rules grants."""
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


# What each scenario's operator role must grant: (cluster scope, watchNamespaces set). The Lease
# grants are a Role of their own in every scenario (test_lease_role_is_namespaced_to_the_release).
RBAC_MODES: dict[str, tuple[bool, bool]] = {
    "defaults": (True, False),
    "namespace scope": (False, True),
    "cluster scope, listed namespaces": (True, True),
    "replicas 2": (True, False),
    "replicas 2, namespace scope": (False, True),
    "shards 3": (True, False),
    "shards 2, replicas 3": (True, False),
    "shards 2, replicas 2, namespace scope": (False, True),
    "serviceMonitor": (True, False),
    "prometheusRule": (True, False),
    "dashboard": (True, False),
    "no aggregated roles, own service account": (True, False),
    "ui": (True, False),
    "ui, namespace scope": (False, True),
    "everything": (True, False),
    "cluster scope, listed namespaces, replicas 2": (True, True),
}
RBAC_SCENARIOS = {
    **SCENARIOS,
    "cluster scope, listed namespaces, replicas 2": ["--set", "watchNamespaces={team-a}", "--set", "replicas=2"],
}


@pytest.mark.parametrize("scenario", list(RBAC_SCENARIOS))
def test_operator_role_grants_exactly_what_the_code_uses(helm: str, helm_home: Path, scenario: str) -> None:
    cluster_scope, namespaces = RBAC_MODES[scenario]
    manifests = render(helm, helm_home, *RBAC_SCENARIOS[scenario])
    roles = [
        m for m in manifests if m["kind"] in ("ClusterRole", "Role") and m["metadata"]["name"].endswith("-operator")
    ]
    assert roles
    assert {m["kind"] for m in roles} == {"ClusterRole" if cluster_scope else "Role"}
    expected = operator_rbac(cluster_scope=cluster_scope, namespaces=namespaces)
    for role in roles:
        assert granted_set(role["rules"]) == expected, role["metadata"]


def test_rbac_modes_cover_every_scenario() -> None:
    assert set(RBAC_MODES) == set(RBAC_SCENARIOS)


def test_operator_may_set_block_owner_deletion_on_its_jobs(helm: str, helm_home: Path) -> None:
    """OwnerReferencesPermissionEnforcement: blockOwnerDeletion needs update on the owner's finalizers."""
    spec = ScheduledJobSpec.model_validate(cronjob_example()["spec"])
    owner = Owner(name="nightly", namespace="default", uid="u-1")
    job = build_job(owner, spec, job_name="nightly-1", slot=datetime(2026, 1, 1, tzinfo=UTC), trigger=Trigger.SCHEDULE)
    (ref,) = job["metadata"]["ownerReferences"]
    assert ref["blockOwnerDeletion"] is True and ref["kind"] == "ScheduledJob"
    for scenario in ("defaults", "namespace scope"):
        rules = operator_rules(render(helm, helm_home, *SCENARIOS[scenario]))
        assert grants(rules, "punctual.dev", "scheduledjobs/finalizers") == {"update"}, scenario
    assert ("punctual.dev", "scheduledjobs/finalizers", "update") in OPERATOR_RBAC


def test_cluster_scope_operator_permissions_are_exactly_these(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home)
    rules = operator_rules(manifests)
    expected = {
        ("punctual.dev", "scheduledjobs"): {"list", "watch", "patch"},
        ("punctual.dev", "calendars"): {"list", "watch"},
        ("punctual.dev", "scheduledjobs/status"): {"patch"},
        ("punctual.dev", "scheduledjobs/finalizers"): {"update"},
        ("batch", "jobs"): {"get", "list", "watch", "create", "delete"},
        ("", "pods"): {"list", "watch"},
        ("", "events"): {"create"},
        ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    }
    granted = {(g, r): grants(rules, g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
    assert granted == expected
    assert grants(rules, "", "pods/log") == set()
    assert grants(rules, "", "secrets") == set()
    assert grants(rules, "", "namespaces") == set()  # kopf watches namespaces only when given a list
    assert grants(rules, "events.k8s.io", "events") == set()
    binding = one(manifests, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "punctual-operator"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "punctual", "namespace": NAMESPACE}]


def test_namespace_scope_has_roles_per_namespace_and_no_operator_cluster_role(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["namespace scope"])
    assert not of_kind(manifests, "ClusterRoleBinding")
    cluster_roles = {m["metadata"]["name"] for m in of_kind(manifests, "ClusterRole")}
    assert cluster_roles == {"punctual-view", "punctual-edit"}  # aggregated, bound by nobody here
    # The operator's Roles; the leader-election Role (release namespace) has a test of its own.
    roles = [r for r in of_kind(manifests, "Role") if r["metadata"]["name"] != LEASE_ROLE]
    bindings = [b for b in of_kind(manifests, "RoleBinding") if b["metadata"]["name"] != LEASE_ROLE]
    assert sorted(r["metadata"]["namespace"] for r in roles) == ["team-a", "team-b"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for role in roles:
        rules = role["rules"]
        assert grants(rules, "punctual.dev", "scheduledjobs") == {"list", "watch", "patch"}
        assert grants(rules, "batch", "jobs") == {"get", "list", "watch", "create", "delete"}
        assert grants(rules, "", "namespaces") == set()
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"][0]["namespace"] == NAMESPACE


def test_namespace_scope_without_namespaces_is_refused(helm: str, helm_home: Path) -> None:
    result = helm_run(helm, helm_home, "template", "punctual", str(CHART), "--set", "rbac.scope=namespace")
    assert result.returncode != 0
    assert "watchNamespaces" in result.stderr


def test_aggregated_roles(helm: str, helm_home: Path) -> None:
    roles = {m["metadata"]["name"]: m for m in of_kind(render(helm, helm_home), "ClusterRole")}
    view, edit = roles["punctual-view"], roles["punctual-edit"]
    assert {k: v for k, v in view["metadata"]["labels"].items() if k.startswith("rbac.")} == {
        "rbac.authorization.k8s.io/aggregate-to-view": "true",
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
    }
    assert {k: v for k, v in edit["metadata"]["labels"].items() if k.startswith("rbac.")} == {
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
    }
    assert grants(view["rules"], "punctual.dev", "scheduledjobs") == {"get", "list", "watch"}
    assert grants(edit["rules"], "punctual.dev", "scheduledjobs") == {"create", "update", "patch", "delete"}
    assert grants(edit["rules"], "batch", "jobs") == {"get", "list"}
    assert grants(edit["rules"], "", "pods") == {"get", "list"}
    assert grants(edit["rules"], "", "pods/log") == {"get"}


# -- values schema --------------------------------------------------------------------------------


# The shards cases would render without the schema (int of "2", 1.5 or null is 2, 1 or 0; 0 shards
# renders no operator at all), so the schema is what refuses them, and its error names the key.
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--set", "unknownKey=1"], None),
        (["--set", "rbac.scope=everything"], None),
        (["--set", "operator.logFormat=xml"], None),
        (["--set", "replicas=-1"], None),
        (["--set", "image.unknown=x"], None),
        (["--set", "shards=0"], "shards"),
        (["--set", "shards=-2"], "shards"),
        (["--set-string", "shards=2"], "shards"),
        (["--set-json", "shards=1.5"], "shards"),
        (["--set", "shards=null"], "shards"),
        (["--set", "shards=257"], "shards"),
    ],
    ids=[
        "unknown top-level key",
        "bad scope",
        "bad log format",
        "negative replicas",
        "unknown nested key",
        "shards zero",
        "shards negative",
        "shards string",
        "shards fractional",
        "shards removed",
        "shards above the 256 buckets",
    ],
)
def test_values_schema_rejects(helm: str, helm_home: Path, args: list[str], named: str | None) -> None:
    result = helm_run(helm, helm_home, "template", "punctual", str(CHART), *args)
    assert result.returncode != 0, result.stdout[:500]
    if named is not None:
        assert named in result.stderr


def test_values_schema_is_strict_at_top_level() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert set(values) <= set(schema["properties"])


# -- monitoring -----------------------------------------------------------------------------------


def test_service_monitor(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["serviceMonitor"])
    monitor = one(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["jobLabel"] == "app.kubernetes.io/part-of"
    assert monitor["spec"]["endpoints"] == [
        {"port": "metrics", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    service = one(manifests, "Service")
    assert service["metadata"]["labels"]["app.kubernetes.io/part-of"] == "punctual"
    for key, value in monitor["spec"]["selector"]["matchLabels"].items():
        assert service["metadata"]["labels"][key] == value
    assert not of_kind(render(helm, helm_home), "ServiceMonitor")


def test_prometheus_rule_is_the_alerts_file(helm: str, helm_home: Path) -> None:
    rule = one(render(helm, helm_home, *SCENARIOS["prometheusRule"]), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    plain = yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())
    assert rule["spec"] == plain
    assert not of_kind(render(helm, helm_home), "PrometheusRule")


def test_prometheus_rule_values_and_promtool(helm: str, helm_home: Path, promtool: str, tmp_path: Path) -> None:
    rule = one(
        render(
            helm,
            helm_home,
            "--set",
            "prometheusRule.enabled=true",
            "--set",
            "prometheusRule.noRecentSuccessIntervals=5",
            "--set",
            "prometheusRule.startLagP99ThresholdSeconds=120",
            "--set",
            "prometheusRule.alertLabels.team=batch",
        ),
        "PrometheusRule",
    )
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    records = {r["record"]: r["expr"] for r in rules if "record" in r}
    assert records == {
        "punctual:config:no_recent_success_intervals": "vector(5)",
        "punctual:config:start_lag_p99_threshold_seconds": "vector(120)",
    }
    for alert in (r for r in rules if "alert" in r):
        assert alert["labels"]["team"] == "batch"
        assert alert["labels"]["severity"] in {"warning", "critical"}
    rendered = tmp_path / "rendered-rules.yaml"
    rendered.write_text(yaml.safe_dump(rule["spec"]))
    result = subprocess.run(
        [promtool, "check", "rules", str(rendered)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_config_map(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["dashboard"], "--set", "dashboard.namespace=monitoring")
    cm = one(manifests, "ConfigMap")
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["namespace"] == "monitoring"
    shipped = json.loads((CHART / "files" / "dashboard.json").read_text())
    assert json.loads(cm["data"]["punctual-scheduledjobs.json"]) == shipped
    assert not of_kind(render(helm, helm_home), "ConfigMap")


def test_notes_render(helm: str, helm_home: Path) -> None:
    result = helm_run(
        helm, helm_home, "install", "punctual", str(CHART), "--namespace", NAMESPACE, "--dry-run=client",
        *SCENARIOS["namespace scope"],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl sj list" in notes
    assert "kubectl apply" in notes
    assert "team-a, team-b" in notes


# -- Kubernetes versions: the chart installs on 1.20 (what the real-server tests run) and later -----


def pdb_api_version(helm: str, home: Path, *args: str) -> str:
    result = helm_run(
        helm, home, "template", "punctual", str(CHART), "--namespace", NAMESPACE, "--set", "replicas=2", *args
    )
    assert result.returncode == 0, result.stderr
    (pdb,) = [m for m in yaml.safe_load_all(result.stdout) if m and m["kind"] == "PodDisruptionBudget"]
    return str(pdb["apiVersion"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "policy/v1"),  # helm's default (the newest Kubernetes it knows)
        (["--kube-version", KUBE_VERSION], "policy/v1"),
        (["--kube-version", "1.20.2", "--api-versions", "policy/v1beta1/PodDisruptionBudget"], "policy/v1beta1"),
        (["--kube-version", "1.20.2"], "policy/v1beta1"),
        (["--kube-version", "1.21.0"], "policy/v1"),
        (
            [
                "--kube-version",
                "1.22.0",
                "--api-versions",
                "policy/v1beta1/PodDisruptionBudget",
                "--api-versions",
                "policy/v1/PodDisruptionBudget",
            ],
            "policy/v1",
        ),
    ],
    ids=["default", "1.37", "1.20 discovery", "1.20 version only", "1.21 version only", "1.22 serving both"],
)
def test_pdb_api_version_is_one_the_server_serves(helm: str, helm_home: Path, args: list[str], expected: str) -> None:
    assert pdb_api_version(helm, helm_home, *args) == expected


def test_chart_accepts_kubernetes_1_20_and_refuses_older(helm: str, helm_home: Path) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["kubeVersion"] == ">=1.20.0-0"
    base = ["template", "punctual", str(CHART), "--namespace", NAMESPACE, "--kube-version"]
    assert helm_run(helm, helm_home, *base, "1.20.2").returncode == 0
    refused = helm_run(helm, helm_home, *base, "1.19.16")
    assert refused.returncode != 0 and "kubeVersion" in refused.stderr + refused.stdout


def test_every_api_version_in_the_chart_is_served_by_1_20(helm: str, helm_home: Path) -> None:
    # What kube-apiserver v1.20 serves (plus the CRD-defined kinds the chart uses); anything else
    # must be chosen by Capabilities, as the PodDisruptionBudget is.
    served_by_1_20 = {
        ("v1", "ConfigMap"),
        ("v1", "Service"),
        ("v1", "ServiceAccount"),
        ("apps/v1", "Deployment"),
        ("policy/v1beta1", "PodDisruptionBudget"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
    }
    args = ["--kube-version", "1.20.2", "--api-versions", "policy/v1beta1/PodDisruptionBudget"]
    for scenario in ("everything", "replicas 2, namespace scope"):
        cmd = ["template", "punctual", str(CHART), "--namespace", NAMESPACE, "--include-crds", *args]
        result = helm_run(helm, helm_home, *cmd, *SCENARIOS[scenario])
        assert result.returncode == 0, result.stderr
        kinds = {(m["apiVersion"], m["kind"]) for m in yaml.safe_load_all(result.stdout) if m}
        assert kinds <= served_by_1_20, kinds - served_by_1_20
        assert ("policy/v1beta1", "PodDisruptionBudget") in kinds


# -- the web UI (ui.enabled) ------------------------------------------------------------------------

# What kubectl sj ui calls through kubectl_sj/client.py: list/get/patch ScheduledJobs (the Run now
# and backfill annotations, spec.suspend), list Calendars (the timeline's spec.calendars), get/list
# Jobs, list Pods, get pods/log, list Events.
UI_RBAC: set[Grant] = {
    ("punctual.dev", "scheduledjobs", "get"),
    ("punctual.dev", "scheduledjobs", "list"),
    ("punctual.dev", "scheduledjobs", "patch"),
    ("punctual.dev", "calendars", "list"),
    ("batch", "jobs", "get"),
    ("batch", "jobs", "list"),
    ("", "pods", "list"),
    ("", "pods/log", "get"),
    ("", "events", "list"),
}


def ui_objects(manifests: list[Manifest]) -> list[Manifest]:
    return [m for m in manifests if m["metadata"]["name"].endswith("-ui")]


def test_ui_is_off_by_default(helm: str, helm_home: Path) -> None:
    assert ui_objects(render(helm, helm_home)) == []


def test_ui_objects_and_its_own_service_account(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, "--set", "ui.enabled=true")
    ui = ui_objects(manifests)
    assert sorted(m["kind"] for m in ui) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "Service",
        "ServiceAccount",
    ]
    by_kind = {m["kind"]: m for m in ui}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    account = by_kind["ServiceAccount"]["metadata"]["name"]
    assert (
        pod["serviceAccountName"]
        == account
        != one([m for m in manifests if m not in ui], "ServiceAccount")["metadata"]["name"]
    )
    assert by_kind["ClusterRoleBinding"]["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]
    assert granted_set(by_kind["ClusterRole"]["rules"]) == UI_RBAC
    # The Service reaches the UI's pods, and neither the operator's Deployment nor its metrics
    # Service selects them (their selector labels differ by name).
    labels = by_kind["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert selects(by_kind["Service"]["spec"]["selector"], labels)
    operator = next(m for m in manifests if m["kind"] == "Deployment" and m not in ui)
    metrics = next(m for m in manifests if m["kind"] == "Service" and m not in ui)
    assert not selects(operator["spec"]["selector"]["matchLabels"], labels)
    assert not selects(metrics["spec"]["selector"], labels)
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}


def test_ui_command_is_one_the_plugin_parses(helm: str, helm_home: Path) -> None:
    """The container runs kubectl-sj ui in the pod: in-cluster credentials, bound to 0.0.0.0."""
    from kubectl_sj.cli import build_parser

    for args, all_namespaces, namespace in (
        ([], True, None),
        (["--set", "rbac.scope=namespace", "--set", "watchNamespaces={team-a,team-b}"], False, "team-a"),
    ):
        deployment = one(ui_objects(render(helm, helm_home, "--set", "ui.enabled=true", *args)), "Deployment")
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["kubectl-sj"]
        parsed = build_parser().parse_args(container["args"])
        assert (parsed.verb, parsed.in_cluster, parsed.address, parsed.port) == ("ui", True, "0.0.0.0", 8080)
        assert getattr(parsed, "all_namespaces", False) is all_namespaces
        assert getattr(parsed, "namespace", None) == namespace
        assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


def test_ui_in_namespace_scope_gets_roles_per_namespace(helm: str, helm_home: Path) -> None:
    manifests = render(helm, helm_home, *SCENARIOS["ui, namespace scope"])
    ui = ui_objects(manifests)
    assert not [m for m in ui if m["kind"].startswith("Cluster")]
    roles = [m for m in ui if m["kind"] == "Role"]
    assert sorted(m["metadata"]["namespace"] for m in roles) == ["team-a", "team-b"]
    for role in roles:
        assert granted_set(role["rules"]) == UI_RBAC
