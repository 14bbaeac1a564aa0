"""``punctual sandbox`` as a user runs it: a process, driven with the real kubectl (and ``kubectl sj``).

It must print its banner, serve kubectl, run the example on schedule, and on Ctrl-C (SIGINT) exit 0
promptly, say "sandbox stopped", remove its temporary folder and leave no process behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from integration_support import ROOT
from punctual_testing import wait_for

BIN = ROOT / ".venv" / "bin"
PUNCTUAL, KUBECTL, PLUGIN = BIN / "punctual", BIN / "kubectl", BIN / "kubectl-sj"

pytestmark = pytest.mark.skipif(
    not (PUNCTUAL.exists() and KUBECTL.exists()), reason="punctual and kubectl must be in the venv"
)


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            continue
    return found


def test_the_sandbox_process_serves_kubectl_and_stops_cleanly(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    config = tmp_path / "kubeconfig"
    env = {**os.environ, "TMPDIR": str(temp), "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("KUBECONFIG", None)
    command = [
        str(PUNCTUAL),
        "sandbox",
        "--kubeconfig-out",
        str(config),
        "-f",
        "examples/heartbeat.yaml",
        "--for",
        "60s",
    ]
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Stop with Ctrl-C" in line for line in lines), 30, what="the banner")
        banner = "".join(lines)
        assert f"kubeconfig: {config}" in banner and "applied: heartbeat" in banner
        assert config.exists()
        assert [p.name for p in temp.iterdir() if p.name.startswith("punctual-sandbox-")], "no work folder made"

        def kubectl(*args: str, plugin: bool = False) -> str:
            argv = [str(KUBECTL), "sj", *args] if plugin else [str(KUBECTL), "--kubeconfig", str(config), *args]
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=60, env={**env, "KUBECONFIG": str(config)}
            )
            assert done.returncode == 0, f"{argv}: {done.stderr}"
            return done.stdout

        assert "heartbeat" in kubectl("get", "sj")

        def a_run_recorded() -> bool:
            body = json.loads(kubectl("get", "sj", "heartbeat", "-o", "json"))
            return any(r["result"] == "Succeeded" for r in (body.get("status") or {}).get("history") or [])

        wait_for(a_run_recorded, 30, interval=0.5, what="a heartbeat run in status.history")
        jobs = kubectl("get", "jobs", "-o", "name").split()
        assert jobs and all(j.startswith("job.batch/heartbeat-") for j in jobs)
        if PLUGIN.exists():
            listing = kubectl("list", plugin=True)
            assert "heartbeat" in listing, listing
        assert children(proc.pid) == set(), "the sandbox runs in one process"

        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
        assert time.monotonic() - started < 20
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
        reader.join(5)
        proc.stdout.close()  # type: ignore[union-attr]
    log = (tmp_path / "stderr.log").read_text()
    assert code == 0, log[-3000:]
    assert "sandbox stopped" in "".join(lines)
    assert not [p for p in temp.iterdir() if p.name.startswith("punctual-sandbox-")], "the work folder was left"
    assert config.exists(), "the kubeconfig it was asked to keep is gone"
    assert "Traceback" not in log, log[-3000:]
