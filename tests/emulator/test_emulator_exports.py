"""The public surface of kube_emulator: every module has a docstring and an ``__all__`` that resolves."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import kube_emulator

MODULES = sorted(
    f"kube_emulator.{info.name}" for info in pkgutil.iter_modules(kube_emulator.__path__) if not info.ispkg
)


@pytest.mark.parametrize("name", ["kube_emulator", *MODULES])
def test_module_declares_its_exports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__doc__, f"{name} has no docstring"
    exported = getattr(module, "__all__", None)
    assert exported, f"{name} has no __all__"
    for member in exported:
        assert hasattr(module, member), f"{name}.__all__ lists a missing {member}"
