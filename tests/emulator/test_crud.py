"""CRUD semantics of the emulated API over real HTTP."""

from __future__ import annotations

from emulator_helpers import WIDGETS, Api, widget

from kube_emulator import Emulator


def test_create_stamps_server_fields_and_answers_201(api: Api, widgets: str) -> None:
    rsp = api.post(widgets, widget("w1", color="red"))
    assert rsp.status_code == 201
    obj = rsp.json()
    meta = obj["metadata"]
    assert meta["name"] == "w1"
    assert meta["namespace"] == "default"  # from the URL
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    assert obj["spec"] == {"color": "red", "size": 3, "nested": {"depth": 1}}  # CRD defaults


def test_resource_versions_grow_globally(api: Api, widgets: str) -> None:
    rv1 = int(api.post(widgets, widget("a")).json()["metadata"]["resourceVersion"])
    rv2 = int(
        api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}}).json()["metadata"][
            "resourceVersion"
        ]
    )
    rv3 = int(api.patch(f"{widgets}/a", {"spec": {"size": 5}}).json()["metadata"]["resourceVersion"])
    assert rv1 < rv2 < rv3


def test_generate_name(api: Api, widgets: str) -> None:
    rsp = api.post(widgets, {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"generateName": "w-"}})
    assert rsp.status_code == 201
    name = rsp.json()["metadata"]["name"]
    assert name.startswith("w-") and len(name) == len("w-") + 5


def test_namespace_comes_from_url(api: Api, widgets: str) -> None:
    rsp = api.post("/apis/example.com/v1/namespaces/other/widgets", widget("w"))
    assert rsp.json()["metadata"]["namespace"] == "other"
    body = widget("w2")
    body["metadata"]["namespace"] = "default"
    assert api.post("/apis/example.com/v1/namespaces/other/widgets", body).status_code == 400


def test_duplicate_create_is_409_already_exists(api: Api, widgets: str) -> None:
    assert api.post(widgets, widget("w1")).status_code == 201
    rsp = api.post(widgets, widget("w1"))
    assert rsp.status_code == 409
    status = rsp.json()
    assert status["kind"] == "Status" and status["reason"] == "AlreadyExists" and status["code"] == 409
    assert status["details"] == {"name": "w1", "group": "example.com", "kind": "widgets"}


def test_missing_object_is_404_with_status(api: Api, widgets: str) -> None:
    rsp = api.get(f"{widgets}/nope")
    assert rsp.status_code == 404
    status = rsp.json()
    assert status["apiVersion"] == "v1" and status["kind"] == "Status" and status["status"] == "Failure"
    assert status["reason"] == "NotFound" and status["message"] == 'widgets.example.com "nope" not found'
    assert api.get("/apis/unknown.io/v1/namespaces/default/things").status_code == 404


def test_put_replaces_and_keeps_system_fields(api: Api, widgets: str) -> None:
    created = api.post(widgets, widget("w", color="red")).json()
    body = widget("w", color="blue")
    body["metadata"]["labels"] = {"a": "b"}
    rsp = api.put(f"{widgets}/w", body)
    assert rsp.status_code == 200
    obj = rsp.json()
    assert obj["spec"] == {"color": "blue"}  # no defaults on update: replaced wholesale
    assert obj["metadata"]["labels"] == {"a": "b"}
    assert obj["metadata"]["uid"] == created["metadata"]["uid"]
    assert obj["metadata"]["creationTimestamp"] == created["metadata"]["creationTimestamp"]
    assert obj["metadata"]["generation"] == 2


def test_patch_types(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w", color="red", tags=["a"]))
    obj = api.patch(f"{widgets}/w", {"spec": {"color": None, "size": 7}}, kind="merge").json()
    assert obj["spec"] == {"size": 7, "tags": ["a"], "nested": {"depth": 1}}
    obj = api.patch(f"{widgets}/w", {"spec": {"tags": ["b"]}}, kind="strategic").json()
    assert obj["spec"]["tags"] == ["b"]  # strategic is treated as merge: lists are replaced
    ops = [
        {"op": "add", "path": "/spec/tags/-", "value": "c"},
        {"op": "replace", "path": "/spec/size", "value": 9},
        {"op": "add", "path": "/metadata/labels", "value": {"x": "y"}},
    ]
    obj = api.patch(f"{widgets}/w", ops, kind="json").json()
    assert obj["spec"]["tags"] == ["b", "c"] and obj["spec"]["size"] == 9
    assert obj["metadata"]["labels"] == {"x": "y"}
    assert api.patch(f"{widgets}/w", [{"op": "test", "path": "/spec/size", "value": 1}], kind="json").status_code == 422
    assert api.patch(f"{widgets}/missing", {"spec": {}}).status_code == 404


def test_stale_resource_version_conflicts(api: Api, widgets: str) -> None:
    created = api.post(widgets, widget("w")).json()
    old_rv = created["metadata"]["resourceVersion"]
    api.patch(f"{widgets}/w", {"spec": {"size": 1}})
    stale = api.patch(f"{widgets}/w", {"metadata": {"resourceVersion": old_rv}, "spec": {"size": 2}})
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"
    body = {**created, "spec": {"size": 3}}
    assert api.put(f"{widgets}/w", body).status_code == 409
    fresh = api.get(f"{widgets}/w").json()
    assert api.put(f"{widgets}/w", {**fresh, "spec": {"size": 4}}).status_code == 200
    assert api.patch(f"{widgets}/w/status", {"metadata": {"resourceVersion": old_rv}, "status": {}}).status_code == 409


def test_generation_bumps_on_spec_changes_only(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w"))
    assert api.patch(f"{widgets}/w", {"metadata": {"labels": {"a": "b"}}}).json()["metadata"]["generation"] == 1
    assert api.patch(f"{widgets}/w/status", {"status": {"ok": True}}).json()["metadata"]["generation"] == 1
    assert api.patch(f"{widgets}/w", {"spec": {"size": 10}}).json()["metadata"]["generation"] == 2


def test_noop_patch_keeps_the_resource_version(api: Api, widgets: str) -> None:
    rv = api.post(widgets, widget("w", size=1)).json()["metadata"]["resourceVersion"]
    assert api.patch(f"{widgets}/w", {"spec": {"size": 1}}).json()["metadata"]["resourceVersion"] == rv


def test_status_subresource_is_isolated(api: Api, widgets: str) -> None:
    body = widget("w", size=1)
    body["status"] = {"phase": "ignored on create"}
    assert "status" not in api.post(widgets, body).json()
    obj = api.patch(f"{widgets}/w", {"spec": {"size": 2}, "status": {"phase": "ignored"}}).json()
    assert "status" not in obj and obj["spec"]["size"] == 2
    obj = api.patch(f"{widgets}/w/status", {"spec": {"size": 99}, "status": {"phase": "Ready"}}).json()
    assert obj["status"] == {"phase": "Ready"} and obj["spec"]["size"] == 2
    obj = api.put(f"{widgets}/w", {**obj, "status": {"phase": "overwritten?"}}).json()
    assert obj["status"] == {"phase": "Ready"}
    obj = api.put(f"{widgets}/w/status", {**obj, "status": {"phase": "Done"}, "spec": {"size": 0}}).json()
    assert obj["status"] == {"phase": "Done"} and obj["spec"]["size"] == 2
    assert api.get(f"{widgets}/w/status").json()["status"] == {"phase": "Done"}


def test_builtin_job_status_is_isolated(api: Api) -> None:
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {"template": {"spec": {}}},
    }
    api.post(jobs, {**job, "status": {"succeeded": 1}})
    assert api.get(f"{jobs}/j").json()["status"] == {}
    api.patch(f"{jobs}/j", {"status": {"succeeded": 1}})
    assert api.get(f"{jobs}/j").json()["status"] == {}
    api.patch(f"{jobs}/j/status", {"status": {"succeeded": 1}})
    assert api.get(f"{jobs}/j").json()["status"] == {"succeeded": 1}


def test_delete_without_finalizers_removes_at_once(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w"))
    rsp = api.delete(f"{widgets}/w")
    assert rsp.status_code == 200 and rsp.json()["metadata"]["name"] == "w"
    assert api.get(f"{widgets}/w").status_code == 404
    assert api.delete(f"{widgets}/w").status_code == 404


def test_delete_with_finalizers_waits_for_them(api: Api, widgets: str) -> None:
    body = widget("w")
    body["metadata"]["finalizers"] = ["example.com/keep"]
    api.post(widgets, body)
    marked = api.delete(f"{widgets}/w").json()
    assert marked["metadata"]["deletionTimestamp"]
    assert api.get(f"{widgets}/w").json()["metadata"]["deletionTimestamp"] == marked["metadata"]["deletionTimestamp"]
    assert api.delete(f"{widgets}/w").status_code == 200  # deleting again changes nothing
    assert api.patch(f"{widgets}/w", {"metadata": {"finalizers": None}}).status_code == 200
    assert api.get(f"{widgets}/w").status_code == 404


def test_delete_preconditions(api: Api, widgets: str) -> None:
    api.post(widgets, widget("w"))
    rsp = api.delete(f"{widgets}/w", {"preconditions": {"uid": "wrong"}})
    assert rsp.status_code == 409


def test_list_body_has_kind_and_resource_version(api: Api, widgets: str) -> None:
    api.post(widgets, widget("b"))
    api.post(widgets, widget("a"))
    body = api.get(widgets).json()
    assert body["kind"] == "WidgetList" and body["apiVersion"] == "example.com/v1"
    assert int(body["metadata"]["resourceVersion"]) >= 2
    assert [item["metadata"]["name"] for item in body["items"]] == ["a", "b"]


def test_cluster_wide_and_namespaced_lists(api: Api, widgets: str) -> None:
    api.post(widgets, widget("a"))
    api.post("/apis/example.com/v1/namespaces/other/widgets", widget("b"))
    everywhere = api.get("/apis/example.com/v1/widgets").json()["items"]
    assert sorted((o["metadata"]["namespace"], o["metadata"]["name"]) for o in everywhere) == [
        ("default", "a"),
        ("other", "b"),
    ]
    assert [o["metadata"]["name"] for o in api.get(widgets).json()["items"]] == ["a"]


def test_label_selectors(api: Api, widgets: str) -> None:
    for name, labels in [("a", {"app": "x", "tier": "web"}), ("b", {"app": "y"}), ("c", {})]:
        body = widget(name)
        body["metadata"]["labels"] = labels
        api.post(widgets, body)

    def names(selector: str) -> list[str]:
        rsp = api.get(widgets, params={"labelSelector": selector})
        return [o["metadata"]["name"] for o in rsp.json()["items"]]

    assert names("app=x") == ["a"]
    assert names("app==y") == ["b"]
    assert names("app!=x") == ["b", "c"]
    assert names("app") == ["a", "b"]
    assert names("!app") == ["c"]
    assert names("app in (x,y)") == ["a", "b"]
    assert names("app notin (x)") == ["b", "c"]
    assert names("app in (x,y),tier") == ["a"]
    assert api.get(widgets, params={"labelSelector": "a b c"}).status_code == 400


def test_field_selectors(api: Api, widgets: str) -> None:
    api.post(widgets, widget("a"))
    api.post("/apis/example.com/v1/namespaces/other/widgets", widget("a"))
    api.post(widgets, widget("b"))
    rsp = api.get("/apis/example.com/v1/widgets", params={"fieldSelector": "metadata.namespace=other"})
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in rsp.json()["items"]] == [("other", "a")]
    rsp = api.get(widgets, params={"fieldSelector": "metadata.name=b"})
    assert [o["metadata"]["name"] for o in rsp.json()["items"]] == ["b"]
    rsp = api.get(widgets, params={"fieldSelector": "metadata.name!=b"})
    assert [o["metadata"]["name"] for o in rsp.json()["items"]] == ["a"]


def test_pagination(api: Api, widgets: str) -> None:
    for index in range(5):
        api.post(widgets, widget(f"w{index}"))
    seen: list[str] = []
    params = {"limit": "2"}
    while True:
        body = api.get(widgets, params=params).json()
        seen += [o["metadata"]["name"] for o in body["items"]]
        if not body["metadata"].get("continue"):
            break
        params = {"limit": "2", "continue": body["metadata"]["continue"]}
    assert seen == [f"w{index}" for index in range(5)]


def test_namespaces(api: Api) -> None:
    names = [o["metadata"]["name"] for o in api.get("/api/v1/namespaces").json()["items"]]
    assert "default" in names
    assert api.get("/api/v1/namespaces/default").json()["status"]["phase"] == "Active"
    rsp = api.post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    assert rsp.status_code == 201
    api.post("/api/v1/namespaces/team/configmaps", {"metadata": {"name": "cm"}})
    assert api.delete("/api/v1/namespaces/team").status_code == 200
    assert api.get("/api/v1/namespaces/team/configmaps/cm").status_code == 404


def test_deletecollection(api: Api, widgets: str) -> None:
    for name in ("a", "b"):
        body = widget(name)
        body["metadata"]["labels"] = {"app": name}
        api.post(widgets, body)
    assert api.delete(widgets, params={"labelSelector": "app=a"}).status_code == 200
    assert [o["metadata"]["name"] for o in api.get(widgets).json()["items"]] == ["b"]


def test_events_are_stored_and_listed(api: Api) -> None:
    core = {"metadata": {"name": "e1"}, "reason": "Created", "message": "hi", "involvedObject": {"name": "x"}}
    assert api.post("/api/v1/namespaces/default/events", core).status_code == 201
    new = {"metadata": {"name": "e2"}, "reason": "Created", "note": "hi", "regarding": {"name": "x"}}
    assert api.post("/apis/events.k8s.io/v1/namespaces/default/events", new).status_code == 201
    assert [o["reason"] for o in api.get("/api/v1/events").json()["items"]] == ["Created"]
    listed = api.get("/apis/events.k8s.io/v1/namespaces/default/events").json()
    assert listed["kind"] == "EventList" and [o["note"] for o in listed["items"]] == ["hi"]


def test_python_helpers(emulator: Emulator, widgets: str) -> None:
    created = emulator.create(widget("w", size=1) | {"metadata": {"name": "w", "namespace": "default"}})
    assert created["metadata"]["uid"]
    assert emulator.get("example.com/v1", "Widget", "w", namespace="default")["spec"]["size"] == 1
    assert emulator.get("example.com/v1", "wd", "w", namespace="default")["spec"]["size"] == 1
    emulator.patch("example.com/v1", "widgets", "w", {"spec": {"size": 2}}, namespace="default")
    emulator.patch_status("example.com/v1", "widgets", "w", {"ok": True}, namespace="default")
    obj = emulator.get("example.com/v1", "widget", "w", namespace="default")
    assert obj["spec"]["size"] == 2 and obj["status"] == {"ok": True}
    assert [o["metadata"]["name"] for o in emulator.list("example.com/v1", "widgets")] == ["w"]
    emulator.delete("example.com/v1", "widgets", "w", namespace="default")
    assert emulator.get_or_none("example.com/v1", "widgets", "w", namespace="default") is None
    assert emulator.verb_counts == {}  # helpers do not go through HTTP
    assert WIDGETS.endswith("/widgets")
