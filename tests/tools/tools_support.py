"""What the tool tests share: the chart's alert rules (the file, its rules, and the alerts it must
define: ``test_alerts`` checks the set is exactly this; ``test_promql_names`` checks each), and the
operator's RBAC (``test_chart`` checks the chart grants exactly it; docs/install.md is its table)."""

from __future__ import annotations

from typing import Any

import yaml
from punctual_testing import REPO_ROOT

__all__ = [
    "ALERTS",
    "ALERT_NAMES",
    "OPERATOR_RBAC",
    "OPERATOR_RBAC_CLUSTER_SCOPE",
    "OPERATOR_RBAC_LEASES",
    "OPERATOR_RBAC_LISTED_NAMESPACES",
    "Grant",
    "alert_rules",
    "operator_rbac",
]

ALERTS = REPO_ROOT / "charts" / "punctual" / "files" / "alerts.yaml"

ALERT_NAMES = (
    "PunctualRunFailed",
    "PunctualNoRecentSuccess",
    "PunctualRunOverBudget",
    "PunctualSlotsMissed",
    "PunctualSlotsDropped",
    "PunctualEventsDropped",
    "PunctualPaused",
    "PunctualStartLagHigh",
    "PunctualOperatorDown",
    "PunctualShardDown",
)


def alert_rules() -> list[dict[str, Any]]:
    """Every rule of every group in the chart's alerts file: alerts and recording rules."""
    data = yaml.safe_load(ALERTS.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


# -- the operator's RBAC ---------------------------------------------------------------------------
#
# Every (apiGroup, resource, verb) the operator's code calls: operator/punctual/runtime/kube.py (the only
# module making API calls) and kopf 1.45 as the runtime configures it (an on.event handler only,
# kopf's Event posting off). docs/install.md ("What the operator's role grants, and why") is the same
# list with the reason for each; keep the two in step.

Grant = tuple[str, str, str]

OPERATOR_RBAC: frozenset[Grant] = frozenset(
    {
        # kopf's ScheduledJob watch (list, then watch); kopf patches one only to remove a finalizer
        # an older kopf-based version left (our handlers need none).
        ("punctual.dev", "scheduledjobs", "list"),
        ("punctual.dev", "scheduledjobs", "watch"),
        ("punctual.dev", "scheduledjobs", "patch"),
        # kopf's Calendar watch (spec.calendars): list, then watch.
        ("punctual.dev", "calendars", "list"),
        ("punctual.dev", "calendars", "watch"),
        # Kube.patch_status: a merge patch of the status subresource.
        ("punctual.dev", "scheduledjobs/status", "patch"),
        # Jobs' ownerReference has blockOwnerDeletion: OwnerReferencesPermissionEnforcement.
        ("punctual.dev", "scheduledjobs/finalizers", "update"),
        # Kube.list_and_watch (our Job cache), create_job, get_job (adopt on AlreadyExists), delete_job.
        ("batch", "jobs", "list"),
        ("batch", "jobs", "watch"),
        ("batch", "jobs", "create"),
        ("batch", "jobs", "get"),
        ("batch", "jobs", "delete"),
        # Kube.list_and_watch (our Pod cache).
        ("", "pods", "list"),
        ("", "pods", "watch"),
        # Kube.post_event (core v1, a new Event each time: never patched).
        ("", "events", "create"),
    }
)

# Cluster scope only (a Role cannot grant a cluster-scoped resource): kopf's resource observer
# watches CRDs (its start-up scan is API discovery, which needs no grant).
OPERATOR_RBAC_CLUSTER_SCOPE: frozenset[Grant] = frozenset(
    {
        ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    }
)

# Cluster scope with watchNamespaces: kopf's namespace observer lists and watches namespaces when
# given namespaces (never when it watches the whole cluster).
OPERATOR_RBAC_LISTED_NAMESPACES: frozenset[Grant] = frozenset({("", "namespaces", "list"), ("", "namespaces", "watch")})

# Leader election, in the release namespace only (a Role of its own, in every mode):
# Kube.get_lease, create_lease, replace_lease (renew, take over, release).
OPERATOR_RBAC_LEASES: frozenset[Grant] = frozenset(
    ("coordination.k8s.io", "leases", verb) for verb in ("get", "create", "update")
)


def operator_rbac(*, cluster_scope: bool, namespaces: bool) -> frozenset[Grant]:
    """What one operator Role/ClusterRole must grant: ``namespaces`` is whether watchNamespaces is set."""
    grants = set(OPERATOR_RBAC)
    if cluster_scope:
        grants |= OPERATOR_RBAC_CLUSTER_SCOPE
        if namespaces:
            grants |= OPERATOR_RBAC_LISTED_NAMESPACES
    return frozenset(grants)
