"""Fixtures for the emulator tests: a running emulator, an HTTP client, a kubeconfig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator_helpers import WIDGET_CRD, WIDGETS, Api

from kube_emulator import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=42) as emu:
        yield emu


@pytest.fixture
def api(emulator: Emulator) -> Iterator[Api]:
    client = Api(emulator.url)
    yield client
    client.close()


@pytest.fixture
def widgets(emulator: Emulator) -> str:
    """Install the test CRD; return the namespaced collection path of widgets in "default"."""
    emulator.install_crd(WIDGET_CRD)
    return WIDGETS


@pytest.fixture
def kubeconfig(emulator: Emulator, tmp_path: Path) -> Path:
    return emulator.write_kubeconfig(tmp_path / "kubeconfig")
