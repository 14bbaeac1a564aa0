"""The Dockerfile: hadolint-clean, multi-stage, pinned, non-root, ``punctual run``."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def hadolint_run(hadolint: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [hadolint, "--no-color", str(path)], capture_output=True, text=True, cwd=REPO, timeout=60, check=False
    )


def stages() -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped), split by FROM."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    result: list[list[str]] = []
    for line in lines:
        if line.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(line)
    return result


@pytest.mark.tools
def test_hadolint_is_clean(hadolint: str) -> None:
    result = hadolint_run(hadolint, DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout


@pytest.mark.tools
def test_hadolint_is_not_vacuous(hadolint: str, tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install kopf\n")
    result = hadolint_run(hadolint, bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


def test_base_image_is_pinned_python_311_slim() -> None:
    match = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the base image is set once, in ARG PYTHON_IMAGE"
    image = match.group(1)
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image


def test_multi_stage_builder_makes_wheels_final_installs_them() -> None:
    builder, final = stages()
    assert builder[0] == "FROM ${PYTHON_IMAGE} AS builder"
    assert any("pip wheel" in line and "/wheels" in line for line in builder)
    assert final[0] == "FROM ${PYTHON_IMAGE}"
    install = [line for line in final if "pip install" in line]
    assert len(install) == 1 and "--no-cache-dir" in install[0] and "--no-index" in install[0]
    joined = "\n".join(final)
    for tool in ("apt-get", "gcc", "build-essential", "apk "):
        assert tool not in joined, tool


def test_final_stage_runs_punctual_as_numeric_non_root() -> None:
    final = stages()[-1]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users == ["65532:65532"]
    entrypoint = [line for line in final if line.upper().startswith("ENTRYPOINT ")]
    assert entrypoint == ['ENTRYPOINT ["punctual", "run"]']
    # USER comes before ENTRYPOINT and after the last RUN.
    index = {line: i for i, line in enumerate(final)}
    last_run = max(i for i, line in enumerate(final) if line.upper().startswith("RUN "))
    assert last_run < index["USER 65532:65532"] < index[entrypoint[0]]


def test_dockerignore_sends_only_what_the_build_needs() -> None:
    lines = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()[:1] not in ("", "#")
    ]
    assert lines[0] == "**"
    assert {"!pyproject.toml", "!README.md", "!operator/"} <= set(lines)
    copied = [line for stage in stages() for line in stage if line.upper().startswith("COPY ") and "--from" not in line]
    for line in copied:
        for source in line.split()[1:-1]:
            assert f"!{source}" in lines or f"!{source.rstrip('/')}/" in lines, source
