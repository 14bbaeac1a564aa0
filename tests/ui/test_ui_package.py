"""The UI as shipped: its templates are package data (so they are in the wheel and the image), and
importing its server loads none of the operator's runtime."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tomllib
from pathlib import Path

import kubectl_sj

PACKAGE = Path(kubectl_sj.__file__).parent
ROOT = PACKAGE.parent.parent


def test_every_template_is_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["kubectl_sj"]
    templates = sorted((PACKAGE / "ui" / "templates").iterdir())
    assert {t.name for t in templates} >= {
        "base.html",
        "fleet.html",
        "timeline.html",
        "scheduledjob.html",
        "run.html",
        "error.html",
        "backfill_plan.html",
    }
    for template in templates:
        relative = template.relative_to(PACKAGE).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), f"{relative} is not in package-data {patterns}"


def test_the_ui_never_loads_the_operator_runtime() -> None:
    code = (
        "import sys, kubectl_sj.ui.server; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('kopf', 'kube_emulator') "
        "or m in ('punctual.kube', 'punctual.metrics', 'punctual.scheduler', 'punctual.sandbox') "
        "or m == 'punctual.runtime' or m.startswith('punctual.runtime.')]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
