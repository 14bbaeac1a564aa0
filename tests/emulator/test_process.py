"""The emulator on an existing event loop (AsyncEmulator) and as its own process (the CLI)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import aiohttp

from kube_emulator import AsyncEmulator, JobController


def test_async_emulator_in_the_current_loop() -> None:
    # Not a pytest-asyncio test: looptime's plugin leaves an implicit loop behind in sync tests,
    # which pytest-asyncio then drops unclosed (a ResourceWarning, i.e. an error here). A runner
    # with a loop factory does not touch the thread's current loop.
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(_async_emulator_in_the_current_loop())


async def _async_emulator_in_the_current_loop() -> None:
    async with AsyncEmulator(controllers=[JobController(default_duration=0.05)]) as emulator:
        async with aiohttp.ClientSession(emulator.url) as session:
            async with session.get("/api/v1/namespaces/default") as rsp:
                assert rsp.status == 200
            job = {"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
            async with session.post("/apis/batch/v1/namespaces/default/jobs", json=job) as rsp:
                assert rsp.status == 201
        # The helpers are synchronous and run directly: we are on the emulator's loop.
        assert emulator.get("batch/v1", "Job", "j", namespace="default")["metadata"]["name"] == "j"
        controller = emulator.controllers[0]
        assert isinstance(controller, JobController)
        for _ in range(100):
            if emulator.get("batch/v1", "jobs", "j", namespace="default")["status"].get("succeeded"):
                break
            await asyncio.sleep(0.02)
        assert emulator.get("batch/v1", "jobs", "j", namespace="default")["status"]["succeeded"] == 1
        assert emulator.api_writes >= 1


def test_runs_as_its_own_process(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    module = "kube_emulator.emulator"
    cmd = [sys.executable, "-m", module, "--port", "0", "--kubeconfig-out", str(kubeconfig), "--jobs"]
    process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        config = json.loads(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == url
        with urllib.request.urlopen(f"{url}/api/v1/namespaces/default", timeout=5) as rsp:
            assert json.load(rsp)["metadata"]["name"] == "default"
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        if process.stdout is not None:
            process.stdout.close()
