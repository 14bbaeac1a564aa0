"""What the UI's browser tests share (tests/ui against the sandbox, tests/realserver against a real
API server): ``kubectl sj ui`` as its own process, and Debian's chromium driven by Playwright.

Playwright launches the system ``chromium`` (``executable_path``; no browser is downloaded). Without
it the tests skip, and fail under ``PUNCTUAL_REQUIRE_TOOLS=1`` (CI, where ``.ci/run`` installs it).
Screenshots go to ``test-artifacts/ui/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from punctual_testing import wait_for

ROOT = Path(__file__).resolve().parents[2]
KUBECTL_SJ = ROOT / ".venv" / "bin" / "kubectl-sj"
ARTIFACTS = ROOT / "test-artifacts" / "ui"


def chromium_path() -> str:
    """The system chromium; skips the caller without it (fails under PUNCTUAL_REQUIRE_TOOLS=1)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "the UI's browser tests need chromium (apt-get install -y chromium; .ci/run does)"
        if os.environ.get("PUNCTUAL_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + " (PUNCTUAL_REQUIRE_TOOLS=1)", pytrace=False)
        pytest.skip(reason)
    return found


@contextmanager
def chromium() -> Iterator[Any]:
    """A Playwright browser on the system chromium, closed afterwards."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's own sandbox refuses to start.
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class UiProcess:
    """``kubectl sj ui --port 0`` as a user starts it; ``url`` is what it printed."""

    def __init__(self, *args: str, kubeconfig: Path, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [str(KUBECTL_SJ), "ui", "--port", "0", *args],
            env={**os.environ, **(env or {}), "KUBECONFIG": str(kubeconfig)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = wait_for(self._announced, 30, what="kubectl sj ui to print its URL")
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        self.url = match.group(1)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in iter(self.proc.stdout.readline, ""):
            self.output.append(line)

    def _announced(self) -> str | None:
        if self.proc.poll() is not None and not self.output:
            raise AssertionError(f"kubectl sj ui exited with {self.proc.returncode}")
        return next((line for line in self.output if "Punctual UI at" in line), None)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> UiProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
