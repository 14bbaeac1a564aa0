"""The start-up cost of ``kubectl sj``, checked by what it imports (not by timing, which is flaky).

``--help``, ``--version`` and ``completion`` must load neither the API client nor pydantic nor the
schedule code. ``list`` and ``history``, run against the emulator, load none of ``kubernetes``,
pydantic, requests, oauthlib or croniter; ``next`` loads the schedule code and the operator's models
it computes with, but not the ``kubernetes`` package. Each check runs in a fresh interpreter. The
measured wall times are in docs/plugin.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from plugin_helpers import scheduled_job

from kube_emulator import Emulator

HEAVY = ("kubernetes", "pydantic", "pydantic_core", "yaml", "urllib3", "croniter", "punctual.core", "punctual.api")
UNUSED_KUBERNETES = (
    "kubernetes.dynamic",
    "kubernetes.watch",
    "kubernetes.stream",
    "kubernetes.leaderelection",
    "kubernetes.informer",
)


def loaded_after(code: str) -> set[str]:
    probe = f"import sys, io, contextlib\n{code}\nprint('\\n' + __import__('json').dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["completion", "bash"], ["list", "--help"]])
def test_help_version_and_completion_load_nothing_heavy(argv: list[str]) -> None:
    code = (
        "from kubectl_sj import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = cli.main({argv!r}, out=io.StringIO())\n"
        "assert code == 0, code"
    )
    modules = loaded_after(code)
    heavy = sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"kubectl sj {' '.join(argv)} imports {heavy}"


NOT_ON_THE_READ_PATH = ("kubernetes", "pydantic", "pydantic_core", "requests", "requests_oauthlib", "oauthlib")
NOT_FOR_A_LISTING = (*NOT_ON_THE_READ_PATH, "croniter", "punctual.api", "punctual.core", "punctual.schedule")


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in names))


@pytest.mark.parametrize(
    ("argv", "forbidden"),
    [
        (["list"], NOT_FOR_A_LISTING),
        (["list", "-o", "wide"], NOT_FOR_A_LISTING),
        (["get", "heartbeat"], NOT_FOR_A_LISTING),
        (["history", "heartbeat"], NOT_FOR_A_LISTING),
        (["next", "heartbeat"], NOT_ON_THE_READ_PATH[:1] + NOT_ON_THE_READ_PATH[3:]),
    ],
)
def test_the_read_verbs_load_no_kubernetes_package_nor_pydantic(
    emulator: Emulator, tmp_path: Path, argv: list[str], forbidden: tuple[str, ...]
) -> None:
    status = {
        "nextScheduleTime": "2026-11-23T10:15:00Z",
        "lastScheduleTime": "2026-11-23T10:00:00Z",
        "history": [
            {
                "job": "heartbeat-1",
                "scheduledTime": "2026-11-23T10:00:00Z",
                "trigger": "schedule",
                "result": "Succeeded",
                "startTime": "2026-11-23T10:00:00.5Z",
                "completionTime": "2026-11-23T10:00:02Z",
                "exitCode": 0,
            },
        ],
        "conditions": [
            {"type": "Ready", "status": "True", "reason": "Scheduling", "lastTransitionTime": "2026-11-23T09:00:00Z"}
        ],
    }
    emulator.create(scheduled_job("heartbeat"))
    emulator.patch_status("punctual.dev/v1", "scheduledjobs", "heartbeat", status, namespace="default")
    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    code = (
        "from kubectl_sj import cli\n"
        "out, err = io.StringIO(), io.StringIO()\n"
        f"code = cli.main({[*argv, '--kubeconfig', str(kubeconfig)]!r}, out=out, err=err)\n"
        "assert code == 0 and out.getvalue() and not err.getvalue(), (code, out.getvalue(), err.getvalue())"
    )
    modules = loaded_after(code)
    assert "urllib3" in modules  # the check looks at a process that made the request
    if argv[0] == "next":
        assert "punctual.schedule" in modules
    assert _heavy(modules, forbidden) == [], f"kubectl sj {' '.join(argv)} imports these"


def test_the_kubernetes_fallback_loads_only_the_client_and_config_of_kubernetes() -> None:
    modules = loaded_after("import kubectl_sj.kube_import")
    assert {"kubernetes.client", "kubernetes.config"} <= modules  # the check looks at the right process
    unused = sorted(m for m in modules if any(m == u or m.startswith(u + ".") for u in UNUSED_KUBERNETES))
    assert unused == [], f"the fallback imports {unused}"


def test_other_kubernetes_subpackages_still_load_on_first_use() -> None:
    """The lazy package must not break code in the same process that uses the rest of kubernetes."""
    modules = loaded_after(
        "import kubectl_sj.kube_import, kubernetes\nassert kubernetes.watch.Watch and kubernetes.__version__"
    )
    assert "kubernetes.watch" in modules
