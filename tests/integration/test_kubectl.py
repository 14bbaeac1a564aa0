"""What a user does with the real kubectl binary: apply the CRD and an example, read the status.

Here the emulator starts empty (no CRD): kubectl installs it, as on a fresh cluster.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_support import ROOT, JobScript, OperatorFactory, TestClock, records
from punctual_testing import CRD_PATH, wait_for

from kube_emulator import Emulator, JobController

KUBECTL = ROOT / ".venv" / "bin" / "kubectl"

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="the kubectl binary is not in the venv")


@pytest.fixture
def emulator(script: JobScript, clock: TestClock) -> Iterator[Emulator]:
    with Emulator(controllers=[JobController(scenario=script)], clock=clock) as emu:
        yield emu


def kubectl(kubeconfig: Path, *args: str) -> str:
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_kubectl_applies_the_crd_and_an_example_and_reads_the_status(
    emulator: Emulator, operator: OperatorFactory, tmp_path: Path
) -> None:
    config = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    assert "created" in kubectl(config, "apply", "-f", str(CRD_PATH))
    assert "created" in kubectl(config, "apply", "-f", str(ROOT / "examples" / "heartbeat.yaml"))
    operator()

    wait_for(lambda: records(emulator, "heartbeat", "Succeeded"), 25, what="a heartbeat run (every 10 s)")
    assert kubectl(config, "get", "sj", "heartbeat", "-o", "jsonpath={.status.lastResult}") == "Succeeded"
    ready = kubectl(config, "get", "sj", "heartbeat", "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
    assert ready == "True"
    body = json.loads(kubectl(config, "get", "scheduledjobs.punctual.dev", "heartbeat", "-o", "json"))
    assert body["status"]["history"][0]["job"].startswith("heartbeat-")
    table = kubectl(config, "get", "sj")
    assert table.splitlines()[0].split()[0] == "NAME" and "heartbeat" in table
    jobs = kubectl(config, "get", "jobs", "-l", "punctual.dev/scheduledjob=heartbeat", "-o", "name").split()
    assert jobs and all(j.startswith("job.batch/heartbeat-") for j in jobs)
    # kubectl apply again: unchanged, and the operator's status survives it.
    assert "unchanged" in kubectl(config, "apply", "-f", str(ROOT / "examples" / "heartbeat.yaml"))
    assert kubectl(config, "get", "sj", "heartbeat", "-o", "jsonpath={.status.lastResult}") == "Succeeded"
