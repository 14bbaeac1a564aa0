"""The start-up cost of ``kubectl sj``, checked by what it imports (not by timing, which is flaky).

``--help``, ``--version`` and ``completion`` must load neither the API client nor pydantic nor the
schedule code; the API verbs (``list``, ``history``, ``next``) load ``kubernetes.client`` and
``kubernetes.config`` but none of the subpackages the package's ``__init__`` would import. Each
check runs in a fresh interpreter. The measured wall times are in docs/plugin.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

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


def test_the_api_verbs_load_only_the_client_and_config_of_kubernetes() -> None:
    modules = loaded_after("import kubectl_sj.verbs")
    assert {"kubernetes.client", "kubernetes.config"} <= modules  # the check looks at the right process
    unused = sorted(m for m in modules if any(m == u or m.startswith(u + ".") for u in UNUSED_KUBERNETES))
    assert unused == [], f"the verbs import {unused}"


def test_other_kubernetes_subpackages_still_load_on_first_use() -> None:
    """The lazy package must not break code in the same process that uses the rest of kubernetes."""
    modules = loaded_after(
        "import kubectl_sj.verbs, kubernetes\nassert kubernetes.watch.Watch and kubernetes.__version__"
    )
    assert "kubernetes.watch" in modules
