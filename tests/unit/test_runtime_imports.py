"""Importing one runtime module does not load the whole operator (kopf, the client) with it."""

from __future__ import annotations

import subprocess
import sys


def test_runtime_settings_loads_without_kopf() -> None:
    code = "import sys, punctual.runtime.settings; print('kopf' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_the_operator_module_does_load_kopf() -> None:
    # The check above can fail: the module that wires kopf does load it.
    code = "import sys, punctual.runtime.app; print('kopf' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"
