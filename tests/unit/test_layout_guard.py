"""The source root ``operator/`` must never shadow the standard library's ``operator`` module."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import punctual

REPO = Path(__file__).resolve().parents[2]
SOURCE_ROOT = REPO / "operator"

CHECK = """
import operator, sys, sysconfig, pathlib
assert hasattr(operator, "itemgetter"), operator
stdlib = pathlib.Path(sysconfig.get_paths()["stdlib"]).resolve()
origin = getattr(operator, "__file__", None)
assert origin is None or pathlib.Path(origin).resolve().is_relative_to(stdlib), origin
import punctual
print(pathlib.Path(punctual.__file__).resolve())
"""


def test_import_operator_is_the_standard_library() -> None:
    import operator

    assert operator.itemgetter(1)([0, 1]) == 1
    stdlib = Path(sysconfig.get_paths()["stdlib"]).resolve()
    origin = getattr(operator, "__file__", None)
    assert origin is None or Path(origin).resolve().is_relative_to(stdlib)
    assert not (SOURCE_ROOT / "__init__.py").exists()


def test_punctual_comes_from_the_source_root() -> None:
    assert Path(punctual.__file__).resolve().is_relative_to(SOURCE_ROOT / "punctual")


def test_import_operator_with_the_repo_folder_on_sys_path_and_as_cwd() -> None:
    for cwd, extra_path in ((REPO, str(REPO)), (SOURCE_ROOT, str(SOURCE_ROOT)), (REPO, "")):
        code = f"import sys; sys.path.insert(0, {extra_path!r})\n{CHECK}" if extra_path else CHECK
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, (cwd, extra_path, done.stderr)
        assert Path(done.stdout.strip()).is_relative_to(SOURCE_ROOT / "punctual")
