"""Garbage collection by ownerReferences: deleting an owner deletes its dependents."""

from __future__ import annotations

from typing import Any

from emulator_helpers import Api, widget

JOBS = "/apis/batch/v1/namespaces/default/jobs"
PODS = "/api/v1/namespaces/default/pods"


def owned_by(owner: dict[str, Any]) -> list[dict[str, Any]]:
    meta = owner["metadata"]
    ref = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}
    return [ref | {"controller": True}]


def test_cascade_owner_to_jobs_to_pods(api: Api, widgets: str) -> None:
    owner = api.post(widgets, widget("sj")).json()
    job = api.post(JOBS, {"metadata": {"name": "j", "ownerReferences": owned_by(owner)}, "spec": {}}).json()
    api.post(PODS, {"metadata": {"name": "p", "ownerReferences": owned_by(job)}, "spec": {}})
    api.post(PODS, {"metadata": {"name": "unrelated"}, "spec": {}})

    assert api.delete(f"{widgets}/sj").status_code == 200
    assert api.get(f"{JOBS}/j").status_code == 404
    assert api.get(f"{PODS}/p").status_code == 404
    assert api.get(f"{PODS}/unrelated").status_code == 200


def test_dependent_with_another_living_owner_survives(api: Api, widgets: str) -> None:
    a = api.post(widgets, widget("a")).json()
    b = api.post(widgets, widget("b")).json()
    api.post(PODS, {"metadata": {"name": "p", "ownerReferences": owned_by(a) + owned_by(b)}})
    api.delete(f"{widgets}/a")
    assert api.get(f"{PODS}/p").status_code == 200
    api.delete(f"{widgets}/b")
    assert api.get(f"{PODS}/p").status_code == 404


def test_orphan_propagation_keeps_dependents(api: Api, widgets: str) -> None:
    owner = api.post(widgets, widget("o")).json()
    api.post(PODS, {"metadata": {"name": "p", "ownerReferences": owned_by(owner)}})
    api.delete(f"{widgets}/o", {"propagationPolicy": "Orphan"})
    assert api.get(f"{PODS}/p").status_code == 200


def test_dependents_with_finalizers_are_only_marked(api: Api, widgets: str) -> None:
    owner = api.post(widgets, widget("o")).json()
    api.post(PODS, {"metadata": {"name": "p", "ownerReferences": owned_by(owner), "finalizers": ["x/y"]}})
    api.delete(f"{widgets}/o")
    assert api.get(f"{PODS}/p").json()["metadata"]["deletionTimestamp"]
    api.patch(f"{PODS}/p", {"metadata": {"finalizers": []}})
    assert api.get(f"{PODS}/p").status_code == 404


def test_finalized_owner_cascades_when_released(api: Api, widgets: str) -> None:
    body = widget("o")
    body["metadata"]["finalizers"] = ["x/y"]
    owner = api.post(widgets, body).json()
    api.post(PODS, {"metadata": {"name": "p", "ownerReferences": owned_by(owner)}})
    api.delete(f"{widgets}/o")
    assert api.get(f"{PODS}/p").status_code == 200  # the owner still exists (being deleted)
    api.patch(f"{widgets}/o", {"metadata": {"finalizers": None}})
    assert api.get(f"{PODS}/p").status_code == 404
