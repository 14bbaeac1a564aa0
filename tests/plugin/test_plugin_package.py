"""The plugin as a package: its public surface, its layering, and the krew manifest and launcher."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from plugin_helpers import BIN, REPO

MODULES = ["cli", "client", "completion", "convert", "errors", "format", "objects", "runs", "slots"]


@pytest.mark.parametrize("name", MODULES)
def test_each_module_has_a_docstring_and_an_explicit_surface(name: str) -> None:
    module = importlib.import_module(f"kubectl_sj.{name}")
    assert module.__doc__ and len(module.__doc__.strip()) > 40
    assert module.__all__ and all(hasattr(module, member) for member in module.__all__)


def test_the_plugin_never_loads_the_operator_runtime() -> None:
    code = (
        "import sys, kubectl_sj.cli; "
        "bad = [m for m in sys.modules if m == 'kopf' or m.split('.')[0] == 'kopf' "
        "or m in ('punctual.runtime', 'punctual.runtime.kube', 'punctual.runtime.metrics', "
        "'punctual.runtime.scheduler') "
        "or m.startswith('punctual.runtime.') "
        "or m == 'punctual.sandbox' or m.startswith('kube_emulator')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_krew_manifest() -> None:
    manifest = yaml.safe_load((REPO / "plugins" / "krew" / "sj.yaml").read_text())
    assert manifest["apiVersion"] == "krew.googlecontainertools.github.com/v1alpha2"
    assert (manifest["kind"], manifest["metadata"]["name"]) == ("Plugin", "sj")
    spec = manifest["spec"]
    assert spec["shortDescription"] and "pip install punctual" in spec["description"]
    assert "placeholder" in spec["description"]
    platform = spec["platforms"][0]
    assert platform["bin"] == "kubectl-sj" and platform["uri"].startswith("https://")
    assert re.fullmatch(r"[0-9a-f]{64}", platform["sha256"])
    assert {f["from"] for f in platform["files"]} == {"kubectl-sj", "LICENSE"}


def test_krew_launcher_runs_the_installed_package_or_says_how_to_install(tmp_path: Path) -> None:
    launcher = REPO / "plugins" / "krew" / "kubectl-sj"
    assert os.access(launcher, os.X_OK)
    found = subprocess.run(
        [str(launcher), "completion", "bash"],
        env={"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0 and "complete -F _kubectl_sj kubectl-sj" in found.stdout
    missing = subprocess.run(
        [str(launcher), "list"], env={"PATH": str(tmp_path)}, capture_output=True, text=True, check=False
    )
    assert missing.returncode == 1 and "pip install punctual" in missing.stderr
