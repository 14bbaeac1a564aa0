"""Two operator replicas with kopf peering: only the leader schedules; the follower takes over.

kopf's peering CRDs are installed in the emulator like in a cluster (the chart ships them), and a
``ClusterKopfPeering`` named ``punctual`` is created. kopf removes a replica's entry when it stops
cleanly, and its peer lifetime (how long a silent replica still counts) is shortened to a few seconds
through kopf's settings, so failover takes seconds.
"""

from __future__ import annotations

import kopf
from integration_support import (
    Body,
    OperatorFactory,
    TestClock,
    jobs_of,
    parse,
    records,
    scheduled_job,
    slot_of,
)
from punctual_testing import wait_for

from kube_emulator import Emulator
from punctual.runtime import Operator

PEER_LIFETIME = 4


def peering_crd(kind: str, plural: str, scope: str) -> Body:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.kopf.dev"},
        "spec": {
            "scope": scope,
            "group": "kopf.dev",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                        }
                    },
                }
            ],
        },
    }


class ShortLivedPeers(Operator):
    """The operator with kopf's peer lifetime cut from 60 s, so a vanished leader expires quickly."""

    def kopf_settings(self) -> kopf.OperatorSettings:
        s = super().kopf_settings()
        s.peering.lifetime = PEER_LIFETIME
        return s


def test_only_the_leader_schedules_and_the_follower_takes_over(
    emulator: Emulator, operator: OperatorFactory, clock: TestClock
) -> None:
    emulator.install_crd(peering_crd("ClusterKopfPeering", "clusterkopfpeerings", "Cluster"))
    emulator.install_crd(peering_crd("KopfPeering", "kopfpeerings", "Namespaced"))
    emulator.create({"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": "punctual"}})

    def peers() -> set[str]:
        return set(emulator.get("kopf.dev/v1", "clusterkopfpeerings", "punctual").get("status") or {})

    leader = operator(cls=ShortLivedPeers, peering="punctual", peering_priority=100, pod_name="a")
    wait_for(lambda: "a" in peers() and leader.op.leader, 15, what="a registered and leading")
    follower = operator(cls=ShortLivedPeers, peering="punctual", peering_priority=50, pod_name="b")
    wait_for(lambda: peers() == {"a", "b"}, 15, what="b registered")

    emulator.reset_request_log()
    emulator.create(scheduled_job("ha", "*/2 * * * * *", successfulJobsHistoryLimit=50))
    follower_led = False

    def three_runs() -> bool:
        nonlocal follower_led
        follower_led |= follower.op.leader
        return len(records(emulator, "ha", "Succeeded")) >= 3

    wait_for(three_runs, 20, what="3 runs under a")
    assert not follower_led, "b led while a was alive"
    creates = [r.status for r in emulator.request_log if r.verb == "create" and r.resource == "jobs.batch"]
    assert creates and set(creates) == {201}, f"a second replica tried to create Jobs: {creates}"

    leader.stop()
    failed_over = clock.now()
    wait_for(lambda: follower.op.leader, PEER_LIFETIME + 10, what="b takes over")
    wait_for(
        lambda: len([r for r in records(emulator, "ha", "Succeeded") if parse(r["scheduledTime"]) > failed_over]) >= 2,
        20,
        what="2 runs under b",
    )
    jobs = jobs_of(emulator, "ha")
    assert len({slot_of(j) for j in jobs}) == len(jobs)
    names = [r["job"] for r in records(emulator, "ha", "Succeeded")]
    assert len(names) == len(set(names))
    assert not records(emulator, "ha", "Failed")
