"""Thousands of objects: reads stay fast (objects are indexed, not scanned)."""

from __future__ import annotations

import time

from emulator_helpers import Api

from kube_emulator import Emulator


def test_thousands_of_objects(emulator: Emulator, api: Api) -> None:
    started = time.monotonic()
    for index in range(5000):
        labels = {"i": str(index % 7)}
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm{index}", "labels": labels}}
        emulator.create(body, namespace=f"ns{index % 10}")
    assert time.monotonic() - started < 10

    started = time.monotonic()
    for index in range(0, 5000, 50):
        assert api.get(f"/api/v1/namespaces/ns{index % 10}/configmaps/cm{index}").status_code == 200
    per_get = (time.monotonic() - started) / 100
    assert per_get < 0.02, f"GET took {per_get * 1000:.1f} ms"

    started = time.monotonic()
    items = api.get("/api/v1/namespaces/ns3/configmaps").json()["items"]
    assert len(items) == 500
    assert time.monotonic() - started < 0.5

    started = time.monotonic()
    everything = api.get("/api/v1/configmaps", params={"labelSelector": "i=0"}).json()["items"]
    assert len(everything) == 715
    assert time.monotonic() - started < 1.0

    started = time.monotonic()
    assert len(api.get("/api/v1/configmaps").json()["items"]) == 5000
    assert time.monotonic() - started < 2.0
