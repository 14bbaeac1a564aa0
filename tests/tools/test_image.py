"""The container image built from the unmodified Dockerfile (``.ci/image.sh``: buildah on a
debootstrap stand-in for the python base image) runs ``punctual`` read-only as 65532.

Skipped without buildah/podman (or root), failed under PUNCTUAL_REQUIRE_TOOLS=1 (CI, where
``.ci/run`` has already built the image, so the build here reuses every layer).
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from punctual_image import (
    SERVICE_ACCOUNT_DIR,
    build_image,
    podman,
    require_container_tools,
    run_operator_container,
)

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
pytestmark = pytest.mark.tools


@pytest.fixture(scope="module")
def image() -> str:
    return build_image()


def run_in_image(image: str, *args: str, entrypoint: str | None = None) -> tuple[int, str]:
    """``podman run --rm --read-only --user 65532:65532 IMAGE ARGS``: exit code, stdout + stderr."""
    options = ["--entrypoint", entrypoint] if entrypoint else []
    done = podman(
        "run", "--rm", "--pull=never", "--read-only", "--user", "65532:65532", "--network", "none",
        *options, image, *args,
    )  # fmt: skip
    return done.returncode, done.stdout + done.stderr


def test_help_runs_read_only_as_the_nonroot_user(image: str) -> None:
    code, output = run_in_image(image, "--help")
    assert code == 0, output
    assert output.startswith("usage: punctual run"), output


def test_image_config_is_nonroot_punctual_run(image: str) -> None:
    done = podman("image", "inspect", image, check=True)
    [info] = json.loads(done.stdout)
    config = info["Config"]
    assert config["User"] == "65532:65532"
    assert config["Entrypoint"] == ["punctual", "run"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["WorkingDir"] == "/tmp"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "punctual"
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"]
    assert labels["org.opencontainers.image.description"] == PYPROJECT["project"]["description"]
    assert {"PYTHONDONTWRITEBYTECODE=1", "PYTHONUNBUFFERED=1"} <= set(config["Env"])


def test_installed_package_is_this_checkout_without_the_wheels(image: str) -> None:
    script = (
        "import importlib.metadata as m, os, shutil; "
        "print(m.version('punctual'), os.path.exists('/wheels'), shutil.which('punctual') is not None, os.getuid())"
    )
    code, output = run_in_image(image, "-c", script, entrypoint="python3")
    assert code == 0, output
    assert output.split() == [PYPROJECT["project"]["version"], "False", "True", "65532"]


def test_operator_container_gets_the_service_account_and_is_removed(image: str) -> None:
    """The helper's pod-like run: in-cluster config from the mounted token and the service
    variables (nothing listens on port 9, so it only gets as far as announcing the server)."""
    ca = "-----BEGIN CERTIFICATE-----\nnot a real one\n-----END CERTIFICATE-----\n"
    first = run_operator_container(
        image, server_url="https://127.0.0.1:9", token="t0ken", ca_pem=ca, namespace="team-a",
        env={"PUNCTUAL_LOG_FORMAT": "text"},
    )  # fmt: skip
    second = run_operator_container(image, server_url="https://127.0.0.1:9", token="t", ca_pem=ca)
    try:
        assert first.name != second.name
        first.wait_for_log("Punctual starting against https://127.0.0.1:9")
        inspect = podman("container", "inspect", first.name, check=True)
        [info] = json.loads(inspect.stdout)
        assert info["Config"]["User"] == "65532:65532"
        assert info["HostConfig"]["ReadonlyRootfs"] is True
        [mount] = [m for m in info["Mounts"] if m["Destination"] == SERVICE_ACCOUNT_DIR]
        assert mount["RW"] is False
        assert Path(mount["Source"], "namespace").read_text() == "team-a"
        assert Path(mount["Source"], "token").read_text() == "t0ken"
    finally:
        first.stop()
        second.stop()
    for handle in (first, second):
        assert podman("container", "exists", handle.name).returncode == 1
    assert not Path(mount["Source"]).exists()


def test_missing_tools_skip_or_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda _name: None)
    monkeypatch.delenv("PUNCTUAL_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="buildah and podman not on PATH"):
        require_container_tools()
    monkeypatch.setenv("PUNCTUAL_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="PUNCTUAL_REQUIRE_TOOLS=1"):
        build_image()
