"""Discovery documents, CRDs becoming discoverable, and the version endpoint."""

from __future__ import annotations

from typing import Any

from emulator_helpers import WIDGET_CRD, Api, widget


def resources(api: Api, path: str) -> dict[str, dict[str, Any]]:
    body = api.get(path).json()
    assert body["kind"] == "APIResourceList"
    return {entry["name"]: entry for entry in body["resources"]}


def test_core_api(api: Api) -> None:
    assert api.get("/api").json()["versions"] == ["v1"]
    body = api.get("/api/v1").json()
    assert body["groupVersion"] == "v1"
    names = resources(api, "/api/v1")
    for name in (
        "namespaces",
        "pods",
        "pods/log",
        "pods/status",
        "events",
        "configmaps",
        "secrets",
        "serviceaccounts",
    ):
        assert name in names
    assert names["pods"]["kind"] == "Pod" and names["pods"]["namespaced"] is True
    assert names["namespaces"]["namespaced"] is False
    assert "watch" in names["pods"]["verbs"] and names["pods/log"]["verbs"] == ["get"]


def test_groups(api: Api) -> None:
    rsp = api.get("/apis")
    assert rsp.headers["Content-Type"].startswith("application/json")
    groups = {group["name"]: group for group in rsp.json()["groups"]}
    for name in ("batch", "apiextensions.k8s.io", "events.k8s.io", "coordination.k8s.io"):
        assert groups[name]["preferredVersion"] == {"groupVersion": f"{name}/v1", "version": "v1"}
    assert api.get("/apis/batch").json()["kind"] == "APIGroup"
    assert {"jobs", "jobs/status"} <= set(resources(api, "/apis/batch/v1"))
    assert "customresourcedefinitions" in resources(api, "/apis/apiextensions.k8s.io/v1")
    assert "events" in resources(api, "/apis/events.k8s.io/v1")
    assert "leases" in resources(api, "/apis/coordination.k8s.io/v1")
    assert api.get("/apis/nope.io/v1").status_code == 404
    assert api.get("/version").json()["major"] == "1"


def test_aggregated_discovery_request_gets_plain_json(api: Api) -> None:
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
    )
    rsp = api.get("/apis", headers={"Accept": accept})
    assert rsp.headers["Content-Type"] == "application/json"  # no g=/v=/as= parameters
    assert rsp.json()["kind"] == "APIGroupList"


def test_crd_becomes_discoverable_and_served(api: Api) -> None:
    assert api.get("/apis/example.com/v1").status_code == 404
    rsp = api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", WIDGET_CRD)
    assert rsp.status_code == 201
    conditions = {c["type"]: c["status"] for c in rsp.json()["status"]["conditions"]}
    assert conditions == {"Established": "True", "NamesAccepted": "True"}
    assert "example.com" in {group["name"] for group in api.get("/apis").json()["groups"]}
    entries = resources(api, "/apis/example.com/v1")
    assert entries["widgets"]["kind"] == "Widget"
    assert entries["widgets"]["shortNames"] == ["wd"]
    assert entries["widgets"]["namespaced"] is True
    assert entries["widgets"]["singularName"] == "widget"
    assert "widgets/status" in entries
    assert api.post("/apis/example.com/v1/namespaces/default/widgets", widget("w")).status_code == 201

    crd_path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    assert api.delete(crd_path).status_code == 200
    assert api.get("/apis/example.com/v1").status_code == 404
    assert api.get("/apis/example.com/v1/namespaces/default/widgets").status_code == 404


def test_cluster_scoped_crd(api: Api) -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Cluster",
            "names": {"plural": "gadgets", "kind": "Gadget"},
            "versions": [
                {"name": "v1beta1", "served": True, "storage": False},
                {"name": "v1", "served": True, "storage": True},
            ],
        },
    }
    api.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)
    group = api.get("/apis/example.com").json()
    assert group["preferredVersion"]["version"] == "v1"
    assert resources(api, "/apis/example.com/v1beta1")["gadgets"]["namespaced"] is False
    body = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    assert api.post("/apis/example.com/v1/gadgets", body).status_code == 201
    # The same object through another served version (no conversion, only the apiVersion differs).
    assert api.get("/apis/example.com/v1beta1/gadgets/g").json()["apiVersion"] == "example.com/v1beta1"
