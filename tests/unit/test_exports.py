"""Every punctual module declares ``__all__`` and every name in it exists (as httpx's exported-members test)."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

import punctual

# Modules that are being written elsewhere, or need optional extras: checked when importable.
OPTIONAL_PREFIXES = ("kube_emulator", "punctual.runtime")


def module_names() -> list[str]:
    names = ["punctual"]
    for info in pkgutil.walk_packages(punctual.__path__, prefix="punctual.", onerror=lambda _: None):
        if info.name.endswith("__main__"):
            continue
        names.append(info.name)
    return sorted(names)


def load(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if name.startswith(OPTIONAL_PREFIXES):
            pytest.skip(f"{name} not importable here: {exc}")
        raise


def test_the_pure_core_is_listed() -> None:
    names = module_names()
    for core in ("api", "durations", "schedule", "jobs", "history", "core", "simulate", "crd", "cli"):
        assert f"punctual.{core}" in names


@pytest.mark.parametrize("name", module_names())
def test_module_declares_all_and_every_name_exists(name: str) -> None:
    module = load(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list | tuple), f"{name} has no __all__"
    assert len(set(exported)) == len(exported), f"{name}.__all__ has duplicates"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
