"""What several test tiers share: the repository's CRD, the Kubernetes docs' CronJob example, polling,
and the real operator serving on its own event loop in a thread.

On ``sys.path`` through pytest's ``pythonpath`` setting (``pyproject.toml``), so a test imports it
as ``punctual_testing`` from any folder, as it imports its own folder's ``*_support`` module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CRD_PATH",
    "REPO_ROOT",
    "cronjob_example",
    "load_crd",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = REPO_ROOT / "crds" / "scheduledjobs.punctual.dev.yaml"

# The example of https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/
# (application/job/cronjob.yaml), as the docs print it.
_CRONJOB_EXAMPLE = """
apiVersion: batch/v1
kind: CronJob
metadata:
  name: hello
spec:
  schedule: "* * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - name: hello
            image: busybox:1.28
            imagePullPolicy: IfNotPresent
            command:
            - /bin/sh
            - -c
            - date; echo Hello from the Kubernetes cluster
          restartPolicy: OnFailure
"""


def load_crd() -> dict[str, Any]:
    """The committed ScheduledJob CRD manifest, parsed afresh (callers may change their copy)."""
    crd: dict[str, Any] = yaml.safe_load(CRD_PATH.read_text())
    return crd


def cronjob_example() -> dict[str, Any]:
    """The Kubernetes docs' CronJob example, parsed afresh (callers may change their copy)."""
    example: dict[str, Any] = yaml.safe_load(_CRONJOB_EXAMPLE)
    return example
