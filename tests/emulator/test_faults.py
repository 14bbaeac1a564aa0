"""Fault injection: seeded 500s, 429s with Retry-After, hangs; off by default."""

from __future__ import annotations

import time
from collections import Counter

import requests
from emulator_helpers import Api

from kube_emulator import Emulator, Faults

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def statuses(api: Api, count: int) -> Counter[int]:
    return Counter(api.get(CONFIGMAPS).status_code for _ in range(count))


def test_faults_are_off_by_default(api: Api) -> None:
    assert statuses(api, 50) == Counter({200: 50})


def test_error_and_throttle_rates_are_seeded(emulator: Emulator, api: Api) -> None:
    emulator.faults = Faults(error_rate=0.3, throttle_rate=0.2, seed=7)
    first = [api.get(CONFIGMAPS).status_code for _ in range(200)]
    emulator.faults = Faults(error_rate=0.3, throttle_rate=0.2, seed=7)
    second = [api.get(CONFIGMAPS).status_code for _ in range(200)]
    assert first == second  # the same seed, the same sequence
    counts = Counter(first)
    assert set(counts) == {200, 429, 500}
    assert 40 <= counts[500] <= 80 and 20 <= counts[429] <= 60
    throttled = next(r for r in (api.get(CONFIGMAPS) for _ in range(100)) if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["reason"] == "TooManyRequests"
    assert emulator.fault_counts["error"] >= counts[500]


def test_discovery_is_spared_unless_asked(emulator: Emulator, api: Api) -> None:
    emulator.faults = Faults(error_rate=1.0)
    assert api.get("/apis").status_code == 200
    assert api.get(CONFIGMAPS).status_code == 500
    emulator.faults = Faults(error_rate=1.0, include_discovery=True)
    assert api.get("/apis").status_code == 500


def test_path_pattern_narrows_faults(emulator: Emulator, api: Api) -> None:
    emulator.faults = Faults(error_rate=1.0, path_pattern="/secrets")
    assert api.get(CONFIGMAPS).status_code == 200
    assert api.get("/api/v1/namespaces/default/secrets").status_code == 500


def test_hang_until_the_client_times_out(emulator: Emulator, api: Api) -> None:
    emulator.faults = Faults(hang_rate=1.0)
    started = time.monotonic()
    try:
        api.session.get(api.url + CONFIGMAPS, timeout=0.3)
    except requests.exceptions.ReadTimeout:
        pass
    else:
        raise AssertionError("expected a client timeout")
    assert time.monotonic() - started < 2


def test_hang_for_some_seconds_then_serve(emulator: Emulator, api: Api) -> None:
    emulator.faults = Faults(hang_rate=1.0, hang_seconds=0.3)
    started = time.monotonic()
    assert api.get(CONFIGMAPS).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_kmock_reactions_override_the_emulation(emulator: Emulator, api: Api) -> None:
    emulator.handler["get /version"] << 503 << {"kind": "Status", "reason": "Custom"}
    rsp = api.get("/version")
    assert rsp.status_code == 503 and rsp.json()["reason"] == "Custom"
    assert api.get("/api").status_code == 200  # everything else is still emulated
