"""Watch streams of the emulated API: resume points, timeouts, selectors, bookmarks, drops."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from emulator_helpers import Api, widget

from kube_emulator import Emulator


def events(rsp: requests.Response) -> Iterator[dict[str, Any]]:
    for line in rsp.iter_lines():
        if line:
            yield json.loads(line)


def collect(api: Api, path: str, *, until: int | None = None, **params: str) -> list[dict[str, Any]]:
    """Read a watch stream to its end (timeoutSeconds) or until ``until`` events arrived."""
    with api.session.get(api.url + path, params={"watch": "true", **params}, stream=True, timeout=10) as rsp:
        assert rsp.status_code == 200
        assert rsp.headers["Content-Type"].startswith("application/json")
        result: list[dict[str, Any]] = []
        for event in events(rsp):
            result.append(event)
            if until is not None and len(result) >= until:
                break
        return result


def summary(evs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["type"], e["object"]["metadata"].get("name", "")) for e in evs]


def test_watch_without_version_lists_current_objects_first(api: Api, widgets: str) -> None:
    api.post(widgets, widget("a"))
    api.post(widgets, widget("b"))
    assert summary(collect(api, widgets, timeoutSeconds="1")) == [("ADDED", "a"), ("ADDED", "b")]
    assert summary(collect(api, widgets, timeoutSeconds="1", resourceVersion="0")) == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]


def test_watch_from_version_does_not_replay(api: Api, widgets: str) -> None:
    api.post(widgets, widget("old"))
    api.patch(f"{widgets}/old", {"spec": {"size": 1}})
    listed = api.get(widgets).json()
    api.post(widgets, widget("new"))
    api.patch(f"{widgets}/old", {"spec": {"size": 2}})
    api.delete(f"{widgets}/new")
    evs = collect(api, widgets, timeoutSeconds="1", resourceVersion=listed["metadata"]["resourceVersion"])
    assert summary(evs) == [("ADDED", "new"), ("MODIFIED", "old"), ("DELETED", "new")]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert versions == sorted(versions) and versions[0] > int(listed["metadata"]["resourceVersion"])


def test_watch_streams_live_changes(api: Api, widgets: str) -> None:
    rv = api.get(widgets).json()["metadata"]["resourceVersion"]

    def write() -> None:
        time.sleep(0.2)
        api2 = Api(api.url)
        api2.post(widgets, widget("live"))
        api2.patch(f"{widgets}/live/status", {"status": {"phase": "Ready"}})
        api2.close()

    writer = threading.Thread(target=write)
    writer.start()
    evs = collect(api, widgets, until=2, resourceVersion=rv, timeoutSeconds="5")
    writer.join()
    assert summary(evs) == [("ADDED", "live"), ("MODIFIED", "live")]
    assert evs[1]["object"]["status"] == {"phase": "Ready"}


def test_watch_timeout_ends_the_stream(api: Api, widgets: str) -> None:
    started = time.monotonic()
    assert (
        collect(
            api,
            widgets,
            timeoutSeconds="1",
            resourceVersion=api.get(widgets).json()["metadata"]["resourceVersion"],
        )
        == []
    )
    assert 0.9 <= time.monotonic() - started < 3


@pytest.mark.parametrize("flag", ["true", "True", "1"])
def test_watch_flag_spellings(api: Api, widgets: str, flag: str) -> None:
    api.post(widgets, widget("a"))
    with api.session.get(api.url + widgets, params={"watch": flag, "timeoutSeconds": "1"}, stream=True) as rsp:
        assert summary(list(events(rsp))) == [("ADDED", "a")]


def test_watch_selectors_retype_events(api: Api, widgets: str) -> None:
    rv = api.get(widgets).json()["metadata"]["resourceVersion"]
    api.post(widgets, widget("a"))  # no labels: not seen
    api.patch(f"{widgets}/a", {"metadata": {"labels": {"app": "x"}}})  # starts matching: ADDED
    api.patch(f"{widgets}/a", {"spec": {"size": 1}})  # MODIFIED
    api.patch(f"{widgets}/a", {"metadata": {"labels": {"app": "y"}}})  # stops matching: DELETED
    api.post(widgets, widget("b"))
    evs = collect(api, widgets, timeoutSeconds="1", resourceVersion=rv, labelSelector="app=x")
    assert summary(evs) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    evs = collect(api, widgets, timeoutSeconds="1", resourceVersion=rv, fieldSelector="metadata.name=b")
    assert summary(evs) == [("ADDED", "b")]


def test_watch_namespaced_and_cluster_wide(api: Api, widgets: str) -> None:
    rv = api.get(widgets).json()["metadata"]["resourceVersion"]
    api.post(widgets, widget("here"))
    api.post("/apis/example.com/v1/namespaces/other/widgets", widget("there"))
    assert summary(collect(api, widgets, timeoutSeconds="1", resourceVersion=rv)) == [("ADDED", "here")]
    everywhere = collect(api, "/apis/example.com/v1/widgets", timeoutSeconds="1", resourceVersion=rv)
    assert summary(everywhere) == [("ADDED", "here"), ("ADDED", "there")]


def test_bookmarks_and_initial_events(emulator: Emulator, widgets: str) -> None:
    api = Api(emulator.url)
    emulator.handler.bookmark_interval = 0.2
    api.post(widgets, widget("a"))
    evs = collect(api, widgets, timeoutSeconds="1", allowWatchBookmarks="true", sendInitialEvents="true")
    assert evs[0]["type"] == "ADDED"
    assert evs[1]["type"] == "BOOKMARK"
    assert evs[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert {e["type"] for e in evs[2:]} == {"BOOKMARK"} and len(evs) >= 4
    assert evs[-1]["object"]["kind"] == "Widget"
    api.close()


def test_too_old_version_is_410_gone_in_the_stream(widgets: str, emulator: Emulator) -> None:
    api = Api(emulator.url)
    emulator.store.history_limit = 3  # the store is single-threaded; setting a number is safe
    for index in range(6):
        api.post(widgets, widget(f"w{index}"))
    evs = collect(api, widgets, resourceVersion="1", timeoutSeconds="1")
    assert [e["type"] for e in evs] == ["ERROR"] and evs[0]["object"]["code"] == 410
    api.close()


def test_drop_watches_ends_open_streams(emulator: Emulator, widgets: str) -> None:
    api = Api(emulator.url)
    result: list[list[dict[str, Any]]] = []
    reader = threading.Thread(target=lambda: result.append(collect(api, widgets, timeoutSeconds="30")))
    reader.start()
    deadline = time.monotonic() + 5
    while emulator.handler.watch_count == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    started = time.monotonic()
    assert emulator.drop_watches() == 1
    reader.join(timeout=5)
    assert not reader.is_alive() and result == [[]]
    assert time.monotonic() - started < 2
    api.close()


def test_stopping_the_emulator_ends_open_streams(widgets: str, emulator: Emulator) -> None:
    api = Api(emulator.url)
    reader = threading.Thread(target=lambda: collect(api, widgets, timeoutSeconds="60"))
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    emulator.stop()
    reader.join(timeout=5)
    assert not reader.is_alive() and time.monotonic() - started < 3
    api.close()
