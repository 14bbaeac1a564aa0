"""The parts of the ``kubernetes`` package the plugin uses, imported without the rest (I/O shell).

``import kubernetes`` runs the package's ``__init__``, which imports every subpackage (the dynamic
client, watch, stream, leader election, informers): about 50 ms of a ``kubectl sj`` call that
needs none of them (docs/plugin.md has the figures). When nothing has imported ``kubernetes`` yet,
the package is registered as a lazy module instead: ``kubernetes.client`` and ``kubernetes.config``
load as usual, and any other subpackage loads on first attribute access, so code that reads
``kubernetes.watch`` later in the same process still finds it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

__all__ = ["ApiException", "ConfigException", "k8s", "k8s_config"]


class _LazyPackage(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return importlib.import_module(f"{self.__name__}.{name}")
        except ModuleNotFoundError:
            raise AttributeError(name) from None


def _register_lazily() -> None:
    if "kubernetes" in sys.modules:
        return
    spec = importlib.util.find_spec("kubernetes")
    if spec is None or spec.submodule_search_locations is None:
        return  # not installed: the imports below fail as they would have
    package = _LazyPackage("kubernetes")
    package.__spec__ = spec
    package.__path__ = list(spec.submodule_search_locations)
    package.__file__ = spec.origin
    package.__version__ = _version()  # type: ignore[attr-defined]
    sys.modules["kubernetes"] = package


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kubernetes")
    except PackageNotFoundError:
        return "unknown"


_register_lazily()

from kubernetes import client as k8s  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402
from kubernetes.client.exceptions import ApiException  # noqa: E402
from kubernetes.config.config_exception import ConfigException  # noqa: E402
