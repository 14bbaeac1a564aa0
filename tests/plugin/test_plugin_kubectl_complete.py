"""``kubectl_complete-sj``: TAB completion of ``kubectl sj`` through kubectl itself."""

from __future__ import annotations

import os
import subprocess

from plugin_helpers import BIN, Sj, scheduled_job

from kube_emulator import Emulator
from kubectl_sj.kubectl_complete import candidates, main


def _names() -> list[str]:
    return ["heartbeat", "hourly-report", "backup"]


def test_verbs_flags_names_and_outputs() -> None:
    assert candidates([""], _names)[:3] == ["run", "list", "get"]
    assert candidates(["h"], _names) == ["history"]
    assert candidates(["history", "h"], _names) == ["heartbeat", "hourly-report"]
    assert candidates(["-n", "team", "suspend", ""], _names) == _names()  # -n's value is not the verb
    assert candidates(["history", "heartbeat", ""], _names) == []  # one name only
    assert candidates(["list", "-o", ""], _names) == ["wide", "json", "yaml", "name"]
    assert candidates(["-n", ""], _names) == []  # a namespace: nothing to offer
    assert "--wait" in candidates(["run", "x", "--w"], _names)
    assert {"--env", "--arg", "--image", "--container", "--dry-run"} <= set(candidates(["run", "x", "--"], _names))
    assert candidates(["run", "x", "--env", ""], _names) == []  # a value, not a name
    assert candidates(["run", "x", "--dry-run", "-o", ""], _names) == ["yaml", "json"]
    assert candidates(["completion", ""], _names) == ["bash", "zsh"]


def test_main_prints_cobra_format(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["__complete", "su"]) == 0
    assert capsys.readouterr().out.splitlines() == ["suspend", ":4"]


def test_through_the_real_kubectl(emulator: Emulator, sj: Sj) -> None:
    emulator.create(scheduled_job("heartbeat"))
    emulator.create(scheduled_job("hourly-report"))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "KUBECONFIG": str(sj.kubeconfig)}
    done = subprocess.run(
        [sj.kubectl, "__complete", "sj", "history", "h"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["heartbeat", "hourly-report", ":4"]
