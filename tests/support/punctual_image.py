"""The operator's container image for tests: build it with ``.ci/image.sh`` and run it the way a
pod runs it, against an API server on this machine.

:func:`build_image` runs ``.ci/image.sh`` (buildah, from the unmodified Dockerfile; the stand-in
base image is cached) once per test session and returns the image reference.
:func:`run_operator_container` starts that image with podman as a Deployment's pod would: read-only
root file system, user and group 65532, the service account's ``token``, ``ca.crt`` and
``namespace`` mounted read-only at ``/var/run/secrets/kubernetes.io/serviceaccount``,
``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` set (so ``punctual run`` takes the
in-cluster path), no capabilities, no tmpfs (the operator writes nothing), and the host's network
(the test API server listens on 127.0.0.1).

Every podman and buildah call goes through :func:`container_env`, which points ``CONTAINERS_CONF``
and ``CONTAINERS_STORAGE_CONF`` at ``.ci/containers.conf`` and ``.ci/storage.conf``: the script and
the tests see the same store. Without buildah or podman the callers are skipped, or failed under
``PUNCTUAL_REQUIRE_TOOLS=1`` (CI).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import pytest

__all__ = [
    "CONTAINERS_CONF",
    "IMAGE_SCRIPT",
    "SERVICE_ACCOUNT_DIR",
    "STORAGE_CONF",
    "OperatorContainer",
    "build_image",
    "container_env",
    "podman",
    "require_container_tools",
    "run_operator_container",
]

REPO = Path(__file__).resolve().parents[2]
IMAGE_SCRIPT = REPO / ".ci" / "image.sh"
CONTAINERS_CONF = REPO / ".ci" / "containers.conf"
STORAGE_CONF = REPO / ".ci" / "storage.conf"
SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
UID = GID = 65532
# No tmpfs at all (``--read-only-tmpfs=false``; podman would add /tmp, /var/tmp and /run): `punctual
# run` writes no file. Checked against a real kube-apiserver: a writable container that started Jobs
# for a minute showed in `podman diff` only podman's own /etc/passwd and /etc/group entries for
# 65532 and the secrets mount point, and the read-only one without /tmp ran the same. (The chart's
# /tmp emptyDir is for whatever a user adds; the operator does not need it.)


def container_env() -> dict[str, str]:
    """The environment for buildah and podman: this process's, with the CI's two config files."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), "CONTAINERS_STORAGE_CONF": str(STORAGE_CONF)}


def _missing_reason() -> str | None:
    missing = [tool for tool in ("buildah", "podman") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not on PATH; run .ci/image.sh as root (it installs them from apt)"
    if os.geteuid() != 0:
        return ".ci/image.sh and the CI container store (.ci/storage.conf) need root"
    return None


def require_container_tools() -> None:
    """Skip the caller when buildah/podman (or root) are missing; fail under PUNCTUAL_REQUIRE_TOOLS=1."""
    reason = _missing_reason()
    if reason is None:
        return
    if os.environ.get("PUNCTUAL_REQUIRE_TOOLS") == "1":
        pytest.fail(reason + " (PUNCTUAL_REQUIRE_TOOLS=1)", pytrace=False)
    pytest.skip(reason)


def podman(*args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    """``podman ARGS`` with :func:`container_env`, output captured as text."""
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=container_env(), timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(args)} exited {done.returncode}: {done.stderr.strip()}")
    return done


@functools.cache
def _build() -> str:
    done = subprocess.run(
        ["bash", str(IMAGE_SCRIPT)], capture_output=True, text=True, env=container_env(), timeout=1800, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f".ci/image.sh exited {done.returncode}:\n{done.stderr[-4000:]}")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise RuntimeError(f".ci/image.sh printed no image reference:\n{done.stderr[-4000:]}")
    return lines[-1].strip()


def build_image() -> str:
    """Build the image with ``.ci/image.sh`` (once per process) and return its reference, e.g.
    ``localhost/punctual:ci``. Skips (fails under PUNCTUAL_REQUIRE_TOOLS=1) without buildah/podman;
    raises RuntimeError with the script's output when the build fails."""
    require_container_tools()
    return _build()


class OperatorContainer:
    """A running operator container; :meth:`stop` removes it and its mounted secrets folder."""

    def __init__(self, name: str, image: str, secrets_dir: Path) -> None:
        self.name = name
        self.image = image
        self._secrets_dir = secrets_dir
        self._stopped = False

    def logs(self) -> str:
        """Everything the container printed so far (stdout and stderr, interleaved)."""
        done = podman("logs", self.name)
        return done.stdout + done.stderr

    def running(self) -> bool:
        done = podman("container", "inspect", "--format", "{{.State.Running}}", self.name)
        return done.returncode == 0 and done.stdout.strip() == "true"

    def exit_code(self) -> int | None:
        """The exit code once the container has exited, else None."""
        done = podman("container", "inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", self.name)
        status, _, code = done.stdout.strip().partition(" ")
        return int(code) if done.returncode == 0 and status in ("exited", "stopped") else None

    def wait_for_log(self, text: str, timeout: float = 60.0) -> str:
        """The logs once they contain ``text``; AssertionError (with the logs) after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            logs = self.logs()
            if text in logs:
                return logs
            if time.monotonic() > deadline or self.exit_code() is not None:
                raise AssertionError(f"{text!r} not in the logs of {self.name} after {timeout}s:\n{logs[-4000:]}")
            time.sleep(0.5)

    def stop(self, timeout: int = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` s; remove the container and the secrets. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            podman("rm", "--force", "--time", str(timeout), self.name, timeout=timeout + 60)
        finally:
            shutil.rmtree(self._secrets_dir, ignore_errors=True)

    def __enter__(self) -> OperatorContainer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_operator_container(
    image: str,
    *,
    server_url: str,
    token: str,
    ca_pem: str,
    namespace: str = "default",
    env: Mapping[str, str] | None = None,
    name: str = "punctual-operator",
    args: tuple[str, ...] = (),
    command: tuple[str, ...] | None = None,
    tmpfs: tuple[str, ...] = (),
) -> OperatorContainer:
    """Start ``image`` (its entrypoint, ``punctual run``, plus ``args``) in the background as a
    pod of the service account whose ``token`` and ``ca_pem`` are given would run, talking to
    ``server_url`` (``https://127.0.0.1:PORT``). ``env`` adds variables (``PUNCTUAL_*``).
    ``command`` replaces the entrypoint, as a container's ``command`` does (the chart's UI runs
    ``kubectl-sj``); ``tmpfs`` are writable folders, as the chart's ``emptyDir`` volumes.
    The container is named ``<name>-<random>``; stop it with :meth:`OperatorContainer.stop`
    (or use the handle as a context manager)."""
    require_container_tools()
    url = urlsplit(server_url)
    if url.scheme != "https" or not url.hostname:
        raise ValueError(f"in-cluster clients speak https to a host and port, not {server_url!r}")
    port = url.port or 443
    secrets = Path(tempfile.mkdtemp(prefix="punctual-sa-"))
    secrets.chmod(0o755)
    for filename, content in (("token", token), ("ca.crt", ca_pem), ("namespace", namespace)):
        (secrets / filename).write_text(content)
        (secrets / filename).chmod(0o644)
    container = f"{name}-{uuid.uuid4().hex[:10]}"
    command = [
        "run", "--detach", "--pull=never", "--name", container,
        "--read-only", "--read-only-tmpfs=false",
        "--user", f"{UID}:{GID}", "--network", "host",
        "--cap-drop", "all", "--security-opt", "no-new-privileges",
        "--volume", f"{secrets}:{SERVICE_ACCOUNT_DIR}:ro",
        "--env", f"KUBERNETES_SERVICE_HOST={url.hostname}",
        "--env", f"KUBERNETES_SERVICE_PORT={port}",
        *[arg for key, value in (env or {}).items() for arg in ("--env", f"{key}={value}")],
        *[arg for folder in tmpfs for arg in ("--tmpfs", f"{folder}:rw,nosuid,nodev,mode=1777")],
        *(["--entrypoint", json.dumps(list(command))] if command is not None else []),
        image, *args,
    ]  # fmt: skip
    done = podman(*command)
    if done.returncode != 0:
        podman("rm", "--force", container)
        shutil.rmtree(secrets, ignore_errors=True)
        raise RuntimeError(f"podman run {container} exited {done.returncode}: {done.stderr.strip()}")
    return OperatorContainer(container, image, secrets)
